//! `lastUsedAt` and `lastUsedIps`, written behind the request, in batches;
//! with them the permissions requests were granted ([`permission_use`],
//! `Token.permissionsUsed`) and refused uses of a token ([`rejection`],
//! `Token.rejectedUses`).
//!
//! A request whose token was last recorded a minute ago or more
//! ([`last_used_is_stale`]) puts the use in a bounded buffer, keyed by
//! token, and goes on: recording never waits for the database and never
//! fails a request. One task per instance writes the buffer at most every
//! [`FLUSH_INTERVAL`], as one statement (on SQLite one per 256 tokens, in
//! one transaction; [`statement`]), and once more on shutdown. The write is conditional
//! (stored `last_used_at` older than a minute, or none), so instances
//! sharing a database never write a token twice in a minute. When the
//! buffer is full a use is dropped and counted: this is best-effort
//! metadata, and a burst of first uses must not grow memory or the
//! database's write queue without bound.

pub mod permission_use;
pub mod rejection;
mod statement;

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration as StdDuration,
};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};
use uuid::Uuid;

use super::Principal;
use permission_use::GrantBuffer;
use rejection::RejectionBuffer;
pub use rejection::RejectionReason;

/// How often `lastUsedAt` is written per token, at most.
pub const LAST_USED_RESOLUTION: Duration = Duration::seconds(60);

/// Most client addresses kept per token (`Token.lastUsedIps`).
pub const LAST_USED_IPS: usize = 5;

/// Most tokens waiting to be written; a use of another token is dropped.
pub const CAPACITY: usize = 10_000;

/// How often the buffer is written, at most.
pub const FLUSH_INTERVAL: StdDuration = StdDuration::from_secs(1);

/// Whether `lastUsedAt` is stale enough to be written again.
pub fn last_used_is_stale(last_used_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_used_at.is_none_or(|at| now - at >= LAST_USED_RESOLUTION)
}

/// The addresses after a use from `client`: it first, then the previous
/// ones without it, at most [`LAST_USED_IPS`], space-separated.
pub fn with_address(previous: Option<&str>, client: &str) -> String {
    std::iter::once(client)
        .chain(
            previous
                .unwrap_or_default()
                .split_whitespace()
                .filter(|ip| *ip != client),
        )
        .take(LAST_USED_IPS)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A token's use, as it will be written.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Use {
    token_id: Uuid,
    /// The latest use.
    at: DateTime<Utc>,
    /// `last_used_ips` after it.
    addresses: String,
}

#[derive(Debug)]
struct Pending {
    at: DateTime<Utc>,
    /// The address of the latest use, first in `addresses`.
    latest: IpAddr,
    addresses: String,
}

/// The uses waiting to be written: at most one per token, at most
/// `capacity` tokens. Pure; [`LastUsedRecorder`] puts it behind a lock.
#[derive(Debug)]
struct Buffer {
    capacity: usize,
    pending: HashMap<Uuid, Pending>,
}

impl Buffer {
    /// An empty buffer for at most `capacity` tokens.
    fn new(capacity: usize) -> Buffer {
        Buffer {
            capacity,
            pending: HashMap::new(),
        }
    }

    /// Adds a use of `token_id` from `client`, whose stored addresses are
    /// `stored`; a later use of a token already waiting replaces its time
    /// and puts its address first. False when the use was dropped: the
    /// buffer is full of other tokens.
    fn record(
        &mut self,
        token_id: Uuid,
        stored: Option<&str>,
        client: IpAddr,
        at: DateTime<Utc>,
    ) -> bool {
        if let Some(pending) = self.pending.get_mut(&token_id) {
            pending.at = pending.at.max(at);
            if pending.latest != client {
                pending.latest = client;
                pending.addresses = with_address(Some(&pending.addresses), &client.to_string());
            }
            return true;
        }
        if self.pending.len() >= self.capacity {
            return false;
        }
        let addresses = match stored {
            None => client.to_string(),
            Some(stored) => with_address(Some(stored), &client.to_string()),
        };
        self.pending.insert(
            token_id,
            Pending {
                at,
                latest: client,
                addresses,
            },
        );
        true
    }

    /// How many tokens are waiting.
    fn len(&self) -> usize {
        self.pending.len()
    }

    /// Empties the buffer, returning what it held.
    fn take(&mut self) -> Vec<Use> {
        self.pending
            .drain()
            .map(|(token_id, pending)| Use {
                token_id,
                at: pending.at,
                addresses: pending.addresses,
            })
            .collect()
    }
}

/// Runs `statements`, in one transaction when there are several.
async fn write(db: &DatabaseConnection, mut statements: Vec<Statement>) -> Result<(), DbErr> {
    if statements.len() == 1
        && let Some(statement) = statements.pop()
    {
        return db.execute_raw(statement).await.map(drop);
    }
    let txn = crate::database::begin_write(db).await?;
    for statement in statements {
        txn.execute_raw(statement).await?;
    }
    txn.commit().await
}

/// Records token uses from the request path and writes them behind it.
/// Shared by every request of an instance (in `AppState`).
#[derive(Debug)]
pub struct LastUsedRecorder {
    buffer: Mutex<Buffer>,
    granted: Mutex<GrantBuffer>,
    rejected: Mutex<RejectionBuffer>,
    dropped: AtomicU64,
}

impl Default for LastUsedRecorder {
    fn default() -> LastUsedRecorder {
        LastUsedRecorder::new(CAPACITY)
    }
}

impl LastUsedRecorder {
    /// A recorder holding at most `capacity` tokens between writes.
    pub fn new(capacity: usize) -> LastUsedRecorder {
        LastUsedRecorder {
            buffer: Mutex::new(Buffer::new(capacity)),
            granted: Mutex::new(GrantBuffer::new(capacity)),
            rejected: Mutex::new(RejectionBuffer::new(capacity)),
            dropped: AtomicU64::new(0),
        }
    }

    /// Notes the permissions `principal`'s request was granted (after it
    /// ran). Never waits for the database.
    pub fn record_granted(&self, principal: &Principal, now: DateTime<Utc>) {
        let granted = principal.used.get();
        if granted.is_empty() {
            return;
        }
        let kept = lock(&self.granted).record(principal.token_id, granted, now);
        if !kept {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Notes a refused use of `token_id` from `client`. Never waits for
    /// the database.
    pub fn record_rejection(
        &self,
        token_id: Uuid,
        reason: RejectionReason,
        client: IpAddr,
        now: DateTime<Utc>,
    ) {
        let kept = lock(&self.rejected).record(token_id, reason, client, now);
        if !kept {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Notes that `principal` was used from `client` at `now`, when its
    /// stored `lastUsedAt` is stale. Never waits for the database: the
    /// lock is held for one map update.
    pub fn record(&self, principal: &Principal, client: IpAddr, now: DateTime<Utc>) {
        if !last_used_is_stale(principal.last_used_at, now) {
            return;
        }
        let kept = self.lock().record(
            principal.token_id,
            principal.last_used_ips.as_deref(),
            client,
            now,
        );
        if !kept {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Uses dropped so far because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Tokens waiting to be written (uses, grants and refusals).
    pub fn pending(&self) -> usize {
        self.lock().len() + lock(&self.granted).len() + lock(&self.rejected).len()
    }

    /// Writes what the buffer holds, in one statement (on SQLite, one per
    /// 256 tokens, in one transaction); a failure is logged (the uses are
    /// lost, like dropped ones).
    pub async fn flush(&self, db: &DatabaseConnection) {
        let uses = self.lock().take();
        let tokens = uses.len();
        if tokens > 0 {
            let statements = statement::update(db.get_database_backend(), uses);
            if let Err(err) = write(db, statements).await {
                tracing::warn!(tokens, error = %err, "could not record token uses");
            }
        }
        let granted = lock(&self.granted).take();
        if !granted.is_empty() {
            let statements = permission_use::upsert(db.get_database_backend(), &granted);
            if let Err(err) = write(db, statements).await {
                tracing::warn!(tokens = granted.len(), error = %err, "could not record granted permissions");
                lock(&self.granted).forget(&granted);
            }
        }
        let rejected = lock(&self.rejected).take();
        if !rejected.is_empty() {
            let tokens = rejected.len();
            if let Err(err) = rejection::write(db, rejected).await {
                tracing::warn!(tokens, error = %err, "could not record refused token uses");
            }
        }
    }

    /// Writes the buffer every [`FLUSH_INTERVAL`] until `stop` completes,
    /// then once more: spawn it beside the server, and complete `stop`
    /// once the server has finished its requests.
    pub async fn flush_until(
        &self,
        db: &DatabaseConnection,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let mut interval = tokio::time::interval(FLUSH_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stop = std::pin::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = interval.tick() => self.flush(db).await,
            }
        }
        self.flush(db).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        lock(&self.buffer)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_newest_address_comes_first_and_five_are_kept() {
        assert_eq!(with_address(None, "10.0.0.1"), "10.0.0.1");
        assert_eq!(
            with_address(Some("10.0.0.2 10.0.0.1"), "10.0.0.1"),
            "10.0.0.1 10.0.0.2"
        );
        assert_eq!(
            with_address(Some("b c d e f"), "a"),
            "a b c d e",
            "the oldest goes"
        );
        assert_eq!(with_address(Some("::1"), "::1"), "::1");
    }

    #[test]
    fn last_used_is_written_at_most_once_a_minute() {
        let now = Utc::now();
        assert!(last_used_is_stale(None, now));
        assert!(!last_used_is_stale(Some(now - Duration::seconds(59)), now));
        assert!(last_used_is_stale(Some(now - Duration::seconds(60)), now));
    }

    #[test]
    fn uses_of_one_token_coalesce_into_its_latest() {
        let token = Uuid::now_v7();
        let t0 = Utc::now();
        let mut buffer = Buffer::new(10);
        assert!(buffer.record(token, Some("10.0.0.9"), ip("10.0.0.1"), t0));
        assert!(buffer.record(
            token,
            Some("10.0.0.9"),
            ip("10.0.0.2"),
            t0 + Duration::seconds(1)
        ));
        // Out of order: the time stays the latest, the address goes first.
        assert!(buffer.record(token, Some("10.0.0.9"), ip("10.0.0.1"), t0));
        assert_eq!(buffer.len(), 1);
        assert_eq!(
            buffer.take(),
            [Use {
                token_id: token,
                at: t0 + Duration::seconds(1),
                addresses: "10.0.0.1 10.0.0.2 10.0.0.9".into(),
            }]
        );
        assert_eq!(buffer.len(), 0);
    }

    #[test]
    fn a_full_buffer_drops_new_tokens_but_still_takes_waiting_ones() {
        let now = Utc::now();
        let mut buffer = Buffer::new(2);
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert!(buffer.record(a, None, ip("::1"), now));
        assert!(buffer.record(b, None, ip("::1"), now));
        assert!(!buffer.record(c, None, ip("::1"), now));
        assert!(buffer.record(a, None, ip("::2"), now));
        assert_eq!(buffer.len(), 2);
        let mut taken: Vec<Uuid> = buffer.take().into_iter().map(|u| u.token_id).collect();
        taken.sort();
        assert_eq!(taken, [a, b]);
        // Emptied, it takes new tokens again.
        assert!(buffer.record(c, None, ip("::1"), now));
    }

    fn principal(last_used_at: Option<DateTime<Utc>>) -> Principal {
        use crate::auth::{CredentialKind, PermissionSet, principal::OrganizationSnapshot};
        Principal {
            kind: CredentialKind::Personal,
            token_id: Uuid::now_v7(),
            user_id: None,
            organization: OrganizationSnapshot {
                id: Uuid::now_v7(),
                name: "Acme".into(),
                created_at: Utc::now(),
                max_token_lifetime_days: 366,
            },
            role_id: Uuid::now_v7(),
            permissions: PermissionSet::all(),
            withheld: Default::default(),
            projects: Default::default(),
            last_used_at,
            last_used_ips: None,
            parent_id: None,
            in_grace: false,
            addresses: None,
            parent_addresses: None,
            used: Default::default(),
        }
    }

    #[test]
    fn the_recorder_skips_fresh_uses_and_counts_drops() {
        let now = Utc::now();
        let recorder = LastUsedRecorder::new(1);
        recorder.record(&principal(Some(now)), ip("::1"), now);
        assert_eq!(recorder.pending(), 0, "recorded less than a minute ago");
        recorder.record(&principal(None), ip("::1"), now);
        recorder.record(&principal(None), ip("::1"), now);
        recorder.record(&principal(Some(now - Duration::minutes(2))), ip("::1"), now);
        assert_eq!(recorder.pending(), 1);
        assert_eq!(recorder.dropped(), 2);
    }
}
