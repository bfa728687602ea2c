//! Who asks a service for a change: the authenticated principal, whose
//! permissions and organization decide, and the actor the audit log names.

use uuid::Uuid;

use crate::{auth::Principal, service::audit::Actor};

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
}
