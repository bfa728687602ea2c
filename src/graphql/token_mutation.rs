//! Creating, revoking and rotating tokens.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use sea_orm::EntityTrait;

use super::{
    context::ContextExt,
    project::find_reachable,
    role::{find_in_organization, parse_id},
    scalar::Timestamp,
    token::{Token, TokenStatus, find_for, status_of},
};
use crate::{
    auth::{
        Permission, PermissionSet, Principal, PrincipalKind, project_scope::ProjectScope,
        token_access::TokenAction, token_format::SecretKind,
    },
    entity::token,
    error::Error,
    service::{
        audit::{self, AuditRecord},
        policy,
        token::{self as token_service, NewToken, RetireIf, kind},
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
    pub expires_at: Timestamp,
    /// Narrow the token to these permissions (a subset of yours); omit for your whole role.
    pub scopes: Option<Vec<String>>,
    /// Restrict the token to these projects of the organization: for it,
    /// other projects do not exist. Omit for every project.
    pub project_ids: Option<Vec<ID>>,
}

/// `createServiceToken`'s input.
#[derive(InputObject)]
pub struct CreateServiceTokenInput {
    pub name: String,
    /// The role the token carries; its permissions must be a subset of yours.
    pub role_id: ID,
    /// Optional; none = until revoked.
    pub expires_at: Option<Timestamp>,
    /// Restrict the token to these projects of the organization (within
    /// yours, if you are restricted); omit for every project.
    pub project_ids: Option<Vec<ID>>,
}

/// Most projects one token may be restricted to.
pub const MAX_TOKEN_PROJECTS: usize = 100;

/// The projects a new token reaches: the ids given, each a project of the
/// caller's organization that the caller reaches itself; omitted, every
/// project, which only an unrestricted caller may hand out.
async fn project_scope(
    conn: &impl sea_orm::ConnectionTrait,
    principal: &Principal,
    ids: Option<Vec<ID>>,
) -> Result<ProjectScope, Error> {
    let Some(ids) = ids else {
        if !principal.projects.is_all() {
            return Err(Error::Forbidden(
                "you are restricted to some projects; name projectIds among them".into(),
            ));
        }
        return Ok(ProjectScope::All);
    };
    if ids.is_empty() || ids.len() > MAX_TOKEN_PROJECTS {
        return Err(Error::bad_input(format!(
            "projectIds must name between 1 and {MAX_TOKEN_PROJECTS} projects (got {}); omit it \
             for every project",
            ids.len()
        )));
    }
    let mut projects = Vec::with_capacity(ids.len());
    for id in &ids {
        projects.push(find_reachable(conn, principal, id).await?.id);
    }
    Ok(ProjectScope::Only(projects))
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
    action: crate::service::audit::AuditAction,
    token_id: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    audit::record(
        conn,
        AuditRecord {
            organization_id: Some(principal.organization_id()),
            action,
            actor: &ctx.actor()?,
            target: Some(token_id),
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
        let expires_at = input.expires_at.0;
        policy::check_personal_expiry(
            expires_at,
            now,
            principal.organization.max_token_lifetime_days,
        )?;
        let scopes = parse_scopes(input.scopes)?;
        if let Some(scopes) = scopes {
            policy::check_grant(scopes, principal.permissions)?;
        }
        let projects = project_scope(ctx.db()?, principal, input.project_ids).await?;
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
                projects,
                expires_at: Some(expires_at),
            },
            now,
        )
        .await?;
        record_token_event(
            &txn,
            ctx,
            principal,
            crate::service::audit::AuditAction::TokenCreated,
            model.id,
            now,
        )
        .await?;
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
        let expires_at = input.expires_at.map(|at| at.0);
        policy::check_service_expiry(expires_at, now)?;
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
        let projects = project_scope(db, principal, input.project_ids).await?;
        let txn =
            crate::database::begin_organization_write(db, principal.organization_id()).await?;
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
                projects,
                expires_at,
            },
            now,
        )
        .await?;
        record_token_event(
            &txn,
            ctx,
            principal,
            crate::service::audit::AuditAction::TokenCreated,
            model.id,
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(CreatedToken {
            token: Token::new(model, principal.organization_id()),
            secret: secret.expose().to_owned(),
        })
    }

    /// Revokes a token at once: the one in use; with a session, your own
    /// tokens and sessions; any of the organization's with `tokens:write`.
    /// A token in the grace period of a rotation dies at once too.
    /// Revoking a revoked token changes nothing.
    async fn revoke_token(&self, ctx: &Context<'_>, id: ID) -> Result<Token, Error> {
        let principal = ctx.principal()?;
        let now = Utc::now();
        let txn = crate::database::begin_write(ctx.db()?).await?;
        let model = find_for(&txn, principal, &id, TokenAction::Revoke).await?;
        if status_of(&model, now) == TokenStatus::Revoked {
            return Ok(Token::new(model, principal.organization_id()));
        }
        // Conditional: of a revocation and a rotation racing for the same
        // token, only one retires it; the other sees it already revoked.
        if token_service::retire(&txn, model.id, now, now, RetireIf::NotRevoked).await? {
            record_token_event(
                &txn,
                ctx,
                principal,
                crate::service::audit::AuditAction::TokenRevoked,
                model.id,
                now,
            )
            .await?;
        }
        let model = token::Entity::find_by_id(model.id)
            .one(&txn)
            .await?
            .ok_or(Error::NotFound("token"))?;
        txn.commit().await?;
        Ok(Token::new(model, principal.organization_id()))
    }

    /// Replaces an active token's secret. The old one dies in the same
    /// transaction, or keeps working for `gracePeriodSeconds` (at most 7
    /// days) so that a deployment can switch without an outage; its
    /// `revokedAt` then says when it stops, and revoking it ends the grace
    /// at once. Name, role, scopes, projects and expiry carry over, unless
    /// a session sets a new `expiresAt` (within the organization's policy).
    /// Rotation is creation: a personal token is rotated only
    /// by its owner, a service token only by a caller holding every
    /// permission it carries, and the rotator becomes `createdBy`.
    async fn rotate_token(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expires_at: Option<Timestamp>,
        grace_period_seconds: Option<i32>,
    ) -> Result<CreatedToken, Error> {
        let principal = ctx.principal()?;
        let now = Utc::now();
        let grace = policy::grace_period(grace_period_seconds)?;
        let txn = crate::database::begin_write(ctx.db()?).await?;
        let old = find_for(&txn, principal, &id, TokenAction::Rotate).await?;
        if let Some(ends) = old
            .revoked_at
            .filter(|_| status_of(&old, now) == TokenStatus::Active)
        {
            return Err(Error::bad_input(format!(
                "this token was already rotated and stops working at {}; rotate its successor",
                Timestamp::format(ends)
            )));
        }
        let kind = match status_of(&old, now) {
            TokenStatus::Active => kind::parse(&old.kind)
                .ok_or_else(|| Error::internal("a token of an unknown kind"))?,
            TokenStatus::Expired => {
                return Err(Error::bad_input(
                    "only an active token can be rotated; this one has expired, create a new one",
                ));
            }
            TokenStatus::Revoked => {
                return Err(Error::bad_input(
                    "only an active token can be rotated; this one is revoked, create a new one",
                ));
            }
        };
        let expires_at = match expires_at.map(|at| at.0) {
            None => old.expires_at,
            Some(_) if principal.kind != PrincipalKind::UserSession => {
                return Err(Error::Forbidden(
                    "only a session sets a new expiresAt when rotating; omit it to keep the                      token's expiry"
                        .into(),
                ));
            }
            Some(at) if kind == SecretKind::Personal => {
                policy::check_personal_expiry(
                    at,
                    now,
                    principal.organization.max_token_lifetime_days,
                )?;
                Some(at)
            }
            Some(at) => {
                policy::check_service_expiry(Some(at), now)?;
                Some(at)
            }
        };
        // Conditional: of concurrent rotations (or a rotation and a
        // revocation) only the one that retires the token goes on.
        if !token_service::retire(&txn, old.id, now, now + grace, RetireIf::Active).await? {
            return Err(Error::conflict(
                "this token was revoked or rotated by another request at the same time; \
                 nothing was changed",
            ));
        }
        let (model, secret) = token_service::issue(
            &txn,
            NewToken {
                kind,
                organization_id: old.organization_id,
                name: old.name.clone(),
                scopes: old.scopes.as_deref().map(PermissionSet::from_storage),
                role_id: old.role_id,
                owner_user_id: old.owner_user_id,
                created_by_user_id: principal.user_id,
                projects: ProjectScope::from_storage(old.project_ids.as_deref()),
                expires_at,
            },
            now,
        )
        .await?;
        record_token_event(
            &txn,
            ctx,
            principal,
            crate::service::audit::AuditAction::TokenRotated,
            old.id,
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(CreatedToken {
            token: Token::new(model, principal.organization_id()),
            secret: secret.expose().to_owned(),
        })
    }
}
