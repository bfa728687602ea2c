//! The attacks of the security review, each tried against the running
//! server: taking over tokens through rotation, scoped tokens escaping
//! their scopes, forked rotations, password guessing through invitations
//! and `changePassword`, budgets under concurrency and across instances,
//! the last admin under concurrency, sessions changing tenant, and inputs
//! that cost the server before it knows who is asking.

use std::time::Duration;

use chrono::Utc;
use futures_util::future::join_all;
use lynk::{
    auth::{CredentialKind, project_scope::ProjectScope},
    service::token::NewToken,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::helpers::{
    ADMIN_PASSWORD, TestApp, assert_unauthorized, days_from_now, spawn_app, spawn_app_with,
};

const ROTATE: &str = "mutation($id: ID!) { rotateToken(id: $id) { token { id expiresAt createdBy { id } } secret } }";
const ROTATE_WITH_EXPIRY: &str = "mutation($id: ID!, $at: DateTime) { rotateToken(id: $id, expiresAt: $at) { token { id expiresAt } secret } }";
const REVOKE: &str = "mutation($id: ID!) { revokeToken(id: $id) { id status } }";
const READ: &str = "query($id: ID!) { token(id: $id) { id } }";

/// A custom role with exactly `permissions`; returns its id.
async fn custom_role(app: &TestApp, admin: &str, name: &str, permissions: &[&str]) -> String {
    let answer = app
        .gql(
            Some(admin),
            "mutation($input: CreateRoleInput!) { createRole(input: $input) { id } }",
            json!({ "input": { "name": name, "permissions": permissions } }),
        )
        .await;
    answer.body["data"]["createRole"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("createRole failed: {}", answer.text))
        .to_owned()
}

/// A service token with a role id, issued through the library.
async fn service_token_with_role(app: &TestApp, role_id: &str) -> (Uuid, String) {
    app.issue_token(NewToken {
        kind: CredentialKind::Service,
        organization_id: Some(app.admin.organization.id),
        name: "pipeline".into(),
        scopes: None,
        role_id: Some(role_id.parse().expect("role id")),
        owner_user_id: None,
        created_by_user_id: Some(app.admin.user.id),
        projects: ProjectScope::All,
        expires_at: None,
    })
    .await
}

/// How many of the organization's tokens named `name` are active.
async fn live_tokens_named(app: &TestApp, name: &str) -> usize {
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { tokens(first: 100, status: ACTIVE) { edges { node { name } } } } }",
            json!({}),
        )
        .await;
    answer.body["data"]["organization"]["tokens"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .iter()
        .filter(|edge| edge["node"]["name"] == name)
        .count()
}

#[tokio::test]
async fn a_token_manager_cannot_rotate_its_way_to_admin() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let role = custom_role(
        &app,
        &admin,
        "token keeper",
        &["tokens:read", "tokens:write"],
    )
    .await;
    let keeper = app
        .add_member(&admin, "keeper@acme.test", "token keeper")
        .await;
    let (_, keeper_service) = service_token_with_role(&app, &role).await;
    let (admin_personal, admin_personal_secret) = app.admin_personal_token(days_from_now(30)).await;
    let (admin_service, admin_service_secret) = app.service_token("admin").await;

    for caller in [keeper.session.as_str(), keeper_service.as_str()] {
        // It may see and revoke them (tokens:read/write) ...
        let seen = app
            .gql(
                Some(caller),
                READ,
                json!({ "id": admin_personal.to_string() }),
            )
            .await;
        assert_eq!(seen.body["data"]["token"]["id"], admin_personal.to_string());
        // ... but never receive their power.
        for id in [admin_personal, admin_service] {
            let answer = app
                .gql(Some(caller), ROTATE, json!({ "id": id.to_string() }))
                .await;
            assert_eq!(answer.status, StatusCode::OK);
            assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
            assert_eq!(answer.body["data"], Value::Null);
        }
    }
    // The admin's secrets still work: nothing was rotated.
    for secret in [&admin_personal_secret, &admin_service_secret] {
        let answer = app
            .gql(Some(secret), "{ organization { id } }", json!({}))
            .await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    // Even the admin does not rotate another user's personal token.
    let (keeper_token, _) = app.create_personal_token(&keeper.session, None).await;
    let answer = app
        .gql(Some(&admin), ROTATE, json!({ "id": keeper_token }))
        .await;
    answer.assert_error("FORBIDDEN", "rotated only by its owner");
    // Revoking it is allowed.
    let answer = app
        .gql(Some(&admin), REVOKE, json!({ "id": keeper_token }))
        .await;
    assert_eq!(answer.body["data"]["revokeToken"]["status"], "REVOKED");
}

#[tokio::test]
async fn rotation_records_the_rotator_and_keeps_the_expiry() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let uploader_role = app.role_id("uploader").await;
    let expires = days_from_now(10);
    let (service_id, _) = app
        .issue_token(NewToken {
            kind: CredentialKind::Service,
            organization_id: Some(app.admin.organization.id),
            name: "ci".into(),
            scopes: None,
            role_id: Some(uploader_role),
            owner_user_id: None,
            created_by_user_id: None,
            projects: ProjectScope::All,
            expires_at: Some(expires),
        })
        .await;
    let answer = app
        .gql(
            Some(&admin),
            ROTATE,
            json!({ "id": service_id.to_string() }),
        )
        .await;
    let token = &answer.body["data"]["rotateToken"]["token"];
    assert_eq!(
        token["createdBy"]["id"],
        app.admin.user.id.to_string(),
        "{}",
        answer.text
    );
    let kept: chrono::DateTime<Utc> = token["expiresAt"].as_str().unwrap().parse().unwrap();
    assert!(
        (kept - expires).num_milliseconds().abs() < 1000,
        "{kept} vs {expires}"
    );

    // A session may set a new expiry within the policy, never past it.
    let (personal, _) = app.create_personal_token(&admin, None).await;
    let at = days_from_now(5).to_rfc3339();
    let answer = app
        .gql(
            Some(&admin),
            ROTATE_WITH_EXPIRY,
            json!({ "id": personal, "at": at }),
        )
        .await;
    let new_id = answer.body["data"]["rotateToken"]["token"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .to_owned();
    let answer = app
        .gql(
            Some(&admin),
            ROTATE_WITH_EXPIRY,
            json!({ "id": new_id, "at": days_from_now(400).to_rfc3339() }),
        )
        .await;
    assert_eq!(
        answer.error_code(),
        Some("BAD_USER_INPUT"),
        "{}",
        answer.text
    );
    // A token may rotate itself, but not set a new expiry.
    let (own_id, own_secret) = app.create_personal_token(&admin, None).await;
    let answer = app
        .gql(
            Some(&own_secret),
            ROTATE_WITH_EXPIRY,
            json!({ "id": own_id, "at": days_from_now(5).to_rfc3339() }),
        )
        .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    let answer = app
        .gql(Some(&own_secret), ROTATE, json!({ "id": own_id }))
        .await;
    assert!(
        answer.body["data"]["rotateToken"]["secret"].is_string(),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn only_active_tokens_rotate() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let (expired, _) = app
        .admin_personal_token(Utc::now() - chrono::Duration::minutes(1))
        .await;
    let answer = app
        .gql(Some(&admin), ROTATE, json!({ "id": expired.to_string() }))
        .await;
    answer.assert_error("BAD_USER_INPUT", "has expired");
    assert_eq!(live_tokens_named(&app, "test").await, 0);
}

#[tokio::test]
async fn a_scoped_token_acts_only_on_itself() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let (sibling, sibling_secret) = app.create_personal_token(&admin, None).await;
    for scopes in [vec!["projects:read"], vec![]] {
        let (scoped_id, scoped) = app.create_personal_token(&admin, Some(scopes)).await;
        // It lists only itself.
        let answer = app
            .gql(
                Some(&scoped),
                "{ viewer { personalTokens { edges { node { id } } } } }",
                json!({}),
            )
            .await;
        let edges = answer.body["data"]["viewer"]["personalTokens"]["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", answer.text))
            .clone();
        assert_eq!(edges.len(), 1, "{}", answer.text);
        assert_eq!(edges[0]["node"]["id"], scoped_id.as_str());
        // Its owner's other tokens are out of reach.
        for query in [READ, REVOKE, ROTATE] {
            let answer = app
                .gql(Some(&scoped), query, json!({ "id": sibling }))
                .await;
            assert_eq!(
                answer.error_code(),
                Some("FORBIDDEN"),
                "{query}: {}",
                answer.text
            );
        }
        // So are its owner's sessions (they do not exist for it).
        let session_id = app
            .gql(Some(&admin), "{ viewer { token { id } } }", json!({}))
            .await
            .body["data"]["viewer"]["token"]["id"]
            .clone();
        let answer = app
            .gql(Some(&scoped), REVOKE, json!({ "id": session_id }))
            .await;
        assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
        // It may revoke itself.
        let answer = app
            .gql(Some(&scoped), REVOKE, json!({ "id": scoped_id }))
            .await;
        assert_eq!(answer.body["data"]["revokeToken"]["status"], "REVOKED");
    }
    let still = app
        .gql(Some(&sibling_secret), "{ organization { id } }", json!({}))
        .await;
    assert_eq!(still.status, StatusCode::OK);
    let still = app
        .gql(Some(&admin), "{ organization { id } }", json!({}))
        .await;
    assert_eq!(still.status, StatusCode::OK);
}

#[tokio::test]
async fn concurrent_rotations_leave_one_successor() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    for round in 0..3 {
        let name = format!("forked {round}");
        let answer = app
            .gql(
                Some(&admin),
                "mutation($input: CreatePersonalTokenInput!) { createPersonalToken(input: $input) { token { id } } }",
                json!({ "input": { "name": name, "expiresAt": days_from_now(30).to_rfc3339() } }),
            )
            .await;
        let id = answer.body["data"]["createPersonalToken"]["token"]["id"].clone();
        let answers =
            join_all((0..6).map(|_| app.gql(Some(&admin), ROTATE, json!({ "id": id.clone() }))))
                .await;
        let rotated = answers
            .iter()
            .filter(|a| a.body["data"]["rotateToken"]["secret"].is_string())
            .count();
        for answer in &answers {
            assert!(
                answer.body["data"]["rotateToken"]["secret"].is_string()
                    || matches!(answer.error_code(), Some("CONFLICT" | "BAD_USER_INPUT")),
                "{}",
                answer.text
            );
        }
        assert_eq!(rotated, 1, "round {round}");
        assert_eq!(live_tokens_named(&app, &name).await, 1, "round {round}");
    }
    // A revocation racing a rotation: never a live successor of a revoked token.
    for round in 0..3 {
        let name = format!("raced {round}");
        let answer = app
            .gql(
                Some(&admin),
                "mutation($input: CreatePersonalTokenInput!) { createPersonalToken(input: $input) { token { id } } }",
                json!({ "input": { "name": name, "expiresAt": days_from_now(30).to_rfc3339() } }),
            )
            .await;
        let id = answer.body["data"]["createPersonalToken"]["token"]["id"].clone();
        let (rotation, revocation) = tokio::join!(
            app.gql(Some(&admin), ROTATE, json!({ "id": id.clone() })),
            app.gql(Some(&admin), REVOKE, json!({ "id": id.clone() })),
        );
        assert_eq!(revocation.body["data"]["revokeToken"]["status"], "REVOKED");
        let rotated = rotation.body["data"]["rotateToken"]["secret"].is_string();
        assert_eq!(
            live_tokens_named(&app, &name).await,
            usize::from(rotated),
            "{}",
            rotation.text
        );
    }
}

#[tokio::test]
async fn an_invitation_never_checks_an_existing_accounts_password() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let victim = app.add_member(&admin, "victim@acme.test", "viewer").await;
    // The attacker has an organization of its own and invites the victim.
    let attacker = app
        .other_organization("Evil Corp", "mallory@evil.test")
        .await;
    let attacker_session = app.login("mallory@evil.test", ADMIN_PASSWORD).await;
    let viewer_role = app.role_id_in(attacker.organization.id, "viewer").await;
    let invite = |session: String| {
        let app = &app;
        async move {
            let answer = app
                .gql(
                    Some(&session),
                    "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { code } }",
                    json!({ "input": { "email": "victim@acme.test", "roleId": viewer_role.to_string() } }),
                )
                .await;
            answer.body["data"]["inviteMember"]["code"]
                .as_str()
                .unwrap_or_else(|| panic!("{}", answer.text))
                .to_owned()
        }
    };
    let code_ = invite(attacker_session.clone()).await;
    const ACCEPT: &str = "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { token organization { id } } }";
    // Wrong and right passwords alike: refused without a check, many times.
    for password in ["wrong password 1", ADMIN_PASSWORD, "wrong password 2"]
        .into_iter()
        .cycle()
        .take(12)
    {
        let answer = app
            .gql(
                None,
                ACCEPT,
                json!({ "input": { "code": code_, "password": password } }),
            )
            .await;
        answer.assert_error("BAD_USER_INPUT", "sign in with login");
    }
    // Another user's session cannot take it either.
    let answer = app
        .gql(
            Some(&attacker_session),
            ACCEPT,
            json!({ "input": { "code": code_ } }),
        )
        .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    // The victim's login is not locked by any of that.
    let session = app.login("victim@acme.test", ADMIN_PASSWORD).await;
    assert_ne!(session, victim.session);
    // The victim accepts with their own session.
    let answer = app
        .gql(
            Some(&session),
            ACCEPT,
            json!({ "input": { "code": code_ } }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["acceptInvitation"]["organization"]["id"],
        attacker.organization.id.to_string(),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn accepting_does_not_turn_an_outage_into_a_conflict() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let role = app.role_id("viewer").await;
    let answer = app
        .gql(
            Some(&admin),
            "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { code } }",
            json!({ "input": { "email": "new@acme.test", "roleId": role.to_string() } }),
        )
        .await;
    let code_ = answer.body["data"]["inviteMember"]["code"].clone();
    app.execute("ALTER TABLE membership RENAME TO membership_gone", vec![])
        .await;
    let answer = app
        .gql(
            None,
            "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { token } }",
            json!({ "input": { "code": code_, "name": "New", "password": ADMIN_PASSWORD } }),
        )
        .await;
    assert_eq!(
        answer.error_code(),
        Some("INTERNAL_SERVER_ERROR"),
        "{}",
        answer.text
    );
    app.execute("ALTER TABLE membership_gone RENAME TO membership", vec![])
        .await;
}

/// Sends a request head promising `length` bytes of body, and none of them:
/// a server that waited for the body would never answer.
async fn send_head_only(app: &TestApp, length: usize, authorization: Option<&str>) -> String {
    let mut stream = tokio::net::TcpStream::connect(app.address)
        .await
        .expect("connect");
    let auth = authorization
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /lynkapi HTTP/1.1\r\nHost: lynk\r\nContent-Type: application/json\r\n{auth}Content-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut buffer = vec![0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buffer))
        .await
        .expect("the server answers without waiting for the body")
        .expect("read");
    String::from_utf8_lossy(&buffer[..read]).into_owned()
}

/// POSTs `size` bytes of a login with `Transfer-Encoding: chunked` and no
/// credential; returns the status line.
async fn post_chunked_anonymously(app: &TestApp, size: usize) -> String {
    let body = format!(
        r#"{{"query": "mutation {{ login(email: \"a@b.c\", password: \"{}\") {{ token }} }}"}}"#,
        "x".repeat(size)
    );
    crate::helpers::post_chunked(app, None, &body, 8 * 1024).await
}

#[tokio::test]
async fn an_anonymous_request_is_refused_before_its_body_is_read() {
    let app = spawn_app().await;
    let answer = send_head_only(&app, 4 << 20, None).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains(
        r#"{"errors":[{"message":"Unauthorized","extensions":{"code":"UNAUTHORIZED"}}]}"#
    ));
    let answer = send_head_only(&app, 4 << 20, Some("lynk_live_notavalidtokenatall")).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // Without a length (chunked), the read stops at the anonymous limit.
    let status_line = post_chunked_anonymously(&app, 200 * 1024).await;
    assert!(status_line.starts_with("HTTP/1.1 401"), "{status_line}");
    // An authenticated caller's query text is capped too.
    let query = format!("{{ organization {{ id }} }} # {}", "x".repeat(40 * 1024));
    let answer = app.gql(Some(app.admin_token()), &query, json!({})).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        answer.error_code(),
        Some("QUERY_TOO_LARGE"),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn requests_without_credentials_count_against_the_address() {
    let app = spawn_app_with(|config| config.limits.auth_failures_per_ip = 3).await;
    for _ in 0..3 {
        let answer = app.gql(None, "{ organization { id } }", json!({})).await;
        assert_unauthorized(&answer, false);
    }
    let answer = app.gql(None, "{ organization { id } }", json!({})).await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.text
    );
    assert!(answer.headers.get("retry-after").is_some());
    let answer = app
        .gql(
            Some("lynk_live_notavalidtokenatall"),
            "{ organization { id } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    // A credential that verifies is never refused for its neighbours.
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { id } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn complexity_counts_list_sizes() {
    let app = spawn_app().await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { projects(first: 100) { edges { node { sboms(first: 100) { edges { node { document } } } } } } } }",
            json!({}),
        )
        .await;
    let message = answer.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("too complex"), "{}", answer.text);
    assert_eq!(answer.body["data"], Value::Null);
    // Forty aliases of a modest list are refused as a whole too.
    let aliases: String = (0..40)
        .map(|i| format!("a{i}: projects(first: 100) {{ edges {{ node {{ id name }} }} }} "))
        .collect();
    let answer = app
        .gql(
            Some(app.admin_token()),
            &format!("{{ organization {{ {aliases} }} }}"),
            json!({}),
        )
        .await;
    assert!(
        answer.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("too complex"),
        "{}",
        answer.text
    );
    // An ordinary page is fine.
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { tokens { edges { node { id name kind status hint scopes createdAt expiresAt lastUsedAt revokedAt role { name } owner { email } createdBy { email } } } } } }",
            json!({}),
        )
        .await;
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
}

#[tokio::test]
async fn concurrent_wrong_logins_never_exceed_the_budget() {
    let app = spawn_app_with(|config| config.limits.login_failures_per_account = 5).await;
    const LOGIN: &str =
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    let answers = join_all((0..40).map(|i| {
        app.gql(
            None,
            LOGIN,
            json!({ "e": "admin@acme.test", "p": format!("wrong password {i}") }),
        )
    }))
    .await;
    let evaluated = answers
        .iter()
        .filter(|a| a.status == StatusCode::UNAUTHORIZED)
        .count();
    let limited = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((evaluated, limited), (5, 35));
    // A huge email is refused before anything is counted or kept.
    let answer = app
        .gql(
            None,
            LOGIN,
            json!({ "e": format!("{}@acme.test", "a".repeat(300)), "p": "x" }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.error_code(),
        Some("BAD_USER_INPUT"),
        "{}",
        answer.text
    );
    assert!(
        answer.text.len() < 500,
        "the message does not echo the input"
    );
    // A 5 MiB email, sent with a credential so that the body is read
    // whole: refused before any budget or hash, and not echoed.
    let huge = format!("{}@acme.test", "a".repeat(5 << 20));
    let answer = app
        .gql(
            Some(app.admin_token()),
            LOGIN,
            json!({ "e": huge, "p": "x" }),
        )
        .await;
    assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));
    assert!(answer.text.len() < 500);
}

#[tokio::test]
async fn change_password_is_no_oracle_for_a_stolen_session() {
    let app = spawn_app_with(|config| config.limits.login_failures_per_account = 3).await;
    let session = app.admin_session().await;
    const CHANGE: &str = r#"mutation { p: createProject(input: {name: "kept"}) { id } changePassword(currentPassword: "guess", newPassword: "a new long password") }"#;
    let answer = app.gql(Some(&session), CHANGE, json!({})).await;
    // A field error, not a request error: `changePassword` is non-null,
    // so its failure nulls `data` (GraphQL's rule), and the project
    // created before it in the same request stays.
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));
    assert_eq!(answer.body["data"], Value::Null, "{}", answer.text);
    let answer = app
        .gql(
            Some(&session),
            "{ organization { projects { edges { node { name } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer.body["data"]["organization"]["projects"]["edges"],
        json!([{ "node": { "name": "kept" } }]),
        "{}",
        answer.text
    );
    for _ in 0..2 {
        let answer = app
            .gql(
                Some(&session),
                r#"mutation { changePassword(currentPassword: "guess", newPassword: "a new long password") }"#,
                json!({}),
            )
            .await;
        assert_eq!(
            answer.error_code(),
            Some("BAD_USER_INPUT"),
            "{}",
            answer.text
        );
    }
    // The budget is spent: refused, and the session ends.
    let answer = app
        .gql(
            Some(&session),
            r#"mutation { changePassword(currentPassword: "guess", newPassword: "a new long password") }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.text
    );
    let answer = app
        .gql(Some(&session), "{ organization { id } }", json!({}))
        .await;
    assert_unauthorized(&answer, true);
}

#[tokio::test]
async fn failure_budgets_hold_across_instances() {
    let app = spawn_app_with(|config| config.limits.login_failures_per_account = 4).await;
    if app.database.sqlite_path.is_some() {
        // One process owns a SQLite file; budgets live in its memory.
        return;
    }
    let other = app
        .another_instance_with(|config| config.limits.login_failures_per_account = 4)
        .await;
    const LOGIN: &str =
        "mutation($p: String!) { login(email: \"admin@acme.test\", password: $p) { token } }";
    let mut statuses = Vec::new();
    for i in 0..6 {
        let instance = if i % 2 == 0 { &app } else { &other };
        let answer = instance
            .gql(None, LOGIN, json!({ "p": format!("wrong {i}") }))
            .await;
        statuses.push(answer.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429]);
}

#[tokio::test]
async fn two_admins_demoting_each_other_leave_one_admin() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let viewer = app.role_id("viewer").await.to_string();
    const DEMOTE: &str =
        "mutation($u: ID!, $r: ID!) { updateMemberRole(userId: $u, roleId: $r) { joinedAt } }";
    const PROMOTE: &str = DEMOTE;
    let admin_role = app.role_id("admin").await.to_string();
    let other = app.add_member(&admin, "second@acme.test", "admin").await;
    for round in 0..6 {
        let first = app.admin_session().await;
        let second = app.login("second@acme.test", ADMIN_PASSWORD).await;
        let (a, b) = tokio::join!(
            app.gql(
                Some(&first),
                DEMOTE,
                json!({ "u": other.user_id.to_string(), "r": viewer })
            ),
            app.gql(
                Some(&second),
                DEMOTE,
                json!({ "u": app.admin.user.id.to_string(), "r": viewer })
            ),
        );
        let demoted = [&a, &b]
            .iter()
            .filter(|x| x.body["data"]["updateMemberRole"].is_object())
            .count();
        assert_eq!(demoted, 1, "round {round}: {} / {}", a.text, b.text);
        // Restore both admins for the next round, through whoever is admin.
        let (remaining, demoted_user) = if a.body["data"]["updateMemberRole"].is_object() {
            (first, other.user_id)
        } else {
            (second, app.admin.user.id)
        };
        let answer = app
            .gql(
                Some(&remaining),
                PROMOTE,
                json!({ "u": demoted_user.to_string(), "r": admin_role }),
            )
            .await;
        assert!(
            answer.body["data"]["updateMemberRole"].is_object(),
            "{}",
            answer.text
        );
    }
}

#[tokio::test]
async fn a_session_never_changes_tenant_on_its_own() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    // Ada belongs to Acme (oldest) and to Beta.
    let ada = app.add_member(&admin, "ada@acme.test", "viewer").await;
    let beta = app.other_organization("Beta", "boss@beta.test").await;
    let boss = app.login("boss@beta.test", ADMIN_PASSWORD).await;
    let role = app.role_id_in(beta.organization.id, "editor").await;
    let answer = app
        .gql(
            Some(&boss),
            "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { code } }",
            json!({ "input": { "email": "ada@acme.test", "roleId": role.to_string() } }),
        )
        .await;
    let code_ = answer.body["data"]["inviteMember"]["code"].clone();
    let answer = app
        .gql(
            Some(&ada.session),
            "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { organization { id } } }",
            json!({ "input": { "code": code_ } }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["acceptInvitation"]["organization"]["id"],
        beta.organization.id.to_string(),
        "{}",
        answer.text
    );
    // Login pinned to Beta.
    let answer = app
        .gql(
            None,
            "mutation($o: ID) { login(email: \"ada@acme.test\", password: \"correct horse battery staple\", organizationId: $o) { token organization { id } } }",
            json!({ "o": beta.organization.id.to_string() }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["login"]["organization"]["id"],
        beta.organization.id.to_string(),
        "{}",
        answer.text
    );
    let pinned = answer.body["data"]["login"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = app
        .gql(Some(&pinned), "{ organization { id } }", json!({}))
        .await;
    assert_eq!(
        answer.body["data"]["organization"]["id"],
        beta.organization.id.to_string()
    );
    // Removed from Beta: the session does not slide into Acme.
    let answer = app
        .gql(
            Some(&boss),
            "mutation($u: ID!) { removeMember(userId: $u) }",
            json!({ "u": ada.user_id.to_string() }),
        )
        .await;
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    let answer = app
        .gql(Some(&pinned), "{ organization { id } }", json!({}))
        .await;
    assert_unauthorized(&answer, true);
    // It may still name Acme, where Ada is a member.
    let answer = app
        .gql_in(
            &pinned,
            app.admin.organization.id,
            "{ organization { id } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer.body["data"]["organization"]["id"],
        app.admin.organization.id.to_string()
    );
    // Asking to be pinned where one is no member is refused.
    let answer = app
        .gql(
            None,
            "mutation($o: ID) { login(email: \"ada@acme.test\", password: \"correct horse battery staple\", organizationId: $o) { token } }",
            json!({ "o": beta.organization.id.to_string() }),
        )
        .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
}

#[tokio::test]
async fn a_personal_token_sees_only_its_own_organization() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let other = app.other_organization("Second", "admin@acme.test").await;
    let _ = other;
    let (_, token) = app.create_personal_token(&admin, None).await;
    let answer = app
        .gql(Some(&token), "{ organizations { id } }", json!({}))
        .await;
    assert_eq!(
        answer.body["data"]["organizations"],
        json!([{ "id": app.admin.organization.id.to_string() }]),
        "{}",
        answer.text
    );
    let answer = app
        .gql(Some(&admin), "{ organizations { id } }", json!({}))
        .await;
    assert_eq!(
        answer.body["data"]["organizations"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn nul_characters_are_bad_input_for_everyone() {
    let app = spawn_app().await;
    let answer = app
        .gql(
            None,
            "mutation($e: String!) { login(email: $e, password: \"x\") { token } }",
            json!({ "e": "a\u{0}@acme.test" }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.error_code(),
        Some("BAD_USER_INPUT"),
        "{}",
        answer.text
    );
    let answer = app
        .gql(
            Some(app.admin_token()),
            r#"mutation { createProject(input: {name: "a\u0000b"}) { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        answer.error_code(),
        Some("BAD_USER_INPUT"),
        "{}",
        answer.text
    );
    assert!(answer.body.get("data").is_none_or(Value::is_null));
}

#[tokio::test]
async fn malformed_json_is_a_graphql_400() {
    let app = spawn_app().await;
    for body in ["{not json", r#"{"query": 12}"#, ""] {
        let answer = app
            .send(
                app.client
                    .post(app.url())
                    .bearer_auth(app.admin_token())
                    .header("Content-Type", "application/json")
                    .body(body),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.text
        );
        assert_eq!(answer.error_code(), Some("BAD_REQUEST"), "{}", answer.text);
        assert!(!answer.text.contains("InvalidRequest("), "{}", answer.text);
    }
}

#[tokio::test]
async fn a_scoped_token_does_not_reach_its_siblings_through_an_sbom() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let project = app.create_project("api").await;
    let (_, uploader) = app.create_personal_token(&admin, None).await;
    let answer = app
        .upload_sbom(
            &uploader,
            &project,
            r#"{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}"#,
            "id",
        )
        .await;
    let sbom = answer.body["data"]["uploadSbom"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .to_owned();
    let (_, scoped) = app
        .create_personal_token(&admin, Some(vec!["projects:read", "sboms:read"]))
        .await;
    let query = "query($id: ID!) { sbom(id: $id) { id uploadedByToken { id } } }";
    // Absent, as `token(id)` would not answer it: null, no error.
    let answer = app.gql(Some(&scoped), query, json!({ "id": sbom })).await;
    assert_eq!(answer.error_code(), None, "{}", answer.text);
    assert_eq!(answer.body["data"]["sbom"]["uploadedByToken"], Value::Null);
    // The uploader itself and its owner's session see it.
    for caller in [&uploader, &admin] {
        let answer = app.gql(Some(caller), query, json!({ "id": sbom })).await;
        assert!(
            answer.body["data"]["sbom"]["uploadedByToken"]["id"].is_string(),
            "{}",
            answer.text
        );
    }
}
