//! Network-bound tokens (docs/DESIGN.md §9): `allowedCidrs` at creation,
//! `restrictTokenAddresses` (`ENFORCE`, `REPORT_ONLY`), the client address
//! as `--trusted-proxy-hops` defines it, checked on the row the one
//! verification statement read.

use std::net::IpAddr;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{Answer, TestApp, assert_unauthorized, spawn_app, spawn_app_with},
    least_privilege::eventually,
};

const CREATE_SERVICE: &str = "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { token { id allowedCidrs addressEnforcement } secret } }";
const RESTRICT: &str = "mutation($id: ID!, $cidrs: [String!]!, $mode: AddressEnforcement) { restrictTokenAddresses(id: $id, allowedCidrs: $cidrs, mode: $mode) { id allowedCidrs addressEnforcement } }";
const REJECTED: &str =
    "query($id: ID!) { token(id: $id) { rejectedUses { count lastIps lastReason } } }";
const WHO: &str = "{ organization { id name } }";

/// A service token (uploader) bound to `cidrs`; (id, secret).
async fn bound_token(app: &TestApp, cidrs: &[&str]) -> (String, String) {
    let role = app.role_id("uploader").await.to_string();
    let answer = app
        .gql(
            Some(app.admin_token()),
            CREATE_SERVICE,
            json!({ "input": { "name": "ci", "roleId": role, "allowedCidrs": cidrs } }),
        )
        .await;
    let created = &answer.body["data"]["createServiceToken"];
    (
        created["token"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("create failed: {}", answer.text))
            .to_owned(),
        created["secret"].as_str().unwrap_or_default().to_owned(),
    )
}

/// `{ organization { id name } }` as `secret`, from the local address
/// `source` (any of 127.0.0.0/8 reaches the server on loopback), with an
/// `X-Forwarded-For` header when given.
async fn from(app: &TestApp, source: &str, forwarded_for: Option<&str>, secret: &str) -> Answer {
    let client = reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().expect("address"))
        .build()
        .expect("client");
    let mut request = client
        .post(app.url())
        .bearer_auth(secret)
        .json(&json!({ "query": WHO }));
    if let Some(forwarded_for) = forwarded_for {
        request = request.header("X-Forwarded-For", forwarded_for);
    }
    app.send(request).await
}

#[track_caller]
fn assert_ok(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(
        answer.body["data"]["organization"]["id"].is_string(),
        "{}",
        answer.text
    );
}

async fn rejected(app: &TestApp, id: &str, count: u64) -> Value {
    let body = eventually(
        app,
        app.admin_token(),
        REJECTED,
        json!({ "id": id }),
        |body| body["data"]["token"]["rejectedUses"]["count"] == json!(count),
    )
    .await;
    body["data"]["token"]["rejectedUses"].clone()
}

#[tokio::test]
async fn a_bound_token_works_only_from_its_addresses_and_xff_is_ignored_without_hops() {
    let app = spawn_app().await;
    let (id, secret) = bound_token(&app, &["127.0.0.2"]).await;
    assert_ok(&from(&app, "127.0.0.2", None, &secret).await);
    // From elsewhere: the 401 of an unknown token, recorded.
    assert_unauthorized(&from(&app, "127.0.0.3", None, &secret).await, true);
    // With 0 trusted hops, a spoofed X-Forwarded-For changes nothing.
    assert_unauthorized(
        &from(&app, "127.0.0.3", Some("127.0.0.2"), &secret).await,
        true,
    );
    assert_ok(&from(&app, "127.0.0.2", Some("203.0.113.9"), &secret).await);
    let seen = rejected(&app, &id, 2).await;
    assert_eq!(seen["lastReason"], "ADDRESS_NOT_ALLOWED");
    assert_eq!(seen["lastIps"], json!(["127.0.0.3"]));
    let token = app
        .gql(
            Some(app.admin_token()),
            "query($id: ID!) { token(id: $id) { allowedCidrs addressEnforcement } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        token.body["data"]["token"],
        json!({ "allowedCidrs": ["127.0.0.2/32"], "addressEnforcement": "ENFORCE" })
    );
}

#[tokio::test]
async fn with_one_hop_only_the_last_forwarded_address_counts() {
    let app = spawn_app_with(|config| config.limits.trusted_proxy_hops = 1).await;
    let (v4_id, v4) = bound_token(&app, &["198.51.100.0/24"]).await;
    let (_, v6) = bound_token(&app, &["2001:db8::/32"]).await;
    // The proxy (this client) appends the address it saw, last.
    assert_ok(&from(&app, "127.0.0.1", Some("198.51.100.7"), &v4).await);
    assert_ok(&from(&app, "127.0.0.1", Some("6.6.6.6, 198.51.100.7"), &v4).await);
    // A client-supplied entry further left is never trusted.
    assert_unauthorized(
        &from(&app, "127.0.0.1", Some("198.51.100.7, 6.6.6.6"), &v4).await,
        true,
    );
    assert_ok(&from(&app, "127.0.0.1", Some("2001:db8:1::5"), &v6).await);
    assert_ok(&from(&app, "127.0.0.1", Some("::1, 2001:db8::9"), &v6).await);
    assert_unauthorized(
        &from(&app, "127.0.0.1", Some("2001:db8::9, 2001:db9::1"), &v6).await,
        true,
    );
    // The peer itself is not the client behind a proxy.
    assert_unauthorized(&from(&app, "127.0.0.1", Some("127.0.0.1"), &v6).await, true);
    let seen = rejected(&app, &v4_id, 1).await;
    assert_eq!(seen["lastIps"], json!(["6.6.6.6"]));
}

#[tokio::test]
async fn report_only_never_refuses_and_records() {
    let app = spawn_app().await;
    let (id, secret) = bound_token(&app, &[]).await;
    assert_ok(&from(&app, "127.0.0.9", None, &secret).await);
    let answer = app
        .gql(
            Some(app.admin_token()),
            RESTRICT,
            json!({ "id": id, "cidrs": ["10.0.0.0/8", "::1"], "mode": "REPORT_ONLY" }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["restrictTokenAddresses"],
        json!({ "id": id, "allowedCidrs": ["10.0.0.0/8", "::1/128"], "addressEnforcement": "REPORT_ONLY" }),
        "{}",
        answer.text
    );
    for source in ["127.0.0.1", "127.0.0.4", "127.0.0.5"] {
        assert_ok(&from(&app, source, None, &secret).await);
    }
    let seen = rejected(&app, &id, 3).await;
    assert_eq!(seen["lastReason"], "ADDRESS_NOT_ALLOWED");
    // Enforced (the default mode), it refuses; lifted, it works anywhere.
    let answer = app
        .gql(
            Some(app.admin_token()),
            RESTRICT,
            json!({ "id": id, "cidrs": ["10.0.0.0/8"] }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["restrictTokenAddresses"]["addressEnforcement"],
        "ENFORCE"
    );
    assert_unauthorized(&from(&app, "127.0.0.1", None, &secret).await, true);
    let answer = app
        .gql(
            Some(app.admin_token()),
            RESTRICT,
            json!({ "id": id, "cidrs": [] }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["restrictTokenAddresses"],
        json!({ "id": id, "allowedCidrs": [], "addressEnforcement": null })
    );
    assert_ok(&from(&app, "127.0.0.1", None, &secret).await);
}

#[tokio::test]
async fn bad_address_lists_are_refused_with_what_is_valid() {
    let app = spawn_app().await;
    let role = app.role_id("uploader").await.to_string();
    let many: Vec<String> = (0..21).map(|i| format!("10.0.{i}.0/24")).collect();
    for (cidrs, named) in [
        (json!(["10.0.0.0/33"]), "`10.0.0.0/33`"),
        (json!(["example.com"]), "`example.com`"),
        (json!(many), "at most 20"),
    ] {
        let answer = app
            .gql(
                Some(app.admin_token()),
                CREATE_SERVICE,
                json!({ "input": { "name": "ci", "roleId": role, "allowedCidrs": cidrs } }),
            )
            .await;
        assert_eq!(
            answer.error_code(),
            Some("BAD_USER_INPUT"),
            "{}",
            answer.text
        );
        assert!(answer.text.contains(named), "{}", answer.text);
        let (id, _) = bound_token(&app, &[]).await;
        let answer = app
            .gql(
                Some(app.admin_token()),
                RESTRICT,
                json!({ "id": id, "cidrs": cidrs }),
            )
            .await;
        assert_eq!(
            answer.error_code(),
            Some("BAD_USER_INPUT"),
            "{}",
            answer.text
        );
    }
    // A personal token takes them too.
    let session = app.admin_session().await;
    let answer = app
        .gql(
            Some(&session),
            "mutation($input: CreatePersonalTokenInput!) { createPersonalToken(input: $input) { token { allowedCidrs } } }",
            json!({ "input": {
                "name": "laptop",
                "expiresAt": crate::helpers::days_from_now(3).to_rfc3339(),
                "allowedCidrs": ["2001:db8::/32", "192.0.2.7"],
            } }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["createPersonalToken"]["token"]["allowedCidrs"],
        json!(["2001:db8::/32", "192.0.2.7/32"]),
        "{}",
        answer.text
    );
    // Bits past the prefix are a typo lynk does not guess at.
    let answer = app
        .gql(
            Some(&session),
            "mutation($input: CreatePersonalTokenInput!) { createPersonalToken(input: $input) { token { id } } }",
            json!({ "input": {
                "name": "typo",
                "expiresAt": crate::helpers::days_from_now(3).to_rfc3339(),
                "allowedCidrs": ["2001:db8::1/32"],
            } }),
        )
        .await;
    assert_eq!(
        answer.error_code(),
        Some("BAD_USER_INPUT"),
        "{}",
        answer.text
    );
    assert!(
        answer.text.contains("did you mean 2001:db8::/32"),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn only_who_may_rotate_a_token_restricts_it() {
    let app = spawn_app().await;
    let admin_session = app.admin_session().await;
    let (id, _) = bound_token(&app, &[]).await;
    let editor = app
        .add_member(&admin_session, "ed@acme.test", "editor")
        .await;
    let (_, scoped) = app
        .create_personal_token(&admin_session, Some(vec!["tokens:read"]))
        .await;
    let other = app.other_organization("Globex", "boss@globex.test").await;
    let attempt = |token: String| {
        let app = &app;
        let id = id.clone();
        async move {
            app.gql(
                Some(&token),
                RESTRICT,
                json!({ "id": id, "cidrs": ["10.0.0.0/8"] }),
            )
            .await
        }
    };
    assert_eq!(
        attempt(editor.session.clone()).await.error_code(),
        Some("FORBIDDEN")
    );
    assert_eq!(attempt(scoped).await.error_code(), Some("FORBIDDEN"));
    assert_eq!(
        attempt(other.token.clone()).await.error_code(),
        Some("NOT_FOUND")
    );
    // A custom role with tokens:write but less than the token carries
    // cannot rotate it, so cannot restrict it either.
    let answer = app
        .gql(
            Some(&admin_session),
            "mutation($input: CreateRoleInput!) { createRole(input: $input) { id } }",
            json!({ "input": { "name": "token-clerk", "permissions": ["tokens:read", "tokens:write"] } }),
        )
        .await;
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    let clerk = app
        .add_member(&admin_session, "clerk@acme.test", "token-clerk")
        .await;
    let answer = attempt(clerk.session.clone()).await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    assert!(
        answer.text.contains("permissions you do not hold"),
        "{}",
        answer.text
    );
    let answer = app
        .gql(None, RESTRICT, json!({ "id": id, "cidrs": [] }))
        .await;
    assert_unauthorized(&answer, false);
}

#[tokio::test]
async fn a_rotated_token_keeps_its_addresses() {
    let app = spawn_app().await;
    let (id, _) = bound_token(&app, &["127.0.0.2"]).await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation($id: ID!) { rotateToken(id: $id) { token { allowedCidrs addressEnforcement } secret } }",
            json!({ "id": id }),
        )
        .await;
    let rotated = &answer.body["data"]["rotateToken"];
    assert_eq!(
        rotated["token"]["allowedCidrs"],
        json!(["127.0.0.2/32"]),
        "{}",
        answer.text
    );
    let secret = rotated["secret"].as_str().expect("secret");
    assert_unauthorized(&from(&app, "127.0.0.1", None, secret).await, true);
    assert_ok(&from(&app, "127.0.0.2", None, secret).await);
}

#[tokio::test]
async fn a_publisher_bound_to_the_runner_issues_tokens_that_work_only_from_it() {
    use crate::trusted_publishing::{EXCHANGE, SUBJECT, SigningKey, TestIssuer, spawn_lynk, trust};
    let key = SigningKey::ec("ec-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    let role = app.role_id("uploader").await.to_string();
    let answer = trust(
        &app,
        app.admin_token(),
        json!({
            "projectId": project,
            "issuer": issuer.url(),
            "audience": "lynk",
            "subject": SUBJECT,
            "roleId": role,
            "bindToRunnerAddress": true,
        }),
    )
    .await;
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    // The runner exchanges from 127.0.0.2.
    let runner = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().expect("address"))
        .build()
        .expect("client");
    let answer = app
        .send(runner.post(app.url()).json(&json!({
            "query": EXCHANGE,
            "variables": { "token": key.sign(&issuer.claims()), "projectId": project },
        })))
        .await;
    let secret = answer.body["data"]["exchangeOidcToken"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("exchange failed: {}", answer.text))
        .to_owned();
    let id = answer.body["data"]["exchangeOidcToken"]["token"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_ok(&from(&app, "127.0.0.2", None, &secret).await);
    assert_unauthorized(&from(&app, "127.0.0.3", None, &secret).await, true);
    let token = app
        .gql(
            Some(app.admin_token()),
            "query($id: ID!) { token(id: $id) { allowedCidrs addressEnforcement } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        token.body["data"]["token"],
        json!({ "allowedCidrs": ["127.0.0.2/32"], "addressEnforcement": "ENFORCE" })
    );
}
