//! Creating, revoking and rotating tokens.

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use uuid::Uuid;

use super::{
    context::ContextExt,
    role::parse_id,
    scalar::Timestamp,
    token::{AddressEnforcement, Token},
};
use crate::{
    auth::{Permission, Principal},
    error::Error,
    service::{
        token_attenuate::{self, Attenuation},
        token_create::{self, NewPersonalToken, NewServiceToken},
        token_restrict::{self, AddressRestriction, Narrowing},
        token_retire::{self, Rotation},
    },
};

/// A token just created: the only time its secret is shown.
#[derive(SimpleObject)]
pub struct CreatedToken {
    pub token: Token,
    /// The plaintext token. Store it now; lynk keeps only a digest.
    pub secret: String,
}

impl CreatedToken {
    /// Wraps a token just created, seen by `viewer`: the caller that
    /// created it, or for a public exchange the new credential itself.
    pub fn new(
        created: token_create::CreatedToken,
        viewer: &Arc<Principal>,
    ) -> Result<CreatedToken, Error> {
        Ok(CreatedToken {
            token: Token::written(viewer, created.token)?,
            secret: created.secret.expose().to_owned(),
        })
    }
}

/// `createPersonalToken`'s input.
#[derive(InputObject)]
pub struct CreatePersonalTokenInput {
    pub name: String,
    /// Required; at most the organization's `maxTokenLifetimeDays` ahead.
    pub expires_at: Timestamp,
    /// Narrow the token to these permissions (a subset of yours); omit for your whole role.
    pub scopes: Option<Vec<String>>,
    /// Restrict the token to these projects of the organization: for it,
    /// other projects do not exist. Omit for every project.
    pub project_ids: Option<Vec<ID>>,
    /// Bind the token to these networks (IPv4 or IPv6 CIDRs, or single
    /// addresses; at most 20): from anywhere else it is refused. Omit for
    /// anywhere.
    pub allowed_cidrs: Option<Vec<String>>,
}

/// `createServiceToken`'s input.
#[derive(InputObject)]
pub struct CreateServiceTokenInput {
    pub name: String,
    /// The role the token carries; its permissions must be a subset of yours.
    pub role_id: ID,
    /// Optional; none = until revoked.
    pub expires_at: Option<Timestamp>,
    /// Restrict the token to these projects of the organization (within
    /// yours, if you are restricted); omit for every project.
    pub project_ids: Option<Vec<ID>>,
    /// Bind the token to these networks (IPv4 or IPv6 CIDRs, or single
    /// addresses; at most 20): from anywhere else it is refused. Omit for
    /// anywhere.
    pub allowed_cidrs: Option<Vec<String>>,
}

/// `attenuateToken`'s input: what the child may do, within the
/// credential in use.
#[derive(InputObject)]
pub struct AttenuateTokenInput {
    pub name: String,
    /// The child's permissions, a subset of yours and never `tokens:write`;
    /// omit for all of yours but `tokens:write`.
    pub scopes: Option<Vec<String>>,
    /// Restrict the child to these projects, among yours; omit for yours.
    pub project_ids: Option<Vec<ID>>,
    /// How long the child lives, in seconds: at least 1, and it expires
    /// no later than the credential in use.
    pub expires_in_seconds: i32,
    /// The client networks (IPv4/IPv6 CIDR, at most 20) the child may be
    /// used from; omit for any address.
    pub allowed_cidrs: Option<Vec<String>>,
}

/// Parses `projectIds`; a malformed id cannot exist, so it is `NOT_FOUND`.
fn parse_project_ids(ids: Option<Vec<ID>>) -> Result<Option<Vec<Uuid>>, Error> {
    ids.map(|ids| ids.iter().map(|id| parse_id(id, "project")).collect())
        .transpose()
}

/// Token mutations.
#[derive(Default)]
pub struct TokenMutation;

#[Object]
impl TokenMutation {
    /// Creates a personal token for the signed-in user. Needs a session:
    /// a token cannot mint more tokens.
    async fn create_personal_token(
        &self,
        ctx: &Context<'_>,
        input: CreatePersonalTokenInput,
    ) -> Result<CreatedToken, Error> {
        let caller = ctx.caller()?;
        let new = NewPersonalToken {
            name: input.name,
            expires_at: input.expires_at.0,
            scopes: input.scopes,
            project_ids: parse_project_ids(input.project_ids)?,
            allowed_cidrs: input.allowed_cidrs,
        };
        let created = token_create::create_personal(ctx.db()?, &caller, new).await?;
        CreatedToken::new(created, &ctx.viewer()?)
    }

    /// Creates a service token owned by the organization, with an explicit role.
    async fn create_service_token(
        &self,
        ctx: &Context<'_>,
        input: CreateServiceTokenInput,
    ) -> Result<CreatedToken, Error> {
        let caller = ctx.authorized(Permission::TokensWrite)?;
        let new = NewServiceToken {
            name: input.name,
            role_id: parse_id(&input.role_id, "role")?,
            expires_at: input.expires_at.map(|at| at.0),
            project_ids: parse_project_ids(input.project_ids)?,
            allowed_cidrs: input.allowed_cidrs,
        };
        let created = token_create::create_service(ctx.db()?, &caller, new).await?;
        CreatedToken::new(created, &ctx.viewer()?)
    }

    /// Mints a child of the credential in use (a session, personal,
    /// service or exchanged token): same kind and prefix, at most your
    /// permissions (never `tokens:write`) and projects, expiring no later
    /// than yours. On every request it acts with your credential's current
    /// permissions ∩ its scopes and your current projects ∩ its own, and
    /// it stops when yours does (revoked, expired, past a rotation's grace,
    /// or its owner gone). A child cannot attenuate, and manages no token.
    async fn attenuate_token(
        &self,
        ctx: &Context<'_>,
        input: AttenuateTokenInput,
    ) -> Result<CreatedToken, Error> {
        let caller = ctx.caller()?;
        let attenuation = Attenuation {
            name: input.name,
            scopes: input.scopes,
            project_ids: parse_project_ids(input.project_ids)?,
            expires_in_seconds: input.expires_in_seconds,
            allowed_cidrs: input.allowed_cidrs,
        };
        let created = token_attenuate::attenuate(ctx.db()?, &caller, attenuation).await?;
        CreatedToken::new(created, &ctx.viewer()?)
    }

    /// Revokes a token at once: the one in use; with a session, your own
    /// tokens and sessions; any of the organization's with `tokens:write`.
    /// A token in the grace period of a rotation dies at once too.
    /// Revoking a revoked token changes nothing.
    async fn revoke_token(&self, ctx: &Context<'_>, id: ID) -> Result<Token, Error> {
        let caller = ctx.caller()?;
        let token_id = parse_id(&id, "token")?;
        let model = token_retire::revoke(ctx.db()?, &caller, token_id).await?;
        Token::written(&ctx.viewer()?, model)
    }

    /// Replaces an active token's secret. The old one dies in the same
    /// transaction, or keeps working for `gracePeriodSeconds` (at most 7
    /// days) so that a deployment can switch without an outage; its
    /// `revokedAt` then says when it stops, and revoking it ends the grace
    /// at once. Name, role, scopes, projects and expiry carry over, unless
    /// a session sets a new `expiresAt` (within the organization's policy).
    /// Rotation is creation: a personal token is rotated only
    /// by its owner, a service token only by a caller holding every
    /// permission it carries, and the rotator becomes `createdBy`.
    async fn rotate_token(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expires_at: Option<Timestamp>,
        grace_period_seconds: Option<i32>,
    ) -> Result<CreatedToken, Error> {
        let caller = ctx.caller()?;
        let rotation = Rotation {
            token_id: parse_id(&id, "token")?,
            expires_at: expires_at.map(|at| at.0),
            grace_period_seconds,
        };
        let created = token_retire::rotate(ctx.db()?, &caller, rotation).await?;
        CreatedToken::new(created, &ctx.viewer()?)
    }

    /// Narrows a token, keeping its secret: `scopes` within its effective
    /// permissions, `projectIds` among its current projects (omit either
    /// to keep it). Never wider. Allowed to whoever may revoke the token;
    /// audited `token.narrowed`. The next request with it has only what
    /// is left.
    async fn narrow_token(
        &self,
        ctx: &Context<'_>,
        id: ID,
        scopes: Option<Vec<String>>,
        project_ids: Option<Vec<ID>>,
    ) -> Result<Token, Error> {
        let caller = ctx.caller()?;
        let narrowing = Narrowing {
            token_id: parse_id(&id, "token")?,
            scopes,
            project_ids: parse_project_ids(project_ids)?,
        };
        let model = token_restrict::narrow(ctx.db()?, &caller, narrowing).await?;
        Token::written(&ctx.viewer()?, model)
    }

    /// Binds a token to networks (IPv4 or IPv6 CIDRs, or single addresses;
    /// at most 20); an empty list lifts the binding. `ENFORCE` refuses a
    /// use from elsewhere with the usual 401, `REPORT_ONLY` lets it through;
    /// either records it in `rejectedUses`. The client address is the one
    /// `--trusted-proxy-hops` defines. Allowed to whoever may rotate the
    /// token.
    async fn restrict_token_addresses(
        &self,
        ctx: &Context<'_>,
        id: ID,
        allowed_cidrs: Vec<String>,
        #[graphql(default_with = "Some(AddressEnforcement::Enforce)")] mode: Option<
            AddressEnforcement,
        >,
    ) -> Result<Token, Error> {
        let caller = ctx.caller()?;
        let restriction = AddressRestriction {
            token_id: parse_id(&id, "token")?,
            allowed_cidrs,
            enforcement: mode.unwrap_or(AddressEnforcement::Enforce).into(),
        };
        let model = token_restrict::restrict_addresses(ctx.db()?, &caller, restriction).await?;
        Token::written(&ctx.viewer()?, model)
    }
}
