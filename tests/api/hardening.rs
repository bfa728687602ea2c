//! Abuse limits: media types, batching, query shape, suggestions,
//! brute-force budgets and body size.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, assert_unauthorized, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_post_that_is_not_json_is_415() {
    let app = spawn_app().await;
    let answer = app
        .send(
            app.client
                .post(app.url())
                .bearer_auth(app.admin_token())
                .header("Content-Type", "text/plain")
                .body(r#"{"query": "{ organization { id } }"}"#),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(answer.error_code(), Some("UNSUPPORTED_MEDIA_TYPE"));
    // With a charset parameter, JSON is fine.
    let answer = app
        .send(
            app.client
                .post(app.url())
                .bearer_auth(app.admin_token())
                .header("Content-Type", "application/json; charset=utf-8")
                .body(r#"{"query": "{ organization { id } }"}"#),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn batches_are_refused() {
    let app = spawn_app().await;
    let answer = app
        .send(
            app.client
                .post(app.url())
                .bearer_auth(app.admin_token())
                .json(&json!([
                    {"query": "{ organization { id } }"},
                    {"query": "{ organization { id } }"}
                ])),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.body.get("data").is_none());
}

#[tokio::test]
async fn deep_and_complex_queries_are_refused() {
    let app = spawn_app_with(|c| {
        c.limits.max_query_depth = 4;
        c.limits.max_query_complexity = 30;
    })
    .await;
    let deep = "{ viewer { token { owner { email } role { name } } } organization { tokens(first: 1) { edges { node { owner { name } } } } } }";
    let answer = app.gql(Some(app.admin_token()), deep, Value::Null).await;
    answer.assert_error_exact("GRAPHQL_VALIDATION_FAILED", "Query is nested too deep.");
    assert!(answer.body.get("data").is_none(), "{}", answer.text);
    let aliases: String = (0..30)
        .map(|i| format!("a{i}: permissions {{ name }} "))
        .collect();
    let answer = app
        .gql(
            Some(app.admin_token()),
            &format!("{{ {aliases} }}"),
            Value::Null,
        )
        .await;
    answer.assert_error_exact("GRAPHQL_VALIDATION_FAILED", "Query is too complex.");
    // Within the limits, fine.
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { name } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.body["data"]["organization"]["name"], "Acme Corp");
}

#[tokio::test]
async fn anonymous_callers_get_no_field_suggestions() {
    let app = spawn_app().await;
    let typo = r#"mutation { login(email: "a@b.test", password: "x") { tokn } }"#;
    let anonymous = app.gql(None, typo, Value::Null).await;
    let message = anonymous.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("Unknown field \"tokn\""), "{message}");
    assert!(!message.contains("Did you mean"), "{message}");
    let authenticated = app.gql(Some(app.admin_token()), typo, Value::Null).await;
    let message = authenticated.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("Did you mean \"token\"?"), "{message}");
}

#[tokio::test]
async fn failed_authentications_are_rate_limited_per_address() {
    let app = spawn_app_with(|c| c.limits.auth_failures_per_ip = 3).await;
    let unknown = lynk::auth::token_format::generate(lynk::auth::CredentialKind::Personal);
    for _ in 0..3 {
        let answer = app
            .gql(
                Some(unknown.secret.expose()),
                "{ organization { id } }",
                Value::Null,
            )
            .await;
        assert_unauthorized(&answer, true);
    }
    let answer = app
        .gql(
            Some(unknown.secret.expose()),
            "{ organization { id } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.error_code(), Some("RATE_LIMITED"));
    let retry_after: u64 = answer.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry_after));
    // A credential that verifies is never refused for its address's
    // failures (a CI fleet behind one NAT shares an address).
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { id } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    // Requests without any credential count against the address too.
    let answer = app.gql(None, "{ organization { id } }", Value::Null).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_account() {
    let app = spawn_app_with(|c| c.limits.login_failures_per_account = 2).await;
    let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    for _ in 0..2 {
        let answer = app
            .gql(
                None,
                login,
                json!({"e": "admin@acme.test", "p": "wrong password"}),
            )
            .await;
        assert_unauthorized(&answer, false);
    }
    // Even the right password waits now: the account is under attack.
    let answer = app
        .gql(
            None,
            login,
            json!({"e": "ADMIN@acme.test", "p": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.error_code(), Some("RATE_LIMITED"));
    assert!(answer.headers.contains_key("retry-after"));
    assert_eq!(answer.body["data"], Value::Null);
    // Other accounts are not affected.
    let answer = app
        .gql(None, login, json!({"e": "nobody@acme.test", "p": "x"}))
        .await;
    assert_unauthorized(&answer, false);
    // Existing tokens keep working.
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { name } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = spawn_app_with(|c| c.max_sbom_bytes = 1024).await;
    let padding = "x".repeat(lynk::graphql::http::request_body::body_limit(1024) + 1);
    let answer = app
        .send(
            app.client
                .post(app.url())
                .bearer_auth(app.admin_token())
                .json(&json!({"query": "{ organization { id } }", "variables": {"pad": padding}})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client() {
    let app = spawn_app_with(|c| {
        c.limits.auth_failures_per_ip = 2;
        c.limits.trusted_proxy_hops = 1;
    })
    .await;
    let unknown = lynk::auth::token_format::generate(lynk::auth::CredentialKind::Service);
    let attempt = |forwarded_for: &'static str, token: String| {
        app.send(
            app.client
                .post(app.url())
                .bearer_auth(token)
                .header("X-Forwarded-For", forwarded_for)
                .json(&json!({"query": "{ organization { id } }"})),
        )
    };
    let secret = unknown.secret.expose().to_owned();
    for _ in 0..2 {
        assert_unauthorized(&attempt("6.6.6.6, 203.0.113.7", secret.clone()).await, true);
    }
    let blocked = attempt("198.51.100.1, 203.0.113.7", secret.clone()).await;
    assert_eq!(
        blocked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the spoofable left entry is ignored"
    );
    // Another client behind the same proxy is not blocked.
    let answer = attempt("203.0.113.8", app.admin_token().to_owned()).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn a_document_that_passed_validation_before_is_still_authorized_field_by_field() {
    // From its second use, a document that passed full validation runs
    // with async-graphql's fast validation (graphql::http::document_cache): the
    // answers must not change, nor must any permission check.
    let app = spawn_app().await;
    let (_, uploader) = app.service_token("uploader").await;
    let query = "{ organization { name members(first: 5) { pageInfo { hasNextPage } } } }";
    let first = app.gql(Some(app.admin_token()), query, Value::Null).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["data"]["organization"]["name"], "Acme Corp");
    assert_eq!(
        first.body["data"]["organization"]["members"]["pageInfo"]["hasNextPage"],
        false
    );
    assert!(first.body.get("errors").is_none(), "{}", first.text);

    let denied = app.gql(Some(&uploader), query, Value::Null).await;
    assert_eq!(denied.status, StatusCode::OK, "{}", denied.text);
    assert_eq!(denied.error_code(), Some("FORBIDDEN"), "{}", denied.text);
    assert_eq!(
        denied.body["errors"][0]["path"],
        json!(["organization", "members"])
    );

    let again = app.gql(Some(app.admin_token()), query, Value::Null).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body);

    // A document that fails validation never passes it later.
    let unknown = "{ organization { name nope } }";
    for _ in 0..2 {
        let answer = app.gql(Some(app.admin_token()), unknown, Value::Null).await;
        assert_eq!(answer.body["data"], Value::Null, "{}", answer.text);
        let message = answer.body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.starts_with(r#"Unknown field "nope" on type "Organization""#),
            "{message}"
        );
    }
}
