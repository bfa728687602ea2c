//! The `TrustedPublisher` output type: a CI identity a project trusts
//! (docs/DESIGN.md §8.3), and the list of a project's publishers.

use std::sync::Arc;

use async_graphql::{Context, ID, Object};

use super::Project;
use crate::{
    auth::{Permission, Principal, reach},
    entity::trusted_publisher,
    error::Error,
    graphql::{
        loader::{self, ProjectId, PublishersOf, RoleId},
        role::Role,
        scalar::Timestamp,
        user::User,
    },
};

/// A CI identity a project trusts: a job whose OIDC identity token comes
/// from `issuer`, names `audience` and has a matching `subject` may
/// exchange it for a 15-minute service token of `project` with `role`.
///
/// Built only through a reach check, carrying the caller who sees it.
pub struct TrustedPublisher {
    model: trusted_publisher::Model,
    viewer: Arc<Principal>,
}

impl TrustedPublisher {
    /// The publisher if `viewer` may see it (a project it reaches, and
    /// `tokens:read`).
    pub fn reached(
        viewer: &Arc<Principal>,
        model: trusted_publisher::Model,
    ) -> Result<TrustedPublisher, Error> {
        reach::trusted_publisher(viewer, model.organization_id, model.project_id)?;
        Ok(TrustedPublisher {
            model,
            viewer: Arc::clone(viewer),
        })
    }

    /// A publisher `viewer` has just created.
    pub fn written(
        viewer: &Arc<Principal>,
        model: trusted_publisher::Model,
    ) -> Result<TrustedPublisher, Error> {
        reach::written(
            viewer,
            model.organization_id,
            Some(model.project_id),
            "trusted publisher",
        )?;
        Ok(TrustedPublisher {
            model,
            viewer: Arc::clone(viewer),
        })
    }
}

#[Object]
impl TrustedPublisher {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }

    /// The OIDC issuer, compared exactly with a token's `iss` (e.g.
    /// `https://token.actions.githubusercontent.com`).
    async fn issuer(&self) -> &str {
        &self.model.issuer
    }

    /// What the CI job asks its token to be for; one of the token's `aud`.
    async fn audience(&self) -> &str {
        &self.model.audience
    }

    /// A token's `sub` exactly, or every `sub` starting with what precedes
    /// a trailing `*`, which follows a `:` after a repository (e.g.
    /// `repo:acme/shop-api:ref:refs/heads/main`, `repo:acme/shop-api:*`).
    async fn subject(&self) -> &str {
        &self.model.subject
    }

    /// The project exchanged tokens are restricted to (needs `projects:read`).
    async fn project(&self, ctx: &Context<'_>) -> Result<Option<Project>, Error> {
        self.viewer.require(Permission::ProjectsRead)?;
        let key = ProjectId {
            organization_id: self.model.organization_id,
            id: self.model.project_id,
        };
        let model = loader::load_one(ctx, key)
            .await?
            .ok_or_else(|| Error::internal("a trusted publisher's project is missing"))?;
        Project::reached(&self.viewer, model).map(Some)
    }

    /// The role exchanged tokens carry.
    async fn role(&self, ctx: &Context<'_>) -> Result<Role, Error> {
        let key = RoleId {
            organization_id: self.model.organization_id,
            id: self.model.role_id,
        };
        loader::load_one(ctx, key)
            .await?
            .map(Role)
            .ok_or_else(|| Error::internal("a trusted publisher's role is missing"))
    }

    async fn created_at(&self) -> Timestamp {
        self.model.created_at.into()
    }

    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<User>, Error> {
        User::load(ctx, self.model.created_by_user_id).await
    }
}

/// `Project.trustedPublishers` (needs `tokens:read`): the project's
/// publishers, oldest first (the order an exchange tries them in).
pub async fn trusted_publishers_of(
    ctx: &Context<'_>,
    viewer: &Arc<Principal>,
    project: &crate::entity::project::Model,
) -> Result<Vec<TrustedPublisher>, Error> {
    viewer.require(Permission::TokensRead)?;
    let key = PublishersOf(ProjectId {
        organization_id: project.organization_id,
        id: project.id,
    });
    let publishers = loader::load_one(ctx, key).await?.unwrap_or_default();
    crate::graphql::limits::count_resolved(ctx, publishers.len())?;
    Ok(publishers
        .into_iter()
        .filter_map(|p| TrustedPublisher::reached(viewer, p).ok())
        .collect())
}
