//! Making a token do less with the same secret: `narrowToken` (fewer
//! scopes or projects, allowed to whoever may revoke it) and
//! `restrictTokenAddresses` (the addresses it works from, allowed to
//! whoever may rotate it) (docs/DESIGN.md §9). The rules are pure
//! (`auth::narrowing`, `auth::address_rule`); here are the reads and the
//! one transaction around them.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, Set, sea_query::Expr,
};
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
    // Conditional: of concurrent changes (another narrowing, a rotation)
    // only one applies to what it read; the other is a CONFLICT, never a
    // narrowing computed from a stale, wider state.
    let unchanged = Condition::all()
        .add(token::Column::Id.eq(model.id))
        .add(token::Column::RevokedAt.is_null())
        .add(same(token::Column::Scopes, model.scopes.clone()))
        .add(same(token::Column::ProjectIds, model.project_ids.clone()));
    let updated = token::Entity::update_many()
        .col_expr(
            token::Column::Scopes,
            Expr::value(narrowed.scopes.map(PermissionSet::to_storage)),
        )
        .col_expr(
            token::Column::ProjectIds,
            Expr::value(narrowed.projects.to_storage()),
        )
        .filter(unchanged)
        .exec(&txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(Error::conflict(
            "this token was changed by another request at the same time; nothing was changed, \
             read it again and narrow what it has now",
        ));
    }
    let model = token::Entity::find_by_id(model.id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("token"))?;
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
    // Conditional, like a narrowing: a rotation at the same moment either
    // carries the new addresses to its successor or makes this a CONFLICT.
    let updated = token::Entity::update_many()
        .col_expr(
            token::Column::AddressEnforcement,
            Expr::value(cidrs.as_ref().map(|_| asked.enforcement.as_str())),
        )
        .col_expr(token::Column::AllowedCidrs, Expr::value(cidrs))
        .filter(token::Column::Id.eq(model.id))
        .filter(token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(Error::conflict(
            "this token was rotated or revoked by another request at the same time; nothing \
             was changed",
        ));
    }
    let model = token::Entity::find_by_id(model.id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("token"))?;
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

/// `column` holds `value` (`NULL` when `None`).
fn same(column: token::Column, value: Option<String>) -> Condition {
    match value {
        Some(value) => Condition::all().add(column.eq(value)),
        None => Condition::all().add(column.is_null()),
    }
}

/// Only an active personal or service token changes (a session is a
/// sign-in, not a credential to narrow), and not one already rotated (its
/// successor carries what it had).
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
        Status::Active if model.revoked_at.is_some() => Err(Error::bad_input(format!(
            "this token was rotated and stops working soon; its successor is the one to be {what}"
        ))),
        Status::Active => Ok(()),
        Status::Expired | Status::Revoked => Err(Error::bad_input(format!(
            "only an active token can be {what}; this one no longer works"
        ))),
    }
}
