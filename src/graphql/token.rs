//! The `Token` type, its enums, and the `token(id)` query.

use async_graphql::{Context, Enum, ID, Object};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, EntityTrait};
use uuid::Uuid;

use super::{
    context::ContextExt,
    loader::{self, MemberRole, ProjectId, RoleId},
    project::Project,
    role::{Role, parse_id},
    scalar::Timestamp,
    user::User,
};
use crate::{
    auth::{
        Permission, PermissionSet, Principal,
        project_scope::ProjectScope,
        token_access::{TokenAction, TokenFacts, check_token_action},
    },
    entity::{project, role, token},
    error::Error,
    service::token::kind,
};

/// What a token is.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Personal,
    Service,
    Session,
}

impl TokenKind {
    /// The stored `kind` value.
    pub const fn as_stored(self) -> &'static str {
        match self {
            TokenKind::Personal => kind::PERSONAL,
            TokenKind::Service => kind::SERVICE,
            TokenKind::Session => kind::SESSION,
        }
    }

    fn from_stored(stored: &str) -> TokenKind {
        match stored {
            kind::SERVICE => TokenKind::Service,
            kind::SESSION => TokenKind::Session,
            _ => TokenKind::Personal,
        }
    }
}

/// Whether a token still works.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

/// A token's status at `now`: revocation wins over expiry. A token in the
/// grace period of a rotation is still `ACTIVE` (its `revokedAt` is ahead).
pub fn status_of(token: &token::Model, now: DateTime<Utc>) -> TokenStatus {
    if token.revoked_at.is_some_and(|at| at <= now) {
        TokenStatus::Revoked
    } else if token.expires_at.is_some_and(|at| at <= now) {
        TokenStatus::Expired
    } else {
        TokenStatus::Active
    }
}

/// A credential: everything about it but the secret.
pub struct Token {
    pub model: token::Model,
    /// The organization it is seen from (for a session's role).
    pub organization_id: Uuid,
}

impl Token {
    /// Wraps a stored token seen from `organization_id`.
    pub fn new(model: token::Model, organization_id: Uuid) -> Token {
        Token {
            model,
            organization_id,
        }
    }
}

#[Object]
impl Token {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.model.name
    }

    async fn kind(&self) -> TokenKind {
        TokenKind::from_stored(&self.model.kind)
    }

    async fn status(&self) -> TokenStatus {
        status_of(&self.model, Utc::now())
    }

    /// Prefix and first and last four characters; never the secret.
    async fn hint(&self) -> &str {
        &self.model.hint
    }

    /// The permissions a personal token is narrowed to; null = the owner's whole role.
    async fn scopes(&self) -> Option<Vec<&'static str>> {
        self.model
            .scopes
            .as_deref()
            .map(|s| PermissionSet::from_storage(s).names())
    }

    /// The projects the token is restricted to, oldest first; null = every
    /// project of the organization. A deleted project drops out, and the
    /// restriction stays: an empty list means the token reaches no project
    /// at all. Listing them needs `projects:read`.
    async fn projects(&self, ctx: &Context<'_>) -> Result<Option<Vec<Project>>, Error> {
        let scope = ProjectScope::from_storage(self.model.project_ids.as_deref());
        let Some(ids) = scope.ids() else {
            return Ok(None);
        };
        // Without a credential, the token was just created for the caller
        // (`exchangeOidcToken`): its own projects are shown with it.
        if let Some(principal) = &ctx.request()?.principal {
            principal.require(Permission::ProjectsRead)?;
        }
        let organization_id = self.organization_id;
        let found = loader::load_many(
            ctx,
            ids.iter().map(|&id| ProjectId {
                organization_id,
                id,
            }),
        )
        .await?;
        let mut projects: Vec<project::Model> = found.into_values().collect();
        projects.sort_unstable_by_key(|p| p.id);
        Ok(Some(projects.into_iter().map(Project).collect()))
    }

    /// A service token's role; for personal and session tokens, the owner's current role.
    async fn role(&self, ctx: &Context<'_>) -> Result<Option<Role>, Error> {
        let organization_id = self.organization_id;
        let role = match (self.model.role_id, self.model.owner_user_id) {
            (Some(id), _) => {
                loader::load_one(
                    ctx,
                    RoleId {
                        organization_id,
                        id,
                    },
                )
                .await?
            }
            (None, Some(user_id)) => {
                loader::load_one(
                    ctx,
                    MemberRole {
                        organization_id,
                        user_id,
                    },
                )
                .await?
            }
            (None, None) => None,
        };
        Ok(role.map(Role))
    }

    /// The user a personal or session token belongs to.
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<User>, Error> {
        User::load(ctx, self.model.owner_user_id).await
    }

    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<User>, Error> {
        User::load(ctx, self.model.created_by_user_id).await
    }

    async fn created_at(&self) -> Timestamp {
        self.model.created_at.into()
    }

    async fn expires_at(&self) -> Option<Timestamp> {
        self.model.expires_at.map(Timestamp)
    }

    /// The client addresses it was used from, newest first, at most 5
    /// (written with `lastUsedAt`, at most once a minute; behind a proxy,
    /// what `--trusted-proxy-hops` makes of `X-Forwarded-For`).
    async fn last_used_ips(&self) -> Vec<&str> {
        self.model
            .last_used_ips
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .collect()
    }

    /// Updated at most once a minute.
    async fn last_used_at(&self) -> Option<Timestamp> {
        self.model.last_used_at.map(Timestamp)
    }

    async fn revoked_at(&self) -> Option<Timestamp> {
        self.model.revoked_at.map(Timestamp)
    }
}

/// The facts [`check_token_action`] decides on. The permissions a service
/// token carries are read only when they matter (to rotate it).
async fn facts_of(
    conn: &impl ConnectionTrait,
    token: &token::Model,
    action: TokenAction,
) -> Result<TokenFacts, Error> {
    let mut facts = facts(token)?;
    if let (TokenAction::Rotate, Some(role_id)) = (action, token.role_id) {
        facts.carried = role::Entity::find_by_id(role_id)
            .one(conn)
            .await?
            .map(|role| PermissionSet::from_storage(&role.permissions));
    }
    Ok(facts)
}

/// The facts of a stored token, without what it carries.
pub fn facts(token: &token::Model) -> Result<TokenFacts, Error> {
    let kind = kind::parse(&token.kind)
        .ok_or_else(|| Error::internal(format!("token {} has an unknown kind", token.id)))?;
    Ok(TokenFacts {
        id: token.id,
        kind,
        organization_id: token.organization_id,
        owner_user_id: token.owner_user_id,
        carried: None,
        projects: ProjectScope::from_storage(token.project_ids.as_deref()),
    })
}

/// Loads a token the caller may `action` (DESIGN §3, in
/// [`check_token_action`]); `NOT_FOUND` when it may not even know of it.
pub async fn find_for(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    id: &ID,
    action: TokenAction,
) -> Result<token::Model, Error> {
    let token_id = parse_id(id, "token")?;
    let token = token::Entity::find_by_id(token_id)
        .one(conn)
        .await?
        .ok_or(Error::NotFound("token"))?;
    check_token_action(principal, &facts_of(conn, &token, action).await?, action)?;
    Ok(token)
}

/// `token(id)`.
#[derive(Default)]
pub struct TokenQuery;

#[Object]
impl TokenQuery {
    /// The credential in use; with a session, your own tokens and sessions;
    /// any of the organization's with `tokens:read`.
    async fn token(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Token>, Error> {
        let principal = ctx.principal()?;
        let model = find_for(ctx.db()?, principal, &id, TokenAction::Read).await?;
        Ok(Some(Token::new(model, principal.organization_id())))
    }
}
