//! Running lynk in production: Prometheus metrics, the request id in every
//! log line, and a graceful shutdown that lets requests in flight finish.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::mpsc::{UnboundedReceiver, unbounded_channel},
};
use uuid::Uuid;

use crate::helpers::{
    ADMIN_PASSWORD, TestDatabase, assert_unauthorized, captured_logs, lynk_binary, spawn_app,
};

/// The value of the sample `name{labels}` in a Prometheus text body, the
/// labels in any order.
fn sample(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    body.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, label_text) = match series.split_once('{') {
            Some((series_name, rest)) => (series_name, rest.strip_suffix('}')?),
            None => (series, ""),
        };
        if series_name != name {
            return None;
        }
        let mut found: Vec<&str> = label_text.split(',').filter(|l| !l.is_empty()).collect();
        let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        found.sort_unstable();
        wanted.sort_unstable();
        (found == wanted).then(|| value.parse().ok()).flatten()
    })
}

#[tokio::test]
async fn metrics_are_served_without_a_credential() {
    let app = spawn_app().await;
    let answer = app
        .gql(
            Some("not-a-token"),
            "{ organization { name } }",
            Value::Null,
        )
        .await;
    assert_unauthorized(&answer, true);
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { name } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["data"]["organization"]["name"], "Acme Corp");
    app.login("admin@acme.test", ADMIN_PASSWORD).await;

    let metrics_url = format!("http://{}/metrics", app.address);
    let response = app.client.get(&metrics_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = response.text().await.unwrap();
    // The recorder is per process and the other tests run beside this one,
    // so counts are at least what this test caused.
    let at_least = |name: &str, labels: &[(&str, &str)], min: f64| {
        let value =
            sample(&body, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?} in\n{body}"));
        assert!(
            value >= min,
            "{name}{labels:?} = {value}, expected >= {min}"
        );
    };
    let lynkapi = [("method", "POST"), ("route", "/lynkapi")];
    at_least(
        "lynk_http_requests_total",
        &[lynkapi[0], lynkapi[1], ("status", "401")],
        1.0,
    );
    at_least(
        "lynk_http_requests_total",
        &[lynkapi[0], lynkapi[1], ("status", "200")],
        2.0,
    );
    at_least(
        "lynk_graphql_operations_total",
        &[("operation_type", "query")],
        2.0,
    );
    at_least(
        "lynk_graphql_operations_total",
        &[("operation_type", "mutation")],
        1.0,
    );
    at_least(
        "lynk_auth_total",
        &[("outcome", "unauthorized"), ("reason", "malformed")],
        1.0,
    );
    at_least(
        "lynk_auth_total",
        &[("outcome", "ok"), ("reason", "personal_token")],
        1.0,
    );
    at_least(
        "lynk_auth_total",
        &[("outcome", "anonymous"), ("reason", "missing")],
        1.0,
    );
    at_least(
        "lynk_http_request_duration_seconds_bucket",
        &[lynkapi[0], lynkapi[1], ("le", "+Inf")],
        3.0,
    );
    at_least("lynk_http_request_duration_seconds_count", &lynkapi, 3.0);
    at_least("lynk_db_pool_connections", &[], 1.0);
    at_least("lynk_db_pool_max_connections", &[], 1.0);
    assert!(body.contains("# TYPE lynk_http_request_duration_seconds histogram"));
    assert!(body.contains("# HELP lynk_auth_total "));
    // Counted from the start, so that a rate of drops needs no first one.
    assert!(body.contains("# TYPE lynk_last_used_dropped_total counter"));
    assert!(sample(&body, "lynk_last_used_dropped_total", &[]).is_some());
    assert!(!body.contains(app.admin_token()));

    // The scrape itself is counted, under its own route.
    let body = app
        .client
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scrapes = sample(
        &body,
        "lynk_http_requests_total",
        &[("method", "GET"), ("route", "/metrics"), ("status", "200")],
    );
    assert!(scrapes.is_some_and(|n| n >= 1.0), "{body}");
    // Paths lynk does not serve share one label.
    let response = app
        .client
        .get(format!("http://{}/wp-login.php", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body = app
        .client
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!body.contains("wp-login"));
    let others = sample(
        &body,
        "lynk_http_requests_total",
        &[("method", "GET"), ("route", "other"), ("status", "404")],
    );
    assert!(others.is_some_and(|n| n >= 1.0), "{body}");
}

#[tokio::test]
async fn every_log_line_of_a_request_carries_its_request_id() {
    let app = spawn_app().await;
    let request_id = format!("req-{}", Uuid::new_v4().simple());
    // A real token with its last character changed (so it fails its
    // checksum): the handler logs why it refused.
    let (_, token) = app.service_token("uploader").await;
    let other = if token.ends_with('x') { 'y' } else { 'x' };
    let unknown = format!("{}{other}", &token[..token.len() - 1]);
    let answer = app
        .send(
            app.client
                .post(app.url())
                .bearer_auth(&unknown)
                .header("x-request-id", &request_id)
                .json(&json!({ "query": "{ organization { name } }" })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.headers["x-request-id"], request_id.as_str());

    // Without one, lynk makes one up and returns it.
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { name } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let generated = answer.headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(Uuid::parse_str(&generated).is_ok(), "{generated}");

    let logs = captured_logs();
    let tagged = |id: &str, message: &str| {
        logs.lines()
            .any(|line| line.contains(&format!("request_id={id}")) && line.contains(message))
    };
    assert!(tagged(&request_id, "authentication failed"), "{logs}");
    assert!(tagged(&generated, "authenticated"), "{logs}");
    assert!(!logs.contains(&unknown[unknown.len() - 36..]));
}

/// Kills the server if the test fails before it exits on its own.
struct Server(Option<Child>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// Reads JSON log lines until one matches; panics, showing what was seen,
/// if the process closes standard error first.
async fn wait_for_log(
    lines: &mut UnboundedReceiver<String>,
    seen: &mut Vec<String>,
    matches: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        let Some(line) = lines.recv().await else {
            panic!("lynk stopped logging; it logged:\n{}", seen.join("\n"));
        };
        seen.push(line.clone());
        if let Ok(json) = serde_json::from_str::<Value>(&line)
            && matches(&json)
        {
            return json;
        }
    }
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_and_exits_zero() {
    let database = TestDatabase::new().await;
    let child = lynk_binary()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &database.url,
        ])
        .env("LYNK_LOG_FORMAT", "json")
        .env("LYNK_BOOTSTRAP_EMAIL", "admin@acme.test")
        .env("LYNK_BOOTSTRAP_PASSWORD", ADMIN_PASSWORD)
        // tower_http logs when a request starts; axum::serve when a
        // connection is told to shut down.
        .env("RUST_LOG", "info,tower_http=debug,axum::serve=trace")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut server = Server(Some(child));
    let stderr = server.0.as_mut().and_then(|c| c.stderr.take()).unwrap();
    let (sender, mut lines) = unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let listening = wait_for_log(&mut lines, &mut seen, |json| {
        json["fields"]["address"].is_string()
    })
    .await;
    let address = listening["fields"]["address"].as_str().unwrap().to_owned();

    let login = json!({
        "query": "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { token } }",
        "variables": { "email": "admin@acme.test", "password": ADMIN_PASSWORD },
    });
    // A verified request first: its use of the session is written behind
    // it, at the latest on the way out, before the pool closes.
    {
        let client = reqwest::Client::new();
        let url = format!("http://{address}/lynkapi");
        let answer = client.post(&url).json(&login).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let answer: Value = answer.json().await.unwrap();
        let session = answer["data"]["login"]["token"].as_str().unwrap();
        let answer = client
            .post(&url)
            .bearer_auth(session)
            .json(&json!({ "query": "{ organization { name } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let answer: Value = answer.json().await.unwrap();
        assert_eq!(answer["data"]["organization"]["name"], "Acme Corp");
    }

    // A login whose body arrives in two halves: between them the request is
    // in flight (the handler waits for the rest of the body).
    let request_id = format!("shutdown-{}", Uuid::new_v4().simple());
    let body = login.to_string();
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /lynkapi HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nx-request-id: {request_id}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first_half.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    wait_for_log(&mut lines, &mut seen, |json| {
        json["fields"]["message"] == "started processing request"
            && json["span"]["request_id"] == request_id.as_str()
    })
    .await;

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
    // Our connection is told to finish what it is doing, then close.
    wait_for_log(&mut lines, &mut seen, |json| {
        json["fields"]["message"] == "signal received in task, starting graceful shutdown"
    })
    .await;

    stream.write_all(second_half.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("x-request-id: {request_id}")),
        "{response}"
    );
    let body: Value = serde_json::from_str(body).unwrap();
    let session = body["data"]["login"]["token"].as_str().unwrap();
    assert!(session.starts_with("lynk_session_"), "{body}");

    // The process closes the pool and exits 0. The bound only keeps a
    // broken shutdown from hanging the suite: past it the process is
    // killed (the blocked wait would otherwise keep the test running).
    let mut child = server.0.take().unwrap();
    let waited = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await;
    let Ok(exit) = waited else {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
        panic!("lynk did not exit within 120 s of SIGTERM");
    };
    let exit = exit.unwrap().unwrap();
    assert_eq!(exit.code(), Some(0));
    while let Some(line) = lines.recv().await {
        seen.push(line);
    }
    let logged: Vec<Value> = seen
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert!(
        logged
            .iter()
            .any(|json| json["fields"]["message"] == "stopped"),
        "{}",
        seen.join("\n")
    );
    // Every line logged inside the request carries its id, the response
    // line included; no line holds the password or the new session.
    let finished = logged
        .iter()
        .find(|json| {
            json["span"]["request_id"] == request_id.as_str()
                && json["fields"]["message"] == "finished processing request"
        })
        .unwrap_or_else(|| panic!("{}", seen.join("\n")));
    assert_eq!(finished["fields"]["status"], 200);
    let all = seen.join("\n");
    assert!(!all.contains(ADMIN_PASSWORD));
    assert!(!all.contains(session));
}
