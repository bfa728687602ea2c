//! Delivering the outbox: a background task per instance claims due
//! deliveries fairly ([`claim`]: at most 2 in flight per webhook,
//! organizations in turn), POSTs each signed payload to its webhook, records
//! the attempt and either marks the delivery `DELIVERED` or schedules the
//! next attempt ([`schedule`](super::schedule)) until it has `FAILED`.
//!
//! It runs apart from the requests: a receiver that is down or slow holds
//! one of [`MAX_IN_FLIGHT`] slots for at most the request timeout, never a
//! GraphQL request. The client follows no redirect, uses no proxy from the
//! environment and connects only to public addresses ([`resolver`](super::resolver)).
//! Delivery is at least once: a receiver dedupes by `webhook-id`, the
//! delivery's id, the same on every attempt.

pub mod attempt;
pub mod claim;

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use reqwest::{header, redirect::Policy};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::Expr,
};
use tokio::{task::JoinSet, time::MissedTickBehavior};
use url::Url;
use uuid::Uuid;

use self::{
    attempt::{Attempt, Next, describe, next},
    claim::Claimed,
};
use super::{
    health,
    resolver::{PublicResolver, check_target},
    seal::SealingKey,
    signature::SigningKey,
};
use crate::{
    entity::{
        webhook, webhook_attempt,
        webhook_delivery::{self, DeliveryStatus},
    },
    error::Error,
};

/// How often the outbox is looked at for due deliveries.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Deliveries one instance sends at once.
pub const MAX_IN_FLIGHT: usize = 16;

/// The longest a receiver may take to answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a claim lasts by default (`--webhook-lease`).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// The `user-agent` of every delivery.
pub const USER_AGENT: &str = "lynk-webhooks";

/// What the sender needs besides the database.
#[derive(Clone, Debug)]
pub struct SenderSettings {
    /// Opens the webhooks' sealed signing secrets.
    pub key: SealingKey,
    /// Deliver to `http` and non-public addresses (tests only).
    pub allow_private: bool,
    /// How long a claimed delivery belongs to this sender.
    pub lease: Duration,
}

/// The wait for a receiver's answer under `lease`: at most
/// [`REQUEST_TIMEOUT`], and half the lease, so a claim always outlives its
/// request and the recording of its outcome.
pub fn request_timeout(lease: Duration) -> Duration {
    REQUEST_TIMEOUT.min(lease / 2)
}

/// The outbox's sender for one instance.
pub struct Sender {
    db: DatabaseConnection,
    settings: SenderSettings,
    client: reqwest::Client,
}

impl Sender {
    /// A sender on `db`; fails only if the HTTP client cannot be built.
    pub fn new(db: DatabaseConnection, settings: SenderSettings) -> Result<Sender, Error> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(PublicResolver {
                allow_private: settings.allow_private,
            }))
            .timeout(request_timeout(settings.lease))
            .build()
            .map_err(Error::internal)?;
        Ok(Sender {
            db,
            settings,
            client,
        })
    }

    /// Sends due deliveries until `stop` completes, then waits for the
    /// ones in flight (each bounded by the request timeout) so that their
    /// outcome is recorded.
    pub async fn run_until(self, stop: impl Future<Output = ()>) {
        let sender = Arc::new(self);
        let mut in_flight = JoinSet::new();
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(stop);
        // The last claim took all it could: more may be due.
        let mut more = false;
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = poll.tick() => more = sender.start_due(&mut in_flight).await,
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if more {
                        more = sender.start_due(&mut in_flight).await;
                    }
                }
            }
        }
        while in_flight.join_next().await.is_some() {}
    }

    /// Claims what is due, as many as there are free slots, and starts
    /// sending each; returns whether every free slot was filled.
    async fn start_due(self: &Arc<Self>, in_flight: &mut JoinSet<()>) -> bool {
        let free = MAX_IN_FLIGHT.saturating_sub(in_flight.len());
        let now = Utc::now();
        let lease =
            chrono::Duration::from_std(self.settings.lease).unwrap_or(chrono::Duration::MAX);
        let locked_until = now.checked_add_signed(lease).unwrap_or(now);
        let limit = u32::try_from(free).unwrap_or(u32::MAX);
        let claimed = match claim::claim(&self.db, now, locked_until, limit).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(error = ?err, "claiming webhook deliveries failed");
                return false;
            }
        };
        if claimed.is_empty() {
            return false;
        }
        let full = claimed.len() == free;
        let hooks = match self.webhooks(&claimed).await {
            Ok(hooks) => hooks,
            Err(err) => {
                // The claims lapse with their lease and are taken again.
                tracing::warn!(error = ?err, "reading webhooks to deliver to failed");
                return false;
            }
        };
        for delivery in claimed {
            let hook = hooks.get(&delivery.webhook_id).cloned();
            let sender = Arc::clone(self);
            in_flight.spawn(async move { sender.deliver(delivery, hook).await });
        }
        full
    }

    async fn webhooks(&self, claimed: &[Claimed]) -> Result<HashMap<Uuid, webhook::Model>, Error> {
        let ids: Vec<Uuid> = claimed.iter().map(|delivery| delivery.webhook_id).collect();
        Ok(webhook::Entity::find()
            .filter(webhook::Column::Id.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|hook| (hook.id, hook))
            .collect())
    }

    /// One attempt of `delivery` to `hook`, recorded.
    async fn deliver(&self, delivery: Claimed, hook: Option<webhook::Model>) {
        let attempted_at = Utc::now();
        let started = std::time::Instant::now();
        // A disabled webhook receives nothing, now or when re-enabled; a
        // deleted one normally takes its deliveries with it.
        let (outcome, sent_to) = match &hook {
            Some(hook) if hook.active => (self.send(&delivery, hook).await, Some(hook)),
            Some(_) => (Attempt::last("webhook is disabled"), None),
            None => (Attempt::last("webhook was deleted"), None),
        };
        let duration = started.elapsed();
        if let Err(err) = self
            .record(&delivery, &outcome, sent_to, attempted_at, duration)
            .await
        {
            // The claim lapses with its lease; the delivery is sent again.
            tracing::warn!(error = ?err, delivery = %delivery.id, "recording a webhook attempt failed");
        }
    }

    /// POSTs the signed payload; never follows a redirect.
    async fn send(&self, delivery: &Claimed, hook: &webhook::Model) -> Attempt {
        let allow_private = self.settings.allow_private;
        let url = match Url::parse(&hook.url) {
            Ok(url) => url,
            Err(_) => return Attempt::failed("url is not a valid URL"),
        };
        if let Err(refused) = check_target(&url, allow_private) {
            return Attempt::failed(refused);
        }
        let Some(secret) = self.settings.key.open(hook.id, &hook.secret_sealed) else {
            return Attempt::failed(
                "the signing secret cannot be opened with this server's --encryption-key",
            );
        };
        let Some(signing) = SigningKey::from_secret(&secret) else {
            return Attempt::failed("the signing secret is not a whsec_ base64 key");
        };
        let id = delivery.id.to_string();
        let timestamp = Utc::now().timestamp();
        let signature = signing.sign(&id, timestamp, delivery.payload.as_bytes());
        let sent = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            .await;
        match sent {
            // The answer's body is not read: only its status counts.
            Ok(response) => Attempt::answered(response.status()),
            Err(err) => Attempt::failed(describe(&err, request_timeout(self.settings.lease))),
        }
    }

    /// The attempt's row, the delivery's next state and, when it was sent
    /// to `sent_to`, that webhook's health ([`health`]), together. The
    /// delivery is updated only while this claim holds it (`attempts` is
    /// this attempt's number), so a sender whose lease lapsed cannot undo
    /// a later sender's outcome.
    async fn record(
        &self,
        delivery: &Claimed,
        outcome: &Attempt,
        sent_to: Option<&webhook::Model>,
        attempted_at: DateTime<Utc>,
        duration: Duration,
    ) -> Result<(), Error> {
        let now = Utc::now();
        let jitter = rand::random::<f64>() * 2.0 - 1.0;
        let next = next(delivery.attempts, outcome, now, jitter);
        let status = outcome.status.map(i32::from);
        let txn = self.db.begin().await?;
        webhook_attempt::Entity::insert(webhook_attempt::ActiveModel {
            id: Set(Uuid::now_v7()),
            delivery_id: Set(delivery.id),
            attempted_at: Set(attempted_at),
            response_status: Set(status),
            error: Set(outcome.error.clone()),
            duration_ms: Set(i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)),
        })
        .exec_without_returning(&txn)
        .await?;
        let update = webhook_delivery::Entity::update_many()
            .col_expr(
                webhook_delivery::Column::LockedUntil,
                Expr::value(None::<DateTime<Utc>>),
            )
            .col_expr(
                webhook_delivery::Column::ResponseStatus,
                Expr::value(status),
            )
            .col_expr(
                webhook_delivery::Column::LastError,
                Expr::value(outcome.error.clone()),
            );
        let update = match next {
            Next::Delivered => update
                .col_expr(
                    webhook_delivery::Column::Status,
                    Expr::value(DeliveryStatus::Delivered),
                )
                .col_expr(webhook_delivery::Column::DeliveredAt, Expr::value(now)),
            Next::RetryAt(at) => {
                update.col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(at))
            }
            Next::Failed => update.col_expr(
                webhook_delivery::Column::Status,
                Expr::value(DeliveryStatus::Failed),
            ),
        };
        let updated = update
            .filter(webhook_delivery::Column::Id.eq(delivery.id))
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending))
            .filter(webhook_delivery::Column::Attempts.eq(delivery.attempts))
            .exec(&txn)
            .await?;
        if let Some(hook) = sent_to {
            health::record_attempt(&txn, hook, outcome.is_success(), attempted_at, now).await?;
        }
        txn.commit().await?;
        if updated.rows_affected == 0 {
            tracing::warn!(delivery = %delivery.id, "a webhook delivery's claim lapsed before its attempt was recorded");
            return Ok(());
        }
        let succeeded = if outcome.is_success() {
            "success"
        } else {
            "failure"
        };
        ::metrics::counter!(WEBHOOK_ATTEMPTS, "outcome" => succeeded, "status" => next_label(next))
            .increment(1);
        if !outcome.is_success() {
            // The URL is left out: its query string may carry a secret.
            tracing::warn!(
                delivery = %delivery.id,
                webhook = %delivery.webhook_id,
                attempt = delivery.attempts,
                response_status = ?outcome.status,
                error = outcome.error.as_deref().unwrap_or(""),
                next_attempt_at = %match next {
                    Next::RetryAt(at) => at.to_rfc3339(),
                    _ => "none: failed for good".to_owned(),
                },
                "webhook attempt failed"
            );
        }
        Ok(())
    }
}

/// Counter of recorded attempts, by `outcome` (success, failure) and the
/// `status` they left the delivery in (delivered, retrying, failed);
/// described and served by `metrics`.
pub const WEBHOOK_ATTEMPTS: &str = "lynk_webhook_attempts_total";

/// The delivery status a [`Next`] leaves (the metric's label).
fn next_label(next: Next) -> &'static str {
    match next {
        Next::Delivered => "delivered",
        Next::RetryAt(_) => "retrying",
        Next::Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_ends_well_within_the_lease() {
        assert_eq!(request_timeout(DEFAULT_LEASE), REQUEST_TIMEOUT);
        assert_eq!(
            request_timeout(Duration::from_secs(4)),
            Duration::from_secs(2)
        );
    }
}
