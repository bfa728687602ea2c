//! Creating tokens: personal tokens (with a session only) and service
//! tokens, each within what the caller itself holds (docs/DESIGN.md §3.3: no
//! escalation, no project the caller does not reach).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use uuid::Uuid;

use crate::{
    auth::{
        CredentialKind, PermissionSet, Principal,
        address_rule::{self, AddressEnforcement},
        project_scope::ProjectScope,
        token_format::Secret,
    },
    database,
    entity::{project, role, token},
    error::Error,
    service::{
        audit::{self, Actor, AuditAction, AuditRecord},
        caller::Caller,
        policy,
        scoped::{find_in_organization, find_reachable},
        token::{self as token_service, NewToken},
        token_event, token_policy, token_restrict, validate,
    },
    webhook::event::EventType,
};

/// Most projects one token may be restricted to.
pub const MAX_TOKEN_PROJECTS: usize = 100;

/// A token just created, with its secret (the only copy).
pub struct CreatedToken {
    pub token: token::Model,
    pub secret: Secret,
}

/// What `createPersonalToken` is given.
pub struct NewPersonalToken {
    pub name: String,
    pub expires_at: DateTime<Utc>,
    /// Narrows the token to these permission names; `None` for the whole role.
    pub scopes: Option<Vec<String>>,
    /// Restricts the token to these projects; `None` for every project.
    pub project_ids: Option<Vec<Uuid>>,
    /// Binds the token to these networks; `None` (or empty) for anywhere.
    pub allowed_cidrs: Option<Vec<String>>,
}

/// What `createServiceToken` is given.
pub struct NewServiceToken {
    pub name: String,
    pub role_id: Uuid,
    pub expires_at: Option<DateTime<Utc>>,
    /// Restricts the token to these projects; `None` for every project.
    pub project_ids: Option<Vec<Uuid>>,
    /// Binds the token to these networks; `None` (or empty) for anywhere.
    pub allowed_cidrs: Option<Vec<String>>,
}

/// `allowedCidrs` as given, checked, in storage form.
fn allowed_cidrs(given: Option<&[String]>) -> Result<Option<String>, Error> {
    given
        .map(address_rule::validate_cidrs)
        .transpose()
        .map(Option::flatten)
        .map_err(Error::bad_input)
}

/// Binds a token just created to `cidrs`, when given (enforced).
async fn bind(
    conn: &impl ConnectionTrait,
    mut created: CreatedToken,
    cidrs: Option<String>,
) -> Result<CreatedToken, Error> {
    if cidrs.is_some() {
        created.token =
            token_restrict::set_addresses(conn, created.token, cidrs, AddressEnforcement::Enforce)
                .await?;
    }
    Ok(created)
}

/// Inside the caller's transaction: issues `new`, records `token.created`
/// in its organization and queues the event for its webhooks.
pub async fn issue_recorded(
    conn: &impl ConnectionTrait,
    new: NewToken,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<CreatedToken, Error> {
    let organization_id = new.organization_id;
    let (token, secret) = token_service::issue(conn, new, now).await?;
    let event = AuditRecord {
        organization_id,
        action: AuditAction::TokenCreated,
        actor,
        target: Some(token.id),
    };
    audit::record(conn, event, now).await?;
    token_event::announce(conn, EventType::TokenCreated, &token, None, actor).await?;
    Ok(CreatedToken { token, secret })
}

/// `createPersonalToken`: a token of the signed-in user (a session only:
/// a token cannot mint more tokens), expiring within the organization's
/// policy, narrowed to scopes and projects the caller holds.
pub async fn create_personal(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    new: NewPersonalToken,
) -> Result<CreatedToken, Error> {
    let principal = caller.principal;
    let user_id =
        principal.require_session("personal tokens can only be created with a session")?;
    let name = validate::name("name", &new.name)?;
    let now = Utc::now();
    policy::check_personal_expiry(
        new.expires_at,
        now,
        principal.organization.max_token_lifetime_days,
    )?;
    let scopes = new
        .scopes
        .map(|names| PermissionSet::parse(names).map_err(|e| Error::bad_input(e.to_string())))
        .transpose()?;
    if let Some(scopes) = scopes {
        policy::check_grant(scopes, principal.permissions)?;
    }
    let cidrs = allowed_cidrs(new.allowed_cidrs.as_deref())?;
    let projects = project_scope(db, principal, new.project_ids).await?;
    let txn = database::begin_write(db).await?;
    let created = issue_recorded(
        &txn,
        NewToken {
            kind: CredentialKind::Personal,
            organization_id: Some(principal.organization_id()),
            name,
            scopes,
            role_id: None,
            owner_user_id: Some(user_id),
            created_by_user_id: Some(user_id),
            projects,
            expires_at: Some(new.expires_at),
        },
        &caller.actor,
        now,
    )
    .await?;
    let created = bind(&txn, created, cidrs).await?;
    txn.commit().await?;
    Ok(created)
}

/// `createServiceToken`: a token of the organization carrying a role whose
/// permissions the caller holds, restricted to projects the caller reaches.
pub async fn create_service(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    new: NewServiceToken,
) -> Result<CreatedToken, Error> {
    let principal = caller.principal;
    let name = validate::name("name", &new.name)?;
    let now = Utc::now();
    let cidrs = allowed_cidrs(new.allowed_cidrs.as_deref())?;
    let organization_id = principal.organization_id();
    let projects = project_scope(db, principal, new.project_ids).await?;
    // Under the organization's lock, as deleteRole counts a role's tokens;
    // the role is read under it, so a role deleted meanwhile is
    // `NOT_FOUND`, never a broken reference.
    let txn = database::begin_organization_write(db, organization_id).await?;
    // The policy as it stands under the lock (docs/DESIGN.md §9).
    token_policy::of_organization(&txn, organization_id)
        .await?
        .check_service_expiry(new.expires_at, now)?;
    let role = find_in_organization::<role::Entity>(&txn, organization_id, new.role_id).await?;
    policy::check_grant(
        PermissionSet::from_storage(&role.permissions),
        principal.permissions,
    )?;
    let created = issue_recorded(
        &txn,
        NewToken {
            kind: CredentialKind::Service,
            organization_id: Some(organization_id),
            name,
            scopes: None,
            role_id: Some(role.id),
            owner_user_id: None,
            created_by_user_id: principal.user_id,
            projects,
            expires_at: new.expires_at,
        },
        &caller.actor,
        now,
    )
    .await?;
    let created = bind(&txn, created, cidrs).await?;
    txn.commit().await?;
    Ok(created)
}

/// The projects a new token reaches: the ids given, each a project of the
/// caller's organization that the caller reaches itself; omitted, every
/// project, which only an unrestricted caller may hand out.
pub(crate) async fn project_scope(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    ids: Option<Vec<Uuid>>,
) -> Result<ProjectScope, Error> {
    let Some(ids) = ids else {
        if !principal.projects.is_all() {
            return Err(Error::Forbidden(
                "you are restricted to some projects; name projectIds among them".into(),
            ));
        }
        return Ok(ProjectScope::All);
    };
    check_project_count(ids.len())?;
    let mut projects = Vec::with_capacity(ids.len());
    for id in ids {
        projects.push(
            find_reachable::<project::Entity>(conn, principal, id)
                .await?
                .id,
        );
    }
    Ok(ProjectScope::Only(projects))
}

/// A restriction names 1 to [`MAX_TOKEN_PROJECTS`] projects.
pub fn check_project_count(count: usize) -> Result<(), Error> {
    if count == 0 || count > MAX_TOKEN_PROJECTS {
        return Err(Error::bad_input(format!(
            "projectIds must name between 1 and {MAX_TOKEN_PROJECTS} projects (got {count}); \
             omit it for every project"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_restriction_names_one_to_a_hundred() {
        assert!(check_project_count(1).is_ok());
        assert!(check_project_count(MAX_TOKEN_PROJECTS).is_ok());
        assert_eq!(
            check_project_count(0).unwrap_err().message(),
            "projectIds must name between 1 and 100 projects (got 0); omit it for every project"
        );
        assert_eq!(
            check_project_count(101).unwrap_err().code(),
            "BAD_USER_INPUT"
        );
    }
}
