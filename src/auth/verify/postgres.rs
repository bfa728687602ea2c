//! The verification query on PostgreSQL, on pooled connections the verifier
//! keeps checked out.
//!
//! A connection borrowed from sqlx's pool for one query goes back through
//! `PoolConnection`'s drop, which spawns a task that pings it (a `Sync`
//! round trip) before it is idle again. For the one statement of an
//! authenticated request that is a second network round trip, a task and a
//! second wake-up of the PostgreSQL backend: under load, a fifth of the
//! server's CPU went to giving connections back (BENCHMARKS.md). So the
//! verifier keeps up to three quarters of the pool checked out and runs its
//! statement on those, putting them back on its own stack without a ping.
//! They still count against the pool's size: the server never has more
//! than `--db-max-connections` connections open, and at least a quarter of
//! them (one, in a small pool) always stay with the pool for everything
//! else, verifications beyond the held ones included.
//!
//! The checks the pool makes are kept, at the same moments: a connection
//! that sat idle for [`PING_WHEN_IDLE_FOR`] is pinged before its next
//! query; one held for [`HOLD_AT_MOST`] goes back to the pool (which closes
//! it past its lifetime); one whose query fails, or whose request is
//! dropped mid-query, goes back to the pool too, which tests it on return.
//! Like the inline SQLite path, this one can make verification faster but
//! never make it fail: when no connection can be held, or one fails, the
//! request takes the pool.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::{
    DatabaseConnection, DbBackend, QueryResult,
    sqlx::{
        Connection, Postgres,
        pool::{Pool, PoolConnection},
    },
};
use uuid::Uuid;

use super::{Unavailable, VERIFY_SQL_POSTGRES, credential_row};
use crate::{auth::principal::CredentialRow, database::PING_WHEN_IDLE_FOR};

/// How long a connection is held before it goes back to the pool, so that
/// the pool's own checks (its maximum lifetime) still apply to it.
pub const HOLD_AT_MOST: Duration = Duration::from_secs(60);

/// Pooled connections held for verification.
#[derive(Debug)]
pub struct HeldConnections {
    pool: Pool<Postgres>,
    /// At most this many are held at once (idle or in use).
    limit: usize,
    /// Connections not in use, the most recently used last.
    idle: Mutex<Vec<Held>>,
    /// Connections held, idle or in use, or being acquired.
    held: AtomicUsize,
}

#[derive(Debug)]
struct Held {
    connection: PoolConnection<Postgres>,
    held_since: Instant,
    /// `None` until its first query here: how long it sat idle in the pool
    /// before is unknown.
    last_used: Option<Instant>,
}

/// How many of a pool of `max_connections` verification may hold: three
/// quarters, and always one fewer than the pool (a pool of one is never
/// held). Measured on two cores with a pool of 16 (BENCHMARKS.md), holding
/// half of it left too many verifications at 64 connections to the pool.
pub fn hold_limit(max_connections: u32) -> usize {
    let max = max_connections as usize;
    (max - max / 4).min(max.saturating_sub(1))
}

impl HeldConnections {
    /// Held connections of the pool, when it is a PostgreSQL pool of at least
    /// two connections.
    pub fn for_pool(db: &DatabaseConnection) -> Option<HeldConnections> {
        if db.get_database_backend() != DbBackend::Postgres {
            return None;
        }
        let pool = db.get_postgres_connection_pool().clone();
        let limit = hold_limit(pool.options().get_max_connections());
        (limit > 0).then(|| HeldConnections {
            pool,
            limit,
            idle: Mutex::new(Vec::new()),
            held: AtomicUsize::new(0),
        })
    }

    /// How many connections are held now, idle or in use.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Runs the verification query for `digest`, acting in `requested`, on a
    /// held connection: the credential's row, or `None` for an unknown
    /// digest. [`Unavailable`] when every connection verification may hold
    /// is in use, or the query failed: ask the pool.
    pub async fn verify(
        &self,
        digest: &[u8],
        requested: Option<Uuid>,
    ) -> Result<Option<CredentialRow>, Unavailable> {
        let mut checkout = self.checkout().await?;
        let held = checkout.0.as_mut().expect("a checkout holds a connection");
        let answer = sea_orm::sqlx::query(VERIFY_SQL_POSTGRES)
            .bind(digest)
            .bind(requested)
            .fetch_optional(&mut *held.connection)
            .await;
        let decoded = match answer {
            Ok(row) => row
                .map(|row| credential_row(&QueryResult::from(row)))
                .transpose()
                .map_err(|err| format!("{err:?}")),
            Err(err) => Err(err.to_string()),
        };
        match decoded {
            Ok(row) => {
                held.last_used = Some(Instant::now());
                self.put_back(checkout);
                Ok(row)
            }
            Err(error) => {
                tracing::warn!(%error, "verification on a held connection failed; using the pool");
                Err(Unavailable)
            }
        }
    }

    /// An idle held connection, or else an idle one of the pool while under
    /// the limit; pinged first if it sat idle a while. Never waits for the
    /// pool, and never makes it open a connection: connections are held as
    /// the pool's traffic leaves them idle.
    async fn checkout(&self) -> Result<Checkout<'_>, Unavailable> {
        loop {
            let idle = self.lock_idle().pop();
            let Some(held) = idle else { break };
            if let Some(checkout) = Checkout(Some(held), self).checked().await {
                return Ok(checkout);
            }
        }
        let under_limit = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < self.limit).then_some(held + 1)
            })
            .is_ok();
        if !under_limit {
            return Err(Unavailable);
        }
        let Some(connection) = self.pool.try_acquire() else {
            self.held.fetch_sub(1, Ordering::AcqRel);
            return Err(Unavailable);
        };
        let held = Held {
            connection,
            held_since: Instant::now(),
            last_used: None,
        };
        Checkout(Some(held), self)
            .checked()
            .await
            .ok_or(Unavailable)
    }

    /// Gives every idle held connection back to the pool. Before the pool
    /// is closed: closing waits for checked-out connections to come back.
    pub fn release(&self) {
        let idle = std::mem::take(&mut *self.lock_idle());
        for held in idle {
            self.give_back(held);
        }
    }

    /// Keeps the checkout's connection for the next verification. Also
    /// gives back the connection idle the longest once it has been held for
    /// [`HOLD_AT_MOST`], so that the held set shrinks when traffic does.
    /// (Giving a connection back whenever the pool had none idle, so that
    /// other work would never wait for one, was measured and dropped: under
    /// load the connections churned between the two, and most of the gain
    /// went; BENCHMARKS.md.)
    fn put_back(&self, mut checkout: Checkout<'_>) {
        let mut idle = self.lock_idle();
        if let Some(held) = checkout.0.take() {
            idle.push(held);
        }
        let expired = idle
            .first()
            .is_some_and(|oldest| oldest.held_since.elapsed() >= HOLD_AT_MOST)
            .then(|| idle.remove(0));
        drop(idle);
        if let Some(oldest) = expired {
            self.give_back(oldest);
        }
    }

    /// Returns a held connection to the pool through [`Checkout`]'s drop,
    /// the one place that counts a held connection out.
    fn give_back(&self, held: Held) {
        drop(Checkout(Some(held), self));
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Held>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A held connection in use. Dropped without being put back (the query
/// failed, the request was dropped mid-query, or the connection is given
/// back), its connection goes back to the pool, which tests it before
/// anyone else gets it, and is no longer counted as held.
struct Checkout<'a>(Option<Held>, &'a HeldConnections);

impl Checkout<'_> {
    /// The checkout, if its connection is still fit to use: held for less
    /// than [`HOLD_AT_MOST`], and answering a ping when it sat idle for
    /// [`PING_WHEN_IDLE_FOR`] or more (or for an unknown time).
    async fn checked(mut self) -> Option<Self> {
        let held = self.0.as_mut()?;
        if held.held_since.elapsed() >= HOLD_AT_MOST {
            return None;
        }
        if held
            .last_used
            .is_none_or(|at| at.elapsed() >= PING_WHEN_IDLE_FOR)
            && held.connection.ping().await.is_err()
        {
            return None;
        }
        Some(self)
    }
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        if self.0.take().is_some() {
            self.1.held.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_holds_three_quarters_of_the_pool_and_leaves_one() {
        assert_eq!(hold_limit(0), 0);
        assert_eq!(hold_limit(1), 0);
        assert_eq!(hold_limit(2), 1);
        assert_eq!(hold_limit(3), 2);
        assert_eq!(hold_limit(4), 3);
        assert_eq!(hold_limit(16), 12);
        assert_eq!(hold_limit(100), 75);
    }
}
