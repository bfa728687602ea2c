//! One event for one webhook: the outbox row the sender claims, sends and
//! retries until it is delivered or has failed for good.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_delivery")]
pub struct Model {
    /// Also the `webhook-id` header, the same on every attempt.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub organization_id: Uuid,
    /// The event name, e.g. `token.created`.
    pub event: String,
    /// The body exactly as signed and sent.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// `PENDING`, `DELIVERED` or `FAILED`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// A sender's claim ends here; a killed sender's delivery is sent again.
    pub locked_until: Option<DateTimeUtc>,
    pub response_status: Option<i32>,
    /// Why the last attempt failed when no HTTP answer came (a timeout, a
    /// refused address, a connection error); never a secret.
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
