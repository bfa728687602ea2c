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

#[tokio::test]
async fn deliveries_say_why_they_failed_and_are_sent_again_from_the_page() {
    let app = spawn_app_with(|config| {
        config.encryption_key = Some(
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
                .parse()
                .expect("a key"),
        );
        config.allow_private_webhook_urls = true;
    })
    .await;
    // A port nobody listens on: every attempt is refused.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } } }",
            json!({"input": {"url": url, "events": ["token.revoked"]}}),
        )
        .await;
    let id = answer.body["data"]["createWebhook"]["webhook"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .to_owned();
    let Some((browser, _turn)) = browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    browser.open(&format!("#/webhooks/{id}")).await;
    browser.wait_for_text("main", "No deliveries yet").await;
    browser
        .click_text("#send-test-event", "Send test event")
        .await;
    browser.wait_for_text("main table", "webhook.test").await;
    // Once the first attempt has failed, the row says why and when the next runs.
    let mut row = String::new();
    for _ in 0..300 {
        browser.open("#/webhooks").await;
        browser.open(&format!("#/webhooks/{id}")).await;
        row = browser.wait_for_text("main tbody tr", "webhook.test").await;
        if row.contains("Last attempt") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        row.contains("Last attempt: ") && row.contains("onnect"),
        "{row}"
    );
    assert!(row.contains("Next attempt"), "{row}");
    browser.screenshot("webhook-delivery-failing").await;

    // Failed for good: the row offers Redeliver, which queues it again.
    app.execute("UPDATE webhook_delivery SET status = 'FAILED'", Vec::new())
        .await;
    browser.open("#/webhooks").await;
    browser.open(&format!("#/webhooks/{id}")).await;
    browser.wait_for_text("main tbody tr", "Failed").await;
    browser
        .click_text("main tbody button.redeliver", "Redeliver")
        .await;
    browser.wait_for_text("main tbody tr", "Pending").await;
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('main tbody button.redeliver').length")
            .await,
        json!(0)
    );
    browser.close().await;
}
