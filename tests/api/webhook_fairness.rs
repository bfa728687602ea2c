//! Fair webhook delivery (docs/DESIGN.md §4.5): one organization's receivers that
//! never answer hold at most 2 deliveries per webhook and 8 in all, and another
//! organization's delivery is claimed ahead of their backlog. Everything
//! is set up over HTTP; the receivers are local listeners, one that holds
//! every connection open without answering and one that answers at once.

use std::{
    collections::HashMap,
    io::{ErrorKind, Read},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, extract::State, http::HeaderMap, routing::post};
use lynk::entity::webhook_delivery;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio::{
    io::AsyncReadExt,
    net::{TcpListener, TcpStream},
};
use uuid::Uuid;

use crate::{
    helpers::{TestApp, spawn_app_with},
    webhooks::{create, create_ok, sealing_key},
};

/// How long a test waits for something that should happen in seconds.
const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `check` until it gives a value, or fails the test after [`PATIENCE`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The connections one path of a [`Silent`] receiver got.
#[derive(Default)]
struct Held {
    /// Those the client has not closed, as far as the last check saw.
    open: Vec<std::net::TcpStream>,
    accepted: usize,
    most_open: usize,
}

/// A receiver that reads each request and never answers, holding the
/// connection: a webhook endpoint that hangs. It counts, per path, the
/// connections the sender has open at once.
struct Silent {
    address: SocketAddr,
    paths: Arc<Mutex<Paths>>,
}

/// A [`Silent`] receiver's connections, per path.
#[derive(Default)]
struct Paths {
    held: HashMap<String, Held>,
    /// The most connections open at once, over every path.
    most_open: usize,
}

impl Silent {
    async fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let paths = Arc::new(Mutex::new(Paths::default()));
        let held = Arc::clone(&paths);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(hold(stream, Arc::clone(&held)));
            }
        });
        Silent { address, paths }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.address)
    }

    fn accepted(&self, path: &str) -> usize {
        self.paths
            .lock()
            .unwrap()
            .held
            .get(path)
            .map_or(0, |held| held.accepted)
    }

    /// The most connections any path had open at once, and which.
    fn most_open(&self) -> (usize, String) {
        self.paths
            .lock()
            .unwrap()
            .held
            .iter()
            .map(|(path, held)| (held.most_open, path.clone()))
            .max()
            .unwrap_or_default()
    }

    /// The most connections open at once, all paths together.
    fn most_open_in_all(&self) -> usize {
        self.paths.lock().unwrap().most_open
    }
}

/// Reads the request's head, then keeps the connection without answering.
/// Before counting it, the path's earlier connections are checked: one the
/// sender closed (it gave up waiting) no longer counts.
async fn hold(mut stream: TcpStream, paths: Arc<Mutex<Paths>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let path = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_owned();
    let Ok(stream) = stream.into_std() else {
        return;
    };
    let mut paths = paths.lock().unwrap();
    for held in paths.held.values_mut() {
        held.open.retain(still_open);
    }
    let held = paths.held.entry(path).or_default();
    held.open.push(stream);
    held.accepted += 1;
    held.most_open = held.most_open.max(held.open.len());
    let open: usize = paths.held.values().map(|held| held.open.len()).sum();
    paths.most_open = paths.most_open.max(open);
}

/// Whether the client has not closed `stream`; drains what it sent
/// without waiting (the stream is non-blocking).
fn still_open(mut stream: &std::net::TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return false,
            Ok(_) => continue,
            Err(err) if err.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// A receiver that answers 200 at once and records each `webhook-id`.
struct Prompt {
    address: SocketAddr,
    ids: Arc<Mutex<Vec<String>>>,
}

impl Prompt {
    async fn start() -> Prompt {
        let ids = Arc::new(Mutex::new(Vec::new()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = Router::new()
            .route(
                "/hook",
                post(
                    |State(ids): State<Arc<Mutex<Vec<String>>>>, headers: HeaderMap| async move {
                        let id = headers
                            .get("webhook-id")
                            .and_then(|id| id.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        ids.lock().unwrap().push(id);
                        StatusCode::OK
                    },
                ),
            )
            .with_state(Arc::clone(&ids));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Prompt { address, ids }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    fn ids(&self) -> Vec<String> {
        self.ids.lock().unwrap().clone()
    }
}

/// lynk delivering webhooks to local receivers.
async fn spawn_sender() -> TestApp {
    spawn_app_with(|config| {
        config.encryption_key = Some(sealing_key());
        config.allow_private_webhook_urls = true;
    })
    .await
}

fn is_postgres(app: &TestApp) -> bool {
    app.db.get_database_backend() == sea_orm::DbBackend::Postgres
}

/// `createServiceToken` as `token`: one `token.created` event.
async fn create_service_token(app: &TestApp, token: &str, name: &str, role_id: Uuid) {
    let answer = app
        .gql(
            Some(token),
            "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { token { name } } }",
            json!({ "input": { "name": name, "roleId": role_id.to_string() } }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.body,
        json!({ "data": { "createServiceToken": { "token": { "name": name } } } })
    );
}

async fn deliveries_of(app: &TestApp, webhook_id: &str) -> Vec<webhook_delivery::Model> {
    webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::WebhookId.eq(webhook_id.parse::<Uuid>().unwrap()))
        .all(&app.db)
        .await
        .unwrap()
}

/// `Webhook.deliveries` of every webhook `token` sees, over HTTP, as
/// `(status, attempts)`.
async fn listed_deliveries(app: &TestApp, token: &str) -> Vec<(String, i64)> {
    let answer = app
        .gql(
            Some(token),
            "{ organization { webhooks { deliveries(first: 50) { nodes { status attempts } } } } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let mut listed: Vec<(String, i64)> = answer.body["data"]["organization"]["webhooks"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .iter()
        .flat_map(|hook| hook["deliveries"]["nodes"].as_array().unwrap().clone())
        .map(|node| {
            (
                node["status"].as_str().unwrap().to_owned(),
                node["attempts"].as_i64().unwrap(),
            )
        })
        .collect();
    listed.sort();
    listed
}

#[tokio::test]
async fn a_webhook_has_at_most_two_deliveries_in_flight() {
    let app = spawn_sender().await;
    let silent = Silent::start().await;
    let hook = create_ok(&app, &silent.url("hangs"), &["token.created"]).await;
    // On PostgreSQL another instance claims too: the cap is the
    // webhook's, not each instance's.
    let _other = if is_postgres(&app) {
        Some(
            app.another_instance_with(|config| {
                config.encryption_key = Some(sealing_key());
                config.allow_private_webhook_urls = true;
            })
            .await,
        )
    } else {
        None
    };
    let uploader = app.role_id("uploader").await;
    for n in 0..6 {
        create_service_token(&app, app.admin_token(), &format!("deploy {n}"), uploader).await;
    }

    eventually("two connections to the silent receiver", || async {
        (silent.accepted("hangs") >= 2).then_some(())
    })
    .await;
    // Give a third claim a few polls to show up (each request waits 10 s
    // for an answer, far longer).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(silent.most_open(), (2, "hangs".to_owned()));
    let rows = deliveries_of(&app, &hook).await;
    assert_eq!(rows.len(), 6);
    let leased = rows
        .iter()
        .filter(|row| {
            row.locked_until
                .is_some_and(|until| until > chrono::Utc::now())
        })
        .count();
    assert!(leased <= 2, "{leased} leased: {rows:?}");
    let listed = listed_deliveries(&app, app.admin_token()).await;
    let waiting = listed.iter().filter(|(_, attempts)| *attempts == 0).count();
    assert!(waiting >= 2, "{listed:?}");
    assert!(
        listed.iter().all(|(status, _)| status == "PENDING"),
        "{listed:?}"
    );
}

#[tokio::test]
async fn a_tenants_silent_webhooks_do_not_delay_another_tenants_delivery() {
    let app = spawn_sender().await;
    let silent = Silent::start().await;
    let prompt = Prompt::start().await;
    // Beta: one webhook to a receiver that answers at once.
    let beta = app.other_organization("Beta Corp", "admin@beta.test").await;
    let answer = create(&app, &beta.token, &prompt.url(), &["token.created"]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.body["data"]["createWebhook"]["webhook"]["active"],
        true
    );
    let beta_uploader = app.role_id_in(beta.organization.id, "uploader").await;
    // Acme: 20 webhooks that never answer, and 8 changes: 160 deliveries
    // queued before Beta's one.
    for n in 0..20 {
        create_ok(&app, &silent.url(&format!("acme/{n}")), &["token.created"]).await;
    }
    let uploader = app.role_id("uploader").await;
    for n in 0..8 {
        create_service_token(&app, app.admin_token(), &format!("acme {n}"), uploader).await;
    }
    create_service_token(&app, &beta.token, "beta deploy", beta_uploader).await;

    let ids = eventually("Beta's delivery", || async {
        let ids = prompt.ids();
        (!ids.is_empty()).then_some(ids)
    })
    .await;
    // Claimed ahead of Acme's backlog, not after it: first come, first
    // served would have tried each of Acme's 160 deliveries first.
    let untried = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::OrganizationId.eq(app.admin.organization.id))
        .filter(webhook_delivery::Column::Attempts.eq(0))
        .all(&app.db)
        .await
        .unwrap()
        .len();
    assert!(untried > 0, "Beta's delivery waited for all of Acme's");
    assert_eq!(ids.len(), 1);
    let (most, path) = silent.most_open();
    assert!(most <= 2, "{most} connections at once to {path}");
    // Nor can Acme fill the sender: half its slots stay for others.
    let all = silent.most_open_in_all();
    assert!(all <= 8, "{all} connections at once to Acme's webhooks");

    let delivered = eventually("Beta's delivery recorded", || async {
        let listed = listed_deliveries(&app, &beta.token).await;
        (listed.first().map(|(status, _)| status.as_str()) == Some("DELIVERED")).then_some(listed)
    })
    .await;
    assert_eq!(delivered, [("DELIVERED".to_owned(), 1)]);
}
