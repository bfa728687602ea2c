//! Sessions: signing in with a password, signing out, changing the
//! password. Every password check counts against the failure budgets of
//! `auth::password`, reserved before hashing.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::{
    auth::{
        CredentialKind,
        password::{self, Attempt},
        project_scope::ProjectScope,
        token_format::Secret,
    },
    database,
    entity::{membership, organization, user},
    error::Error,
    service::{
        account,
        audit::{self, Actor, AuditAction, AuditRecord},
        caller::Caller,
        token::{self, NewToken, RetireIf},
        validate,
    },
    state::AppState,
};

/// A new session: its secret (shown once), when it ends, who it is for
/// and the organization it is pinned to.
pub struct SignedIn {
    pub secret: Secret,
    pub expires_at: DateTime<Utc>,
    pub user: user::Model,
    pub organization: organization::Model,
}

/// Issues a session token for `user`, pinned to `organization`, inside the
/// caller's transaction (`login` and `acceptInvitation`).
pub async fn issue(
    conn: &impl ConnectionTrait,
    user: user::Model,
    organization: organization::Model,
    ttl: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<SignedIn, Error> {
    let ttl = Duration::from_std(ttl).map_err(Error::internal)?;
    let expires_at = now + ttl;
    let (_, secret) = token::issue(
        conn,
        NewToken {
            kind: CredentialKind::Session,
            organization_id: Some(organization.id),
            name: "session".into(),
            scopes: None,
            role_id: None,
            owner_user_id: Some(user.id),
            created_by_user_id: Some(user.id),
            projects: ProjectScope::All,
            expires_at: Some(expires_at),
        },
        now,
    )
    .await?;
    Ok(SignedIn {
        secret,
        expires_at,
        user,
        organization,
    })
}

/// The organization a user's own events are filed under and a session
/// is pinned to by default: their oldest membership.
async fn home_organization(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Option<Uuid>, Error> {
    Ok(membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .order_by_asc(membership::Column::JoinedAt)
        .order_by_asc(membership::Column::Id)
        .one(conn)
        .await?
        .map(|m| m.organization_id))
}

/// The organization a new session is pinned to: the one asked for, which
/// the user must belong to, else the oldest membership.
async fn pinned_organization(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    asked: Option<Uuid>,
) -> Result<organization::Model, Error> {
    let organization_id = match asked {
        Some(id) => crate::service::member::find(conn, id, user_id)
            .await?
            .map(|m| m.organization_id)
            .ok_or_else(|| {
                Error::Forbidden("you are not a member of the organization asked for".into())
            })?,
        None => home_organization(conn, user_id).await?.ok_or_else(|| {
            Error::Forbidden(
                "this account belongs to no organization; accept an invitation with \
                 acceptInvitation to join one"
                    .into(),
            )
        })?,
    };
    organization::Entity::find_by_id(organization_id)
        .one(conn)
        .await?
        .ok_or(Error::NotFound("organization"))
}

/// What `login` is given.
pub struct Login {
    pub email: String,
    pub password: String,
    /// The organization to pin the session to; `None` for the oldest
    /// membership.
    pub organization_id: Option<Uuid>,
}

/// `login`: a session for the user with this email and password. A wrong
/// password and an unknown email are the same `UNAUTHORIZED`, cost the
/// same time, and are recorded as `login.failed`. `actor` is the
/// request's (its address, and any credential that came along); the
/// account signing in becomes its user.
pub async fn login(app: &AppState, login: Login, mut actor: Actor) -> Result<SignedIn, Error> {
    let email = validate::email(&login.email)?;
    let db = &app.db;
    let client = actor.ip.clone().unwrap_or_default();
    let found = account::find_by_email(db, &email).await?;
    let stored = found.as_ref().map(|u| u.password_hash.clone());
    let attempt = Attempt {
        email: &email,
        client: &client,
    };
    let verified =
        password::verify_within_budgets(&app.rate_limits, attempt, stored, login.password).await?;
    let now = Utc::now();
    actor.user_id = found.as_ref().map(|u| u.id);
    let home = match &found {
        Some(user) => home_organization(db, user.id).await?,
        None => None,
    };
    let txn = database::begin_write(db).await?;
    let outcome = match found {
        Some(user) if verified => {
            let organization = pinned_organization(&txn, user.id, login.organization_id).await?;
            let organization_id = organization.id;
            let signed_in = issue(&txn, user, organization, app.session_ttl, now).await?;
            let event = AuditRecord {
                organization_id: Some(organization_id),
                action: AuditAction::LoginSucceeded,
                actor: &actor,
                target: actor.user_id,
            };
            audit::record(&txn, event, now).await?;
            Ok(signed_in)
        }
        _ => {
            let event = AuditRecord {
                organization_id: home,
                action: AuditAction::LoginFailed,
                actor: &actor,
                target: actor.user_id,
            };
            audit::record(&txn, event, now).await?;
            tracing::info!("login failed");
            Err(Error::Unauthorized)
        }
    };
    txn.commit().await?;
    outcome
}

/// `logout`: revokes the session in use.
pub async fn logout(db: &DatabaseConnection, caller: &Caller<'_>) -> Result<(), Error> {
    if caller.principal.session_user().is_none() {
        return Err(Error::bad_input(
            "logout ends a session; to retire a personal or service token use revokeToken",
        ));
    }
    let now = Utc::now();
    token::retire(
        db,
        caller.principal.token_id,
        now,
        now,
        RetireIf::NotRevoked,
    )
    .await?;
    Ok(())
}

/// `changePassword`: sets the signed-in user's password and ends their
/// other sessions. A wrong `current` is `BAD_USER_INPUT`; once the failure
/// budgets are spent, the session in use ends too.
pub async fn change_password(
    app: &AppState,
    caller: &Caller<'_>,
    current: String,
    new: String,
) -> Result<(), Error> {
    let principal = caller.principal;
    let user_id = principal.require_session("changing the password needs a session")?;
    password::validate_new_password(&new)?;
    let db = &app.db;
    let user = user::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or(Error::Unauthorized)?;
    let client = caller.actor.ip.clone().unwrap_or_default();
    let attempt = Attempt {
        email: &user.email,
        client: &client,
    };
    let checked = password::verify_within_budgets(
        &app.rate_limits,
        attempt,
        Some(user.password_hash.clone()),
        current,
    )
    .await;
    match checked {
        Ok(true) => {}
        Ok(false) => {
            return Err(Error::bad_input(
                "currentPassword is not your current password; nothing was changed",
            ));
        }
        Err(err @ Error::RateLimited { .. }) => {
            // A stolen session must not keep guessing: it ends here.
            let now = Utc::now();
            token::retire(db, principal.token_id, now, now, RetireIf::NotRevoked).await?;
            tracing::warn!("session ended: too many wrong current passwords");
            return Err(err);
        }
        Err(err) => return Err(err),
    }
    let hash = password::hash_password(new).await?;
    let now = Utc::now();
    let txn = database::begin_write(db).await?;
    account::set_password_hash(&txn, user, hash, Some(principal.token_id), now).await?;
    caller
        .audit(&txn, AuditAction::PasswordChanged, user_id, now)
        .await?;
    txn.commit().await?;
    Ok(())
}
