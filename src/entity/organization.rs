//! An organization (tenant).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organization")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// The longest a personal token may live, in days.
    pub max_token_lifetime_days: i32,
    pub created_at: DateTimeUtc,
    /// The longest a service token may live, in days; `None` = no limit.
    pub max_service_token_lifetime_days: Option<i32>,
    /// Whether a new service token must have an `expiresAt`.
    pub require_service_token_expiry: bool,
    /// Tokens unused this many days are revoked; `None` = never.
    pub revoke_unused_after_days: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
