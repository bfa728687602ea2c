//! The console's trusted publishers in a real browser: add one with a
//! claim condition and a lifetime, see its pins and last exchange, edit
//! it (a new subject clears the pins), delete it; a viewer gets no action.

use serde_json::{Value, json};

use crate::{
    browser,
    helpers::ADMIN_PASSWORD,
    trusted_publishing::{SUBJECT, SigningKey, TestIssuer, exchange_ok, spawn_lynk, with},
};

#[tokio::test]
async fn an_admin_adds_edits_and_deletes_a_publisher_with_conditions() {
    let key = SigningKey::rsa();
    let issuer = TestIssuer::start(&[key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    let session = app.admin_session().await;
    app.add_member(&session, "viewer@acme.test", "viewer").await;
    let Some((browser, turn)) = browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    browser.open(&format!("#/projects/{project}")).await;
    browser
        .wait_for_text("#publishers-heading", "Trusted publishers")
        .await;
    browser
        .find("#new-publisher")
        .await
        .click()
        .await
        .expect("open the form");
    browser
        .fill("dialog input[name=issuer]", issuer.url())
        .await;
    browser.fill("dialog input[name=subject]", "repo:*").await;
    browser
        .find("#add-condition")
        .await
        .click()
        .await
        .expect("add a condition");
    browser
        .fill("dialog input[name=condition-claim]", "job_workflow_ref")
        .await;
    browser
        .eval("const s = document.querySelector('dialog select[name=condition-kind]'); s.value = 'prefix'; return s.value")
        .await;
    browser
        .fill("dialog input[name=condition-value]", "acme/workflows/")
        .await;
    browser.fill("dialog input[name=lifetime]", "120").await;
    // A subject the server refuses shows its message in the form.
    browser.click_text("dialog button", "Add publisher").await;
    browser
        .wait_for_text("dialog .error", "subject `repo:*` is refused")
        .await;
    browser.fill("dialog input[name=subject]", SUBJECT).await;
    browser.click_text("dialog button", "Add publisher").await;
    let row = browser
        .wait_for_text("main table", "job_workflow_ref starts with acme/workflows/")
        .await;
    assert!(row.contains("2 min"), "{row}");
    assert!(row.contains("uploader"), "{row}");
    assert!(row.contains("Not yet (first exchange pins)"), "{row}");
    assert!(row.contains("Never"), "{row}");

    // A job of the reusable workflow exchanges: the pins and the last
    // exchange show.
    let claims = with(
        issuer.claims(),
        json!({
            "job_workflow_ref": "acme/workflows/.github/workflows/sbom.yml@refs/tags/v1",
            "repository_id": "1001",
            "repository_owner_id": "501",
        }),
    );
    exchange_ok(&app, &project, &key.sign(&claims)).await;
    browser.open("#/projects").await;
    browser.open(&format!("#/projects/{project}")).await;
    let row = browser
        .wait_for_text("main table", "repository_id 1001")
        .await;
    assert!(row.contains("repository_owner_id 501"), "{row}");
    assert!(!row.contains("Never"), "{row}");
    browser
        .eval("document.getElementById('publishers-heading').scrollIntoView(); return null")
        .await;
    browser.screenshot("page-trusted-publishers").await;

    // Editing the subject clears the pins; the condition stays.
    browser
        .find(&format!("main [aria-label=\"Actions for {SUBJECT}\"]"))
        .await
        .click()
        .await
        .expect("open the menu");
    browser.click_text("main .menu button", "Edit").await;
    browser.find("dialog select[name=condition-kind]").await;
    let kind = browser
        .eval("return document.querySelector('dialog select[name=condition-kind]').value")
        .await;
    assert_eq!(kind, json!("prefix"));
    browser
        .fill("dialog input[name=subject]", "repo:acme/shop-api:*")
        .await;
    browser.click_text("dialog button", "Save publisher").await;
    let row = browser
        .wait_for_text("main table", "repo:acme/shop-api:*")
        .await;
    assert!(row.contains("Not yet (first exchange pins)"), "{row}");
    assert!(
        row.contains("job_workflow_ref starts with acme/workflows/"),
        "{row}"
    );
    let answer = app
        .gql(
            Some(&session),
            "query($id: ID!) { project(id: $id) { trustedPublishers { subject pinnedClaims { claim } tokenLifetimeSeconds } } }",
            json!({ "id": project }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["project"]["trustedPublishers"],
        json!([{ "subject": "repo:acme/shop-api:*", "pinnedClaims": [], "tokenLifetimeSeconds": 120 }]),
        "{}",
        answer.text
    );

    // Deleting asks first.
    browser
        .find("main [aria-label=\"Actions for repo:acme/shop-api:*\"]")
        .await
        .click()
        .await
        .expect("open the menu");
    browser.click_text("main .menu button", "Delete").await;
    browser
        .click_text("dialog button", "Delete publisher")
        .await;
    browser.wait_for_text("main", "No trusted publishers").await;
    browser.close().await;
    drop(turn);

    // A viewer sees no action (and, without tokens:read, is told why).
    let Some((browser, _turn)) = browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    browser.sign_in("viewer@acme.test", ADMIN_PASSWORD).await;
    browser.open(&format!("#/projects/{project}")).await;
    browser
        .wait_for_text("#publishers-heading", "Trusted publishers")
        .await;
    let counts: Value = browser
        .eval(
            "return document.querySelectorAll('#new-publisher, main section .menu-toggle').length",
        )
        .await;
    assert_eq!(counts, json!(0));
    browser.close().await;
}
