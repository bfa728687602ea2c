//! Many lynk instances on one database, as behind a load balancer: what
//! one instance changes, the other enforces on its very next request (no
//! per-process cache), concurrent writes through both lose nothing, and
//! instances starting at once on an empty database bootstrap it once.
//!
//! What they are about is PostgreSQL (`scripts/with-postgres.sh`); two
//! instances on one SQLite file keep the same rules (write transactions
//! take the write lock up front), so they run on SQLite too.

use std::collections::HashSet;

use async_graphql::futures_util::future::join_all;
use lynk::{
    config::{DatabaseArgs, ServeArgs},
    entity::{organization, token},
    startup::Application,
};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, TestApp, TestDatabase, assert_unauthorized, spawn_app};

const CREATE_SERVICE_TOKEN: &str = "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { token { id } secret } }";
const TOKENS_QUERY: &str =
    "{ organization { tokens(first: 100, kind: SERVICE) { edges { node { id name } } } } }";

/// Creates a service token with a built-in role through `app`.
async fn create_service_token(
    app: &TestApp,
    session: &str,
    name: &str,
    role: &str,
) -> (String, String) {
    let role_id = app.role_id(role).await;
    let answer = app
        .gql(
            Some(session),
            CREATE_SERVICE_TOKEN,
            json!({ "input": { "name": name, "roleId": role_id.to_string() } }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let created = &answer.body["data"]["createServiceToken"];
    (
        created["token"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{}", answer.text))
            .to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_revocation_through_one_instance_is_enforced_by_the_other_at_once() {
    let a = spawn_app().await;
    let b = a.another_instance().await;
    let session = a.admin_session().await;
    let (id, secret) = create_service_token(&a, &session, "ci", "uploader").await;
    let query = "{ organization { name } }";
    let answer = b.gql(Some(&secret), query, Value::Null).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["data"]["organization"]["name"], "Acme Corp");

    let answer = a
        .gql(
            Some(&session),
            "mutation($id: ID!) { revokeToken(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(answer.body["data"]["revokeToken"]["status"], "REVOKED");
    assert_unauthorized(&b.gql(Some(&secret), query, Value::Null).await, true);
    assert_unauthorized(&a.gql(Some(&secret), query, Value::Null).await, true);

    // The same for a session ended through the other instance.
    let session_b = b.admin_session().await;
    let answer = b
        .gql(Some(&session_b), "mutation { logout }", Value::Null)
        .await;
    assert_eq!(answer.body["data"]["logout"], true, "{}", answer.text);
    assert_unauthorized(&a.gql(Some(&session_b), query, Value::Null).await, true);
}

#[tokio::test]
async fn a_role_change_through_one_instance_applies_on_the_other_at_once() {
    let a = spawn_app().await;
    let b = a.another_instance().await;
    let session = a.admin_session().await;
    let member = a.add_member(&session, "dev@acme.test", "viewer").await;
    let query = "{ organization { tokens(first: 1) { edges { node { id } } } } }";

    let answer = b.gql(Some(&member.session), query, Value::Null).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    assert_eq!(
        answer.body["errors"][0]["extensions"]["requiredPermission"],
        "tokens:read"
    );
    assert_eq!(answer.body["data"]["organization"]["tokens"], Value::Null);

    let admin_role = a.role_id("admin").await;
    let answer = a
        .gql(
            Some(&session),
            "mutation($u: ID!, $r: ID!) { updateMemberRole(userId: $u, roleId: $r) { role { name } } }",
            json!({ "u": member.user_id.to_string(), "r": admin_role.to_string() }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["updateMemberRole"]["role"]["name"], "admin",
        "{}",
        answer.text
    );
    let answer = b.gql(Some(&member.session), query, Value::Null).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["errors"], Value::Null, "{}", answer.text);
    assert!(answer.body["data"]["organization"]["tokens"]["edges"].is_array());

    // Changing a custom role's permissions reaches a service token holding it.
    let answer = a
        .gql(
            Some(&session),
            "mutation($input: CreateRoleInput!) { createRole(input: $input) { id } }",
            json!({ "input": { "name": "auditor", "permissions": ["audit:read"] } }),
        )
        .await;
    let role_id = answer.body["data"]["createRole"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .to_owned();
    let answer = a
        .gql(
            Some(&session),
            CREATE_SERVICE_TOKEN,
            json!({ "input": { "name": "audit export", "roleId": role_id } }),
        )
        .await;
    let secret = answer.body["data"]["createServiceToken"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .to_owned();
    let audit = "{ organization { auditEvents(first: 1) { edges { node { action } } } } }";
    let answer = b.gql(Some(&secret), audit, Value::Null).await;
    assert_eq!(answer.body["errors"], Value::Null, "{}", answer.text);

    let answer = a
        .gql(
            Some(&session),
            "mutation($id: ID!, $input: UpdateRoleInput!) { updateRole(id: $id, input: $input) { permissions } }",
            json!({ "id": role_id, "input": { "permissions": ["roles:read"] } }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["updateRole"]["permissions"],
        json!(["roles:read"]),
        "{}",
        answer.text
    );
    let answer = b.gql(Some(&secret), audit, Value::Null).await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    assert_eq!(
        answer.body["errors"][0]["extensions"]["requiredPermission"],
        "audit:read"
    );
}

#[tokio::test]
async fn a_member_removed_through_one_instance_is_locked_out_of_the_other_at_once() {
    let a = spawn_app().await;
    let b = a.another_instance().await;
    let session = a.admin_session().await;
    let member = a.add_member(&session, "dev@acme.test", "editor").await;
    let (_, personal) = b.create_personal_token(&member.session, None).await;
    let query = "{ viewer { user { email } } }";
    for credential in [&personal, &member.session] {
        let answer = b.gql(Some(credential), query, Value::Null).await;
        assert_eq!(
            answer.body["data"]["viewer"]["user"]["email"], "dev@acme.test",
            "{}",
            answer.text
        );
    }

    let answer = a
        .gql(
            Some(&session),
            "mutation($u: ID!) { removeMember(userId: $u) }",
            json!({ "u": member.user_id.to_string() }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["removeMember"],
        member.user_id.to_string(),
        "{}",
        answer.text
    );
    assert_unauthorized(&b.gql(Some(&personal), query, Value::Null).await, true);
    // The session has no organization left to act in.
    let answer = b
        .gql(
            Some(&member.session),
            "{ organization { name } }",
            Value::Null,
        )
        .await;
    assert_unauthorized(&answer, true);
}

#[tokio::test]
async fn concurrent_token_creation_through_both_instances_loses_nothing() {
    const TOKENS: usize = 40;
    let a = spawn_app().await;
    let b = a.another_instance().await;
    let session = a.admin_session().await;
    let role_id = a.role_id("uploader").await.to_string();
    let instances = [&a, &b];

    let answers = join_all((0..TOKENS).map(|i| {
        let app = instances[i % 2];
        app.gql(
            Some(&session),
            CREATE_SERVICE_TOKEN,
            json!({ "input": { "name": format!("pipeline {i}"), "roleId": role_id } }),
        )
    }))
    .await;
    let mut created = Vec::new();
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["errors"], Value::Null, "{}", answer.text);
        let token = &answer.body["data"]["createServiceToken"];
        created.push((
            token["token"]["id"].as_str().unwrap().to_owned(),
            token["secret"].as_str().unwrap().to_owned(),
        ));
    }
    let ids: HashSet<&str> = created.iter().map(|(id, _)| id.as_str()).collect();
    let secrets: HashSet<&str> = created.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(ids.len(), TOKENS);
    assert_eq!(secrets.len(), TOKENS);

    // Both instances list exactly these tokens, and the database holds no more.
    for app in instances {
        let answer = app.gql(Some(&session), TOKENS_QUERY, Value::Null).await;
        let listed: HashSet<&str> = answer.body["data"]["organization"]["tokens"]["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", answer.text))
            .iter()
            .filter_map(|edge| edge["node"]["id"].as_str())
            .collect();
        assert_eq!(listed, ids);
    }
    let stored = token::Entity::find()
        .filter(token::Column::Kind.eq("service"))
        .count(&a.db)
        .await
        .unwrap();
    assert_eq!(stored, TOKENS as u64);

    // Every secret works on the instance that did not create it.
    let answers = join_all(created.iter().enumerate().map(|(i, (_, secret))| {
        instances[(i + 1) % 2].gql(Some(secret), "{ viewer { token { id } } }", Value::Null)
    }))
    .await;
    for ((id, _), answer) in created.iter().zip(&answers) {
        assert_eq!(
            answer.body["data"]["viewer"]["token"]["id"],
            id.as_str(),
            "{}",
            answer.text
        );
    }
}

#[tokio::test]
async fn instances_starting_at_once_on_an_empty_database_bootstrap_it_once() {
    let database = TestDatabase::new().await;
    let config = || {
        let mut config = ServeArgs::new(
            "127.0.0.1:0".parse().unwrap(),
            DatabaseArgs::new(database.url.clone()),
        );
        config.bootstrap_password = Some(ADMIN_PASSWORD.into());
        crate::helpers::postgres_needs_a_key(&mut config);
        config
    };
    let (first, second) = tokio::join!(Application::build(config()), Application::build(config()));
    let (first, second) = (
        first.expect("first instance"),
        second.expect("second instance"),
    );
    let bootstrapped: Vec<_> = [&first, &second]
        .into_iter()
        .filter_map(Application::bootstrapped)
        .collect();
    assert_eq!(bootstrapped.len(), 1, "exactly one instance bootstraps");
    let token = bootstrapped[0].token.clone();
    let organizations = organization::Entity::find()
        .count(first.db())
        .await
        .unwrap();
    assert_eq!(organizations, 1);

    // Both serve, on the same migrated schema.
    let addresses = [first.local_addr(), second.local_addr()];
    tokio::spawn(first.run_until(std::future::pending()));
    tokio::spawn(second.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    for address in addresses {
        let response = client
            .post(format!("http://{address}/lynkapi"))
            .bearer_auth(&token)
            .json(&json!({ "query": "{ organization { name } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"]["organization"]["name"], "Acme Corp");
    }
}
