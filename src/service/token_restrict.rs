//! Making a token do less with the same secret: `narrowToken` (fewer
//! scopes or projects, allowed to whoever may revoke it) and
//! `restrictTokenAddresses` (the addresses it works from, allowed to
//! whoever may rotate it) (docs/DESIGN.md §9). The rules are pure
//! (`auth::narrowing`, `auth::address_rule`); here are the reads and the
//! one transaction around them.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, IntoActiveModel, Set};
use uuid::Uuid;

use crate::{
    auth::{
        CredentialKind, PermissionSet,
        address_rule::{self, AddressEnforcement},
        narrowing,
        project_scope::ProjectScope,
        token_access::TokenAction,
    },
    database,
    entity::{project, token},
    error::Error,
    service::{
        audit::AuditAction,
        caller::Caller,
        scoped::find_reachable,
        token::{self as token_service, Status, status},
        token_create::check_project_count,
    },
};

/// What `narrowToken` is given.
pub struct Narrowing {
    pub token_id: Uuid,
    /// The permissions to keep; `None` keeps its scopes.
    pub scopes: Option<Vec<String>>,
    /// The projects to keep; `None` keeps them.
    pub project_ids: Option<Vec<Uuid>>,
}

/// `narrowToken`: keeps the secret, narrows its scopes within its
/// effective permissions and its projects within its current ones;
/// audited `token.narrowed`. Allowed to whoever may revoke the token.
pub async fn narrow(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    asked: Narrowing,
) -> Result<token::Model, Error> {
    let scopes = asked
        .scopes
        .map(|names| PermissionSet::parse(names).map_err(|e| Error::bad_input(e.to_string())))
        .transpose()?;
    if let Some(ids) = &asked.project_ids {
        check_project_count(ids.len())?;
    }
    let now = Utc::now();
    let txn = database::begin_write(db).await?;
    let model =
        token_service::find_for(&txn, caller.principal, asked.token_id, TokenAction::Revoke)
            .await?;
    check_changeable(&model, "narrowed", now)?;
    if let Some(ids) = &asked.project_ids {
        // Each a project of the organization the caller reaches.
        for id in ids {
            find_reachable::<project::Entity>(&txn, caller.principal, *id).await?;
        }
    }
    let role = token_service::role_permissions(&txn, &model).await?;
    let projects = ProjectScope::from_storage(model.project_ids.as_deref());
    let stored_scopes = model.scopes.as_deref().map(PermissionSet::from_storage);
    let narrowed = narrowing::narrow(
        role,
        stored_scopes,
        &projects,
        scopes,
        asked.project_ids.as_deref(),
    )
    .map_err(Error::bad_input)?;
    let mut active = model.into_active_model();
    active.scopes = Set(narrowed.scopes.map(PermissionSet::to_storage));
    active.project_ids = Set(narrowed.projects.to_storage());
    let model = active.update(&txn).await?;
    caller
        .audit(&txn, AuditAction::TokenNarrowed, model.id, now)
        .await?;
    txn.commit().await?;
    Ok(model)
}

/// What `restrictTokenAddresses` is given.
pub struct AddressRestriction {
    pub token_id: Uuid,
    /// An empty list lifts the restriction.
    pub allowed_cidrs: Vec<String>,
    pub enforcement: AddressEnforcement,
}

/// `restrictTokenAddresses`: binds a token to addresses (or lifts the
/// binding with an empty list), in `ENFORCE` or `REPORT_ONLY` mode;
/// audited `token.addresses_restricted`. Allowed to whoever may rotate
/// the token.
pub async fn restrict_addresses(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    asked: AddressRestriction,
) -> Result<token::Model, Error> {
    let cidrs = address_rule::validate_cidrs(&asked.allowed_cidrs).map_err(Error::bad_input)?;
    let now = Utc::now();
    let txn = database::begin_write(db).await?;
    let model =
        token_service::find_for(&txn, caller.principal, asked.token_id, TokenAction::Rotate)
            .await?;
    check_changeable(&model, "restricted", now)?;
    let model = set_addresses(&txn, model, cidrs, asked.enforcement).await?;
    caller
        .audit(&txn, AuditAction::TokenAddressesRestricted, model.id, now)
        .await?;
    txn.commit().await?;
    Ok(model)
}

/// Stores the address rule of `model` (`cidrs` in storage form, `None`
/// for none), inside the caller's transaction.
pub async fn set_addresses(
    conn: &impl ConnectionTrait,
    model: token::Model,
    cidrs: Option<String>,
    enforcement: AddressEnforcement,
) -> Result<token::Model, Error> {
    let mut active = model.into_active_model();
    active.address_enforcement = Set(cidrs.as_ref().map(|_| enforcement.as_str().to_owned()));
    active.allowed_cidrs = Set(cidrs);
    Ok(active.update(conn).await?)
}

/// Only an active personal or service token changes (a session is a
/// sign-in, not a credential to narrow).
fn check_changeable(
    model: &token::Model,
    what: &str,
    now: chrono::DateTime<Utc>,
) -> Result<(), Error> {
    if model.kind == CredentialKind::Session {
        return Err(Error::bad_input(format!(
            "a session cannot be {what}; create a personal token with the scopes you need"
        )));
    }
    match status(model, now) {
        Status::Active => Ok(()),
        Status::Expired | Status::Revoked => Err(Error::bad_input(format!(
            "only an active token can be {what}; this one no longer works"
        ))),
    }
}
