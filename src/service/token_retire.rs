//! Retiring tokens: revoking one, and rotating one (a successor with a
//! new secret, the old one retired at once or after a grace period). Both
//! retire with one conditional `UPDATE`, so of a revocation and a rotation
//! racing for one token exactly one retires it.

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, EntityTrait};
use uuid::Uuid;

use crate::{
    auth::{
        CredentialKind, PermissionSet, address_rule::AddressEnforcement,
        project_scope::ProjectScope, token_access::TokenAction,
    },
    database,
    entity::token,
    error::Error,
    service::{
        audit::AuditAction,
        caller::Caller,
        policy,
        token::{self as token_service, NewToken, RetireIf, Status, status},
        token_create::CreatedToken,
        token_event, token_policy, token_restrict,
    },
    webhook::event::EventType,
};

/// `revokeToken`: revokes `token_id` at once (a token in a rotation's grace
/// period too) if the caller may (docs/DESIGN.md §3.4), recording `token.revoked`.
/// Revoking a revoked token changes nothing.
pub async fn revoke(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    token_id: Uuid,
) -> Result<token::Model, Error> {
    let now = Utc::now();
    let txn = database::begin_write(db).await?;
    let model =
        token_service::find_for(&txn, caller.principal, token_id, TokenAction::Revoke).await?;
    if status(&model, now) == Status::Revoked {
        return Ok(model);
    }
    // Conditional: of a revocation and a rotation racing for the same
    // token, only one retires it; the other sees it already revoked.
    let retired = token_service::retire(&txn, model.id, now, now, RetireIf::NotRevoked).await?;
    let model = token::Entity::find_by_id(model.id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("token"))?;
    if retired {
        caller
            .audit(&txn, AuditAction::TokenRevoked, model.id, now)
            .await?;
        token_event::announce(&txn, EventType::TokenRevoked, &model, None, &caller.actor).await?;
    }
    txn.commit().await?;
    Ok(model)
}

/// What `rotateToken` is given.
pub struct Rotation {
    pub token_id: Uuid,
    /// A new expiry (a session only); `None` keeps the old one.
    pub expires_at: Option<DateTime<Utc>>,
    /// How long the old secret keeps working, in seconds (0 to 7 days).
    pub grace_period_seconds: Option<i32>,
}

/// `rotateToken`: replaces an active token with a successor that keeps its
/// name, role, scopes, projects and expiry, created by the caller; the old
/// secret stops at once or when the grace period ends. Rotation is
/// creation: the caller must be allowed to rotate it (docs/DESIGN.md §3.4), and of
/// concurrent rotations exactly one succeeds.
pub async fn rotate(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    rotation: Rotation,
) -> Result<CreatedToken, Error> {
    let principal = caller.principal;
    let now = Utc::now();
    let grace = policy::grace_period(rotation.grace_period_seconds)?;
    let txn = database::begin_write(db).await?;
    let old =
        token_service::find_for(&txn, principal, rotation.token_id, TokenAction::Rotate).await?;
    let kind = rotatable_kind(&old, now)?;
    let expires_at = match rotation.expires_at {
        None => old.expires_at,
        Some(_) if principal.session_user().is_none() => {
            return Err(Error::Forbidden(
                "only a session sets a new expiresAt when rotating; omit it to keep the \
                 token's expiry"
                    .into(),
            ));
        }
        Some(at) if kind == CredentialKind::Personal => {
            policy::check_personal_expiry(at, now, principal.organization.max_token_lifetime_days)?;
            Some(at)
        }
        Some(at) => {
            token_policy::of_organization(&txn, principal.organization_id())
                .await?
                .check_service_expiry(Some(at), now)?;
            Some(at)
        }
    };
    // Conditional: of concurrent rotations (or a rotation and a
    // revocation) only the one that retires the token goes on.
    if !token_service::retire(&txn, old.id, now, now + grace, RetireIf::Active).await? {
        return Err(Error::conflict(
            "this token was revoked or rotated by another request at the same time; \
             nothing was changed",
        ));
    }
    // Read again under the row lock the retirement took: a narrowing or an
    // address restriction committed since the first read carries over.
    let old = token::Entity::find_by_id(old.id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("token"))?;
    let (token, secret) = token_service::issue_replacing(
        &txn,
        NewToken {
            kind,
            organization_id: old.organization_id,
            name: old.name.clone(),
            scopes: old.scopes.as_deref().map(PermissionSet::from_storage),
            role_id: old.role_id,
            owner_user_id: old.owner_user_id,
            created_by_user_id: principal.user_id,
            projects: ProjectScope::from_storage(old.project_ids.as_deref()),
            expires_at,
        },
        Some(old.id),
        now,
    )
    .await?;
    // The successor works from the same addresses.
    let token = match old.allowed_cidrs.clone() {
        Some(cidrs) => {
            let enforcement = AddressEnforcement::from_storage(old.address_enforcement.as_deref());
            token_restrict::set_addresses(&txn, token, Some(cidrs), enforcement).await?
        }
        None => token,
    };
    caller
        .audit(&txn, AuditAction::TokenRotated, old.id, now)
        .await?;
    let previous = token::Model {
        revoked_at: Some(now + grace),
        ..old
    };
    token_event::announce(
        &txn,
        EventType::TokenRotated,
        &token,
        Some(&previous),
        &caller.actor,
    )
    .await?;
    txn.commit().await?;
    Ok(CreatedToken { token, secret })
}

/// The kind of `old` if it may rotate: only an active token that was
/// never rotated before.
fn rotatable_kind(old: &token::Model, now: DateTime<Utc>) -> Result<CredentialKind, Error> {
    if old.parent_id.is_some() {
        return Err(Error::bad_input(
            "a child token is never rotated; revoke it and mint a new one from its parent with \
             attenuateToken",
        ));
    }
    match status(old, now) {
        Status::Active => match old.revoked_at {
            Some(ends) => Err(Error::bad_input(format!(
                "this token was already rotated and stops working at {}; rotate its successor",
                policy::format_instant(ends)
            ))),
            None => Ok(old.kind),
        },
        Status::Expired => Err(Error::bad_input(
            "only an active token can be rotated; this one has expired, create a new one",
        )),
        Status::Revoked => Err(Error::bad_input(
            "only an active token can be rotated; this one is revoked, create a new one",
        )),
    }
}
