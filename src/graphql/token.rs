//! The `Token` type, its enums, and the `token(id)` query.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    context::ContextExt,
    loader::{self, MemberRole, ProjectId, RoleId},
    names::Names,
    project::Project,
    role::{Role, parse_id},
    scalar::Timestamp,
    user::User,
};
use crate::{
    auth::{
        CredentialKind, Permission, PermissionSet, Principal, project_scope::ProjectScope, reach,
        token_access::TokenAction,
    },
    entity::{project, token},
    error::Error,
    service::token::{self as token_service, Status},
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
        complexity = "crate::graphql::limits::list_complexity(crate::service::token_create::MAX_TOKEN_PROJECTS, child_complexity)"
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
        crate::graphql::limits::count_resolved(ctx, projects.len())?;
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
        let organization_id = self.organization_id();
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
