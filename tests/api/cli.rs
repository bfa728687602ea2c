//! The `lynk` binary: `schema`, `bootstrap --json`, `migrate`, and a first
//! `serve` that prints credentials which then verify.

use std::{
    io::{BufRead, BufReader, Write},
    process::Stdio,
    time::Duration,
};

use serde_json::Value;

use crate::helpers::{TestDatabase, lynk_binary};

#[test]
fn schema_graphql_matches_the_running_schema() {
    let output = lynk_binary().arg("schema").output().unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert_eq!(printed, lynk::graphql::sdl());
    assert!(
        printed == committed,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
}

#[tokio::test]
async fn bootstrap_prints_one_json_object_and_migrate_is_idempotent() {
    let database = TestDatabase::new().await;
    for _ in 0..2 {
        let status = lynk_binary()
            .args(["migrate", "--database-url", &database.url])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let mut child = lynk_binary()
        .args([
            "bootstrap",
            "--org",
            "Initech",
            "--email",
            "Bill@Initech.test",
            "--password-stdin",
            "--json",
            "--database-url",
            &database.url,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["organization"]["name"], "Initech");
    assert_eq!(json["user"]["email"], "bill@initech.test");
    // The password came from stdin, so it is not printed.
    assert!(json.get("password").is_none());
    assert!(json["token"].as_str().unwrap().starts_with("lynk_live_"));

    // Without --password-stdin a password is generated and printed once.
    let output = lynk_binary()
        .args([
            "bootstrap",
            "--org",
            "Initrode",
            "--email",
            "peter@initrode.test",
            "--json",
            "--database-url",
            &database.url,
        ])
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["password"].as_str().unwrap().len(), 24);

    // Bad input is a clear error and a failing exit code.
    let output = lynk_binary()
        .args([
            "bootstrap",
            "--org",
            " ",
            "--email",
            "x@y.test",
            "--database-url",
            &database.url,
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("organization name must be between 1 and 100 characters")
    );
}

#[tokio::test]
async fn first_serve_prints_a_token_that_verifies() {
    let database = TestDatabase::new().await;
    let mut child = lynk_binary()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &database.url,
        ])
        .env("LYNK_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let token = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split_whitespace()
                .find(|word| word.starts_with("lynk_live_"))
                .map(str::to_owned)
        })
        .expect("the banner prints a token");
    let address = stderr
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            let json: Value = serde_json::from_str(&line).ok()?;
            json["fields"]["address"].as_str().map(str::to_owned)
        })
        .expect("the log says where it listens");
    let client = reqwest::Client::new();
    let response = client
        .post(format!("http://{address}/lynkapi"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .body(r#"{"query": "query { organization { id name } }"}"#)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["organization"]["name"], "Acme Corp");
    child.kill().ok();
    child.wait().ok();
}

#[tokio::test]
async fn a_lost_admin_password_is_reset_from_the_command_line() {
    let app = crate::helpers::spawn_app().await;
    let session = app.admin_session().await;
    let output = lynk_binary()
        .args([
            "user",
            "reset-password",
            "--email",
            "admin@acme.test",
            "--database-url",
            &app.database.url,
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let password = stdout
        .lines()
        .find_map(|line| line.strip_prefix("New password for admin@acme.test: "))
        .expect("the new password is printed")
        .to_owned();
    assert!(stdout.contains(&format!(
        "export LYNK_EMAIL=admin@acme.test LYNK_PASSWORD={password}"
    )));
    // The old password and the old session are gone; the new one works.
    let old = app
        .gql(
            None,
            "mutation { login(email: \"admin@acme.test\", password: \"correct horse battery staple\") { token } }",
            Value::Null,
        )
        .await;
    assert_eq!(old.status, 401);
    crate::helpers::assert_unauthorized(
        &app.gql(Some(&session), "{ organization { id } }", Value::Null)
            .await,
        true,
    );
    let session = app.login("admin@acme.test", &password).await;
    let answer = app
        .gql(
            Some(&session),
            "{ organization { auditEvents(action: \"user.password_reset\") { edges { node { action targetId actorUser { id } } } } } }",
            Value::Null,
        )
        .await;
    let events = answer.body["data"]["organization"]["auditEvents"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .clone();
    assert_eq!(events.len(), 1, "{}", answer.text);
    assert_eq!(events[0]["node"]["targetId"], app.admin.user.id.to_string());
    // An unknown email says so and changes nothing.
    let output = lynk_binary()
        .args([
            "user",
            "reset-password",
            "--email",
            "nobody@acme.test",
            "--database-url",
            &app.database.url,
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("no user has the email address nobody@acme.test")
    );
}

#[tokio::test]
async fn a_restart_on_postgresql_logs_no_notices_at_the_default_level() {
    let database = TestDatabase::new().await;
    if database.sqlite_path.is_some() {
        eprintln!(
            "PostgreSQL notices: nothing to check on SQLite (run with scripts/with-postgres.sh)"
        );
    }
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let output = lynk_binary()
            .args(["migrate", "--database-url", &database.url])
            .env_remove("RUST_LOG")
            .env("LYNK_LOG_FORMAT", "json")
            .output()
            .unwrap();
        assert!(output.status.success());
        outputs.push(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    for stderr in &outputs {
        assert!(!stderr.contains("already exists, skipping"), "{stderr}");
    }
    // The notice is still there for whoever asks for it.
    if database.sqlite_path.is_none() {
        let output = lynk_binary()
            .args(["migrate", "--database-url", &database.url])
            .env("RUST_LOG", "info,sqlx::postgres::notice=info")
            .env("LYNK_LOG_FORMAT", "json")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("already exists, skipping"), "{stderr}");
    }
}
