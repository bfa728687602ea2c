//! The catalogs, each defined once in code and read from here by clients
//! (the console among them): `permissions` (with descriptions),
//! `auditActions` and `webhookEvents`.

use async_graphql::{Context, Object, SimpleObject};
use sea_orm::Iterable;

use super::limits::{count_resolved, list_complexity};
use crate::{auth, error::Error, service::audit::AuditAction, webhook::event::EventType};

/// One event a webhook can subscribe to.
#[derive(SimpleObject)]
pub struct WebhookEventType {
    /// The event's name, e.g. `token.created`.
    pub name: &'static str,
    /// What a webhook's creator must be able to read to subscribe to it.
    pub permission: &'static str,
}

/// One permission of the catalog.
#[derive(SimpleObject)]
pub struct Permission {
    /// `resource:action`, e.g. `sboms:write`.
    pub name: &'static str,
    pub description: &'static str,
}

/// `permissions`.
#[derive(Default)]
pub struct PermissionQuery;

#[Object]
impl PermissionQuery {
    /// Every permission a role can hold.
    #[graphql(complexity = "list_complexity(auth::Permission::ALL.len(), child_complexity)")]
    async fn permissions(&self, ctx: &Context<'_>) -> Result<Vec<Permission>, Error> {
        count_resolved(ctx, auth::Permission::ALL.len())?;
        Ok(auth::Permission::ALL
            .into_iter()
            .map(|p| Permission {
                name: p.name(),
                description: p.description(),
            })
            .collect())
    }

    /// Every action the audit log records, e.g. `token.revoked` (the
    /// values `auditEvents(action:)` filters on).
    #[graphql(complexity = "list_complexity(AuditAction::iter().len(), child_complexity)")]
    async fn audit_actions(&self, ctx: &Context<'_>) -> Result<Vec<&'static str>, Error> {
        count_resolved(ctx, AuditAction::iter().len())?;
        Ok(AuditAction::iter().map(AuditAction::as_str).collect())
    }

    /// Every event a webhook can subscribe to, in catalog order.
    #[graphql(complexity = "list_complexity(EventType::iter().len(), child_complexity)")]
    async fn webhook_events(&self, ctx: &Context<'_>) -> Result<Vec<WebhookEventType>, Error> {
        count_resolved(ctx, EventType::iter().len())?;
        Ok(EventType::iter()
            .map(|event| WebhookEventType {
                name: event.name(),
                permission: event.required_permission().name(),
            })
            .collect())
    }
}
