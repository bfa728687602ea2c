//! Webhooks (docs/DESIGN.md §8.4): registering an organization's endpoints, changing
//! and removing them. The signing secret is made here, handed back once
//! and stored only sealed under the server's key; URLs and event names are
//! checked by `webhook::address` and `webhook::event`. A webhook receives
//! events of every project, so a project-restricted credential never
//! manages one: it never holds `webhooks:*`
//! (`auth::principal::effective_permissions`).

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, Set, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    database,
    entity::{
        webhook,
        webhook_delivery::{self, DeliveryStatus},
    },
    error::Error,
    service::{
        audit::{self, AuditAction, AuditRecord},
        caller::Caller,
        scoped::{Hold, delete_found, find_in_organization, hold_reachable},
    },
    state::AppState,
    webhook::{address, event, seal::SealingKey, secret},
};

/// Most webhooks one organization may have: each event is queued once
/// per subscribed webhook, so this bounds the work one change causes.
pub const MAX_WEBHOOKS: u64 = 20;

/// What `createWebhook` is given.
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<String>,
}

/// What `updateWebhook` changes; `None` leaves a field as it is.
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// A webhook just created, with its signing secret (the only copy
/// outside the sealed column).
pub struct CreatedWebhook {
    pub webhook: webhook::Model,
    pub secret: String,
}

// Not derived: the secret stays out of logs.
impl std::fmt::Debug for CreatedWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedWebhook")
            .field("webhook", &self.webhook)
            .finish_non_exhaustive()
    }
}

fn check_url(app: &AppState, url: &str) -> Result<String, Error> {
    address::check_url(url, app.allow_private_webhook_urls)
        .map(String::from)
        .map_err(Error::BadUserInput)
}

/// The events as stored, once they are known names that the caller may
/// receive: a webhook carries what it subscribes to out of lynk, so
/// `token.*` needs `tokens:read`, `member.*` `members:read` and
/// `sbom.uploaded` `sboms:read`, as reading them through the API would.
fn check_events(caller: &Caller<'_>, names: &[String]) -> Result<String, Error> {
    let events = event::parse_names(names).map_err(Error::BadUserInput)?;
    if let Some(permission) = event::missing_permission(&events, caller.principal.permissions) {
        return Err(Error::MissingPermission(permission.name()));
    }
    Ok(event::to_storage(&events))
}

/// `createWebhook`: an active webhook of the caller's organization with a
/// new signing secret. The organization may have [`MAX_WEBHOOKS`].
pub async fn create(
    app: &AppState,
    caller: &Caller<'_>,
    new: NewWebhook,
) -> Result<CreatedWebhook, Error> {
    let url = check_url(app, &new.url)?;
    let events = check_events(caller, &new.events)?;
    let key: &SealingKey = &app.encryption_key;
    let organization_id = caller.organization_id();
    let now = Utc::now();
    // Under the organization's lock: two creations must not both pass
    // the count.
    let txn = database::begin_organization_write(&app.db, organization_id).await?;
    let count = webhook::Entity::find()
        .filter(webhook::Column::OrganizationId.eq(organization_id))
        .count(&txn)
        .await?;
    if count >= MAX_WEBHOOKS {
        return Err(Error::conflict(format!(
            "this organization already has {MAX_WEBHOOKS} webhooks, the most it may have; \
             delete one, or subscribe an existing one to more events"
        )));
    }
    let id = Uuid::now_v7();
    let signing_secret = secret::new_secret();
    let model = webhook::ActiveModel {
        id: Set(id),
        organization_id: Set(organization_id),
        url: Set(url),
        events: Set(events),
        active: Set(true),
        secret_sealed: Set(key.seal(id, &signing_secret)),
        secret_hint: Set(secret::hint(&signing_secret)),
        created_by_user_id: Set(caller.principal.user_id),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    caller
        .audit(&txn, AuditAction::WebhookCreated, model.id, now)
        .await?;
    txn.commit().await?;
    Ok(CreatedWebhook {
        webhook: model,
        secret: signing_secret,
    })
}

/// `updateWebhook`: changes a webhook's URL, events or whether it is
/// active. An inactive webhook is sent nothing; events that happen while
/// it is inactive are not queued for it.
pub async fn update(
    app: &AppState,
    caller: &Caller<'_>,
    webhook_id: Uuid,
    changes: WebhookChanges,
) -> Result<webhook::Model, Error> {
    let url = changes.url.map(|url| check_url(app, &url)).transpose()?;
    let events = changes
        .events
        .map(|names| check_events(caller, &names))
        .transpose()?;
    let now = Utc::now();
    let txn = database::begin_write(&app.db).await?;
    let model =
        hold_reachable::<webhook::Entity>(&txn, caller.principal, webhook_id, Hold::Exclusive)
            .await?;
    // Whoever changes a webhook decides where its events go from now
    // on, so they must be allowed to receive all of them, those it
    // already had included.
    let receives = event::from_storage(events.as_deref().unwrap_or(&model.events));
    if let Some(permission) = event::missing_permission(&receives, caller.principal.permissions) {
        return Err(Error::MissingPermission(permission.name()));
    }
    let mut active = model.clone().into_active_model();
    // A new receiver, or its owner resuming it, starts with a clean
    // record; resuming also ends a parking (`webhook::health`).
    if url.is_some() || changes.active == Some(true) {
        active.failing_since = Set(None);
        active.failures_in_a_row = Set(0);
    }
    if changes.active == Some(true) {
        active.parked_at = Set(None);
    }
    if let Some(url) = url {
        active.url = Set(url);
    }
    if let Some(events) = events {
        active.events = Set(events);
    }
    if let Some(enabled) = changes.active {
        active.active = Set(enabled);
    }
    if !active.is_changed() {
        return Ok(model);
    }
    let model = active.update(&txn).await?;
    caller
        .audit(&txn, AuditAction::WebhookUpdated, model.id, now)
        .await?;
    txn.commit().await?;
    Ok(model)
}

/// `deleteWebhook`: removes a webhook and, with it, its deliveries. As
/// for changing it, the caller must be allowed to receive every event it
/// is sent: deleting one silences them.
pub async fn delete(app: &AppState, caller: &Caller<'_>, webhook_id: Uuid) -> Result<(), Error> {
    let now = Utc::now();
    let txn = database::begin_write(&app.db).await?;
    let model =
        find_in_organization::<webhook::Entity>(&txn, caller.organization_id(), webhook_id).await?;
    let receives = event::from_storage(&model.events);
    if let Some(permission) = event::missing_permission(&receives, caller.principal.permissions) {
        return Err(Error::MissingPermission(permission.name()));
    }
    delete_found::<webhook::Entity, _>(&txn, model).await?;
    caller
        .audit(&txn, AuditAction::WebhookDeleted, webhook_id, now)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// An organization's webhooks, oldest first.
pub async fn of_organization(
    conn: &impl ConnectionTrait,
    organization_id: Uuid,
) -> Result<Vec<webhook::Model>, Error> {
    Ok(webhook::Entity::find()
        .filter(webhook::Column::OrganizationId.eq(organization_id))
        .order_by_asc(webhook::Column::Id)
        .all(conn)
        .await?)
}

/// The event name of a test delivery (`sendTestWebhookEvent`): not an
/// event anyone subscribes to, sent only when asked for.
pub const TEST_EVENT: &str = "webhook.test";

/// `sendTestWebhookEvent`: queues a `webhook.test` delivery for the
/// webhook now, whatever events it subscribes to, so its owner can see the
/// receiver answer (or why it does not). A paused or parked webhook is a
/// `CONFLICT`: the sender would not send to it.
pub async fn send_test(
    app: &AppState,
    caller: &Caller<'_>,
    webhook_id: Uuid,
) -> Result<webhook_delivery::Model, Error> {
    // The delivery and its audit record, together, with the webhook held
    // so that a deletion racing this one cannot leave it pointing nowhere.
    let txn = database::begin_write(&app.db).await?;
    let model =
        hold_reachable::<webhook::Entity>(&txn, caller.principal, webhook_id, Hold::Shared).await?;
    if !model.active {
        return Err(Error::conflict(
            "this webhook is paused, so nothing is sent to it; resume it with \
             updateWebhook(input: {active: true}) first",
        ));
    }
    let now = Utc::now();
    let data = serde_json::json!({
        "webhook": { "id": model.id.to_string() },
        "message": "A test event, sent because you asked for one.",
    });
    let body = serde_json::json!({
        "type": TEST_EVENT,
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string();
    let delivery = webhook_delivery::ActiveModel {
        id: Set(Uuid::now_v7()),
        webhook_id: Set(model.id),
        organization_id: Set(model.organization_id),
        event: Set(TEST_EVENT.to_owned()),
        payload: Set(body),
        status: Set(DeliveryStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(now),
        locked_until: Set(None),
        response_status: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        delivered_at: Set(None),
    }
    .insert(&txn)
    .await?;
    let detail = serde_json::json!({ "deliveryId": delivery.id.to_string() }).to_string();
    audit::record_with_detail(
        &txn,
        AuditRecord::new(
            caller.organization_id(),
            AuditAction::WebhookTestSent,
            &caller.actor,
            model.id,
        ),
        detail,
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(delivery)
}

/// `redeliverWebhookDelivery`: queues a failed delivery again, now, with a
/// new round of attempts (`attempts` counts from 0 again; the attempts
/// already made stay recorded). Its `webhook-id` stays the same, as for
/// any retry. Only a `FAILED` delivery of an active webhook: a pending one
/// is already queued and a delivered one was acknowledged (its receiver
/// would drop a repeat of that `webhook-id`), each a `CONFLICT`. A
/// delivery of an event the caller may not read is `NOT_FOUND`, as it is
/// absent from `Webhook.deliveries`. Of concurrent redeliveries, one wins.
pub async fn redeliver(
    app: &AppState,
    caller: &Caller<'_>,
    delivery_id: Uuid,
) -> Result<webhook_delivery::Model, Error> {
    let not_found = || Error::NotFound("webhook delivery");
    let delivery = webhook_delivery::Entity::find_by_id(delivery_id)
        .filter(webhook_delivery::Column::OrganizationId.eq(caller.organization_id()))
        .one(&app.db)
        .await?
        .ok_or_else(not_found)?;
    let readable = event::readable_names(caller.principal.permissions);
    if delivery.event != TEST_EVENT && !readable.contains(&delivery.event.as_str()) {
        return Err(not_found());
    }
    match delivery.status {
        DeliveryStatus::Failed => {}
        DeliveryStatus::Pending => {
            return Err(Error::conflict(
                "this delivery is still pending: its next attempt is already scheduled \
                 (nextAttemptAt)",
            ));
        }
        DeliveryStatus::Delivered => {
            return Err(Error::conflict(
                "this delivery was delivered; its receiver acknowledged it, and would drop a \
                 repeat of its webhook-id",
            ));
        }
    }
    let hook = find_in_organization::<webhook::Entity>(
        &app.db,
        caller.organization_id(),
        delivery.webhook_id,
    )
    .await?;
    if !hook.active {
        return Err(Error::conflict(
            "this webhook is paused, so nothing is sent to it; resume it with \
             updateWebhook(input: {active: true}) first",
        ));
    }
    let now = Utc::now();
    // The new round and its audit record, together.
    let txn = database::begin_write(&app.db).await?;
    let queued = webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::Status,
            Expr::value(DeliveryStatus::Pending),
        )
        .col_expr(webhook_delivery::Column::Attempts, Expr::value(0))
        .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(now))
        .col_expr(
            webhook_delivery::Column::LockedUntil,
            Expr::value(None::<chrono::DateTime<Utc>>),
        )
        .filter(webhook_delivery::Column::Id.eq(delivery.id))
        .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Failed))
        .exec(&txn)
        .await?;
    if queued.rows_affected != 1 {
        return Err(Error::conflict(
            "this delivery was just queued again by another request",
        ));
    }
    let detail = serde_json::json!({
        "deliveryId": delivery.id.to_string(),
        "event": delivery.event,
    })
    .to_string();
    audit::record_with_detail(
        &txn,
        AuditRecord::new(
            caller.organization_id(),
            AuditAction::WebhookRedelivered,
            &caller.actor,
            hook.id,
        ),
        detail,
        now,
    )
    .await?;
    let queued = webhook_delivery::Entity::find_by_id(delivery.id)
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    txn.commit().await?;
    Ok(queued)
}
