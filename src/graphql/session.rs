//! Signing in and out: `login`, `logout`, `changePassword`.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    context::ContextExt, organization::Organization, role::parse_id, scalar::Timestamp, user::User,
};
use crate::{
    auth::{
        PrincipalKind,
        password::{self, Attempt},
        project_scope::ProjectScope,
        token_format::SecretKind,
    },
    entity::{membership, organization, token, user},
    error::Error,
    service::{
        audit::{self, Actor, AuditRecord},
        token::{self as token_service, NewToken, RetireIf},
        validate,
    },
};

/// A new session: the token (shown once), when it ends, who it is for and
/// the organization it is pinned to.
#[derive(SimpleObject)]
pub struct LoginPayload {
    /// A `lynk_session_…` bearer token; shown only here.
    pub token: String,
    pub expires_at: Timestamp,
    pub user: User,
    /// The organization the session acts in unless a request names another
    /// with `X-Organization-ID`.
    pub organization: Organization,
}

/// Issues a session token for `user`, pinned to `organization` (used by
/// `login` and `acceptInvitation`).
pub async fn issue_session(
    conn: &impl ConnectionTrait,
    user: user::Model,
    organization: organization::Model,
    ttl: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<LoginPayload, Error> {
    let ttl = Duration::from_std(ttl).map_err(Error::internal)?;
    let expires_at = now + ttl;
    let (_, secret) = token_service::issue(
        conn,
        NewToken {
            kind: SecretKind::Session,
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
    Ok(LoginPayload {
        token: secret.expose().to_owned(),
        expires_at: expires_at.into(),
        user: User(user),
        organization: organization.into(),
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
        Some(id) => membership::Entity::find()
            .filter(membership::Column::UserId.eq(user_id))
            .filter(membership::Column::OrganizationId.eq(id))
            .one(conn)
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

/// `login`, `logout`, `changePassword`.
#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Signs in with email and password; public. A wrong password and an
    /// unknown email are the same `401`, and cost the same time. The
    /// session is pinned to `organizationId` (one you belong to) or else to
    /// your oldest membership.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        organization_id: Option<ID>,
    ) -> Result<LoginPayload, Error> {
        let email = validate::email(&email)?;
        let asked = organization_id
            .map(|id| parse_id(&id, "organization"))
            .transpose()?;
        let app = ctx.app()?;
        let db = &app.db;
        let client = ctx.request()?.client_address().unwrap_or_default();
        let found = user::Entity::find()
            .filter(user::Column::Email.eq(&email))
            .one(db)
            .await?;
        let stored = found.as_ref().map(|u| u.password_hash.clone());
        let attempt = Attempt {
            email: &email,
            client: &client,
        };
        let verified =
            password::verify_within_budgets(&app.rate_limits, attempt, stored, password).await?;
        let now = Utc::now();
        let mut actor = ctx.actor()?;
        actor.user_id = found.as_ref().map(|u| u.id);
        let home = match &found {
            Some(user) => home_organization(db, user.id).await?,
            None => None,
        };
        let txn = crate::database::begin_write(db).await?;
        let outcome = match found {
            Some(user) if verified => {
                let organization = pinned_organization(&txn, user.id, asked).await?;
                let organization_id = Some(organization.id);
                let payload = issue_session(&txn, user, organization, app.session_ttl, now).await?;
                audit::record(
                    &txn,
                    AuditRecord {
                        organization_id,
                        action: crate::service::audit::AuditAction::LoginSucceeded,
                        actor: &actor,
                        target: actor.user_id,
                    },
                    now,
                )
                .await?;
                Ok(payload)
            }
            _ => {
                audit::record(
                    &txn,
                    AuditRecord {
                        organization_id: home,
                        action: crate::service::audit::AuditAction::LoginFailed,
                        actor: &actor,
                        target: actor.user_id,
                    },
                    now,
                )
                .await?;
                tracing::info!("login failed");
                Err(Error::Unauthorized)
            }
        };
        txn.commit().await?;
        outcome
    }

    /// Revokes the session in use.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool, Error> {
        let principal = ctx.principal()?;
        if principal.kind != PrincipalKind::UserSession {
            return Err(Error::bad_input(
                "logout ends a session; to retire a personal or service token use revokeToken",
            ));
        }
        let db = ctx.db()?;
        let now = Utc::now();
        token::Entity::update_many()
            .col_expr(token::Column::RevokedAt, Expr::value(now))
            .filter(token::Column::Id.eq(principal.token_id))
            .filter(token::Column::RevokedAt.is_null())
            .exec(db)
            .await?;
        Ok(true)
    }

    /// Changes the signed-in user's password and ends their other sessions.
    /// A wrong `currentPassword` is an error on this field; the checks
    /// count against the same failure budgets as `login`, and once they
    /// are spent the session in use ends too.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> Result<bool, Error> {
        let principal = ctx.principal()?;
        let (PrincipalKind::UserSession, Some(user_id)) = (principal.kind, principal.user_id)
        else {
            return Err(Error::Forbidden(
                "changing the password needs a session (sign in with login)".into(),
            ));
        };
        password::validate_new_password(&new_password)?;
        let app = ctx.app()?;
        let db = &app.db;
        let user = user::Entity::find_by_id(user_id)
            .one(db)
            .await?
            .ok_or(Error::Unauthorized)?;
        let client = ctx.request()?.client_address().unwrap_or_default();
        let attempt = Attempt {
            email: &user.email,
            client: &client,
        };
        let checked = password::verify_within_budgets(
            &app.rate_limits,
            attempt,
            Some(user.password_hash.clone()),
            current_password,
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
                token_service::retire(db, principal.token_id, now, now, RetireIf::NotRevoked)
                    .await?;
                tracing::warn!("session ended: too many wrong current passwords");
                return Err(err);
            }
            Err(err) => return Err(err),
        }
        let hash = password::hash_password(new_password).await?;
        let now = Utc::now();
        let actor: Actor = ctx.actor()?;
        let organization_id = principal.organization_id();
        let session_id = principal.token_id;
        let txn = crate::database::begin_write(db).await?;
        let mut active = user.into_active_model();
        active.password_hash = Set(hash);
        active.update(&txn).await?;
        token_service::end_sessions(&txn, user_id, Some(session_id), now).await?;
        audit::record(
            &txn,
            AuditRecord {
                organization_id: Some(organization_id),
                action: crate::service::audit::AuditAction::PasswordChanged,
                actor: &actor,
                target: Some(user_id),
            },
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(true)
    }
}
