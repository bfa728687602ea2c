//! A trusted publisher: a CI identity that may exchange its OIDC identity
//! token for a short-lived service token of one project (docs/DESIGN.md §8.3).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trusted_publisher")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The project's organization (denormalized for scoped lookups).
    pub organization_id: Uuid,
    pub project_id: Uuid,
    /// Compared exactly with a token's `iss`.
    pub issuer: String,
    /// Must be one of a token's `aud`.
    pub audience: String,
    /// A token's `sub` exactly, or its prefix when this ends with `*`
    /// (see `auth::oidc::wildcard_prefix`).
    pub subject: String,
    /// The role exchanged tokens carry.
    pub role_id: Uuid,
    pub created_by_user_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    /// JSON `[{"claim", "equals" | "prefix" | "oneOf"}]`, every one of
    /// which a token must satisfy (see `auth::oidc::conditions`).
    pub conditions: String,
    /// How long an exchanged token lives, 60 to 21600.
    pub token_lifetime_seconds: i32,
    /// Whether the first exchange pins the token's immutable ids.
    pub pin_ids: bool,
    /// JSON `[{"claim", "value"}]`: the ids pinned by the first exchange
    /// of a token carrying any; null before.
    pub pinned_claims: Option<String>,
    /// When it last exchanged a token (written by the exchange only).
    pub last_exchanged_at: Option<DateTimeUtc>,
    /// Exchanged tokens work only from the address that exchanged them.
    pub bind_to_runner_address: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
