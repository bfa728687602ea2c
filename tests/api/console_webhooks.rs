//! The console's webhooks page in a real browser.

use serde_json::json;

use crate::{
    browser,
    helpers::{ADMIN_PASSWORD, spawn_app_with},
};

#[tokio::test]
async fn an_admin_adds_a_webhook_and_sees_its_deliveries() {
    let app = spawn_app_with(|config| {
        config.encryption_key = Some(
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
                .parse()
                .expect("a key"),
        );
        config.allow_private_webhook_urls = true;
    })
    .await;
    let session = app.admin_session().await;
    app.add_member(&session, "viewer@acme.test", "viewer").await;
    let Some((browser, turn)) = browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    browser.open("#/webhooks").await;
    browser.wait_for_text("main h1", "Webhooks").await;
    browser
        .find("#new-webhook")
        .await
        .click()
        .await
        .expect("open the form");
    // A URL the server refuses shows its message in the form.
    browser
        .fill("dialog input[name=url]", "ftp://hooks.example.com/lynk")
        .await;
    browser.click_text("dialog button", "Create webhook").await;
    browser
        .wait_for_text("dialog .error", "must use https")
        .await;
    browser
        .fill("dialog input[name=url]", "http://127.0.0.1:9/hooks/lynk")
        .await;
    browser.click_text("dialog button", "Create webhook").await;
    let secret = browser
        .find("#new-secret")
        .await
        .text()
        .await
        .expect("secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    browser.click_text("dialog button", "Done").await;
    let rows = browser
        .wait_for_text("main table", "http://127.0.0.1:9/hooks/lynk")
        .await;
    assert!(
        rows.contains("token.created") && rows.contains("Active"),
        "{rows}"
    );
    assert!(
        !rows.contains(&secret[6..]),
        "the list never shows the secret"
    );

    // A change announces an event; its delivery is listed.
    let answer = app
        .gql(
            Some(&session),
            "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { secret } }",
            json!({"input": {"name": "release", "roleId": app.role_id("uploader").await.to_string()}}),
        )
        .await;
    assert!(
        answer.body["data"]["createServiceToken"]["secret"].is_string(),
        "{}",
        answer.text
    );
    browser
        .click_text("main table a", "http://127.0.0.1:9/hooks/lynk")
        .await;
    browser.wait_for_text("main table", "token.created").await;
    browser.screenshot("page-webhook-deliveries").await;
    browser.close().await;
    drop(turn);

    // A viewer is told what is missing, and offered no action.
    let Some((browser, _turn)) = browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    browser.sign_in("viewer@acme.test", ADMIN_PASSWORD).await;
    browser.open("#/webhooks").await;
    let notice = browser
        .wait_for_text("main .forbidden", "webhooks:read")
        .await;
    assert_eq!(
        notice,
        "You need webhooks:read to see the organization’s webhooks."
    );
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('#new-webhook, .menu-toggle').length")
            .await,
        json!(0)
    );
    browser.close().await;
}
