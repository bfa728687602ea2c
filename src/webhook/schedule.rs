//! When a failed delivery is tried again: the Standard Webhooks (Svix)
//! schedule, the first attempt at once and then after 5 seconds, 5
//! minutes, 30 minutes, 2 hours, 5 hours, 10 hours and 10 hours (about 27
//! hours in all), each wait spread by ±20% so that the deliveries of one
//! outage do not all come back at the same moment.

use std::time::Duration;

/// The waits after the first, second… failed attempt.
pub const RETRY_DELAYS: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// Attempts a delivery gets before it is `FAILED`.
pub const MAX_ATTEMPTS: i32 = RETRY_DELAYS.len() as i32 + 1;

/// How far a wait may stray from the schedule, either way.
pub const JITTER: f64 = 0.2;

/// The wait before the next attempt after attempt number `attempt`
/// (1-based) failed, or `None` when it was the last. `jitter` in `[-1, 1]`
/// scales the spread (a random draw in production, fixed in tests).
pub fn retry_after(attempt: i32, jitter: f64) -> Option<Duration> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    let delay = RETRY_DELAYS.get(index)?;
    Some(delay.mul_f64(1.0 + JITTER * jitter.clamp(-1.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_standard_schedule_then_gives_up() {
        let exact: Vec<_> = (1..MAX_ATTEMPTS)
            .map(|attempt| retry_after(attempt, 0.0).unwrap().as_secs())
            .collect();
        assert_eq!(exact, [5, 300, 1800, 7200, 18000, 36000, 36000]);
        assert_eq!(MAX_ATTEMPTS, 8);
        assert_eq!(retry_after(MAX_ATTEMPTS, 0.0), None);
        assert_eq!(retry_after(0, 0.0), None);
        assert_eq!(retry_after(-3, 0.0), None);
        let total: u64 = exact.iter().sum();
        assert!((26 * 3600..28 * 3600).contains(&total), "{total}");
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        assert_eq!(retry_after(1, -1.0), Some(Duration::from_secs(4)));
        assert_eq!(retry_after(1, 1.0), Some(Duration::from_secs(6)));
        assert_eq!(retry_after(2, 7.0), Some(Duration::from_secs(360)));
        assert_eq!(retry_after(2, -7.0), Some(Duration::from_secs(240)));
    }
}
