//! Building and running the application: connect, migrate, bootstrap an
//! empty database, bind the listener, serve until a shutdown signal.

use std::{io::Write, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    routing::get,
};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;

use crate::{
    auth::{
        guard::Guard,
        last_used::LastUsedRecorder,
        oidc::jwks::{IssuerKeys, OidcSettings},
        password::CheckQueue,
        rate_limit::{Budget, Budgets, FailureBudgets, RateLimits},
        verify::Verifier,
    },
    config::ServeArgs,
    database,
    error::Error,
    graphql::{
        self, QueryLimits, http::document_cache::DocumentCache, http::handler::GraphqlState,
    },
    receipt::{self, keys::ReceiptKeys},
    retention, routes,
    secret_scanning::{self, PublicRevocation, SecretScanning, key_file::KeyFile},
    service::bootstrap::{self, BootstrapOutcome, BootstrapRequest},
    state::AppState,
    webhook::{
        notices,
        sender::{Sender, SenderSettings},
    },
};

/// A built application: migrated database, bound listener, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    db: DatabaseConnection,
    verifier: Verifier,
    last_used: Arc<LastUsedRecorder>,
    /// The webhook sender; `None` with `--no-webhook-sender`.
    sender: Option<Sender>,
    bootstrapped: Option<BootstrapOutcome>,
}

impl Application {
    /// Connects, migrates, bootstraps an empty database and binds.
    pub async fn build(config: ServeArgs) -> Result<Application, Error> {
        let db = database::patiently(|| async {
            database::connect(&config.database)
                .await
                .map_err(Error::from)
        })
        .await?;
        Application::build_with_connection(config, db).await
    }

    /// [`Application::build`] on a pool the caller opened (a test attaches
    /// a statement counter to it this way).
    pub async fn build_with_connection(
        config: ServeArgs,
        db: DatabaseConnection,
    ) -> Result<Application, Error> {
        let scanning_keys = config
            .secret_scanning_keys
            .as_deref()
            .map(KeyFile::load)
            .transpose()
            .map_err(Error::internal)?;
        // Each step is idempotent; the lot is tried again while SQLite
        // answers "database is locked" (another instance starting on the
        // same file holds it longer than a statement's busy timeout).
        let (encryption_key, bootstrapped) = database::patiently(|| async {
            database::migrate(&db).await?;
            let encryption_key = crate::encryption_key::resolve(
                config.encryption_key.clone(),
                &config.database.database_url,
                &db,
            )
            .await?;
            receipt::keys::ensure(&db, &encryption_key).await?;
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
            Ok::<_, Error>((encryption_key, bootstrapped))
        })
        .await?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(Error::internal)?;
        let limits = &config.limits;
        let verifier = Verifier::new(
            db.clone(),
            database::verification_connections(config.database.db_max_connections),
        );
        let last_used = Arc::new(LastUsedRecorder::default());
        let oidc_keys = IssuerKeys::new(OidcSettings {
            allow_http_issuers: config.oidc_allow_http_issuers,
            min_refresh: config.oidc_min_refresh,
        })?;
        if config.allow_private_webhook_urls {
            tracing::warn!("webhooks may use http and private addresses (tests only)");
        }
        if config.oidc_allow_http_issuers {
            tracing::warn!("trusted publishers may name plain http OIDC issuers (tests only)");
        }
        let state = AppState {
            db: db.clone(),
            verifier: verifier.clone(),
            last_used: Arc::clone(&last_used),
            public_url: config.public_url.clone().unwrap_or_else(|| {
                format!("http://{}", listener.local_addr().unwrap_or(config.listen))
            }),
            session_ttl: config.session_ttl,
            max_sbom_bytes: config.max_sbom_bytes,
            trusted_proxy_hops: limits.trusted_proxy_hops,
            oidc_keys: Arc::new(oidc_keys),
            encryption_key: encryption_key.clone(),
            receipt_keys: Arc::new(ReceiptKeys::new(encryption_key.clone())),
            allow_private_webhook_urls: config.allow_private_webhook_urls,
            rate_limits: Arc::new(RateLimits {
                budgets: Budgets {
                    auth_per_ip: Budget {
                        name: "auth_per_ip",
                        max_failures: limits.auth_failures_per_ip,
                        window: Duration::from_secs(600),
                    },
                    password_per_account: Budget {
                        name: "password_per_account",
                        max_failures: limits.login_failures_per_account,
                        window: Duration::from_secs(3600),
                    },
                    password_per_ip: Budget {
                        name: "password_per_ip",
                        max_failures: limits.login_failures_per_ip,
                        window: Duration::from_secs(3600),
                    },
                },
                counts: FailureBudgets::for_database(&db, limits.failure_budget_keys),
                password_checks: CheckQueue::new(limits.password_check_queue),
            }),
        };
        let sender = (!config.no_webhook_sender)
            .then(|| {
                Sender::new(
                    db.clone(),
                    SenderSettings {
                        key: encryption_key,
                        allow_private: config.allow_private_webhook_urls,
                        lease: config.webhook_lease,
                    },
                )
            })
            .transpose()?;
        Ok(Application {
            listener,
            router: router(state, &config, scanning_keys),
            db,
            verifier,
            last_used,
            sender,
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

    /// Where the server records token uses for `lastUsedAt`.
    pub fn last_used(&self) -> &Arc<LastUsedRecorder> {
        &self.last_used
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests,
    /// writes the token uses they recorded and closes the pool.
    pub async fn run_until_stopped(self) -> Result<(), Error> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let address = self.local_addr();
        tracing::info!(
            %address,
            api = %format!("http://{address}/lynkapi"),
            console = %format!("http://{address}/ (in a browser)"),
            graphiql = %format!("http://{address}/lynkapi (in a browser)"),
            metrics = %format!("http://{address}/metrics"),
            health = %format!("http://{address}/healthz"),
            "listening on {address}"
        );
        // `lastUsedAt` is written behind the requests, until they are all
        // answered, and then once more before the pool closes.
        let (served, stop_recording) = tokio::sync::oneshot::channel::<()>();
        let (last_used, db) = (Arc::clone(&self.last_used), self.db.clone());
        let recording = tokio::spawn(async move {
            let stop = async {
                let _ = stop_recording.await;
            };
            last_used.flush_until(&db, stop).await;
        });
        // Webhooks are delivered and expiry notices announced apart from
        // the requests, until the server has stopped serving.
        let (stop_signals, signals_stopped) = tokio::sync::watch::channel(false);
        // Every instance prunes, webhooks or not: audit rows age too.
        let pruning = tokio::spawn(retention::run_until(
            self.db.clone(),
            until_stopped(signals_stopped.clone()),
        ));
        let mut signals = vec![tokio::spawn(notices::run_until(
            self.db.clone(),
            until_stopped(signals_stopped.clone()),
        ))];
        if let Some(sender) = self.sender {
            signals.push(tokio::spawn(
                sender.run_until(until_stopped(signals_stopped)),
            ));
        }
        let serving = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        let _ = served.send(());
        let _ = stop_signals.send(true);
        for task in signals {
            if let Err(err) = task.await {
                tracing::warn!(error = %err, "delivering webhooks stopped");
            }
        }
        if let Err(err) = pruning.await {
            tracing::warn!(error = %err, "pruning rows past retention stopped");
        }
        if let Err(err) = recording.await {
            tracing::warn!(error = %err, "recording token uses stopped");
        }
        serving.map_err(Error::internal)?;
        self.db.close().await?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes once `stopped` turns true (or its sender is gone).
async fn until_stopped(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stopped| *stopped).await;
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
        "These are shown once. Paste this line into your shell to use them:"
    );
    match &outcome.password {
        Some(password) => {
            let _ = writeln!(
                out,
                "  export LYNK_TOKEN={} LYNK_EMAIL={} LYNK_PASSWORD={}\n",
                outcome.token,
                shell_word(&outcome.user.email),
                shell_word(password)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  export LYNK_TOKEN={} LYNK_EMAIL={}\n",
                outcome.token,
                shell_word(&outcome.user.email)
            );
        }
    }
    let _ = out.flush();
}

/// `value` as one word of a POSIX shell command: as it is when it holds
/// only characters no shell treats specially, else single-quoted.
pub fn shell_word(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@._+-:/=".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// The HTTP routes and middleware; the secret-scanning endpoint only
/// with its keys.
pub fn router(state: AppState, config: &ServeArgs, scanning_keys: Option<KeyFile>) -> Router {
    let schemas = graphql::build_schemas(
        state.clone(),
        QueryLimits {
            depth: config.limits.max_query_depth,
            complexity: config.limits.max_query_complexity,
            resolved_objects: config.limits.max_resolved_objects,
        },
    );
    let graphql_routes = Router::new()
        .route(
            routes::API,
            get(graphql::http::handler::graphql).post(graphql::http::handler::graphql),
        )
        .layer(RequestBodyLimitLayer::new(
            crate::graphql::http::request_body::body_limit(state.max_sbom_bytes),
        ))
        .with_state(Arc::new(GraphqlState {
            guard: Guard::new(
                state.verifier.clone(),
                Arc::clone(&state.rate_limits),
                state.trusted_proxy_hops,
                Arc::clone(&state.last_used),
            ),
            app: state.clone(),
            schemas,
            documents: DocumentCache::default(),
        }));
    let scanning_routes = scanning_keys.map(|keys| {
        secret_scanning::routes(SecretScanning {
            db: state.db.clone(),
            keys,
            rate_limits: Arc::clone(&state.rate_limits),
            trusted_proxy_hops: state.trusted_proxy_hops,
        })
    });
    let public_revoke_routes = secret_scanning::public_routes(PublicRevocation {
        db: state.db.clone(),
        rate_limits: Arc::clone(&state.rate_limits),
        trusted_proxy_hops: state.trusted_proxy_hops,
    });
    let mut routes = Router::new()
        .route(routes::HEALTH, get(|| async { "ok" }))
        .route(routes::READY, get(readyz))
        .route(routes::METRICS, get(crate::metrics::scrape))
        .route(routes::JWKS, get(jwks))
        .route(
            &format!("{}{{name}}", routes::ASSET_PREFIX),
            get(graphiql_asset),
        )
        .route(routes::CONSOLE, get(|| async { crate::console::page() }))
        .route(
            &format!("{}{{name}}", routes::CONSOLE_ASSET_PREFIX),
            get(console_asset),
        )
        .with_state(state)
        .merge(graphql_routes)
        .merge(public_revoke_routes);
    if let Some(scanning_routes) = scanning_routes {
        routes = routes.merge(scanning_routes);
    }
    crate::middleware::with_middleware(routes, config.request_timeout)
}

/// GraphiQL's scripts and stylesheets, from the binary.
async fn graphiql_asset(Path(name): Path<String>) -> axum::response::Response {
    use axum::response::IntoResponse;
    graphql::http::graphiql::asset(&name).unwrap_or_else(|| StatusCode::NOT_FOUND.into_response())
}

/// The console's modules and stylesheet, from the binary.
async fn console_asset(Path(name): Path<String>) -> axum::response::Response {
    use axum::response::IntoResponse;
    crate::console::asset(&name).unwrap_or_else(|| StatusCode::NOT_FOUND.into_response())
}

/// The receipt signing keys' public JWKs (docs/receipts.md).
async fn jwks(State(state): State<AppState>) -> Result<axum::response::Response, Error> {
    use axum::response::IntoResponse;
    let keys = receipt::keys::jwks(&state.db).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/jwk-set+json"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=300"),
        ],
        keys.to_string(),
    )
        .into_response())
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
    use super::shell_word;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("admin@example.com"), "admin@example.com");
        assert_eq!(shell_word("Abc123"), "Abc123");
        assert_eq!(shell_word("o'brien@x.io"), r"'o'\''brien@x.io'");
        assert_eq!(shell_word("a b$c"), "'a b$c'");
        assert_eq!(shell_word(""), "''");
    }
}
