//! Audit targets by name (`AuditEvent.targetName`): a token's, role's or
//! project's name and a user's email, never what the reader may not see,
//! and the console's audit page showing names rather than id tails.

use serde_json::{Value, json};

use crate::{
    browser,
    helpers::{ADMIN_PASSWORD, TestApp, spawn_app},
};

const EVENTS: &str = "{ organization { auditEvents(first: 100) { nodes { action targetType targetId targetName } } } }";

/// (action, targetName) of every event `token` may read, oldest first.
async fn targets(app: &TestApp, token: &str) -> Vec<(String, Value)> {
    let answer = app.gql(Some(token), EVENTS, Value::Null).await;
    let nodes = answer.body["data"]["organization"]["auditEvents"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .clone();
    nodes
        .into_iter()
        .rev()
        .map(|n| {
            (
                n["action"].as_str().unwrap().to_owned(),
                n["targetName"].clone(),
            )
        })
        .collect()
}

/// Sets up a role, two projects, a service token and a member.
async fn busy_organization(app: &TestApp) -> (String, String, String) {
    let session = app.admin_session().await;
    let answer = app
        .gql(
            Some(&session),
            "mutation { createRole(input: {name: \"auditor\", permissions: [\"audit:read\"]}) { id } }",
            Value::Null,
        )
        .await;
    assert!(
        answer.body["data"]["createRole"]["id"].is_string(),
        "{}",
        answer.text
    );
    let shop = app.create_project("shop-api").await;
    let billing = app.create_project("billing").await;
    let answer = app
        .gql(
            Some(&session),
            "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { token { id } } }",
            json!({"input": {"name": "deploy bot", "roleId": app.role_id("uploader").await.to_string()}}),
        )
        .await;
    assert!(
        answer.body["data"]["createServiceToken"]["token"]["id"].is_string(),
        "{}",
        answer.text
    );
    app.add_member(&session, "dana@acme.test", "viewer").await;
    (session, shop, billing)
}

#[tokio::test]
async fn targets_are_named_for_whoever_may_see_them() {
    let app = spawn_app().await;
    let (session, shop, _) = busy_organization(&app).await;
    let seen = targets(&app, &session).await;
    for (action, name) in [
        ("role.created", "auditor"),
        ("project.created", "shop-api"),
        ("project.created", "billing"),
        ("token.created", "deploy bot"),
        ("member.joined", "dana@acme.test"),
    ] {
        assert!(
            seen.iter().any(|(a, n)| a == action && n == name),
            "{action} {name} not in {seen:?}"
        );
    }
    // An invitation has no name of its own.
    assert!(
        seen.iter()
            .any(|(a, n)| a == "member.invited" && n.is_null()),
        "{seen:?}"
    );

    // A credential with audit:read but not tokens:read sees the same
    // names, but for tokens: those it could not read as `token(id)`.
    let _ = shop;
    let auditor = app.token_with(&["audit:read"]).await;
    let expected: Vec<(String, Value)> = seen
        .iter()
        .map(|(action, name)| {
            let hidden = action.starts_with("token.");
            (
                action.clone(),
                if hidden { Value::Null } else { name.clone() },
            )
        })
        .collect();
    assert_eq!(targets(&app, &auditor).await[..seen.len()], expected[..]);
}

#[tokio::test]
async fn a_deleted_target_has_no_name_and_keeps_its_id() {
    let app = spawn_app().await;
    let (session, _, billing) = busy_organization(&app).await;
    let answer = app
        .gql(
            Some(&session),
            "mutation($id: ID!) { deleteProject(id: $id) }",
            json!({"id": billing}),
        )
        .await;
    assert_eq!(answer.body["errors"], Value::Null, "{}", answer.text);
    let answer = app.gql(Some(&session), EVENTS, Value::Null).await;
    let nodes = answer.body["data"]["organization"]["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    let deleted: Vec<&Value> = nodes
        .iter()
        .filter(|n| n["targetId"] == json!(billing))
        .collect();
    assert!(deleted.len() >= 2, "{deleted:?}");
    assert!(
        deleted.iter().all(|n| n["targetName"].is_null()),
        "{deleted:?}"
    );
}

#[tokio::test]
async fn the_audit_page_shows_targets_by_name() {
    let app = spawn_app().await;
    busy_organization(&app).await;
    let Some((browser, _turn)) = browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    browser.open("#/audit").await;
    let shown = browser.wait_for_text("main table", "deploy bot").await;
    for name in ["shop-api", "billing", "auditor", "dana@acme.test"] {
        assert!(shown.contains(name), "{name} not in {shown}");
    }
    let names = browser
        .eval("return [...document.querySelectorAll('main .target-name')].map(e => [e.textContent, e.title.length])")
        .await;
    assert!(
        names
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == &json!(["deploy bot", 36])),
        "the id stays on hover: {names}"
    );
    browser.screenshot("audit-targets").await;
    browser.close().await;
}
