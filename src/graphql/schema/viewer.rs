//! The `viewer` query: who the caller is, with what, and their own tokens.

use std::sync::Arc;

use async_graphql::{Context, Object, connection::Connection};
use chrono::Utc;
use sea_orm::{ColumnTrait, QueryFilter};

use super::{
    context::ContextExt,
    loader::{self, RoleId, TokenId},
    names::Names,
    organization::{name_condition, status_condition},
    pagination::{ListOrder, Page, connection_complexity},
    role::Role,
    token::{Token, TokenStatus},
    user::User,
};
use crate::{
    auth::{CredentialKind, Permission, Principal},
    entity::token,
    error::Error,
    service::scoped::list_reachable,
};

/// What kind of credential the caller presented.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A session from `login`.
    UserSession,
    /// A user's personal token.
    PersonalToken,
    /// An organization's service token.
    ServiceToken,
}

impl From<CredentialKind> for PrincipalKind {
    fn from(kind: CredentialKind) -> PrincipalKind {
        match kind {
            CredentialKind::Personal => PrincipalKind::PersonalToken,
            CredentialKind::Service => PrincipalKind::ServiceToken,
            CredentialKind::Session => PrincipalKind::UserSession,
        }
    }
}

/// The caller of the request.
pub struct Viewer(Arc<Principal>);

#[Object]
impl Viewer {
    async fn kind(&self) -> PrincipalKind {
        self.0.kind.into()
    }

    /// Null for a service token.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>, Error> {
        User::load(ctx, self.0.user_id).await
    }

    /// The credential in use.
    async fn token(&self, ctx: &Context<'_>) -> Result<Token, Error> {
        let model = loader::load_one(ctx, TokenId(self.0.token_id))
            .await?
            .ok_or(Error::Unauthorized)?;
        Token::reached(&self.0, model)
    }

    /// The role the permissions come from.
    async fn role(&self, ctx: &Context<'_>) -> Result<Role, Error> {
        let key = RoleId {
            organization_id: self.0.organization_id(),
            id: self.0.role_id,
        };
        loader::load_one(ctx, key)
            .await?
            .map(Role)
            .ok_or(Error::Unauthorized)
    }

    /// Effective permissions: the role's, narrowed by the token's scopes.
    async fn permissions(&self) -> Names {
        Names(self.0.permissions.names())
    }

    /// The user's personal tokens in this organization. A session lists
    /// them all; a personal token only itself, unless it holds
    /// `tokens:read`; a service token none.
    #[graphql(complexity = "connection_complexity(first, child_complexity)")]
    async fn personal_tokens(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<TokenStatus>,
        #[graphql(desc = "Only tokens whose name contains this text, in any case.")]
        name_contains: Option<String>,
        #[graphql(desc = "By creation: `OLDEST_FIRST` (the default) or `NEWEST_FIRST`.")]
        order: Option<ListOrder>,
    ) -> Result<Connection<String, Token>, Error> {
        let page = Page::new(first, after)?;
        let name_filter = name_contains.as_deref().map(name_condition).transpose()?;
        let Some(user_id) = self.0.user_id else {
            return page.connection_of_reached(
                ctx,
                Vec::new(),
                |t: &token::Model| t.id,
                |t| Token::reached(&self.0, t),
            );
        };
        let mut select = list_reachable::<token::Entity>(&self.0)
            .filter(token::Column::OwnerUserId.eq(user_id))
            .filter(token::Column::Kind.eq(CredentialKind::Personal));
        if self.0.session_user().is_none() && !self.0.permissions.contains(Permission::TokensRead) {
            // A token acts only on itself (docs/DESIGN.md §3.4).
            select = select.filter(token::Column::Id.eq(self.0.token_id));
        }
        if let Some(status) = status {
            select = select.filter(status_condition(status, Utc::now()));
        }
        if let Some(name_filter) = name_filter {
            select = select.filter(name_filter);
        }
        let rows = page
            .apply_in(order.unwrap_or_default(), select, token::Column::Id)
            .all(ctx.db()?)
            .await?;
        page.connection_of_reached(ctx, rows, |t| t.id, |t| Token::reached(&self.0, t))
    }
}

/// `viewer`.
#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// Who is calling. Needs no permission.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer, Error> {
        Ok(Viewer(ctx.viewer()?))
    }
}
