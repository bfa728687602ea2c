//! Claiming due deliveries: one statement that picks them and takes them,
//! so two senders never hold the same delivery. On PostgreSQL the take is
//! `FOR UPDATE SKIP LOCKED` (a second instance passes over the rows the
//! first is taking instead of waiting for them, and rechecks the claim's
//! conditions on rows changed under it); SQLite has one writer at a time,
//! so the same statement without it is already exclusive. A claim lasts
//! until `locked_until`: a sender killed mid-delivery loses nothing, its
//! deliveries are claimed again when their lease ends.
//!
//! The pick is fair, so that one organization's slow or silent receivers
//! cannot hold back another's deliveries:
//! - a webhook has at most [`MAX_IN_FLIGHT_PER_WEBHOOK`] deliveries leased
//!   at once, whichever instances hold them (leased, unexpired rows are
//!   counted in the statement);
//! - organizations take turns: each one's due deliveries are numbered
//!   (its webhooks' first ones, then their second ones…) after the ones it
//!   already has in flight, and the lowest numbers are claimed first, so an
//!   organization with nothing in flight goes before one that fills the
//!   sender;
//! - an organization has at most [`MAX_IN_FLIGHT_PER_ORGANIZATION`] leased
//!   at once, half of one sender's slots, so another's delivery never waits
//!   for a slot to free.
//!
//! Across instances the per-webhook cap holds because every instance picks
//! a webhook's due deliveries in the same order (`next_attempt_at`, `id`),
//! and a delivery that becomes due sorts after those already due: two
//! concurrent claims pick from the same front of the queue, and the rows
//! one takes are skipped or fail the recheck in the other.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value};
use uuid::Uuid;

use crate::{entity::webhook_delivery::DeliveryStatus, error::Error};

/// Deliveries of one webhook leased at once, across instances.
pub const MAX_IN_FLIGHT_PER_WEBHOOK: i64 = 2;

/// Deliveries of one organization leased at once, across instances: half
/// of one sender's slots.
pub const MAX_IN_FLIGHT_PER_ORGANIZATION: i64 = super::MAX_IN_FLIGHT as i64 / 2;

/// `$1`: the lease's end; `$2`: now; `$3`: how many at most; `$4`:
/// [`MAX_IN_FLIGHT_PER_WEBHOOK`]; `$5`: [`MAX_IN_FLIGHT_PER_ORGANIZATION`]
/// (an organization's turn number is its count in flight once claimed).
/// `attempts` counts this attempt, so it also names this claim. `{lock}`
/// is where PostgreSQL takes the rows; `{pending}` is
/// [`DeliveryStatus::Pending`]'s stored value.
const CLAIM: &str = "\
WITH leased AS (
    SELECT webhook_id, organization_id FROM webhook_delivery
    WHERE status = '{pending}' AND locked_until >= $2
),
leased_per_webhook AS (
    SELECT webhook_id, COUNT(*) AS leased FROM leased GROUP BY webhook_id
),
leased_per_organization AS (
    SELECT organization_id, COUNT(*) AS leased FROM leased GROUP BY organization_id
),
due AS (
    SELECT id, webhook_id, organization_id, next_attempt_at,
        ROW_NUMBER() OVER (PARTITION BY webhook_id ORDER BY next_attempt_at, id) AS place
    FROM webhook_delivery
    WHERE status = '{pending}' AND next_attempt_at <= $2
      AND (locked_until IS NULL OR locked_until < $2)
),
allowed AS (
    SELECT due.id, due.organization_id, due.next_attempt_at, due.place
    FROM due LEFT JOIN leased_per_webhook ON leased_per_webhook.webhook_id = due.webhook_id
    WHERE due.place + COALESCE(leased_per_webhook.leased, 0) <= $4
),
turns AS (
    SELECT allowed.id, allowed.next_attempt_at,
        ROW_NUMBER() OVER (
            PARTITION BY allowed.organization_id
            ORDER BY allowed.place, allowed.next_attempt_at, allowed.id)
        + COALESCE(leased_per_organization.leased, 0) AS turn
    FROM allowed LEFT JOIN leased_per_organization
        ON leased_per_organization.organization_id = allowed.organization_id
)
UPDATE webhook_delivery SET locked_until = $1, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM webhook_delivery
    WHERE id IN (
        SELECT id FROM turns WHERE turn <= $5 ORDER BY turn, next_attempt_at, id LIMIT $3)
      AND status = '{pending}' AND next_attempt_at <= $2
      AND (locked_until IS NULL OR locked_until < $2){lock})
RETURNING id, webhook_id, payload, attempts";

/// A delivery this sender holds until its lease ends.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct Claimed {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub payload: String,
    /// This attempt's number, 1-based.
    pub attempts: i32,
}

/// The claim statement for `backend`.
pub fn statement(
    backend: DbBackend,
    now: DateTime<Utc>,
    locked_until: DateTime<Utc>,
    limit: u32,
) -> Statement {
    // Window functions are not allowed beside `FOR UPDATE`, so the rows
    // are taken by a query of their own, over the ids picked.
    let lock = match backend {
        DbBackend::Postgres => "\n    FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    Statement::from_sql_and_values(
        backend,
        CLAIM
            .replace("{pending}", DeliveryStatus::Pending.as_str())
            .replace("{lock}", lock),
        [
            Value::from(locked_until),
            Value::from(now),
            Value::from(i64::from(limit)),
            Value::from(MAX_IN_FLIGHT_PER_WEBHOOK),
            Value::from(MAX_IN_FLIGHT_PER_ORGANIZATION),
        ],
    )
}

/// Claims at most `limit` due deliveries until `locked_until`.
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    locked_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Claimed>, Error> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let statement = statement(db.get_database_backend(), now, locked_until, limit);
    Ok(Claimed::find_by_statement(statement).all(db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_postgres_skips_locked_rows() {
        let now = Utc::now();
        let postgres = statement(DbBackend::Postgres, now, now, 4);
        assert!(postgres.sql.contains("FOR UPDATE SKIP LOCKED"));
        let sqlite = statement(DbBackend::Sqlite, now, now, 4);
        assert!(!sqlite.sql.contains("FOR UPDATE"));
        for sql in [&postgres.sql, &sqlite.sql] {
            assert!(sql.contains("attempts = attempts + 1"));
            assert!(sql.contains("locked_until IS NULL OR locked_until < $2"));
            assert!(sql.contains("PARTITION BY webhook_id"));
            assert!(sql.contains("PARTITION BY allowed.organization_id"));
            assert_eq!(sql.matches("status = 'PENDING'").count(), 3);
            assert!(!sql.contains('{'));
        }
        let values = postgres.values.unwrap().0;
        assert_eq!(values[3..], [Value::from(2i64), Value::from(8i64)]);
    }
}
