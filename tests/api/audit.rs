//! The audit log: written with each change, readable with `audit:read`.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn changes_are_audited_with_actor_target_and_address() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let (token_id, _) = app.create_personal_token(&admin, None).await;
    app.gql(
        Some(&admin),
        "mutation($id: ID!) { revokeToken(id: $id) { id } }",
        json!({"id": token_id}),
    )
    .await;
    app.add_member(&admin, "vera@acme.test", "viewer").await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { auditEvents(first: 100) { edges { node { action targetType actorUser { email } ip } } } } }",
            Value::Null,
        )
        .await;
    let actions: Vec<&str> = answer.body["data"]["organization"]["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    // Newest first.
    assert_eq!(
        actions,
        [
            "member.joined",
            "member.invited",
            "token.revoked",
            "token.created",
            "login.succeeded",
            "token.created",
            "organization.created"
        ]
    );
    let answer = app
        .gql(
            Some(app.admin_token()),
            r#"{ organization { auditEvents(action: "token.revoked") { edges { node { action targetType targetId actorUser { email } actorToken { kind } ip } } } } }"#,
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.body["data"]["organization"]["auditEvents"]["edges"],
        json!([{"node": {
            "action": "token.revoked",
            "targetType": "token",
            "targetId": token_id,
            "actorUser": {"email": "admin@acme.test"},
            // A session is seen only by itself and its user's sessions,
            // not by a personal token (as `token(id)` answers).
            "actorToken": null,
            "ip": "127.0.0.1"
        }}])
    );
}

#[tokio::test]
async fn the_audit_log_needs_audit_read() {
    let app = spawn_app().await;
    let (_, editor) = app.service_token("editor").await;
    let answer = app
        .gql(
            Some(&editor),
            "{ organization { auditEvents { edges { cursor } } } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.body["errors"][0]["extensions"]["requiredPermission"],
        "audit:read"
    );
}
