//! Logging setup: `RUST_LOG` filters, `LYNK_LOG_FORMAT=json|pretty` picks
//! the format. Logs go to standard error, in colour only at a terminal;
//! standard output is kept for what the CLI prints (credentials at
//! bootstrap, the SDL).

use std::io::IsTerminal;

use axum::http::Request;
use tracing::Span;
use tracing_subscriber::{EnvFilter, fmt};

/// Header carrying the request id (set by the request-id layer, or kept
/// from the caller).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Installs the global subscriber. Call once, from `main`.
pub fn init() {
    // Without RUST_LOG: `info`, but the migration runner's step-by-step
    // lines (a dozen at every start) only as warnings; lynk itself says
    // when migrations were applied.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sea_orm_migration=warn"));
    let json = std::env::var("LYNK_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // A log line that cannot be written (standard error closed, its pipe's
    // reader gone) is dropped: tracing-subscriber's default would report
    // it with `eprintln!`, which panics on the same closed stream, and
    // every request writes a line.
    let mut builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    // Colours are for people at a terminal; a log file or a collector gets
    // plain text (and `NO_COLOR` turns them off at a terminal too).
    if !std::io::stderr().is_terminal() {
        builder = builder.with_ansi(false);
    }
    if json {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
}

/// The span of one HTTP request, so that every log line written while it
/// is handled carries its request id (the `x-request-id` the client also
/// gets back). Method and path only: headers and the query string can hold
/// credentials and are never logged.
pub fn request_span<B>(request: &Request<B>) -> Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    )
}
