//! The web console (`GET /`): its headers over plain HTTP, and its flows in
//! a real browser (see `browser.rs`). Each browser test saves screenshots
//! under `target/console-screenshots/`.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    browser::{self, Browser},
    helpers::{ADMIN_PASSWORD, TestApp, assert_unauthorized, days_from_now, spawn_app},
};

const VERIFY: &str = "query { organization { id name } viewer { kind role { name } permissions } }";

/// A browser on `app`'s console, or `None` when the test is skipped.
async fn browser_for(
    app: &TestApp,
    width: u32,
) -> Option<(Browser, tokio::sync::MutexGuard<'static, ()>)> {
    browser::start(format!("http://{}/", app.address), width).await
}

#[tokio::test]
async fn the_console_is_served_with_strict_headers() {
    let app = spawn_app().await;
    let page = app
        .send(app.client.get(format!("http://{}/", app.address)))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let header = |name: &str| page.headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        header("content-security-policy"),
        Some(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        )
    );
    assert_eq!(header("x-content-type-options"), Some("nosniff"));
    assert_eq!(header("referrer-policy"), Some("no-referrer"));
    assert_eq!(header("x-frame-options"), Some("DENY"));
    assert!(
        page.text
            .contains(r#"<script type="module" src="/console/app.js"></script>"#)
    );
    // No inline script: every <script> has a src.
    assert_eq!(
        page.text.matches("<script").count(),
        page.text.matches("<script type=\"module\" src=").count()
    );
    assert!(!page.text.contains("style="));

    let script = app
        .send(
            app.client
                .get(format!("http://{}/console/app.js", app.address)),
        )
        .await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(
        script.headers["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(script.headers["x-content-type-options"], "nosniff");
    for missing in [
        "/console/nope.js",
        "/console/%2e%2e%2fCargo.toml",
        "/console/",
    ] {
        let answer = app
            .send(app.client.get(format!("http://{}{missing}", app.address)))
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{missing}");
    }
}

/// The row of the token list that names `name`.
fn row_with(name: &str) -> String {
    format!(
        "//tr[td//span[@class='token-name' and text()={}]]",
        xpath_literal(name)
    )
}

fn xpath_literal(text: &str) -> String {
    if text.contains('\'') {
        format!("\"{text}\"")
    } else {
        format!("'{text}'")
    }
}

/// The text of the list's row for `name`, once it contains `expected`
/// (the list redraws after each change, so a row may go stale under us).
async fn row_showing(browser: &Browser, name: &str, expected: &[&str]) -> String {
    browser
        .wait_until_text(
            fantoccini::Locator::XPath(&row_with(name)),
            &format!("containing each of {expected:?}"),
            |row| expected.iter().all(|text| row.contains(text)),
        )
        .await
}

#[tokio::test]
async fn a_personal_token_is_issued_copied_verified_and_revoked() {
    let app = spawn_app().await;
    let Some((browser, _turn)) = browser_for(&app, 1280).await else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    browser.wait_for_text("main h1", "Personal tokens").await;
    browser
        .find("#issue-token")
        .await
        .click()
        .await
        .expect("open the form");
    browser
        .fill("dialog input[name=name]", "release laptop")
        .await;
    for ability in ["projects:read", "sboms:write"] {
        browser
            .find(&format!("dialog input[type=checkbox][value='{ability}']"))
            .await
            .click()
            .await
            .expect("tick an ability");
    }
    browser
        .find("dialog input[type=radio][value='30']")
        .await
        .click()
        .await
        .expect("pick 30 days");
    browser.screenshot("issue-token").await;
    browser
        .find("dialog button[type=submit]")
        .await
        .click()
        .await
        .expect("issue");

    let secret = browser
        .find("#new-secret")
        .await
        .text()
        .await
        .expect("secret");
    assert!(secret.starts_with("lynk_live_"), "{secret}");
    browser
        .wait_for_text("dialog .warning", "will not be shown again")
        .await;
    browser
        .click_text("dialog .secret-row button", "Copy")
        .await;
    browser.wait_for_text("dialog .copy-status", "Copied").await;
    let copied = browser
        .eval("return navigator.clipboard.readText().catch(() => null)")
        .await;
    if let Value::String(copied) = copied {
        assert_eq!(copied, secret);
    }
    browser.screenshot("secret-shown-once").await;

    // The secret works, with exactly the two abilities.
    let answer = app.gql(Some(&secret), VERIFY, json!({})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["data"]["viewer"]["kind"], "PERSONAL_TOKEN");
    assert_eq!(
        answer.body["data"]["viewer"]["permissions"],
        json!(["projects:read", "sboms:write"])
    );
    let listed = app
        .gql(
            Some(app.admin_token()),
            "query { viewer { personalTokens(nameContains: \"release\") { nodes { expiresAt } } } }",
            json!({}),
        )
        .await;
    let expires: DateTime<Utc> =
        listed.body["data"]["viewer"]["personalTokens"]["nodes"][0]["expiresAt"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("{}", listed.text));
    assert!(
        (expires - days_from_now(30)).num_minutes().abs() < 10,
        "{expires}"
    );

    browser.click_text("dialog button", "Done").await;
    row_showing(
        &browser,
        "release laptop",
        &["Active", "projects:read", "sboms:write"],
    )
    .await;
    browser.screenshot("personal-tokens").await;

    browser
        .find("button[aria-label='Actions for release laptop']")
        .await
        .click()
        .await
        .expect("open the row menu");
    browser.click_text(".menu button", "Revoke").await;
    browser.wait_for_text("dialog", "cannot be undone").await;
    browser.click_text("dialog button", "Revoke token").await;
    // The list shows active tokens unless asked for the others.
    for _ in 0..300 {
        let shown = browser
            .eval("return document.querySelector('main .list').textContent")
            .await;
        if !shown
            .as_str()
            .unwrap_or("release laptop")
            .contains("release laptop")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let shown = browser
        .eval("return document.querySelector('main .list').textContent")
        .await;
    assert!(
        !shown.as_str().unwrap().contains("release laptop"),
        "a revoked token is left out of the Active list: {shown}"
    );
    browser
        .find("main select[name=status]")
        .await
        .select_by_value("")
        .await
        .expect("any status");
    row_showing(&browser, "release laptop", &["Revoked"]).await;
    let answer = app.gql(Some(&secret), VERIFY, json!({})).await;
    assert_unauthorized(&answer, true);
    browser.close().await;
}

#[tokio::test]
async fn an_admin_creates_an_uploader_service_token() {
    let app = spawn_app().await;
    let Some((browser, _turn)) = browser_for(&app, 1280).await else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    browser.open("#/service-tokens").await;
    browser.wait_for_text("main h1", "Service tokens").await;
    browser
        .find("#create-service-token")
        .await
        .click()
        .await
        .expect("open the form");
    browser
        .fill("dialog input[name=name]", "sbom pipeline")
        .await;
    browser
        .find("dialog select[name=role]")
        .await
        .select_by_label("uploader")
        .await
        .expect("pick the uploader role");
    browser
        .find("dialog button[type=submit]")
        .await
        .click()
        .await
        .expect("create");
    let secret = browser
        .find("#new-secret")
        .await
        .text()
        .await
        .expect("secret");
    assert!(secret.starts_with("lynk_service_live_"), "{secret}");
    let answer = app.gql(Some(&secret), VERIFY, json!({})).await;
    assert_eq!(answer.body["data"]["viewer"]["kind"], "SERVICE_TOKEN");
    assert_eq!(answer.body["data"]["viewer"]["role"]["name"], "uploader");
    browser.click_text("dialog button", "Done").await;
    row_showing(
        &browser,
        "sbom pipeline",
        &["uploader", "admin@acme.test", "Active"],
    )
    .await;
    browser.screenshot("service-tokens").await;

    // Rotate from the row menu, with an hour of grace for the old secret.
    browser
        .find("button[aria-label='Actions for sbom pipeline']")
        .await
        .click()
        .await
        .expect("open the row menu");
    browser.click_text(".menu button", "Rotate").await;
    browser
        .find("dialog select[name=grace]")
        .await
        .select_by_value("3600")
        .await
        .expect("pick a grace period");
    browser.click_text("dialog button", "Rotate").await;
    browser
        .wait_for_text("dialog .warning", "will not be shown again")
        .await;
    let successor = browser
        .find("#new-secret")
        .await
        .text()
        .await
        .expect("secret");
    assert!(successor.starts_with("lynk_service_live_") && successor != secret);
    for working in [&secret, &successor] {
        let answer = app.gql(Some(working), VERIFY, json!({})).await;
        assert_eq!(
            answer.body["data"]["viewer"]["role"]["name"], "uploader",
            "{}",
            answer.text
        );
    }
    browser.click_text("dialog button", "Done").await;
    // The list redraws after Done: wait for the successor's row.
    browser
        .wait_until_text(
            fantoccini::Locator::Css("main table"),
            "with two rows \"sbom pipeline\"",
            |rows| rows.matches("sbom pipeline").count() == 2,
        )
        .await;
    // Newest first: the successor on top, its predecessor below it,
    // replaced and working until the grace ends.
    let rows = browser
        .eval("return [...document.querySelectorAll('main tbody tr')].map(r => r.innerText)")
        .await;
    let rows: Vec<String> = serde_json::from_value(rows).unwrap();
    assert!(!rows[0].contains("Replaced"), "{rows:?}");
    assert!(rows[1].contains("Replaced — works until"), "{rows:?}");
    browser.close().await;
}

#[tokio::test]
async fn a_viewer_sees_no_service_token_actions() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    app.service_token("uploader").await;
    app.add_member(&session, "viewer@acme.test", "viewer").await;
    let Some((browser, _turn)) = browser_for(&app, 1280).await else {
        return;
    };
    browser.sign_in("viewer@acme.test", ADMIN_PASSWORD).await;
    browser.open("#/service-tokens").await;
    let notice = browser
        .wait_for_text("main .forbidden", "tokens:read")
        .await;
    assert_eq!(
        notice,
        "You need tokens:read to see the organization’s service tokens."
    );
    let offered = browser
        .eval("return [document.querySelectorAll('#create-service-token, .menu-toggle, tbody tr').length, document.querySelector('main').textContent.includes('uploader pipeline')]")
        .await;
    assert_eq!(offered, json!([0, false]));
    browser.screenshot("service-tokens-as-viewer").await;

    // Their own tokens they may issue, with only the abilities they hold.
    browser.open("#/tokens").await;
    browser
        .find("#issue-token")
        .await
        .click()
        .await
        .expect("open the form");
    browser.find("dialog input[type=checkbox]").await;
    let offered = browser
        .eval("return [...document.querySelectorAll('dialog input[type=checkbox]')].map(b => b.value)")
        .await;
    assert_eq!(
        offered,
        json!(["members:read", "roles:read", "projects:read", "sboms:read"])
    );
    browser.close().await;
}

#[tokio::test]
async fn switching_organization_changes_the_lists() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let created = app
        .gql(
            Some(&session),
            "mutation { createOrganization(name: \"Beta Labs\") { id } }",
            json!({}),
        )
        .await;
    let beta: uuid::Uuid = created.body["data"]["createOrganization"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("{}", created.text));
    let issue = "mutation($input: CreatePersonalTokenInput!) { createPersonalToken(input: $input) { secret } }";
    let input =
        |name: &str| json!({"input": {"name": name, "expiresAt": days_from_now(7).to_rfc3339()}});
    app.gql(Some(&session), issue, input("acme deploy")).await;
    let answer = app
        .gql_in(&session, beta, issue, input("beta deploy"))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    let Some((browser, _turn)) = browser_for(&app, 1280).await else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    let table = browser.wait_for_text("main table", "acme deploy").await;
    assert!(!table.contains("beta deploy"), "{table}");
    browser
        .find("#organization-switcher")
        .await
        .select_by_label("Beta Labs")
        .await
        .expect("switch");
    let table = browser.wait_for_text("main table", "beta deploy").await;
    assert!(!table.contains("acme deploy"), "{table}");
    let stored = browser
        .eval("return [localStorage.length, JSON.parse(sessionStorage.getItem('lynk.session')).organizationId]")
        .await;
    assert_eq!(stored, json!([0, beta.to_string()]));
    browser.close().await;
}

#[tokio::test]
async fn names_render_as_text_never_as_markup() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let hostile = r#"<script>window.__owned=1</script><img src=x onerror="window.__owned=2">"#;
    let answer = app
        .gql(
            Some(&session),
            "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { secret } }",
            json!({"input": {"name": hostile, "roleId": app.role_id("viewer").await.to_string()}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let Some((browser, _turn)) = browser_for(&app, 1280).await else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    browser.open("#/service-tokens").await;
    let shown = browser.wait_for_text("main table", "<script>").await;
    assert!(shown.contains(hostile), "{shown}");
    let effects = browser
        .eval("return [window.__owned ?? null, document.querySelectorAll('main script, main img').length]")
        .await;
    assert_eq!(effects, json!([null, 0]));
    browser.close().await;
}

#[tokio::test]
async fn an_ended_session_returns_to_sign_in() {
    let app = spawn_app().await;
    let Some((browser, _turn)) = browser_for(&app, 1280).await else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    let session = browser
        .eval("return JSON.parse(sessionStorage.getItem('lynk.session')).token")
        .await;
    let session = session.as_str().expect("a session in sessionStorage");
    assert!(session.starts_with("lynk_session_"));
    let answer = app
        .gql(Some(session), "mutation { logout }", json!({}))
        .await;
    assert_eq!(answer.body["data"]["logout"], true);
    // The next request answers 401, and the console returns to sign-in.
    browser.click_text("nav a", "Members").await;
    browser
        .wait_for_text("main", "Your session has ended. Sign in again.")
        .await;
    browser.find("form.sign-in input[name=email]").await;
    let stored = browser
        .eval("return sessionStorage.getItem('lynk.session')")
        .await;
    assert_eq!(stored, Value::Null);
    browser.close().await;
}

#[tokio::test]
async fn the_console_works_from_the_keyboard() {
    // WebDriver's key codes: Enter, Tab, Escape.
    const ENTER: &str = "\u{E007}";
    const TAB: &str = "\u{E004}";
    const ESCAPE: &str = "\u{E00C}";
    let app = spawn_app().await;
    let Some((browser, _turn)) = browser_for(&app, 1280).await else {
        return;
    };
    browser.open("").await;
    // The email field has focus; Tab reaches the password, Enter submits.
    let email = browser.find("input[name=email]").await;
    email
        .send_keys(&format!("admin@acme.test{TAB}{ADMIN_PASSWORD}{ENTER}"))
        .await
        .expect("type");
    browser.wait_for_text("main h1", "Personal tokens").await;

    let issue = browser.find("#issue-token").await;
    issue.send_keys(ENTER).await.expect("press Enter");
    browser.find("dialog[open] input[name=name]").await;
    let focused = browser
        .eval("return document.activeElement.closest('dialog') !== null")
        .await;
    assert_eq!(focused, json!(true), "focus moves into the dialog");
    browser
        .find("dialog[open] input[name=name]")
        .await
        .send_keys(ESCAPE)
        .await
        .expect("press Escape");
    // Escape closes the dialog.
    browser
        .wait_for_script("return document.querySelector('dialog')", Value::Null)
        .await;

    // The row menu opens from the keyboard and Escape closes it again.
    let toggle = browser
        .find("button[aria-label='Actions for bootstrap']")
        .await;
    toggle.send_keys(ENTER).await.expect("open the menu");
    browser.wait_for_text(".menu:not([hidden])", "Revoke").await;
    assert_eq!(
        browser
            .eval("return document.activeElement.textContent")
            .await,
        json!("Rotate"),
        "the first item has focus"
    );
    browser
        .find(".menu:not([hidden]) button")
        .await
        .send_keys(ESCAPE)
        .await
        .expect("press Escape");
    assert_eq!(
        browser
            .eval("return [document.querySelector('.menu').hidden, document.activeElement.getAttribute('aria-label')]")
            .await,
        json!([true, "Actions for bootstrap"])
    );
    browser.close().await;
}
