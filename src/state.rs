//! What every request handler shares: the database pool and settings.

use std::{sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;

use crate::{
    auth::{
        last_used::LastUsedRecorder, oidc::jwks::IssuerKeys, rate_limit::RateLimits,
        verify::Verifier,
    },
    receipt::keys::ReceiptKeys,
    webhook::seal::SealingKey,
};

/// Shared application state. Cheap to clone (the pool is reference-counted).
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// Resolves each request's credential (the one query of a request).
    pub verifier: Verifier,
    /// Token uses waiting to be written to `lastUsedAt`.
    pub last_used: Arc<LastUsedRecorder>,
    /// The address people reach lynk at, without a trailing slash
    /// (`--public-url`, or `http://` and the bound address).
    pub public_url: String,
    /// Lifetime of sessions issued by `login`.
    pub session_ttl: Duration,
    /// Largest SBOM document accepted, in bytes (`--max-sbom-bytes`).
    pub max_sbom_bytes: usize,
    /// Failure counters for brute-force protection.
    pub rate_limits: Arc<RateLimits>,
    /// Proxies trusted to append to `X-Forwarded-For`.
    pub trusted_proxy_hops: usize,
    /// OIDC issuers' keys, for trusted publishing.
    pub oidc_keys: Arc<IssuerKeys>,
    /// The server's encryption key (`--encryption-key`): seals webhook
    /// signing secrets and receipt signing keys at rest.
    pub encryption_key: SealingKey,
    /// The receipt signing keys (`receipt::keys`).
    pub receipt_keys: Arc<ReceiptKeys>,
    /// Webhooks may use `http` and non-public addresses (tests only).
    pub allow_private_webhook_urls: bool,
}
