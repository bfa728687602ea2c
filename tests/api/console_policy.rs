//! The console's token policy and bulk revoke pages in a real browser:
//! each previews (the server's dry run) before it changes anything.

use chrono::{Duration, Utc};
use lynk::entity::token;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::json;
use uuid::Uuid;

use crate::{
    browser,
    helpers::{ADMIN_PASSWORD, TestApp, spawn_app},
};

async fn works(app: &TestApp, secret: &str) -> bool {
    app.gql(Some(secret), "{ organization { id } }", json!({}))
        .await
        .status
        == StatusCode::OK
}

async fn revoked(app: &TestApp, id: Uuid) -> bool {
    token::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some()
}

#[tokio::test]
async fn the_policy_page_previews_what_saving_revokes() {
    let app = spawn_app().await;
    let (old, _) = app.service_token("viewer").await;
    token::Entity::update_many()
        .col_expr(
            token::Column::CreatedAt,
            Expr::value(Utc::now() - Duration::days(40)),
        )
        .filter(token::Column::Id.eq(old))
        .exec(&app.db)
        .await
        .unwrap();
    let (_, fresh) = app.service_token("uploader").await;
    let session = app.admin_session().await;
    app.add_member(&session, "viewer@acme.test", "viewer").await;
    let Some((browser, turn)) = browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    browser.open("#/token-policy").await;
    browser.wait_for_text("main h1", "Token policy").await;
    // A value out of range is refused in the form.
    browser.fill("input[name=revokeUnusedAfterDays]", "3").await;
    browser.click_text("button", "Preview").await;
    browser
        .wait_for_text("#token-policy .error", "from 8 to 3650")
        .await;
    browser
        .fill("input[name=revokeUnusedAfterDays]", "30")
        .await;
    browser.click_text("button", "Preview").await;
    let preview = browser
        .wait_for_text("#policy-preview", "revokes 1 token now")
        .await;
    assert!(preview.contains("viewer pipeline"), "{preview}");
    assert!(!preview.contains("uploader pipeline"), "{preview}");
    browser.screenshot("page-token-policy").await;
    // The preview changed nothing.
    assert!(!revoked(&app, old).await);
    browser.click_text("button", "Save policy").await;
    browser
        .wait_for_text("#token-policy .notice", "Saved. 1 token was revoked.")
        .await;
    assert!(revoked(&app, old).await);
    assert!(works(&app, &fresh).await);
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { tokenPolicy { revokeUnusedAfterDays } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer.body["data"]["organization"]["tokenPolicy"]["revokeUnusedAfterDays"],
        30
    );
    browser.close().await;
    drop(turn);

    // A viewer reads the policy and is told what changing it needs.
    let Some((browser, _turn)) = browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    browser.sign_in("viewer@acme.test", ADMIN_PASSWORD).await;
    browser.open("#/token-policy").await;
    browser
        .wait_for_text("main .forbidden", "organization:write")
        .await;
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('#save-policy, #preview-policy').length")
            .await,
        json!(0)
    );
    browser.close().await;
}

#[tokio::test]
async fn bulk_revoke_lists_what_it_chooses_before_revoking() {
    let app = spawn_app().await;
    let admin = app.admin_token().to_owned();
    let role = app.role_id("uploader").await.to_string();
    let mut secrets = Vec::new();
    for name in ["ci-build", "ci-release", "laptop"] {
        let answer = app
            .gql(
                Some(&admin),
                "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { secret } }",
                json!({"input": {"name": name, "roleId": role}}),
            )
            .await;
        secrets.push(
            answer.body["data"]["createServiceToken"]["secret"]
                .as_str()
                .unwrap_or_else(|| panic!("{}", answer.text))
                .to_owned(),
        );
    }
    let Some((browser, _turn)) = browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    browser.open("#/revoke-tokens").await;
    browser.wait_for_text("main h1", "Bulk revoke").await;
    browser.click_text("button", "Preview").await;
    browser
        .wait_for_text("main .error", "Choose at least one criterion")
        .await;
    browser.fill("input[name=nameContains]", "ci-").await;
    browser.click_text("button", "Preview").await;
    let preview = browser
        .wait_for_text("#revoke-preview", "2 tokens match")
        .await;
    assert!(
        preview.contains("ci-build") && preview.contains("ci-release"),
        "{preview}"
    );
    assert!(!preview.contains("laptop"), "{preview}");
    browser.screenshot("page-bulk-revoke").await;
    assert!(works(&app, &secrets[0]).await);
    browser
        .click_text("#revoke-preview button", "Revoke 2 tokens")
        .await;
    browser.click_text("dialog button", "Revoke").await;
    browser
        .wait_for_text("main .notice", "Revoked 2 tokens.")
        .await;
    assert!(!works(&app, &secrets[0]).await);
    assert!(!works(&app, &secrets[1]).await);
    assert!(works(&app, &secrets[2]).await);
    browser.close().await;
}
