//! Building and running the application: connect, migrate, bootstrap an
//! empty database, bind the listener, serve until a shutdown signal.

use std::{io::Write, net::SocketAddr, time::Duration};

use axum::{
    Router,
    extract::State,
    http::{HeaderName, StatusCode},
    routing::get,
};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{
    config::ServeArgs,
    database,
    error::Error,
    graphql::{
        self,
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
    bootstrapped: Option<BootstrapOutcome>,
}

impl Application {
    /// Connects, migrates, bootstraps an empty database and binds.
    pub async fn build(config: ServeArgs) -> Result<Application, Error> {
        let db = database::connect(&config.database).await?;
        database::migrate(&db).await?;
        let bootstrapped = if bootstrap::is_empty(&db).await? {
            Some(
                bootstrap::bootstrap(
                    &db,
                    BootstrapRequest {
                        organization_name: config.bootstrap_org.clone(),
                        email: config.bootstrap_email.clone(),
                        user_name: None,
                        password: config.bootstrap_password.clone(),
                    },
                )
                .await?,
            )
        } else {
            None
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(Error::internal)?;
        let state = AppState {
            db: db.clone(),
            session_ttl: config.session_ttl,
        };
        Ok(Application {
            listener,
            router: router(state),
            db,
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
pub fn router(state: AppState) -> Router {
    let schema = graphql::build_schema(state.clone());
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let graphql_routes = Router::new()
        .route(
            "/lynkapi",
            get(graphql::handler::graphql).post(graphql::handler::graphql),
        )
        .with_state(GraphqlState {
            app: state.clone(),
            schema,
        });
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
        .merge(graphql_routes)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
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
