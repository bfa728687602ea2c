//! What became of one attempt to send a delivery, and what follows from
//! it: delivered on a 2xx, otherwise tried again on the schedule until the
//! last attempt. Pure, but for reading a client error's causes.

use std::{error::Error as StdError, time::Duration};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;

use crate::webhook::{resolver::NotPublic, schedule};

/// Longest error text kept per attempt.
const MAX_ERROR_LEN: usize = 500;

/// What became of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// Why there was no 2xx answer to record, when there was none at all.
    pub error: Option<String>,
    /// Whether the delivery may be tried again after this failure.
    pub retry: bool,
}

impl Attempt {
    pub(super) fn answered(status: StatusCode) -> Attempt {
        Attempt {
            status: Some(status.as_u16()),
            error: None,
            retry: true,
        }
    }

    pub(super) fn failed(error: impl Into<String>) -> Attempt {
        let mut error: String = error.into();
        if error.len() > MAX_ERROR_LEN {
            let mut end = MAX_ERROR_LEN;
            while !error.is_char_boundary(end) {
                end -= 1;
            }
            error.truncate(end);
        }
        Attempt {
            status: None,
            error: Some(error),
            retry: true,
        }
    }

    /// A failure that no later attempt would change.
    pub(super) fn last(error: impl Into<String>) -> Attempt {
        Attempt {
            retry: false,
            ..Attempt::failed(error)
        }
    }

    pub(super) fn is_success(&self) -> bool {
        self.status
            .is_some_and(|status| (200..300).contains(&status))
    }
}

/// The delivery's state after attempt number `attempt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryAt(DateTime<Utc>),
    Failed,
}

/// Where a delivery goes after `outcome` of attempt `attempt` at `now`;
/// `jitter` in `[-1, 1]` spreads the wait.
pub fn next(attempt: i32, outcome: &Attempt, now: DateTime<Utc>, jitter: f64) -> Next {
    if outcome.is_success() {
        return Next::Delivered;
    }
    match schedule::retry_after(attempt, jitter) {
        Some(wait) if outcome.retry => chrono::Duration::from_std(wait)
            .ok()
            .and_then(|wait| now.checked_add_signed(wait))
            .map_or(Next::Failed, Next::RetryAt),
        _ => Next::Failed,
    }
}

/// Why a request got no answer, without its URL (the attempt is shown to
/// the webhook's owner, who knows it) and never with a header.
pub(super) fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("no answer within {}s", timeout.as_secs_f64());
    }
    let mut causes = Vec::new();
    let mut source: Option<&(dyn StdError + 'static)> = error.source();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<NotPublic>() {
            return refused.to_string();
        }
        causes.push(cause.to_string());
        source = cause.source();
    }
    if causes.is_empty() {
        "the request failed".to_owned()
    } else {
        causes.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Attempt {
        Attempt::answered(StatusCode::from_u16(code).unwrap())
    }

    #[test]
    fn a_2xx_delivers_and_anything_else_retries_until_the_last_attempt() {
        let now = Utc::now();
        assert_eq!(next(1, &status(200), now, 0.0), Next::Delivered);
        assert_eq!(next(8, &status(204), now, 0.0), Next::Delivered);
        assert_eq!(
            next(1, &status(500), now, 0.0),
            Next::RetryAt(now + chrono::Duration::seconds(5))
        );
        assert_eq!(
            next(2, &status(302), now, 0.0),
            Next::RetryAt(now + chrono::Duration::minutes(5))
        );
        assert_eq!(
            next(
                1,
                &Attempt::failed("address not public: 10.0.0.1"),
                now,
                0.0
            ),
            Next::RetryAt(now + chrono::Duration::seconds(5))
        );
        assert_eq!(next(8, &status(500), now, 0.0), Next::Failed);
        assert_eq!(
            next(1, &Attempt::last("webhook is disabled"), now, 0.0),
            Next::Failed
        );
    }

    #[test]
    fn errors_are_kept_short() {
        let long = Attempt::failed("é".repeat(MAX_ERROR_LEN));
        let error = long.error.unwrap();
        assert!(error.len() <= MAX_ERROR_LEN && error.starts_with('é'));
    }
}
