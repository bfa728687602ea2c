//! Connecting to the database and applying migrations, for SQLite and
//! PostgreSQL alike.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

use crate::config::DatabaseArgs;

/// Opens a connection pool. SQLite gets WAL, `synchronous=FULL` (an
/// acknowledged write survives a crash), foreign keys and a busy timeout.
pub async fn connect(args: &DatabaseArgs) -> Result<DatabaseConnection, DbErr> {
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
        });
    Database::connect(options).await
}

// Keys of the PostgreSQL advisory locks lynk takes. Any constants work;
// they only have to be the same for every lynk process.
const MIGRATION_LOCK_KEY: i64 = 0x6c79_6e6b;
const BOOTSTRAP_LOCK_KEY: i64 = 0x6c79_6e6b_0001;

/// Applies pending migrations, in one transaction that holds the migration
/// lock, so that instances starting at once take turns and never race the
/// migrations (PostgreSQL's DDL is transactional, and so is SQLite's).
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = begin_locked(db, MIGRATION_LOCK_KEY).await?;
    Migrator::up(&txn, None).await?;
    txn.commit().await
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

/// A write transaction that also holds a PostgreSQL advisory lock (SQLite's
/// write lock already excludes every other writer).
async fn begin_locked(db: &DatabaseConnection, key: i64) -> Result<DatabaseTransaction, DbErr> {
    let txn = begin_write(db).await?;
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

/// Whether the database answers (for `/readyz`).
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok()
}
