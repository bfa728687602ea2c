//! No data lost on `kill -9`: the real binary is killed (SIGKILL) while
//! clients are creating tokens, and after a restart on the same database
//! every token whose creation was acknowledged exists and verifies. That
//! holds because each mutation commits before it answers (SQLite runs in
//! WAL with `synchronous=FULL`).

use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Stdio},
    sync::{Arc, Mutex, mpsc},
    thread::JoinHandle,
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::helpers::{TestDatabase, lynk_binary};

/// Clients creating tokens at once.
const CLIENTS: usize = 16;
/// Creations acknowledged before the kill; the other clients' requests are
/// then in flight.
const ACKNOWLEDGED_BEFORE_KILL: usize = 40;
/// Each client's loop is bounded, so the test ends even if the kill never comes.
const MAX_REQUESTS_PER_CLIENT: usize = 500;
/// Upper bound on any wait (server start, next answer): a guard against a
/// hang, not a claim about speed.
const WAIT_BOUND: Duration = Duration::from_secs(120);

const CREATE_SERVICE_TOKEN: &str = "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { token { id } secret } }";

/// A `lynk serve` child process on port 0, its output drained by threads
/// (a full pipe would otherwise stall it).
struct Server {
    child: Child,
    address: String,
    /// The bootstrap token, when this start bootstrapped the database.
    banner_token: mpsc::Receiver<String>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Server {
    fn start(database_url: &str) -> Server {
        let mut child = lynk_binary()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .env("LYNK_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lynk");
        let (banner_token, stdout) = drain(child.stdout.take().expect("stdout"), |line| {
            line.split_whitespace()
                .find(|word| word.starts_with("lynk_live_"))
                .map(str::to_owned)
        });
        let (address, stderr) = drain(child.stderr.take().expect("stderr"), |line| {
            let json: Value = serde_json::from_str(line).ok()?;
            json["fields"]["address"].as_str().map(str::to_owned)
        });
        let mut server = Server {
            child,
            address: String::new(),
            banner_token,
            stdout: Some(stdout),
            stderr: Some(stderr),
        };
        match address.recv_timeout(WAIT_BOUND) {
            Ok(address) => server.address = address,
            Err(_) => {
                server.kill_9();
                let log = server.stderr.take().map(join).unwrap_or_default();
                panic!("lynk did not start listening:\n{log}");
            }
        }
        server
    }

    fn url(&self) -> String {
        format!("http://{}/lynkapi", self.address)
    }

    /// The personal token the first start printed.
    fn bootstrap_token(&self) -> String {
        self.banner_token
            .recv_timeout(WAIT_BOUND)
            .expect("a first start prints a token")
    }

    /// SIGKILL: no graceful shutdown, no flushing, nothing.
    fn kill_9(&mut self) {
        // `Child::kill` sends SIGKILL on Unix.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the process and returns everything it printed to stdout.
    fn stop(mut self) -> String {
        self.kill_9();
        self.stdout.take().map(join).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// Reads `pipe` to its end on a thread, sending what `pick` finds in a
/// line; the thread returns the whole text.
fn drain(
    pipe: impl Read + Send + 'static,
    pick: fn(&str) -> Option<String>,
) -> (mpsc::Receiver<String>, JoinHandle<String>) {
    let (found, receiver) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Some(value) = pick(&line) {
                let _ = found.send(value);
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    (receiver, handle)
}

fn join(handle: JoinHandle<String>) -> String {
    handle.join().unwrap_or_default()
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> reqwest::Result<(StatusCode, Value)> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await?;
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

/// Creates service tokens one after another until the server is gone;
/// every secret it gets back (HTTP 200 with data) is acknowledged. Returns
/// whether its last request was cut off by the kill.
async fn create_until_killed(
    client: reqwest::Client,
    url: String,
    admin_token: String,
    role_id: String,
    client_number: usize,
    acknowledged: Arc<Mutex<Vec<String>>>,
    ack: tokio::sync::mpsc::UnboundedSender<()>,
) -> bool {
    for request in 0..MAX_REQUESTS_PER_CLIENT {
        let variables = json!({ "input": {
            "name": format!("pipeline {client_number}-{request}"),
            "roleId": role_id,
        } });
        let Ok((status, body)) =
            post(&client, &url, &admin_token, CREATE_SERVICE_TOKEN, variables).await
        else {
            // The server is gone (connection refused or reset).
            return true;
        };
        match body["data"]["createServiceToken"]["secret"].as_str() {
            Some(secret) if status == StatusCode::OK => {
                acknowledged
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(secret.to_owned());
                let _ = ack.send(());
            }
            _ => {}
        }
    }
    false
}

#[tokio::test]
async fn acknowledged_tokens_survive_kill_9() {
    let database = TestDatabase::new().await;
    acknowledged_tokens_survive_kill_9_of(&database.url, &database.url, || {}).await;
}

/// With `vfs=unix-excl` (README, Deploying) the WAL index lives in the
/// killed process's memory only, and no `-shm` file is left behind: the
/// next start, here one that shares the file as usual, rebuilds it from the
/// WAL, and the exclusive lock died with the process.
#[tokio::test]
async fn acknowledged_tokens_survive_kill_9_of_a_server_that_owned_its_sqlite_file() {
    let database = TestDatabase::new().await;
    let Some(path) = database.sqlite_path.clone() else {
        // A VFS is SQLite's; PostgreSQL has no such setting.
        return;
    };
    let exclusive = format!("{}&vfs=unix-excl", database.url);
    acknowledged_tokens_survive_kill_9_of(&exclusive, &database.url, || {
        let sibling = |suffix: &str| format!("{}{suffix}", path.display());
        assert!(
            !std::path::Path::new(&sibling("-shm")).exists(),
            "the server kept its WAL index in a -shm file: unix-excl was not in effect"
        );
        let wal = std::fs::metadata(sibling("-wal")).map_or(0, |meta| meta.len());
        assert!(wal > 0, "the acknowledged writes are not in the WAL");
    })
    .await;
}

/// Kills a server on `first_url` with SIGKILL while clients create tokens,
/// calls `after_kill`, then checks every acknowledged token on a server
/// started on `second_url`.
async fn acknowledged_tokens_survive_kill_9_of(
    first_url: &str,
    second_url: &str,
    after_kill: impl FnOnce(),
) {
    let mut first = Server::start(first_url);
    let admin_token = first.bootstrap_token();
    let url = first.url();
    let client = reqwest::Client::builder()
        .timeout(WAIT_BOUND)
        .build()
        .expect("client");

    let (status, roles) = post(
        &client,
        &url,
        &admin_token,
        "{ organization { roles { id name } } }",
        Value::Null,
    )
    .await
    .expect("roles");
    assert_eq!(status, StatusCode::OK, "{roles}");
    let role_id = roles["data"]["organization"]["roles"]
        .as_array()
        .and_then(|roles| roles.iter().find(|role| role["name"] == "uploader"))
        .and_then(|role| role["id"].as_str())
        .unwrap_or_else(|| panic!("no uploader role: {roles}"))
        .to_owned();

    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let (ack, mut acks) = tokio::sync::mpsc::unbounded_channel();
    let mut clients = JoinSet::new();
    for client_number in 0..CLIENTS {
        clients.spawn(create_until_killed(
            client.clone(),
            url.clone(),
            admin_token.clone(),
            role_id.clone(),
            client_number,
            acknowledged.clone(),
            ack.clone(),
        ));
    }
    drop(ack);
    let mut seen = 0;
    while seen < ACKNOWLEDGED_BEFORE_KILL {
        match tokio::time::timeout(WAIT_BOUND, acks.recv()).await {
            Ok(Some(())) => seen += 1,
            // Every client stopped, or no answer within the bound.
            _ => break,
        }
    }
    // Mid-flight: the other clients are waiting for answers right now.
    first.kill_9();
    let mut cut_off = 0;
    while let Some(result) = clients.join_next().await {
        cut_off += usize::from(result.expect("client task"));
    }
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap_or_else(|e| e.into_inner()));
    assert!(
        acknowledged.len() >= ACKNOWLEDGED_BEFORE_KILL,
        "only {} creations were acknowledged before the clients stopped",
        acknowledged.len()
    );
    drop(first);
    after_kill();
    eprintln!(
        "kill -9 after {} acknowledged creations; {cut_off} of {CLIENTS} clients cut off",
        acknowledged.len()
    );

    let second = Server::start(second_url);
    let url = second.url();
    let mut lost = Vec::new();
    for secret in acknowledged.iter().chain([&admin_token]) {
        let (status, body) = post(
            &client,
            &url,
            secret,
            "query { organization { id name } }",
            Value::Null,
        )
        .await
        .expect("verify");
        if status != StatusCode::OK || body["data"]["organization"]["name"] != "Acme Corp" {
            lost.push(format!("{}…: {status} {body}", &secret[..22]));
        }
    }
    let printed = second.stop();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged tokens do not verify after kill -9:\n{}",
        lost.len(),
        acknowledged.len(),
        lost.join("\n")
    );
    assert!(
        !printed.contains("bootstrapped") && !printed.contains("lynk_live_"),
        "a restart on a non-empty database bootstrapped again:\n{printed}"
    );
}

/// Token usage (`lastUsedAt`, `permissionsUsed`, `rejectedUses`) is
/// written behind the request, in a batch every second: a `kill -9` loses
/// at most the uses of the batch not yet written (docs/usage.md). Uses
/// made well before the kill (three intervals here, a margin for a loaded
/// machine) survive it.
#[tokio::test]
async fn usage_recorded_before_the_last_batch_survives_kill_9() {
    let database = TestDatabase::new().await;
    let mut first = Server::start(&database.url);
    let admin_token = first.bootstrap_token();
    let url = first.url();
    let client = reqwest::Client::new();
    let (status, body) = post(
        &client,
        &url,
        &admin_token,
        "{ viewer { token { id } } organization { roles { id name } } }",
        Value::Null,
    )
    .await
    .expect("roles");
    assert_eq!(status, StatusCode::OK, "{body}");
    let admin_token_id = body["data"]["viewer"]["token"]["id"]
        .as_str()
        .expect("token id")
        .to_owned();
    let role_id = body["data"]["organization"]["roles"][0]["id"]
        .as_str()
        .expect("a role")
        .to_owned();
    let (_, created) = post(
        &client,
        &url,
        &admin_token,
        CREATE_SERVICE_TOKEN,
        json!({ "input": { "name": "ci", "roleId": role_id } }),
    )
    .await
    .expect("create");
    let secret = created["data"]["createServiceToken"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("create failed: {created}"))
        .to_owned();
    let service_id = created["data"]["createServiceToken"]["token"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, _) = post(
        &client,
        &url,
        &admin_token,
        "mutation($id: ID!) { revokeToken(id: $id) { id } }",
        json!({ "id": service_id }),
    )
    .await
    .expect("revoke");
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post(
        &client,
        &url,
        &secret,
        "{ organization { id } }",
        Value::Null,
    )
    .await
    .expect("a dead secret");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_secs(3)).await;
    first.kill_9();

    let second = Server::start(&database.url);
    let (status, body) = post(
        &client,
        &second.url(),
        &admin_token,
        "query($admin: ID!, $service: ID!) {
           admin: token(id: $admin) { lastUsedAt permissionsUsed }
           service: token(id: $service) { rejectedUses { count lastReason } }
         }",
        json!({ "admin": admin_token_id, "service": service_id }),
    )
    .await
    .expect("usage after the restart");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["admin"]["lastUsedAt"].is_string(), "{body}");
    let used: Vec<&str> = body["data"]["admin"]["permissionsUsed"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        used.contains(&"roles:read") && used.contains(&"tokens:write"),
        "{body}"
    );
    assert_eq!(
        body["data"]["service"]["rejectedUses"],
        json!({ "count": 1, "lastReason": "REVOKED" }),
        "{body}"
    );
}
