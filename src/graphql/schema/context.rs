//! Per-request data attached by the HTTP handler, and typed access to it
//! from resolvers (no `ctx.data().unwrap()`).

use std::{net::IpAddr, sync::Arc};

use async_graphql::Context;
use sea_orm::DatabaseConnection;

use super::limits::ResolvedObjects;
use crate::{
    auth::{Permission, Principal},
    error::Error,
    service::{audit::Actor, caller::Caller},
    state::AppState,
};

/// Who is calling and from where; resolved once by the handler.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// `None` only for public operations (`login`, `acceptInvitation`).
    /// Shared, because every object handed out carries who sees it.
    pub principal: Option<Arc<Principal>>,
    pub client_ip: Option<IpAddr>,
    /// The objects resolved so far, against the request's limit.
    pub resolved: ResolvedObjects,
}

impl RequestContext {
    /// The client's address as text, for the audit log and the rate
    /// limiters' keys (formatted only where it is needed).
    pub fn client_address(&self) -> Option<String> {
        self.client_ip.map(|ip| ip.to_string())
    }
}

/// Typed access to the request's data.
pub trait ContextExt {
    /// The shared state.
    fn app(&self) -> Result<&AppState, Error>;
    /// The database pool.
    fn db(&self) -> Result<&DatabaseConnection, Error> {
        Ok(&self.app()?.db)
    }
    /// The request's context.
    fn request(&self) -> Result<&RequestContext, Error>;
    /// The authenticated caller; `UNAUTHORIZED` on a public operation.
    fn principal(&self) -> Result<&Principal, Error> {
        self.request()?
            .principal
            .as_deref()
            .ok_or(Error::Unauthorized)
    }
    /// The caller as the viewer objects carry (see `auth::reach`);
    /// `UNAUTHORIZED` on a public operation.
    fn viewer(&self) -> Result<Arc<Principal>, Error> {
        self.request()?.principal.clone().ok_or(Error::Unauthorized)
    }
    /// The caller, after checking it holds `permission`.
    fn require(&self, permission: Permission) -> Result<&Principal, Error> {
        let principal = self.principal()?;
        principal.require(permission)?;
        Ok(principal)
    }
    /// The authenticated caller of a mutation, as services take it.
    fn caller(&self) -> Result<Caller<'_>, Error> {
        let request = self.request()?;
        let principal = request.principal.as_deref().ok_or(Error::Unauthorized)?;
        Ok(Caller::new(principal, request.client_address()))
    }
    /// The caller of a mutation, after checking it holds `permission`.
    fn authorized(&self, permission: Permission) -> Result<Caller<'_>, Error> {
        let caller = self.caller()?;
        caller.principal.require(permission)?;
        Ok(caller)
    }
    /// The caller as an audit actor.
    fn actor(&self) -> Result<Actor, Error> {
        let request = self.request()?;
        let ip = request.client_address();
        Ok(match &request.principal {
            Some(principal) => Actor::of(principal, ip),
            None => Actor {
                ip,
                ..Actor::default()
            },
        })
    }
}

impl ContextExt for Context<'_> {
    fn app(&self) -> Result<&AppState, Error> {
        self.data::<AppState>()
            .map_err(|_| Error::internal("application state missing from schema"))
    }

    fn request(&self) -> Result<&RequestContext, Error> {
        self.data::<RequestContext>()
            .map_err(|_| Error::internal("request context missing"))
    }
}

/// Field guard: the caller must hold the permission, or the field is
/// `null` with a `FORBIDDEN` error naming it.
pub struct PermissionGuard(pub Permission);

impl async_graphql::Guard for PermissionGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        ctx.require(self.0)?;
        Ok(())
    }
}
