//! The events changes queue: one `PENDING` delivery per active webhook
//! subscribed to the event, written in the change's transaction, with a
//! body of `{type, timestamp, data}` that never holds a secret.

use lynk::entity::webhook_delivery::{self, DeliveryStatus};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

use super::{create_ok, spawn_with_webhooks};
use crate::{ci_tokens::CYCLONEDX, helpers::TestApp};

const ALL_EVENTS: [&str; 7] = [
    "token.created",
    "token.revoked",
    "token.rotated",
    "member.added",
    "member.removed",
    "member.role_changed",
    "sbom.uploaded",
];

/// Every delivery row, oldest first.
async fn deliveries(app: &TestApp) -> Vec<webhook_delivery::Model> {
    webhook_delivery::Entity::find()
        .order_by_asc(webhook_delivery::Column::Id)
        .all(&app.db)
        .await
        .expect("read deliveries")
}

/// The deliveries queued since `before` rows existed, as
/// `(webhook id, event, parsed payload)`.
async fn queued_since(app: &TestApp, before: usize) -> Vec<(String, String, Value)> {
    deliveries(app)
        .await
        .into_iter()
        .skip(before)
        .map(|row| {
            // `.invalid` receivers never answer: whatever a sender has
            // tried meanwhile, nothing is delivered.
            assert_eq!(row.status, DeliveryStatus::Pending);
            assert_eq!(row.response_status, None);
            assert_eq!(row.delivered_at, None);
            let payload: Value = serde_json::from_str(&row.payload).expect("JSON payload");
            assert_eq!(payload["type"], row.event.as_str());
            assert!(
                payload["timestamp"]
                    .as_str()
                    .is_some_and(|t| t.ends_with('Z'))
            );
            (row.webhook_id.to_string(), row.event, payload)
        })
        .collect()
}

/// Three webhooks: `all` (every event here), `sboms` (only
/// `sbom.uploaded`), and `paused` (every event, inactive). Their hosts
/// are `.invalid` (RFC 6761): no delivery can reach them.
struct Hooks {
    all: String,
    sboms: String,
}

async fn hooks(app: &TestApp) -> Hooks {
    let all = create_ok(app, "https://hooks.lynk.invalid/all", &ALL_EVENTS).await;
    let sboms = create_ok(app, "https://hooks.lynk.invalid/sboms", &["sbom.uploaded"]).await;
    let paused = create_ok(app, "https://hooks.lynk.invalid/paused", &ALL_EVENTS).await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation($id: ID!) { updateWebhook(id: $id, input: {active: false}) { active } }",
            json!({ "id": paused }),
        )
        .await;
    assert_eq!(answer.body["data"]["updateWebhook"]["active"], false);
    Hooks { all, sboms }
}

#[tokio::test]
async fn token_changes_queue_one_delivery_per_subscribed_webhook() {
    let app = spawn_with_webhooks().await;
    let hooks = hooks(&app).await;
    let admin_session = app.admin_session().await;
    // Signing in makes a session: never an event.
    assert_eq!(queued_since(&app, 0).await, []);

    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { token { id hint } secret } }",
            json!({ "input": { "name": "deploy", "roleId": app.role_id("uploader").await.to_string() } }),
        )
        .await;
    let created = &answer.body["data"]["createServiceToken"];
    let token_id = created["token"]["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let queued = queued_since(&app, 0).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    let (webhook, event, payload) = &queued[0];
    assert_eq!((webhook, event.as_str()), (&hooks.all, "token.created"));
    assert_eq!(
        payload["data"]["token"],
        json!({
            "id": token_id,
            "name": "deploy",
            "kind": "SERVICE",
            "hint": created["token"]["hint"],
            "ownerUserId": null,
            "expiresAt": null,
            "revokedAt": null,
        })
    );
    assert_eq!(
        payload["data"]["actor"]["userId"],
        app.admin.user.id.to_string()
    );
    assert!(payload["data"]["actor"]["tokenId"].is_string());

    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation($id: ID!) { rotateToken(id: $id, gracePeriodSeconds: 60) { token { id } secret } }",
            json!({ "id": token_id }),
        )
        .await;
    let successor = answer.body["data"]["rotateToken"]["token"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .to_owned();
    let rotated_secret = answer.body["data"]["rotateToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let queued = queued_since(&app, 1).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    let (webhook, event, payload) = &queued[0];
    assert_eq!((webhook, event.as_str()), (&hooks.all, "token.rotated"));
    assert_eq!(payload["data"]["token"]["id"], successor);
    assert_eq!(payload["data"]["token"]["revokedAt"], Value::Null);
    assert_eq!(payload["data"]["previous"]["id"], token_id);
    assert!(payload["data"]["previous"]["revokedAt"].is_string());

    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation($id: ID!) { revokeToken(id: $id) { status } }",
            json!({ "id": successor }),
        )
        .await;
    assert_eq!(answer.body["data"]["revokeToken"]["status"], "REVOKED");
    // Revoking it again changes nothing and announces nothing.
    app.gql(
        Some(app.admin_token()),
        "mutation($id: ID!) { revokeToken(id: $id) { status } }",
        json!({ "id": successor }),
    )
    .await;
    let queued = queued_since(&app, 2).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    let (webhook, event, payload) = &queued[0];
    assert_eq!((webhook, event.as_str()), (&hooks.all, "token.revoked"));
    assert_eq!(payload["data"]["token"]["id"], successor);
    assert!(payload["data"]["token"]["revokedAt"].is_string());

    // A session revoked: no event.
    let answer = app
        .gql(
            Some(&admin_session),
            "{ viewer { token { id } } }",
            Value::Null,
        )
        .await;
    let session_id = answer.body["data"]["viewer"]["token"]["id"].clone();
    let answer = app
        .gql(
            Some(&admin_session),
            "mutation($id: ID!) { revokeToken(id: $id) { status } }",
            json!({ "id": session_id }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["revokeToken"]["status"], "REVOKED",
        "{}",
        answer.text
    );
    assert_eq!(queued_since(&app, 3).await, []);

    // No secret in any body.
    for row in deliveries(&app).await {
        for secret in [&secret, &rotated_secret, &app.admin.token] {
            assert!(!row.payload.contains(secret.as_str()), "{}", row.payload);
        }
    }
}

#[tokio::test]
async fn member_and_sbom_changes_queue_their_events() {
    let app = spawn_with_webhooks().await;
    let hooks = hooks(&app).await;
    let admin = app.admin_session().await;
    let vera = app.add_member(&admin, "vera@acme.test", "viewer").await;
    let viewer_role = app.role_id("viewer").await.to_string();
    let editor_role = app.role_id("editor").await.to_string();
    let queued = queued_since(&app, 0).await;
    let events: Vec<&str> = queued.iter().map(|(_, event, _)| event.as_str()).collect();
    // The invitee's session is no event; joining is.
    assert_eq!(events, ["member.added"]);
    let vera_id = vera.user_id.to_string();
    assert_eq!(queued[0].0, hooks.all);
    assert_eq!(
        queued[0].2["data"]["member"],
        json!({ "userId": vera_id, "email": "vera@acme.test", "role": { "id": viewer_role, "name": "viewer" } })
    );
    assert_eq!(
        queued[0].2["data"]["actor"],
        json!({ "userId": vera_id, "tokenId": null })
    );

    let answer = app
        .gql(
            Some(&admin),
            "mutation($user: ID!, $role: ID!) { updateMemberRole(userId: $user, roleId: $role) { joinedAt } }",
            json!({ "user": vera_id, "role": editor_role }),
        )
        .await;
    assert!(
        answer.body["data"]["updateMemberRole"].is_object(),
        "{}",
        answer.text
    );
    let queued = queued_since(&app, 1).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].1, "member.role_changed");
    assert_eq!(
        queued[0].2["data"]["member"]["role"],
        json!({ "id": editor_role, "name": "editor" })
    );
    assert_eq!(
        queued[0].2["data"]["previousRole"],
        json!({ "id": viewer_role, "name": "viewer" })
    );
    assert_eq!(
        queued[0].2["data"]["actor"]["userId"],
        app.admin.user.id.to_string()
    );

    let answer = app
        .gql(
            Some(&admin),
            "mutation($user: ID!) { removeMember(userId: $user) }",
            json!({ "user": vera_id }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["removeMember"], vera_id,
        "{}",
        answer.text
    );
    let queued = queued_since(&app, 2).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].1, "member.removed");
    assert_eq!(queued[0].2["data"]["member"]["userId"], vera_id);
    assert_eq!(queued[0].2["data"]["member"]["role"]["name"], "editor");
    assert!(queued[0].2["data"].get("previousRole").is_none());

    let project = app.create_project("shop-api").await;
    let (_, uploader) = app.service_token("uploader").await;
    let answer = app
        .upload_sbom(&uploader, &project, CYCLONEDX, "id sha256")
        .await;
    let sbom = &answer.body["data"]["uploadSbom"];
    let queued = queued_since(&app, 3).await;
    let mut webhooks: Vec<&str> = queued.iter().map(|(w, _, _)| w.as_str()).collect();
    webhooks.sort_unstable();
    let mut expected = [hooks.all.as_str(), hooks.sboms.as_str()];
    expected.sort_unstable();
    assert_eq!(webhooks, expected);
    for (_, event, payload) in &queued {
        assert_eq!(event, "sbom.uploaded");
        assert_eq!(
            payload["data"]["sbom"],
            json!({
                "id": sbom["id"], "name": "api", "format": "cyclonedx", "sha256": sbom["sha256"],
                "projectId": project,
                "provenance": {
                    "kind": "SERVICE_TOKEN", "publisherId": null, "issuer": null,
                    "repository": null, "repositoryId": null, "ref": null, "sha": null,
                    "workflowRef": null, "environment": null, "runId": null
                },
            })
        );
        assert_eq!(payload["data"]["actor"]["userId"], Value::Null);
        assert!(
            !payload.to_string().contains("serde"),
            "no document in the event"
        );
    }
    // The same document again returns the stored SBOM: no new event.
    let again = app.upload_sbom(&uploader, &project, CYCLONEDX, "id").await;
    assert_eq!(again.body["data"]["uploadSbom"]["id"], sbom["id"]);
    assert_eq!(queued_since(&app, 5).await, []);
}

#[tokio::test]
async fn a_change_that_fails_queues_nothing() {
    let app = spawn_with_webhooks().await;
    hooks(&app).await;
    // A token keeper cannot hand out the admin role.
    let keeper = app
        .token_with(&["tokens:read", "tokens:write", "roles:read"])
        .await;
    let answer = app
        .gql(
            Some(&keeper),
            "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { secret } }",
            json!({ "input": { "name": "escalate", "roleId": app.role_id("admin").await.to_string() } }),
        )
        .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    // A rotation refused half-way (a revoked token) leaves nothing either.
    let (revoked, _) = app.service_token("viewer").await;
    app.gql(
        Some(app.admin_token()),
        "mutation($id: ID!) { revokeToken(id: $id) { status } }",
        json!({ "id": revoked }),
    )
    .await;
    let before = deliveries(&app).await.len();
    assert_eq!(before, 1, "the revocation");
    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation($id: ID!) { rotateToken(id: $id) { secret } }",
            json!({ "id": revoked }),
        )
        .await;
    assert_eq!(
        answer.error_code(),
        Some("BAD_USER_INPUT"),
        "{}",
        answer.text
    );
    // The last admin cannot leave: no member.removed.
    let answer = app
        .gql(
            Some(&app.admin_session().await),
            "mutation($user: ID!) { removeMember(userId: $user) }",
            json!({ "user": app.admin.user.id.to_string() }),
        )
        .await;
    assert_eq!(answer.error_code(), Some("CONFLICT"), "{}", answer.text);
    // An invalid SBOM: no sbom.uploaded.
    let project = app.create_project("shop-api").await;
    let answer = app
        .upload_sbom(app.admin_token(), &project, "{\"not\": \"an sbom\"}", "id")
        .await;
    assert_eq!(
        answer.error_code(),
        Some("BAD_USER_INPUT"),
        "{}",
        answer.text
    );
    assert_eq!(deliveries(&app).await.len(), before);
}

#[tokio::test]
async fn deliveries_are_listed_newest_first() {
    let app = spawn_with_webhooks().await;
    let hooks = hooks(&app).await;
    let (token, _) = app.service_token("viewer").await;
    for _ in 0..2 {
        app.gql(
            Some(app.admin_token()),
            "mutation($id: ID!) { revokeToken(id: $id) { status } }",
            json!({ "id": token }),
        )
        .await;
    }
    let project = app.create_project("shop-api").await;
    app.upload_sbom(app.admin_token(), &project, CYCLONEDX, "id")
        .await;
    let rows = deliveries(&app).await;
    let ids: Vec<String> = rows
        .iter()
        .filter(|row| row.webhook_id.to_string() == hooks.all)
        .map(|row| row.id.to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { webhooks { url deliveries(first: 1) { edges { node { id event status responseStatus attempts createdAt deliveredAt } } pageInfo { hasNextPage endCursor } } } } }",
            Value::Null,
        )
        .await;
    let webhooks = &answer.body["data"]["organization"]["webhooks"];
    assert_eq!(
        webhooks[0]["url"], "https://hooks.lynk.invalid/all",
        "{}",
        answer.text
    );
    let page = &webhooks[0]["deliveries"];
    let node = &page["edges"][0]["node"];
    assert_eq!(
        node,
        &json!({
            "id": ids[1],
            "event": "sbom.uploaded",
            "status": "PENDING",
            "responseStatus": null,
            "attempts": node["attempts"],
            "createdAt": node["createdAt"],
            "deliveredAt": null,
        })
    );
    assert!(node["createdAt"].is_string());
    assert!(node["attempts"].as_i64().is_some_and(|n| n >= 0));
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let answer = app
        .gql(
            Some(app.admin_token()),
            "query($after: String) { organization { webhooks { deliveries(first: 5, after: $after) { edges { node { id event } } pageInfo { hasNextPage } } } } }",
            json!({ "after": page["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["organization"]["webhooks"][0]["deliveries"],
        json!({ "edges": [{ "node": { "id": ids[0], "event": "token.revoked" } }], "pageInfo": { "hasNextPage": false } }),
        "{}",
        answer.text
    );
    // The sboms-only webhook got only the upload, the paused one nothing.
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { webhooks { deliveries { edges { node { event } } } } } }",
            Value::Null,
        )
        .await;
    let counts: Vec<usize> = answer.body["data"]["organization"]["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hook| hook["deliveries"]["edges"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(counts, [2, 1, 0]);
}
