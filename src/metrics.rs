//! Prometheus metrics, served at `GET /metrics`.
//!
//! Operators running many lynk instances need to see what each is doing:
//! request rates and latencies, how authentication fails (a burst of
//! `unknown` is someone trying leaked or guessed tokens, `revoked` a
//! pipeline still using an old secret) and whether the database pool is
//! saturated. Values are recorded with the `metrics` facade where things
//! happen and rendered in the Prometheus text format by [`scrape`].
//!
//! `/metrics` needs no credential, like `/healthz`: it reveals traffic
//! shapes, never a secret, but it belongs on a private network (see the
//! README, "Deploying").

use std::{
    cell::RefCell,
    collections::HashMap,
    sync::OnceLock,
    time::{Duration, Instant},
};

use ::metrics::{
    Counter, Histogram, counter, describe_counter, describe_gauge, describe_histogram, gauge,
    histogram,
};
use async_graphql::parser::types::OperationType;
use axum::{
    extract::State,
    http::{HeaderValue, Method, Request, header},
    response::{IntoResponse, Response},
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sea_orm::{DatabaseConnection, DatabaseConnectionType};

use crate::{routes, state::AppState};

/// Requests answered, by `method`, `route` and `status`.
pub const HTTP_REQUESTS: &str = "lynk_http_requests_total";
/// Time to answer a request (until the response head), by `method` and `route`.
pub const HTTP_REQUEST_DURATION: &str = "lynk_http_request_duration_seconds";
/// GraphQL operations received, by `operation_type`.
pub const GRAPHQL_OPERATIONS: &str = "lynk_graphql_operations_total";
/// Credential checks of `/lynkapi`, by `outcome` and `reason`.
pub const AUTHENTICATIONS: &str = "lynk_auth_total";
/// Open connections of the database pool.
pub const DB_POOL_CONNECTIONS: &str = "lynk_db_pool_connections";
/// Idle connections of the database pool.
pub const DB_POOL_IDLE_CONNECTIONS: &str = "lynk_db_pool_idle_connections";
/// The pool's `--db-max-connections`.
pub const DB_POOL_MAX_CONNECTIONS: &str = "lynk_db_pool_max_connections";
/// Token uses not written to `lastUsedAt` because the buffer was full.
pub const LAST_USED_DROPPED: &str = "lynk_last_used_dropped_total";
/// Counter: webhook delivery attempts, by what they left the delivery as
/// (counted by the sender, which names it).
pub use crate::webhook::sender::WEBHOOK_ATTEMPTS;
/// Gauge: webhook deliveries waiting to be sent (sampled at scrape).
pub const WEBHOOK_PENDING: &str = "lynk_webhook_deliveries_pending";

/// Latency buckets in seconds: from a cached-path query (a few ms) to an
/// argon2 login on a busy machine.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples recorded since the last scrape are folded
/// into their buckets, so memory stays flat when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the process-wide recorder, once, and returns its handle. The
/// `metrics` recorder is global, and tests build many applications in one
/// process, so later calls return the first handle.
pub fn install() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        // Buckets make the latency a Prometheus histogram (aggregatable
        // across instances) rather than a per-process summary. Setting them
        // only fails on an empty list.
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_REQUEST_DURATION.into()), LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if let Err(err) = ::metrics::set_global_recorder(recorder) {
            tracing::warn!(error = %err, "another metrics recorder is installed; /metrics stays empty");
        }
        describe();
        spawn_upkeep(handle.clone());
        handle
    })
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route and status."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        ::metrics::Unit::Seconds,
        "Time to answer an HTTP request, by method and route."
    );
    describe_counter!(
        GRAPHQL_OPERATIONS,
        "GraphQL operations received, by operation type."
    );
    describe_counter!(
        AUTHENTICATIONS,
        "Credential checks of /lynkapi, by outcome (ok, anonymous, unauthorized, forbidden, \
         error) and reason (the credential kind when ok, else why it failed)."
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Open database connections in the pool."
    );
    describe_gauge!(
        DB_POOL_IDLE_CONNECTIONS,
        "Idle database connections in the pool."
    );
    describe_gauge!(
        DB_POOL_MAX_CONNECTIONS,
        "Largest size of the database pool."
    );
    describe_counter!(
        WEBHOOK_ATTEMPTS,
        "Webhook delivery attempts, by outcome (success, failure) and the status they left \
         the delivery in (delivered, retrying, failed)."
    );
    describe_gauge!(
        WEBHOOK_PENDING,
        "Webhook deliveries of this database waiting for their first or next attempt."
    );
    describe_counter!(
        LAST_USED_DROPPED,
        "Token uses not recorded in lastUsedAt because the buffer of uses waiting to be \
         written was full."
    );
}

/// A plain thread rather than a task: the recorder outlives any one Tokio
/// runtime (tests run one per test).
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("lynk-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "could not start metrics upkeep; histograms drain on scrape only");
    }
}

/// `GET /metrics`: samples the database pool and the `lastUsedAt`
/// recorder, and renders every metric in the Prometheus text format.
pub async fn scrape(State(state): State<AppState>) -> Response {
    sample_pool(&state.db);
    sample_pending_deliveries(&state.db).await;
    // The recorder counts its own drops (auth does not record metrics).
    counter!(LAST_USED_DROPPED).absolute(state.last_used.dropped());
    let body = install().render();
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Sets [`WEBHOOK_PENDING`] from the database: one indexed count per
/// scrape (`ix_webhook_delivery_due`). While the database is unreachable
/// the gauge keeps its last value.
async fn sample_pending_deliveries(db: &sea_orm::DatabaseConnection) {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let counted = crate::entity::webhook_delivery::Entity::find()
        .filter(
            crate::entity::webhook_delivery::Column::Status
                .eq(crate::entity::webhook_delivery::DeliveryStatus::Pending),
        )
        .count(db)
        .await;
    match counted {
        Ok(pending) => gauge!(WEBHOOK_PENDING).set(pending as f64),
        Err(err) => tracing::debug!(error = %err, "counting pending webhook deliveries failed"),
    }
}

/// Sets the pool gauges from the sqlx pool behind the connection.
fn sample_pool(db: &DatabaseConnection) {
    let (size, idle, max) = match &db.inner {
        DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
            let pool = db.get_sqlite_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
            let pool = db.get_postgres_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        _ => return,
    };
    gauge!(DB_POOL_CONNECTIONS).set(f64::from(size));
    gauge!(DB_POOL_IDLE_CONNECTIONS).set(idle as f64);
    gauge!(DB_POOL_MAX_CONNECTIONS).set(f64::from(max));
}

/// Counts and times one HTTP request (see `middleware`). Labels are
/// bounded: known methods and routes, else `other`.
pub struct HttpTiming {
    method: &'static str,
    route: &'static str,
    started: Instant,
}

impl HttpTiming {
    /// Starts timing `request`.
    pub fn start<B>(request: &Request<B>) -> HttpTiming {
        HttpTiming {
            method: method_label(request.method()),
            route: route_label(request.uri().path()),
            started: Instant::now(),
        }
    }

    /// Records the request, answered with `response`.
    pub fn finish(self, response: &Response) {
        let HttpTiming {
            method,
            route,
            started,
        } = self;
        let status = response.status().as_u16();
        with_handles(|handles| {
            handles
                .http_requests
                .entry((method, route, status))
                .or_insert_with(|| {
                    let status = status.to_string();
                    counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status)
                })
                .increment(1);
            handles
                .http_durations
                .entry((method, route))
                .or_insert_with(
                    || histogram!(HTTP_REQUEST_DURATION, "method" => method, "route" => route),
                )
                .record(started.elapsed().as_secs_f64());
        });
    }
}

/// Handles of the labelled metrics recorded on every request, kept per
/// thread: looking a handle up in the recorder hashes its name and labels
/// and takes a shared lock, a cost paid here once per label set and thread.
/// Every key is a bounded label set (see [`HttpTiming`] and the `record_*`
/// functions), so each map stays small. The keys are lynk's own labels,
/// never a client's input, so they are hashed with foldhash rather than
/// the standard library's SipHash, which costs several times more on the
/// four lookups of every request.
#[derive(Default)]
struct Handles {
    http_requests: FastMap<(&'static str, &'static str, u16), Counter>,
    http_durations: FastMap<(&'static str, &'static str), Histogram>,
    operations: FastMap<&'static str, Counter>,
    authentications: FastMap<(&'static str, &'static str), Counter>,
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

fn with_handles(record: impl FnOnce(&mut Handles)) {
    thread_local! {
        static HANDLES: RefCell<Handles> = RefCell::default();
    }
    // Handles taken before the recorder exists would count into nothing.
    install();
    HANDLES.with(|handles| record(&mut handles.borrow_mut()));
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// The route a path is counted under: one lynk serves, else `other`, so
/// that a scanner probing random paths cannot grow the label set.
fn route_label(path: &str) -> &'static str {
    if path.starts_with(routes::ASSET_PREFIX) {
        return "/lynkapi/assets";
    }
    if path.starts_with(routes::CONSOLE_ASSET_PREFIX) {
        return "/console";
    }
    routes::FIXED
        .iter()
        .find(|route| **route == path)
        .copied()
        .unwrap_or("other")
}

/// Counts a GraphQL operation by type; `invalid` when the document does
/// not parse or names no operation it contains.
pub fn record_graphql_operation(operation_type: Option<OperationType>) {
    let label = match operation_type {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "invalid",
    };
    with_handles(|handles| {
        handles
            .operations
            .entry(label)
            .or_insert_with(|| counter!(GRAPHQL_OPERATIONS, "operation_type" => label))
            .increment(1);
    });
}

/// Counts the outcome of a request's credential check, by the labels
/// `auth::guard` gives it (`outcome`, `reason`).
pub fn record_authentication((outcome, reason): (&'static str, &'static str)) {
    with_handles(|handles| {
        handles
            .authentications
            .entry((outcome, reason))
            .or_insert_with(|| counter!(AUTHENTICATIONS, "outcome" => outcome, "reason" => reason))
            .increment(1);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(route_label("/lynkapi"), "/lynkapi");
        assert_eq!(route_label("/wp-admin/setup.php"), "other");
        assert_eq!(
            route_label("/lynkapi/assets/graphiql.min.js"),
            "/lynkapi/assets"
        );
        assert_eq!(route_label("/console/app.js"), "/console");
        assert_eq!(route_label("/"), "/");
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(route_label("/console/app.js"), "/console");
        assert_eq!(route_label("/"), "/");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
