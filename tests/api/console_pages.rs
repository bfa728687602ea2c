//! The console's other pages in a real browser: every page renders for an
//! admin (screenshots for the README) and fits a 375 px phone; projects,
//! SBOM uploads and invitations work through their forms.

use serde_json::json;

use crate::{
    browser::{self, Browser},
    ci_tokens::CYCLONEDX,
    helpers::{ADMIN_PASSWORD, TestApp, spawn_app},
};

/// Every page by its hash, and the heading it shows.
const PAGES: &[(&str, &str)] = &[
    ("tokens", "Personal tokens"),
    ("service-tokens", "Service tokens"),
    ("members", "Members"),
    ("roles", "Roles"),
    ("projects", "Projects"),
    ("webhooks", "Webhooks"),
    ("audit", "Audit log"),
    ("settings", "Settings"),
    ("me", "Who am I"),
    ("explorer", "API explorer"),
];

/// An organization with something on every page.
async fn seeded_app() -> (TestApp, String) {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    app.add_member(&session, "dana@acme.test", "editor").await;
    let role = app.role_id("viewer").await.to_string();
    app.gql(
        Some(&session),
        "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { code } }",
        json!({"input": {"email": "sam@acme.test", "roleId": role}}),
    )
    .await;
    app.service_token("uploader").await;
    let project = app.create_project("shop-api").await;
    let answer = app
        .upload_sbom(app.admin_token(), &project, CYCLONEDX, "id")
        .await;
    assert!(
        answer.body["data"]["uploadSbom"]["id"].is_string(),
        "{}",
        answer.text
    );
    (app, project)
}

/// Opens `hash` and waits until the page has loaded and shows `heading`.
async fn visit(browser: &Browser, hash: &str, heading: &str) {
    browser.open(&format!("#/{hash}")).await;
    browser.wait_for_text("main h1", heading).await;
    browser.find("main .page:not([aria-busy])").await;
    let errors = browser
        .eval("return [...document.querySelectorAll('main .error')].map(e => e.textContent)")
        .await;
    assert_eq!(errors, json!([]), "#/{hash} shows an error");
    // Every control says what it is: a label, an aria-label or its text.
    let unlabelled = browser
        .eval(
            "return [...document.querySelectorAll('input:not([type=hidden]):not([hidden]), select, textarea, button')]
                .filter(e => !(e.labels?.length || e.getAttribute('aria-label') || (e.tagName === 'BUTTON' && e.textContent.trim())))
                .map(e => e.tagName + ' ' + (e.name || e.id || e.className))",
        )
        .await;
    assert_eq!(unlabelled, json!([]), "#/{hash} has unlabelled controls");
}

#[tokio::test]
async fn every_page_renders_for_an_admin() {
    let (app, project) = seeded_app().await;
    let Some((browser, _turn)) = browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    for (hash, heading) in PAGES {
        visit(&browser, hash, heading).await;
        browser.screenshot(&format!("page-{hash}")).await;
    }
    visit(&browser, &format!("projects/{project}"), "shop-api").await;
    browser.wait_for_text("main table", "api").await;
    browser.screenshot("page-project").await;

    // The explorer sends queries with the session attached.
    browser.open("#/explorer").await;
    browser.find("#explorer-query").await;
    browser.click_text("main button", "Run").await;
    let result = browser
        .wait_for_text("#explorer-result", "admin@acme.test")
        .await;
    assert!(result.contains("\"name\": \"Acme Corp\""), "{result}");
    browser.close().await;
}

#[tokio::test]
async fn every_page_fits_a_phone() {
    let (app, project) = seeded_app().await;
    let Some((browser, _turn)) = browser::start(format!("http://{}/", app.address), 375).await
    else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    assert_eq!(browser.eval("return window.innerWidth").await, json!(375));
    let project_page = format!("projects/{project}");
    let pages = PAGES
        .iter()
        .map(|(hash, heading)| (*hash, *heading))
        .chain([(project_page.as_str(), "shop-api")]);
    for (hash, heading) in pages {
        visit(&browser, hash, heading).await;
        // Wide tables scroll inside their frame; the page itself never does.
        let widths = browser
            .eval("return [document.documentElement.scrollWidth, window.innerWidth]")
            .await;
        assert!(
            widths[0].as_u64() <= widths[1].as_u64(),
            "#/{hash} is wider than the screen: {widths}"
        );
    }
    browser.open("#/tokens").await;
    browser.wait_for_text("main h1", "Personal tokens").await;
    browser.screenshot("phone-personal-tokens").await;
    browser.close().await;
}

#[tokio::test]
async fn projects_sboms_and_invitations_work_through_their_forms() {
    let app = spawn_app().await;
    let Some((browser, _turn)) = browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;

    browser.open("#/projects").await;
    browser
        .fill("#create-project input[name=name]", "payments")
        .await;
    browser
        .click_text("#create-project button", "Create project")
        .await;
    browser.wait_for_text("main table", "payments").await;
    browser.click_text("main table a", "payments").await;
    browser.wait_for_text("main h1", "payments").await;

    let file = tempfile::Builder::new()
        .suffix(".json")
        .tempfile()
        .expect("a file to upload");
    std::fs::write(file.path(), CYCLONEDX).expect("write the SBOM");
    browser
        .find("#upload-sbom input[type=file]")
        .await
        .send_keys(&file.path().display().to_string())
        .await
        .expect("choose the file");
    browser.click_text("#upload-sbom button", "Upload").await;
    browser.wait_for_text("main", "Uploaded api").await;
    browser.wait_for_text("main table", "CycloneDX").await;
    // Uploaded through the console: a signed-in user's provenance.
    browser.wait_for_text("main table", "Signed-in user").await;

    // A file that is no SBOM gets the server's message beside the form.
    std::fs::write(file.path(), r#"{"hello": "world"}"#).expect("write");
    browser
        .find("#upload-sbom input[type=file]")
        .await
        .send_keys(&file.path().display().to_string())
        .await
        .expect("choose the file");
    browser.click_text("#upload-sbom button", "Upload").await;
    browser.wait_for_text("main .error", "SBOM").await;

    browser.open("#/members").await;
    browser
        .fill("#invite-form input[name=email]", "lee@acme.test")
        .await;
    browser
        .find("#invite-form select[name=role]")
        .await
        .select_by_label("uploader")
        .await
        .expect("pick a role");
    browser.click_text("#invite-form button", "Invite").await;
    let link = browser
        .find("#new-secret")
        .await
        .text()
        .await
        .expect("link");
    let prefix = format!("http://{}/#/accept/lynk_invite_", app.address);
    assert!(link.starts_with(&prefix), "{link}");
    let code = link.rsplit('/').next().unwrap();
    let accepted = app
        .gql(
            None,
            "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { user { email } } }",
            json!({"input": {"code": code, "name": "Lee", "password": ADMIN_PASSWORD}}),
        )
        .await;
    assert_eq!(
        accepted.body["data"]["acceptInvitation"]["user"]["email"], "lee@acme.test",
        "{}",
        accepted.text
    );
    browser.open("#/roles").await;
    browser.open("#/members").await;
    browser.wait_for_text("main", "lee@acme.test").await;
    browser.close().await;
}
