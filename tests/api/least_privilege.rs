//! Least privilege, measured (docs/DESIGN.md §9): the permissions a
//! token's requests were granted (`permissionsUsed`, `unusedPermissions`),
//! `narrowToken` (the same secret, never wider) and the refused uses of a
//! dead secret (`rejectedUses`, `token.rejected`), all recorded behind the
//! request.

use std::time::Duration;

use chrono::Utc;
use lynk::{
    auth::{CredentialKind, project_scope::ProjectScope, token_format},
    entity::{audit_event, webhook_delivery},
    service::token::NewToken,
};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Answer, TestApp, assert_unauthorized, spawn_app, spawn_app_with};

const USAGE: &str =
    "query($id: ID!) { token(id: $id) { permissionsUsed unusedPermissions scopes } }";
const REJECTED: &str =
    "query($id: ID!) { token(id: $id) { rejectedUses { count lastAt lastIps lastReason } } }";
const NARROW: &str = "mutation($id: ID!, $scopes: [String!], $projectIds: [ID!]) { narrowToken(id: $id, scopes: $scopes, projectIds: $projectIds) { id scopes projects { id } } }";

/// Asks `query` as `token` until `done` holds of the answer (the
/// recorder writes every second), at most ten seconds.
pub async fn eventually(
    app: &TestApp,
    token: &str,
    query: &str,
    variables: Value,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        let answer = app.gql(Some(token), query, variables.clone()).await;
        if done(&answer.body) {
            return answer.body;
        }
        last = answer.body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never came true: {last}");
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

#[tokio::test]
async fn used_permissions_are_recorded_and_narrowing_takes_the_rest_away() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let project = app.create_project("shop-api").await;
    let (id, secret) = app.create_personal_token(&session, None).await;
    let used = app
        .gql(
            Some(&secret),
            "query($p: ID!) { organization { roles { id } } project(id: $p) { id } }",
            json!({ "p": project }),
        )
        .await;
    assert_eq!(used.status, StatusCode::OK);
    assert!(used.body["errors"].is_null(), "{}", used.text);

    let body = eventually(&app, &session, USAGE, json!({ "id": id }), |body| {
        !body["data"]["token"]["permissionsUsed"]
            .as_array()
            .is_none_or(Vec::is_empty)
    })
    .await;
    let token = &body["data"]["token"];
    assert_eq!(
        strings(&token["permissionsUsed"]),
        ["roles:read", "projects:read"]
    );
    let unused = strings(&token["unusedPermissions"]);
    assert_eq!(unused.len(), 14, "{unused:?}");
    assert!(!unused.contains(&"roles:read") && unused.contains(&"tokens:write"));

    // Narrowed to what it uses: the same secret keeps working for that …
    let narrowed = app
        .gql(
            Some(&session),
            NARROW,
            json!({ "id": id, "scopes": strings(&token["permissionsUsed"]) }),
        )
        .await;
    assert_eq!(
        narrowed.body["data"]["narrowToken"]["scopes"],
        json!(["roles:read", "projects:read"]),
        "{}",
        narrowed.text
    );
    let again = app
        .gql(
            Some(&secret),
            "{ organization { roles { id } } }",
            json!({}),
        )
        .await;
    assert!(again.body["errors"].is_null(), "{}", again.text);
    // … and nothing else, from the very next request.
    let members = app
        .gql(
            Some(&secret),
            "{ organization { members(first: 1) { pageInfo { hasNextPage } } } }",
            json!({}),
        )
        .await;
    assert_eq!(members.error_code(), Some("FORBIDDEN"), "{}", members.text);
    // Narrowing once more drops projects:read too.
    let narrowed = app
        .gql(
            Some(&session),
            NARROW,
            json!({ "id": id, "scopes": ["roles:read"] }),
        )
        .await;
    assert!(narrowed.body["errors"].is_null(), "{}", narrowed.text);
    let dropped = app
        .gql(
            Some(&secret),
            "query($p: ID!) { project(id: $p) { id } }",
            json!({ "p": project }),
        )
        .await;
    assert_eq!(dropped.error_code(), Some("FORBIDDEN"), "{}", dropped.text);
    assert!(dropped.text.contains("projects:read"), "{}", dropped.text);
    let usage = app.gql(Some(&session), USAGE, json!({ "id": id })).await;
    assert_eq!(
        strings(&usage.body["data"]["token"]["unusedPermissions"]),
        Vec::<&str>::new(),
        "its only permission is used: {}",
        usage.text
    );

    let audited = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("token.narrowed"))
        .count(&app.db)
        .await
        .expect("count audit events");
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn narrowing_never_widens() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let first = app.create_project("first").await;
    let second = app.create_project("second").await;
    let (id, _) = app
        .create_personal_token(&session, Some(vec!["projects:read", "sboms:read"]))
        .await;
    for (variables, named) in [
        (
            json!({ "id": id, "scopes": ["projects:read", "tokens:write"] }),
            "tokens:write",
        ),
        (json!({ "id": id, "scopes": ["no:such"] }), "no:such"),
        (json!({ "id": id, "projectIds": [] }), "between 1 and 100"),
    ] {
        let answer = app.gql(Some(&session), NARROW, variables).await;
        assert_eq!(
            answer.error_code(),
            Some("BAD_USER_INPUT"),
            "{}",
            answer.text
        );
        assert!(answer.text.contains(named), "{}", answer.text);
    }
    // Restricted to one project, it cannot be widened to another.
    let answer = app
        .gql(
            Some(&session),
            NARROW,
            json!({ "id": id, "projectIds": [first] }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["narrowToken"]["projects"],
        json!([{ "id": first }]),
        "{}",
        answer.text
    );
    let answer = app
        .gql(
            Some(&session),
            NARROW,
            json!({ "id": id, "projectIds": [first, second] }),
        )
        .await;
    assert_eq!(
        answer.error_code(),
        Some("BAD_USER_INPUT"),
        "{}",
        answer.text
    );
    assert!(answer.text.contains(&second), "{}", answer.text);
    // Nothing was half-written.
    let scopes = app.gql(Some(&session), USAGE, json!({ "id": id })).await;
    assert_eq!(
        scopes.body["data"]["token"]["scopes"],
        json!(["projects:read", "sboms:read"])
    );
}

#[tokio::test]
async fn only_who_may_revoke_a_token_narrows_it() {
    let app = spawn_app().await;
    let admin_session = app.admin_session().await;
    let (service_id, _) = app.service_token("uploader").await;
    let service_id = service_id.to_string();
    let editor = app
        .add_member(&admin_session, "ed@acme.test", "editor")
        .await;
    let (scoped_id, scoped) = app
        .create_personal_token(&admin_session, Some(vec!["roles:read"]))
        .await;
    let other = app.other_organization("Globex", "boss@globex.test").await;
    let project = app.create_project("only").await;
    let restricted = app
        .gql(
            Some(&admin_session),
            "mutation($input: CreatePersonalTokenInput!) { createPersonalToken(input: $input) { secret } }",
            json!({ "input": {
                "name": "restricted",
                "expiresAt": crate::helpers::days_from_now(3).to_rfc3339(),
                "projectIds": [project],
            } }),
        )
        .await;
    let restricted = restricted.body["data"]["createPersonalToken"]["secret"]
        .as_str()
        .expect("restricted token")
        .to_owned();
    let narrow = |token: String| {
        let app = &app;
        let service_id = service_id.clone();
        async move {
            app.gql(
                Some(&token),
                NARROW,
                json!({ "id": service_id, "scopes": ["sboms:read"] }),
            )
            .await
        }
    };
    // A narrower role: FORBIDDEN (it sees tokens exist, may not act).
    let answer = narrow(editor.session.clone()).await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    // A scoped token without tokens:write: FORBIDDEN.
    let answer = narrow(scoped.clone()).await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    // A project-restricted token: the unrestricted token does not exist for it.
    let answer = narrow(restricted).await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
    // Another organization: NOT_FOUND.
    let answer = narrow(other.token.clone()).await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
    // Anonymous: 401.
    let answer = app
        .gql(None, NARROW, json!({ "id": service_id, "scopes": [] }))
        .await;
    assert_unauthorized(&answer, false);
    // A token narrows itself (it may revoke itself).
    let answer = app
        .gql(
            Some(&scoped),
            NARROW,
            json!({ "id": scoped_id, "scopes": [] }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["narrowToken"]["scopes"],
        json!([]),
        "{}",
        answer.text
    );
}

/// The headers of a 401 that do not vary per request.
fn stable_headers(answer: &Answer) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = answer
        .headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
        .map(|(name, value)| {
            (
                name.to_string(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    headers.sort();
    headers
}

/// A well-formed secret lynk never issued.
fn unknown_secret() -> String {
    token_format::generate(CredentialKind::Service)
        .secret
        .expose()
        .to_owned()
}

#[tokio::test]
async fn a_dead_secret_gets_the_same_401_and_is_recorded() {
    let app = crate::webhooks::spawn_with_webhooks().await;
    crate::webhooks::create_ok(&app, "https://hooks.example.invalid/", &["token.rejected"]).await;
    let (revoked_id, revoked) = app.service_token("uploader").await;
    let revoke = app
        .gql(
            Some(app.admin_token()),
            "mutation($id: ID!) { revokeToken(id: $id) { id } }",
            json!({ "id": revoked_id.to_string() }),
        )
        .await;
    assert!(revoke.body["errors"].is_null(), "{}", revoke.text);
    let (expired_id, expired) = app
        .issue_token(NewToken {
            kind: CredentialKind::Service,
            organization_id: Some(app.admin.organization.id),
            name: "old".into(),
            scopes: None,
            role_id: Some(app.role_id("uploader").await),
            owner_user_id: None,
            created_by_user_id: None,
            projects: ProjectScope::All,
            expires_at: Some(Utc::now() - chrono::Duration::minutes(1)),
        })
        .await;
    let query = "{ organization { id name } }";
    let unknown = app.gql(Some(&unknown_secret()), query, json!({})).await;
    assert_unauthorized(&unknown, true);
    for secret in [&revoked, &expired, &revoked] {
        let answer = app.gql(Some(secret), query, json!({})).await;
        assert_eq!(answer.status, unknown.status);
        assert_eq!(answer.text.as_bytes(), unknown.text.as_bytes());
        assert_eq!(stable_headers(&answer), stable_headers(&unknown));
    }
    for (id, count, reason) in [(revoked_id, 2, "REVOKED"), (expired_id, 1, "EXPIRED")] {
        let body = eventually(
            &app,
            app.admin_token(),
            REJECTED,
            json!({ "id": id.to_string() }),
            |body| body["data"]["token"]["rejectedUses"]["count"] == json!(count),
        )
        .await;
        let rejected = &body["data"]["token"]["rejectedUses"];
        assert_eq!(rejected["lastReason"], reason);
        assert_eq!(rejected["lastIps"], json!(["127.0.0.1"]));
        assert!(rejected["lastAt"].is_string());
    }
    // Another use an instant later: counted, but announced once an hour.
    let answer = app.gql(Some(&revoked), query, json!({})).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    eventually(
        &app,
        app.admin_token(),
        REJECTED,
        json!({ "id": revoked_id.to_string() }),
        |body| body["data"]["token"]["rejectedUses"]["count"] == json!(3),
    )
    .await;
    let announced = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::Event.eq("token.rejected"))
        .all(&app.db)
        .await
        .expect("deliveries");
    assert_eq!(announced.len(), 2, "one per token: {announced:?}");
    let revoked_event = announced
        .iter()
        .find(|delivery| delivery.payload.contains(&revoked_id.to_string()))
        .expect("the revoked token's event");
    assert!(
        revoked_event.payload.contains("\"lastReason\":\"REVOKED\""),
        "{}",
        revoked_event.payload
    );
    assert!(
        !revoked_event.payload.contains(&revoked),
        "no secret in an event"
    );
}

#[tokio::test]
async fn a_live_token_is_never_counted_as_rejected() {
    let app = spawn_app_with(|_| {}).await;
    let (id, secret) = app.service_token("uploader").await;
    for _ in 0..3 {
        let answer = app
            .gql(Some(&secret), "{ organization { id } }", json!({}))
            .await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            REJECTED,
            json!({ "id": id.to_string() }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["token"]["rejectedUses"],
        json!({ "count": 0, "lastAt": null, "lastIps": [], "lastReason": null })
    );
    let _: Uuid = id;
}

/// Concurrent narrowings (and a rotation) of one token: each either
/// applies to what it read or is a CONFLICT, so the token ends within
/// every narrowing that succeeded, and a rotation's successor carries a
/// narrowing committed before it (on PostgreSQL the requests really race).
#[tokio::test]
async fn concurrent_narrowings_never_undo_each_other() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let all = [
        "members:read",
        "roles:read",
        "projects:read",
        "sboms:read",
        "sboms:write",
        "audit:read",
    ];
    let (id, _) = app
        .create_personal_token(&session, Some(all.to_vec()))
        .await;
    // Each drops a different permission.
    let attempts = all.iter().map(|dropped| {
        let keep: Vec<&str> = all.iter().copied().filter(|p| p != dropped).collect();
        let app = &app;
        let session = session.clone();
        let id = id.clone();
        async move {
            let answer = app
                .gql(Some(&session), NARROW, json!({ "id": id, "scopes": keep }))
                .await;
            (keep, answer)
        }
    });
    let rotation = app.gql(
        Some(&session),
        "mutation($id: ID!) { rotateToken(id: $id, gracePeriodSeconds: 60) { token { id scopes } } }",
        json!({ "id": id }),
    );
    let (results, rotated) = tokio::join!(futures_util::future::join_all(attempts), rotation);
    let mut succeeded = Vec::new();
    for (keep, answer) in results {
        match answer.error_code() {
            None => succeeded.push(keep),
            Some("CONFLICT" | "BAD_USER_INPUT") => {}
            Some(other) => panic!("{other}: {}", answer.text),
        }
    }
    let stored = app.gql(Some(&session), USAGE, json!({ "id": id })).await;
    let scopes: Vec<String> = stored.body["data"]["token"]["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    for keep in &succeeded {
        for permission in &scopes {
            assert!(
                keep.contains(&permission.as_str()),
                "{permission} came back after a narrowing to {keep:?}"
            );
        }
    }
    // The successor carries what the token had when it was rotated (no
    // narrowing applies to a rotated token): never wider than it ended.
    if let Some(successor) = rotated.body["data"]["rotateToken"]["token"]["scopes"].as_array() {
        for permission in successor.iter().filter_map(Value::as_str) {
            assert!(
                scopes.iter().any(|kept| kept == permission),
                "the successor has {permission}, which the token lost: {scopes:?}"
            );
        }
    }
}
