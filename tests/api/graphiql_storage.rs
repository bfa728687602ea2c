//! GraphiQL keeps no query text or variables in the browser (docs/DESIGN.md §4.6):
//! what is typed there (a `login(password: …)`) is gone with the tab.

use fantoccini::{Locator, key::Key};
use serde_json::json;

use crate::{browser, helpers::spawn_app};

const SECRET: &str = "typed-in-graphiql-secret";

#[tokio::test]
async fn graphiql_writes_nothing_to_browser_storage() {
    let app = spawn_app().await;
    let Some((browser, _turn)) =
        browser::start(format!("http://{}/lynkapi", app.address), 1280).await
    else {
        return;
    };
    browser.open("").await;
    // Typed as a user would, key by key, into the focused editor, after
    // selecting and deleting what it starts with.
    browser
        .find(".graphiql-query-editor .CodeMirror-lines")
        .await
        .click()
        .await
        .expect("focus the query editor");
    let editor = browser
        .client
        .active_element()
        .await
        .expect("the focused editor");
    editor
        .send_keys(&format!(
            "{}a{}{}",
            char::from(Key::Control),
            char::from(Key::Null),
            char::from(Key::Backspace)
        ))
        .await
        .expect("clear the editor");
    editor
        .send_keys(&format!(
            "mutation {{ login(email: \"admin@acme.test\", password: \"{SECRET}\") {{ token }} }}"
        ))
        .await
        .expect("type a query");
    let typed = browser
        .eval("return document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue()")
        .await;
    assert!(
        typed.as_str().is_some_and(|t| t.contains(SECRET)),
        "{typed}"
    );
    browser
        .client
        .find(Locator::Css(".graphiql-execute-button"))
        .await
        .expect("the run button")
        .click()
        .await
        .expect("run the query");
    browser
        .wait_for_text(".graphiql-response", "NO_TOKEN_IN_HEADERS")
        .await;
    let stored = browser
        .eval("return [localStorage.length, sessionStorage.length, Object.keys(localStorage)]")
        .await;
    assert_eq!(stored, json!([0, 0, []]));
    // A reload shows nothing of it either.
    browser.open("").await;
    browser.find(".graphiql-query-editor .CodeMirror").await;
    let reloaded = browser
        .eval("return document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue()")
        .await;
    assert!(
        reloaded.as_str().is_some_and(|t| !t.contains(SECRET)),
        "{reloaded}"
    );
    browser.close().await;
}

/// Requests the page has sent to `/lynkapi` (the page itself not counted).
async fn requests_sent(browser: &browser::Browser) -> u64 {
    browser
        .eval(
            "return performance.getEntriesByType('resource')\
             .filter(e => new URL(e.name).pathname === '/lynkapi').length",
        )
        .await
        .as_u64()
        .expect("a count")
}

#[tokio::test]
async fn graphiql_sends_nothing_until_a_token_is_there() {
    let app = spawn_app().await;
    let Some((browser, _turn)) =
        browser::start(format!("http://{}/lynkapi", app.address), 1280).await
    else {
        return;
    };
    browser.open("").await;
    browser.find(".graphiql-query-editor .CodeMirror").await;
    // Loaded, and its schema asked for: nothing went out.
    browser
        .client
        .find(Locator::Css(".graphiql-execute-button"))
        .await
        .expect("the run button")
        .click()
        .await
        .expect("run the query");
    let said = browser
        .wait_for_text(".graphiql-response", "Nothing was sent")
        .await;
    assert!(said.contains("Authorization"), "{said}");
    assert_eq!(requests_sent(&browser).await, 0);
    // "Bearer" and nothing else is no token either.
    browser
        .eval(
            "[...document.querySelectorAll('.CodeMirror')].find(c => c.CodeMirror.getValue().includes('Authorization'))\
             .CodeMirror.setValue('{\"Authorization\": \"Bearer \"}')",
        )
        .await;
    browser
        .client
        .find(Locator::Css(".graphiql-execute-button"))
        .await
        .expect("the run button")
        .click()
        .await
        .expect("run the query");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(requests_sent(&browser).await, 0);

    // With a token, the query runs.
    let token = app.admin_token().to_owned();
    browser
        .eval(&format!(
            "[...document.querySelectorAll('.CodeMirror')].find(c => c.CodeMirror.getValue().includes('Authorization'))\
             .CodeMirror.setValue('{{\"Authorization\": \"Bearer {token}\"}}');\
             document.querySelector('.graphiql-query-editor .CodeMirror')\
             .CodeMirror.setValue('{{ organization {{ name }} }}')"
        ))
        .await;
    browser
        .client
        .find(Locator::Css(".graphiql-execute-button"))
        .await
        .expect("the run button")
        .click()
        .await
        .expect("run the query");
    browser
        .wait_for_text(".graphiql-response", "Acme Corp")
        .await;
    assert!(requests_sent(&browser).await >= 1);
    browser.close().await;
}
