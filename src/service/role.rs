//! Custom roles: creating, changing and deleting them. Built-in roles
//! never change, and nobody grants a permission it does not hold.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, Set,
};
use uuid::Uuid;

use crate::{
    auth::PermissionSet,
    database,
    entity::{invitation, membership, role, token, trusted_publisher},
    error::{Error, ResultExt},
    service::{
        audit::AuditAction,
        caller::Caller,
        policy,
        scoped::{delete_found, find_in_organization},
        token::not_revoked_at,
        validate,
    },
};

/// The most roles an organization may have, its four built-in ones
/// included.
pub const MAX_ROLES: u64 = 50;

/// What `createRole` is given.
pub struct NewRole {
    pub name: String,
    pub description: Option<String>,
    /// Permission names from the catalog.
    pub permissions: Vec<String>,
}

/// What `updateRole` changes; `None` leaves a field as it is.
pub struct RoleChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub permissions: Option<Vec<String>>,
}

fn parse_permissions(names: Vec<String>) -> Result<PermissionSet, Error> {
    PermissionSet::parse(names).map_err(|e| Error::bad_input(e.to_string()))
}

/// Built-in roles cannot be changed or deleted.
fn ensure_custom(role: &role::Model) -> Result<(), Error> {
    if role.built_in {
        Err(Error::bad_input(format!(
            "`{}` is a built-in role and cannot be changed or deleted; create a custom role instead",
            role.name
        )))
    } else {
        Ok(())
    }
}

fn duplicate_name(name: &str) -> String {
    format!("a role named `{name}` already exists in this organization")
}

/// `createRole`: a custom role whose permissions the caller holds. A name
/// taken in the organization is a `CONFLICT`, and so is a role past
/// [`MAX_ROLES`].
pub async fn create(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    new: NewRole,
) -> Result<role::Model, Error> {
    let name = validate::name("name", &new.name)?;
    let description = validate::description(new.description)?.unwrap_or_default();
    let permissions = parse_permissions(new.permissions)?;
    policy::check_grant(permissions, caller.principal.permissions)?;
    let now = Utc::now();
    let organization_id = caller.organization_id();
    // Under the organization's lock: two creations must not both pass the
    // count.
    let txn = database::begin_organization_write(db, organization_id).await?;
    let roles = role::Entity::find()
        .filter(role::Column::OrganizationId.eq(organization_id))
        .count(&txn)
        .await?;
    if roles >= MAX_ROLES {
        return Err(Error::conflict(format!(
            "this organization already has {MAX_ROLES} roles (built-in ones included), the most \
             it may; delete a custom role it no longer uses"
        )));
    }
    let model = role::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(organization_id),
        name: Set(name.clone()),
        description: Set(description),
        permissions: Set(permissions.to_storage()),
        built_in: Set(false),
        created_at: Set(now),
    }
    .insert(&txn)
    .await
    .on_conflict(|| duplicate_name(&name))?;
    caller
        .audit(&txn, AuditAction::RoleCreated, model.id, now)
        .await?;
    txn.commit().await?;
    Ok(model)
}

/// `updateRole`: changes a custom role whose permissions the caller holds,
/// granting only permissions it holds.
pub async fn update(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    role_id: Uuid,
    changes: RoleChanges,
) -> Result<role::Model, Error> {
    let held = caller.principal.permissions;
    let organization_id = caller.organization_id();
    let current = find_in_organization::<role::Entity>(db, organization_id, role_id).await?;
    ensure_custom(&current)?;
    policy::check_grant(PermissionSet::from_storage(&current.permissions), held)?;
    let name = changes
        .name
        .map(|n| validate::name("name", &n))
        .transpose()?;
    let description = validate::description(changes.description)?;
    let permissions = changes.permissions.map(parse_permissions).transpose()?;
    if let Some(permissions) = permissions {
        policy::check_grant(permissions, held)?;
    }
    let now = Utc::now();
    let txn = database::begin_write(db).await?;
    let mut active = current.into_active_model();
    if let Some(name) = &name {
        active.name = Set(name.clone());
    }
    if let Some(description) = description {
        active.description = Set(description);
    }
    if let Some(permissions) = permissions {
        active.permissions = Set(permissions.to_storage());
    }
    let model = active
        .update(&txn)
        .await
        .on_conflict(|| duplicate_name(name.as_deref().unwrap_or_default()))?;
    caller
        .audit(&txn, AuditAction::RoleUpdated, model.id, now)
        .await?;
    txn.commit().await?;
    Ok(model)
}

/// `deleteRole`: deletes a custom role that no member, active service
/// token, pending invitation or trusted publisher uses (else `CONFLICT`,
/// saying what still does).
pub async fn delete(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    role_id: Uuid,
) -> Result<(), Error> {
    let organization_id = caller.organization_id();
    let now = Utc::now();
    // Locked, and the role read under the lock, so that no member,
    // invitation or service token takes the role between the count and
    // the delete, and a concurrent delete is seen as one.
    let txn = database::begin_organization_write(db, organization_id).await?;
    let role = find_in_organization::<role::Entity>(&txn, organization_id, role_id).await?;
    ensure_custom(&role)?;
    let members = membership::Entity::find()
        .filter(membership::Column::RoleId.eq(role.id))
        .count(&txn)
        .await?;
    let tokens = token::Entity::find()
        .filter(token::Column::RoleId.eq(role.id))
        .filter(not_revoked_at(now))
        .count(&txn)
        .await?;
    let invitations = invitation::Entity::find()
        .filter(invitation::Column::RoleId.eq(role.id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(now))
        .count(&txn)
        .await?;
    let publishers = trusted_publisher::Entity::find()
        .filter(trusted_publisher::Column::RoleId.eq(role.id))
        .count(&txn)
        .await?;
    if members + tokens + invitations + publishers > 0 {
        return Err(Error::conflict(format!(
            "role `{}` is still used by {members} member(s), {tokens} active service \
             token(s), {invitations} pending invitation(s) and {publishers} trusted \
             publisher(s); reassign, revoke, withdraw or delete them first",
            role.name
        )));
    }
    delete_found::<role::Entity, _>(&txn, role).await?;
    caller
        .audit(&txn, AuditAction::RoleDeleted, role_id, now)
        .await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::BuiltInRole;

    fn role(name: &str, built_in: bool) -> role::Model {
        role::Model {
            id: Uuid::now_v7(),
            organization_id: Uuid::now_v7(),
            name: name.into(),
            description: String::new(),
            permissions: BuiltInRole::Viewer.permissions().to_storage(),
            built_in,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn built_in_roles_never_change() {
        assert!(ensure_custom(&role("auditor", false)).is_ok());
        let err = ensure_custom(&role("viewer", true)).unwrap_err();
        assert_eq!(err.code(), "BAD_USER_INPUT");
        assert_eq!(
            err.message(),
            "`viewer` is a built-in role and cannot be changed or deleted; create a custom role \
             instead"
        );
    }

    #[test]
    fn permissions_come_from_the_catalog() {
        let set = parse_permissions(vec!["audit:read".into()]).unwrap();
        assert_eq!(set.names(), ["audit:read"]);
        assert_eq!(
            parse_permissions(vec!["audit:erase".into()])
                .unwrap_err()
                .code(),
            "BAD_USER_INPUT"
        );
    }
}
