//! The webhook events of token changes (`token.created`, `token.revoked`,
//! `token.rotated`), queued in the change's transaction. Sessions are a
//! user's sign-ins, not credentials an organization manages: they never
//! cause an event.

use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::{
    auth::CredentialKind,
    entity::token,
    error::Error,
    service::audit::Actor,
    webhook::{data, event::EventType, outbox},
};

/// Queues `event` for `token` (a rotation's successor), with `previous`
/// (the token it replaced) for `token.rotated`.
pub async fn announce(
    conn: &impl ConnectionTrait,
    event: EventType,
    token: &token::Model,
    previous: Option<&token::Model>,
    actor: &Actor,
) -> Result<(), Error> {
    if token.kind == CredentialKind::Session {
        return Ok(());
    }
    let Some(organization_id) = token.organization_id else {
        return Ok(());
    };
    let mut payload = json!({
        "token": data::token(token),
        "actor": data::actor(actor),
    });
    if let Some(previous) = previous {
        payload["previous"] = data::token(previous);
    }
    outbox::announce(conn, organization_id, event, payload).await?;
    Ok(())
}
