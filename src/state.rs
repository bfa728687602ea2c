//! What every request handler shares: the database pool and settings.

use std::time::Duration;

use sea_orm::DatabaseConnection;

/// Shared application state. Cheap to clone (the pool is reference-counted).
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// Lifetime of sessions issued by `login`.
    pub session_ttl: Duration,
}
