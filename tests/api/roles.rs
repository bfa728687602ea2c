//! Custom roles: create, update, delete, and the rules around them.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

const CREATE: &str = "mutation($input: CreateRoleInput!) { createRole(input: $input) { id name description permissions builtIn } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateRoleInput!) { updateRole(id: $id, input: $input) { name permissions } }";
const DELETE: &str = "mutation($id: ID!) { deleteRole(id: $id) }";

#[tokio::test]
async fn create_update_delete_a_custom_role() {
    let app = spawn_app().await;
    let token = app.admin_token();
    let answer = app
        .gql(
            Some(token),
            CREATE,
            json!({"input": {"name": "auditor", "description": "Reads the log", "permissions": ["audit:read", "members:read", "audit:read"]}}),
        )
        .await;
    let role = &answer.body["data"]["createRole"];
    assert_eq!(role["name"], "auditor");
    assert_eq!(role["description"], "Reads the log");
    assert_eq!(role["permissions"], json!(["members:read", "audit:read"]));
    assert_eq!(role["builtIn"], false);
    let id = role["id"].as_str().unwrap().to_owned();
    let answer = app
        .gql(
            Some(token),
            UPDATE,
            json!({"id": id, "input": {"name": "log-reader", "permissions": ["audit:read"]}}),
        )
        .await;
    assert_eq!(
        answer.body["data"]["updateRole"],
        json!({"name": "log-reader", "permissions": ["audit:read"]})
    );
    let answer = app
        .gql(
            Some(token),
            "query($id: ID!) { role(id: $id) { name } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(answer.body["data"]["role"]["name"], "log-reader");
    let answer = app.gql(Some(token), DELETE, json!({"id": id})).await;
    assert_eq!(answer.body["data"]["deleteRole"], id.as_str());
    let answer = app
        .gql(
            Some(token),
            "query($id: ID!) { role(id: $id) { name } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn unknown_permissions_are_named_with_the_valid_ones() {
    let app = spawn_app().await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            CREATE,
            json!({"input": {"name": "x", "permissions": ["sboms:upload"]}}),
        )
        .await;
    answer.assert_error_exact(
        "BAD_USER_INPUT",
        "unknown permission `sboms:upload`; valid permissions are: organization:write, \
         members:read, members:write, roles:read, roles:write, tokens:read, tokens:write, \
         audit:read, projects:read, projects:write, projects:delete, sboms:read, sboms:write, \
         sboms:delete, webhooks:read, webhooks:write",
    );
}

#[tokio::test]
async fn built_in_roles_cannot_change() {
    let app = spawn_app().await;
    let viewer = app.role_id("viewer").await.to_string();
    for (query, variables) in [
        (
            UPDATE,
            json!({"id": viewer, "input": {"permissions": ["audit:read"]}}),
        ),
        (DELETE, json!({"id": viewer})),
    ] {
        let answer = app.gql(Some(app.admin_token()), query, variables).await;
        answer.assert_error("BAD_USER_INPUT", "built-in role");
    }
}

#[tokio::test]
async fn duplicate_names_and_roles_in_use_conflict() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let answer = app
        .gql(
            Some(&admin),
            CREATE,
            json!({"input": {"name": "viewer", "permissions": []}}),
        )
        .await;
    answer.assert_error_exact(
        "CONFLICT",
        "a role named `viewer` already exists in this organization",
    );
    let answer = app
        .gql(
            Some(&admin),
            CREATE,
            json!({"input": {"name": "reader", "permissions": ["projects:read"]}}),
        )
        .await;
    let id = answer.body["data"]["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.add_member(&admin, "rita@acme.test", "reader").await;
    let answer = app.gql(Some(&admin), DELETE, json!({"id": id})).await;
    answer.assert_error("CONFLICT", "1 member(s)");
}

#[tokio::test]
async fn roles_cannot_escalate() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    app.gql(
        Some(&admin),
        CREATE,
        json!({"input": {"name": "role-admin", "permissions": ["roles:read", "roles:write", "projects:read"]}}),
    )
    .await;
    let manager = app.add_member(&admin, "max@acme.test", "role-admin").await;
    let answer = app
        .gql(
            Some(&manager.session),
            CREATE,
            json!({"input": {"name": "sneaky", "permissions": ["tokens:write"]}}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"));
    // Nor widen a role it cannot fully hold.
    let editor_like = app
        .gql(
            Some(&admin),
            CREATE,
            json!({"input": {"name": "auditor", "permissions": ["audit:read"]}}),
        )
        .await;
    let id = editor_like.body["data"]["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = app
        .gql(
            Some(&manager.session),
            UPDATE,
            json!({"id": id, "input": {"description": "mine now"}}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"));
}

#[tokio::test]
async fn a_role_change_applies_to_the_next_request() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let answer = app
        .gql(
            Some(&admin),
            CREATE,
            json!({"input": {"name": "pipeline", "permissions": ["projects:read"]}}),
        )
        .await;
    let role_id = answer.body["data"]["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = app
        .gql(
            Some(&admin),
            "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { secret } }",
            json!({"input": {"name": "ci", "roleId": role_id}}),
        )
        .await;
    let secret = created.body["data"]["createServiceToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let permissions = "{ viewer { permissions } }";
    assert_eq!(
        app.gql(Some(&secret), permissions, Value::Null).await.body["data"]["viewer"]["permissions"],
        json!(["projects:read"])
    );
    app.gql(
        Some(&admin),
        UPDATE,
        json!({"id": role_id, "input": {"permissions": ["projects:read", "sboms:write"]}}),
    )
    .await;
    assert_eq!(
        app.gql(Some(&secret), permissions, Value::Null).await.body["data"]["viewer"]["permissions"],
        json!(["projects:read", "sboms:write"])
    );
}

/// The built-in roles are stored by name (`@admin`) and answer with this
/// build's lists; `@…` is no way for a custom role to borrow one.
#[tokio::test]
async fn built_in_roles_answer_from_the_catalog_and_cannot_be_borrowed() {
    let app = spawn_app().await;
    let token = app.admin_token();
    let answer = app
        .gql(
            Some(token),
            "{ organization { roles { name permissions builtIn } } permissions { name } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let every: Vec<Value> = answer.body["data"]["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    let roles = answer.body["data"]["organization"]["roles"]
        .as_array()
        .unwrap();
    let admin = roles.iter().find(|r| r["name"] == "admin").unwrap();
    assert_eq!(admin["permissions"], Value::Array(every));
    let uploader = roles.iter().find(|r| r["name"] == "uploader").unwrap();
    assert_eq!(
        uploader["permissions"],
        json!(["projects:read", "sboms:read", "sboms:write"])
    );

    let answer = app
        .gql(
            Some(token),
            CREATE,
            json!({"input": {"name": "borrower", "permissions": ["@admin"]}}),
        )
        .await;
    answer.assert_error("BAD_USER_INPUT", "@admin");
    assert_eq!(answer.body["data"], Value::Null);
}

/// The catalogs clients read instead of copying: every audit action and
/// every webhook event with the permission it needs.
#[tokio::test]
async fn the_catalogs_list_every_audit_action_and_webhook_event() {
    let app = spawn_app().await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ auditActions webhookEvents { name permission } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body.get("errors"), None, "{}", answer.body);
    let actions = answer.body["data"]["auditActions"].as_array().unwrap();
    for action in [
        "token.created",
        "token.leaked",
        "webhook.created",
        "webhook.parked",
    ] {
        assert!(
            actions.contains(&json!(action)),
            "{action} missing: {actions:?}"
        );
    }
    let events = answer.body["data"]["webhookEvents"].as_array().unwrap();
    assert_eq!(
        events[0],
        json!({"name": "token.created", "permission": "tokens:read"})
    );
    assert!(events.contains(&json!({"name": "sbom.uploaded", "permission": "sboms:read"})));
    assert!(events.contains(&json!({"name": "member.added", "permission": "members:read"})));
}
