//! Writing audit events, always inside the transaction of the change they
//! record.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use uuid::Uuid;

use crate::{auth::Principal, entity::audit_event, error::Error};

/// Who did it, and from where.
#[derive(Clone, Debug, Default)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub token_id: Option<Uuid>,
    pub ip: Option<String>,
}

impl Actor {
    /// The actor behind an authenticated request.
    pub fn of(principal: &Principal, ip: Option<String>) -> Actor {
        Actor {
            user_id: principal.user_id,
            token_id: Some(principal.token_id),
            ip,
        }
    }
}

/// One event to record.
#[derive(Clone, Debug)]
pub struct AuditRecord<'a> {
    pub organization_id: Option<Uuid>,
    pub action: &'static str,
    pub actor: &'a Actor,
    pub target_type: Option<&'static str>,
    pub target_id: Option<Uuid>,
}

/// Inserts the event.
pub async fn record(
    conn: &impl ConnectionTrait,
    event: AuditRecord<'_>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    insert(conn, event, None, now).await
}

/// Inserts the event with a detail its columns cannot hold (compact JSON,
/// shown as `AuditEvent.detail`).
pub async fn record_with_detail(
    conn: &impl ConnectionTrait,
    event: AuditRecord<'_>,
    detail: String,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    insert(conn, event, Some(detail), now).await
}

async fn insert(
    conn: &impl ConnectionTrait,
    event: AuditRecord<'_>,
    detail: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    audit_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(event.organization_id),
        action: Set(event.action.to_owned()),
        actor_user_id: Set(event.actor.user_id),
        actor_token_id: Set(event.actor.token_id),
        target_type: Set(event.target_type.map(str::to_owned)),
        target_id: Set(event.target_id),
        ip: Set(event.actor.ip.clone()),
        detail: Set(detail),
        created_at: Set(now),
    }
    .insert(conn)
    .await?;
    Ok(())
}
