//! The `TrustedPublisher` output type: a CI identity a project trusts
//! (docs/DESIGN.md §8.3), and the list of a project's publishers.

use std::sync::Arc;

use async_graphql::{Context, ID, Object, SimpleObject};

use super::Project;
use crate::{
    auth::oidc::conditions::{self as claim_rules, Test},
    auth::{Permission, Principal, reach},
    entity::trusted_publisher,
    error::Error,
    graphql::{
        schema::loader::{self, ProjectId, PublishersOf, RoleId},
        schema::role::Role,
        schema::scalar::Timestamp,
        schema::user::User,
    },
};

/// A condition a token's claim must meet: exactly one of `equals`,
/// `prefix` and `oneOf` is set. A token without the claim fails it.
#[derive(SimpleObject)]
pub struct ClaimCondition {
    pub claim: String,
    pub equals: Option<String>,
    pub prefix: Option<String>,
    pub one_of: Option<Vec<String>>,
}

impl From<claim_rules::ClaimCondition> for ClaimCondition {
    fn from(condition: claim_rules::ClaimCondition) -> Self {
        let mut out = ClaimCondition {
            claim: condition.claim,
            equals: None,
            prefix: None,
            one_of: None,
        };
        match condition.test {
            Test::Equals(value) => out.equals = Some(value),
            Test::Prefix(value) => out.prefix = Some(value),
            Test::OneOf(values) => out.one_of = Some(values),
        }
        out
    }
}

/// A claim and its value: an immutable id a publisher pinned.
#[derive(SimpleObject)]
pub struct ClaimValue {
    pub claim: String,
    pub value: String,
}

/// A CI identity a project trusts: a job whose OIDC identity token comes
/// from `issuer`, names `audience`, has a matching `subject`, meets every
/// condition and carries the pinned ids may exchange it for a service
/// token of `project` with `role`, living `tokenLifetimeSeconds`.
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

    /// What the token's other claims must be; every one must hold.
    #[graphql(
        complexity = "crate::graphql::schema::limits::list_complexity(crate::auth::oidc::conditions::MAX_CONDITIONS, child_complexity)"
    )]
    async fn conditions(&self) -> Vec<ClaimCondition> {
        claim_rules::conditions_from_storage(&self.model.conditions)
            .into_iter()
            .map(ClaimCondition::from)
            .collect()
    }

    /// Whether the first exchange pins the immutable ids the token
    /// carries (`repository_id`, `repository_owner_id`, `project_id`,
    /// `namespace_id`).
    async fn pin_ids(&self) -> bool {
        self.model.pin_ids
    }

    /// The ids pinned by the first exchange; a later token must carry
    /// the same values. Empty before the first exchange.
    #[graphql(
        complexity = "crate::graphql::schema::limits::list_complexity(crate::auth::oidc::conditions::PINNABLE_CLAIMS.len(), child_complexity)"
    )]
    async fn pinned_claims(&self) -> Vec<ClaimValue> {
        claim_rules::pins_from_storage(self.model.pinned_claims.as_deref())
            .unwrap_or_default()
            .into_iter()
            .map(|pin| ClaimValue {
                claim: pin.claim,
                value: pin.value,
            })
            .collect()
    }

    /// How long an exchanged token lives, in seconds (60 to 21600).
    async fn token_lifetime_seconds(&self) -> i32 {
        self.model.token_lifetime_seconds
    }

    /// When it last exchanged a token.
    async fn last_exchanged_at(&self) -> Option<Timestamp> {
        self.model.last_exchanged_at.map(Into::into)
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
    crate::graphql::schema::limits::count_resolved(ctx, publishers.len())?;
    Ok(publishers
        .into_iter()
        .filter_map(|p| TrustedPublisher::reached(viewer, p).ok())
        .collect())
}
