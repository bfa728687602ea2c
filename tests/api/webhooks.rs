//! Webhooks over HTTP: creating, changing and deleting them, who may, the
//! URL and event rules, and how the secret is kept. The events changes
//! queue are in [`events`].

mod events;

use base64::{Engine, engine::general_purpose::STANDARD};
use lynk::{
    auth::{CredentialKind, project_scope::ProjectScope},
    entity::webhook,
    service::token::NewToken,
    webhook::seal::SealingKey,
};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Answer, TestApp, assert_unauthorized, spawn_app, spawn_app_with};

pub const CREATE: &str = "mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id url events active secretHint createdAt } secret } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateWebhookInput!) { updateWebhook(id: $id, input: $input) { id url events active secretHint } }";
const DELETE: &str = "mutation($id: ID!) { deleteWebhook(id: $id) }";
const LIST: &str = "{ organization { webhooks { id url events active secretHint } } }";

/// The sealing key the tests configure.
pub fn sealing_key() -> SealingKey {
    STANDARD.encode([7u8; 32]).parse().expect("a 32-byte key")
}

/// lynk with webhooks enabled (a sealing key), public URLs only.
pub async fn spawn_with_webhooks() -> TestApp {
    spawn_app_with(|config| config.encryption_key = Some(sealing_key())).await
}

/// `createWebhook` as `token`.
pub async fn create(app: &TestApp, token: &str, url: &str, events: &[&str]) -> Answer {
    app.gql(
        Some(token),
        CREATE,
        json!({ "input": { "url": url, "events": events } }),
    )
    .await
}

/// Creates a webhook with the admin's token; returns its id.
pub async fn create_ok(app: &TestApp, url: &str, events: &[&str]) -> String {
    let answer = create(app, app.admin_token(), url, events).await;
    answer.body["data"]["createWebhook"]["webhook"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("createWebhook failed: {}", answer.text))
        .to_owned()
}

#[tokio::test]
async fn the_secret_is_shown_once_and_stored_sealed() {
    let app = spawn_with_webhooks().await;
    let answer = create(
        &app,
        app.admin_token(),
        " https://hooks.example.com/lynk ",
        &["token.revoked", "token.created", "token.created"],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let created = &answer.body["data"]["createWebhook"];
    let secret = created["secret"].as_str().unwrap().to_owned();
    let encoded = secret.strip_prefix("whsec_").expect("whsec_ secret");
    assert_eq!(STANDARD.decode(encoded).unwrap().len(), 24);
    let id = created["webhook"]["id"].as_str().unwrap().to_owned();
    let hint = format!("whsec_{}…{}", &encoded[..4], &encoded[encoded.len() - 4..]);
    assert_eq!(
        created["webhook"],
        json!({
            "id": id,
            "url": "https://hooks.example.com/lynk",
            "events": ["token.created", "token.revoked"],
            "active": true,
            "secretHint": hint,
            "createdAt": created["webhook"]["createdAt"],
        })
    );
    assert!(created["webhook"]["createdAt"].is_string());

    // Never readable again: the list has the hint only, and Webhook has
    // no field that could show the secret.
    let listed = app.gql(Some(app.admin_token()), LIST, Value::Null).await;
    assert_eq!(
        listed.body["data"]["organization"]["webhooks"],
        json!([{
            "id": id,
            "url": "https://hooks.example.com/lynk",
            "events": ["token.created", "token.revoked"],
            "active": true,
            "secretHint": hint,
        }])
    );
    assert!(!listed.text.contains(encoded));
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { webhooks { secret } } }",
            Value::Null,
        )
        .await;
    assert!(
        answer.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Unknown field \"secret\"")),
        "{}",
        answer.text
    );
    assert!(!answer.text.contains(encoded));

    // At rest: sealed, bound to the webhook, opened by the server's key.
    let webhook_id: Uuid = id.parse().unwrap();
    let row = webhook::Entity::find_by_id(webhook_id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(!row.secret_sealed.contains(encoded));
    assert!(!row.secret_sealed.contains(&encoded[..16]));
    assert_eq!(row.secret_hint, hint);
    assert_eq!(
        sealing_key()
            .open(webhook_id, &row.secret_sealed)
            .as_deref(),
        Some(secret.as_str())
    );
    assert!(!format!("{row:?}").contains(encoded));

    // The audit log records the creation, without the secret.
    let audit = app
        .gql(
            Some(app.admin_token()),
            r#"{ organization { auditEvents(action: "webhook.created") { edges { node { targetType targetId detail } } } } }"#,
            Value::Null,
        )
        .await;
    assert_eq!(
        audit.body["data"]["organization"]["auditEvents"]["edges"],
        json!([{ "node": { "targetType": "webhook", "targetId": id, "detail": null } }]),
        "{}",
        audit.text
    );
}

#[tokio::test]
async fn webhooks_are_updated_and_deleted() {
    let app = spawn_with_webhooks().await;
    let id = create_ok(&app, "https://hooks.example.com/a", &["token.created"]).await;
    let hint = app
        .gql(Some(app.admin_token()), LIST, Value::Null)
        .await
        .body["data"]["organization"]["webhooks"][0]["secretHint"]
        .clone();
    let answer = app
        .gql(
            Some(app.admin_token()),
            UPDATE,
            json!({ "id": id, "input": {
                "url": "https://hooks.example.org/b",
                "events": ["sbom.uploaded", "member.added"],
                "active": false,
            } }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["updateWebhook"],
        json!({
            "id": id,
            "url": "https://hooks.example.org/b",
            "events": ["member.added", "sbom.uploaded"],
            "active": false,
            "secretHint": hint,
        }),
        "{}",
        answer.text
    );
    // Omitted fields stay; the secret does not change.
    let answer = app
        .gql(
            Some(app.admin_token()),
            UPDATE,
            json!({ "id": id, "input": { "active": true } }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["updateWebhook"],
        json!({
            "id": id,
            "url": "https://hooks.example.org/b",
            "events": ["member.added", "sbom.uploaded"],
            "active": true,
            "secretHint": hint,
        })
    );
    // Updates are checked as creations are.
    let answer = app
        .gql(
            Some(app.admin_token()),
            UPDATE,
            json!({ "id": id, "input": { "url": "http://hooks.example.org/b" } }),
        )
        .await;
    answer.assert_refused(
        "BAD_USER_INPUT",
        "url must use https, not http; e.g. https://hooks.example.com/lynk",
    );
    let answer = app
        .gql(
            Some(app.admin_token()),
            UPDATE,
            json!({ "id": id, "input": { "events": [] } }),
        )
        .await;
    assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));

    let answer = app
        .gql(Some(app.admin_token()), DELETE, json!({ "id": id }))
        .await;
    assert_eq!(answer.body, json!({ "data": { "deleteWebhook": id } }));
    let listed = app.gql(Some(app.admin_token()), LIST, Value::Null).await;
    assert_eq!(listed.body["data"]["organization"]["webhooks"], json!([]));
    let answer = app
        .gql(Some(app.admin_token()), DELETE, json!({ "id": id }))
        .await;
    answer.assert_refused("NOT_FOUND", "webhook not found");
    let answer = app
        .gql(
            Some(app.admin_token()),
            r#"{ organization { auditEvents { edges { node { action } } } } }"#,
            Value::Null,
        )
        .await;
    let actions: Vec<&str> = answer.body["data"]["organization"]["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|edge| edge["node"]["action"].as_str())
        .filter(|action| action.starts_with("webhook."))
        .collect();
    assert_eq!(
        actions,
        [
            "webhook.deleted",
            "webhook.updated",
            "webhook.updated",
            "webhook.created"
        ]
    );
}

#[tokio::test]
async fn only_webhooks_write_changes_webhooks() {
    let app = spawn_with_webhooks().await;
    let id = create_ok(&app, "https://hooks.example.com/a", &["token.created"]).await;
    let admin = app.admin_session().await;
    let editor = app.add_member(&admin, "eddie@acme.test", "editor").await;
    let viewer = app.add_member(&admin, "vera@acme.test", "viewer").await;
    let (_, uploader) = app.service_token("uploader").await;
    let reader = app.token_with(&["webhooks:read"]).await;
    for caller in [&editor.session, &viewer.session, &uploader, &reader] {
        let answer = create(
            &app,
            caller,
            "https://hooks.example.com/b",
            &["token.created"],
        )
        .await;
        answer.assert_refused(
            "FORBIDDEN",
            "Forbidden: this needs the `webhooks:write` permission",
        );
        assert_eq!(
            answer.body["errors"][0]["extensions"]["requiredPermission"],
            "webhooks:write"
        );
        for (query, variables) in [
            (UPDATE, json!({ "id": id, "input": { "active": false } })),
            (DELETE, json!({ "id": id })),
        ] {
            let answer = app.gql(Some(caller), query, variables).await;
            assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
            assert_eq!(
                answer.body["errors"][0]["extensions"]["requiredPermission"],
                "webhooks:write"
            );
        }
    }
    // Reading needs webhooks:read: the reader lists, the others get null.
    let answer = app.gql(Some(&reader), LIST, Value::Null).await;
    assert_eq!(
        answer.body["data"]["organization"]["webhooks"][0]["id"], id,
        "{}",
        answer.text
    );
    for caller in [&editor.session, &viewer.session, &uploader] {
        let answer = app.gql(Some(caller), LIST, Value::Null).await;
        assert_eq!(answer.body["data"]["organization"]["webhooks"], Value::Null);
        assert_eq!(
            answer.body["errors"][0]["extensions"]["requiredPermission"],
            "webhooks:read"
        );
        assert_eq!(
            answer.body["errors"][0]["path"],
            json!(["organization", "webhooks"])
        );
    }
    // A service token that holds webhooks:write manages webhooks; no
    // session is needed.
    let writer = app.token_with(&["sboms:read", "webhooks:write"]).await;
    let answer = create(
        &app,
        &writer,
        "https://hooks.example.com/c",
        &["sbom.uploaded"],
    )
    .await;
    assert!(
        answer.body["data"]["createWebhook"]["secret"].is_string(),
        "{}",
        answer.text
    );
    // Nothing changed for the refused callers.
    let listed = app.gql(Some(app.admin_token()), LIST, Value::Null).await;
    let webhooks = listed.body["data"]["organization"]["webhooks"]
        .as_array()
        .unwrap();
    assert_eq!(webhooks.len(), 2);
    assert_eq!(webhooks[0]["active"], true);
    // Anonymous: 401 before anything runs.
    for (query, variables) in [
        (LIST, Value::Null),
        (
            CREATE,
            json!({ "input": { "url": "https://hooks.example.com/", "events": ["token.created"] } }),
        ),
        (DELETE, json!({ "id": id })),
    ] {
        assert_unauthorized(&app.gql(None, query, variables).await, false);
    }
}

#[tokio::test]
async fn a_webhook_carries_only_what_its_writer_may_read() {
    let app = spawn_with_webhooks().await;
    let admins = create_ok(&app, "https://hooks.example.com/audit", &["token.created"]).await;
    // webhooks:write alone does not open token or member events: their
    // data (names, hints, emails) needs tokens:read and members:read.
    let writer = app.token_with(&["sboms:read", "webhooks:write"]).await;
    for (events, permission) in [
        (vec!["token.created"], "tokens:read"),
        (vec!["sbom.uploaded", "token.leaked"], "tokens:read"),
        (vec!["member.added"], "members:read"),
    ] {
        let answer = create(&app, &writer, "https://attacker.example.com/", &events).await;
        assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
        assert_eq!(
            answer.body["errors"][0]["extensions"]["requiredPermission"],
            permission
        );
    }
    // Nor can it re-point a webhook that receives them elsewhere.
    let answer = app
        .gql(
            Some(&writer),
            UPDATE,
            json!({ "id": admins, "input": { "url": "https://attacker.example.com/" } }),
        )
        .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    assert_eq!(
        answer.body["errors"][0]["extensions"]["requiredPermission"],
        "tokens:read"
    );
    let listed = app.gql(Some(app.admin_token()), LIST, Value::Null).await;
    assert_eq!(
        listed.body["data"]["organization"]["webhooks"][0]["url"],
        "https://hooks.example.com/audit"
    );
    // What it may read, it may receive.
    let answer = create(
        &app,
        &writer,
        "https://hooks.example.com/sboms",
        &["sbom.uploaded"],
    )
    .await;
    assert!(
        answer.body["data"]["createWebhook"]["secret"].is_string(),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn another_organizations_webhook_does_not_exist() {
    let app = spawn_with_webhooks().await;
    let other = app.other_organization("Globex", "admin@globex.test").await;
    let theirs = create(
        &app,
        &other.token,
        "https://hooks.globex.test/",
        &["token.created"],
    )
    .await;
    let theirs = theirs.body["data"]["createWebhook"]["webhook"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", theirs.text))
        .to_owned();
    let answer = app
        .gql(
            Some(app.admin_token()),
            UPDATE,
            json!({ "id": theirs, "input": { "url": "https://evil.example.com/" } }),
        )
        .await;
    answer.assert_refused("NOT_FOUND", "webhook not found");
    let answer = app
        .gql(Some(app.admin_token()), DELETE, json!({ "id": theirs }))
        .await;
    answer.assert_refused("NOT_FOUND", "webhook not found");
    // Malformed ids cannot exist either.
    let answer = app
        .gql(
            Some(app.admin_token()),
            DELETE,
            json!({ "id": "not-a-uuid" }),
        )
        .await;
    answer.assert_refused("NOT_FOUND", "webhook not found");
    let listed = app.gql(Some(app.admin_token()), LIST, Value::Null).await;
    assert_eq!(listed.body["data"]["organization"]["webhooks"], json!([]));
    let listed = app.gql(Some(&other.token), LIST, Value::Null).await;
    assert_eq!(
        listed.body["data"]["organization"]["webhooks"][0]["url"],
        "https://hooks.globex.test/"
    );
}

#[tokio::test]
async fn urls_must_be_https_and_public() {
    let app = spawn_with_webhooks().await;
    let public_only = "url must point to a public address, not loopback, private, link-local \
                       or metadata ones, nor an IPv6 6to4, Teredo or NAT64 form of one";
    let refused = [
        (
            "http://hooks.example.com/",
            "url must use https, not http; e.g. https://hooks.example.com/lynk",
        ),
        ("https://127.0.0.1/hook", public_only),
        ("https://10.0.0.8/hook", public_only),
        ("https://192.168.1.1/hook", public_only),
        ("https://169.254.169.254/latest/meta-data/", public_only),
        ("https://[::1]/hook", public_only),
        ("https://[::ffff:127.0.0.1]/hook", public_only),
        ("https://localhost/hook", public_only),
        ("https://intranet/hook", public_only),
        (
            "https://user:pass@hooks.example.com/",
            "url must not carry a user name or password: they would be stored and shown in \
             clear; authenticate deliveries with the webhook's signature instead",
        ),
    ];
    for (url, message) in refused {
        let answer = create(&app, app.admin_token(), url, &["token.created"]).await;
        answer.assert_refused("BAD_USER_INPUT", message);
    }
    let answer = create(
        &app,
        app.admin_token(),
        "hooks.example.com",
        &["token.created"],
    )
    .await;
    assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));
    assert!(
        answer.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("url is not an absolute URL")
    );
    let huge = format!("https://hooks.example.com/{}", "a".repeat(100_000));
    let answer = create(&app, app.admin_token(), &huge, &["token.created"]).await;
    answer.assert_refused("BAD_USER_INPUT", "url is longer than 2048 characters");
    let listed = app.gql(Some(app.admin_token()), LIST, Value::Null).await;
    assert_eq!(listed.body["data"]["organization"]["webhooks"], json!([]));
}

#[tokio::test]
async fn private_urls_only_when_the_server_allows_them() {
    let app = spawn_app_with(|config| {
        config.encryption_key = Some(sealing_key());
        config.allow_private_webhook_urls = true;
    })
    .await;
    let answer = create(
        &app,
        app.admin_token(),
        "http://127.0.0.1:9/hook",
        &["token.created"],
    )
    .await;
    assert_eq!(
        answer.body["data"]["createWebhook"]["webhook"]["url"], "http://127.0.0.1:9/hook",
        "{}",
        answer.text
    );
    // Other schemes stay refused.
    let answer = create(
        &app,
        app.admin_token(),
        "ftp://127.0.0.1/",
        &["token.created"],
    )
    .await;
    assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn unknown_events_are_refused_with_the_valid_ones() {
    let app = spawn_with_webhooks().await;
    let valid = "token.created, token.revoked, token.rotated, token.expiring, token.expired, \
                 token.leaked, token.inactive, token.rejected, member.added, member.removed, \
                 member.role_changed, sbom.uploaded";
    let answer = create(
        &app,
        app.admin_token(),
        "https://hooks.example.com/",
        &["token.created", "token.*"],
    )
    .await;
    answer.assert_refused(
        "BAD_USER_INPUT",
        &format!("unknown event `token.*`; valid events: {valid}"),
    );
    let answer = create(&app, app.admin_token(), "https://hooks.example.com/", &[]).await;
    answer.assert_refused(
        "BAD_USER_INPUT",
        &format!("events must name at least one event: {valid}"),
    );
    // A huge name is cut in the message.
    let long = "x".repeat(10_000);
    let answer = create(
        &app,
        app.admin_token(),
        "https://hooks.example.com/",
        &[&long],
    )
    .await;
    let message = answer.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.len() < 400, "{message}");
}

#[tokio::test]
async fn an_organization_has_at_most_twenty_webhooks() {
    let app = spawn_with_webhooks().await;
    for n in 0..20 {
        create_ok(
            &app,
            &format!("https://hooks.example.com/{n}"),
            &["token.created"],
        )
        .await;
    }
    let answer = create(
        &app,
        app.admin_token(),
        "https://hooks.example.com/21",
        &["token.created"],
    )
    .await;
    answer.assert_refused(
        "CONFLICT",
        "this organization already has 20 webhooks, the most it may have; delete one, or \
         subscribe an existing one to more events",
    );
    // The limit is per organization.
    let other = app.other_organization("Globex", "admin@globex.test").await;
    let answer = create(
        &app,
        &other.token,
        "https://hooks.globex.test/",
        &["token.created"],
    )
    .await;
    assert!(
        answer.body["data"]["createWebhook"]["secret"].is_string(),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn without_a_key_given_webhooks_work_out_of_the_box() {
    // SQLite makes `lynk.key` beside the database; PostgreSQL tests are
    // given a key (the server refuses to start without one).
    let app = spawn_app().await;
    let answer = create(
        &app,
        app.admin_token(),
        "https://hooks.example.com/",
        &["token.created"],
    )
    .await;
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    if let Some(path) = &app.database.sqlite_path {
        let key_file = path.with_file_name("lynk.key");
        assert!(key_file.exists(), "{}", key_file.display());
    }
}

#[tokio::test]
async fn a_token_restricted_to_projects_cannot_manage_webhooks() {
    let app = spawn_with_webhooks().await;
    let project: Uuid = app.create_project("shop-api").await.parse().unwrap();
    let (_, restricted) = app
        .issue_token(NewToken {
            kind: CredentialKind::Service,
            organization_id: Some(app.admin.organization.id),
            name: "one project".into(),
            scopes: None,
            role_id: Some(app.role_id("admin").await),
            owner_user_id: None,
            created_by_user_id: None,
            projects: ProjectScope::Only(vec![project]),
            expires_at: None,
        })
        .await;
    let answer = create(
        &app,
        &restricted,
        "https://hooks.example.com/",
        &["sbom.uploaded"],
    )
    .await;
    answer.assert_refused(
        "FORBIDDEN",
        "Forbidden: this needs the `webhooks:write` permission, which is organization-wide, \
         and this credential is restricted to some projects",
    );
}
