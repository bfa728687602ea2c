//! Failure budgets that slow down guessing: failed authentications per
//! client address, failed password checks per account and per address.
//!
//! - **Reserved before the work.** A password check first takes one unit
//!   of every budget it counts against ([`FailureBudgets::reserve`]), then
//!   hashes; success gives the units back. So concurrent attempts can
//!   never run more checks than the budget, however many arrive at once.
//! - **Checked before charged.** A reservation looks at every budget
//!   before it charges any, so an attempt refused by one budget writes
//!   nothing to the others: a refused login for a new email adds no entry.
//! - **Fixed-size keys.** A budget is keyed by a digest of its name and the
//!   key (an email, an address), so a huge input costs no memory and no
//!   email is kept.
//! - **Bounded, and never flushed.** In memory, each budget tracks at most
//!   `capacity` keys ([`DEFAULT_MEMORY_CAPACITY`]). To make room, expired
//!   windows go first, then current windows that are not spent, fewest
//!   failures first; a spent window is never evicted before it expires.
//!   When every key is spent, a new key is refused until one expires.
//!   An entry is 32 bytes (a 16-byte key, a 12-byte start and a count)
//!   plus a control byte, in a table of at most 2^⌈log2(capacity·8/7)⌉
//!   slots: for 100,000 keys 131,072 slots, about 4.3 MB per budget, four
//!   budgets about 17 MB at most.
//! - **Shared on PostgreSQL.** Every instance counts in one table with an
//!   atomic upsert, so N instances allow the budget once, not N times. On
//!   SQLite (one process) the budgets live in memory.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// Most keys one in-memory budget tracks unless configured otherwise.
pub const DEFAULT_MEMORY_CAPACITY: usize = 100_000;

/// Making room leaves a full budget at this fraction (in tenths) of its
/// capacity, so the scan runs once per many new keys, not for each.
const REFILL_TENTHS: usize = 9;

/// Shared budgets delete expired rows on about one reservation in this many.
const SWEEP_EVERY: u32 = 256;

/// A budget key: the first 16 bytes of SHA-256 over the budget's name and
/// the key. Collisions are out of reach (2^64 work for a birthday pair,
/// and a pair would only share a budget).
pub type BudgetKey = [u8; 16];

/// One budget: at most `max_failures` per `window` and key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Names the budget in its keys (`login_per_account`, …).
    pub name: &'static str,
    pub max_failures: u32,
    pub window: Duration,
}

impl Budget {
    /// The fixed-size key for `key` in this budget.
    pub fn key(&self, key: &str) -> BudgetKey {
        let digest = Sha256::new()
            .chain_update(self.name.as_bytes())
            .chain_update([0])
            .chain_update(key.as_bytes())
            .finalize();
        let mut out = [0; 16];
        out.copy_from_slice(&digest[..16]);
        out
    }

    fn window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX)
    }
}

/// One unit taken from a budget, to give back when the attempt succeeds.
#[derive(Debug)]
#[must_use = "give the units back with FailureBudgets::refund when the attempt succeeds"]
pub struct Reservation {
    taken: Vec<(Budget, BudgetKey)>,
}

/// Why a reservation was refused: the budget is spent until `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted {
    pub retry_after: Duration,
}

impl Exhausted {
    /// The `RATE_LIMITED` error for it.
    pub fn into_error(self) -> Error {
        Error::RateLimited {
            retry_after_secs: retry_after_secs(self.retry_after),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: DateTime<Utc>,
    failures: u32,
}

/// The in-memory windows: per budget name, at most `capacity` keys.
#[derive(Debug)]
struct MemoryWindows {
    capacity: usize,
    budgets: HashMap<&'static str, HashMap<BudgetKey, Window>>,
}

/// Where the counts live.
#[derive(Debug)]
enum Store {
    Memory(Mutex<MemoryWindows>),
    Shared {
        db: DatabaseConnection,
        reservations: AtomicU32,
    },
}

/// Every budget's counts, in memory or in the shared table.
#[derive(Debug)]
pub struct FailureBudgets {
    store: Store,
}

impl FailureBudgets {
    /// Budgets in process memory, each tracking at most `capacity` keys.
    pub fn in_memory(capacity: usize) -> FailureBudgets {
        FailureBudgets {
            store: Store::Memory(Mutex::new(MemoryWindows {
                capacity: capacity.max(1),
                budgets: HashMap::new(),
            })),
        }
    }

    /// Budgets shared through `db` where it is PostgreSQL (several
    /// instances); in memory otherwise, each tracking at most
    /// `memory_capacity` keys.
    pub fn for_database(db: &DatabaseConnection, memory_capacity: usize) -> FailureBudgets {
        match db.get_database_backend() {
            DbBackend::Postgres => FailureBudgets {
                store: Store::Shared {
                    db: db.clone(),
                    reservations: AtomicU32::new(0),
                },
            },
            _ => FailureBudgets::in_memory(memory_capacity),
        }
    }

    /// Takes one unit from each `(budget, key)`, all or none. Every budget
    /// is checked before any is charged: when one is spent (or a full
    /// in-memory budget has no room for a new key), nothing is written
    /// and the answer is the longest wait. Name the per-address budget
    /// first: on the shared table, where a concurrent attempt may spend a
    /// budget between the check and the charge, units are charged in
    /// order and the first refusal stops the rest, so a per-account row
    /// is only ever written for an attempt its address was allowed.
    pub async fn reserve(
        &self,
        wanted: &[(Budget, &str)],
        now: DateTime<Utc>,
    ) -> Result<Result<Reservation, Exhausted>, Error> {
        let keys: Vec<(Budget, BudgetKey)> = wanted
            .iter()
            .map(|(budget, key)| (*budget, budget.key(key)))
            .collect();
        match &self.store {
            Store::Memory(windows) => Ok(lock(windows)
                .charge_all(&keys, now)
                .map(|()| Reservation { taken: keys })),
            Store::Shared { db, reservations } => {
                if reservations.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == 0 {
                    sweep_shared(db, now).await?;
                }
                // One key needs no look first: its upsert refuses atomically
                // and writes nothing but its own row.
                if keys.len() > 1
                    && let Some(exhausted) = spent_shared(db, &keys, now).await?
                {
                    return Ok(Err(exhausted));
                }
                let mut reservation = Reservation { taken: Vec::new() };
                for (budget, key) in keys {
                    if let Err(exhausted) = take_shared(db, &budget, key, now).await? {
                        self.refund(reservation).await?;
                        return Ok(Err(exhausted));
                    }
                    reservation.taken.push((budget, key));
                }
                Ok(Ok(reservation))
            }
        }
    }

    /// Gives back what a reservation took (the attempt succeeded).
    pub async fn refund(&self, reservation: Reservation) -> Result<(), Error> {
        for (budget, key) in reservation.taken {
            match &self.store {
                Store::Memory(windows) => {
                    let mut windows = lock(windows);
                    if let Some(w) = windows
                        .budgets
                        .get_mut(budget.name)
                        .and_then(|keys| keys.get_mut(&key))
                    {
                        w.failures = w.failures.saturating_sub(1);
                    }
                }
                Store::Shared { db, .. } => {
                    let statement = Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "UPDATE failure_budget SET failures = failures - 1 \
                         WHERE key = $1 AND failures > 0",
                        [Value::from(key.to_vec())],
                    );
                    db.execute_raw(statement).await?;
                }
            }
        }
        Ok(())
    }

    /// Counts one failure for `key` that nothing reserved (a bad bearer
    /// token: the check is after the cheap verification, so that a token
    /// that verifies is never refused for its neighbours' failures).
    pub async fn record_failure(
        &self,
        budget: Budget,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<(), Exhausted>, Error> {
        self.reserve(&[(budget, key)], now)
            .await
            .map(|reserved| reserved.map(drop))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// `Some` when the window is current and its budget is spent.
fn spent(budget: &Budget, window: Window, now: DateTime<Utc>) -> Option<Exhausted> {
    let elapsed = now - window.started;
    if elapsed < budget.window() && window.failures >= budget.max_failures {
        let left = budget.window() - elapsed;
        Some(Exhausted {
            retry_after: left.to_std().unwrap_or(Duration::from_secs(1)),
        })
    } else {
        None
    }
}

impl MemoryWindows {
    /// One unit of each key, or none: refused when a key's window is spent
    /// or its budget is full of spent windows, before anything is counted.
    fn charge_all(
        &mut self,
        keys: &[(Budget, BudgetKey)],
        now: DateTime<Utc>,
    ) -> Result<(), Exhausted> {
        let mut refused: Option<Exhausted> = None;
        for (budget, key) in keys {
            let windows = self.budgets.entry(budget.name).or_default();
            let blocked = match windows.get(key) {
                Some(window) => spent(budget, *window, now),
                None if windows.len() >= self.capacity => {
                    make_room(windows, budget, self.capacity, now).err()
                }
                None => None,
            };
            if let Some(exhausted) = blocked {
                refused = Some(longest(refused, exhausted));
            }
        }
        if let Some(exhausted) = refused {
            return Err(exhausted);
        }
        for (budget, key) in keys {
            let windows = self.budgets.entry(budget.name).or_default();
            count(windows, budget, *key, now);
        }
        Ok(())
    }
}

/// The longer of two waits.
fn longest(current: Option<Exhausted>, next: Exhausted) -> Exhausted {
    match current {
        Some(current) if current.retry_after >= next.retry_after => current,
        _ => next,
    }
}

/// Counts one failure for `key`, starting a new window when the old one
/// is over.
fn count(
    windows: &mut HashMap<BudgetKey, Window>,
    budget: &Budget,
    key: BudgetKey,
    now: DateTime<Utc>,
) {
    let window = windows.entry(key).or_insert(Window {
        started: now,
        failures: 0,
    });
    if now - window.started >= budget.window() {
        *window = Window {
            started: now,
            failures: 0,
        };
    }
    window.failures = window.failures.saturating_add(1);
}

/// Frees room in a full budget: drops expired windows, then windows that
/// are not spent, fewest failures first, down to nine tenths of
/// `capacity`. A spent window stays until it expires; when only spent
/// windows are left, the answer is the wait until the first one does.
fn make_room(
    windows: &mut HashMap<BudgetKey, Window>,
    budget: &Budget,
    capacity: usize,
    now: DateTime<Utc>,
) -> Result<(), Exhausted> {
    let length = budget.window();
    windows.retain(|_, w| now - w.started < length);
    let target = capacity * REFILL_TENTHS / 10;
    if windows.len() >= capacity {
        let mut unspent: Vec<(u32, BudgetKey)> = windows
            .iter()
            .filter(|(_, w)| spent(budget, **w, now).is_none())
            .map(|(key, w)| (w.failures, *key))
            .collect();
        unspent.sort_unstable();
        let excess = windows.len() - target.min(windows.len());
        for (_, key) in unspent.into_iter().take(excess) {
            windows.remove(&key);
        }
    }
    if windows.len() < capacity {
        return Ok(());
    }
    let first_expiry = windows
        .values()
        .filter_map(|w| spent(budget, *w, now))
        .min_by_key(|e| e.retry_after);
    Err(first_expiry.unwrap_or(Exhausted {
        retry_after: Duration::from_secs(1),
    }))
}

/// On the shared table: the longest wait among the keys whose current
/// window is spent, read without writing anything.
async fn spent_shared(
    db: &DatabaseConnection,
    keys: &[(Budget, BudgetKey)],
    now: DateTime<Utc>,
) -> Result<Option<Exhausted>, Error> {
    let placeholders: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "SELECT key, window_started_at, failures FROM failure_budget WHERE key IN ({})",
            placeholders.join(", ")
        ),
        keys.iter().map(|(_, key)| Value::from(key.to_vec())),
    );
    let mut refused = None;
    for row in db.query_all_raw(statement).await? {
        let stored: Vec<u8> = row.try_get("", "key")?;
        let Some((budget, _)) = keys.iter().find(|(_, key)| key[..] == stored[..]) else {
            continue;
        };
        let failures: i32 = row.try_get("", "failures")?;
        let window = Window {
            started: row.try_get("", "window_started_at")?,
            failures: u32::try_from(failures).unwrap_or(0),
        };
        if let Some(exhausted) = spent(budget, window, now) {
            refused = Some(longest(refused, exhausted));
        }
    }
    Ok(refused)
}

/// The shared step, one atomic upsert: a new key or an expired window
/// starts at 1, a current one counts up (to one past the budget at most),
/// and a count past the budget means it was spent before this unit.
async fn take_shared(
    db: &DatabaseConnection,
    budget: &Budget,
    key: BudgetKey,
    now: DateTime<Utc>,
) -> Result<Result<(), Exhausted>, Error> {
    let max = i32::try_from(budget.max_failures).unwrap_or(i32::MAX - 1);
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO failure_budget AS b (key, window_started_at, failures) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN b.window_started_at <= $3 THEN 1 \
                           ELSE LEAST(b.failures + 1, $4 + 1) END, \
           window_started_at = CASE WHEN b.window_started_at <= $3 THEN $2 \
                                    ELSE b.window_started_at END \
         RETURNING window_started_at, failures",
        [
            Value::from(key.to_vec()),
            Value::from(now),
            Value::from(now - budget.window()),
            Value::from(max),
        ],
    );
    let row = db
        .query_one_raw(statement)
        .await?
        .ok_or_else(|| Error::internal("failure budget upsert returned no row"))?;
    let failures: i32 = row.try_get("", "failures")?;
    if failures <= max {
        return Ok(Ok(()));
    }
    let window = Window {
        started: row.try_get("", "window_started_at")?,
        failures: budget.max_failures,
    };
    Ok(Err(spent(budget, window, now).unwrap_or(Exhausted {
        retry_after: Duration::from_secs(1),
    })))
}

/// Deletes rows whose window ended over a day ago (longer than any budget).
async fn sweep_shared(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<(), Error> {
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "DELETE FROM failure_budget WHERE window_started_at < $1",
        [Value::from(now - chrono::Duration::days(1))],
    );
    db.execute_raw(statement).await?;
    Ok(())
}

/// Every budget lynk keeps.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// Failed bearer authentications (and credential-less requests) per
    /// client address.
    pub auth_per_ip: Budget,
    /// Failed password checks per account (email).
    pub password_per_account: Budget,
    /// Failed password checks per client address.
    pub password_per_ip: Budget,
}

/// The budgets and where they are counted, and the queue password checks
/// wait in before they are counted.
#[derive(Debug)]
pub struct RateLimits {
    pub budgets: Budgets,
    pub counts: FailureBudgets,
    pub password_checks: super::password::CheckQueue,
}

/// Seconds for a `Retry-After` header: rounded up, at least 1.
pub fn retry_after_secs(retry_after: Duration) -> u64 {
    (retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Budget = Budget {
        name: "test",
        max_failures: 3,
        window: Duration::from_secs(60),
    };
    const OTHER: Budget = Budget {
        name: "other",
        max_failures: 1,
        window: Duration::from_secs(600),
    };

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    async fn remaining(
        budgets: &FailureBudgets,
        budget: Budget,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Exhausted> {
        // Take a unit and give it back: what a check would say.
        let reservation = budgets.reserve(&[(budget, key)], now).await.unwrap()?;
        budgets.refund(reservation).await.unwrap();
        Ok(())
    }

    #[test]
    fn the_budget_is_per_key_and_window() {
        block_on(async {
            let budgets = FailureBudgets::in_memory(DEFAULT_MEMORY_CAPACITY);
            let t0 = Utc::now();
            for _ in 0..3 {
                let r = budgets.reserve(&[(BUDGET, "a")], t0).await.unwrap();
                assert!(r.is_ok());
            }
            let refused = budgets.reserve(&[(BUDGET, "a")], t0).await.unwrap();
            assert_eq!(refused.unwrap_err().retry_after, Duration::from_secs(60));
            let later = t0 + chrono::Duration::seconds(20);
            assert_eq!(
                remaining(&budgets, BUDGET, "a", later).await,
                Err(Exhausted {
                    retry_after: Duration::from_secs(40)
                })
            );
            assert!(remaining(&budgets, BUDGET, "b", t0).await.is_ok());
            // A new window starts afresh.
            let next = t0 + chrono::Duration::seconds(61);
            assert!(remaining(&budgets, BUDGET, "a", next).await.is_ok());
            let _ = budgets.reserve(&[(BUDGET, "a")], next).await.unwrap();
            assert!(remaining(&budgets, BUDGET, "a", next).await.is_ok());
        });
    }

    #[test]
    fn a_success_gives_its_unit_back() {
        block_on(async {
            let budgets = FailureBudgets::in_memory(DEFAULT_MEMORY_CAPACITY);
            let t0 = Utc::now();
            for _ in 0..10 {
                let r = budgets.reserve(&[(BUDGET, "a")], t0).await.unwrap();
                budgets.refund(r.unwrap()).await.unwrap();
            }
            assert!(remaining(&budgets, BUDGET, "a", t0).await.is_ok());
        });
    }

    #[test]
    fn a_reservation_takes_all_or_nothing() {
        block_on(async {
            let budgets = FailureBudgets::in_memory(DEFAULT_MEMORY_CAPACITY);
            let t0 = Utc::now();
            let spent = budgets.reserve(&[(OTHER, "ip")], t0).await.unwrap();
            assert!(spent.is_ok());
            // The address is spent: the account's unit is given back.
            for _ in 0..5 {
                let r = budgets
                    .reserve(&[(BUDGET, "victim"), (OTHER, "ip")], t0)
                    .await
                    .unwrap();
                assert_eq!(r.unwrap_err().retry_after, Duration::from_secs(600));
            }
            for _ in 0..3 {
                assert!(remaining(&budgets, BUDGET, "victim", t0).await.is_ok());
                let _ = budgets.reserve(&[(BUDGET, "victim")], t0).await.unwrap();
            }
            assert!(remaining(&budgets, BUDGET, "victim", t0).await.is_err());
        });
    }

    #[test]
    fn keys_are_fixed_size_and_per_budget() {
        let huge = "x".repeat(5 << 20);
        assert_eq!(BUDGET.key(&huge).len(), 16);
        assert_ne!(BUDGET.key("a"), OTHER.key("a"));
        assert_ne!(BUDGET.key("a"), BUDGET.key("b"));
    }

    fn windows(capacity: usize) -> MemoryWindows {
        MemoryWindows {
            capacity,
            budgets: HashMap::new(),
        }
    }

    fn charge(windows: &mut MemoryWindows, key: &str, at: DateTime<Utc>) -> Result<(), Exhausted> {
        windows.charge_all(&[(BUDGET, BUDGET.key(key))], at)
    }

    fn tracked(windows: &MemoryWindows, budget: Budget, key: &str) -> Option<Window> {
        windows
            .budgets
            .get(budget.name)?
            .get(&budget.key(key))
            .copied()
    }

    #[test]
    fn memory_is_bounded() {
        let mut windows = windows(100);
        let t0 = Utc::now();
        for i in 0..1000 {
            let at = t0 + chrono::Duration::milliseconds(i);
            charge(&mut windows, &i.to_string(), at).unwrap();
            assert!(windows.budgets[BUDGET.name].len() <= 100);
        }
        // The newest key is still counted.
        assert!(tracked(&windows, BUDGET, "999").is_some());
    }

    #[test]
    fn a_spent_window_is_never_evicted_before_it_expires() {
        let mut windows = windows(100);
        let t0 = Utc::now();
        for _ in 0..3 {
            charge(&mut windows, "victim", t0).unwrap();
        }
        // Ten times the capacity in new keys, some of them counted twice:
        // the fewest failures go first, the spent window never.
        for i in 0..1000 {
            let at = t0 + chrono::Duration::milliseconds(i);
            charge(&mut windows, &i.to_string(), at).unwrap();
            if i % 2 == 0 {
                charge(&mut windows, &i.to_string(), at).unwrap();
            }
        }
        let later = t0 + chrono::Duration::seconds(2);
        assert_eq!(
            charge(&mut windows, "victim", later),
            Err(Exhausted {
                retry_after: Duration::from_secs(58)
            })
        );
        // Once it expires, it is counted afresh.
        let next = t0 + chrono::Duration::seconds(60);
        assert_eq!(charge(&mut windows, "victim", next), Ok(()));
    }

    #[test]
    fn a_budget_full_of_spent_windows_refuses_new_keys() {
        let mut windows = windows(3);
        let t0 = Utc::now();
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            let at = t0 + chrono::Duration::seconds(i as i64);
            for _ in 0..3 {
                charge(&mut windows, key, at).unwrap();
            }
        }
        let later = t0 + chrono::Duration::seconds(10);
        // No room until "a", the first spent window, expires.
        assert_eq!(
            charge(&mut windows, "new", later),
            Err(Exhausted {
                retry_after: Duration::from_secs(50)
            })
        );
        assert!(tracked(&windows, BUDGET, "new").is_none());
        for key in ["a", "b", "c"] {
            assert!(charge(&mut windows, key, later).is_err(), "{key}");
        }
        let after = t0 + chrono::Duration::seconds(60);
        assert_eq!(charge(&mut windows, "new", after), Ok(()));
    }

    #[test]
    fn every_budget_is_checked_before_any_is_charged() {
        let mut windows = windows(100);
        let t0 = Utc::now();
        windows.charge_all(&[(OTHER, OTHER.key("ip"))], t0).unwrap();
        // The address is spent: a new account gets no entry at all.
        let refused =
            windows.charge_all(&[(OTHER, OTHER.key("ip")), (BUDGET, BUDGET.key("new"))], t0);
        assert_eq!(refused.unwrap_err().retry_after, Duration::from_secs(600));
        assert!(tracked(&windows, BUDGET, "new").is_none());
        // The account is spent: the address is not charged.
        for _ in 0..3 {
            charge(&mut windows, "victim", t0).unwrap();
        }
        let before = tracked(&windows, OTHER, "other-ip");
        let refused = windows.charge_all(
            &[
                (OTHER, OTHER.key("other-ip")),
                (BUDGET, BUDGET.key("victim")),
            ],
            t0,
        );
        assert!(refused.is_err());
        assert_eq!(
            tracked(&windows, OTHER, "other-ip").map(|w| w.failures),
            before.map(|w| w.failures)
        );
        assert!(before.is_none());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(40)), 40);
        assert_eq!(retry_after_secs(Duration::from_millis(40_500)), 41);
    }
}
