//! Creating, revoking and rotating tokens.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};

use super::{
    context::ContextExt,
    role::{find_in_organization, parse_id},
    token::{Token, find_accessible},
};
use crate::{
    auth::{Permission, PermissionSet, Principal, PrincipalKind, token_format::SecretKind},
    entity::token,
    error::Error,
    service::{
        audit::{self, AuditRecord},
        policy,
        token::{self as token_service, NewToken, kind},
        validate,
    },
};

/// A token just created: the only time its secret is shown.
#[derive(SimpleObject)]
pub struct CreatedToken {
    pub token: Token,
    /// The plaintext token. Store it now; lynk keeps only a digest.
    pub secret: String,
}

/// `createPersonalToken`'s input.
#[derive(InputObject)]
pub struct CreatePersonalTokenInput {
    pub name: String,
    /// Required; at most the organization's `maxTokenLifetimeDays` ahead.
    pub expires_at: DateTime<Utc>,
    /// Narrow the token to these permissions (a subset of yours); omit for your whole role.
    pub scopes: Option<Vec<String>>,
}

/// `createServiceToken`'s input.
#[derive(InputObject)]
pub struct CreateServiceTokenInput {
    pub name: String,
    /// The role the token carries; its permissions must be a subset of yours.
    pub role_id: ID,
    /// Optional; none = until revoked.
    pub expires_at: Option<DateTime<Utc>>,
}

fn parse_scopes(scopes: Option<Vec<String>>) -> Result<Option<PermissionSet>, Error> {
    scopes
        .map(|names| PermissionSet::parse(names).map_err(|e| Error::bad_input(e.to_string())))
        .transpose()
}

async fn record_token_event(
    conn: &impl sea_orm::ConnectionTrait,
    ctx: &Context<'_>,
    principal: &Principal,
    action: &'static str,
    token_id: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    audit::record(
        conn,
        AuditRecord {
            organization_id: Some(principal.organization_id()),
            action,
            actor: &ctx.actor()?,
            target_type: Some("token"),
            target_id: Some(token_id),
        },
        now,
    )
    .await
}

/// Token mutations.
#[derive(Default)]
pub struct TokenMutation;

#[Object]
impl TokenMutation {
    /// Creates a personal token for the signed-in user. Needs a session:
    /// a token cannot mint more tokens.
    async fn create_personal_token(
        &self,
        ctx: &Context<'_>,
        input: CreatePersonalTokenInput,
    ) -> Result<CreatedToken, Error> {
        let principal = ctx.principal()?;
        let (PrincipalKind::UserSession, Some(user_id)) = (principal.kind, principal.user_id)
        else {
            return Err(Error::Forbidden(
                "personal tokens can only be created with a session (sign in with login)".into(),
            ));
        };
        let name = validate::name("name", &input.name)?;
        let now = Utc::now();
        policy::check_personal_expiry(
            input.expires_at,
            now,
            principal.organization.max_token_lifetime_days,
        )?;
        let scopes = parse_scopes(input.scopes)?;
        if let Some(scopes) = scopes {
            policy::check_grant(scopes, principal.permissions)?;
        }
        let txn = crate::database::begin_write(ctx.db()?).await?;
        let (model, secret) = token_service::issue(
            &txn,
            NewToken {
                kind: SecretKind::Personal,
                organization_id: Some(principal.organization_id()),
                name,
                scopes,
                role_id: None,
                owner_user_id: Some(user_id),
                created_by_user_id: Some(user_id),
                expires_at: Some(input.expires_at),
            },
            now,
        )
        .await?;
        record_token_event(&txn, ctx, principal, "token.created", model.id, now).await?;
        txn.commit().await?;
        Ok(CreatedToken {
            token: Token::new(model, principal.organization_id()),
            secret: secret.expose().to_owned(),
        })
    }

    /// Creates a service token owned by the organization, with an explicit role.
    async fn create_service_token(
        &self,
        ctx: &Context<'_>,
        input: CreateServiceTokenInput,
    ) -> Result<CreatedToken, Error> {
        let principal = ctx.require(Permission::TokensWrite)?;
        let name = validate::name("name", &input.name)?;
        let now = Utc::now();
        policy::check_service_expiry(input.expires_at, now)?;
        let db = ctx.db()?;
        let role = find_in_organization(
            db,
            principal.organization_id(),
            parse_id(&input.role_id, "role")?,
        )
        .await?;
        policy::check_grant(
            PermissionSet::from_storage(&role.permissions),
            principal.permissions,
        )?;
        let txn = crate::database::begin_write(db).await?;
        let (model, secret) = token_service::issue(
            &txn,
            NewToken {
                kind: SecretKind::Service,
                organization_id: Some(principal.organization_id()),
                name,
                scopes: None,
                role_id: Some(role.id),
                owner_user_id: None,
                created_by_user_id: principal.user_id,
                expires_at: input.expires_at,
            },
            now,
        )
        .await?;
        record_token_event(&txn, ctx, principal, "token.created", model.id, now).await?;
        txn.commit().await?;
        Ok(CreatedToken {
            token: Token::new(model, principal.organization_id()),
            secret: secret.expose().to_owned(),
        })
    }

    /// Revokes a token at once: your own, or any of the organization's with
    /// `tokens:write`. Revoking a revoked token changes nothing.
    async fn revoke_token(&self, ctx: &Context<'_>, id: ID) -> Result<Token, Error> {
        let principal = ctx.principal()?;
        let db = ctx.db()?;
        let model = find_accessible(db, principal, &id, Permission::TokensWrite).await?;
        if model.revoked_at.is_some() {
            return Ok(Token::new(model, principal.organization_id()));
        }
        let now = Utc::now();
        let txn = crate::database::begin_write(db).await?;
        let mut active = model.into_active_model();
        active.revoked_at = Set(Some(now));
        let model = active.update(&txn).await?;
        record_token_event(&txn, ctx, principal, "token.revoked", model.id, now).await?;
        txn.commit().await?;
        Ok(Token::new(model, principal.organization_id()))
    }

    /// Replaces a token's secret: the old one dies in the same transaction;
    /// name, role, scopes and lifetime carry over.
    async fn rotate_token(&self, ctx: &Context<'_>, id: ID) -> Result<CreatedToken, Error> {
        let principal = ctx.principal()?;
        let db = ctx.db()?;
        let old = find_accessible(db, principal, &id, Permission::TokensWrite).await?;
        if old.kind == kind::SESSION {
            return Err(Error::bad_input(
                "sessions cannot be rotated; sign in again with login",
            ));
        }
        if old.revoked_at.is_some() {
            return Err(Error::bad_input(
                "a revoked token cannot be rotated; create a new one",
            ));
        }
        let now = Utc::now();
        let personal = old.kind == kind::PERSONAL;
        let expires_at = policy::rotated_expiry(
            old.created_at,
            old.expires_at,
            now,
            personal.then_some(principal.organization.max_token_lifetime_days),
        );
        let new = NewToken {
            kind: if personal {
                SecretKind::Personal
            } else {
                SecretKind::Service
            },
            organization_id: old.organization_id,
            name: old.name.clone(),
            scopes: old.scopes.as_deref().map(PermissionSet::from_storage),
            role_id: old.role_id,
            owner_user_id: old.owner_user_id,
            created_by_user_id: principal.user_id.or(old.created_by_user_id),
            expires_at,
        };
        let txn = crate::database::begin_write(db).await?;
        let mut retired: token::ActiveModel = old.into_active_model();
        retired.revoked_at = Set(Some(now));
        let retired = retired.update(&txn).await?;
        let (model, secret) = token_service::issue(&txn, new, now).await?;
        record_token_event(&txn, ctx, principal, "token.rotated", retired.id, now).await?;
        txn.commit().await?;
        Ok(CreatedToken {
            token: Token::new(model, principal.organization_id()),
            secret: secret.expose().to_owned(),
        })
    }
}
