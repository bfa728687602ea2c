//! Signing in and out: `login`, `logout`, `changePassword`.

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set, sea_query::Expr,
};
use uuid::Uuid;

use super::{context::ContextExt, user::User};
use crate::{
    auth::{PrincipalKind, password, rate_limit::retry_after_secs, token_format::SecretKind},
    entity::{membership, token, user},
    error::Error,
    service::{
        audit::{self, Actor, AuditRecord},
        token::{self as token_service, NewToken, kind},
    },
};

/// A new session: the token (shown once), when it ends, and who it is for.
#[derive(SimpleObject)]
pub struct LoginPayload {
    /// A `lynk_session_…` bearer token; shown only here.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

/// Issues a session token for `user` (used by `login` and `acceptInvitation`).
pub async fn issue_session(
    conn: &impl ConnectionTrait,
    user: user::Model,
    ttl: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<LoginPayload, Error> {
    let ttl = Duration::from_std(ttl).map_err(Error::internal)?;
    let expires_at = now + ttl;
    let (_, secret) = token_service::issue(
        conn,
        NewToken {
            kind: SecretKind::Session,
            organization_id: None,
            name: "session".into(),
            scopes: None,
            role_id: None,
            owner_user_id: Some(user.id),
            created_by_user_id: Some(user.id),
            expires_at: Some(expires_at),
        },
        now,
    )
    .await?;
    Ok(LoginPayload {
        token: secret.expose().to_owned(),
        expires_at,
        user: User(user),
    })
}

/// The organization a user's own events are filed under: their oldest membership.
async fn home_organization(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Option<Uuid>, Error> {
    Ok(membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .order_by_asc(membership::Column::JoinedAt)
        .one(conn)
        .await?
        .map(|m| m.organization_id))
}

/// `login`, `logout`, `changePassword`.
#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Signs in with email and password; public. A wrong password and an
    /// unknown email are the same `401`, and cost the same time.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> Result<LoginPayload, Error> {
        let app = ctx.app()?;
        let db = &app.db;
        let email = email.trim().to_lowercase();
        let client = ctx.request()?.client_address().unwrap_or_default();
        let limits = &app.rate_limits;
        let started = std::time::Instant::now();
        for check in [
            limits.login_per_account.check(&email, started),
            limits.login_per_ip.check(&client, started),
        ] {
            if let Err(retry_after) = check {
                tracing::warn!("login rate limit reached");
                return Err(Error::RateLimited {
                    retry_after_secs: retry_after_secs(retry_after),
                });
            }
        }
        let found = user::Entity::find()
            .filter(user::Column::Email.eq(&email))
            .one(db)
            .await?;
        let stored = found.as_ref().map(|u| u.password_hash.clone());
        let verified = password::verify_password(stored, password).await?;
        let now = Utc::now();
        let mut actor = ctx.actor()?;
        actor.user_id = found.as_ref().map(|u| u.id);
        let organization_id = match &found {
            Some(user) => home_organization(db, user.id).await?,
            None => None,
        };
        let txn = crate::database::begin_write(db).await?;
        let outcome = match found {
            Some(user) if verified => {
                let payload = issue_session(&txn, user, app.session_ttl, now).await?;
                audit::record(
                    &txn,
                    AuditRecord {
                        organization_id,
                        action: "login.succeeded",
                        actor: &actor,
                        target_type: Some("user"),
                        target_id: actor.user_id,
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
                        organization_id,
                        action: "login.failed",
                        actor: &actor,
                        target_type: actor.user_id.map(|_| "user"),
                        target_id: actor.user_id,
                    },
                    now,
                )
                .await?;
                tracing::info!("login failed");
                limits.login_per_account.record_failure(&email, started);
                limits.login_per_ip.record_failure(&client, started);
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
        let db = ctx.db()?;
        let user = user::Entity::find_by_id(user_id)
            .one(db)
            .await?
            .ok_or(Error::Unauthorized)?;
        if !password::verify_password(Some(user.password_hash.clone()), current_password).await? {
            return Err(Error::Unauthorized);
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
        token::Entity::update_many()
            .col_expr(token::Column::RevokedAt, Expr::value(now))
            .filter(token::Column::OwnerUserId.eq(user_id))
            .filter(token::Column::Kind.eq(kind::SESSION))
            .filter(token::Column::Id.ne(session_id))
            .filter(token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            AuditRecord {
                organization_id: Some(organization_id),
                action: "password.changed",
                actor: &actor,
                target_type: Some("user"),
                target_id: Some(user_id),
            },
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(true)
    }
}
