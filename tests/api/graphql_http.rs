//! GraphQL over HTTP, SHOULDs included: request errors (a document that
//! does not parse or validate, variables that do not coerce, no query) are
//! answered without `data`, with a code, and with 400 under
//! `application/graphql-response+json`; responses keep the selection order.
//! (`scripts/graphql-http-audit.sh` runs the graphql-http audit suite in CI.)

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Answer, TestApp, spawn_app};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

async fn post(app: &TestApp, accept: &str, body: Value) -> Answer {
    app.send(
        app.client
            .post(app.url())
            .bearer_auth(app.admin_token())
            .header("accept", accept)
            .json(&body),
    )
    .await
}

fn assert_request_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert!(
        answer.body.get("data").is_none(),
        "a request error has no data: {}",
        answer.text
    );
    assert_eq!(answer.error_code(), Some(code), "{}", answer.text);
}

#[tokio::test]
async fn documents_that_do_not_parse_or_validate_are_request_errors() {
    let app = spawn_app().await;
    for (accept, status) in [
        (GRAPHQL_RESPONSE, StatusCode::BAD_REQUEST),
        ("application/json", StatusCode::OK),
    ] {
        let answer = post(&app, accept, json!({ "query": "{" })).await;
        assert_request_error(&answer, status, "GRAPHQL_PARSE_FAILED");
        assert!(
            answer.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(accept)
        );
        assert!(
            answer.body["errors"][0]["locations"].is_array(),
            "a parse error says where: {}",
            answer.text
        );

        let answer = post(&app, accept, json!({ "query": "{ nope }" })).await;
        assert_request_error(&answer, status, "GRAPHQL_VALIDATION_FAILED");

        let answer = post(
            &app,
            accept,
            json!({
                "query": "query Tokens($first: Int!) { tokens(first: $first) { totalCount } }",
                "variables": { "first": "ten" },
            }),
        )
        .await;
        assert_request_error(&answer, status, "GRAPHQL_VALIDATION_FAILED");
    }
}

#[tokio::test]
async fn a_request_without_a_query_is_a_bad_request() {
    let app = spawn_app().await;
    for accept in [GRAPHQL_RESPONSE, "application/json"] {
        let answer = post(&app, accept, json!({ "variables": {} })).await;
        assert_request_error(&answer, StatusCode::BAD_REQUEST, "BAD_REQUEST");
        assert!(answer.text.contains("no query"), "{}", answer.text);
    }
}

#[tokio::test]
async fn an_anonymous_caller_learns_nothing_from_a_broken_document() {
    let app = spawn_app().await;
    let answer = app
        .send(
            app.client
                .post(app.url())
                .header("accept", GRAPHQL_RESPONSE)
                .json(&json!({ "query": "{ nope" })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
    assert_eq!(answer.error_code(), Some("UNAUTHORIZED"));
}

/// The positions of `keys` in the response text, which must increase.
fn assert_in_order(text: &str, keys: &[&str]) {
    let positions: Vec<usize> = keys
        .iter()
        .map(|key| {
            text.find(&format!("\"{key}\""))
                .unwrap_or_else(|| panic!("{key} missing from {text}"))
        })
        .collect();
    assert!(
        positions.is_sorted(),
        "keys out of selection order ({keys:?}): {text}"
    );
}

#[tokio::test]
async fn responses_keep_the_selection_order() {
    let app = spawn_app().await;
    let query = "{ viewer { kind user { email id } role { name id } permissions } \
                 organization { name id } }";
    for _ in 0..12 {
        let answer = app.gql(Some(app.admin_token()), query, json!({})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert!(answer.body.get("errors").is_none(), "{}", answer.text);
        assert_in_order(
            &answer.text,
            &[
                "viewer",
                "kind",
                "user",
                "email",
                "role",
                "permissions",
                "organization",
            ],
        );
        let organization = &answer.text[answer.text.find("\"organization\"").unwrap()..];
        assert_in_order(organization, &["name", "id"]);
    }
}
