//! The key list as a file the operator keeps fresh (`--secret-scanning-keys`).
//!
//! Read once at start, where a bad file stops the server with the reason.
//! Read again when a report names a key the list does not hold (or holds
//! as no longer current), so that a cron job that refreshes the file is
//! picked up without a restart; at most once per [`RELOAD_INTERVAL`],
//! so that made-up key identifiers cannot make lynk read the disk on
//! every request. A file that turns bad later is logged and the keys
//! already loaded stay in use.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use super::keys::{PublicKeys, Rejection};

/// Least time between two reloads caused by unknown keys.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(60);

/// The key list and where it came from.
#[derive(Debug)]
pub struct KeyFile {
    path: PathBuf,
    keys: RwLock<Arc<PublicKeys>>,
    /// When the last reload began; `None` before the first.
    last_reload: Mutex<Option<Instant>>,
}

/// A key file that cannot be used at start.
#[derive(Debug, thiserror::Error)]
#[error("--secret-scanning-keys {path}: {reason}")]
pub struct KeyFileError {
    path: String,
    reason: String,
}

impl KeyFile {
    /// Reads and parses the file; the error names the file and the problem.
    pub fn load(path: &Path) -> Result<KeyFile, KeyFileError> {
        let error = |reason: String| KeyFileError {
            path: path.display().to_string(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|err| error(err.to_string()))?;
        let keys = PublicKeys::parse(&bytes).map_err(|err| error(err.to_string()))?;
        Ok(KeyFile {
            path: path.to_owned(),
            keys: RwLock::new(Arc::new(keys)),
            last_reload: Mutex::new(None),
        })
    }

    /// Checks a report's signature, reloading the file first when the key
    /// is unknown (or retired) and a reload is due.
    pub async fn verify(
        &self,
        key_id: &str,
        signature: &str,
        body: &[u8],
    ) -> Result<(), Rejection> {
        match self.current().verify(key_id, signature, body) {
            Err(rejection) if rejection.may_be_stale_list() && self.reload_if_due().await => {
                self.current().verify(key_id, signature, body)
            }
            outcome => outcome,
        }
    }

    fn current(&self) -> Arc<PublicKeys> {
        Arc::clone(&self.keys.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reloads the file if no reload began within [`RELOAD_INTERVAL`];
    /// says whether the keys were replaced.
    async fn reload_if_due(&self) -> bool {
        {
            let mut last = self.last_reload.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if !reload_due(*last, now) {
                return false;
            }
            *last = Some(now);
        }
        let parsed = match tokio::fs::read(&self.path).await {
            Ok(bytes) => PublicKeys::parse(&bytes).map_err(|err| err.to_string()),
            Err(err) => Err(err.to_string()),
        };
        match parsed {
            Ok(keys) => {
                tracing::info!(
                    path = %self.path.display(),
                    keys = keys.len(),
                    "secret-scanning keys reloaded"
                );
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
                true
            }
            Err(reason) => {
                tracing::warn!(
                    path = %self.path.display(),
                    %reason,
                    "secret-scanning keys file unusable; keeping the keys loaded before"
                );
                false
            }
        }
    }
}

/// Whether a reload may begin at `now`, the last one having begun at `last`.
fn reload_due(last: Option<Instant>, now: Instant) -> bool {
    last.is_none_or(|last| now.saturating_duration_since(last) >= RELOAD_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloads_are_at_least_a_minute_apart() {
        let now = Instant::now();
        assert!(reload_due(None, now));
        assert!(!reload_due(Some(now), now));
        assert!(!reload_due(
            Some(now),
            now + RELOAD_INTERVAL - Duration::from_millis(1)
        ));
        assert!(reload_due(Some(now), now + RELOAD_INTERVAL));
    }

    #[test]
    fn a_missing_or_bad_file_is_named_with_its_problem() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("keys.json");
        let err = KeyFile::load(&missing).unwrap_err().to_string();
        assert!(err.starts_with(&format!("--secret-scanning-keys {}: ", missing.display())));
        std::fs::write(&missing, br#"{"public_keys":[]}"#).unwrap();
        let err = KeyFile::load(&missing).unwrap_err().to_string();
        assert!(err.ends_with(": the list holds no public keys"), "{err}");
    }
}
