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

// Any constant works; it only has to be the same for every lynk process.
const MIGRATION_LOCK_KEY: i64 = 0x6c79_6e6b;

/// Applies pending migrations. On PostgreSQL an advisory lock makes
/// concurrent starts take turns, so two instances never race the migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        let txn = db.begin().await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [MIGRATION_LOCK_KEY.into()],
        ))
        .await?;
        Migrator::up(&txn, None).await?;
        txn.commit().await
    } else {
        Migrator::up(db, None).await
    }
}

// Held while `serve` checks whether the database is empty and bootstraps it.
const BOOTSTRAP_LOCK_KEY: i64 = 0x6c79_6e6b_0001;

/// Begins a transaction that holds lynk's bootstrap lock until it ends: an
/// advisory lock on PostgreSQL, the database's write lock on SQLite
/// (`BEGIN IMMEDIATE`). Processes starting at once on an empty database
/// take turns, and each sees what the previous one committed.
pub async fn begin_exclusive(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await?;
    if db.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [BOOTSTRAP_LOCK_KEY.into()],
        ))
        .await?;
    }
    Ok(txn)
}

/// Whether the database answers (for `/readyz`).
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok()
}
