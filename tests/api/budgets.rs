//! Failure budgets under attack (docs/DESIGN.md §4.4): a flood of distinct emails
//! cannot flush a spent window, a refused attempt writes nothing, and a
//! full password check queue answers 503 at once.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, Answer, TestApp, assert_unauthorized, spawn_app_with};

const LOGIN: &str =
    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";

/// `login` from the client address `from` (the app trusts one proxy hop).
async fn login_from(app: &TestApp, from: &str, email: &str, password: &str) -> Answer {
    app.send(
        app.client
            .post(app.url())
            .header("X-Forwarded-For", from)
            .json(&json!({ "query": LOGIN, "variables": { "e": email, "p": password } })),
    )
    .await
}

#[track_caller]
fn assert_rate_limited(answer: &Answer) {
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.text
    );
    assert_eq!(answer.error_code(), Some("RATE_LIMITED"), "{}", answer.text);
    assert_eq!(answer.body["data"], Value::Null, "{}", answer.text);
    let retry_after: u64 = answer.headers["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert_eq!(
        answer.body["errors"][0]["message"],
        format!("Too many attempts; retry after {retry_after} seconds")
    );
}

/// Rows in the shared `failure_budget` table; `None` on SQLite, whose
/// budgets live in memory.
async fn budget_rows(app: &TestApp) -> Option<i64> {
    if app.db.get_database_backend() != DbBackend::Postgres {
        return None;
    }
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM failure_budget",
        ))
        .await
        .expect("count budget rows")
        .expect("a row");
    Some(row.try_get("", "n").expect("a count"))
}

#[tokio::test]
async fn a_flood_of_distinct_emails_does_not_free_a_spent_account_window() {
    let app = spawn_app_with(|c| {
        c.limits.login_failures_per_account = 2;
        c.limits.login_failures_per_ip = 3;
        c.limits.trusted_proxy_hops = 1;
        c.limits.failure_budget_keys = 8;
    })
    .await;
    for _ in 0..2 {
        let answer = login_from(&app, "203.0.113.1", "admin@acme.test", "wrong password").await;
        assert_unauthorized(&answer, false);
    }
    assert_rate_limited(&login_from(&app, "203.0.113.2", "admin@acme.test", "guess").await);
    // Many times the capacity in new emails: allowed failures from six
    // addresses, then refused ones once each address is spent.
    for address in 1..=6 {
        let from = format!("198.51.100.{address}");
        for n in 0..3 {
            let email = format!("flood-{address}-{n}@acme.test");
            assert_unauthorized(&login_from(&app, &from, &email, "x").await, false);
        }
        for n in 3..10 {
            let email = format!("flood-{address}-{n}@acme.test");
            assert_rate_limited(&login_from(&app, &from, &email, "x").await);
        }
    }
    // The victim's window is still spent: even the right password waits.
    let answer = login_from(&app, "192.0.2.77", "admin@acme.test", ADMIN_PASSWORD).await;
    assert_rate_limited(&answer);
}

#[tokio::test]
async fn a_login_refused_for_its_address_writes_no_account_entry() {
    let app = spawn_app_with(|c| {
        c.limits.login_failures_per_ip = 2;
        c.limits.trusted_proxy_hops = 1;
    })
    .await;
    for email in ["a@acme.test", "b@acme.test"] {
        let answer = login_from(&app, "198.51.100.9", email, "wrong password").await;
        assert_unauthorized(&answer, false);
    }
    let before = budget_rows(&app).await;
    if let Some(rows) = before {
        assert_eq!(rows, 3, "the address and two accounts");
    }
    for n in 0..20 {
        let email = format!("new-{n}@acme.test");
        assert_rate_limited(&login_from(&app, "198.51.100.9", &email, "guess").await);
    }
    assert_eq!(
        budget_rows(&app).await,
        before,
        "a refused login writes no row"
    );
    // Another address is not affected; this one stays spent.
    let answer = login_from(&app, "198.51.100.10", "new-0@acme.test", "guess").await;
    assert_unauthorized(&answer, false);
    assert_rate_limited(&login_from(&app, "198.51.100.9", "a@acme.test", "guess").await);
}

#[tokio::test]
async fn a_spent_account_charges_nothing_to_the_address() {
    let app = spawn_app_with(|c| {
        c.limits.login_failures_per_account = 1;
        c.limits.login_failures_per_ip = 2;
        c.limits.trusted_proxy_hops = 1;
    })
    .await;
    let answer = login_from(&app, "198.51.100.20", "admin@acme.test", "wrong password").await;
    assert_unauthorized(&answer, false);
    // Refused by the account's budget, many times, from one address.
    for _ in 0..5 {
        let answer = login_from(&app, "198.51.100.21", "admin@acme.test", "guess").await;
        assert_rate_limited(&answer);
    }
    // That address spent nothing: two failures are still allowed there.
    for email in ["c@acme.test", "d@acme.test"] {
        let answer = login_from(&app, "198.51.100.21", email, "guess").await;
        assert_unauthorized(&answer, false);
    }
    assert_rate_limited(&login_from(&app, "198.51.100.21", "e@acme.test", "guess").await);
}

#[tokio::test]
async fn a_full_password_check_queue_answers_503_at_once() {
    let app = spawn_app_with(|c| c.limits.password_check_queue = 0).await;
    let answer = app
        .gql(
            None,
            LOGIN,
            json!({ "e": "admin@acme.test", "p": ADMIN_PASSWORD }),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text
    );
    assert_eq!(answer.headers["retry-after"], "1");
    assert_eq!(
        answer.body,
        json!({
            "data": null,
            "errors": [{
                "message": "The server is busy checking passwords; retry after 1 seconds",
                "locations": [{ "line": 1, "column": 38 }],
                "path": ["login"],
                "extensions": { "code": "SERVICE_UNAVAILABLE", "retryAfter": 1 },
            }],
        })
    );
    // Refused before anything was counted.
    if let Some(rows) = budget_rows(&app).await {
        assert_eq!(rows, 0);
    }
    // Tokens keep working.
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { name } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["data"]["organization"]["name"], "Acme Corp");
}
