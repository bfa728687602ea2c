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
        .wait_for_text(".graphiql-response", "UNAUTHORIZED")
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
