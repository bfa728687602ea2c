//! Database round trips per authenticated request (issue 7, docs/DESIGN.md §2.5):
//! exactly one query, plus at most one `lastUsedAt` write per token per
//! minute. Counted with sea-orm's metric callback on the very pool the
//! server uses, and, on a SQLite file, where the query runs inline off the
//! pool, with the count of inline statements of the test's thread (the
//! server runs on it); nothing here is timed (speed is for `cargo bench`
//! and `bench/load.sh`).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use lynk::{
    auth::verify::testing::inline_statements,
    config::{DatabaseArgs, ServeArgs},
    database,
    startup::Application,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, TestDatabase};

/// The SQL of every statement the server ran, in order.
#[derive(Clone, Default)]
struct StatementLog(Arc<Mutex<Vec<String>>>);

impl StatementLog {
    fn push(&self, sql: &str) {
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
    // On a SQLite file the verification query runs inline, off the pool.
    let inline_reads = u64::from(database.sqlite_path.is_some());
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
    let inline_before = inline_statements();
    assert_eq!(verify().await, expected);
    let inline = inline_statements() - inline_before;
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
    let inline_before = inline_statements();
    assert_eq!(verify().await, expected);
    let inline = inline_statements() - inline_before;
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
