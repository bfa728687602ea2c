//! The paths lynk serves, named once for the router, the pages that link
//! to them and the metrics that label requests by them.

/// The web console's page.
pub const CONSOLE: &str = "/";
/// The console's scripts and stylesheet: this prefix plus a file name.
pub const CONSOLE_ASSET_PREFIX: &str = "/console/";
/// The GraphQL endpoint (docs/DESIGN.md §1), and GraphiQL for a browser.
pub const API: &str = "/lynkapi";
/// GraphiQL's scripts and stylesheets: this prefix plus a file name.
pub const ASSET_PREFIX: &str = "/lynkapi/assets/";
/// Liveness: the process answers.
pub const HEALTH: &str = "/healthz";
/// Readiness: the database answers.
pub const READY: &str = "/readyz";
/// Prometheus metrics.
pub const METRICS: &str = "/metrics";
/// Secret scanners report leaked tokens here (with `--secret-scanning-keys`).
pub const SECRET_SCANNING_REVOKE: &str = "/secret-scanning/revoke";
/// Anyone hands in lynk secrets they found, to have them revoked.
pub const PUBLIC_REVOKE: &str = "/tokens/revoke";

/// The public keys receipts are signed with (a JWKS).
pub const JWKS: &str = "/.well-known/jwks.json";

/// Every fixed path, for labels bounded to what exists.
pub const FIXED: &[&str] = &[
    CONSOLE,
    API,
    HEALTH,
    READY,
    METRICS,
    SECRET_SCANNING_REVOKE,
    PUBLIC_REVOKE,
    JWKS,
];
