//! Retention (docs/DESIGN.md §4.6): what lynk keeps only for a while. Finished
//! webhook deliveries (their attempts go with them, by the foreign key's
//! cascade) and audit rows without an organization (failed logins of
//! unknown emails, for instance) are deleted once they are older than
//! [`RETENTION`]. An organization's audit log and deliveries still
//! pending are kept.
//!
//! Every instance prunes a minute after start, then every [`PRUNE_INTERVAL`]. Rows
//! go in batches, each its own short statement, so that a large backlog
//! never holds a long lock; two instances pruning at once only share the
//! work (PostgreSQL's `SKIP LOCKED` passes over the rows the other is
//! deleting).

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};
use tokio::time::MissedTickBehavior;

use crate::{
    entity::webhook_delivery::DeliveryStatus,
    error::Error,
    service::token_inactivity::{self, Swept},
};

/// How long finished deliveries and audit rows without an organization
/// are kept.
pub const RETENTION: Duration = Duration::days(30);

/// How often every instance prunes.
pub const PRUNE_INTERVAL: StdDuration = StdDuration::from_secs(3600);

/// Rows deleted per statement.
pub const BATCH: u64 = 1000;

/// What one pruning deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Finished webhook deliveries, each with its attempts.
    pub deliveries: u64,
    /// Audit rows without an organization.
    pub audit_events: u64,
}

/// The oldest moment kept at `now`.
pub fn cutoff(now: DateTime<Utc>) -> DateTime<Utc> {
    now.checked_sub_signed(RETENTION)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `$1`: the cutoff; `$2`: the batch size; `{lock}`: PostgreSQL's skip.
const DELIVERIES: &str = "\
DELETE FROM webhook_delivery WHERE id IN (
    SELECT id FROM webhook_delivery
    WHERE status <> '{pending}' AND created_at < $1
    LIMIT $2{lock})";

const AUDIT_EVENTS: &str = "\
DELETE FROM audit_event WHERE id IN (
    SELECT id FROM audit_event
    WHERE organization_id IS NULL AND created_at < $1
    LIMIT $2{lock})";

/// One batch's statement of `sql` for `backend`.
fn batch(
    backend: DbBackend,
    sql: &str,
    cutoff: DateTime<Utc>,
    size: u64,
) -> Result<Statement, Error> {
    let lock = match backend {
        DbBackend::Postgres => "\n    FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    let size = i64::try_from(size).map_err(Error::internal)?;
    Ok(Statement::from_sql_and_values(
        backend,
        sql.replace("{pending}", DeliveryStatus::Pending.as_str())
            .replace("{lock}", lock),
        [Value::from(cutoff), Value::from(size)],
    ))
}

/// Deletes the rows of `sql` older than `cutoff`, `size` at a time, until
/// a batch comes back short; returns how many.
async fn delete_in_batches(
    db: &DatabaseConnection,
    sql: &str,
    cutoff: DateTime<Utc>,
    size: u64,
) -> Result<u64, Error> {
    let mut deleted = 0;
    loop {
        let statement = batch(db.get_database_backend(), sql, cutoff, size)?;
        let rows = db.execute_raw(statement).await?.rows_affected();
        deleted += rows;
        if rows < size {
            return Ok(deleted);
        }
    }
}

/// Deletes what is past retention at `now`, `batch_size` rows per
/// statement.
pub async fn prune(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    batch_size: u64,
) -> Result<Pruned, Error> {
    let cutoff = cutoff(now);
    let size = batch_size.max(1);
    Ok(Pruned {
        deliveries: delete_in_batches(db, DELIVERIES, cutoff, size).await?,
        audit_events: delete_in_batches(db, AUDIT_EVENTS, cutoff, size).await?,
    })
}

/// How long after start the first pruning runs: a starting instance
/// serves first, and its requests never share the pool with a backlog's
/// deletes.
const FIRST_PRUNE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Prunes, and sweeps tokens unused longer than their organization's
/// policy allows ([`token_inactivity`]), a minute after start and then
/// every [`PRUNE_INTERVAL`] until `stop` completes.
pub async fn run_until(db: DatabaseConnection, stop: impl Future<Output = ()>) {
    let first = tokio::time::Instant::now() + FIRST_PRUNE_AFTER;
    let mut every = tokio::time::interval_at(first, PRUNE_INTERVAL);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = every.tick() => {
                match prune(&db, Utc::now(), BATCH).await {
                    Ok(pruned) if pruned != Pruned::default() => {
                        tracing::info!(?pruned, "pruned rows past retention");
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = ?err, "pruning rows past retention failed"),
                }
                match token_inactivity::sweep(&db, Utc::now()).await {
                    Ok(swept) if swept != Swept::default() => {
                        tracing::info!(?swept, "swept tokens unused too long");
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = ?err, "sweeping unused tokens failed"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_days_are_kept() {
        let now = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
        assert_eq!(cutoff(now), now - Duration::days(30));
        assert_eq!(cutoff(DateTime::<Utc>::MIN_UTC), DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn only_finished_deliveries_and_unowned_audit_rows_go() {
        let now = Utc::now();
        let postgres = batch(DbBackend::Postgres, DELIVERIES, now, 10).unwrap();
        assert!(
            postgres
                .sql
                .contains("status <> 'PENDING' AND created_at < $1")
        );
        assert!(
            postgres
                .sql
                .ends_with("LIMIT $2\n    FOR UPDATE SKIP LOCKED)")
        );
        let sqlite = batch(DbBackend::Sqlite, AUDIT_EVENTS, now, 10).unwrap();
        assert!(
            sqlite
                .sql
                .contains("organization_id IS NULL AND created_at < $1")
        );
        assert!(sqlite.sql.ends_with("LIMIT $2)"));
        assert_eq!(
            sqlite.values.unwrap().0,
            [Value::from(now), Value::from(10i64)]
        );
    }
}
