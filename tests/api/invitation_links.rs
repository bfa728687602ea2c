//! Invitation links (docs/DESIGN.md §9): `CreatedInvitation.url` is
//! `<public URL>/#/accept/<code>`, and `invitationPreview` shows the holder
//! of a pending code the organization and role it leads to, and nothing
//! for a code that is malformed, unknown, expired, withdrawn or used.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_PASSWORD, TestApp, UNAUTHORIZED_BODY, lynk_binary, spawn_app, spawn_app_with,
};

const INVITE: &str = "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { code url invitation { id } } }";
const PREVIEW: &str = "query($code: String!) { invitationPreview(code: $code) { email organizationName roleName permissions expiresAt } }";
const ACCEPT: &str = "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { organization { name } } }";
const INVALID: &str = "the invitation code is invalid, expired or already used";

/// Invites `email` as `role` with `session`; returns (code, url, invitation id).
async fn invite(app: &TestApp, session: &str, email: &str, role: &str) -> (String, String, String) {
    let role_id = app.role_id(role).await.to_string();
    let answer = app
        .gql(
            Some(session),
            INVITE,
            json!({"input": {"email": email, "roleId": role_id}}),
        )
        .await;
    let created = &answer.body["data"]["inviteMember"];
    (
        created["code"]
            .as_str()
            .unwrap_or_else(|| panic!("invite failed: {}", answer.text))
            .to_owned(),
        created["url"].as_str().unwrap().to_owned(),
        created["invitation"]["id"].as_str().unwrap().to_owned(),
    )
}

/// Asserts that `code` previews as nothing: the one `BAD_USER_INPUT`.
async fn assert_refused(app: &TestApp, code: &str) {
    let answer = app.gql(None, PREVIEW, json!({"code": code})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.error_code(),
        Some("BAD_USER_INPUT"),
        "{}",
        answer.text
    );
    assert_eq!(answer.body["errors"][0]["message"], INVALID);
    assert_eq!(answer.body["data"], Value::Null, "{}", answer.text);
}

#[tokio::test]
async fn the_link_carries_the_code_in_the_fragment_of_the_listen_address() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let (code, url, _) = invite(&app, &session, "lee@acme.test", "uploader").await;
    assert!(code.starts_with("lynk_invite_"), "{code}");
    assert_eq!(url, format!("http://{}/#/accept/{code}", app.address));
}

#[tokio::test]
async fn the_link_starts_with_the_public_url() {
    let app = spawn_app_with(|config| {
        config.public_url = Some("https://lynk.example.com/auth".into());
    })
    .await;
    let session = app.admin_session().await;
    let (code, url, _) = invite(&app, &session, "lee@acme.test", "uploader").await;
    assert_eq!(
        url,
        format!("https://lynk.example.com/auth/#/accept/{code}")
    );
}

#[test]
fn a_public_url_that_links_cannot_start_with_is_refused_at_start() {
    for (value, says) in [
        ("ftp://lynk.example.com", "http or https"),
        ("lynk.example.com", "not a URL"),
        ("https://lynk.example.com/?a=b", "no query"),
        ("https://lynk.example.com/#x", "no query, fragment"),
    ] {
        let output = lynk_binary()
            .args(["serve", "--public-url", value])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--public-url") && stderr.contains(says),
            "{value}: {stderr}"
        );
    }
}

#[tokio::test]
async fn the_code_holder_sees_the_organization_and_the_role_without_signing_in() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let (code, _, _) = invite(&app, &session, "lee@acme.test", "uploader").await;
    let answer = app.gql(None, PREVIEW, json!({"code": code})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let preview = &answer.body["data"]["invitationPreview"];
    assert_eq!(preview["email"], "lee@acme.test", "{}", answer.text);
    assert_eq!(preview["organizationName"], "Acme Corp");
    assert_eq!(preview["roleName"], "uploader");
    assert_eq!(
        preview["permissions"],
        json!(["projects:read", "sboms:read", "sboms:write"]),
        "{}",
        answer.text
    );
    assert!(preview["expiresAt"].is_string());
    // A signed-in caller of any organization sees the same: the code, not
    // the session, is what answers.
    let other = app.other_organization("Globex", "hank@globex.test").await;
    let answer = app
        .gql(Some(&other.token), PREVIEW, json!({"code": code}))
        .await;
    assert_eq!(
        answer.body["data"]["invitationPreview"]["organizationName"], "Acme Corp",
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn wrong_used_withdrawn_and_expired_codes_preview_as_nothing() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    // Malformed, a checksum that fails, another kind of secret, a code of
    // the right form that was never issued.
    assert_refused(&app, "").await;
    assert_refused(&app, "not a code").await;
    let (mut code, _, _) = invite(&app, &session, "ann@acme.test", "viewer").await;
    let last = code.pop().unwrap();
    code.push(if last == 'a' { 'b' } else { 'a' });
    assert_refused(&app, &code).await;
    assert_refused(&app, app.admin_token()).await;
    assert_refused(&app, &"x".repeat(20_000)).await;

    // Used.
    let (used, _, _) = invite(&app, &session, "lee@acme.test", "viewer").await;
    let answer = app
        .gql(
            None,
            ACCEPT,
            json!({"input": {"code": used, "name": "Lee", "password": ADMIN_PASSWORD}}),
        )
        .await;
    assert_eq!(
        answer.body["data"]["acceptInvitation"]["organization"]["name"], "Acme Corp",
        "{}",
        answer.text
    );
    assert_refused(&app, &used).await;

    // Withdrawn.
    let (withdrawn, _, id) = invite(&app, &session, "max@acme.test", "viewer").await;
    let answer = app
        .gql(
            Some(&session),
            "mutation($id: ID!) { revokeInvitation(id: $id) }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        answer.body["data"]["revokeInvitation"], id,
        "{}",
        answer.text
    );
    assert_refused(&app, &withdrawn).await;

    // Expired.
    let (expired, _, id) = invite(&app, &session, "kim@acme.test", "viewer").await;
    app.execute(
        "UPDATE invitation SET expires_at = $1 WHERE id = $2",
        vec![
            (chrono::Utc::now() - chrono::Duration::hours(1)).into(),
            id.parse::<uuid::Uuid>().unwrap().into(),
        ],
    )
    .await;
    assert_refused(&app, &expired).await;
    let answer = app
        .gql(
            None,
            ACCEPT,
            json!({"input": {"code": expired, "name": "Kim", "password": ADMIN_PASSWORD}}),
        )
        .await;
    assert_eq!(
        answer.body["errors"][0]["message"], INVALID,
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn the_preview_opens_nothing_else_to_an_anonymous_caller() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let (code, _, _) = invite(&app, &session, "lee@acme.test", "viewer").await;
    for query in [
        "query($code: String!) { invitationPreview(code: $code) { email } organization { id } }",
        "query($code: String!) { ...F } fragment F on Query { invitationPreview(code: $code) { email } }",
        "{ __typename }",
    ] {
        let answer = app.gql(None, query, json!({"code": code})).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{query}: {}",
            answer.text
        );
        assert_eq!(answer.text, UNAUTHORIZED_BODY, "{query}");
    }
}

#[tokio::test]
async fn a_signed_in_user_of_another_organization_joins_with_their_session() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let other = app.other_organization("Globex", "hank@globex.test").await;
    let (code, _, _) = invite(&app, &session, "hank@globex.test", "editor").await;
    let hank = app.login("hank@globex.test", ADMIN_PASSWORD).await;
    // Someone else's session cannot spend it.
    let (_, viewer_secret) = {
        let viewer = app.add_member(&session, "vera@acme.test", "viewer").await;
        (viewer.user_id, viewer.session)
    };
    let answer = app
        .gql(
            Some(&viewer_secret),
            ACCEPT,
            json!({"input": {"code": code}}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    let answer = app
        .gql(Some(&hank), ACCEPT, json!({"input": {"code": code}}))
        .await;
    assert_eq!(
        answer.body["data"]["acceptInvitation"]["organization"]["name"], "Acme Corp",
        "{}",
        answer.text
    );
    assert_refused(&app, &code).await;
    // Still a member of Globex too.
    let answer = app
        .gql_in(
            &hank,
            other.organization.id,
            "{ organization { name } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.body["data"]["organization"]["name"], "Globex");
}

/// Opens `url` as a fresh page load (not a same-document hash change).
async fn load(browser: &crate::browser::Browser, url: &str) {
    browser.client.goto("about:blank").await.expect("blank");
    browser.client.goto(url).await.expect("open the link");
}

#[tokio::test]
async fn a_new_user_opens_the_link_and_joins_in_the_browser() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let (_, url, _) = invite(&app, &session, "lee@acme.test", "uploader").await;
    let Some((browser, _turn)) =
        crate::browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    load(&browser, &url).await;
    browser
        .wait_for_text("#invite-organization", "Acme Corp")
        .await;
    browser.wait_for_text("#invite-role", "uploader").await;
    browser
        .wait_for_text("#accept-invitation", "lee@acme.test")
        .await;
    browser.screenshot("accept-invitation").await;
    // A password the server refuses is said beside the form.
    browser
        .fill("#accept-new-account input[name=name]", "Lee")
        .await;
    browser
        .fill("#accept-new-account input[name=password]", "short")
        .await;
    browser
        .eval("document.querySelector('#accept-new-account').noValidate = true")
        .await;
    browser
        .click_text("#accept-new-account button", "Create account and join")
        .await;
    browser.wait_for_text("#accept-invitation .error", "").await;
    browser
        .fill("#accept-new-account input[name=password]", ADMIN_PASSWORD)
        .await;
    browser
        .click_text("#accept-new-account button", "Create account and join")
        .await;
    browser.wait_for_text("#who", "lee@acme.test").await;
    browser.wait_for_text("main h1", "Personal tokens").await;
    assert_eq!(
        browser.eval("return location.hash").await,
        json!("#/tokens"),
        "the spent code stays in the address bar"
    );
    // The link is spent: opened again, it says so.
    browser.eval("sessionStorage.clear()").await;
    load(&browser, &url).await;
    browser
        .wait_for_text("#accept-invitation", "cannot be used")
        .await;
    browser.close().await;
}

#[tokio::test]
async fn a_signed_in_user_joins_with_their_session_in_the_browser() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    app.other_organization("Globex", "hank@globex.test").await;
    let (_, url, _) = invite(&app, &session, "hank@globex.test", "editor").await;
    let Some((browser, _turn)) =
        crate::browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    browser.sign_in("hank@globex.test", ADMIN_PASSWORD).await;
    load(&browser, &url).await;
    browser
        .wait_for_text("#accept-invitation", "signed in as hank@globex.test")
        .await;
    browser
        .click_text("#accept-invitation button", "Join Acme Corp")
        .await;
    browser.find("#organization-switcher").await;
    let organizations = browser
        .eval(
            "return [...document.querySelectorAll('#organization-switcher option')]\
             .map(o => [o.textContent, o.selected])",
        )
        .await;
    assert_eq!(
        organizations,
        json!([["Globex", false], ["Acme Corp", true]]),
        "{organizations}"
    );
    browser.close().await;
}

#[tokio::test]
async fn someone_else_signed_in_is_asked_to_sign_out_first() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let (_, url, _) = invite(&app, &session, "lee@acme.test", "viewer").await;
    let Some((browser, _turn)) =
        crate::browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    load(&browser, &url).await;
    browser
        .wait_for_text("#accept-invitation", "this invitation is for lee@acme.test")
        .await;
    browser
        .click_text("#accept-invitation button", "Sign out and continue")
        .await;
    browser.find("#accept-new-account").await;
    browser.close().await;
}
