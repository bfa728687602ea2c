//! The token pages' first-day details in a real browser: no role picked for
//! the user, abilities described, the expiry date said, projects
//! restricted and shown, newest first and Active by default, a row menu no
//! table clips, and rows stacked as cards on a phone. Also the lists'
//! `order` argument over HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    browser::{self, Browser},
    helpers::{ADMIN_PASSWORD, TestApp, spawn_app},
};

async fn browser_for(
    app: &TestApp,
    width: u32,
) -> Option<(Browser, tokio::sync::MutexGuard<'static, ()>)> {
    browser::start(format!("http://{}/", app.address), width).await
}

const LIST: &str = "query($order: ListOrder, $after: String) { organization { tokens(first: 2, after: $after, kind: SERVICE, order: $order) { pageInfo { hasNextPage endCursor } nodes { name } } } }";

/// Every service token's name, page by page (2 a page), in `order`.
async fn names_in(app: &TestApp, order: Value) -> Vec<String> {
    let mut names = Vec::new();
    let mut after = Value::Null;
    loop {
        let answer = app
            .gql(
                Some(app.admin_token()),
                LIST,
                json!({"order": order, "after": after}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let connection = &answer.body["data"]["organization"]["tokens"];
        for node in connection["nodes"].as_array().expect("nodes") {
            names.push(node["name"].as_str().unwrap().to_owned());
        }
        if connection["pageInfo"]["hasNextPage"] != true {
            return names;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
}

#[tokio::test]
async fn newest_first_pages_through_every_token_once_in_reverse() {
    let app = spawn_app().await;
    for name in ["one", "two", "three", "four", "five"] {
        let answer = app
            .gql(
                Some(app.admin_token()),
                "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { token { id } } }",
                json!({"input": {"name": name, "roleId": app.role_id("viewer").await.to_string()}}),
            )
            .await;
        assert!(
            answer.body["data"]["createServiceToken"]["token"]["id"].is_string(),
            "{}",
            answer.text
        );
    }
    let oldest = names_in(&app, Value::Null).await;
    assert_eq!(oldest, ["one", "two", "three", "four", "five"]);
    assert_eq!(names_in(&app, json!("OLDEST_FIRST")).await, oldest);
    assert_eq!(
        names_in(&app, json!("NEWEST_FIRST")).await,
        ["five", "four", "three", "two", "one"]
    );
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ viewer { personalTokens(order: SIDEWAYS) { nodes { id } } } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.error_code(),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn the_service_token_dialog_picks_no_role_and_says_what_the_token_gets() {
    let app = spawn_app().await;
    app.create_project("shop-api").await;
    app.create_project("billing").await;
    let Some((browser, _turn)) = browser_for(&app, 1280).await else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    browser.open("#/service-tokens").await;
    browser
        .find("#create-service-token")
        .await
        .click()
        .await
        .expect("open");
    browser.fill("dialog input[name=name]", "shop deploy").await;
    let role = browser
        .eval("const s = document.querySelector('dialog select[name=role]'); return [s.value, s.options[s.selectedIndex].text]")
        .await;
    assert_eq!(
        role,
        json!(["", "Choose a role…"]),
        "no role is preselected"
    );
    // Submitting without a role creates nothing.
    browser
        .find("dialog button[type=submit]")
        .await
        .click()
        .await
        .expect("submit");
    assert_eq!(
        browser
            .eval("return document.querySelector('#new-secret')")
            .await,
        Value::Null
    );

    browser
        .find("dialog select[name=role]")
        .await
        .select_by_label("uploader")
        .await
        .expect("pick uploader");
    let abilities = browser
        .wait_for_text("dialog .role-abilities", "sboms:write")
        .await;
    assert!(
        abilities.contains("projects:read") && abilities.lines().count() >= 3,
        "each ability on its line with its description: {abilities:?}"
    );
    let described = browser
        .eval("return [...document.querySelectorAll('dialog .role-abilities li')].map(li => li.querySelector('.ability-description').textContent.length > 0)")
        .await;
    assert_eq!(described, json!([true, true, true]));

    // The dialog says when the token will expire, and follows the choice.
    browser
        .wait_for_text("dialog .expires-on", "will expire on")
        .await;
    browser
        .find("dialog input[type=radio][value='none']")
        .await
        .click()
        .await
        .expect("no expiry");
    browser
        .wait_for_text("dialog .expires-on", "never expires")
        .await;
    browser
        .find("dialog input[type=radio][value='90']")
        .await
        .click()
        .await
        .expect("90 days");
    let said = browser
        .wait_for_text("dialog .expires-on", "will expire on")
        .await;
    let year_in_90_days = (chrono::Utc::now() + chrono::Duration::days(90))
        .format("%Y")
        .to_string();
    assert!(said.contains(&year_in_90_days), "{said}");

    // Restricted to one project.
    browser
        .click_text(
            "dialog label",
            "Only these projects (the others do not exist for it)",
        )
        .await;
    browser
        .click_text("dialog .project-list label", "shop-api")
        .await;
    browser.screenshot("create-service-token").await;
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
    let answer = app
        .gql(
            Some(&secret),
            "{ viewer { token { projects { name } } } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.body["data"]["viewer"]["token"]["projects"],
        json!([{"name": "shop-api"}]),
        "{}",
        answer.text
    );
    browser.click_text("dialog button", "Done").await;
    let first = browser
        .wait_for_text("main tbody tr:first-child", "shop deploy")
        .await;
    assert!(
        first.contains("shop-api") && !first.contains("billing"),
        "{first}"
    );
    browser.close().await;
}

#[tokio::test]
async fn the_personal_token_dialog_describes_abilities_and_restricts_projects() {
    let app = spawn_app().await;
    app.create_project("shop-api").await;
    let Some((browser, _turn)) = browser_for(&app, 1280).await else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    browser
        .find("#issue-token")
        .await
        .click()
        .await
        .expect("open");
    browser.fill("dialog input[name=name]", "ci laptop").await;
    let described = browser
        .eval("const labels = [...document.querySelectorAll('dialog .groups .check label')]; return [labels.length, labels.every(l => l.querySelector('.ability-description').textContent.length > 5)]")
        .await;
    assert_eq!(described[1], json!(true), "{described}");
    assert!(described[0].as_u64().unwrap() > 10, "{described}");
    browser
        .find("dialog input[type=checkbox][value='sboms:read']")
        .await
        .click()
        .await
        .expect("tick");
    browser
        .wait_for_text("dialog .expires-on", "will expire on")
        .await;
    browser
        .click_text(
            "dialog label",
            "Only these projects (the others do not exist for it)",
        )
        .await;
    // Restricted, but no project ticked: the dialog says what is missing.
    browser
        .find("dialog button[type=submit]")
        .await
        .click()
        .await
        .expect("submit");
    browser
        .wait_for_text("dialog .error", "Pick at least one project")
        .await;
    browser
        .click_text("dialog .project-list label", "shop-api")
        .await;
    browser
        .find("dialog button[type=submit]")
        .await
        .click()
        .await
        .expect("issue");
    browser.find("#new-secret").await;
    browser.click_text("dialog button", "Done").await;
    let first = browser
        .wait_for_text("main tbody tr:first-child", "ci laptop")
        .await;
    assert!(
        first.contains("shop-api"),
        "newest first, with its project: {first}"
    );
    let second = browser
        .wait_for_text("main tbody tr:nth-child(2)", "bootstrap")
        .await;
    assert!(second.contains("All projects"), "{second}");
    browser.close().await;
}

#[tokio::test]
async fn a_one_row_list_shows_its_whole_menu() {
    let app = spawn_app().await;
    let Some((browser, _turn)) = browser_for(&app, 1280).await else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    browser.wait_for_text("main table", "bootstrap").await;
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('main tbody tr').length")
            .await,
        json!(1)
    );
    browser
        .find("button[aria-label='Actions for bootstrap']")
        .await
        .click()
        .await
        .expect("open the menu");
    browser.wait_for_text(".menu:not([hidden])", "Revoke").await;
    // Every item is on screen and is what a click at its centre would hit.
    let hit = browser
        .eval(
            "return [...document.querySelectorAll('.menu:not([hidden]) button')].map(b => {
               const r = b.getBoundingClientRect();
               const inside = r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth;
               return [b.textContent, inside && document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2) === b];
             })",
        )
        .await;
    assert_eq!(hit, json!([["Rotate", true], ["Revoke", true]]));
    browser.screenshot("one-row-menu").await;
    browser.click_text(".menu button", "Revoke").await;
    browser.wait_for_text("dialog", "cannot be undone").await;
    browser.close().await;
}

#[tokio::test]
async fn a_phone_shows_token_rows_as_cards() {
    let app = spawn_app().await;
    app.service_token("uploader").await;
    let Some((browser, _turn)) = browser_for(&app, 375).await else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    for hash in ["#/tokens", "#/service-tokens"] {
        browser.open(hash).await;
        browser.find("main tbody tr").await;
        let shape = browser
            .eval(
                "const wrap = document.querySelector('main .table-wrap');
                 const cell = document.querySelector('main tbody td');
                 return [wrap.scrollWidth <= wrap.clientWidth,
                         getComputedStyle(cell).display,
                         getComputedStyle(cell, '::before').content,
                         document.querySelector('main thead').getBoundingClientRect().height <= 1]",
            )
            .await;
        assert_eq!(shape, json!([true, "grid", "\"Name\"", true]), "{hash}");
        // The menu still opens inside the screen.
        browser
            .find("main .menu-toggle")
            .await
            .click()
            .await
            .expect("open the menu");
        let inside = browser
            .eval("const r = document.querySelector('.menu:not([hidden])').getBoundingClientRect(); return r.left >= 0 && r.right <= innerWidth")
            .await;
        assert_eq!(inside, json!(true), "{hash}");
    }
    browser.screenshot("phone-token-cards").await;
    browser.close().await;
}
