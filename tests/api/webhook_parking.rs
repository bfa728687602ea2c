//! Parking (docs/DESIGN.md §4.5): a webhook whose attempts have all failed for a
//! day, at least 10 in a row, is made inactive and says so
//! (`Webhook.parkedAt`, a `webhook.parked` audit record) until its owner
//! resumes it. A day of failures is written directly; the failure that
//! tips it over is a real attempt.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use axum::{Router, http::StatusCode as AxumStatus, routing::post};
use chrono::Utc;
use lynk::entity::{webhook, webhook_delivery};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    helpers::{TestApp, spawn_app_with},
    webhooks::{create_ok, sealing_key},
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

/// A receiver that answers every request with `status`; returns its URL.
async fn receiver(status: u16) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    let status = AxumStatus::from_u16(status).unwrap();
    let app = Router::new().route("/hook", post(move || async move { status }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/hook")
}

async fn spawn_sender() -> TestApp {
    spawn_app_with(|config| {
        config.encryption_key = Some(sealing_key());
        config.allow_private_webhook_urls = true;
    })
    .await
}

/// Writes that `hook`'s attempts have all failed for 25 hours, 9 of them.
async fn failing_for_a_day(app: &TestApp, hook: Uuid) {
    webhook::Entity::update_many()
        .col_expr(
            webhook::Column::FailingSince,
            Expr::value(Utc::now() - chrono::Duration::hours(25)),
        )
        .col_expr(webhook::Column::FailuresInARow, Expr::value(9))
        .filter(webhook::Column::Id.eq(hook))
        .exec(&app.db)
        .await
        .unwrap();
}

/// A `token.created` event, through `createServiceToken`.
async fn announce(app: &TestApp, name: &str) {
    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { token { name } } }",
            json!({ "input": { "name": name, "roleId": app.role_id("uploader").await.to_string() } }),
        )
        .await;
    assert_eq!(
        answer.body,
        json!({ "data": { "createServiceToken": { "token": { "name": name } } } })
    );
}

/// The only webhook, over HTTP.
async fn listed(app: &TestApp) -> Value {
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { webhooks { id active parkedAt } } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["data"]["organization"]["webhooks"][0].clone()
}

async fn deliveries_of(app: &TestApp, hook: Uuid) -> Vec<webhook_delivery::Model> {
    webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::WebhookId.eq(hook))
        .all(&app.db)
        .await
        .unwrap()
}

async fn stored(app: &TestApp, hook: Uuid) -> webhook::Model {
    webhook::Entity::find_by_id(hook)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_webhook_that_keeps_failing_is_parked_until_resumed() {
    let app = spawn_sender().await;
    let id = create_ok(&app, &receiver(500).await, &["token.created"]).await;
    let hook: Uuid = id.parse().unwrap();
    failing_for_a_day(&app, hook).await;
    announce(&app, "first").await;

    let parked = eventually("the webhook parked", || async {
        let hook = listed(&app).await;
        hook["parkedAt"].is_string().then_some(hook)
    })
    .await;
    assert_eq!(
        parked,
        json!({ "id": id, "active": false, "parkedAt": parked["parkedAt"] })
    );
    // Its owner is told in the audit log: lynk did it, no one's credential.
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { auditEvents(first: 1) { edges { node { action targetType targetId actorUser { id } actorToken { id } detail } } } } }",
            Value::Null,
        )
        .await;
    let node = &answer.body["data"]["organization"]["auditEvents"]["edges"][0]["node"];
    let detail: Value = serde_json::from_str(node["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["failedAttempts"], 10);
    assert!(detail["failingSince"].is_string());
    assert_eq!(
        node,
        &json!({
            "action": "webhook.parked",
            "targetType": "webhook",
            "targetId": id,
            "actorUser": null,
            "actorToken": null,
            "detail": node["detail"],
        })
    );
    // Nothing more is queued for it.
    announce(&app, "while parked").await;
    assert_eq!(deliveries_of(&app, hook).await.len(), 1);

    // Resumed by its owner, with a clean record: the next failure does
    // not park it again.
    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation($id: ID!) { updateWebhook(id: $id, input: {active: true}) { id active parkedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        answer.body,
        json!({ "data": { "updateWebhook": { "id": id, "active": true, "parkedAt": null } } })
    );
    announce(&app, "after resuming").await;
    eventually("the next attempt recorded", || async {
        (stored(&app, hook).await.failures_in_a_row == 1).then_some(())
    })
    .await;
    assert_eq!(
        listed(&app).await,
        json!({ "id": id, "active": true, "parkedAt": null })
    );
}

#[tokio::test]
async fn a_delivered_attempt_clears_the_failures() {
    let app = spawn_sender().await;
    let id = create_ok(&app, &receiver(204).await, &["token.created"]).await;
    let hook: Uuid = id.parse().unwrap();
    failing_for_a_day(&app, hook).await;
    announce(&app, "first").await;

    eventually("the delivery", || async {
        let rows = deliveries_of(&app, hook).await;
        (rows.first()?.status == webhook_delivery::DeliveryStatus::Delivered).then_some(())
    })
    .await;
    let record = stored(&app, hook).await;
    assert_eq!((record.failures_in_a_row, record.failing_since), (0, None));
    assert_eq!(
        listed(&app).await,
        json!({ "id": id, "active": true, "parkedAt": null })
    );
}
