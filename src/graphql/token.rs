//! The `Token` type, its enums, and the `token(id)` query.

use async_graphql::{Context, Enum, ID, Object};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{
    context::ContextExt,
    role::{Role, parse_id},
    user::{self, User},
};
use crate::{
    auth::{Permission, PermissionSet, Principal},
    entity::{membership, role, token},
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

/// A token's status at `now`: revocation wins over expiry.
pub fn status_of(token: &token::Model, now: DateTime<Utc>) -> TokenStatus {
    if token.revoked_at.is_some() {
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

    /// A service token's role; for personal and session tokens, the owner's current role.
    async fn role(&self, ctx: &Context<'_>) -> Result<Option<Role>, Error> {
        let db = ctx.db()?;
        let role_id = match (self.model.role_id, self.model.owner_user_id) {
            (Some(role_id), _) => Some(role_id),
            (None, Some(owner)) => membership::Entity::find()
                .filter(membership::Column::OrganizationId.eq(self.organization_id))
                .filter(membership::Column::UserId.eq(owner))
                .one(db)
                .await?
                .map(|m| m.role_id),
            (None, None) => None,
        };
        let Some(role_id) = role_id else {
            return Ok(None);
        };
        Ok(role::Entity::find_by_id(role_id).one(db).await?.map(Role))
    }

    /// The user a personal or session token belongs to.
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<User>, Error> {
        user::load(ctx.db()?, self.model.owner_user_id).await
    }

    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<User>, Error> {
        user::load(ctx.db()?, self.model.created_by_user_id).await
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }

    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.model.expires_at
    }

    /// Updated at most once a minute.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.model.last_used_at
    }

    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.model.revoked_at
    }
}

/// Whether `principal` may see or act on `token`: its own personal or
/// session token always; any token of its organization with `permission`.
/// A token outside the caller's organization does not exist for it.
pub fn check_token_access(
    principal: &Principal,
    token: &token::Model,
    permission: Permission,
) -> Result<(), Error> {
    let own = principal.user_id.is_some() && token.owner_user_id == principal.user_id;
    let in_organization = token.organization_id == Some(principal.organization_id());
    if own && (in_organization || token.organization_id.is_none()) {
        return Ok(());
    }
    if !in_organization {
        return Err(Error::NotFound("token"));
    }
    principal.require(permission)
}

/// Loads a token the caller may see with `permission`.
pub async fn find_accessible(
    db: &DatabaseConnection,
    principal: &Principal,
    id: &ID,
    permission: Permission,
) -> Result<token::Model, Error> {
    let token_id = parse_id(id, "token")?;
    let token = token::Entity::find_by_id(token_id)
        .one(db)
        .await?
        .ok_or(Error::NotFound("token"))?;
    check_token_access(principal, &token, permission)?;
    Ok(token)
}

/// `token(id)`.
#[derive(Default)]
pub struct TokenQuery;

#[Object]
impl TokenQuery {
    /// One of the caller's own tokens, or any of the organization's with `tokens:read`.
    async fn token(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Token>, Error> {
        let principal = ctx.principal()?;
        let model = find_accessible(ctx.db()?, principal, &id, Permission::TokensRead).await?;
        Ok(Some(Token::new(model, principal.organization_id())))
    }
}
