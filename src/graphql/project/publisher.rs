//! The `TrustedPublisher` output type: a CI identity a project trusts
//! (DESIGN §8), and the list of a project's publishers.

use async_graphql::{Context, ID, Object};

use super::Project;
use crate::{
    auth::Permission,
    entity::trusted_publisher,
    error::Error,
    graphql::{
        context::ContextExt,
        loader::{self, ProjectId, PublishersOf, RoleId},
        role::Role,
        scalar::Timestamp,
        user::User,
    },
};

/// A CI identity a project trusts: a job whose OIDC identity token comes
/// from `issuer`, names `audience` and has a matching `subject` may
/// exchange it for a 15-minute service token of `project` with `role`.
pub struct TrustedPublisher(pub trusted_publisher::Model);

#[Object]
impl TrustedPublisher {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The OIDC issuer, compared exactly with a token's `iss` (e.g.
    /// `https://token.actions.githubusercontent.com`).
    async fn issuer(&self) -> &str {
        &self.0.issuer
    }

    /// What the CI job asks its token to be for; one of the token's `aud`.
    async fn audience(&self) -> &str {
        &self.0.audience
    }

    /// A token's `sub` exactly, or every `sub` starting with what precedes
    /// a trailing `*` (e.g. `repo:acme/shop-api:ref:refs/heads/main`).
    async fn subject(&self) -> &str {
        &self.0.subject
    }

    /// The project exchanged tokens are restricted to.
    async fn project(&self, ctx: &Context<'_>) -> Result<Project, Error> {
        let key = ProjectId {
            organization_id: self.0.organization_id,
            id: self.0.project_id,
        };
        loader::load_one(ctx, key)
            .await?
            .map(Project)
            .ok_or_else(|| Error::internal("a trusted publisher's project is missing"))
    }

    /// The role exchanged tokens carry.
    async fn role(&self, ctx: &Context<'_>) -> Result<Role, Error> {
        let key = RoleId {
            organization_id: self.0.organization_id,
            id: self.0.role_id,
        };
        loader::load_one(ctx, key)
            .await?
            .map(Role)
            .ok_or_else(|| Error::internal("a trusted publisher's role is missing"))
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }

    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<User>, Error> {
        User::load(ctx, self.0.created_by_user_id).await
    }
}

/// `Project.trustedPublishers` (needs `tokens:read`): the project's
/// publishers, oldest first (the order an exchange tries them in).
pub async fn trusted_publishers_of(
    ctx: &Context<'_>,
    project: &crate::entity::project::Model,
) -> Result<Vec<TrustedPublisher>, Error> {
    let principal = ctx.require(Permission::TokensRead)?;
    if project.organization_id != principal.organization_id() {
        return Err(Error::NotFound("project"));
    }
    principal.require_project(project.id)?;
    let key = PublishersOf(ProjectId {
        organization_id: project.organization_id,
        id: project.id,
    });
    let publishers = loader::load_one(ctx, key).await?.unwrap_or_default();
    crate::graphql::limits::count_resolved(ctx, publishers.len())?;
    Ok(publishers.into_iter().map(TrustedPublisher).collect())
}
