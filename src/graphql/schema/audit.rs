//! The `AuditEvent` type.

use async_graphql::{Context, ID, Object};

use super::context::ContextExt;
use super::{
    loader::{self, ProjectId, RoleId, TokenId},
    scalar::Timestamp,
    token::Token,
    user::User,
};
use crate::{entity::audit_event, error::Error};

/// Who did what to which object, from where, and when.
pub struct AuditEvent {
    pub model: audit_event::Model,
}

#[Object]
impl AuditEvent {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }

    /// e.g. `token.created`, `member.removed`, `login.failed`.
    async fn action(&self) -> &str {
        &self.model.action
    }

    async fn created_at(&self) -> Timestamp {
        self.model.created_at.into()
    }

    async fn actor_user(&self, ctx: &Context<'_>) -> Result<Option<User>, Error> {
        User::load(ctx, self.model.actor_user_id).await
    }

    /// The credential that acted, if you may see it as `token(id)`
    /// answers; null otherwise (another user's session or token, or one
    /// outside your projects).
    async fn actor_token(&self, ctx: &Context<'_>) -> Result<Option<Token>, Error> {
        let Some(id) = self.model.actor_token_id else {
            return Ok(None);
        };
        let viewer = ctx.viewer()?;
        Ok(loader::load_one(ctx, TokenId(id))
            .await?
            .and_then(|t| Token::reached(&viewer, t).ok()))
    }

    async fn target_type(&self) -> Option<&str> {
        self.model.target_type.as_deref()
    }

    async fn target_id(&self) -> Option<ID> {
        self.model.target_id.map(|id| ID(id.to_string()))
    }

    /// The target's name as it is now: a token's, role's or project's
    /// name, a user's email. Null when it is gone, when you may not see it
    /// (a token as `token(id)` answers, a project outside your projects),
    /// or for targets without one (the organization, an invitation, an
    /// SBOM, a webhook, a trusted publisher). Batched, like the actors.
    async fn target_name(&self, ctx: &Context<'_>) -> Result<Option<String>, Error> {
        let (Some(kind), Some(id), Some(organization_id)) = (
            self.model.target_type.as_deref(),
            self.model.target_id,
            self.model.organization_id,
        ) else {
            return Ok(None);
        };
        Ok(match kind {
            "token" => {
                let viewer = ctx.viewer()?;
                loader::load_one(ctx, TokenId(id))
                    .await?
                    .and_then(|t| Token::reached(&viewer, t).ok())
                    .map(|t| t.display_name().to_owned())
            }
            "user" => User::load(ctx, Some(id)).await?.map(|u| u.0.email),
            "role" => loader::load_one(
                ctx,
                RoleId {
                    organization_id,
                    id,
                },
            )
            .await?
            .map(|r| r.name),
            "project" if ctx.viewer()?.projects.allows(id) => loader::load_one(
                ctx,
                ProjectId {
                    organization_id,
                    id,
                },
            )
            .await?
            .map(|p| p.name),
            _ => None,
        })
    }

    /// The client address the change came from.
    async fn ip(&self) -> Option<&str> {
        self.model.ip.as_deref()
    }

    /// What the other fields cannot say, as compact JSON: for
    /// `token.exchanged`, the trusted publisher and the CI claims that
    /// matched (`sub`, `repository`, `ref`, `job_workflow_ref`, …).
    async fn detail(&self) -> Option<&str> {
        self.model.detail.as_deref()
    }
}
