//! Logging setup: `RUST_LOG` filters, `LYNK_LOG_FORMAT=json|pretty` picks
//! the format. Logs go to standard error, in colour only at a terminal;
//! standard output is kept for what the CLI prints (credentials at
//! bootstrap, the SDL).

use std::io::IsTerminal;

use axum::http::Request;
use tracing::Span;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::{EnvFilter, fmt};

/// Header carrying the request id (set by the request-id layer, or kept
/// from the caller).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// [`REQUEST_ID_HEADER`] as a header name, for lookups on the request
/// path: a `&str` key is parsed and validated on every lookup.
pub const REQUEST_ID: axum::http::HeaderName =
    axum::http::HeaderName::from_static(REQUEST_ID_HEADER);

mod line;

/// The filter without `RUST_LOG`: `info`, but the migration runner's
/// step-by-step lines (a dozen at every start) only as warnings, as lynk
/// itself says when migrations were applied; and PostgreSQL's notices
/// (`relation "seaql_migrations" already exists, skipping` at every
/// start) only from `WARNING` up.
pub const DEFAULT_FILTER: &str = "info,sea_orm_migration=warn,sqlx::postgres::notice=warn";

/// Installs the global subscriber. Call once, from `main`, and keep what
/// it returns until the end: dropping it writes out the lines still
/// queued.
///
/// Lines are written by a thread of their own (tracing-appender's
/// non-blocking writer), so that a request never waits on `write(2)` to
/// standard error; the queue holds 128,000 lines and, when full, the
/// logging thread waits rather than lose one. Off a terminal the line is
/// [`line::Line`], a plain-text format that costs a fraction of the
/// default one; at a terminal, the default with colours.
pub fn init() -> WorkerGuard {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let json = std::env::var("LYNK_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("lynk-log")
        .finish(std::io::stderr());
    // A log line that cannot be written (standard error closed, its pipe's
    // reader gone) is dropped: tracing-subscriber's default would report
    // it with `eprintln!`, which panics on the same closed stream, and
    // every request writes a line.
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .log_internal_errors(false);
    if json {
        builder
            .with_ansi(false)
            .json()
            .with_current_span(true)
            .init();
    } else if std::io::stderr().is_terminal() {
        // Colours are for people at a terminal (`NO_COLOR` turns them off
        // there too).
        builder.init();
    } else {
        builder
            .with_ansi(false)
            .fmt_fields(line::PlainFields)
            .event_format(line::Line)
            .init();
    }
    guard
}

/// The span of one HTTP request, so that every log line written while it
/// is handled carries its request id (the `x-request-id` the client also
/// gets back). Method and path only: headers and the query string can hold
/// credentials and are never logged.
pub fn request_span<B>(request: &Request<B>) -> Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    )
}
