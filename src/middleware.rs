//! The HTTP middleware every route runs behind, outermost first: a request
//! id, the request's span, then one layer ([`around_request`]) for HTTP
//! metrics, the request deadline and panic containment.
//!
//! Parts of this are written here rather than taken from `tower-http`,
//! because the stock versions showed in the server's profile under load
//! (BENCHMARKS.md, "Decisions not to undo"):
//!
//! - [`RandomRequestId`] draws from the thread's random generator, where
//!   `MakeRequestUuid` makes a `getrandom` system call per request.
//! - [`within_deadline`] arms its timer only when a request does not
//!   finish in its first poll. `TimeoutLayer` registers and cancels a timer
//!   on the runtime's shared timer wheel for every request, which takes a
//!   lock the workers contend for and wakes the parked worker.
//! - Metrics, deadline and panic containment are plain functions composed
//!   in a single `from_fn` layer: each such layer clones the service stack
//!   below it and boxes a future, for every request.
//! - The layers are stacked with one `ServiceBuilder` and applied to the
//!   router at once, so that the router boxes each route's service once,
//!   not once per layer (the boxes are cloned for every request).

use std::{future::Future, panic::AssertUnwindSafe, task::Poll, time::Duration};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use futures_util::FutureExt;
use tower::ServiceBuilder;
use tower_http::{
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::telemetry::REQUEST_ID;

/// Wraps `routes` in lynk's middleware. A request that takes longer than
/// `request_timeout` is answered `408`.
pub fn with_middleware(routes: Router, request_timeout: Duration) -> Router {
    let request_id = REQUEST_ID;
    // One `Router::layer` call for the whole stack: each call boxes every
    // route's service once more, and each box is cloned for every request.
    routes.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(request_id.clone(), RandomRequestId))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(crate::telemetry::request_span::<axum::body::Body>)
                    // One line per request at `info`: status and duration,
                    // in the span that holds method, path and request id.
                    .on_response(log_response),
            )
            .layer(PropagateRequestIdLayer::new(request_id))
            .layer(middleware::from_fn_with_state(
                request_timeout,
                around_request,
            )),
    )
}

/// The target of the request line: `RUST_LOG=info,lynk::request=warn`
/// turns the line off and keeps the rest.
pub const REQUEST_LOG_TARGET: &str = "lynk::request";

/// The request's line: its status and how long it took, as integers
/// (tower-http's `DefaultOnResponse` formats the duration with its unit
/// through `fmt` for every request).
fn log_response<B>(response: &Response<B>, latency: Duration, _span: &tracing::Span) {
    tracing::info!(
        target: REQUEST_LOG_TARGET,
        status = response.status().as_u16(),
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        "finished processing request"
    );
}

/// Gives a request without an `x-request-id` a random UUID (version 4,
/// hyphenated), drawn from the thread's CSPRNG. A request id is not a
/// secret; it only needs to be unique.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        // Hex digits and hyphens: always a valid header value.
        HeaderValue::from_str(id.hyphenated().encode_lower(&mut text))
            .ok()
            .map(RequestId::new)
    }
}

/// Times and counts the request, answers `408` past `limit` and `500` on
/// a panic (both counted too).
async fn around_request(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let timing = crate::metrics::HttpTiming::start(&request);
    let deadline = tokio::time::Instant::now() + limit;
    let request_id = request.headers().get(REQUEST_ID).cloned();
    let response = within_deadline(deadline, contain_panics(request_id, next.run(request))).await;
    timing.finish(&response);
    response
}

/// Answers `408` when `response` is not ready by `deadline`. A response
/// ready at its first poll (verification on SQLite is inline, so most are)
/// never touches the runtime's timer; the others get a timer for the time
/// that is left.
async fn within_deadline(
    deadline: tokio::time::Instant,
    response: impl Future<Output = Response>,
) -> Response {
    let mut response = std::pin::pin!(response);
    if let Poll::Ready(response) = futures_util::poll!(response.as_mut()) {
        return response;
    }
    match tokio::time::timeout_at(deadline, response).await {
        Ok(response) => response,
        Err(_elapsed) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}

/// A panic in a handler or resolver becomes a generic 500 with the request
/// id; the cause goes to the log, and the server keeps serving.
async fn contain_panics(
    request_id: Option<HeaderValue>,
    response: impl Future<Output = Response>,
) -> Response {
    match AssertUnwindSafe(response).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let request_id = request_id
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            let cause = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            tracing::error!(request_id = %request_id, cause = %cause, "request panicked");
            let body = serde_json::json!({"errors": [{
                "message": "Internal server error",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
            }]});
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, routing::get};

    use crate::telemetry::REQUEST_ID_HEADER;
    use tower::ServiceExt;

    use super::*;

    async fn boom() -> &'static str {
        panic!("secret detail")
    }

    async fn call(app: &Router, path: &str) -> Response {
        app.clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_panic_is_a_generic_500_with_the_request_id() {
        let routes = Router::new()
            .route("/boom", get(boom))
            .route("/ok", get(|| async { "ok" }));
        let app = with_middleware(routes, Duration::from_secs(5));
        let response = app
            .clone()
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let request_id = response.headers()[REQUEST_ID_HEADER]
            .to_str()
            .unwrap()
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["errors"][0]["message"], "Internal server error");
        assert_eq!(
            json["errors"][0]["extensions"]["code"],
            "INTERNAL_SERVER_ERROR"
        );
        assert_eq!(
            json["errors"][0]["extensions"]["requestId"],
            request_id.as_str()
        );
        assert!(!String::from_utf8_lossy(&body).contains("secret detail"));
        // And the service keeps serving.
        let response = app
            .oneshot(Request::get("/ok").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn slow_requests_time_out_with_408() {
        let routes = Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late"
            }),
        );
        let app = with_middleware(routes, Duration::from_millis(50));
        let response = app
            .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test]
    async fn a_request_that_waits_but_finishes_in_time_is_answered() {
        let routes = Router::new().route(
            "/waits",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                "done"
            }),
        );
        let app = with_middleware(routes, Duration::from_secs(10));
        let response = call(&app, "/waits").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1 << 10)
            .await
            .unwrap();
        assert_eq!(&body[..], b"done");
    }

    #[tokio::test]
    async fn the_deadline_counts_from_the_start_of_the_request() {
        // Pending at the first poll, then slower than the limit: the time
        // spent before the timer was armed counts against the limit.
        let routes = Router::new().route(
            "/busy-then-slow",
            get(|| async {
                std::thread::sleep(Duration::from_millis(60));
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(60)).await;
                "late"
            }),
        );
        let app = with_middleware(routes, Duration::from_millis(100));
        let response = call(&app, "/busy-then-slow").await;
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test]
    async fn requests_get_distinct_version_4_ids_and_keep_their_own() {
        let app = with_middleware(
            Router::new().route("/ok", get(|| async { "ok" })),
            Duration::from_secs(5),
        );
        let mut ids = std::collections::HashSet::new();
        for _ in 0..3 {
            let response = call(&app, "/ok").await;
            let id = response.headers()[REQUEST_ID_HEADER].to_str().unwrap();
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version(), Some(uuid::Version::Random));
            assert_eq!(id, uuid.hyphenated().to_string());
            ids.insert(id.to_owned());
        }
        assert_eq!(ids.len(), 3);

        let response = app
            .oneshot(
                Request::get("/ok")
                    .header(REQUEST_ID_HEADER, "caller-chosen-id")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.headers()[REQUEST_ID_HEADER], "caller-chosen-id");
    }
}
