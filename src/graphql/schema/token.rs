//! The `Token` type, its enums, and the `token(id)` query.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, SimpleObject, connection::Connection};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

use super::{
    context::ContextExt,
    loader::{self, MemberRole, PermissionsUsedBy, ProjectId, RoleId, TokenId},
    names::Names,
    pagination::{Page, connection_complexity},
    project::Project,
    role::{Role, parse_id},
    scalar::Timestamp,
    user::User,
};
use crate::{
    auth::{
        CredentialKind, Permission, PermissionSet, Principal, address_rule, last_used, narrowing,
        project_scope::ProjectScope, reach, token_access::TokenAction,
    },
    entity::{project, role, token},
    error::Error,
    service::{
        scoped::list_reachable,
        token::{self as token_service, Status},
    },
};

/// What a token is.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Personal,
    Service,
    Session,
}

impl From<CredentialKind> for TokenKind {
    fn from(kind: CredentialKind) -> TokenKind {
        match kind {
            CredentialKind::Personal => TokenKind::Personal,
            CredentialKind::Service => TokenKind::Service,
            CredentialKind::Session => TokenKind::Session,
        }
    }
}

impl From<TokenKind> for CredentialKind {
    fn from(kind: TokenKind) -> CredentialKind {
        match kind {
            TokenKind::Personal => CredentialKind::Personal,
            TokenKind::Service => CredentialKind::Service,
            TokenKind::Session => CredentialKind::Session,
        }
    }
}

/// What happens to a use from outside a token's `allowedCidrs`.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressEnforcement {
    /// Refused with the usual 401, and recorded in `rejectedUses`.
    Enforce,
    /// Let through, and recorded in `rejectedUses`.
    ReportOnly,
}

impl From<AddressEnforcement> for address_rule::AddressEnforcement {
    fn from(mode: AddressEnforcement) -> Self {
        match mode {
            AddressEnforcement::Enforce => address_rule::AddressEnforcement::Enforce,
            AddressEnforcement::ReportOnly => address_rule::AddressEnforcement::ReportOnly,
        }
    }
}

impl From<address_rule::AddressEnforcement> for AddressEnforcement {
    fn from(mode: address_rule::AddressEnforcement) -> Self {
        match mode {
            address_rule::AddressEnforcement::Enforce => AddressEnforcement::Enforce,
            address_rule::AddressEnforcement::ReportOnly => AddressEnforcement::ReportOnly,
        }
    }
}

/// Why a use of a token was refused.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectionReason {
    Revoked,
    Expired,
    /// From outside its `allowedCidrs` (refused, or let through in `REPORT_ONLY`).
    AddressNotAllowed,
}

impl From<last_used::RejectionReason> for RejectionReason {
    fn from(reason: last_used::RejectionReason) -> Self {
        match reason {
            last_used::RejectionReason::Revoked => RejectionReason::Revoked,
            last_used::RejectionReason::Expired => RejectionReason::Expired,
            last_used::RejectionReason::AddressNotAllowed => RejectionReason::AddressNotAllowed,
        }
    }
}

/// Uses of a token that were refused (a revoked or expired secret
/// presented again) or came from outside its `allowedCidrs`, recorded
/// behind the request.
#[derive(SimpleObject)]
pub struct RejectedUses {
    pub count: i64,
    pub last_at: Option<Timestamp>,
    /// The addresses of the latest ones, newest first, at most 5.
    pub last_ips: Vec<String>,
    pub last_reason: Option<RejectionReason>,
}

/// Whether a token still works.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

impl From<Status> for TokenStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Active => TokenStatus::Active,
            Status::Expired => TokenStatus::Expired,
            Status::Revoked => TokenStatus::Revoked,
        }
    }
}

/// A token's status at `now` (see [`token_service::status`]).
pub fn status_of(token: &token::Model, now: DateTime<Utc>) -> TokenStatus {
    token_service::status(token, now).into()
}

/// A credential: everything about it but the secret, as one caller sees
/// it: built only through a reach check, carrying that caller.
pub struct Token {
    model: token::Model,
    viewer: Arc<Principal>,
}

impl Token {
    /// The token if `viewer` may see it (as `token(id)` answers).
    pub fn reached(viewer: &Arc<Principal>, model: token::Model) -> Result<Token, Error> {
        reach::token(viewer, &token_service::facts(&model)?)?;
        Ok(Token {
            model,
            viewer: Arc::clone(viewer),
        })
    }

    /// The token's name (what an audit event shows as its target).
    pub fn display_name(&self) -> &str {
        &self.model.name
    }

    /// A token `viewer` has just created, revoked or rotated: it acted on
    /// it, so it sees it (a session is seen only by its own user).
    pub fn written(viewer: &Arc<Principal>, model: token::Model) -> Result<Token, Error> {
        let own_session = model.kind == CredentialKind::Session
            && model.owner_user_id.is_some()
            && model.owner_user_id == viewer.user_id;
        if !own_session && model.organization_id != Some(viewer.organization_id()) {
            return Err(Error::NotFound("token"));
        }
        Ok(Token {
            model,
            viewer: Arc::clone(viewer),
        })
    }

    /// The organization it is seen from (for a session's role).
    fn organization_id(&self) -> Uuid {
        self.viewer.organization_id()
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
        self.model.kind.into()
    }

    async fn status(&self) -> TokenStatus {
        status_of(&self.model, Utc::now())
    }

    /// Prefix and first and last four characters; never the secret.
    async fn hint(&self) -> &str {
        &self.model.hint
    }

    /// The permissions a personal token is narrowed to; null = the owner's whole role.
    async fn scopes(&self) -> Option<Names> {
        self.model
            .scopes
            .as_deref()
            .map(|s| Names(PermissionSet::from_storage(s).names()))
    }

    /// The projects the token is restricted to, oldest first; null = every
    /// project of the organization. A deleted project drops out, and the
    /// restriction stays: an empty list means the token reaches no project
    /// at all. Listing them needs `projects:read`, and lists only the
    /// projects you reach.
    #[graphql(
        complexity = "crate::graphql::schema::limits::list_complexity(crate::service::token_create::MAX_TOKEN_PROJECTS, child_complexity)"
    )]
    async fn projects(&self, ctx: &Context<'_>) -> Result<Option<Vec<Project>>, Error> {
        let scope = ProjectScope::from_storage(self.model.project_ids.as_deref());
        let Some(ids) = scope.ids() else {
            return Ok(None);
        };
        self.viewer.require(Permission::ProjectsRead)?;
        let organization_id = self.organization_id();
        let found = loader::load_many(
            ctx,
            ids.iter().map(|&id| ProjectId {
                organization_id,
                id,
            }),
        )
        .await?;
        let mut projects: Vec<project::Model> = found.into_values().collect();
        crate::graphql::schema::limits::count_resolved(ctx, projects.len())?;
        projects.sort_unstable_by_key(|p| p.id);
        Ok(Some(
            projects
                .into_iter()
                .filter_map(|p| Project::reached(&self.viewer, p).ok())
                .collect(),
        ))
    }

    /// A service token's role; for personal and session tokens, the owner's current role.
    async fn role(&self, ctx: &Context<'_>) -> Result<Option<Role>, Error> {
        Ok(self.role_row(ctx).await?.map(Role))
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

    /// For a child (`attenuateToken`), the token it was minted from, if
    /// you may see it; null for any other token.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Token>, Error> {
        let Some(parent_id) = self.model.parent_id else {
            return Ok(None);
        };
        let parent = loader::load_one(ctx, TokenId(parent_id)).await?;
        Ok(parent.and_then(|model| Token::reached(&self.viewer, model).ok()))
    }

    /// The children minted from this token, oldest first: those you may
    /// see (the token itself, its owner's session, or `tokens:read`).
    #[graphql(complexity = "connection_complexity(first, child_complexity)")]
    async fn children(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Token>, Error> {
        let page = Page::new(first, after)?;
        let select = list_reachable::<token::Entity>(&self.viewer)
            .filter(token::Column::ParentId.eq(self.model.id));
        let rows = page.apply(select, token::Column::Id).all(ctx.db()?).await?;
        page.connection_of_reached(ctx, rows, |t| t.id, |t| Token::reached(&self.viewer, t))
    }

    /// The networks it may be used from; empty = anywhere.
    async fn allowed_cidrs(&self) -> Vec<&str> {
        self.model
            .allowed_cidrs
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .collect()
    }

    /// What happens to a use from outside `allowedCidrs`; null when it
    /// has none.
    async fn address_enforcement(&self) -> Option<AddressEnforcement> {
        self.model.allowed_cidrs.as_ref().map(|_| {
            address_rule::AddressEnforcement::from_storage(
                self.model.address_enforcement.as_deref(),
            )
            .into()
        })
    }

    /// The permissions its requests were granted in the last 90 days,
    /// in catalog order (recorded within a minute of a request).
    async fn permissions_used(&self, ctx: &Context<'_>) -> Result<Names, Error> {
        Ok(Names(self.used(ctx).await?.names()))
    }

    /// Its effective permissions (its role narrowed by its scopes, as now)
    /// that no request was granted in the last 90 days: what
    /// `narrowToken` could take away.
    async fn unused_permissions(&self, ctx: &Context<'_>) -> Result<Names, Error> {
        // Asked for together, so that they join the batches of the list's
        // other tokens (and of `role`) rather than starting new ones.
        let (used, role) = tokio::try_join!(self.used(ctx), self.role_row(ctx))?;
        let role = role.map_or(PermissionSet::EMPTY, |role| {
            PermissionSet::from_storage(&role.permissions)
        });
        let effective = narrowing::effective(
            role,
            self.model
                .scopes
                .as_deref()
                .map(PermissionSet::from_storage),
            &ProjectScope::from_storage(self.model.project_ids.as_deref()),
        );
        Ok(Names(effective.without(used).names()))
    }

    /// Uses of it refused (revoked, expired) or from outside its
    /// `allowedCidrs`, recorded within a second or so of the request.
    async fn rejected_uses(&self) -> RejectedUses {
        RejectedUses {
            count: self.model.rejected_count,
            last_at: self.model.rejected_last_at.map(Timestamp),
            last_ips: self
                .model
                .rejected_last_ips
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            last_reason: self
                .model
                .rejected_last_reason
                .as_deref()
                .and_then(last_used::RejectionReason::from_storage)
                .map(Into::into),
        }
    }
}

impl Token {
    /// The permissions it was granted in the last 90 days (a list's tokens
    /// read them in one batch).
    async fn used(&self, ctx: &Context<'_>) -> Result<PermissionSet, Error> {
        Ok(loader::load_one(ctx, PermissionsUsedBy(self.model.id))
            .await?
            .unwrap_or(PermissionSet::EMPTY))
    }

    /// The row of [`Token::role`]: a service token's own role, else its
    /// owner's membership's, in the token's organization only.
    async fn role_row(&self, ctx: &Context<'_>) -> Result<Option<role::Model>, Error> {
        let organization_id = self.organization_id();
        match (self.model.role_id, self.model.owner_user_id) {
            (Some(id), _) => {
                loader::load_one(
                    ctx,
                    RoleId {
                        organization_id,
                        id,
                    },
                )
                .await
            }
            (None, Some(user_id)) => {
                loader::load_one(
                    ctx,
                    MemberRole {
                        organization_id,
                        user_id,
                    },
                )
                .await
            }
            (None, None) => Ok(None),
        }
    }
}

/// `token(id)`.
#[derive(Default)]
pub struct TokenQuery;

#[Object]
impl TokenQuery {
    /// The credential in use; with a session, your own tokens and sessions;
    /// any of the organization's with `tokens:read`.
    async fn token(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Token>, Error> {
        let viewer = ctx.viewer()?;
        let token_id = parse_id(&id, "token")?;
        let model =
            token_service::find_for(ctx.db()?, &viewer, token_id, TokenAction::Read).await?;
        Token::reached(&viewer, model).map(Some)
    }
}
