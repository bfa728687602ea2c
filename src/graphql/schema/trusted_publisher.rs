//! Trusted publishing (docs/DESIGN.md §8.3, §9): the mutations that
//! register, change and remove one, `exchangeOidcToken`, the public
//! mutation a CI job trades its OIDC identity token with, and
//! `explainOidcExchange`, which tells an admin why a token would fail.

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::Utc;

use super::{
    context::ContextExt, project::publisher::TrustedPublisher, role::parse_id,
    token_mutation::CreatedToken,
};
use crate::{
    auth::oidc::conditions::ConditionInput,
    auth::{
        Permission,
        credential::{PresentedCredential, RequestedOrganization},
    },
    error::Error,
    service::{
        audit::Actor,
        trusted_publisher::{self as publisher_service, NewPublisher, PublisherChanges},
    },
};

/// A condition on one claim of the token: exactly one of `equals`,
/// `prefix` and `oneOf`. A token without the claim fails it.
#[derive(InputObject)]
pub struct ClaimConditionInput {
    /// The claim's name, e.g. `job_workflow_ref`, `environment`, `ref`.
    pub claim: String,
    pub equals: Option<String>,
    pub prefix: Option<String>,
    /// 1 to 50 accepted values.
    pub one_of: Option<Vec<String>>,
}

fn condition_inputs(inputs: Option<Vec<ClaimConditionInput>>) -> Option<Vec<ConditionInput>> {
    inputs.map(|inputs| {
        inputs
            .into_iter()
            .map(|c| ConditionInput {
                claim: c.claim,
                equals: c.equals,
                prefix: c.prefix,
                one_of: c.one_of,
            })
            .collect()
    })
}

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
    /// Every one must hold (at most 10).
    pub conditions: Option<Vec<ClaimConditionInput>>,
    /// How long an exchanged token lives: 60 to 21600 seconds, 900 when
    /// not given.
    pub token_lifetime_seconds: Option<i32>,
    /// Pin the immutable ids (`repository_id`, `repository_owner_id`,
    /// `project_id`, `namespace_id`) of the first token exchanged, so a
    /// renamed or re-created repository cannot inherit the publisher.
    /// Default `true`.
    pub pin_ids: Option<bool>,
}

/// `updateTrustedPublisher`'s input; omitted fields stay as they are.
/// A new `issuer` or `subject`, `pinIds: false` or `clearPins: true`
/// clears the pinned ids (the next exchange pins afresh).
#[derive(InputObject)]
pub struct UpdateTrustedPublisherInput {
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub subject: Option<String>,
    pub role_id: Option<ID>,
    /// Replaces every condition; `[]` removes them.
    pub conditions: Option<Vec<ClaimConditionInput>>,
    pub token_lifetime_seconds: Option<i32>,
    pub pin_ids: Option<bool>,
    /// Forget the pinned ids, e.g. after the repository moved for good.
    pub clear_pins: Option<bool>,
}

/// How a token fares against one publisher (`explainOidcExchange`).
#[derive(SimpleObject)]
pub struct PublisherMatch {
    pub publisher: TrustedPublisher,
    /// Whether the token would be exchanged with it (bar a replayed `jti`).
    pub matched: bool,
    /// Each failed check: `audience`, `subject`, `expired`,
    /// `condition <claim>`, `pinned <claim>`, …
    pub reasons: Vec<String>,
}

/// `explainOidcExchange`.
#[derive(Default)]
pub struct TrustedPublisherQuery;

#[Object]
impl TrustedPublisherQuery {
    /// Why an OIDC identity token would or would not be exchanged (needs
    /// `tokens:write`): after its signature is checked with its issuer's
    /// keys, every publisher of your organization with the token's issuer
    /// and the checks the token fails against it. Creates nothing and
    /// spends nothing; `exchangeOidcToken` itself keeps its bare `401`.
    /// Nullable as every field a caller may be refused (docs/DESIGN.md §4.1).
    #[graphql(
        complexity = "crate::graphql::schema::limits::list_complexity(crate::service::trusted_publisher::MAX_EXPLAINED_PUBLISHERS, child_complexity)"
    )]
    async fn explain_oidc_exchange(
        &self,
        ctx: &Context<'_>,
        token: String,
    ) -> Result<Option<Vec<PublisherMatch>>, Error> {
        let caller = ctx.authorized(Permission::TokensWrite)?;
        let viewer = ctx.viewer()?;
        let matches = publisher_service::explain(ctx.app()?, &caller, &token).await?;
        matches
            .into_iter()
            .map(|m| {
                Ok(PublisherMatch {
                    matched: m.reasons.is_empty(),
                    reasons: m.reasons,
                    publisher: TrustedPublisher::reached(&viewer, m.publisher)?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()
            .map(Some)
    }
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
            conditions: condition_inputs(input.conditions).unwrap_or_default(),
            token_lifetime_seconds: input.token_lifetime_seconds,
            pin_ids: input.pin_ids,
            bind_to_runner_address: input.bind_to_runner_address.unwrap_or(false),
        };
        let model = publisher_service::create(ctx.app()?, &caller, new).await?;
        TrustedPublisher::written(&ctx.viewer()?, model)
    }

    /// Changes a trusted publisher (needs `tokens:write` and every
    /// permission of its role and of a new one). A new issuer or subject,
    /// `pinIds: false` or `clearPins: true` clears its pinned ids.
    async fn update_trusted_publisher(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateTrustedPublisherInput,
    ) -> Result<TrustedPublisher, Error> {
        let caller = ctx.authorized(Permission::TokensWrite)?;
        let publisher_id = parse_id(&id, "trusted publisher")?;
        let changes = PublisherChanges {
            issuer: input.issuer,
            audience: input.audience,
            subject: input.subject,
            role_id: input
                .role_id
                .as_ref()
                .map(|id| parse_id(id, "role"))
                .transpose()?,
            conditions: condition_inputs(input.conditions),
            token_lifetime_seconds: input.token_lifetime_seconds,
            pin_ids: input.pin_ids,
            clear_pins: input.clear_pins.unwrap_or(false),
        };
        let model = publisher_service::update(ctx.app()?, &caller, publisher_id, changes).await?;
        TrustedPublisher::written(&ctx.viewer()?, model)
    }

    /// Stops trusting a CI identity (needs `tokens:write`). Tokens it
    /// already exchanged expire on their own, within its token lifetime.
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
    /// and subject of one of that project's trusted publishers, meet its
    /// conditions and carry the ids it pinned (the first exchange pins
    /// them). The answer is restricted to the project, carries the
    /// publisher's role and expires after its `tokenLifetimeSeconds`. Any
    /// failure, an unknown project included, is the same `401`.
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
