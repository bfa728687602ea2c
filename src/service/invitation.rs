//! Invitations: inviting an email address with a role, withdrawing an
//! invitation, and joining with its single-use code.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, Select, Set, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    auth::{
        PermissionSet,
        password::{self, Attempt},
        token_format::{self, Secret, SecretKind},
    },
    database,
    entity::{invitation, membership, organization, role, user},
    error::{Error, ResultExt},
    service::{
        account,
        audit::{self, Actor, AuditAction, AuditRecord},
        caller::Caller,
        member, policy,
        scoped::find_in_organization,
        session::{self, SignedIn},
        validate,
    },
    state::AppState,
    webhook::event::EventType,
};

/// The most pending invitations (not accepted, withdrawn or expired) an
/// organization may have at once.
pub const MAX_PENDING_INVITATIONS: u64 = 100;

/// How long an invitation code stays valid.
pub const INVITATION_DAYS: i64 = 7;

/// A new invitation and its code (`lynk_invite_…`), the only copy.
pub struct CreatedInvitation {
    pub invitation: invitation::Model,
    pub code: Secret,
}

/// `inviteMember`: invites `email` with the role `role_id`, whose
/// permissions the caller must hold. Someone already a member is a
/// `CONFLICT`, and so is an invitation past [`MAX_PENDING_INVITATIONS`].
pub async fn invite(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    email: &str,
    role_id: Uuid,
) -> Result<CreatedInvitation, Error> {
    let organization_id = caller.organization_id();
    let email = validate::email(email)?;
    // Checked before the membership so that a caller may not probe
    // members with a role it could not grant.
    let role = find_in_organization::<role::Entity>(db, organization_id, role_id).await?;
    policy::check_grant(
        PermissionSet::from_storage(&role.permissions),
        caller.principal.permissions,
    )?;
    if let Some(existing) = account::find_by_email(db, &email).await?
        && member::find(db, organization_id, existing.id)
            .await?
            .is_some()
    {
        return Err(Error::conflict(format!(
            "{email} is already a member of this organization"
        )));
    }
    let now = Utc::now();
    let generated = token_format::generate(SecretKind::Invitation);
    // Read again under the organization's lock, as deleteRole counts
    // invitations under it: a role deleted meanwhile is `NOT_FOUND`.
    let txn = database::begin_organization_write(db, organization_id).await?;
    let role = find_in_organization::<role::Entity>(&txn, organization_id, role_id).await?;
    policy::check_grant(
        PermissionSet::from_storage(&role.permissions),
        caller.principal.permissions,
    )?;
    if pending_count(&txn, organization_id, now).await? >= MAX_PENDING_INVITATIONS {
        return Err(Error::conflict(format!(
            "this organization already has {MAX_PENDING_INVITATIONS} pending invitations, the \
             most it may; revoke one, or wait for some to be accepted or to expire"
        )));
    }
    let model = invitation::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(organization_id),
        email: Set(email),
        role_id: Set(role.id),
        code_digest: Set(generated.digest.0.to_vec()),
        created_by_user_id: Set(caller.principal.user_id),
        created_at: Set(now),
        expires_at: Set(now + Duration::days(INVITATION_DAYS)),
        accepted_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    caller
        .audit(&txn, AuditAction::MemberInvited, model.id, now)
        .await?;
    txn.commit().await?;
    Ok(CreatedInvitation {
        invitation: model,
        code: generated.secret,
    })
}

/// The organization's pending invitations (`Organization.invitations`).
pub fn pending(organization_id: Uuid, now: DateTime<Utc>) -> Select<invitation::Entity> {
    invitation::Entity::find()
        .filter(invitation::Column::OrganizationId.eq(organization_id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(now))
}

async fn pending_count(
    conn: &impl ConnectionTrait,
    organization_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    Ok(pending(organization_id, now).count(conn).await?)
}

/// `revokeInvitation`: withdraws a pending invitation (withdrawing one
/// twice changes nothing more); an accepted one is a `CONFLICT`.
pub async fn revoke(db: &DatabaseConnection, caller: &Caller<'_>, id: Uuid) -> Result<(), Error> {
    let organization_id = caller.organization_id();
    let now = Utc::now();
    let txn = database::begin_organization_write(db, organization_id).await?;
    // Conditional: of a revocation and an acceptance racing, or of two
    // revocations, only the one that changes the row goes on (and audits).
    let revoked = invitation::Entity::update_many()
        .col_expr(invitation::Column::RevokedAt, Expr::value(now))
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::OrganizationId.eq(organization_id))
        .filter(invitation::Column::RevokedAt.is_null())
        .filter(invitation::Column::AcceptedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    if !revoked {
        let model = find_in_organization::<invitation::Entity>(&txn, organization_id, id).await?;
        if model.accepted_at.is_some() {
            return Err(Error::conflict(
                "this invitation was already accepted; remove the member instead",
            ));
        }
        // Revoked already: nothing changes, nothing is recorded.
        return Ok(());
    }
    caller
        .audit(&txn, AuditAction::InvitationRevoked, id, now)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// What the holder of a pending invitation's code may see before
/// accepting it (`invitationPreview`): where it leads and with which role.
pub struct Preview {
    pub invitation: invitation::Model,
    pub organization: organization::Model,
    pub role: role::Model,
}

/// The message of every code that leads nowhere: a malformed one, another
/// kind of secret, an unknown, expired, withdrawn or used one alike.
fn invalid_code() -> Error {
    Error::bad_input("the invitation code is invalid, expired or already used")
}

/// The pending invitation whose code is `code`, or [`invalid_code`].
async fn find_pending(
    db: &DatabaseConnection,
    code: &str,
    now: DateTime<Utc>,
) -> Result<invitation::Model, Error> {
    let parsed = token_format::parse(code.trim()).map_err(|_| invalid_code())?;
    if parsed.kind != SecretKind::Invitation {
        return Err(invalid_code());
    }
    invitation::Entity::find()
        .filter(invitation::Column::CodeDigest.eq(parsed.digest.0.to_vec()))
        .one(db)
        .await?
        .filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > now)
        .ok_or_else(invalid_code)
}

/// `invitationPreview`: the organization and role a pending invitation's
/// code leads to; public, as the code is the credential.
pub async fn preview(db: &DatabaseConnection, code: &str) -> Result<Preview, Error> {
    let invitation = find_pending(db, code, Utc::now()).await?;
    let organization = organization::Entity::find_by_id(invitation.organization_id)
        .one(db)
        .await?
        .ok_or_else(invalid_code)?;
    let role =
        find_in_organization::<role::Entity>(db, invitation.organization_id, invitation.role_id)
            .await
            .map_err(|_| invalid_code())?;
    Ok(Preview {
        invitation,
        organization,
        role,
    })
}

/// What `acceptInvitation` is given.
pub struct Acceptance {
    /// The `lynk_invite_…` code.
    pub code: String,
    /// A new account's display name.
    pub name: Option<String>,
    /// A new account's password (or, for an account in no organization,
    /// its current one).
    pub password: Option<String>,
    /// The user of the session the request came with, if any.
    pub session_user: Option<Uuid>,
}

/// `acceptInvitation`: joins the invitation's organization and signs in.
/// A new email creates its account from `name` and `password`; an
/// existing account accepts with its own session, or with its password
/// only if it belongs to no organization (and so cannot sign in), checked
/// within the `login` budgets. Of concurrent accepts of one code, one
/// wins; the others find it used.
pub async fn accept(
    app: &AppState,
    acceptance: Acceptance,
    client_ip: Option<String>,
) -> Result<SignedIn, Error> {
    let db = &app.db;
    let now = Utc::now();
    let pending = find_pending(db, &acceptance.code, now).await?;
    let existing = account::find_by_email(db, &pending.email).await?;
    let new_user = match &existing {
        Some(found) if acceptance.session_user == Some(found.id) => None,
        Some(_) if acceptance.session_user.is_some() => {
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
            let Some(password) = acceptance.password.filter(|_| !has_membership) else {
                return Err(Error::bad_input(
                    "an account with this email exists: sign in with login, then call \
                     acceptInvitation(input: {code}) with that session",
                ));
            };
            let client = client_ip.clone().unwrap_or_default();
            let attempt = Attempt {
                email: &found.email,
                client: &client,
            };
            let stored = Some(found.password_hash.clone());
            if !password::verify_within_budgets(&app.rate_limits, attempt, stored, password).await?
            {
                return Err(Error::Unauthorized);
            }
            None
        }
        None => {
            let (Some(name), Some(password)) = (acceptance.name, acceptance.password) else {
                return Err(Error::bad_input(
                    "name and password are required to create your account",
                ));
            };
            let name = validate::name("name", &name)?;
            password::validate_new_password(&password)?;
            Some((name, password::hash_password(password).await?))
        }
    };
    let txn = database::begin_organization_write(db, pending.organization_id).await?;
    // Claim the invitation first: of two concurrent accepts, one wins.
    let claimed = invitation::Entity::update_many()
        .col_expr(invitation::Column::AcceptedAt, Expr::value(now))
        .filter(invitation::Column::Id.eq(pending.id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(invalid_code());
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
    if member::find(&txn, pending.organization_id, user.id)
        .await?
        .is_some()
    {
        return Err(Error::conflict(
            "you are already a member of this organization",
        ));
    }
    // Read under the lock before it is used: a role deleted once the
    // invitation expired is `NOT_FOUND`, never a broken reference.
    let role = find_in_organization::<role::Entity>(&txn, pending.organization_id, pending.role_id)
        .await?;
    member::add(&txn, pending.organization_id, user.id, role.id, now).await?;
    let actor = Actor {
        user_id: Some(user.id),
        token_id: None,
        ip: client_ip,
    };
    member::announce(&txn, EventType::MemberAdded, user.id, &role, None, &actor).await?;
    audit::record(
        &txn,
        AuditRecord::new(
            pending.organization_id,
            AuditAction::MemberJoined,
            &actor,
            user.id,
        ),
        now,
    )
    .await?;
    let organization = organization::Entity::find_by_id(pending.organization_id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("organization"))?;
    let signed_in = session::issue(&txn, user, organization, app.session_ttl, now).await?;
    txn.commit().await?;
    Ok(signed_in)
}
