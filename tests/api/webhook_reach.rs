//! What a `webhooks:*` holder reaches of a webhook whose events it may not
//! read (deleting it, its deliveries), and the IPv6 transition addresses
//! a webhook may not point at.

use serde_json::{Value, json};

use crate::{
    helpers::TestApp,
    webhooks::{create, create_ok, spawn_with_webhooks},
};

const DELETE: &str = "mutation($id: ID!) { deleteWebhook(id: $id) }";
const DELIVERIES: &str =
    "{ organization { webhooks { id deliveries { edges { node { event } } } } } }";

async fn webhook_ids(app: &TestApp) -> Vec<Value> {
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { webhooks { id } } }",
            Value::Null,
        )
        .await;
    answer.body["data"]["organization"]["webhooks"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .iter()
        .map(|hook| hook["id"].clone())
        .collect()
}

#[tokio::test]
async fn deleting_a_webhook_needs_the_permissions_its_events_need() {
    let app = spawn_with_webhooks().await;
    let tokens_hook = create_ok(
        &app,
        "https://hooks.lynk.invalid/tokens",
        &["token.created"],
    )
    .await;
    let members_hook = create_ok(
        &app,
        "https://hooks.lynk.invalid/members",
        &["member.added"],
    )
    .await;
    let sboms_hook = create_ok(&app, "https://hooks.lynk.invalid/sboms", &["sbom.uploaded"]).await;
    let writer = app.token_with(&["webhooks:write", "webhooks:read"]).await;
    for (id, permission) in [
        (&tokens_hook, "tokens:read"),
        (&members_hook, "members:read"),
        (&sboms_hook, "sboms:read"),
    ] {
        let answer = app.gql(Some(&writer), DELETE, json!({ "id": id })).await;
        answer.assert_refused(
            "FORBIDDEN",
            &format!("Forbidden: this needs the `{permission}` permission"),
        );
        assert_eq!(
            answer.body["errors"][0]["extensions"]["requiredPermission"],
            permission
        );
    }
    assert_eq!(webhook_ids(&app).await.len(), 3, "nothing was deleted");
    // With the events' permission, it may.
    let sbom_writer = app.token_with(&["webhooks:write", "sboms:read"]).await;
    let answer = app
        .gql(Some(&sbom_writer), DELETE, json!({ "id": sboms_hook }))
        .await;
    assert_eq!(
        answer.body,
        json!({ "data": { "deleteWebhook": sboms_hook } }),
        "{}",
        answer.text
    );
    assert_eq!(
        webhook_ids(&app).await,
        [json!(tokens_hook), json!(members_hook)]
    );
}

#[tokio::test]
async fn deliveries_show_only_events_the_caller_may_read() {
    let app = spawn_with_webhooks().await;
    create_ok(
        &app,
        "https://hooks.lynk.invalid/all",
        &["token.created", "sbom.uploaded"],
    )
    .await;
    let viewer = app.role_id("viewer").await.to_string();
    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { secret } }",
            json!({ "input": { "name": "ci", "roleId": viewer } }),
        )
        .await;
    assert_eq!(answer.body["errors"], Value::Null, "{}", answer.text);
    let project = app.create_project("shop-api").await;
    app.upload_sbom(
        app.admin_token(),
        &project,
        crate::ci_tokens::CYCLONEDX,
        "id",
    )
    .await;
    let events = |answer: &crate::helpers::Answer| -> Vec<Value> {
        answer.body["data"]["organization"]["webhooks"][0]["deliveries"]["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", answer.text))
            .iter()
            .map(|edge| edge["node"]["event"].clone())
            .collect()
    };
    let admin = app
        .gql(Some(app.admin_token()), DELIVERIES, Value::Null)
        .await;
    let mut all = events(&admin);
    all.sort_by_key(|event| event.to_string());
    assert_eq!(all, [json!("sbom.uploaded"), json!("token.created")]);
    let reader = app.token_with(&["webhooks:read"]).await;
    let answer = app.gql(Some(&reader), DELIVERIES, Value::Null).await;
    assert_eq!(answer.body["errors"], Value::Null, "{}", answer.text);
    assert_eq!(events(&answer), Vec::<Value>::new());
    let sbom_reader = app.token_with(&["webhooks:read", "sboms:read"]).await;
    let answer = app.gql(Some(&sbom_reader), DELIVERIES, Value::Null).await;
    assert_eq!(events(&answer), [json!("sbom.uploaded")]);
}

#[tokio::test]
async fn a_webhook_may_not_point_at_an_ipv6_transition_address_of_a_private_one() {
    let app = spawn_with_webhooks().await;
    for url in [
        // 6to4 of 127.0.0.1 and of the cloud metadata address.
        "https://[2002:7f00:1::1]/hook",
        "https://[2002:a9fe:a9fe::]/latest/meta-data",
        // Teredo and local-use NAT64.
        "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",
        "https://[64:ff9b:1::a9fe:a9fe]/hook",
    ] {
        let answer = create(&app, app.admin_token(), url, &["token.created"]).await;
        assert_eq!(answer.status, reqwest::StatusCode::OK);
        answer.assert_error_exact(
            "BAD_USER_INPUT",
            "url must point to a public address, not loopback, private, link-local or metadata \
             ones, nor an IPv6 6to4, Teredo or NAT64 form of one",
        );
    }
    assert!(webhook_ids(&app).await.is_empty());
    // A 6to4 form of a public address is fine.
    create_ok(&app, "https://[2002:808:808::1]/hook", &["token.created"]).await;
}
