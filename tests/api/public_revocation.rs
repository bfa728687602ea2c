//! `POST /tokens/revoke` (docs/DESIGN.md §9, "Revocation for everyone"):
//! anyone may hand in strings; every live lynk secret among them dies,
//! audited as `token.leaked` with `detail.source` `"public"`; the answer
//! is the same `202` whatever the strings were; a bad checksum costs no
//! query; each address has its own budget.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use lynk::{
    auth::token_format,
    config::{DatabaseArgs, ServeArgs},
    database,
    secret_scanning::public::{ACCEPTED_BODY, REQUESTS_PER_MINUTE},
    startup::Application,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, Answer, TestApp, TestDatabase, spawn_app, spawn_app_with};

const WHO: &str = "{ organization { id } }";
const LEAKED: &str = r#"{ organization { auditEvents(action: "token.leaked") { edges { node { targetId detail ip actorUser { id } } } } } }"#;

async fn post(app: &TestApp, body: &Value) -> Answer {
    app.send(
        app.client
            .post(format!("http://{}/tokens/revoke", app.address))
            .json(body),
    )
    .await
}

async fn works(app: &TestApp, secret: &str) -> bool {
    app.gql(Some(secret), WHO, json!({})).await.status == StatusCode::OK
}

/// `secret` with its last character changed: a bad checksum.
fn bad_checksum(secret: &str) -> String {
    let mut broken = secret.to_owned();
    let last = broken.pop().unwrap();
    broken.push(if last == 'A' { 'B' } else { 'A' });
    assert!(token_format::parse(&broken).is_err());
    broken
}

#[tokio::test]
async fn live_dead_foreign_and_malformed_strings_get_the_same_answer() {
    let app = spawn_app().await;
    let admin = app.admin_token().to_owned();
    let (live_id, live) = app.service_token("uploader").await;
    let (dead_id, dead) = app.service_token("viewer").await;
    app.gql(
        Some(&admin),
        "mutation($id: ID!) { revokeToken(id: $id) { id } }",
        json!({"id": dead_id.to_string()}),
    )
    .await;
    let other = app.other_organization("Other", "admin@other.test").await;
    let foreign = other.token.clone();
    let never_issued = token_format::generate(lynk::auth::CredentialKind::Personal)
        .secret
        .expose()
        .to_owned();
    let bodies = [
        json!({"tokens": [live]}),
        json!({"tokens": [dead]}),
        json!({"tokens": [foreign]}),
        json!({"tokens": [bad_checksum(&live)]}),
        json!({"tokens": [never_issued]}),
        json!({"tokens": ["ghp_0123456789abcdef", "", "lynk_live_x"]}),
        json!({"tokens": []}),
    ];
    let mut answers = Vec::new();
    for body in &bodies {
        let answer = post(&app, body).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
        answers.push((answer.text, answer.headers.get("content-type").cloned()));
    }
    for (text, content_type) in &answers {
        assert_eq!(text, ACCEPTED_BODY);
        assert_eq!(content_type.as_ref().unwrap(), "application/json");
    }
    // The live ones are dead now, whichever organization they were in.
    assert!(!works(&app, &live).await);
    assert!(!works(&app, &foreign).await);
    assert!(works(&app, &admin).await);

    // Audited as leaked, from the public, in each organization.
    let audit = app.gql(Some(&admin), LEAKED, json!({})).await;
    let edges = audit.body["data"]["organization"]["auditEvents"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", audit.text))
        .clone();
    assert_eq!(edges.len(), 1, "{}", audit.text);
    let node = &edges[0]["node"];
    assert_eq!(node["targetId"], live_id.to_string());
    assert_eq!(node["ip"], "127.0.0.1");
    assert_eq!(node["actorUser"], Value::Null);
    let detail: Value = serde_json::from_str(node["detail"].as_str().unwrap()).unwrap();
    assert_eq!(
        detail,
        json!({"url": null, "source": "public", "type": "lynk"})
    );
    // The other organization's admin is gone with its token; its log
    // holds the record.
    let session = app.login("admin@other.test", ADMIN_PASSWORD).await;
    let audit = app.gql(Some(&session), LEAKED, json!({})).await;
    assert_eq!(
        audit.body["data"]["organization"]["auditEvents"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{}",
        audit.text
    );
    // Handing a dead token in again changes nothing and answers the same.
    let again = post(&app, &json!({"tokens": [live]})).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.text, ACCEPTED_BODY);
    let audit = app.gql(Some(&admin), LEAKED, json!({})).await;
    assert_eq!(
        audit.body["data"]["organization"]["auditEvents"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // The strings never reach the log.
    assert!(!crate::helpers::captured_logs().contains(&live));
}

#[tokio::test]
async fn a_string_with_a_bad_checksum_costs_no_query() {
    let database = TestDatabase::new().await;
    let mut db = database::connect(&DatabaseArgs::new(database.url.clone()))
        .await
        .expect("connect");
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&log);
    db.set_metric_callback(move |info| {
        let sql = &info.statement.sql;
        if crate::helpers::is_background_statement(sql) {
            return;
        }
        sink.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sql.clone());
    });
    let mut config = ServeArgs::new(
        "127.0.0.1:0".parse().expect("address"),
        DatabaseArgs::new(database.url.clone()),
    );
    config.bootstrap_password = Some(ADMIN_PASSWORD.into());
    crate::helpers::postgres_needs_a_key(&mut config);
    let app = Application::build_with_connection(config, db)
        .await
        .expect("build app");
    let sqlite = app.db().get_database_backend() == sea_orm::DbBackend::Sqlite;
    let url = format!("http://{}/tokens/revoke", app.local_addr());
    let secret = app.bootstrapped().expect("bootstrapped").token.clone();
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    let take = || std::mem::take(&mut *log.lock().unwrap_or_else(|e| e.into_inner()));
    let touches_secrets = |sql: &String| sql.contains("\"token\"") || sql.contains("invitation");
    take();

    let broken: Vec<String> = (0..1000).map(|_| bad_checksum(&secret)).collect();
    let response = client
        .post(&url)
        .json(&json!({"tokens": broken}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let statements = take();
    assert!(
        !statements.iter().any(touches_secrets),
        "no token or invitation was looked up: {statements:#?}"
    );
    if sqlite {
        // Budgets live in memory on SQLite: nothing at all.
        assert!(statements.is_empty(), "{statements:#?}");
    }

    // A well-formed string is looked up (and here, revoked).
    let response = client
        .post(&url)
        .json(&json!({"tokens": [secret]}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.text().await.unwrap(), ACCEPTED_BODY);
    let statements = take();
    assert!(statements.iter().any(touches_secrets), "{statements:#?}");
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused_by_name() {
    let app = spawn_app().await;
    let (_, live) = app.service_token("viewer").await;
    let many: Vec<String> = (0..1001).map(|_| live.clone()).collect();
    let answer = post(&app, &json!({"tokens": many})).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(answer.error_code(), Some("BAD_REQUEST"), "{}", answer.text);
    assert_eq!(
        answer.error_message(),
        "too many strings: at most 1000 per request, this one has 1001"
    );
    // Refused whole: the live token in it still works.
    assert!(works(&app, &live).await);

    let huge = json!({"tokens": ["x".repeat(1024 * 1024)]});
    let answer = post(&app, &huge).await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text
    );

    for body in [
        json!([live]),
        json!({"tokens": [1, 2]}),
        json!({"tokens": [live], "note": "hi"}),
        json!({"token": live}),
    ] {
        let answer = post(&app, &body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.text
        );
        let message = answer.body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.starts_with("the body must be a JSON object {\"tokens\": [\"...\"]}"),
            "{message}"
        );
        assert!(!answer.text.contains(&live));
    }
    assert!(works(&app, &live).await);
}

#[tokio::test]
async fn each_address_has_its_own_budget() {
    let app = spawn_app_with(|config| config.limits.trusted_proxy_hops = 1).await;
    let from = |address: &'static str| {
        app.client
            .post(format!("http://{}/tokens/revoke", app.address))
            .header("X-Forwarded-For", address)
            .json(&json!({"tokens": []}))
    };
    for _ in 0..REQUESTS_PER_MINUTE {
        let answer = app.send(from("203.0.113.7")).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED);
    }
    let limited = app.send(from("203.0.113.7")).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    assert_eq!(limited.error_code(), Some("RATE_LIMITED"));
    assert!(limited.headers.get("retry-after").is_some());
    // Another address, and the API, are not held back by it.
    assert_eq!(
        app.send(from("2001:db8::7")).await.status,
        StatusCode::ACCEPTED
    );
    assert!(works(&app, app.admin_token()).await);
}
