//! `Organization.tokenPolicy`, `updateTokenPolicy` and `revokeTokens`
//! (docs/DESIGN.md §9, "Token policy" and "Revocation for everyone").

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};

use super::{
    context::ContextExt,
    limits::{count_resolved, list_complexity},
    role::parse_id,
    scalar::Timestamp,
    token::{Token, TokenKind},
};
use crate::{
    auth::Permission,
    error::Error,
    service::{
        token_bulk::{self, MAX_BULK_TOKENS},
        token_filter::TokenFilter,
        token_policy::{self, PolicyChanges},
    },
};

/// An organization's rules for its tokens. Lifetimes bind tokens created
/// afterwards; tokens that exist keep their expiry.
#[derive(SimpleObject)]
pub struct TokenPolicy {
    /// The longest a personal token may live, in days (1–3650).
    pub max_token_lifetime_days: i32,
    /// The longest a service token may live, in days (1–3650); null: no
    /// limit. When set, a service token must have an `expiresAt`.
    pub max_service_token_lifetime_days: Option<i32>,
    /// Whether a new service token must have an `expiresAt`.
    pub require_service_token_expiry: bool,
    /// A personal or service token unused this many days (8–3650; never
    /// used: since it was created) is revoked, 7 days after a
    /// `token.inactive` event; null: never.
    pub revoke_unused_after_days: Option<i32>,
}

impl From<token_policy::TokenPolicy> for TokenPolicy {
    fn from(policy: token_policy::TokenPolicy) -> Self {
        TokenPolicy {
            max_token_lifetime_days: policy.max_token_lifetime_days,
            max_service_token_lifetime_days: policy.max_service_token_lifetime_days,
            require_service_token_expiry: policy.require_service_token_expiry,
            revoke_unused_after_days: policy.revoke_unused_after_days,
        }
    }
}

/// `updateTokenPolicy`'s input: an omitted field stays as it is; `null`
/// lifts a limit.
#[derive(InputObject)]
pub struct TokenPolicyInput {
    pub max_token_lifetime_days: Option<i32>,
    pub max_service_token_lifetime_days: MaybeUndefined<i32>,
    pub require_service_token_expiry: Option<bool>,
    pub revoke_unused_after_days: MaybeUndefined<i32>,
}

/// A nullable field of the input: omitted, `None`; `null`, `Some(None)`.
fn change<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(value) => Some(Some(value)),
    }
}

/// What `updateTokenPolicy` did, or as a dry run would do.
#[derive(SimpleObject)]
pub struct TokenPolicyChange {
    pub policy: TokenPolicy,
    /// The tokens it revoked at once (already unused longer than a new or
    /// lowered `revokeUnusedAfterDays`), oldest first.
    #[graphql(complexity = "list_complexity(MAX_BULK_TOKENS, child_complexity)")]
    pub revoked_tokens: Vec<Token>,
}

/// Which tokens `revokeTokens` chooses: every criterion given must hold,
/// and at least one must be given. Only personal and service tokens that
/// still work are chosen.
#[derive(InputObject)]
pub struct TokenFilterInput {
    /// `PERSONAL` or `SERVICE`.
    pub kind: Option<TokenKind>,
    /// A personal token's owner (a user id).
    pub owner_id: Option<ID>,
    /// Tokens restricted to this project (among others).
    pub project_id: Option<ID>,
    pub created_before: Option<Timestamp>,
    /// Last used before this moment (a token never used is not chosen).
    pub last_used_before: Option<Timestamp>,
    /// `true`: never used; `false`: used at least once.
    pub never_used: Option<bool>,
    /// The name contains this text, in any case.
    pub name_contains: Option<String>,
}

impl TokenFilterInput {
    fn parse(self) -> Result<TokenFilter, Error> {
        Ok(TokenFilter {
            kind: self.kind.map(Into::into),
            owner_id: self.owner_id.map(|id| parse_id(&id, "user")).transpose()?,
            project_id: self
                .project_id
                .map(|id| parse_id(&id, "project"))
                .transpose()?,
            created_before: self.created_before.map(|at| at.0),
            last_used_before: self.last_used_before.map(|at| at.0),
            never_used: self.never_used,
            name_contains: self.name_contains,
        })
    }
}

/// What `revokeTokens` revoked, or as a dry run would revoke.
#[derive(SimpleObject)]
pub struct RevokeTokensPayload {
    pub count: i32,
    /// Oldest first.
    #[graphql(complexity = "list_complexity(MAX_BULK_TOKENS, child_complexity)")]
    pub tokens: Vec<Token>,
}

/// Wraps tokens the caller acted on, counted against the request's
/// object budget.
fn written(ctx: &Context<'_>, rows: Vec<crate::entity::token::Model>) -> Result<Vec<Token>, Error> {
    count_resolved(ctx, rows.len())?;
    let viewer = ctx.viewer()?;
    rows.into_iter()
        .map(|row| Token::written(&viewer, row))
        .collect()
}

/// `updateTokenPolicy`, `revokeTokens`.
#[derive(Default)]
pub struct TokenPolicyMutation;

#[Object]
impl TokenPolicyMutation {
    /// Sets the organization's token policy (`organization:write`).
    /// Lifetimes bind tokens created afterwards. Setting or lowering
    /// `revokeUnusedAfterDays` revokes at once every token already unused
    /// that long; `dryRun: true` changes nothing and answers exactly what
    /// the change would revoke now.
    async fn update_token_policy(
        &self,
        ctx: &Context<'_>,
        input: TokenPolicyInput,
        #[graphql(default = false)] dry_run: bool,
    ) -> Result<TokenPolicyChange, Error> {
        let caller = ctx.authorized(Permission::OrganizationWrite)?;
        let changes = PolicyChanges {
            max_token_lifetime_days: input.max_token_lifetime_days,
            max_service_token_lifetime_days: change(input.max_service_token_lifetime_days),
            require_service_token_expiry: input.require_service_token_expiry,
            revoke_unused_after_days: change(input.revoke_unused_after_days),
        };
        let change = token_policy::update(ctx.db()?, &caller, changes, dry_run).await?;
        Ok(TokenPolicyChange {
            policy: change.policy.into(),
            revoked_tokens: written(ctx, change.revoked)?,
        })
    }

    /// Revokes every token of the organization the filter chooses
    /// (`tokens:write`), in one transaction, at most 500 at once. A token
    /// you could not revoke alone with `revokeToken` is neither revoked
    /// nor counted. By default a dry run: pass `dryRun: false` to revoke.
    async fn revoke_tokens(
        &self,
        ctx: &Context<'_>,
        filter: TokenFilterInput,
        #[graphql(default = true)] dry_run: bool,
    ) -> Result<RevokeTokensPayload, Error> {
        let caller = ctx.authorized(Permission::TokensWrite)?;
        let filter = filter.parse()?;
        let rows = token_bulk::revoke_matching(ctx.db()?, &caller, &filter, dry_run).await?;
        debug_assert!(rows.len() <= MAX_BULK_TOKENS);
        Ok(RevokeTokensPayload {
            count: i32::try_from(rows.len()).map_err(Error::internal)?,
            tokens: written(ctx, rows)?,
        })
    }
}

/// `Organization.tokenPolicy`: the policy of the organization the caller
/// acts in.
pub async fn policy_of(
    ctx: &Context<'_>,
    organization_id: uuid::Uuid,
) -> Result<TokenPolicy, Error> {
    Ok(token_policy::of_organization(ctx.db()?, organization_id)
        .await?
        .into())
}
