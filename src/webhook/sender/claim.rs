//! Claiming due deliveries: one statement that picks them and takes them,
//! so two senders never hold the same delivery. On PostgreSQL the pick is
//! `FOR UPDATE SKIP LOCKED` (a second instance passes over the rows the
//! first is taking instead of waiting for them, and rechecks the claim's
//! conditions on rows changed under it); SQLite has one writer at a time,
//! so the same statement without it is already exclusive. A claim lasts
//! until `locked_until`: a sender killed mid-delivery loses nothing, its
//! deliveries are claimed again when their lease ends.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value};
use uuid::Uuid;

use crate::error::Error;

/// `$1`: the lease's end; `$2`: now; `$3`: how many at most. Oldest due
/// first. `attempts` counts this attempt, so it also names this claim.
const POSTGRES: &str = "\
UPDATE webhook_delivery SET locked_until = $1, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM webhook_delivery
    WHERE status = 'PENDING' AND next_attempt_at <= $2
      AND (locked_until IS NULL OR locked_until < $2)
    ORDER BY next_attempt_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED)
RETURNING id, webhook_id, payload, attempts";

const SQLITE: &str = "\
UPDATE webhook_delivery SET locked_until = $1, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM webhook_delivery
    WHERE status = 'PENDING' AND next_attempt_at <= $2
      AND (locked_until IS NULL OR locked_until < $2)
    ORDER BY next_attempt_at
    LIMIT $3)
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
    let sql = match backend {
        DbBackend::Postgres => POSTGRES,
        _ => SQLITE,
    };
    Statement::from_sql_and_values(
        backend,
        sql,
        [
            Value::from(locked_until),
            Value::from(now),
            Value::from(i64::from(limit)),
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
        }
    }
}
