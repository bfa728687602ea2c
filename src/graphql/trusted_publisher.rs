//! Trusted publishing (docs/DESIGN.md §8.3): the
//! mutations that register and remove one, and `exchangeOidcToken`, the
//! public mutation a CI job trades its OIDC identity token with.

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object};
use chrono::Utc;

use super::{
    context::ContextExt, project::publisher::TrustedPublisher, role::parse_id,
    token_mutation::CreatedToken,
};
use crate::{
    auth::{
        Permission,
        credential::{PresentedCredential, RequestedOrganization},
    },
    error::Error,
    service::{
        audit::Actor,
        trusted_publisher::{self as publisher_service, NewPublisher},
    },
};

/// `createTrustedPublisher`'s input.
#[derive(InputObject)]
pub struct CreateTrustedPublisherInput {
    /// The project exchanged tokens are restricted to.
    pub project_id: ID,
    /// The OIDC issuer: `https://token.actions.githubusercontent.com` for
    /// GitHub Actions, `https://gitlab.com` for GitLab.com. Compared
    /// exactly with the token's `iss`, so mind a trailing `/`.
    pub issuer: String,
    /// The audience the CI job requests its token for (e.g. `lynk`).
    pub audience: String,
    /// The token's `sub` exactly, or ending in `*` right after a `:`
    /// whose prefix names a repository (contains a `/`): for GitHub,
    /// `repo:OWNER/REPO:ref:refs/heads/main`,
    /// `repo:OWNER/REPO:environment:NAME` or `repo:OWNER/REPO:*`.
    pub subject: String,
    /// The role exchanged tokens carry; its permissions must be a subset
    /// of yours.
    pub role_id: ID,
    /// When true, a token it exchanges works only from the address that
    /// exchanged it (as `--trusted-proxy-hops` defines the address).
    pub bind_to_runner_address: Option<bool>,
}

/// `createTrustedPublisher`, `deleteTrustedPublisher`, `exchangeOidcToken`.
#[derive(Default)]
pub struct TrustedPublisherMutation;

#[Object]
impl TrustedPublisherMutation {
    /// Trusts a CI identity to publish to a project (needs `tokens:write`
    /// and every permission of the role); a project has at most 50.
    async fn create_trusted_publisher(
        &self,
        ctx: &Context<'_>,
        input: CreateTrustedPublisherInput,
    ) -> Result<TrustedPublisher, Error> {
        let caller = ctx.authorized(Permission::TokensWrite)?;
        let new = NewPublisher {
            project_id: parse_id(&input.project_id, "project")?,
            issuer: input.issuer,
            audience: input.audience,
            subject: input.subject,
            role_id: parse_id(&input.role_id, "role")?,
            bind_to_runner_address: input.bind_to_runner_address.unwrap_or(false),
        };
        let model = publisher_service::create(ctx.app()?, &caller, new).await?;
        TrustedPublisher::written(&ctx.viewer()?, model)
    }

    /// Stops trusting a CI identity (needs `tokens:write`). Tokens it
    /// already exchanged expire on their own, within 15 minutes.
    async fn delete_trusted_publisher(&self, ctx: &Context<'_>, id: ID) -> Result<ID, Error> {
        let caller = ctx.authorized(Permission::TokensWrite)?;
        let publisher_id = parse_id(&id, "trusted publisher")?;
        publisher_service::delete(ctx.db()?, &caller, publisher_id).await?;
        Ok(ID(publisher_id.to_string()))
    }

    /// Exchanges a CI job's OIDC identity token (GitHub Actions, GitLab CI)
    /// for a service token of the project `projectId`; public, no
    /// credential needed. The token must be signed by its issuer's
    /// published key (RS256 or ES256), current, valid for at most 6 hours,
    /// carry a `jti` not exchanged before, and match the issuer, audience
    /// and subject of one of that project's trusted publishers. The answer
    /// is restricted to the project, carries the publisher's role and
    /// expires in 15 minutes. Any failure, an unknown project included, is
    /// the same `401`.
    async fn exchange_oidc_token(
        &self,
        ctx: &Context<'_>,
        token: String,
        project_id: ID,
    ) -> Result<CreatedToken, Error> {
        let app = ctx.app()?;
        let request = ctx.request()?;
        let client = request.client_address().unwrap_or_default();
        // The CI job is the actor, whatever credential came along.
        let actor = Actor {
            ip: request.client_address(),
            ..Actor::default()
        };
        let exchanged =
            publisher_service::exchange(app, &token, &project_id, &client, &actor).await?;
        // The payload is seen by the credential just created, never by one
        // sent beside the request (docs/DESIGN.md §3.6).
        let viewer = app
            .verifier
            .authenticate(
                PresentedCredential::Candidate(exchanged.secret.expose()),
                RequestedOrganization::Default,
                Utc::now(),
            )
            .await?
            .map_err(|_| Error::internal("an exchanged token does not verify"))?;
        CreatedToken::new(exchanged, &Arc::new(viewer))
    }
}
