//! A real browser for the console's tests: Debian's Chromium (package
//! `chromium`) driven through its chromedriver (package `chromium-driver`),
//! headless, one fresh profile per test. Nothing is downloaded.
//!
//! Without the two programs a test says it is skipped and passes, unless
//! `LYNK_REQUIRE_BROWSER` is set (`.ci/run` sets it): then it fails, so CI
//! never passes with the browser tests skipped.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a wait sleeps between two looks (300 looks: 30 s).
const POLL: Duration = Duration::from_millis(100);

/// The screenshots the README shows, committed under `docs/screenshots/`.
pub const README_SCREENSHOTS: &[&str] = &[
    "personal-tokens",
    "issue-token",
    "secret-shown-once",
    "page-members",
];

/// One browser session and the chromedriver that runs it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    /// The console's URL (`http://127.0.0.1:<port>/`).
    pub base: String,
}

/// The browser tests run one at a time: each starts a Chromium, and two at
/// once on a 2-core machine only make both slow enough to time out.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Starts a browser for `base`, or `None` (test skipped) when Chromium or
/// chromedriver is missing and `LYNK_REQUIRE_BROWSER` is unset.
pub async fn start(
    base: String,
    width: u32,
) -> Option<(Browser, tokio::sync::MutexGuard<'static, ()>)> {
    let chromium = std::env::var("LYNK_CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    let chromedriver = std::env::var("LYNK_CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
    let missing: Vec<&str> = [&chromium, &chromedriver]
        .into_iter()
        .filter(|path| !std::path::Path::new(path.as_str()).exists())
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        let message = format!(
            "browser test skipped: {} not found (apt-get install chromium chromium-driver)",
            missing.join(" and ")
        );
        assert!(
            std::env::var_os("LYNK_REQUIRE_BROWSER").is_none(),
            "{message}, and LYNK_REQUIRE_BROWSER is set"
        );
        eprintln!("{message}");
        return None;
    }
    let turn = ONE_AT_A_TIME.lock().await;
    let port = free_port();
    let driver = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = tempfile::tempdir().expect("profile directory");
    // Desktop Chromium will not open a window narrower than 500 px; a phone
    // is emulated instead (its viewport, pixel ratio and touch).
    let mobile = (width < 500).then(|| {
        json!({ "deviceMetrics": { "width": width, "height": 812, "pixelRatio": 2, "touch": true } })
    });
    let mut capabilities = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                format!("--window-size={width},900"),
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }
    });
    if let Some(mobile) = mobile {
        capabilities["goog:chromeOptions"]["mobileEmulation"] = mobile;
    }
    let Value::Object(capabilities) = capabilities else {
        unreachable!("a JSON object")
    };
    let webdriver = format!("http://127.0.0.1:{port}");
    let mut last_error = None;
    for _ in 0..100 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&webdriver)
            .await
        {
            Ok(client) => {
                return Some((
                    Browser {
                        client,
                        driver,
                        _profile: profile,
                        base,
                    },
                    turn,
                ));
            }
            Err(error) => {
                last_error = Some(error);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    panic!("chromedriver did not start: {last_error:?}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Opens the console at `hash` (e.g. `#/tokens`).
    pub async fn open(&self, hash: &str) {
        self.client
            .goto(&format!("{}{hash}", self.base))
            .await
            .expect("open the console");
    }

    /// Waits for an element (up to 30 s) and returns it.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Waits until the element's text contains `text`, and returns the text.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> String {
        self.wait_until_text(
            Locator::Css(css),
            &format!("containing {text:?}"),
            |shown| shown.contains(text),
        )
        .await
    }

    /// Waits (up to 30 s) until the text of the element `locator` finds
    /// passes `check`, and returns the text; the element is looked up
    /// afresh each time, as the console redraws. `wanted` says what
    /// `check` waits for, for the failure message.
    pub async fn wait_until_text(
        &self,
        locator: Locator<'_>,
        wanted: &str,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let mut last = String::new();
        for _ in 0..300 {
            if let Ok(element) = self.client.find(locator).await {
                last = element.text().await.unwrap_or_default();
                if check(&last) {
                    return last;
                }
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("{locator:?} never showed a text {wanted}; it showed {last:?}");
    }

    /// Waits (up to 30 s) until `script` returns `expected`.
    pub async fn wait_for_script(&self, script: &str, expected: Value) {
        let mut last = Value::Null;
        for _ in 0..300 {
            last = self.eval(script).await;
            if last == expected {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("`{script}` never returned {expected}; it returned {last}");
    }

    /// Clicks the first element matching `css` whose text is `text`.
    pub async fn click_text(&self, css: &str, text: &str) {
        for _ in 0..300 {
            for element in self
                .client
                .find_all(Locator::Css(css))
                .await
                .unwrap_or_default()
            {
                if element.text().await.unwrap_or_default().trim() == text
                    && element.is_displayed().await.unwrap_or(false)
                {
                    element.click().await.expect("click");
                    return;
                }
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("no {css} with text {text:?}");
    }

    /// Types into the element matching `css`, replacing its value.
    pub async fn fill(&self, css: &str, value: &str) {
        let element = self.find(css).await;
        element.clear().await.expect("clear");
        element.send_keys(value).await.expect("type");
    }

    /// Signs in through the form and waits for the signed-in frame.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.open("").await;
        self.fill("input[name=email]", email).await;
        self.fill("input[name=password]", password).await;
        self.find("form.sign-in button[type=submit]")
            .await
            .click()
            .await
            .expect("submit");
        self.find("#organization-switcher").await;
    }

    /// Runs a script in the page and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .expect("run a script")
    }

    /// Saves a screenshot as `target/console-screenshots/<name>.png`; one
    /// the README shows ([`README_SCREENSHOTS`]) is also written to
    /// `docs/screenshots/` when `LYNK_UPDATE_SCREENSHOTS` is set.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let mut directories = vec![target.join("console-screenshots")];
        if std::env::var_os("LYNK_UPDATE_SCREENSHOTS").is_some()
            && README_SCREENSHOTS.contains(&name)
        {
            directories.push(root.join("docs").join("screenshots"));
        }
        for directory in directories {
            std::fs::create_dir_all(&directory).expect("screenshot directory");
            std::fs::write(directory.join(format!("{name}.png")), &png).expect("save screenshot");
        }
    }

    /// Closes the browser session.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}
