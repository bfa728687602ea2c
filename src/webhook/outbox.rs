//! Announcing an event: one `webhook_delivery` row per active webhook of
//! the organization that subscribed to it, written on the connection the
//! caller passes, which is the transaction of the change that causes the
//! event. So an event is announced if and only if its change commits; the
//! sender (`webhook::sender`) delivers the rows afterwards.

use chrono::Utc;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use uuid::Uuid;

use super::event::{self, EventType};
use crate::{
    entity::{
        webhook,
        webhook_delivery::{self, DeliveryStatus},
    },
    error::Error,
};

/// Queues `event` with `data` for every active webhook of `organization_id`
/// subscribed to it; returns how many deliveries were queued. Call it
/// inside the change's transaction.
pub async fn announce<C: ConnectionTrait>(
    db: &C,
    organization_id: Uuid,
    event: EventType,
    data: Value,
) -> Result<usize, Error> {
    let hooks = webhook::Entity::find()
        .filter(webhook::Column::OrganizationId.eq(organization_id))
        .filter(webhook::Column::Active.eq(true))
        .all(db)
        .await?;
    let subscribed: Vec<_> = hooks
        .into_iter()
        .filter(|hook| event::from_storage(&hook.events).contains(&event))
        .collect();
    if subscribed.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    let body = event::body(event, now, data);
    let rows = subscribed.iter().map(|hook| webhook_delivery::ActiveModel {
        id: Set(Uuid::now_v7()),
        webhook_id: Set(hook.id),
        organization_id: Set(organization_id),
        event: Set(event.name().to_owned()),
        payload: Set(body.clone()),
        status: Set(DeliveryStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(now),
        locked_until: Set(None),
        response_status: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        delivered_at: Set(None),
    });
    webhook_delivery::Entity::insert_many(rows).exec(db).await?;
    Ok(subscribed.len())
}
