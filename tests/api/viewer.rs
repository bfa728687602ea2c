//! `viewer`, `permissions`, `organizations` and field-level FORBIDDEN.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

const VIEWER: &str = "query { viewer { kind user { email } token { kind hint status } role { name builtIn } permissions } }";

#[tokio::test]
async fn viewer_of_a_personal_token() {
    let app = spawn_app().await;
    let answer = app.gql(Some(app.admin_token()), VIEWER, Value::Null).await;
    assert_eq!(answer.status, StatusCode::OK);
    let viewer = &answer.body["data"]["viewer"];
    assert_eq!(viewer["kind"], "PERSONAL_TOKEN");
    assert_eq!(viewer["user"]["email"], "admin@acme.test");
    assert_eq!(viewer["token"]["kind"], "PERSONAL");
    assert_eq!(viewer["token"]["status"], "ACTIVE");
    let hint = viewer["token"]["hint"].as_str().unwrap();
    let token = app.admin_token();
    assert_eq!(
        hint,
        format!("lynk_live_{}…{}", &token[10..14], &token[token.len() - 4..])
    );
    assert_eq!(viewer["role"], json!({"name": "admin", "builtIn": true}));
    assert_eq!(viewer["permissions"].as_array().unwrap().len(), 16);
}

#[tokio::test]
async fn viewer_of_a_service_token() {
    let app = spawn_app().await;
    let (_, token) = app.service_token("uploader").await;
    let answer = app.gql(Some(&token), VIEWER, Value::Null).await;
    assert_eq!(
        answer.body["data"]["viewer"],
        json!({
            "kind": "SERVICE_TOKEN",
            "user": null,
            "token": {
                "kind": "SERVICE",
                "hint": format!("lynk_service_live_{}…{}", &token[18..22], &token[token.len() - 4..]),
                "status": "ACTIVE"
            },
            "role": {"name": "uploader", "builtIn": true},
            "permissions": ["projects:read", "sboms:read", "sboms:write"]
        })
    );
}

#[tokio::test]
async fn a_field_without_the_permission_is_null_and_forbidden() {
    let app = spawn_app().await;
    let (_, token) = app.service_token("uploader").await;
    let answer = app
        .gql(
            Some(&token),
            "query { organization { name roles { name } } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body["data"],
        json!({"organization": {"name": "Acme Corp", "roles": null}})
    );
    assert_eq!(answer.error_code(), Some("FORBIDDEN"));
    let error = &answer.body["errors"][0];
    assert_eq!(error["extensions"]["requiredPermission"], "roles:read");
    assert_eq!(
        error["message"],
        "Forbidden: this needs the `roles:read` permission"
    );
    assert_eq!(error["path"], json!(["organization", "roles"]));
}

#[tokio::test]
async fn the_permission_catalog() {
    let app = spawn_app().await;
    let (_, token) = app.service_token("viewer").await;
    let answer = app
        .gql(
            Some(&token),
            "{ permissions { name description } }",
            Value::Null,
        )
        .await;
    let permissions = answer.body["data"]["permissions"].as_array().unwrap();
    assert_eq!(permissions.len(), 16);
    assert_eq!(permissions[0]["name"], "organization:write");
    assert!(
        permissions
            .iter()
            .all(|p| !p["description"].as_str().unwrap().is_empty())
    );
}

#[tokio::test]
async fn organizations_lists_every_membership() {
    let app = spawn_app().await;
    // The same admin email bootstraps a second organization.
    app.other_organization("Globex", "admin@acme.test").await;
    let session = app.admin_session().await;
    let answer = app
        .gql(Some(&session), "{ organizations { name } }", Value::Null)
        .await;
    assert_eq!(
        answer.body["data"]["organizations"],
        json!([{"name": "Acme Corp"}, {"name": "Globex"}])
    );
    // A personal token sees its own organization only.
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organizations { name } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.body["data"]["organizations"],
        json!([{"name": "Acme Corp"}])
    );
    let (_, service) = app.service_token("viewer").await;
    let answer = app
        .gql(Some(&service), "{ organizations { name } }", Value::Null)
        .await;
    assert_eq!(
        answer.body["data"]["organizations"],
        json!([{"name": "Acme Corp"}])
    );
}
