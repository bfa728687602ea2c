//! Database round trips per authenticated request (issue 7, docs/DESIGN.md §2.5):
//! exactly one query, plus at most one `lastUsedAt` write per token per
//! minute. Counted with sea-orm's metric callback on the very pool the
//! server uses, and, where the query runs off the pool (inline on a SQLite
//! file, on the verifier's own connections on PostgreSQL), with the count
//! of such statements of the test's thread (the server runs on it); on
//! PostgreSQL, network round trips are counted by a proxy in front of the
//! server. Nothing here is timed (speed is for `cargo bench`
//! and `bench/load.sh`).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use lynk::{
    auth::verify::testing::{held_statements, inline_statements},
    config::{DatabaseArgs, ServeArgs},
    database,
    startup::Application,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, TestDatabase, postgres_needs_a_key};

/// The SQL of every statement the server ran, in order.
#[derive(Clone, Default)]
struct StatementLog(Arc<Mutex<Vec<String>>>);

impl StatementLog {
    fn push(&self, sql: &str) {
        if crate::helpers::is_background_statement(sql) {
            return;
        }
        self.lock().push(sql.trim().to_owned());
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lock())
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn is_verification_query(sql: &str) -> bool {
    sql.starts_with("SELECT") && sql.contains("FROM token t") && sql.contains("WHERE t.digest")
}

fn is_last_used_write(sql: &str) -> bool {
    sql.starts_with("UPDATE token SET last_used_at")
}

/// Verification statements run off the pool on this thread: inline on a
/// SQLite file, on the verifier's own connections on PostgreSQL.
fn local_statements() -> u64 {
    inline_statements() + held_statements()
}

#[tokio::test]
async fn an_authenticated_request_is_one_round_trip_and_last_used_is_written_once_a_minute() {
    let database = TestDatabase::new().await;
    let mut db = database::connect(&DatabaseArgs::new(database.url.clone()))
        .await
        .expect("connect");
    let log = StatementLog::default();
    let sink = log.clone();
    db.set_metric_callback(move |info| sink.push(&info.statement.sql));
    let mut config = ServeArgs::new(
        "127.0.0.1:0".parse().expect("address"),
        DatabaseArgs::new(database.url.clone()),
    );
    config.bootstrap_password = Some(ADMIN_PASSWORD.into());
    postgres_needs_a_key(&mut config);
    let app = Application::build_with_connection(config, db)
        .await
        .expect("build app");
    // On PostgreSQL a pooled connection is not pinged before every query
    // (a second network round trip), only after it sat idle a while
    // (`tests/api/outage.rs` holds that part).
    if app.db().get_database_backend() == sea_orm::DbBackend::Postgres {
        let options = app.db().get_postgres_connection_pool().options();
        assert!(!options.get_test_before_acquire());
    }
    // On a SQLite file the verification query runs inline, and on
    // PostgreSQL on the verifier's own connections: off the pool.
    let inline_reads = u64::from(
        database.sqlite_path.is_some()
            || app.db().get_database_backend() == sea_orm::DbBackend::Postgres,
    );
    let url = format!("http://{}/lynkapi", app.local_addr());
    let outcome = app
        .bootstrapped()
        .expect("a fresh database is bootstrapped");
    let token = outcome.token.clone();
    let last_used = app.last_used().clone();
    let expected = json!({"data": {"organization": {
        "id": outcome.organization.id.to_string(),
        "name": outcome.organization.name,
    }}});
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    let verify = || async {
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({ "query": "query { organization { id name } }" }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.expect("JSON body")
    };
    // Migrations and the bootstrap ran through the same pool.
    log.take();

    // First use: the one read, and the token's first `lastUsedAt` write,
    // which runs behind the request (within a second). Wait for it
    // (bounded), then count.
    let inline_before = local_statements();
    assert_eq!(verify().await, expected);
    let inline = local_statements() - inline_before;
    assert_eq!(inline, inline_reads);
    for _ in 0..500 {
        if log.len() as u64 + inline >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first = log.take();
    assert_eq!(
        first.len() as u64 + inline,
        2,
        "one read and one write: {first:#?}"
    );
    assert_eq!(
        first.iter().filter(|s| is_verification_query(s)).count() as u64 + inline,
        1,
        "{first:#?}"
    );
    assert_eq!(
        first.iter().filter(|s| is_last_used_write(s)).count(),
        1,
        "{first:#?}"
    );

    // Again within the minute: the read alone, and no use waiting to be
    // written.
    let inline_before = local_statements();
    assert_eq!(verify().await, expected);
    let inline = local_statements() - inline_before;
    // Nothing waits to be written, so no write can follow.
    assert_eq!(last_used.pending(), 0);
    let second = log.take();
    assert_eq!(inline, inline_reads);
    assert_eq!(
        second.len() as u64 + inline,
        1,
        "exactly one read: {second:#?}"
    );
    assert!(
        second.iter().all(|s| is_verification_query(s)),
        "{second:#?}"
    );
}

/// Frontend messages `Sync` seen by a proxy between lynk and PostgreSQL:
/// each ends one round trip (a query's `Bind`/`Execute`/`Sync`, or sqlx's
/// ping, a `Sync` alone), so it counts them where statement logs cannot
/// see a ping.
#[derive(Clone, Default)]
struct SyncCounter(Arc<std::sync::atomic::AtomicU64>);

impl SyncCounter {
    fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Listens on a loopback port and forwards every connection to
    /// `upstream`, counting the `Sync`s of connections that run the
    /// verification query; returns the port.
    async fn proxy(&self, upstream: String) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let counter = self.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect(&upstream)
                    .await
                    .expect("connect to PostgreSQL");
                let (mut from_server, to_server) = server.into_split();
                let (from_client, mut to_client) = client.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                });
                tokio::spawn(counter.clone().forward(from_client, to_server));
            }
        });
        port
    }

    async fn forward(
        self,
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // Before the startup message, messages have no type byte (the SSL
        // and GSS requests, then the startup message itself).
        let mut started = false;
        // Only connections that verify credentials count: the webhook
        // sender and the expiry notices poll on every instance, on pool
        // connections, behind the requests.
        let mut verifies = false;
        let mut pending = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let read = match from.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            if to.write_all(&chunk[..read]).await.is_err() {
                return;
            }
            pending.extend_from_slice(&chunk[..read]);
            loop {
                let header = if started { 5 } else { 4 };
                if pending.len() < header {
                    break;
                }
                let at = header - 4;
                let length =
                    u32::from_be_bytes(pending[at..header].try_into().expect("4 bytes")) as usize;
                let total = at + length;
                if pending.len() < total {
                    break;
                }
                if started {
                    let message = &pending[..total];
                    if matches!(message[0], b'P' | b'Q')
                        && message.windows(14).any(|w| w == b"WHERE t.digest")
                    {
                        verifies = true;
                    }
                    if message[0] == b'S' && verifies {
                        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                } else {
                    let code = u32::from_be_bytes(pending[4..8].try_into().expect("4 bytes"));
                    // 80877103: SSLRequest, 80877104: GSSENCRequest.
                    started = !matches!(code, 80_877_103 | 80_877_104);
                }
                pending.drain(..total);
            }
        }
    }
}

/// On PostgreSQL, a verification is one network round trip on its
/// connection: the query, and no ping before it (its connection was used
/// within `database::PING_WHEN_IDLE_FOR`) nor after it (sqlx pings a
/// connection given back to its pool, so verification keeps its own).
#[tokio::test]
async fn on_postgres_an_authenticated_request_is_one_network_round_trip() {
    let database = TestDatabase::new().await;
    if database.sqlite_path.is_some() {
        eprintln!("skipped: set LYNK_TEST_DATABASE_URL to run against PostgreSQL");
        return;
    }
    // postgres://user@host:port/name → the proxy in place of host:port.
    let (scheme_user, rest) = database.url.split_once('@').expect("a user in the URL");
    let (upstream, name) = rest.split_once('/').expect("a database name");
    let syncs = SyncCounter::default();
    let port = syncs.proxy(upstream.to_owned()).await;
    let url = format!("{scheme_user}@127.0.0.1:{port}/{name}?sslmode=disable");
    let db = database::connect(&DatabaseArgs::new(url.clone()))
        .await
        .expect("connect through the proxy");
    let mut config = ServeArgs::new(
        "127.0.0.1:0".parse().expect("address"),
        DatabaseArgs::new(url),
    );
    config.bootstrap_password = Some(ADMIN_PASSWORD.into());
    postgres_needs_a_key(&mut config);
    let app = Application::build_with_connection(config, db)
        .await
        .expect("build app");
    let url = format!("http://{}/lynkapi", app.local_addr());
    let token = app.bootstrapped().expect("bootstrapped").token.clone();
    let last_used = app.last_used().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    let verify = || async {
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({ "query": "query { organization { id name } }" }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("JSON body");
        assert!(body["errors"].is_null(), "{body}");
    };
    // The first request prepares the statement on its connection and
    // records the token's first use; wait until that is written.
    verify().await;
    for _ in 0..500 {
        if last_used.pending() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Requests one after the other run on the same connection, used
    // within the idle window.
    verify().await;
    let before = syncs.get();
    let held_before = lynk::auth::verify::testing::held_statements();
    const REQUESTS: u64 = 20;
    for _ in 0..REQUESTS {
        verify().await;
    }
    // Anything sent after the last answer (a ping on return) is counted
    // once it has had time to arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(syncs.get() - before, REQUESTS, "one round trip per request");
    assert_eq!(
        lynk::auth::verify::testing::held_statements() - held_before,
        REQUESTS,
        "every verification ran on the verifier's own connections"
    );
}

/// A token bound to addresses (`REPORT_ONLY`, used from outside them) and
/// granted permissions still costs its request the one verification
/// statement: the address check runs in memory on that row, and the use,
/// the refused address and the granted permissions are written behind the
/// request, in the recorder's batch (docs/DESIGN.md §8.8).
#[tokio::test]
async fn an_address_bound_token_is_still_one_statement_and_usage_is_batched() {
    use lynk::{
        auth::{CredentialKind, address_rule::AddressEnforcement, project_scope::ProjectScope},
        entity::token,
        service::{
            token::{NewToken, issue},
            token_restrict::set_addresses,
        },
    };
    use sea_orm::EntityTrait;

    let database = TestDatabase::new().await;
    let mut db = database::connect(&DatabaseArgs::new(database.url.clone()))
        .await
        .expect("connect");
    let log = StatementLog::default();
    let sink = log.clone();
    db.set_metric_callback(move |info| sink.push(&info.statement.sql));
    let mut config = ServeArgs::new(
        "127.0.0.1:0".parse().expect("address"),
        DatabaseArgs::new(database.url.clone()),
    );
    config.bootstrap_password = Some(ADMIN_PASSWORD.into());
    postgres_needs_a_key(&mut config);
    let app = Application::build_with_connection(config, db)
        .await
        .expect("build app");
    let inline_reads = u64::from(
        database.sqlite_path.is_some()
            || app.db().get_database_backend() == sea_orm::DbBackend::Postgres,
    );
    let outcome = app.bootstrapped().expect("bootstrapped");
    let (model, secret) = issue(
        app.db(),
        NewToken {
            kind: CredentialKind::Personal,
            organization_id: Some(outcome.organization.id),
            name: "bound".into(),
            scopes: None,
            role_id: None,
            owner_user_id: Some(outcome.user.id),
            created_by_user_id: Some(outcome.user.id),
            projects: ProjectScope::All,
            expires_at: Some(chrono::Utc::now() + chrono::Duration::days(1)),
        },
        chrono::Utc::now(),
    )
    .await
    .expect("issue");
    let token_id = model.id;
    set_addresses(
        app.db(),
        model,
        Some("10.0.0.0/8".into()),
        AddressEnforcement::ReportOnly,
    )
    .await
    .expect("bind");
    let url = format!("http://{}/lynkapi", app.local_addr());
    let last_used = app.last_used().clone();
    let db = app.db().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    log.take();

    let inline_before = local_statements();
    let answer: Value = reqwest::Client::new()
        .post(&url)
        .bearer_auth(secret.expose())
        .json(&json!({ "query": "query { organization { id name roles { id } } }" }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert!(
        answer["data"]["organization"]["roles"].is_array(),
        "{answer}"
    );
    let inline = local_statements() - inline_before;
    assert_eq!(inline, inline_reads);
    // Wait (bounded) for the batch behind the request.
    for _ in 0..500 {
        if last_used.pending() == 0 {
            let stored = token::Entity::find_by_id(token_id)
                .one(&db)
                .await
                .expect("read")
                .expect("token");
            if stored.rejected_count == 1 && stored.last_used_at.is_some() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let statements = log.take();
    // The roles field's own query, the one verification read (inline or
    // in the log), and no other read of the token by its digest: the rest
    // is the batch.
    let verification = statements
        .iter()
        .filter(|s| is_verification_query(s))
        .count() as u64
        + inline;
    assert_eq!(verification, 1, "{statements:#?}");
    assert!(
        statements
            .iter()
            .filter(|s| !is_verification_query(s))
            .all(|s| !s.contains("\"digest\" =") && !s.contains("digest =")),
        "{statements:#?}"
    );
    assert_eq!(
        statements.iter().filter(|s| is_last_used_write(s)).count(),
        1,
        "{statements:#?}"
    );
    assert!(
        statements
            .iter()
            .any(|s| s.starts_with("INSERT INTO token_permission_use")),
        "{statements:#?}"
    );
}
