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
    loader::{self, RoleId},
    role::{Role, find_in_organization, parse_id},
    scalar::Timestamp,
    session::{LoginPayload, issue_session},
    user::User,
};
use crate::{
    auth::{
        BuiltInRole, Permission, PermissionSet, Principal, PrincipalKind, password, token_format,
    },
    entity::{invitation, membership, organization, role, token, user},
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
        User::load(ctx, Some(self.membership.user_id))
            .await?
            .ok_or(Error::NotFound("user"))
    }

    async fn role(&self, ctx: &Context<'_>) -> Result<Role, Error> {
        load_role(
            ctx,
            self.membership.organization_id,
            self.membership.role_id,
        )
        .await
    }

    async fn joined_at(&self) -> Timestamp {
        self.membership.joined_at.into()
    }
}

/// A role a row of `organization_id` points at (a foreign key: it exists).
async fn load_role(ctx: &Context<'_>, organization_id: Uuid, id: Uuid) -> Result<Role, Error> {
    loader::load_one(
        ctx,
        RoleId {
            organization_id,
            id,
        },
    )
    .await?
    .map(Role)
    .ok_or(Error::NotFound("role"))
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
        load_role(ctx, self.0.organization_id, self.0.role_id).await
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }

    async fn expires_at(&self) -> Timestamp {
        self.0.expires_at.into()
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
    /// Your display name, for a new account only.
    pub name: Option<String>,
    /// A new account's password. An existing account accepts with its
    /// session instead (`Authorization: Bearer <session>`).
    pub password: Option<String>,
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
        let txn = crate::database::begin_organization_write(db, organization_id).await?;
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
        let txn = crate::database::begin_organization_write(db, organization_id).await?;
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

    /// Joins an organization with an invitation code; public. For an email
    /// without an account, `name` and `password` create it. An existing
    /// account accepts with its own session (sign in with `login` first);
    /// its password is never taken here, except for an account that
    /// belongs to no organization and so cannot sign in (that check counts
    /// against the `login` budgets). Returns a session pinned to the
    /// organization joined.
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
        let request = ctx.request()?;
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
        let session_user = request
            .principal
            .as_ref()
            .filter(|p| p.kind == PrincipalKind::UserSession)
            .and_then(|p| p.user_id);
        let new_user = match &existing {
            Some(found) if session_user == Some(found.id) => None,
            Some(_) if session_user.is_some() => {
                return Err(Error::Forbidden(
                    "this invitation is for another email address; sign in as its invitee".into(),
                ));
            }
            Some(found) => {
                let has_membership = membership::Entity::find()
                    .filter(membership::Column::UserId.eq(found.id))
                    .count(db)
                    .await?
                    > 0;
                let Some(password) = input.password.filter(|_| !has_membership) else {
                    return Err(Error::bad_input(
                        "an account with this email exists: sign in with login, then call \
                         acceptInvitation(input: {code}) with that session",
                    ));
                };
                let client = request.client_address().unwrap_or_default();
                let attempt = password::Attempt {
                    email: &found.email,
                    client: &client,
                };
                let stored = Some(found.password_hash.clone());
                if !password::verify_within_budgets(&app.rate_limits, attempt, stored, password)
                    .await?
                {
                    return Err(Error::Unauthorized);
                }
                None
            }
            None => {
                let (Some(name), Some(password)) = (input.name, input.password) else {
                    return Err(Error::bad_input(
                        "name and password are required to create your account",
                    ));
                };
                let name = validate::name("name", &name)?;
                password::validate_new_password(&password)?;
                Some((name, password::hash_password(password).await?))
            }
        };
        let txn = crate::database::begin_organization_write(db, pending.organization_id).await?;
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
        if find_member(&txn, pending.organization_id, user.id)
            .await
            .is_ok()
        {
            return Err(Error::conflict(
                "you are already a member of this organization",
            ));
        }
        add_member(&txn, pending.organization_id, user.id, pending.role_id, now).await?;
        let actor = Actor {
            user_id: Some(user.id),
            token_id: None,
            ip: request.client_address(),
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
        let organization = organization::Entity::find_by_id(pending.organization_id)
            .one(&txn)
            .await?
            .ok_or(Error::NotFound("organization"))?;
        let payload = issue_session(&txn, user, organization, app.session_ttl, now).await?;
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
        let role_id = parse_id(&role_id, "role")?;
        let now = Utc::now();
        // Locked: two admins demoting each other at once must not both pass
        // the last-admin check (on PostgreSQL they would otherwise).
        let txn = crate::database::begin_organization_write(db, organization_id).await?;
        let new_role = find_in_organization(&txn, organization_id, role_id).await?;
        policy::check_grant(
            PermissionSet::from_storage(&new_role.permissions),
            principal.permissions,
        )?;
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
        let txn = crate::database::begin_organization_write(db, organization_id).await?;
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
            .filter(crate::service::token::not_revoked_at(now))
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
