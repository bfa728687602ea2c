//! Delivering webhooks (docs/DESIGN.md §8.4): a receiver inside the test records
//! what lynk sends and verifies it with its own implementation of the
//! Standard Webhooks signature; events are announced through the outbox
//! as a change's transaction would, and the tests follow them to the
//! receiver, through retries, refusals, other instances and a killed one.

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::any,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use lynk::{
    auth::{CredentialKind, project_scope::ProjectScope},
    entity::{
        token, webhook, webhook_attempt,
        webhook_delivery::{self, DeliveryStatus},
    },
    service::token::NewToken,
    webhook::{
        event::{self, EventType},
        notices, outbox,
        seal::SealingKey,
    },
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, captured_logs, lynk_binary, spawn_app_with};

/// How long a test waits for something that should happen in seconds.
const PATIENCE: Duration = Duration::from_secs(30);

/// What the receiver does with one request.
#[derive(Clone, Debug)]
enum Reply {
    Status(u16),
    /// Sleeps, then answers 200.
    Slow(Duration),
    /// 302 to another URL.
    Redirect(String),
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: String,
}

#[derive(Default)]
struct Log {
    received: Mutex<Vec<Received>>,
    /// Replies for the next requests, in order; then 200.
    script: Mutex<VecDeque<Reply>>,
    answered: AtomicUsize,
}

/// An HTTP server on loopback that records every request.
struct Receiver {
    address: SocketAddr,
    log: Arc<Log>,
}

impl Receiver {
    async fn start(script: impl IntoIterator<Item = Reply>) -> Receiver {
        let log = Arc::new(Log::default());
        log.script.lock().unwrap().extend(script);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/{*path}", any(receive))
            .with_state(Arc::clone(&log));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { address, log }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    fn received(&self) -> Vec<Received> {
        self.log.received.lock().unwrap().clone()
    }

    fn answered(&self) -> usize {
        self.log.answered.load(Ordering::SeqCst)
    }

    /// Waits until `count` requests have arrived.
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        eventually(&format!("{count} requests at the receiver"), || async {
            let received = self.received();
            (received.len() >= count).then_some(received)
        })
        .await
    }
}

async fn receive(State(log): State<Arc<Log>>, headers: HeaderMap, body: Bytes) -> Response {
    log.received.lock().unwrap().push(Received {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let reply = log
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Reply::Status(200));
    let response = match reply {
        Reply::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Reply::Slow(wait) => {
            tokio::time::sleep(wait).await;
            StatusCode::OK.into_response()
        }
        Reply::Redirect(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
    };
    log.answered.fetch_add(1, Ordering::SeqCst);
    response
}

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

/// A fresh server sealing key, and its base64 form for the command line.
fn sealing_key() -> (SealingKey, String) {
    let encoded = STANDARD.encode(rand::random::<[u8; 32]>());
    (encoded.parse().unwrap(), encoded)
}

/// lynk with a webhook key, allowed to deliver to the test's receiver.
async fn spawn_sender(key: &SealingKey) -> TestApp {
    let key = key.clone();
    spawn_app_with(|config| {
        config.encryption_key = Some(key);
        config.allow_private_webhook_urls = true;
    })
    .await
}

/// A webhook of the admin's organization, written as the API would:
/// returns its id and its `whsec_` secret.
async fn create_webhook(
    app: &TestApp,
    key: &SealingKey,
    url: &str,
    events: &[EventType],
) -> (Uuid, String) {
    let id = Uuid::now_v7();
    let secret = format!("whsec_{}", STANDARD.encode(rand::random::<[u8; 24]>()));
    webhook::Entity::insert(webhook::ActiveModel {
        id: Set(id),
        organization_id: Set(app.admin.organization.id),
        url: Set(url.to_owned()),
        events: Set(event::to_storage(events)),
        active: Set(true),
        secret_sealed: Set(key.seal(id, &secret)),
        secret_hint: Set("whsec_…".to_owned()),
        created_by_user_id: Set(Some(app.admin.user.id)),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec_without_returning(&app.db)
    .await
    .unwrap();
    (id, secret)
}

/// Announces `event` in a committed transaction, as a change would.
async fn announce(app: &TestApp, event: EventType, data: Value) {
    let txn = app.db.begin().await.unwrap();
    outbox::announce(&txn, app.admin.organization.id, event, data)
        .await
        .unwrap();
    txn.commit().await.unwrap();
}

async fn deliveries(app: &TestApp) -> Vec<webhook_delivery::Model> {
    webhook_delivery::Entity::find()
        .order_by_asc(webhook_delivery::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
}

async fn attempts(app: &TestApp, delivery_id: Uuid) -> Vec<webhook_attempt::Model> {
    webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::DeliveryId.eq(delivery_id))
        .order_by_asc(webhook_attempt::Column::AttemptedAt)
        .all(&app.db)
        .await
        .unwrap()
}

/// Waits until the only delivery has `status`; returns it.
async fn settled(app: &TestApp, status: DeliveryStatus) -> webhook_delivery::Model {
    eventually(&format!("a {} delivery", status.as_str()), || async {
        deliveries(app)
            .await
            .into_iter()
            .find(|delivery| delivery.status == status)
    })
    .await
}

fn header<'a>(received: &'a Received, name: &str) -> &'a str {
    received
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("{name} header"))
        .to_str()
        .unwrap()
}

/// The receiver's check, written from the spec and not from lynk's code:
/// HMAC-SHA256 keyed with the base64-decoded secret over
/// `{webhook-id}.{webhook-timestamp}.{body}`, compared with every `v1,`
/// signature of the header.
fn signature_is_valid(secret: &str, received: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<hmac_sha2::Sha256>::new_from_slice(&key).unwrap();
    let content = format!(
        "{}.{}.{}",
        header(received, "webhook-id"),
        header(received, "webhook-timestamp"),
        received.body
    );
    mac.update(content.as_bytes());
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    header(received, "webhook-signature")
        .split(' ')
        .any(|signature| signature.strip_prefix("v1,") == Some(expected.as_str()))
}

#[tokio::test]
async fn deliveries_are_signed_and_carry_the_payload() {
    let (key, _) = sealing_key();
    let app = spawn_sender(&key).await;
    let receiver = Receiver::start([]).await;
    let (_, secret) = create_webhook(&app, &key, &receiver.url(), &[EventType::TokenCreated]).await;
    // Not subscribed: never sent.
    announce(&app, EventType::SbomUploaded, json!({"sbom": {"id": "s"}})).await;
    announce(
        &app,
        EventType::TokenCreated,
        json!({"token": {"id": "t1"}}),
    )
    .await;

    let received = receiver.wait_for(1).await;
    let delivered = settled(&app, DeliveryStatus::Delivered).await;
    let request = &received[0];
    assert_eq!(header(request, "webhook-id"), delivered.id.to_string());
    assert_eq!(request.body, delivered.payload);
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["type"], "token.created");
    assert_eq!(body["data"], json!({"token": {"id": "t1"}}));
    assert_eq!(header(request, "content-type"), "application/json");
    assert_eq!(header(request, "user-agent"), "lynk-webhooks");
    let timestamp: i64 = header(request, "webhook-timestamp").parse().unwrap();
    assert!((Utc::now().timestamp() - timestamp).abs() < 60);
    assert!(signature_is_valid(&secret, request));
    let forged = format!("whsec_{}", STANDARD.encode([7u8; 24]));
    assert!(!signature_is_valid(&forged, request));
    assert!(!secret.is_empty() && !header(request, "webhook-signature").contains(&secret));
    assert!(!captured_logs().contains(&secret));

    assert_eq!(delivered.attempts, 1);
    assert_eq!(delivered.response_status, Some(200));
    assert_eq!(delivered.locked_until, None);
    assert!(delivered.delivered_at.is_some());
    let tried = attempts(&app, delivered.id).await;
    assert_eq!(tried.len(), 1);
    assert_eq!(
        (tried[0].response_status, &tried[0].error),
        (Some(200), &None)
    );
    assert_eq!(deliveries(&app).await.len(), 1);
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_failed_attempt_is_retried_with_the_same_id() {
    let (key, _) = sealing_key();
    let app = spawn_sender(&key).await;
    let receiver = Receiver::start([Reply::Status(500)]).await;
    let (_, secret) = create_webhook(&app, &key, &receiver.url(), &[EventType::TokenRevoked]).await;
    announce(&app, EventType::TokenRevoked, json!({"token": {"id": "t"}})).await;

    let first = receiver.wait_for(1).await;
    let pending = eventually("the failed attempt recorded", || async {
        deliveries(&app)
            .await
            .into_iter()
            .find(|delivery| delivery.response_status == Some(500))
    })
    .await;
    assert_eq!(pending.status, DeliveryStatus::Pending);
    assert_eq!(pending.attempts, 1);
    assert_eq!(pending.locked_until, None);
    // The second step of the schedule: 5 seconds, ±20%, after the
    // attempt was recorded.
    let failed = attempts(&app, pending.id).await.remove(0);
    let wait = (pending.next_attempt_at - failed.attempted_at).num_milliseconds();
    let recorded_within = i64::from(failed.duration_ms) + 500;
    assert!(
        (4_000..=6_000 + recorded_within).contains(&wait),
        "{wait} ms"
    );

    let both = receiver.wait_for(2).await;
    let delivered = settled(&app, DeliveryStatus::Delivered).await;
    assert_eq!(delivered.attempts, 2);
    assert_eq!(delivered.response_status, Some(200));
    for request in &both {
        assert_eq!(header(request, "webhook-id"), delivered.id.to_string());
        assert_eq!(request.body, first[0].body);
        assert!(signature_is_valid(&secret, request));
    }
    let tried: Vec<_> = attempts(&app, delivered.id)
        .await
        .into_iter()
        .map(|attempt| attempt.response_status)
        .collect();
    assert_eq!(tried, [Some(500), Some(200)]);
}

#[tokio::test]
async fn a_rolled_back_announcement_delivers_nothing() {
    let (key, _) = sealing_key();
    let app = spawn_sender(&key).await;
    let receiver = Receiver::start([]).await;
    create_webhook(&app, &key, &receiver.url(), &[EventType::MemberAdded]).await;

    let txn = app.db.begin().await.unwrap();
    let queued = outbox::announce(
        &txn,
        app.admin.organization.id,
        EventType::MemberAdded,
        json!({"member": "rolled back"}),
    )
    .await
    .unwrap();
    assert_eq!(queued, 1);
    txn.rollback().await.unwrap();
    announce(&app, EventType::MemberAdded, json!({"member": "committed"})).await;

    settled(&app, DeliveryStatus::Delivered).await;
    // Give a wrongly kept delivery a second poll to show up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].body.contains("committed"));
    assert_eq!(deliveries(&app).await.len(), 1);
}

#[tokio::test]
async fn a_slow_receiver_does_not_slow_requests() {
    let (key, _) = sealing_key();
    let app = spawn_sender(&key).await;
    let receiver = Receiver::start([Reply::Slow(Duration::from_secs(30))]).await;
    create_webhook(&app, &key, &receiver.url(), &[EventType::TokenCreated]).await;
    announce(&app, EventType::TokenCreated, json!({})).await;
    receiver.wait_for(1).await;

    for _ in 0..5 {
        let answer = app
            .gql(
                Some(app.admin_token()),
                "query { organization { id } }",
                json!({}),
            )
            .await;
        assert_eq!(answer.status, reqwest::StatusCode::OK);
        assert_eq!(
            answer.body,
            json!({"data": {"organization": {"id": app.admin.organization.id.to_string()}}})
        );
    }
    assert_eq!(receiver.answered(), 0, "the receiver is still sleeping");
}

#[tokio::test]
async fn private_addresses_are_never_reached_at_delivery() {
    let (key, _) = sealing_key();
    let app = spawn_app_with({
        let key = key.clone();
        |config| config.encryption_key = Some(key)
    })
    .await;
    // Counts every connection, TLS or not: nothing may even connect.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    let refused = [
        (
            format!("https://127.0.0.1:{port}/hook"),
            "address not public: 127.0.0.1".to_owned(),
        ),
        (
            format!("https://[::ffff:127.0.0.1]:{port}/hook"),
            "address not public: ::ffff:127.0.0.1".to_owned(),
        ),
        (
            format!("https://localhost:{port}/hook"),
            "address not public: localhost resolves to no public address".to_owned(),
        ),
        (
            format!("http://127.0.0.1:{port}/hook"),
            "url must use https, not http".to_owned(),
        ),
    ];
    let mut expected = HashMap::new();
    for (url, error) in &refused {
        let (id, _) = create_webhook(&app, &key, url, &[EventType::TokenLeaked]).await;
        expected.insert(id, error.clone());
    }
    announce(&app, EventType::TokenLeaked, json!({})).await;

    let attempted = eventually("an attempt per webhook", || async {
        let all = deliveries(&app).await;
        let tried = all
            .iter()
            .all(|delivery| delivery.attempts == 1 && delivery.locked_until.is_none());
        (all.len() == refused.len() && tried).then_some(all)
    })
    .await;
    for delivery in attempted {
        let tried = attempts(&app, delivery.id).await;
        assert_eq!(tried.len(), 1);
        assert_eq!(tried[0].response_status, None);
        assert_eq!(tried[0].error.as_ref(), expected.get(&delivery.webhook_id));
        // Retried on the schedule: DNS may point elsewhere later.
        assert_eq!(delivery.status, DeliveryStatus::Pending);
        assert!(delivery.next_attempt_at > Utc::now());
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_secret_sealed_under_another_key_fails_the_attempt() {
    let (key, _) = sealing_key();
    let (other_key, _) = sealing_key();
    let app = spawn_sender(&key).await;
    let receiver = Receiver::start([]).await;
    create_webhook(
        &app,
        &other_key,
        &receiver.url(),
        &[EventType::TokenCreated],
    )
    .await;
    announce(&app, EventType::TokenCreated, json!({})).await;

    let tried = eventually("the attempt recorded", || async {
        let delivery = deliveries(&app).await.pop()?;
        let tried = attempts(&app, delivery.id).await;
        (!tried.is_empty()).then_some(tried)
    })
    .await;
    assert_eq!(
        tried[0].error.as_deref(),
        Some("the signing secret cannot be opened with this server's --encryption-key")
    );
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (key, _) = sealing_key();
    let app = spawn_sender(&key).await;
    let elsewhere = Receiver::start([]).await;
    let receiver = Receiver::start([Reply::Redirect(elsewhere.url())]).await;
    create_webhook(&app, &key, &receiver.url(), &[EventType::TokenRotated]).await;
    announce(&app, EventType::TokenRotated, json!({})).await;

    let pending = eventually("the redirect recorded", || async {
        deliveries(&app)
            .await
            .into_iter()
            .find(|delivery| delivery.response_status.is_some())
    })
    .await;
    assert_eq!(pending.response_status, Some(302));
    assert_eq!(pending.status, DeliveryStatus::Pending);
    let tried = attempts(&app, pending.id).await;
    assert_eq!(tried.len(), 1);
    assert_eq!(tried[0].response_status, Some(302));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1);
    assert!(elsewhere.received().is_empty());
}

/// A personal token of the admin created 30 days ago, expiring at `expires_at`.
async fn old_token(app: &TestApp, name: &str, expires_at: chrono::DateTime<Utc>) -> Uuid {
    let (id, _) = app
        .issue_token(NewToken {
            kind: CredentialKind::Personal,
            organization_id: Some(app.admin.organization.id),
            name: name.into(),
            scopes: None,
            role_id: None,
            owner_user_id: Some(app.admin.user.id),
            created_by_user_id: Some(app.admin.user.id),
            projects: ProjectScope::All,
            expires_at: Some(expires_at),
        })
        .await;
    token::Entity::update_many()
        .col_expr(
            token::Column::CreatedAt,
            sea_orm::sea_query::Expr::value(Utc::now() - chrono::Duration::days(30)),
        )
        .filter(token::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn expiry_notices_go_out_once_across_scans_and_instances() {
    let (key, _) = sealing_key();
    let app = spawn_sender(&key).await;
    let receiver = Receiver::start([]).await;
    create_webhook(
        &app,
        &key,
        &receiver.url(),
        &[EventType::TokenExpiring, EventType::TokenExpired],
    )
    .await;
    let now = Utc::now();
    let in_3_days = old_token(&app, "three days", now + chrono::Duration::days(3)).await;
    let in_12_hours = old_token(&app, "twelve hours", now + chrono::Duration::hours(12)).await;
    let expired = old_token(&app, "expired", now - chrono::Duration::hours(1)).await;
    // None due: expiring in 8 days, expired 8 days ago, revoked, and one
    // created with 2 days left (its 1-day notice comes later).
    old_token(&app, "later", now + chrono::Duration::days(8)).await;
    old_token(&app, "long gone", now - chrono::Duration::days(8)).await;
    let revoked = old_token(&app, "revoked", now + chrono::Duration::days(3)).await;
    token::Entity::update_many()
        .col_expr(
            token::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(token::Column::Id.eq(revoked))
        .exec(&app.db)
        .await
        .unwrap();
    app.admin_personal_token(now + chrono::Duration::days(2))
        .await;

    // Another instance scans as it starts; then both scan again.
    let other = app
        .another_instance_with({
            let key = key.clone();
            |config| {
                config.encryption_key = Some(key);
                config.allow_private_webhook_urls = true;
            }
        })
        .await;
    let (first, second, third) = tokio::join!(
        notices::scan(&app.db, Utc::now()),
        notices::scan(&other.db, Utc::now()),
        notices::scan(&app.db, Utc::now()),
    );
    let announced = first.unwrap() + second.unwrap() + third.unwrap();
    assert!(announced <= 3, "{announced}");

    receiver.wait_for(3).await;
    eventually("every notice delivered", || async {
        let all = deliveries(&app).await;
        all.iter()
            .all(|delivery| delivery.status == DeliveryStatus::Delivered)
            .then_some(())
    })
    .await;
    assert_eq!(notices::scan(&other.db, Utc::now()).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received = receiver.received();
    let mut seen: Vec<(String, String, String)> = received
        .iter()
        .map(|request| {
            let body: Value = serde_json::from_str(&request.body).unwrap();
            (
                body["data"]["token"]["id"].as_str().unwrap().to_owned(),
                body["type"].as_str().unwrap().to_owned(),
                body["data"]["expiresIn"].to_string(),
            )
        })
        .collect();
    seen.sort();
    let mut expected = vec![
        (
            in_3_days.to_string(),
            "token.expiring".to_owned(),
            r#""7d""#.to_owned(),
        ),
        (
            in_12_hours.to_string(),
            "token.expiring".to_owned(),
            r#""1d""#.to_owned(),
        ),
        (
            expired.to_string(),
            "token.expired".to_owned(),
            "null".to_owned(),
        ),
    ];
    expected.sort();
    assert_eq!(seen, expected);
    let body: Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(body["data"]["token"]["kind"], "PERSONAL");
    assert!(body["data"]["token"]["expiresAt"].is_string());
}

fn is_postgres(app: &TestApp) -> bool {
    app.db.get_database_backend() == sea_orm::DbBackend::Postgres
}

#[tokio::test]
async fn two_instances_deliver_each_event_once() {
    let (key, _) = sealing_key();
    let app = spawn_sender(&key).await;
    if !is_postgres(&app) {
        eprintln!(
            "skipped on SQLite: instances sharing a database are a PostgreSQL deployment (scripts/with-postgres.sh)"
        );
        return;
    }
    let other = app
        .another_instance_with({
            let key = key.clone();
            |config| {
                config.encryption_key = Some(key);
                config.allow_private_webhook_urls = true;
            }
        })
        .await;
    let receiver = Receiver::start([]).await;
    create_webhook(&app, &key, &receiver.url(), &[EventType::TokenCreated]).await;
    for n in 0..20 {
        announce(&app, EventType::TokenCreated, json!({"n": n})).await;
    }
    receiver.wait_for(20).await;
    eventually("all 20 delivered", || async {
        let delivered = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Delivered))
            .count(&other.db)
            .await
            .unwrap();
        (delivered == 20).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for request in receiver.received() {
        *per_id
            .entry(header(&request, "webhook-id").to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_id.len(), 20);
    assert!(per_id.values().all(|count| *count == 1), "{per_id:?}");
    for delivery in deliveries(&app).await {
        assert_eq!(delivery.attempts, 1);
    }
}

#[tokio::test]
async fn a_killed_sender_is_replaced_after_its_lease() {
    let (key, encoded) = sealing_key();
    // This instance sends nothing; the killed one does.
    let app = spawn_app_with({
        let key = key.clone();
        |config| {
            config.encryption_key = Some(key);
            config.no_webhook_sender = true;
        }
    })
    .await;
    if !is_postgres(&app) {
        eprintln!(
            "skipped on SQLite: instances sharing a database are a PostgreSQL deployment (scripts/with-postgres.sh)"
        );
        return;
    }
    let receiver = Receiver::start([Reply::Slow(Duration::from_secs(120))]).await;
    create_webhook(&app, &key, &receiver.url(), &[EventType::TokenCreated]).await;
    announce(&app, EventType::TokenCreated, json!({})).await;
    let mut killed = lynk_binary()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &app.database.url,
            "--allow-private-webhook-urls",
            "--webhook-lease",
            "6s",
        ])
        .env_remove("LYNK_ENCRYPTION_KEY")
        .env("LYNK_WEBHOOK_ENCRYPTION_KEY", &encoded)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lynk");
    let first = receiver.wait_for(1).await;
    killed.kill().expect("kill -9");
    killed.wait().expect("reap");
    let claimed = deliveries(&app).await.remove(0);
    assert_eq!(
        (claimed.status, claimed.attempts),
        (DeliveryStatus::Pending, 1)
    );
    let lease_ends = claimed.locked_until.expect("held by the killed sender");

    let _replacement = app
        .another_instance_with(move |config| {
            config.encryption_key = Some(key);
            config.allow_private_webhook_urls = true;
            config.webhook_lease = Duration::from_secs(6);
        })
        .await;
    let both = receiver.wait_for(2).await;
    let delivered = settled(&app, DeliveryStatus::Delivered).await;
    assert_eq!(
        header(&both[1], "webhook-id"),
        header(&first[0], "webhook-id")
    );
    assert_eq!(delivered.attempts, 2);
    // Only the second attempt was recorded: the first sender died.
    let tried = attempts(&app, delivered.id).await;
    assert_eq!(tried.len(), 1);
    assert!(
        tried[0].attempted_at >= lease_ends,
        "not before the lease ended"
    );
}

const DELIVERIES: &str = "{ organization { webhooks { id deliveries(first: 10) { nodes { id event status responseStatus lastError attempts nextAttemptAt } } } } }";
const SEND_TEST: &str = "mutation($id: ID!) { sendTestWebhookEvent(id: $id) { id event status attempts nextAttemptAt } }";
const REDELIVER: &str = "mutation($id: ID!) { redeliverWebhookDelivery(id: $id) { id status attempts lastError nextAttemptAt } }";

/// `Webhook.deliveries` of the admin's organization, as the API lists them.
async fn listed(app: &TestApp, token: &str) -> Vec<Value> {
    let answer = app.gql(Some(token), DELIVERIES, Value::Null).await;
    answer.body["data"]["organization"]["webhooks"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .iter()
        .flat_map(|hook| hook["deliveries"]["nodes"].as_array().unwrap().clone())
        .collect()
}

/// A delivery of `event` that failed for good, written as the sender
/// leaves one after its last attempt.
async fn failed_delivery(app: &TestApp, webhook_id: Uuid, event: &str) -> Uuid {
    let id = Uuid::now_v7();
    webhook_delivery::Entity::insert(webhook_delivery::ActiveModel {
        id: Set(id),
        webhook_id: Set(webhook_id),
        organization_id: Set(app.admin.organization.id),
        event: Set(event.to_owned()),
        payload: Set(format!(
            r#"{{"type":"{event}","timestamp":"2026-12-07T00:00:00.000Z","data":{{}}}}"#
        )),
        status: Set(DeliveryStatus::Failed),
        attempts: Set(12),
        next_attempt_at: Set(Utc::now()),
        locked_until: Set(None),
        response_status: Set(None),
        last_error: Set(Some("no answer within 10s".to_owned())),
        created_at: Set(Utc::now()),
        delivered_at: Set(None),
    })
    .exec_without_returning(&app.db)
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn a_failed_attempt_says_why_and_when_the_next_one_runs() {
    let (key, _) = sealing_key();
    let app = spawn_sender(&key).await;
    // A port nobody listens on: the connection is refused.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let (webhook_id, _) = create_webhook(&app, &key, &url, &[EventType::TokenRevoked]).await;
    announce(&app, EventType::TokenRevoked, json!({"token": {"id": "t"}})).await;
    let pending = eventually("the failed attempt recorded", || async {
        deliveries(&app)
            .await
            .into_iter()
            .find(|delivery| delivery.attempts == 1 && delivery.last_error.is_some())
    })
    .await;
    assert_eq!(pending.status, DeliveryStatus::Pending);
    let error = pending.last_error.clone().expect("why it failed");
    assert!(error.contains("onnect"), "{error}");

    let shown = listed(&app, app.admin_token()).await;
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0]["status"], "PENDING");
    assert_eq!(shown[0]["lastError"], json!(error));
    assert_eq!(shown[0]["responseStatus"], Value::Null);
    let next: chrono::DateTime<Utc> = shown[0]["nextAttemptAt"].as_str().unwrap().parse().unwrap();
    assert!(
        (next - pending.next_attempt_at).num_milliseconds().abs() <= 1,
        "{next} {}",
        pending.next_attempt_at
    );
    assert!(next > Utc::now() - chrono::Duration::seconds(1), "{next}");

    // Logged at warn, with the delivery and why, never the URL.
    let logs = eventually("the warning", || async {
        let logs = captured_logs();
        logs.contains(&pending.id.to_string()).then_some(logs)
    })
    .await;
    let line = logs
        .lines()
        .find(|line| {
            line.contains(&pending.id.to_string()) && line.contains("webhook attempt failed")
        })
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(
        line.contains("WARN") && line.contains(&webhook_id.to_string()),
        "{line}"
    );
    assert!(!line.contains(&url), "{line}");

    // Metrics: the attempt by outcome, and the deliveries waiting.
    let metrics = app
        .send(app.client.get(format!("http://{}/metrics", app.address)))
        .await
        .text;
    assert!(
        metrics.contains(r#"lynk_webhook_attempts_total{outcome="failure",status="retrying"}"#),
        "{metrics}"
    );
    let pending_gauge = metrics
        .lines()
        .find_map(|line| line.strip_prefix("lynk_webhook_deliveries_pending "))
        .unwrap_or_else(|| panic!("{metrics}"));
    // Sampled from this test's database at the scrape (other tests share
    // the process's recorder, so only its presence is certain here).
    assert!(pending_gauge.parse::<f64>().is_ok(), "{pending_gauge}");
}

/// The audit records of `action`, newest first: `{ targetId detail }`.
async fn audited(app: &TestApp, action: &str) -> Vec<Value> {
    let answer = app
        .gql(
            Some(app.admin_token()),
            "query($action: String!) { organization { auditEvents(action: $action) { edges { node { targetType targetId detail } } } } }",
            json!({ "action": action }),
        )
        .await;
    answer.body["data"]["organization"]["auditEvents"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .iter()
        .map(|edge| edge["node"].clone())
        .collect()
}

#[tokio::test]
async fn a_test_event_is_sent_when_asked_for() {
    let (key, _) = sealing_key();
    let app = spawn_sender(&key).await;
    let receiver = Receiver::start([]).await;
    let (webhook_id, secret) =
        create_webhook(&app, &key, &receiver.url(), &[EventType::TokenRevoked]).await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            SEND_TEST,
            json!({"id": webhook_id}),
        )
        .await;
    let queued = &answer.body["data"]["sendTestWebhookEvent"];
    assert_eq!(queued["event"], "webhook.test", "{}", answer.text);
    assert_eq!(queued["status"], "PENDING");
    assert_eq!(queued["attempts"], 0);
    let received = receiver.wait_for(1).await;
    assert!(signature_is_valid(&secret, &received[0]));
    assert_eq!(
        header(&received[0], "webhook-id"),
        queued["id"].as_str().unwrap()
    );
    let body: Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(body["type"], "webhook.test");
    assert_eq!(body["data"]["webhook"]["id"], webhook_id.to_string());
    // Audited: who asked for a test, of which webhook, and its delivery.
    let detail = json!({ "deliveryId": queued["id"] }).to_string();
    assert_eq!(
        audited(&app, "webhook.test_sent").await,
        [json!({ "targetType": "webhook", "targetId": webhook_id.to_string(), "detail": detail })]
    );
    settled(&app, DeliveryStatus::Delivered).await;
    // Listed for whoever reads the webhook's deliveries.
    let reader = app.token_with(&["webhooks:read"]).await;
    let shown = listed(&app, &reader).await;
    assert_eq!(shown[0]["event"], "webhook.test", "{shown:?}");
    assert_eq!(shown[0]["nextAttemptAt"], Value::Null);
    let metrics = app
        .send(app.client.get(format!("http://{}/metrics", app.address)))
        .await
        .text;
    assert!(
        metrics.contains(r#"lynk_webhook_attempts_total{outcome="success",status="delivered"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_failed_delivery_is_sent_again_with_the_same_id() {
    let (key, _) = sealing_key();
    let app = spawn_sender(&key).await;
    let receiver = Receiver::start([]).await;
    let (webhook_id, secret) =
        create_webhook(&app, &key, &receiver.url(), &[EventType::TokenRevoked]).await;
    let failed = failed_delivery(&app, webhook_id, "token.revoked").await;
    assert_eq!(
        listed(&app, app.admin_token()).await[0]["lastError"],
        "no answer within 10s"
    );
    let answer = app
        .gql(Some(app.admin_token()), REDELIVER, json!({"id": failed}))
        .await;
    let queued = &answer.body["data"]["redeliverWebhookDelivery"];
    assert_eq!(queued["status"], "PENDING", "{}", answer.text);
    assert_eq!(queued["attempts"], 0);
    assert!(queued["nextAttemptAt"].is_string());
    let received = receiver.wait_for(1).await;
    assert_eq!(header(&received[0], "webhook-id"), failed.to_string());
    assert!(signature_is_valid(&secret, &received[0]));
    let delivered = settled(&app, DeliveryStatus::Delivered).await;
    assert_eq!(delivered.id, failed);
    assert_eq!(delivered.attempts, 1);
    assert_eq!(delivered.last_error, None);
    let detail = json!({ "deliveryId": failed.to_string(), "event": "token.revoked" }).to_string();
    assert_eq!(
        audited(&app, "webhook.redelivered").await,
        [json!({ "targetType": "webhook", "targetId": webhook_id.to_string(), "detail": detail })]
    );

    // Delivered now: sending it again is refused, and so is a pending one.
    let answer = app
        .gql(Some(app.admin_token()), REDELIVER, json!({"id": failed}))
        .await;
    assert_eq!(answer.error_code(), Some("CONFLICT"), "{}", answer.text);
    assert!(
        answer.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("was delivered")
    );
}

#[tokio::test]
async fn only_webhooks_write_in_the_organization_sends_again() {
    let (key, _) = sealing_key();
    let app = spawn_sender(&key).await;
    // Never reached: every delivery stays as the test writes it.
    let (webhook_id, _) = create_webhook(
        &app,
        &key,
        "http://127.0.0.1:9/hook",
        &[EventType::TokenRevoked, EventType::SbomUploaded],
    )
    .await;
    let token_event = failed_delivery(&app, webhook_id, "token.revoked").await;
    let sbom_event = failed_delivery(&app, webhook_id, "sbom.uploaded").await;

    // Anonymous: 401.
    let answer = app.gql(None, REDELIVER, json!({"id": token_event})).await;
    assert_eq!(answer.status, reqwest::StatusCode::UNAUTHORIZED);
    // webhooks:read only: FORBIDDEN for both.
    let reader = app.token_with(&["webhooks:read", "tokens:read"]).await;
    for (query, id) in [(REDELIVER, token_event), (SEND_TEST, webhook_id)] {
        let answer = app.gql(Some(&reader), query, json!({"id": id})).await;
        assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
        assert_eq!(
            answer.body["errors"][0]["extensions"]["requiredPermission"],
            "webhooks:write"
        );
    }
    // webhooks:write without tokens:read: a token event is not there for it.
    let writer = app
        .token_with(&["webhooks:read", "webhooks:write", "sboms:read"])
        .await;
    let answer = app
        .gql(Some(&writer), REDELIVER, json!({"id": token_event}))
        .await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
    let answer = app
        .gql(Some(&writer), REDELIVER, json!({"id": sbom_event}))
        .await;
    assert_eq!(
        answer.body["data"]["redeliverWebhookDelivery"]["status"], "PENDING",
        "{}",
        answer.text
    );
    // Pending now: a second redelivery is a CONFLICT.
    let answer = app
        .gql(Some(&writer), REDELIVER, json!({"id": sbom_event}))
        .await;
    assert_eq!(answer.error_code(), Some("CONFLICT"), "{}", answer.text);

    // Another organization's admin: NOT_FOUND, for the delivery and the webhook.
    let other = app.other_organization("Globex", "hank@globex.test").await;
    for (query, id) in [(REDELIVER, token_event), (SEND_TEST, webhook_id)] {
        let answer = app.gql(Some(&other.token), query, json!({"id": id})).await;
        assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
    }
    // A malformed id is no delivery either.
    let answer = app
        .gql(Some(app.admin_token()), REDELIVER, json!({"id": "nope"}))
        .await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);

    // A paused webhook gets neither.
    webhook::Entity::update_many()
        .col_expr(
            webhook::Column::Active,
            sea_orm::sea_query::Expr::value(false),
        )
        .filter(webhook::Column::Id.eq(webhook_id))
        .exec(&app.db)
        .await
        .unwrap();
    let answer = app
        .gql(
            Some(app.admin_token()),
            SEND_TEST,
            json!({"id": webhook_id}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("CONFLICT"), "{}", answer.text);
    assert!(
        answer.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("paused")
    );
    let answer = app
        .gql(
            Some(app.admin_token()),
            REDELIVER,
            json!({"id": token_event}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("CONFLICT"), "{}", answer.text);
    // Nothing was queued by the refusals.
    let stored = webhook_delivery::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored.iter().find(|d| d.id == token_event).unwrap().status,
        DeliveryStatus::Failed
    );
    // And none of them was audited: only the one redelivery that queued.
    assert_eq!(audited(&app, "webhook.redelivered").await.len(), 1);
    assert_eq!(
        audited(&app, "webhook.test_sent").await,
        Vec::<Value>::new()
    );
}
