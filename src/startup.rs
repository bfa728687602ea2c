//! Building and running the application: connect, migrate, bootstrap an
//! empty database, bind the listener, serve until a shutdown signal.

use std::{io::Write, net::SocketAddr, panic::AssertUnwindSafe, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderName, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use futures_util::FutureExt;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{
    auth::{
        rate_limit::{FailureLimiter, RateLimits},
        verify::Verifier,
    },
    config::ServeArgs,
    database,
    error::Error,
    graphql::{
        self, QueryLimits,
        document_cache::DocumentCache,
        handler::{GraphqlState, REQUEST_ID_HEADER},
    },
    service::bootstrap::{self, BootstrapOutcome, BootstrapRequest},
    state::AppState,
};

/// A built application: migrated database, bound listener, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    db: DatabaseConnection,
    verifier: Verifier,
    bootstrapped: Option<BootstrapOutcome>,
}

impl Application {
    /// Connects, migrates, bootstraps an empty database and binds.
    pub async fn build(config: ServeArgs) -> Result<Application, Error> {
        let db = database::connect(&config.database).await?;
        Application::build_with_connection(config, db).await
    }

    /// [`Application::build`] on a pool the caller opened (a test attaches
    /// a statement counter to it this way).
    pub async fn build_with_connection(
        config: ServeArgs,
        db: DatabaseConnection,
    ) -> Result<Application, Error> {
        database::migrate(&db).await?;
        let bootstrapped = bootstrap::bootstrap_empty_database(
            &db,
            BootstrapRequest {
                organization_name: config.bootstrap_org.clone(),
                email: config.bootstrap_email.clone(),
                user_name: None,
                password: config.bootstrap_password.clone(),
            },
        )
        .await?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(Error::internal)?;
        let limits = &config.limits;
        let verifier = Verifier::new(db.clone());
        let state = AppState {
            db: db.clone(),
            verifier: verifier.clone(),
            session_ttl: config.session_ttl,
            max_sbom_bytes: config.max_sbom_bytes,
            trusted_proxy_hops: limits.trusted_proxy_hops,
            rate_limits: Arc::new(RateLimits {
                auth_per_ip: FailureLimiter::new(
                    limits.auth_failures_per_ip,
                    Duration::from_secs(600),
                ),
                login_per_account: FailureLimiter::new(
                    limits.login_failures_per_account,
                    Duration::from_secs(3600),
                ),
                login_per_ip: FailureLimiter::new(
                    limits.login_failures_per_ip,
                    Duration::from_secs(3600),
                ),
            }),
        };
        Ok(Application {
            listener,
            router: router(state, &config),
            db,
            verifier,
            bootstrapped,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// What the first start created, if this start bootstrapped the database.
    pub fn bootstrapped(&self) -> Option<&BootstrapOutcome> {
        self.bootstrapped.as_ref()
    }

    /// The database pool.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The credential verifier the server uses.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests
    /// and closes the pool.
    pub async fn run_until_stopped(self) -> Result<(), Error> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        tracing::info!(address = %self.local_addr(), "listening");
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::internal)?;
        self.db.close().await?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Prints the credentials created by a first start, once, to standard
/// output (never to the log).
pub fn print_bootstrap_banner(outcome: &BootstrapOutcome) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\nlynk bootstrapped organization \"{}\" ({})",
        outcome.organization.name, outcome.organization.id
    );
    let _ = writeln!(out, "  admin email:    {}", outcome.user.email);
    if let Some(password) = &outcome.password {
        let _ = writeln!(out, "  admin password: {password}");
    }
    let _ = writeln!(out, "  personal token (30 days): {}", outcome.token);
    let _ = writeln!(
        out,
        "These are shown once. Try:\n  export LYNK_TOKEN={}\n",
        outcome.token
    );
    let _ = out.flush();
}

/// The HTTP routes and middleware.
pub fn router(state: AppState, config: &ServeArgs) -> Router {
    let schemas = graphql::build_schemas(
        state.clone(),
        QueryLimits {
            depth: config.limits.max_query_depth,
            complexity: config.limits.max_query_complexity,
        },
    );
    let graphql_routes = Router::new()
        .route(
            "/lynkapi",
            get(graphql::handler::graphql).post(graphql::handler::graphql),
        )
        .layer(RequestBodyLimitLayer::new(body_limit(state.max_sbom_bytes)))
        .with_state(Arc::new(GraphqlState {
            app: state.clone(),
            schemas,
            documents: DocumentCache::default(),
        }));
    let routes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::metrics::scrape))
        .with_state(state)
        .merge(graphql_routes);
    with_middleware(routes, config.request_timeout)
}

/// Request ids, tracing, timeouts and panic containment, outermost first.
pub fn with_middleware(routes: Router, request_timeout: Duration) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    routes
        .layer(axum::middleware::from_fn(contain_panics))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(axum::middleware::from_fn(crate::metrics::track_http))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(crate::telemetry::request_span::<axum::body::Body>),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// A panic in a handler or resolver becomes a generic 500 with the request
/// id; the cause goes to the log, and the server keeps serving.
async fn contain_panics(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
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

/// The largest `/lynkapi` request body: an SBOM sent inline in a JSON
/// string can double in size through escaping, plus room for the query.
pub fn body_limit(max_sbom_bytes: usize) -> usize {
    max_sbom_bytes.saturating_mul(2).saturating_add(1024 * 1024)
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if database::ping(&state.db).await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
    // Give load balancers a moment to notice; in-flight requests finish regardless.
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    async fn boom() -> &'static str {
        panic!("secret detail")
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
}
