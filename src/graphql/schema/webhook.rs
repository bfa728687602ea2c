//! Webhooks (docs/DESIGN.md §8.4): the `Webhook` and `WebhookDelivery` types, the
//! list behind `Organization.webhooks`, and the mutations that create,
//! change and delete them. The resolvers translate; `service::webhook`
//! decides.

use async_graphql::{Context, Enum, ID, InputObject, Object, connection::Connection};
use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

use super::{
    context::ContextExt,
    limits::count_resolved,
    names::Names,
    pagination::{Page, connection_complexity},
    role::parse_id,
    scalar::Timestamp,
};
use crate::{
    auth::Permission,
    entity::{webhook, webhook_delivery},
    error::Error,
    service::{
        scoped::list_reachable,
        webhook::{self as webhook_service, NewWebhook, WebhookChanges},
    },
    webhook::event,
};

/// An HTTPS endpoint of the organization that is sent the events it
/// subscribed to, signed with its secret (Standard Webhooks).
pub struct Webhook(pub webhook::Model);

/// An HTTPS endpoint of the organization that is sent the events it
/// subscribed to, signed with its secret (Standard Webhooks).
#[Object]
impl Webhook {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Where deliveries are `POST`ed.
    async fn url(&self) -> &str {
        &self.0.url
    }

    /// The event names it is sent, e.g. `token.created`.
    async fn events(&self) -> Names {
        Names(
            event::from_storage(&self.0.events)
                .into_iter()
                .map(event::EventType::name)
                .collect(),
        )
    }

    /// An inactive webhook is sent nothing, and events are not queued
    /// for it meanwhile. Paused with `updateWebhook`, or parked by lynk
    /// (`parkedAt`).
    async fn active(&self) -> bool {
        self.0.active
    }

    /// When lynk parked this webhook because it kept failing: every
    /// attempt to deliver to it had failed for 24 hours, at least 10 in a
    /// row. A parked webhook is inactive (nothing is queued for it, and
    /// its pending deliveries fail unsent) until `updateWebhook(input:
    /// {active: true})` resumes it; the audit log records it as
    /// `webhook.parked`. `null` when it is not parked.
    async fn parked_at(&self) -> Option<Timestamp> {
        self.0.parked_at.map(Timestamp)
    }

    /// `whsec_` and the first and last 4 characters of the signing
    /// secret, to tell secrets apart; the secret itself is shown only by
    /// `createWebhook`.
    async fn secret_hint(&self) -> &str {
        &self.0.secret_hint
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }

    /// Events queued for this webhook, newest first; only those of events
    /// the caller may read (`token.*` needs `tokens:read`, `member.*`
    /// `members:read`, `sbom.uploaded` `sboms:read`), and the test events
    /// of `sendTestWebhookEvent`.
    #[graphql(complexity = "connection_complexity(first, child_complexity)")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, WebhookDelivery>, Error> {
        let page = Page::new(first, after)?;
        let caller = ctx.principal()?;
        let mut readable = event::readable_names(caller.permissions);
        readable.push(webhook_service::TEST_EVENT);
        let select = list_reachable::<webhook_delivery::Entity>(caller)
            .filter(webhook_delivery::Column::WebhookId.eq(self.0.id))
            .filter(webhook_delivery::Column::Event.is_in(readable));
        let rows = page
            .apply_newest_first(select, webhook_delivery::Column::Id)
            .all(ctx.db()?)
            .await?;
        page.connection(ctx, rows, |d| d.id, WebhookDelivery)
    }
}

/// Where a delivery stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "webhook_delivery::DeliveryStatus")]
pub enum WebhookDeliveryStatus {
    /// Queued, or waiting for its next attempt.
    Pending,
    /// The receiver answered with a 2xx.
    Delivered,
    /// Every attempt failed; it will not be sent again.
    Failed,
}

/// One event for one webhook, and how sending it went.
pub struct WebhookDelivery(pub webhook_delivery::Model);

/// One event for one webhook, and how sending it went.
#[Object]
impl WebhookDelivery {
    /// Also the `webhook-id` header, the same on every attempt: receivers
    /// deduplicate on it.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The event name, e.g. `token.created`.
    async fn event(&self) -> &str {
        &self.0.event
    }

    async fn status(&self) -> WebhookDeliveryStatus {
        self.0.status.into()
    }

    /// The HTTP status of the last response, if any came.
    async fn response_status(&self) -> Option<i32> {
        self.0.response_status
    }

    /// Attempts made so far (since it was last queued again with
    /// `redeliverWebhookDelivery`).
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }

    /// Why the last attempt failed when no HTTP answer came: e.g. `no
    /// answer within 10s`, a refused address, a connection error. Null
    /// when the receiver answered (see `responseStatus`) or nothing was
    /// tried yet.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    /// When the next attempt runs, while the delivery is `PENDING`; null
    /// once it was delivered or failed for good.
    async fn next_attempt_at(&self) -> Option<Timestamp> {
        (self.0.status == webhook_delivery::DeliveryStatus::Pending)
            .then(|| self.0.next_attempt_at.into())
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }

    async fn delivered_at(&self) -> Option<Timestamp> {
        self.0.delivered_at.map(Timestamp)
    }
}

/// The list behind `Organization.webhooks`, oldest first.
pub async fn webhooks_of(ctx: &Context<'_>, organization_id: Uuid) -> Result<Vec<Webhook>, Error> {
    let rows = webhook_service::of_organization(ctx.db()?, organization_id).await?;
    count_resolved(ctx, rows.len())?;
    Ok(rows.into_iter().map(Webhook).collect())
}

/// `createWebhook`'s input.
#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// An `https` URL on a public address, e.g. `https://hooks.example.com/lynk`.
    pub url: String,
    /// Event names to send, e.g. `["token.created", "token.revoked"]`.
    pub events: Vec<String>,
}

/// `updateWebhook`'s input; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateWebhookInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// A webhook just created, with its signing secret.
pub struct CreatedWebhook {
    webhook: webhook::Model,
    secret: String,
}

/// A webhook just created, with its signing secret.
#[Object]
impl CreatedWebhook {
    async fn webhook(&self) -> Webhook {
        Webhook(self.webhook.clone())
    }

    /// The signing secret (`whsec_…`), shown this once: store it where the
    /// receiver verifies signatures. lynk keeps it sealed and never shows
    /// it again.
    async fn secret(&self) -> &str {
        &self.secret
    }
}

/// `createWebhook`, `updateWebhook`, `deleteWebhook`, and sending a test
/// event or a failed delivery again.
#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Registers a webhook (needs `webhooks:write`); the answer holds its
    /// signing secret, shown once. At most 20 per organization.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookInput,
    ) -> Result<CreatedWebhook, Error> {
        let caller = ctx.authorized(Permission::WebhooksWrite)?;
        let new = NewWebhook {
            url: input.url,
            events: input.events,
        };
        let created = webhook_service::create(ctx.app()?, &caller, new).await?;
        Ok(CreatedWebhook {
            webhook: created.webhook,
            secret: created.secret,
        })
    }

    /// Changes a webhook's URL or events, or pauses and resumes it (needs
    /// `webhooks:write`).
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateWebhookInput,
    ) -> Result<Webhook, Error> {
        let caller = ctx.authorized(Permission::WebhooksWrite)?;
        let webhook_id = parse_id(&id, "webhook")?;
        let changes = WebhookChanges {
            url: input.url,
            events: input.events,
            active: input.active,
        };
        let model = webhook_service::update(ctx.app()?, &caller, webhook_id, changes).await?;
        Ok(Webhook(model))
    }

    /// Queues a `webhook.test` delivery for the webhook now (needs
    /// `webhooks:write`), whatever events it subscribes to: its body is
    /// `{"type": "webhook.test", "timestamp", "data": {"webhook": {"id"},
    /// "message"}}`, signed as any other. A paused webhook is a `CONFLICT`.
    async fn send_test_webhook_event(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<WebhookDelivery, Error> {
        let caller = ctx.authorized(Permission::WebhooksWrite)?;
        let webhook_id = parse_id(&id, "webhook")?;
        let delivery = webhook_service::send_test(ctx.app()?, &caller, webhook_id).await?;
        Ok(WebhookDelivery(delivery))
    }

    /// Queues a `FAILED` delivery again, now, with a new round of attempts
    /// and the same `webhook-id` (needs `webhooks:write`). A pending or
    /// delivered one, or one of a paused webhook, is a `CONFLICT`.
    async fn redeliver_webhook_delivery(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<WebhookDelivery, Error> {
        let caller = ctx.authorized(Permission::WebhooksWrite)?;
        let delivery_id = parse_id(&id, "webhook delivery")?;
        let delivery = webhook_service::redeliver(ctx.app()?, &caller, delivery_id).await?;
        Ok(WebhookDelivery(delivery))
    }

    /// Deletes a webhook and its deliveries (needs `webhooks:write`).
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> Result<ID, Error> {
        let caller = ctx.authorized(Permission::WebhooksWrite)?;
        let webhook_id = parse_id(&id, "webhook")?;
        webhook_service::delete(ctx.app()?, &caller, webhook_id).await?;
        Ok(ID(webhook_id.to_string()))
    }
}
