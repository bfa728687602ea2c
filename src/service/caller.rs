//! Who asks a service for a change: the authenticated principal, whose
//! permissions and organization decide, and the actor the audit log names.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::{
    auth::Principal,
    error::Error,
    service::audit::{self, Actor, AuditAction, AuditRecord},
};

/// An authenticated caller of a domain operation.
#[derive(Clone, Debug)]
pub struct Caller<'a> {
    pub principal: &'a Principal,
    pub actor: Actor,
}

impl<'a> Caller<'a> {
    /// `principal`, calling from `ip`.
    pub fn new(principal: &'a Principal, ip: Option<String>) -> Caller<'a> {
        Caller {
            principal,
            actor: Actor::of(principal, ip),
        }
    }

    /// The organization the caller acts in.
    pub fn organization_id(&self) -> Uuid {
        self.principal.organization_id()
    }

    /// Records, inside the change's transaction, that the caller did
    /// `action` to `target` in its organization.
    pub async fn audit(
        &self,
        conn: &impl ConnectionTrait,
        action: AuditAction,
        target: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let event = AuditRecord::new(self.organization_id(), action, &self.actor, target);
        audit::record(conn, event, now).await
    }
}
