//! Connecting to the database and applying migrations, for SQLite and
//! PostgreSQL alike.

use std::time::Duration;

use clap::Args;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, RuntimeErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

/// The embedded default database.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://lynk.db?mode=rwc";

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://…` (embedded) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Largest number of pooled database connections.
    #[arg(long, env = "LYNK_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// How long a request waits for a pooled connection.
    #[arg(long, env = "LYNK_DB_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub db_acquire_timeout: Duration,
}

impl DatabaseArgs {
    /// Settings for a database URL, with the defaults otherwise.
    pub fn new(database_url: impl Into<String>) -> Self {
        DatabaseArgs {
            database_url: database_url.into(),
            db_max_connections: 16,
            db_acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// How much of a SQLite database file is memory-mapped (1 GiB, a few
/// million tokens); beyond it SQLite reads as usual.
pub(crate) const SQLITE_MMAP_BYTES: i64 = 1 << 30;

/// Opens a connection pool. SQLite gets WAL, `synchronous=FULL` (an
/// acknowledged write survives a crash), foreign keys, a busy timeout and
/// memory-mapped reads.
pub async fn connect(args: &DatabaseArgs) -> Result<DatabaseConnection, DbErr> {
    let pool_connections =
        args.db_max_connections - verification_connections(args.db_max_connections);
    let mut options = ConnectOptions::new(args.database_url.clone());
    options
        .max_connections(args.db_max_connections)
        .min_connections(1)
        .acquire_timeout(args.db_acquire_timeout)
        .connect_timeout(Duration::from_secs(10))
        // Statements are logged by our own spans; sqlx's log would add noise.
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                // Read pages straight from the OS page cache, shared by
                // every pooled connection, instead of a read() into each
                // connection's own 2 MB cache: with a million tokens this
                // keeps verification near its small-database latency
                // (BENCHMARKS.md). Address space, not memory: untouched
                // pages cost nothing, touched ones are reclaimable.
                .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string())
        })
        // sqlx pings a pooled connection every time it hands one out. On
        // SQLite that is one more hop to the connection's worker thread on
        // every request, and a file-backed connection cannot be dropped by
        // a server or a firewall, so the check buys nothing there.
        .map_sqlx_sqlite_pool_opts(|opts| opts.test_before_acquire(false))
        // On PostgreSQL the ping is a network round trip before the
        // request's one query, doubling the round trips on its critical
        // path. It is kept for connections that sat idle long enough for a
        // restart or a firewall to have cut them (sqlx also pings every
        // connection as it comes back to the pool, which is why
        // verification runs on connections of its own, taken out of the
        // pool's share here).
        .map_sqlx_postgres_pool_opts(move |opts| {
            opts.max_connections(pool_connections)
                .test_before_acquire(false)
                .before_acquire(|connection, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PING_WHEN_IDLE_FOR {
                            sea_orm::sqlx::Connection::ping(connection).await?;
                        }
                        Ok(true)
                    })
                })
        });
    Database::connect(options)
        .await
        .map_err(|err| explain_connect_error(err, args))
}

/// sqlx reports a SQLite file that stayed locked while the pool opened its
/// first connection as a bare "pool timed out"; say what it most likely
/// means.
fn explain_connect_error(err: DbErr, args: &DatabaseArgs) -> DbErr {
    match &err {
        DbErr::Conn(RuntimeErr::SqlxError(cause))
            if matches!(**cause, sea_orm::sqlx::Error::PoolTimedOut)
                && args.database_url.starts_with("sqlite:") =>
        {
            DbErr::Conn(RuntimeErr::Internal(format!(
                "could not open the SQLite database within {}: another process most \
                 likely holds it locked, such as a `lynk serve` whose database URL has \
                 `vfs=unix-excl` (it keeps the file to itself while it runs)",
                humantime::format_duration(args.db_acquire_timeout)
            )))
        }
        _ => err,
    }
}

/// How many of `--db-max-connections` the verifier keeps as PostgreSQL
/// connections of its own (`auth::verify`), which the pool goes without: a
/// quarter, none below 4. Verification holds one only for its query, so a
/// few serve many requests at once; when all are busy, it takes the pool.
pub fn verification_connections(max_connections: u32) -> u32 {
    max_connections / 4
}

/// A PostgreSQL connection idle at least this long is pinged before it is
/// handed out (one busy enough to be reused sooner is known to be alive).
pub const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

// Keys of the PostgreSQL advisory locks lynk takes. Any constants work;
// they only have to be the same for every lynk process.
const MIGRATION_LOCK_KEY: i64 = 0x6c79_6e6b;
const BOOTSTRAP_LOCK_KEY: i64 = 0x6c79_6e6b_0001;

/// Applies pending migrations, in one transaction that holds the migration
/// lock, so that instances starting at once take turns and never race the
/// migrations (PostgreSQL's DDL is transactional, and so is SQLite's).
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = begin_locked(db, MIGRATION_LOCK_KEY).await?;
    let pending = Migrator::get_pending_migrations(&txn).await?.len();
    Migrator::up(&txn, None).await?;
    txn.commit().await?;
    // sea-orm-migration's own lines are at `debug` unless RUST_LOG asks
    // (telemetry); what an operator should know is whether the schema moved.
    if pending > 0 {
        tracing::info!(applied = pending, "database migrations applied");
    }
    Ok(())
}

/// Begins a transaction that will write. On SQLite it takes the write lock
/// at `BEGIN` (`BEGIN IMMEDIATE`): a deferred transaction that reads and
/// then writes fails at once with "database is locked" when another pooled
/// connection wrote in between (its snapshot is stale, so it cannot wait),
/// which concurrent requests make routine. Taken up front, the lock is
/// waited for within the busy timeout. PostgreSQL ignores the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Begins a transaction that holds the bootstrap lock until it ends, so
/// that processes starting at once on an empty database take turns and
/// each sees what the previous one committed.
pub async fn begin_bootstrap(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    begin_locked(db, BOOTSTRAP_LOCK_KEY).await
}

/// How long a starting instance waits for another one's migrations or
/// bootstrap on SQLite (they hold the write lock for their whole run).
const STARTUP_LOCK_PATIENCE: Duration = Duration::from_secs(120);

/// [`begin_write`], retried while SQLite answers "database is locked":
/// the busy timeout suits requests, not waiting for a whole migration run
/// of another instance starting on a slow or loaded machine.
async fn begin_write_patiently(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let started = std::time::Instant::now();
    loop {
        match begin_write(db).await {
            Err(err) if is_busy(&err) && started.elapsed() < STARTUP_LOCK_PATIENCE => {
                tracing::info!("another instance holds the database; waiting");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

/// Runs `step` again while it fails because SQLite answered "database is
/// locked", for at most [`STARTUP_LOCK_PATIENCE`]: for the idempotent
/// steps of a start, which another instance starting on the same file may
/// hold up longer than a statement's busy timeout. Any other outcome is
/// returned as it is.
pub async fn patiently<T, F, Fut>(mut step: F) -> Result<T, crate::error::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::error::Error>>,
{
    let started = std::time::Instant::now();
    loop {
        match step().await {
            Err(crate::error::Error::Internal(cause))
                if cause.downcast_ref::<DbErr>().is_some_and(is_busy)
                    && started.elapsed() < STARTUP_LOCK_PATIENCE =>
            {
                tracing::info!("another instance holds the database; waiting");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

/// Whether SQLite answered `SQLITE_BUSY` (code 5, "database is locked").
fn is_busy(err: &DbErr) -> bool {
    match err {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|db| db.code())
            .is_some_and(|code| code == "5"),
        _ => false,
    }
}

/// A write transaction that also holds a PostgreSQL advisory lock (SQLite's
/// write lock already excludes every other writer).
async fn begin_locked(db: &DatabaseConnection, key: i64) -> Result<DatabaseTransaction, DbErr> {
    let txn = begin_write_patiently(db).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [key.into()],
        ))
        .await?;
    }
    Ok(txn)
}

/// Begins a write transaction that holds the organization's lock until it
/// ends: member, role and invitation changes that check an invariant (the
/// last admin, a role in use) take it, so two of them in one organization
/// run one after the other. On PostgreSQL that is a row lock on the
/// organization (`FOR NO KEY UPDATE`: it excludes other holders, not the
/// key-share locks of foreign-key checks, so a concurrent insert that
/// names the organization, an audit record, never deadlocks with it);
/// SQLite's write lock (taken at `BEGIN`)
/// already excludes every other writer.
pub async fn begin_organization_write(
    db: &DatabaseConnection,
    organization_id: uuid::Uuid,
) -> Result<DatabaseTransaction, DbErr> {
    let txn = begin_write(db).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id FROM organization WHERE id = $1 FOR NO KEY UPDATE",
            [organization_id.into()],
        ))
        .await?;
    }
    Ok(txn)
}

/// Whether the database answers (for `/readyz`).
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_held_write_lock_is_recognised_as_busy() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("busy.db").display());
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(2)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::ZERO)
            });
        let db = Database::connect(options).await.unwrap();
        let holder = begin_write(&db).await.unwrap();
        let err = begin_write(&db).await.unwrap_err();
        assert!(is_busy(&err), "{err}");
        assert!(!is_busy(&DbErr::Custom("database is locked".into())));
        holder.rollback().await.unwrap();
        assert!(begin_write(&db).await.is_ok());
    }

    #[tokio::test]
    async fn a_start_step_is_tried_again_while_the_database_is_busy_only() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("busy.db").display());
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(2)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::ZERO)
            });
        let db = Database::connect(options).await.unwrap();
        let holder = std::sync::Mutex::new(Some(begin_write(&db).await.unwrap()));
        let tries = std::sync::atomic::AtomicUsize::new(0);
        // Busy twice (the other "instance" holds the lock), then free.
        let answer = patiently(|| async {
            let n = tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n == 2 {
                let held = holder.lock().unwrap().take();
                if let Some(held) = held {
                    held.rollback().await.unwrap();
                }
            }
            begin_write(&db)
                .await
                .map(drop)
                .map_err(crate::error::Error::from)
        })
        .await;
        assert!(answer.is_ok(), "{answer:?}");
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 3);

        // Any other failure is answered at once.
        let tries = std::sync::atomic::AtomicUsize::new(0);
        let answer: Result<(), _> = patiently(|| async {
            tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(crate::error::Error::NotFound("thing"))
        })
        .await;
        assert!(answer.is_err());
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
