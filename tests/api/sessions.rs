//! `login`, `logout`, `changePassword`, and which organization a session acts in.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, assert_unauthorized, spawn_app};

const LOGIN: &str = "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { token expiresAt user { email } } }";

#[tokio::test]
async fn login_returns_a_session_that_verifies() {
    let app = spawn_app().await;
    let answer = app
        .gql(
            None,
            LOGIN,
            json!({"email": "Admin@Acme.test", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let login = &answer.body["data"]["login"];
    assert_eq!(login["user"]["email"], "admin@acme.test");
    let token = login["token"].as_str().unwrap();
    assert!(token.starts_with("lynk_session_"));
    let answer = app
        .gql(
            Some(token),
            "{ viewer { kind } organization { name } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.body["data"],
        json!({"viewer": {"kind": "USER_SESSION"}, "organization": {"name": "Acme Corp"}})
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_email_are_the_same_401() {
    let app = spawn_app().await;
    for (email, password) in [
        ("admin@acme.test", "not the password"),
        ("nobody@acme.test", ADMIN_PASSWORD),
    ] {
        let answer = app
            .gql(None, LOGIN, json!({"email": email, "password": password}))
            .await;
        assert_unauthorized(&answer, false);
    }
    let answer = app
        .gql(
            Some(app.admin_token()),
            r#"{ organization { auditEvents(action: "login.failed") { edges { node { action actorUser { email } } } } } }"#,
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.body["data"]["organization"]["auditEvents"]["edges"],
        json!([{"node": {"action": "login.failed", "actorUser": {"email": "admin@acme.test"}}}])
    );
}

#[tokio::test]
async fn logout_revokes_the_session_in_use() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let answer = app
        .gql(Some(&session), "mutation { logout }", Value::Null)
        .await;
    assert_eq!(answer.body, json!({"data": {"logout": true}}));
    assert_unauthorized(
        &app.gql(Some(&session), "{ organization { id } }", Value::Null)
            .await,
        true,
    );
    // A personal token is not a session.
    let answer = app
        .gql(Some(app.admin_token()), "mutation { logout }", Value::Null)
        .await;
    assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn change_password_ends_the_other_sessions() {
    let app = spawn_app().await;
    let first = app.admin_session().await;
    let second = app.admin_session().await;
    let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";
    let answer = app
        .gql(
            Some(&second),
            change,
            json!({"c": ADMIN_PASSWORD, "n": "short"}),
        )
        .await;
    answer.assert_error("BAD_USER_INPUT", "between 12 and");
    let answer = app
        .gql(
            Some(&second),
            change,
            json!({"c": ADMIN_PASSWORD, "n": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(answer.body, json!({"data": {"changePassword": true}}));
    assert_unauthorized(
        &app.gql(Some(&first), "{ organization { id } }", Value::Null)
            .await,
        true,
    );
    assert_eq!(
        app.gql(Some(&second), "{ organization { id } }", Value::Null)
            .await
            .status,
        StatusCode::OK
    );
    // Personal tokens survive a password change.
    assert_eq!(
        app.gql(
            Some(app.admin_token()),
            "{ organization { id } }",
            Value::Null
        )
        .await
        .status,
        StatusCode::OK
    );
    app.login("admin@acme.test", "a brand new passphrase").await;
    let answer = app
        .gql(
            None,
            LOGIN,
            json!({"email": "admin@acme.test", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_unauthorized(&answer, false);
}

#[tokio::test]
async fn a_session_acts_in_the_organization_it_selects() {
    let app = spawn_app().await;
    let other = app.other_organization("Globex", "admin@acme.test").await;
    let session = app.admin_session().await;
    // Default: the oldest membership.
    let answer = app
        .gql(Some(&session), "{ organization { name } }", Value::Null)
        .await;
    assert_eq!(answer.body["data"]["organization"]["name"], "Acme Corp");
    let answer = app
        .gql_in(
            &session,
            other.organization.id,
            "{ organization { name } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.body["data"]["organization"]["name"], "Globex");
    // An organization the user does not belong to is a 403.
    let stranger = app.other_organization("Initech", "bill@initech.test").await;
    let answer = app
        .gql_in(
            &session,
            stranger.organization.id,
            "{ organization { name } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn create_organization_makes_the_caller_admin() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let answer = app
        .gql(
            Some(&session),
            r#"mutation { createOrganization(name: "  Umbrella ") { id name maxTokenLifetimeDays } }"#,
            Value::Null,
        )
        .await;
    let created = &answer.body["data"]["createOrganization"];
    assert_eq!(created["name"], "Umbrella");
    assert_eq!(created["maxTokenLifetimeDays"], 366);
    let id = created["id"].as_str().unwrap().parse().unwrap();
    let answer = app
        .gql_in(&session, id, "{ viewer { role { name } } }", Value::Null)
        .await;
    assert_eq!(answer.body["data"]["viewer"]["role"]["name"], "admin");
    // A personal token cannot create organizations.
    let answer = app
        .gql(
            Some(app.admin_token()),
            r#"mutation { createOrganization(name: "Nope") { id } }"#,
            Value::Null,
        )
        .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"));
    let answer = app
        .gql(
            Some(&session),
            r#"mutation { createOrganization(name: "") { id } }"#,
            Value::Null,
        )
        .await;
    assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn update_organization_sets_the_token_policy() {
    let app = spawn_app().await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            r#"mutation { updateOrganization(name: "Acme Inc", maxTokenLifetimeDays: 30) { name maxTokenLifetimeDays } }"#,
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.body["data"]["updateOrganization"],
        json!({"name": "Acme Inc", "maxTokenLifetimeDays": 30})
    );
    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation { updateOrganization(maxTokenLifetimeDays: 0) { name } }",
            Value::Null,
        )
        .await;
    answer.assert_error_exact(
        "BAD_USER_INPUT",
        "maxTokenLifetimeDays must be between 1 and 3650 (got 0)",
    );
}
