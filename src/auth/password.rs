//! Password hashing with argon2id (m=19 MiB, t=2, p=1), always off the
//! async runtime and with bounded concurrency, so a login flood cannot
//! starve authenticated traffic. Password checks wait for a hashing
//! thread in a bounded queue ([`CheckQueue`]): past it they are refused
//! at once, so a flood costs neither memory nor ever-growing waits.

use std::sync::{Arc, LazyLock};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::{SaltString, rand_core::OsRng},
};
use chrono::Utc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::rate_limit::RateLimits;
use crate::error::Error;

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest password accepted (bounds hashing work per request).
pub const MAX_PASSWORD_LEN: usize = 1024;

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id baseline; the parameters are constants, so this cannot fail.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes run on at most half the cores (at least one) at a time; waiting
/// logins queue here instead of crowding the blocking pool, so a login
/// flood leaves the other cores to authenticated traffic.
static HASHING: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Arc::new(Semaphore::new((cores / 2).max(1)))
});

/// Password checks in progress at once unless configured otherwise: room
/// for a burst of honest sign-ins, and at tens of milliseconds a hash, a
/// wait of a few seconds at most on one hashing thread.
pub const DEFAULT_QUEUE: usize = 128;

/// How long a refused password check is told to wait: the queue drains
/// continuously, so a second later there is room unless the flood goes on.
const QUEUE_RETRY_AFTER_SECS: u64 = 1;

/// The password checks one server admits at once, hashing or waiting for
/// a hashing thread. A check past the limit is refused before anything is
/// counted or hashed.
#[derive(Debug)]
pub struct CheckQueue {
    admitted: Arc<Semaphore>,
}

/// A check's place in the [`CheckQueue`], given back when dropped.
#[derive(Debug)]
pub struct QueuePlace(#[expect(dead_code, reason = "held for its drop")] OwnedSemaphorePermit);

impl CheckQueue {
    /// A queue admitting at most `limit` checks at once (0 refuses all).
    pub fn new(limit: usize) -> CheckQueue {
        CheckQueue {
            admitted: Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// A place in the queue, or `SERVICE_UNAVAILABLE` when it is full.
    pub fn admit(&self) -> Result<QueuePlace, Error> {
        self.admitted
            .clone()
            .try_acquire_owned()
            .map(QueuePlace)
            .map_err(|_| Error::Overloaded {
                retry_after_secs: QUEUE_RETRY_AFTER_SECS,
            })
    }
}

/// A hash of a random password, verified against when the email is
/// unknown so that timing does not reveal which emails exist.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(b"lynk-dummy-password-for-timing", &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// Generates a 24-character base62 password from the OS CSPRNG (the first
/// admin's, and a reset one).
pub fn generate_password() -> String {
    super::token_format::random_base62(24)
}

/// Checks the length rules; the message says what is valid.
pub fn validate_new_password(password: &str) -> Result<(), Error> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN || password.len() > MAX_PASSWORD_LEN {
        return Err(Error::bad_input(format!(
            "password must be between {MIN_PASSWORD_LEN} and {MAX_PASSWORD_LEN} characters long"
        )));
    }
    Ok(())
}

async fn run_bounded<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    let _permit = HASHING
        .clone()
        .acquire_owned()
        .await
        .map_err(Error::internal)?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(Error::internal)
}

/// Hashes a new password into a PHC string.
pub async fn hash_password(password: String) -> Result<String, Error> {
    run_bounded(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(e.to_string()))
    })
    .await?
}

/// Verifies `password` against `stored`, or against a dummy hash when there
/// is no user, so both cases cost the same.
pub async fn verify_password(stored: Option<String>, password: String) -> Result<bool, Error> {
    if password.len() > MAX_PASSWORD_LEN {
        return Ok(false);
    }
    run_bounded(move || {
        let (hash, known) = match &stored {
            Some(hash) => (hash.as_str(), true),
            None => (DUMMY_HASH.as_str(), false),
        };
        let matches = PasswordHash::new(hash)
            .map(|parsed| {
                argon2()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        known && matches
    })
    .await
}

/// Who a password check is counted against: the account (its email) and
/// the client address.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub email: &'a str,
    pub client: &'a str,
}

/// Verifies a password within the failure budgets (login,
/// `acceptInvitation` and `changePassword` share them): one unit of the
/// account's and the address's budgets is taken *before* hashing, so
/// concurrent guesses cannot exceed them, and given back on success.
/// `SERVICE_UNAVAILABLE` when the check queue is full (nothing counted);
/// `RATE_LIMITED` once either budget is spent.
pub async fn verify_within_budgets(
    limits: &RateLimits,
    attempt: Attempt<'_>,
    stored: Option<String>,
    password: String,
) -> Result<bool, Error> {
    let _place = limits.password_checks.admit().inspect_err(|_| {
        tracing::warn!("password check refused: the hashing queue is full");
    })?;
    let budgets = &limits.budgets;
    // The address first: an account is charged only once its address
    // allowed the attempt.
    let reservation = limits
        .counts
        .reserve(
            &[
                (budgets.password_per_ip, attempt.client),
                (budgets.password_per_account, attempt.email),
            ],
            Utc::now(),
        )
        .await?
        .map_err(|exhausted| {
            tracing::warn!("password check refused: failure budget spent");
            exhausted.into_error()
        })?;
    let verified = verify_password(stored, password).await?;
    if verified {
        limits.counts.refund(reservation).await?;
    }
    Ok(verified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_fail() {
        let hash = hash_password("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify_password(Some(hash.clone()), "correct horse battery".into())
                .await
                .unwrap()
        );
        assert!(!verify_password(Some(hash), "wrong".into()).await.unwrap());
        assert!(
            !verify_password(None, "lynk-dummy-password-for-timing".into())
                .await
                .unwrap()
        );
    }

    #[test]
    fn the_queue_admits_up_to_its_limit_and_refuses_at_once_past_it() {
        let queue = CheckQueue::new(2);
        let first = queue.admit().unwrap();
        let _second = queue.admit().unwrap();
        let refused = queue.admit().unwrap_err();
        assert_eq!(refused.code(), "SERVICE_UNAVAILABLE");
        assert_eq!(
            refused.message(),
            "The server is busy checking passwords; retry after 1 seconds"
        );
        drop(first);
        assert!(queue.admit().is_ok());
        assert!(CheckQueue::new(0).admit().is_err());
    }

    #[test]
    fn password_length_rules() {
        assert!(validate_new_password("short").is_err());
        assert!(validate_new_password("long enough password").is_ok());
        assert!(validate_new_password(&"x".repeat(1025)).is_err());
    }
}
