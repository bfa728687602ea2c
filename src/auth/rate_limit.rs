//! Counting failures to slow down guessing: failed authentications per
//! client address, failed logins per account and per address.
//!
//! Fixed windows in process memory: cheap (no database round trip on the
//! request path) and enough to make online guessing of 178-bit tokens or
//! passwords pointless. Each instance counts on its own, so N instances
//! behind a load balancer allow up to N times the budget; the limits are
//! set with that in mind.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Past this many tracked keys, expired windows are swept on insert.
const SWEEP_THRESHOLD: usize = 10_000;

/// A budget of failures per key and window.
#[derive(Debug)]
pub struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    windows: Mutex<HashMap<String, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl FailureLimiter {
    /// At most `max_failures` per `window` and key.
    pub fn new(max_failures: u32, window: Duration) -> FailureLimiter {
        FailureLimiter {
            max_failures,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` when `key` has used its budget in the current window.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        match windows.get(key) {
            Some(w)
                if now.duration_since(w.started) < self.window
                    && w.failures >= self.max_failures =>
            {
                Err(self.window - now.duration_since(w.started))
            }
            _ => Ok(()),
        }
    }

    /// Counts one failure for `key`.
    pub fn record_failure(&self, key: &str, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= SWEEP_THRESHOLD {
            let window = self.window;
            windows.retain(|_, w| now.duration_since(w.started) < window);
        }
        let entry = windows.entry(key.to_owned()).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.duration_since(entry.started) >= self.window {
            *entry = Window {
                started: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
    }
}

/// Every limiter lynk keeps.
#[derive(Debug)]
pub struct RateLimits {
    /// Failed bearer authentications per client address.
    pub auth_per_ip: FailureLimiter,
    /// Failed logins per account (email).
    pub login_per_account: FailureLimiter,
    /// Failed logins per client address.
    pub login_per_ip: FailureLimiter,
}

/// Seconds for a `Retry-After` header: rounded up, at least 1.
pub fn retry_after_secs(retry_after: Duration) -> u64 {
    retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_per_key_and_window() {
        let limiter = FailureLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("a", t0).is_ok());
            limiter.record_failure("a", t0);
        }
        assert_eq!(limiter.check("a", t0), Err(Duration::from_secs(60)));
        assert_eq!(
            limiter.check("a", t0 + Duration::from_secs(20)),
            Err(Duration::from_secs(40))
        );
        assert!(limiter.check("b", t0).is_ok());
        // A new window starts afresh.
        let later = t0 + Duration::from_secs(61);
        assert!(limiter.check("a", later).is_ok());
        limiter.record_failure("a", later);
        assert!(limiter.check("a", later).is_ok());
    }

    #[test]
    fn expired_windows_are_swept() {
        let limiter = FailureLimiter::new(1, Duration::from_secs(1));
        let t0 = Instant::now();
        for i in 0..SWEEP_THRESHOLD {
            limiter.record_failure(&i.to_string(), t0);
        }
        limiter.record_failure("late", t0 + Duration::from_secs(2));
        let windows = limiter.windows.lock().unwrap();
        assert_eq!(windows.len(), 1);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(40)), 40);
        assert_eq!(retry_after_secs(Duration::from_millis(40_500)), 41);
    }
}
