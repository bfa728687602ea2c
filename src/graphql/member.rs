//! Members and invitations: inviting, joining, changing roles, removing.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, ModelTrait,
    PaginatorTrait, QueryFilter, Set, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    context::ContextExt,
    role::{Role, find_in_organization, parse_id},
    session::{LoginPayload, issue_session},
    user::User,
};
use crate::{
    auth::{BuiltInRole, Permission, PermissionSet, Principal, password, token_format},
    entity::{invitation, membership, role, token, user},
    error::{Error, ResultExt},
    service::{
        audit::{self, Actor, AuditRecord},
        organization::add_member,
        policy,
        token::kind,
        validate,
    },
};

/// How long an invitation code stays valid.
pub const INVITATION_DAYS: i64 = 7;

/// A user's membership of the organization.
pub struct Member {
    pub membership: membership::Model,
}

#[Object]
impl Member {
    async fn user(&self, ctx: &Context<'_>) -> Result<User, Error> {
        user::Entity::find_by_id(self.membership.user_id)
            .one(ctx.db()?)
            .await?
            .map(User)
            .ok_or(Error::NotFound("user"))
    }

    async fn role(&self, ctx: &Context<'_>) -> Result<Role, Error> {
        role::Entity::find_by_id(self.membership.role_id)
            .one(ctx.db()?)
            .await?
            .map(Role)
            .ok_or(Error::NotFound("role"))
    }

    async fn joined_at(&self) -> DateTime<Utc> {
        self.membership.joined_at
    }
}

/// A pending invitation (the code itself is never shown again).
pub struct Invitation(pub invitation::Model);

#[Object]
impl Invitation {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn role(&self, ctx: &Context<'_>) -> Result<Role, Error> {
        role::Entity::find_by_id(self.0.role_id)
            .one(ctx.db()?)
            .await?
            .map(Role)
            .ok_or(Error::NotFound("role"))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
}

/// A new invitation and its single-use code, shown only here.
#[derive(SimpleObject)]
pub struct CreatedInvitation {
    pub invitation: Invitation,
    /// `lynk_invite_…`: hand it to the invitee; valid for 7 days, once.
    pub code: String,
}

/// `inviteMember`'s input.
#[derive(InputObject)]
pub struct InviteMemberInput {
    pub email: String,
    pub role_id: ID,
}

/// `acceptInvitation`'s input.
#[derive(InputObject)]
pub struct AcceptInvitationInput {
    /// The `lynk_invite_…` code.
    pub code: String,
    /// Your display name (ignored when the email already has an account).
    pub name: String,
    /// A new password, or the existing account's password.
    pub password: String,
}

fn is_admin_role(role: &role::Model) -> bool {
    role.built_in && role.name == BuiltInRole::Admin.name()
}

async fn admin_count(conn: &impl ConnectionTrait, organization_id: Uuid) -> Result<u64, Error> {
    let admin = role::Entity::find()
        .filter(role::Column::OrganizationId.eq(organization_id))
        .filter(role::Column::BuiltIn.eq(true))
        .filter(role::Column::Name.eq(BuiltInRole::Admin.name()))
        .one(conn)
        .await?
        .ok_or_else(|| Error::internal("organization has no admin role"))?;
    Ok(membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(organization_id))
        .filter(membership::Column::RoleId.eq(admin.id))
        .count(conn)
        .await?)
}

async fn find_member(
    conn: &impl ConnectionTrait,
    organization_id: Uuid,
    user_id: Uuid,
) -> Result<membership::Model, Error> {
    membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(organization_id))
        .filter(membership::Column::UserId.eq(user_id))
        .one(conn)
        .await?
        .ok_or(Error::NotFound("member"))
}

/// A member whose role holds permissions the caller lacks is out of reach:
/// a member manager cannot demote or remove someone more powerful.
fn ensure_outranks(principal: &Principal, member_role: &role::Model) -> Result<(), Error> {
    policy::check_grant(
        PermissionSet::from_storage(&member_role.permissions),
        principal.permissions,
    )
}

async fn record(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    organization_id: Uuid,
    action: &'static str,
    target: (&'static str, Uuid),
    now: DateTime<Utc>,
) -> Result<(), Error> {
    audit::record(
        conn,
        AuditRecord {
            organization_id: Some(organization_id),
            action,
            actor,
            target_type: Some(target.0),
            target_id: Some(target.1),
        },
        now,
    )
    .await
}

/// Member and invitation mutations.
#[derive(Default)]
pub struct MemberMutation;

#[Object]
impl MemberMutation {
    /// Invites an email address with a role (a subset of your permissions).
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        input: InviteMemberInput,
    ) -> Result<CreatedInvitation, Error> {
        let principal = ctx.require(Permission::MembersWrite)?;
        let organization_id = principal.organization_id();
        let email = validate::email(&input.email)?;
        let db = ctx.db()?;
        let role =
            find_in_organization(db, organization_id, parse_id(&input.role_id, "role")?).await?;
        policy::check_grant(
            PermissionSet::from_storage(&role.permissions),
            principal.permissions,
        )?;
        if let Some(existing) = user::Entity::find()
            .filter(user::Column::Email.eq(&email))
            .one(db)
            .await?
            && find_member(db, organization_id, existing.id).await.is_ok()
        {
            return Err(Error::conflict(format!(
                "{email} is already a member of this organization"
            )));
        }
        let now = Utc::now();
        let generated = token_format::generate(token_format::SecretKind::Invitation);
        let txn = crate::database::begin_write(db).await?;
        let model = invitation::ActiveModel {
            id: Set(Uuid::now_v7()),
            organization_id: Set(organization_id),
            email: Set(email),
            role_id: Set(role.id),
            code_digest: Set(generated.digest.0.to_vec()),
            created_by_user_id: Set(principal.user_id),
            created_at: Set(now),
            expires_at: Set(now + Duration::days(INVITATION_DAYS)),
            accepted_at: Set(None),
            revoked_at: Set(None),
        }
        .insert(&txn)
        .await?;
        record(
            &txn,
            &ctx.actor()?,
            organization_id,
            "member.invited",
            ("invitation", model.id),
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(CreatedInvitation {
            invitation: Invitation(model),
            code: generated.secret.expose().to_owned(),
        })
    }

    /// Withdraws a pending invitation.
    async fn revoke_invitation(&self, ctx: &Context<'_>, id: ID) -> Result<ID, Error> {
        let principal = ctx.require(Permission::MembersWrite)?;
        let organization_id = principal.organization_id();
        let db = ctx.db()?;
        let model = invitation::Entity::find_by_id(parse_id(&id, "invitation")?)
            .filter(invitation::Column::OrganizationId.eq(organization_id))
            .one(db)
            .await?
            .ok_or(Error::NotFound("invitation"))?;
        if model.accepted_at.is_some() {
            return Err(Error::conflict(
                "this invitation was already accepted; remove the member instead",
            ));
        }
        let now = Utc::now();
        let txn = crate::database::begin_write(db).await?;
        let invitation_id = model.id;
        if model.revoked_at.is_none() {
            let mut active = model.into_active_model();
            active.revoked_at = Set(Some(now));
            active.update(&txn).await?;
        }
        record(
            &txn,
            &ctx.actor()?,
            organization_id,
            "member.invitation_revoked",
            ("invitation", invitation_id),
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(ID(invitation_id.to_string()))
    }

    /// Joins an organization with an invitation code; public. Creates the
    /// account, or for an existing email needs that account's password.
    /// Returns a session.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        input: AcceptInvitationInput,
    ) -> Result<LoginPayload, Error> {
        let invalid =
            || Error::bad_input("the invitation code is invalid, expired or already used");
        let parsed = token_format::parse(input.code.trim()).map_err(|_| invalid())?;
        if parsed.kind != token_format::SecretKind::Invitation {
            return Err(invalid());
        }
        let app = ctx.app()?;
        let db = &app.db;
        let now = Utc::now();
        let pending = invitation::Entity::find()
            .filter(invitation::Column::CodeDigest.eq(parsed.digest.0.to_vec()))
            .one(db)
            .await?
            .filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > now)
            .ok_or_else(invalid)?;
        let existing = user::Entity::find()
            .filter(user::Column::Email.eq(&pending.email))
            .one(db)
            .await?;
        let new_user = match &existing {
            Some(found) => {
                if !password::verify_password(Some(found.password_hash.clone()), input.password)
                    .await?
                {
                    return Err(Error::Unauthorized);
                }
                None
            }
            None => {
                let name = validate::name("name", &input.name)?;
                password::validate_new_password(&input.password)?;
                Some((name, password::hash_password(input.password).await?))
            }
        };
        let txn = crate::database::begin_write(db).await?;
        // Claim the invitation first: of two concurrent accepts, one wins.
        let claimed = invitation::Entity::update_many()
            .col_expr(invitation::Column::AcceptedAt, Expr::value(now))
            .filter(invitation::Column::Id.eq(pending.id))
            .filter(invitation::Column::AcceptedAt.is_null())
            .filter(invitation::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        if claimed.rows_affected != 1 {
            return Err(invalid());
        }
        let user = match (existing, new_user) {
            (Some(user), _) => user,
            (None, Some((name, hash))) => user::ActiveModel {
                id: Set(Uuid::now_v7()),
                email: Set(pending.email.clone()),
                name: Set(name),
                password_hash: Set(hash),
                created_at: Set(now),
            }
            .insert(&txn)
            .await
            .on_conflict(|| "an account with this email was just created; try again".into())?,
            (None, None) => return Err(Error::internal("invitation without a user")),
        };
        add_member(&txn, pending.organization_id, user.id, pending.role_id, now)
            .await
            .map_err(|err| match err {
                Error::Internal(_) => {
                    Error::conflict("you are already a member of this organization")
                }
                other => other,
            })?;
        let actor = Actor {
            user_id: Some(user.id),
            token_id: None,
            ip: ctx.request()?.client_address(),
        };
        record(
            &txn,
            &actor,
            pending.organization_id,
            "member.joined",
            ("user", user.id),
            now,
        )
        .await?;
        let payload = issue_session(&txn, user, app.session_ttl, now).await?;
        txn.commit().await?;
        Ok(payload)
    }

    /// Changes a member's role. The organization always keeps an admin.
    async fn update_member_role(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        role_id: ID,
    ) -> Result<Member, Error> {
        let principal = ctx.require(Permission::MembersWrite)?;
        let organization_id = principal.organization_id();
        let db = ctx.db()?;
        let user_id = parse_id(&user_id, "member")?;
        let new_role =
            find_in_organization(db, organization_id, parse_id(&role_id, "role")?).await?;
        policy::check_grant(
            PermissionSet::from_storage(&new_role.permissions),
            principal.permissions,
        )?;
        let now = Utc::now();
        let txn = crate::database::begin_write(db).await?;
        let member = find_member(&txn, organization_id, user_id).await?;
        let current_role = find_in_organization(&txn, organization_id, member.role_id).await?;
        ensure_outranks(principal, &current_role)?;
        if policy::leaves_no_admin(
            is_admin_role(&current_role),
            is_admin_role(&new_role),
            admin_count(&txn, organization_id).await?,
        ) {
            return Err(Error::conflict(
                "this is the organization's last admin; make someone else admin first",
            ));
        }
        let mut active = member.into_active_model();
        active.role_id = Set(new_role.id);
        let member = active.update(&txn).await?;
        record(
            &txn,
            &ctx.actor()?,
            organization_id,
            "member.role_changed",
            ("user", user_id),
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(Member { membership: member })
    }

    /// Removes a member: their personal tokens in this organization die at
    /// once; service tokens they created live on.
    async fn remove_member(&self, ctx: &Context<'_>, user_id: ID) -> Result<ID, Error> {
        let principal = ctx.require(Permission::MembersWrite)?;
        let organization_id = principal.organization_id();
        let db = ctx.db()?;
        let user_id = parse_id(&user_id, "member")?;
        let now = Utc::now();
        let txn = crate::database::begin_write(db).await?;
        let member = find_member(&txn, organization_id, user_id).await?;
        let role = find_in_organization(&txn, organization_id, member.role_id).await?;
        if principal.user_id != Some(user_id) {
            ensure_outranks(principal, &role)?;
        }
        if policy::leaves_no_admin(
            is_admin_role(&role),
            false,
            admin_count(&txn, organization_id).await?,
        ) {
            return Err(Error::conflict(
                "this is the organization's last admin; make someone else admin first",
            ));
        }
        member.delete(&txn).await?;
        token::Entity::update_many()
            .col_expr(token::Column::RevokedAt, Expr::value(now))
            .filter(token::Column::OwnerUserId.eq(user_id))
            .filter(token::Column::OrganizationId.eq(organization_id))
            .filter(token::Column::Kind.eq(kind::PERSONAL))
            .filter(token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        record(
            &txn,
            &ctx.actor()?,
            organization_id,
            "member.removed",
            ("user", user_id),
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(ID(user_id.to_string()))
    }
}
