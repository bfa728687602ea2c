//! A stored credential: only its digest and display hint, never the secret.

use sea_orm::entity::prelude::*;

use super::credential_kind::CredentialKind;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: CredentialKind,
    /// A personal or service token's organization; for a session, the one
    /// it was pinned to at login (a request may select another).
    pub organization_id: Option<Uuid>,
    pub name: String,
    /// SHA-256 of the whole token. Never exposed.
    #[sea_orm(unique)]
    pub digest: Vec<u8>,
    pub hint: String,
    /// Space-separated permission names; `None` = the owner's whole role.
    #[sea_orm(column_type = "Text", nullable)]
    pub scopes: Option<String>,
    pub role_id: Option<Uuid>,
    pub owner_user_id: Option<Uuid>,
    pub created_by_user_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    /// When the token stops working: a revocation, or the end of a
    /// rotation's grace period (then in the future).
    pub revoked_at: Option<DateTimeUtc>,
    /// Whether `revoked_at` is a scheduled end (a rotation's grace, or a
    /// child's copy of its parent's) that a revocation may still bring
    /// forward, rather than a revocation.
    pub revocation_scheduled: bool,
    /// Space-separated project ids the token is restricted to; `None` =
    /// every project of its organization.
    #[sea_orm(column_type = "Text", nullable)]
    pub project_ids: Option<String>,
    /// Space-separated client addresses it was last used from, newest
    /// first, at most 5.
    #[sea_orm(column_type = "Text", nullable)]
    pub last_used_ips: Option<String>,
    /// For a rotation's successor, the token it replaced (whose grace
    /// period ends when this one is revoked).
    pub rotated_from_id: Option<Uuid>,
    /// For a child (`attenuateToken`), the token it was minted from: it
    /// acts with at most its parent's current power and dies with it.
    pub parent_id: Option<Uuid>,
    /// Space-separated CIDRs the token may be used from; `None` = anywhere.
    #[sea_orm(column_type = "Text", nullable)]
    pub allowed_cidrs: Option<String>,
    /// `enforce` or `report_only`, with `allowed_cidrs`.
    pub address_enforcement: Option<String>,
    /// Uses of the secret refused (revoked, expired, from elsewhere).
    pub rejected_count: i64,
    pub rejected_last_at: Option<DateTimeUtc>,
    /// Space-separated addresses of the latest refused uses, newest first.
    #[sea_orm(column_type = "Text", nullable)]
    pub rejected_last_ips: Option<String>,
    /// `revoked`, `expired` or `address_not_allowed`.
    pub rejected_last_reason: Option<String>,
    /// When `token.rejected` was last announced (at most once an hour).
    pub rejected_announced_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
