//! A token's page in the console (Chromium, see `browser.rs`): the
//! permissions it used and did not ("Narrow to what it uses"), the
//! addresses it was used from ("Lock to these addresses") and refused uses.

use std::net::IpAddr;

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    browser,
    helpers::{ADMIN_PASSWORD, assert_unauthorized, spawn_app},
    least_privilege::eventually,
};

#[tokio::test]
async fn a_tokens_page_narrows_it_to_what_it_uses_and_locks_it_to_its_addresses() {
    let app = spawn_app().await;
    let Some((browser, _turn)) = browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    let (id, secret) = app.service_token("uploader").await;
    let id = id.to_string();
    let project = app.create_project("shop-api").await;
    let used = app
        .gql(
            Some(&secret),
            "query($p: ID!) { project(id: $p) { id } }",
            json!({ "p": project }),
        )
        .await;
    assert!(used.body["errors"].is_null(), "{}", used.text);
    eventually(
        &app,
        app.admin_token(),
        "query($id: ID!) { token(id: $id) { permissionsUsed lastUsedIps } }",
        json!({ "id": id }),
        |body| {
            body["data"]["token"]["permissionsUsed"] == json!(["projects:read"])
                && body["data"]["token"]["lastUsedIps"] == json!(["127.0.0.1"])
        },
    )
    .await;

    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    browser.open("#/service-tokens").await;
    browser.click_text("main a", "uploader pipeline").await;
    browser
        .wait_for_text("#permissions-used", "projects:read")
        .await;
    let unused = browser
        .wait_for_text("#permissions-unused", "sboms:write")
        .await;
    assert!(unused.contains("sboms:read"), "{unused}");
    browser.wait_for_text("#last-addresses", "127.0.0.1").await;
    browser.wait_for_text("#allowed-cidrs", "anywhere").await;
    browser.wait_for_text("#rejected-uses", "None").await;
    browser.screenshot("token-page").await;

    browser
        .click_text("#narrow-token", "Narrow to what it uses")
        .await;
    browser.wait_for_text("dialog", "projects:read").await;
    browser.click_text("dialog button", "Narrow token").await;
    browser.wait_for_text("#permissions-unused", "none").await;
    let scopes = app
        .gql(
            Some(app.admin_token()),
            "query($id: ID!) { token(id: $id) { scopes } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        scopes.body["data"]["token"]["scopes"],
        json!(["projects:read"])
    );
    let dropped = app
        .gql(
            Some(&secret),
            "query($p: ID!) { project(id: $p) { sboms { nodes { id } } } }",
            json!({ "p": project }),
        )
        .await;
    assert_eq!(dropped.error_code(), Some("FORBIDDEN"), "{}", dropped.text);

    browser
        .click_text("#lock-addresses", "Lock to these addresses")
        .await;
    browser.wait_for_text("dialog", "127.0.0.1").await;
    browser.click_text("dialog button", "Lock token").await;
    browser
        .wait_for_text("#allowed-cidrs", "127.0.0.1/32")
        .await;
    // From elsewhere the secret is refused, and the page shows it.
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().expect("address"))
        .build()
        .expect("client");
    let answer = app
        .send(
            elsewhere
                .post(app.url())
                .bearer_auth(&secret)
                .json(&json!({ "query": "{ organization { id } }" })),
        )
        .await;
    assert_unauthorized(&answer, true);
    let here = app
        .gql(Some(&secret), "{ organization { id } }", json!({}))
        .await;
    assert_eq!(here.status, StatusCode::OK);
    eventually(
        &app,
        app.admin_token(),
        "query($id: ID!) { token(id: $id) { rejectedUses { count } } }",
        json!({ "id": id }),
        |body| body["data"]["token"]["rejectedUses"]["count"] == json!(1),
    )
    .await;
    // The page is drawn anew (the hash is the same, so reload it).
    browser.eval("location.reload(); return null;").await;
    let refused = browser
        .wait_for_text("#rejected-uses", "1 refused use")
        .await;
    assert!(refused.contains("127.0.0.2"), "{refused}");
    browser.screenshot("token-page-locked").await;
    browser.close().await;
}
