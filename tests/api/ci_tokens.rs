//! Tokens for CI: tokens restricted to projects, rotation with a grace
//! period, and the addresses a token was last used from.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Answer, TestApp, assert_unauthorized, days_from_now, spawn_app, spawn_app_with,
};

pub const CREATE_SERVICE: &str = "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { token { id projects { id } } secret } }";

pub fn data<'a>(answer: &'a Answer, field: &str) -> &'a Value {
    let value = &answer.body["data"][field];
    assert!(!value.is_null(), "{field}: {}", answer.text);
    value
}

/// A custom role with every project, SBOM and token permission; returns its id.
pub async fn project_manager_role(app: &TestApp, admin: &str) -> String {
    let answer = app
        .gql(
            Some(admin),
            r#"mutation { createRole(input: {name: "project manager", permissions: ["projects:read", "projects:write", "projects:delete", "sboms:read", "sboms:write", "sboms:delete", "tokens:read", "tokens:write"]}) { id } }"#,
            json!({}),
        )
        .await;
    data(&answer, "createRole")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub const CYCLONEDX: &str = r#"{"bomFormat": "CycloneDX", "specVersion": "1.6", "metadata": {"component": {"name": "api"}}, "components": [{"name": "serde"}]}"#;

#[tokio::test]
async fn rotation_keeps_the_restriction_and_personal_tokens_take_one_too() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let a = app.create_project("a").await;
    let other = app.other_organization("Other", "boss@other.test").await;
    let _ = other;
    let answer = app
        .gql(
            Some(&admin),
            "mutation($input: CreatePersonalTokenInput!) { createPersonalToken(input: $input) { token { id projects { name } } } }",
            json!({ "input": { "name": "ci", "expiresAt": days_from_now(7).to_rfc3339(), "projectIds": [a] } }),
        )
        .await;
    let token = data(&answer, "createPersonalToken")["token"].clone();
    assert_eq!(token["projects"], json!([{ "name": "a" }]));
    let answer = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { rotateToken(id: $id) { token { projects { name } } } }",
            json!({ "id": token["id"] }),
        )
        .await;
    assert_eq!(
        data(&answer, "rotateToken")["token"]["projects"],
        json!([{ "name": "a" }])
    );
    // A project of another organization does not exist here.
    let foreign = app
        .gql(
            Some(other_token(&app).await.as_str()),
            r#"mutation { createProject(input: {name: "theirs"}) { id } }"#,
            json!({}),
        )
        .await;
    let foreign = data(&foreign, "createProject")["id"].clone();
    let answer = app
        .gql(
            Some(&admin),
            "mutation($input: CreatePersonalTokenInput!) { createPersonalToken(input: $input) { token { id } } }",
            json!({ "input": { "name": "x", "expiresAt": days_from_now(7).to_rfc3339(), "projectIds": [foreign] } }),
        )
        .await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
}

async fn other_token(app: &TestApp) -> String {
    app.login("boss@other.test", crate::helpers::ADMIN_PASSWORD)
        .await
}

const ROTATE_WITH_GRACE: &str = "mutation($id: ID!, $grace: Int) { rotateToken(id: $id, gracePeriodSeconds: $grace) { token { id } secret } }";

#[tokio::test]
async fn rotation_with_a_grace_period_keeps_the_old_secret_working_until_it_ends() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let (old_id, old_secret) = app.create_personal_token(&admin, None).await;
    let answer = app
        .gql(
            Some(&admin),
            ROTATE_WITH_GRACE,
            json!({ "id": old_id, "grace": 3600 }),
        )
        .await;
    let rotated = data(&answer, "rotateToken");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    // Both work now; the old one says when it stops.
    for secret in [&old_secret, &new_secret] {
        let answer = app
            .gql(Some(secret), "{ organization { id } }", json!({}))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    let answer = app
        .gql(
            Some(&admin),
            "query($id: ID!) { token(id: $id) { status revokedAt } }",
            json!({ "id": old_id }),
        )
        .await;
    let old = data(&answer, "token");
    assert_eq!(old["status"], "ACTIVE");
    let ends: DateTime<Utc> = old["revokedAt"].as_str().unwrap().parse().unwrap();
    let expected = Utc::now() + chrono::Duration::hours(1);
    assert!((ends - expected).num_seconds().abs() < 30, "{ends}");
    // It cannot be rotated a second time.
    let answer = app
        .gql(Some(&admin), ROTATE_WITH_GRACE, json!({ "id": old_id }))
        .await;
    assert_eq!(
        answer.error_code(),
        Some("BAD_USER_INPUT"),
        "{}",
        answer.text
    );
    // When the grace ends, the old secret is a 401.
    app.execute(
        "UPDATE token SET revoked_at = $1 WHERE id = $2",
        vec![
            (Utc::now() - chrono::Duration::seconds(1)).into(),
            old_id.parse::<uuid::Uuid>().unwrap().into(),
        ],
    )
    .await;
    assert_unauthorized(
        &app.gql(Some(&old_secret), "{ organization { id } }", json!({}))
            .await,
        true,
    );
    let answer = app
        .gql(Some(&new_secret), "{ organization { id } }", json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::OK);

    // Revoking during the grace ends it at once, and both are audited.
    let (second_id, second_secret) = app.create_personal_token(&admin, None).await;
    let answer = app
        .gql(
            Some(&admin),
            ROTATE_WITH_GRACE,
            json!({ "id": second_id, "grace": 600 }),
        )
        .await;
    data(&answer, "rotateToken");
    let answer = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { revokeToken(id: $id) { status } }",
            json!({ "id": second_id }),
        )
        .await;
    assert_eq!(data(&answer, "revokeToken")["status"], "REVOKED");
    assert_unauthorized(
        &app.gql(Some(&second_secret), "{ organization { id } }", json!({}))
            .await,
        true,
    );
    let answer = app
        .gql(
            Some(&admin),
            "{ organization { auditEvents(first: 10) { edges { node { action targetId } } } } }",
            json!({}),
        )
        .await;
    let actions: Vec<(String, String)> =
        answer.body["data"]["organization"]["auditEvents"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["node"]["action"].as_str().unwrap().to_owned(),
                    e["node"]["targetId"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
    assert!(
        actions.contains(&("token.rotated".into(), second_id.clone())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("token.revoked".into(), second_id.clone())),
        "{actions:?}"
    );
    // At most 7 days.
    let (third, _) = app.create_personal_token(&admin, None).await;
    let answer = app
        .gql(
            Some(&admin),
            ROTATE_WITH_GRACE,
            json!({ "id": third, "grace": 7 * 86400 + 1 }),
        )
        .await;
    assert_eq!(
        answer.error_code(),
        Some("BAD_USER_INPUT"),
        "{}",
        answer.text
    );
}

/// Waits until `lastUsedIps` of the token reads `expected` (the write runs
/// behind the request).
async fn until_addresses(app: &TestApp, token_id: &str, expected: Value) {
    let query = "query($id: ID!) { token(id: $id) { lastUsedIps } }";
    let mut last = Value::Null;
    for _ in 0..100 {
        let answer = app
            .gql(Some(app.admin_token()), query, json!({ "id": token_id }))
            .await;
        last = answer.body["data"]["token"]["lastUsedIps"].clone();
        if last == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("lastUsedIps stayed {last}, expected {expected}");
}

#[tokio::test]
async fn a_token_remembers_the_last_five_addresses_it_was_used_from() {
    let app = spawn_app_with(|config| config.limits.trusted_proxy_hops = 1).await;
    let admin = app.admin_session().await;
    let (id, secret) = app.create_personal_token(&admin, None).await;
    until_addresses(&app, &id, json!([])).await;
    let uuid: uuid::Uuid = id.parse().unwrap();
    for (i, address) in [
        "203.0.113.1",
        "203.0.113.2",
        "203.0.113.1",
        "203.0.113.3",
        "203.0.113.4",
        "203.0.113.5",
        "203.0.113.6",
    ]
    .into_iter()
    .enumerate()
    {
        let answer = app
            .send(
                app.client
                    .post(app.url())
                    .bearer_auth(&secret)
                    .header("X-Forwarded-For", address)
                    .json(&json!({ "query": "{ organization { id } }" })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        let expected: Vec<&str> = match i {
            0 => vec!["203.0.113.1"],
            1 => vec!["203.0.113.2", "203.0.113.1"],
            2 => vec!["203.0.113.1", "203.0.113.2"],
            3 => vec!["203.0.113.3", "203.0.113.1", "203.0.113.2"],
            4 => vec!["203.0.113.4", "203.0.113.3", "203.0.113.1", "203.0.113.2"],
            5 => vec![
                "203.0.113.5",
                "203.0.113.4",
                "203.0.113.3",
                "203.0.113.1",
                "203.0.113.2",
            ],
            _ => vec![
                "203.0.113.6",
                "203.0.113.5",
                "203.0.113.4",
                "203.0.113.3",
                "203.0.113.1",
            ],
        };
        until_addresses(&app, &id, json!(expected)).await;
        // The write happens at most once a minute: make the next use due.
        app.execute(
            "UPDATE token SET last_used_at = NULL WHERE id = $1",
            vec![uuid.into()],
        )
        .await;
    }
}
