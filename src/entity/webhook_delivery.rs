//! One event for one webhook: the outbox row the sender claims, sends and
//! retries until it is delivered or has failed for good.

use sea_orm::entity::prelude::*;

/// Where a delivery stands, stored in `webhook_delivery.status`. The
/// sender's claim and the retention sweep name the stored strings in SQL
/// of their own; unit tests there keep them naming [`Self::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum DeliveryStatus {
    /// Queued, or waiting for its next attempt.
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// The receiver acknowledged it with a 2xx.
    #[sea_orm(string_value = "DELIVERED")]
    Delivered,
    /// Every attempt failed; it is not sent again unless redelivered.
    #[sea_orm(string_value = "FAILED")]
    Failed,
}

impl DeliveryStatus {
    /// The stored value, without allocating.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "PENDING",
            DeliveryStatus::Delivered => "DELIVERED",
            DeliveryStatus::Failed => "FAILED",
        }
    }
}

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
    pub status: DeliveryStatus,
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

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveEnum, Iterable};

    use super::*;

    #[test]
    fn stored_values_match_sea_orms() {
        for status in DeliveryStatus::iter() {
            assert_eq!(status.to_value(), status.as_str());
            assert_eq!(
                DeliveryStatus::try_from_value(&status.as_str().to_owned()).ok(),
                Some(status)
            );
        }
    }
}
