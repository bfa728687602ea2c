//! `attenuateToken`: a credential mints a narrower, shorter-lived child of
//! itself (docs/DESIGN.md §8.7). The child has its parent's kind, owner,
//! organization and role, at most its parent's scopes and projects, and
//! an expiry no later than its parent's; on each request the verification
//! query narrows it again by its parent's current row (`auth::child`).

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
};
use uuid::Uuid;

use crate::{
    auth::{PermissionSet, Principal, address_rule, child::CHILD_WITHHELD},
    database,
    entity::token,
    error::Error,
    service::{
        audit::AuditAction,
        caller::Caller,
        policy, token as token_service,
        token::{NewToken, Status, not_revoked_at, status},
        token_create::{CreatedToken, project_scope},
        token_event, validate,
    },
    webhook::event::EventType,
};

/// Most live children one credential may have at a time.
pub const MAX_LIVE_CHILDREN: u64 = 100;

/// What `attenuateToken` is given.
pub struct Attenuation {
    pub name: String,
    /// The child's permissions, within the caller's; `None` = all of the
    /// caller's but token management.
    pub scopes: Option<Vec<String>>,
    /// The child's projects, among the caller's; `None` = the caller's.
    pub project_ids: Option<Vec<Uuid>>,
    /// How long the child lives; capped by the parent's own expiry.
    pub expires_in_seconds: i32,
    /// The client networks the child may be used from; `None` = any.
    pub allowed_cidrs: Option<Vec<String>>,
}

/// Mints a child of the credential in use, records `token.attenuated`
/// and announces `token.created` (whose `data.token.parentId` names the
/// parent; a session's child, like a session, announces nothing).
pub async fn attenuate(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    attenuation: Attenuation,
) -> Result<CreatedToken, Error> {
    let principal = caller.principal;
    check_may_attenuate(principal)?;
    let name = validate::name("name", &attenuation.name)?;
    let now = Utc::now();
    let scopes = child_scopes(attenuation.scopes, principal.permissions)?;
    let allowed_cidrs = match attenuation.allowed_cidrs {
        None => None,
        Some(given) if given.is_empty() => {
            return Err(Error::bad_input(
                "allowedCidrs is empty: give 1 to 20 networks, or leave it out to allow any \
                 address its parent may be used from",
            ));
        }
        Some(given) => address_rule::validate_cidrs(&given).map_err(Error::bad_input)?,
    };
    let projects = match attenuation.project_ids {
        None => principal.projects.clone(),
        ids => project_scope(db, principal, ids).await?,
    };
    let organization_id = principal.organization_id();
    // Under the organization's lock: the count of live children holds.
    let txn = database::begin_organization_write(db, organization_id).await?;
    let parent = token::Entity::find_by_id(principal.token_id)
        .one(&txn)
        .await?
        .ok_or(Error::Unauthorized)?;
    if status(&parent, now) != Status::Active {
        return Err(Error::Unauthorized);
    }
    let expires_at = child_expiry(
        attenuation.expires_in_seconds,
        now,
        parent.expires_at,
        principal.organization.max_token_lifetime_days,
    )?;
    check_live_children(&txn, parent.id, now).await?;
    let (child, secret) = token_service::issue_child(
        &txn,
        NewToken {
            kind: parent.kind,
            organization_id: Some(organization_id),
            name,
            scopes: Some(scopes),
            role_id: parent.role_id,
            owner_user_id: parent.owner_user_id,
            created_by_user_id: principal.user_id,
            projects,
            expires_at: Some(expires_at),
        },
        parent.id,
        allowed_cidrs,
        now,
    )
    .await?;
    caller
        .audit(&txn, AuditAction::TokenAttenuated, child.id, now)
        .await?;
    token_event::announce(&txn, EventType::TokenCreated, &child, None, &caller.actor).await?;
    txn.commit().await?;
    Ok(CreatedToken {
        token: child,
        secret,
    })
}

/// No grandchildren, and a secret in its rotation grace mints nothing.
fn check_may_attenuate(principal: &Principal) -> Result<(), Error> {
    if principal.is_child() {
        return Err(Error::Forbidden(
            "a child token cannot attenuate; mint every child from its parent".into(),
        ));
    }
    if principal.in_grace {
        return Err(Error::Forbidden(
            "a secret in its rotation grace period mints no child; use its successor".into(),
        ));
    }
    Ok(())
}

/// The child's scopes: those named, each held by the caller and none of
/// them token management; omitted, everything the caller holds but that.
fn child_scopes(names: Option<Vec<String>>, held: PermissionSet) -> Result<PermissionSet, Error> {
    let Some(names) = names else {
        return Ok(held.without(CHILD_WITHHELD));
    };
    let scopes = PermissionSet::parse(names).map_err(|e| Error::bad_input(e.to_string()))?;
    if !scopes.intersection(CHILD_WITHHELD).is_empty() {
        return Err(Error::bad_input(
            "a child token never holds tokens:write; leave it out of scopes",
        ));
    }
    policy::check_grant(scopes, held)?;
    Ok(scopes)
}

/// `now + seconds`: at least one second, at most the organization's
/// longest token lifetime, and no later than the parent's expiry.
fn child_expiry(
    seconds: i32,
    now: DateTime<Utc>,
    parent_expires_at: Option<DateTime<Utc>>,
    max_lifetime_days: i32,
) -> Result<DateTime<Utc>, Error> {
    let max_seconds = i64::from(max_lifetime_days.max(1)) * 86_400;
    if seconds < 1 || i64::from(seconds) > max_seconds {
        return Err(Error::bad_input(format!(
            "expiresInSeconds must be between 1 and {max_seconds} (the organization's \
             maxTokenLifetimeDays); got {seconds}"
        )));
    }
    let expires_at = now + Duration::seconds(i64::from(seconds));
    if let Some(parent_expires_at) = parent_expires_at
        && expires_at > parent_expires_at
    {
        let left = (parent_expires_at - now).num_seconds().max(0);
        return Err(Error::bad_input(format!(
            "a child expires no later than its parent, which expires at {} \
             (expiresInSeconds at most {left}); got {seconds}",
            policy::format_instant(parent_expires_at)
        )));
    }
    Ok(expires_at)
}

/// At most [`MAX_LIVE_CHILDREN`] live (not revoked, not expired) children.
async fn check_live_children(
    conn: &impl ConnectionTrait,
    parent_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let live = token::Entity::find()
        .filter(token::Column::ParentId.eq(parent_id))
        .filter(not_revoked_at(now))
        .filter(token::Column::ExpiresAt.gt(now))
        .count(conn)
        .await?;
    if live >= MAX_LIVE_CHILDREN {
        return Err(Error::conflict(format!(
            "this credential already has {MAX_LIVE_CHILDREN} live children; revoke some or \
             let them expire"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{BuiltInRole, Permission};

    #[test]
    fn scopes_stay_within_the_caller_and_never_manage_tokens() {
        let admin = BuiltInRole::Admin.permissions();
        let omitted = child_scopes(None, admin).unwrap();
        assert!(!omitted.contains(Permission::TokensWrite));
        assert!(omitted.contains(Permission::TokensRead));
        assert_eq!(
            child_scopes(Some(vec!["tokens:write".into()]), admin)
                .unwrap_err()
                .message(),
            "a child token never holds tokens:write; leave it out of scopes"
        );
        let viewer = BuiltInRole::Viewer.permissions();
        assert_eq!(
            child_scopes(Some(vec!["sboms:write".into()]), viewer)
                .unwrap_err()
                .code(),
            "FORBIDDEN"
        );
        assert_eq!(
            child_scopes(Some(vec!["nope:read".into()]), admin)
                .unwrap_err()
                .code(),
            "BAD_USER_INPUT"
        );
        assert_eq!(
            child_scopes(Some(vec!["sboms:read".into()]), viewer).unwrap(),
            PermissionSet::of(&[Permission::SbomsRead])
        );
    }

    #[test]
    fn a_child_expires_no_later_than_its_parent() {
        let now = Utc::now();
        let parent = Some(now + Duration::minutes(15));
        assert_eq!(
            child_expiry(120, now, parent, 366).unwrap(),
            now + Duration::seconds(120)
        );
        assert_eq!(
            child_expiry(900, now, parent, 366).unwrap(),
            now + Duration::seconds(900)
        );
        let late = child_expiry(901, now, parent, 366).unwrap_err();
        assert_eq!(late.code(), "BAD_USER_INPUT");
        assert!(late.message().contains("at most 900"), "{}", late.message());
        assert!(child_expiry(0, now, None, 366).is_err());
        assert!(child_expiry(-5, now, None, 366).is_err());
        assert!(child_expiry(86_400, now, None, 1).is_ok());
        assert!(child_expiry(86_401, now, None, 1).is_err());
        assert!(child_expiry(i32::MAX, now, None, 366).is_err());
    }
}
