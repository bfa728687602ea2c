//! Failure budgets that slow down guessing: failed authentications per
//! client address, failed password checks per account and per address.
//!
//! - **Reserved before the work.** A password check first takes one unit
//!   of every budget it counts against ([`FailureBudgets::reserve`]), then
//!   hashes; success gives the units back. So concurrent attempts can
//!   never run more checks than the budget, however many arrive at once.
//! - **Fixed-size keys.** A budget is keyed by a digest of its name and the
//!   key (an email, an address), so a huge input costs no memory and no
//!   email is kept.
//! - **Bounded.** In memory, each budget tracks at most [`MEMORY_CAPACITY`]
//!   keys: expired windows go first, then the oldest.
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

/// Most keys one in-memory budget tracks.
pub const MEMORY_CAPACITY: usize = 100_000;

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

/// Where the counts live.
#[derive(Debug)]
enum Store {
    Memory(Mutex<HashMap<BudgetKey, Window>>),
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
    /// Budgets in process memory.
    pub fn in_memory() -> FailureBudgets {
        FailureBudgets {
            store: Store::Memory(Mutex::new(HashMap::new())),
        }
    }

    /// Budgets shared through `db` where it is PostgreSQL (several
    /// instances); in memory otherwise.
    pub fn for_database(db: &DatabaseConnection) -> FailureBudgets {
        match db.get_database_backend() {
            DbBackend::Postgres => FailureBudgets {
                store: Store::Shared {
                    db: db.clone(),
                    reservations: AtomicU32::new(0),
                },
            },
            _ => FailureBudgets::in_memory(),
        }
    }

    /// Takes one unit from each `(budget, key)`, all or none: when one is
    /// spent, the units already taken are given back and the answer is the
    /// longest wait.
    pub async fn reserve(
        &self,
        wanted: &[(Budget, &str)],
        now: DateTime<Utc>,
    ) -> Result<Result<Reservation, Exhausted>, Error> {
        let mut reservation = Reservation { taken: Vec::new() };
        let mut refused: Option<Exhausted> = None;
        for (budget, key) in wanted {
            let key = budget.key(key);
            match self.take(budget, key, now).await? {
                Ok(()) => reservation.taken.push((*budget, key)),
                Err(exhausted) => {
                    refused = Some(match refused {
                        Some(r) if r.retry_after >= exhausted.retry_after => r,
                        _ => exhausted,
                    });
                }
            }
        }
        match refused {
            None => Ok(Ok(reservation)),
            Some(exhausted) => {
                self.refund(reservation).await?;
                Ok(Err(exhausted))
            }
        }
    }

    /// Gives back what a reservation took (the attempt succeeded).
    pub async fn refund(&self, reservation: Reservation) -> Result<(), Error> {
        for (_, key) in reservation.taken {
            match &self.store {
                Store::Memory(windows) => {
                    if let Some(w) = lock(windows).get_mut(&key) {
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
        self.take(&budget, budget.key(key), now).await
    }

    /// Counts one unit; `Err` when the window's budget was already spent.
    async fn take(
        &self,
        budget: &Budget,
        key: BudgetKey,
        now: DateTime<Utc>,
    ) -> Result<Result<(), Exhausted>, Error> {
        match &self.store {
            Store::Memory(windows) => Ok(take_in_memory(&mut lock(windows), budget, key, now)),
            Store::Shared { db, reservations } => {
                if reservations.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == 0 {
                    sweep_shared(db, now).await?;
                }
                take_shared(db, budget, key, now).await
            }
        }
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

/// The in-memory step: refuse when spent, else count one (starting a new
/// window when the old one is over), within the capacity.
fn take_in_memory(
    windows: &mut HashMap<BudgetKey, Window>,
    budget: &Budget,
    key: BudgetKey,
    now: DateTime<Utc>,
) -> Result<(), Exhausted> {
    if let Some(window) = windows.get(&key).copied() {
        if let Some(exhausted) = spent(budget, window, now) {
            return Err(exhausted);
        }
    } else if windows.len() >= MEMORY_CAPACITY {
        make_room(windows, budget, now);
    }
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
    Ok(())
}

/// Drops expired windows; when none expired, the oldest tenth.
fn make_room(windows: &mut HashMap<BudgetKey, Window>, budget: &Budget, now: DateTime<Utc>) {
    let window = budget.window();
    windows.retain(|_, w| now - w.started < window);
    if windows.len() >= MEMORY_CAPACITY {
        let mut starts: Vec<DateTime<Utc>> = windows.values().map(|w| w.started).collect();
        let tenth = starts.len() / 10;
        starts.select_nth_unstable(tenth);
        let cutoff = starts[tenth];
        windows.retain(|_, w| w.started > cutoff);
    }
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

/// The budgets and where they are counted.
#[derive(Debug)]
pub struct RateLimits {
    pub budgets: Budgets,
    pub counts: FailureBudgets,
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
            let budgets = FailureBudgets::in_memory();
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
            let budgets = FailureBudgets::in_memory();
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
            let budgets = FailureBudgets::in_memory();
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

    #[test]
    fn memory_is_bounded() {
        let mut windows = HashMap::new();
        let t0 = Utc::now();
        for i in 0..MEMORY_CAPACITY + 1000 {
            let at = t0 + chrono::Duration::milliseconds(i as i64);
            let _ = take_in_memory(&mut windows, &BUDGET, BUDGET.key(&i.to_string()), at);
        }
        assert!(windows.len() <= MEMORY_CAPACITY);
        // The newest key is still counted.
        let newest = BUDGET.key(&(MEMORY_CAPACITY + 999).to_string());
        assert!(windows.contains_key(&newest));
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(40)), 40);
        assert_eq!(retry_after_secs(Duration::from_millis(40_500)), 41);
    }
}
