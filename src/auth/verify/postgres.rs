//! The verification query on PostgreSQL, on connections the verifier
//! keeps for itself.
//!
//! A connection that goes back to sqlx's pool is pinged first (a `Sync`
//! and its `ReadyForQuery`), whatever the pool's options say: every
//! request would cost PostgreSQL two round trips on its connection, the
//! query and that ping, although only the first one is on the request's
//! path. The verifier's own connections are never given back, so a
//! verification is the query alone.
//!
//! They are opened with the pool's connect options and taken out of
//! `--db-max-connections` ([`crate::database::verification_connections`]):
//! the pool is that much smaller, so lynk never opens more than the flag
//! says, and the pool owes nothing to the verifier (it closes on its own
//! at shutdown; these close with the last clone of the verifier).
//!
//! A connection is pinged before use when it sat idle for
//! [`PING_WHEN_IDLE_FOR`], as the pool's are, and dropped when it sat idle
//! for [`DROP_WHEN_IDLE_FOR`]. Any failure (a ping, opening a connection,
//! the query) drops the connection and answers [`Unavailable`], and the
//! caller takes the pool: this path can make verification cheaper, never
//! make it fail. When every connection is busy the pool answers too.

use std::{
    cell::Cell,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::{
    DatabaseConnection, DbBackend, QueryResult,
    sqlx::{
        ConnectOptions, Connection,
        postgres::{PgConnectOptions, PgConnection},
    },
};
use uuid::Uuid;

use super::{
    Unavailable,
    row::{self, VERIFY_SQL_POSTGRES},
};
use crate::{auth::principal::CredentialRow, database::PING_WHEN_IDLE_FOR};

/// A connection idle this long is closed rather than used, so the set
/// shrinks when traffic does.
pub const DROP_WHEN_IDLE_FOR: Duration = Duration::from_secs(60);

/// PostgreSQL connections of the verifier's own.
#[derive(Debug)]
pub struct HeldConnections {
    options: Arc<PgConnectOptions>,
    /// How long a ping or opening a connection may take (the pool's
    /// acquire timeout).
    patience: Duration,
    max: usize,
    /// Connections open, idle or in use.
    open: AtomicUsize,
    /// Idle connections, the most recently used last.
    idle: Mutex<Vec<Idle>>,
}

#[derive(Debug)]
struct Idle {
    connection: PgConnection,
    since: Instant,
}

impl HeldConnections {
    /// Up to `max` connections to the pool's database, when it is
    /// PostgreSQL and `max` is not zero.
    pub fn for_pool(db: &DatabaseConnection, max: u32) -> Option<HeldConnections> {
        if db.get_database_backend() != DbBackend::Postgres || max == 0 {
            return None;
        }
        let pool = db.get_postgres_connection_pool();
        Some(HeldConnections {
            options: pool.connect_options(),
            patience: pool.options().get_acquire_timeout(),
            max: max as usize,
            open: AtomicUsize::new(0),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Runs the verification query on one of the connections.
    pub async fn verify(
        &self,
        digest: &[u8],
        requested: Option<Uuid>,
    ) -> Result<Option<CredentialRow>, Unavailable> {
        let mut checkout = self.checkout().await?;
        let connection = &mut checkout.connection;
        STATEMENTS.set(STATEMENTS.get() + 1);
        let found = sea_orm::sqlx::query(VERIFY_SQL_POSTGRES)
            .bind(digest)
            .bind(requested)
            .fetch_optional(&mut *connection)
            .await;
        let found = match found {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!(error = %err, "verification on a held connection failed; using the pool");
                return Err(Unavailable);
            }
        };
        // The query ran to its end: the connection is ready for the next.
        checkout.give_back();
        match found {
            None => Ok(None),
            Some(found) => row::decode(&QueryResult::from(found)).map(Some).map_err(|err| {
                tracing::warn!(error = %err, "the verification row did not decode; using the pool");
                Unavailable
            }),
        }
    }

    /// An idle connection (pinged if it sat idle a while), else a new one
    /// while fewer than `max` are open, else [`Unavailable`].
    async fn checkout(&self) -> Result<Checkout<'_>, Unavailable> {
        let (taken, stale) = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            // The one idle the longest is first: close it if it sat too long.
            let stale = match idle.first() {
                Some(oldest) if oldest.since.elapsed() >= DROP_WHEN_IDLE_FOR => {
                    Some(idle.remove(0))
                }
                _ => None,
            };
            (idle.pop(), stale)
        };
        if let Some(stale) = stale {
            self.open.fetch_sub(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let _ = stale.connection.close().await;
            });
        }
        let (connection, slot) = match taken {
            Some(Idle {
                mut connection,
                since,
            }) => {
                let slot = Slot(&self.open);
                let alive = since.elapsed() < PING_WHEN_IDLE_FOR
                    || matches!(
                        tokio::time::timeout(self.patience, connection.ping()).await,
                        Ok(Ok(()))
                    );
                if !alive {
                    return Err(Unavailable);
                }
                (connection, slot)
            }
            None => {
                let opened = self.open.fetch_add(1, Ordering::Relaxed);
                let slot = Slot(&self.open);
                if opened >= self.max {
                    return Err(Unavailable);
                }
                match tokio::time::timeout(self.patience, self.options.connect()).await {
                    Ok(Ok(connection)) => (connection, slot),
                    Ok(Err(err)) => {
                        tracing::warn!(error = %err, "could not open a verification connection; using the pool");
                        return Err(Unavailable);
                    }
                    Err(_) => return Err(Unavailable),
                }
            }
        };
        Ok(Checkout {
            held: self,
            connection,
            slot,
        })
    }

    /// Connections open now, idle or in use.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

/// One connection in use. Dropped without [`Checkout::give_back`] (a
/// failure, or the request dropped mid-query, which leaves the connection
/// in an unknown state), it closes the connection and counts it out.
struct Checkout<'a> {
    held: &'a HeldConnections,
    connection: PgConnection,
    slot: Slot<'a>,
}

impl Checkout<'_> {
    fn give_back(self) {
        let Checkout {
            held,
            connection,
            slot,
        } = self;
        held.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Idle {
                connection,
                since: Instant::now(),
            });
        // Still open.
        std::mem::forget(slot);
    }
}

/// One connection counted in `open`, counted out when dropped.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

thread_local! {
    /// Verification statements run on held connections by this thread
    /// (read through [`super::testing::held_statements`]).
    static STATEMENTS: Cell<u64> = const { Cell::new(0) };
}

/// Verification statements run on held connections by the calling thread.
pub fn statements_on_this_thread() -> u64 {
    STATEMENTS.get()
}
