//! Members: adding one, changing a member's role, removing one. Every
//! change that could leave an organization without an admin holds the
//! organization's lock while it checks.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, Set, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    auth::{BuiltInRole, CredentialKind, PermissionSet, Principal},
    database,
    entity::{membership, role, token, user},
    error::Error,
    service::{
        audit::{Actor, AuditAction},
        caller::Caller,
        policy,
        scoped::{delete_found, find_in_organization},
        token::revocable_at,
    },
    webhook::{data, event::EventType, outbox},
};

/// The most organizations one account may belong to.
pub const MAX_ORGANIZATIONS_PER_USER: u64 = 100;

/// Adds `user_id` to an organization with `role_id`; an account already in
/// [`MAX_ORGANIZATIONS_PER_USER`] is a `CONFLICT`.
pub async fn add(
    conn: &impl ConnectionTrait,
    organization_id: Uuid,
    user_id: Uuid,
    role_id: Uuid,
    now: DateTime<Utc>,
) -> Result<membership::Model, Error> {
    let memberships = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .count(conn)
        .await?;
    if memberships >= MAX_ORGANIZATIONS_PER_USER {
        return Err(Error::conflict(format!(
            "this account already belongs to {MAX_ORGANIZATIONS_PER_USER} organizations, the \
             most one may"
        )));
    }
    Ok(membership::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(organization_id),
        user_id: Set(user_id),
        role_id: Set(role_id),
        joined_at: Set(now),
    }
    .insert(conn)
    .await?)
}

/// Queues a member event (`member.added`, `member.removed`,
/// `member.role_changed`) for the organization's webhooks, inside the
/// change's transaction: `{member, previousRole?, actor}`.
pub async fn announce(
    conn: &impl ConnectionTrait,
    event: EventType,
    user_id: Uuid,
    role: &role::Model,
    previous_role: Option<&role::Model>,
    actor: &Actor,
) -> Result<(), Error> {
    let user = user::Entity::find_by_id(user_id)
        .one(conn)
        .await?
        .ok_or(Error::NotFound("member"))?;
    let mut payload = serde_json::json!({
        "member": data::member(&user, role),
        "actor": data::actor(actor),
    });
    if let Some(previous) = previous_role {
        payload["previousRole"] = data::role(previous);
    }
    outbox::announce(conn, role.organization_id, event, payload).await?;
    Ok(())
}

/// The membership of `user_id` in `organization_id`, if any.
pub async fn find(
    conn: &impl ConnectionTrait,
    organization_id: Uuid,
    user_id: Uuid,
) -> Result<Option<membership::Model>, Error> {
    Ok(membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(organization_id))
        .filter(membership::Column::UserId.eq(user_id))
        .one(conn)
        .await?)
}

/// The membership of `user_id` in `organization_id`; `NOT_FOUND` if none.
async fn find_member(
    conn: &impl ConnectionTrait,
    organization_id: Uuid,
    user_id: Uuid,
) -> Result<membership::Model, Error> {
    find(conn, organization_id, user_id)
        .await?
        .ok_or(Error::NotFound("member"))
}

/// Whether `role` is the organization's built-in `admin`.
fn is_admin_role(role: &role::Model) -> bool {
    role.built_in && role.name == BuiltInRole::Admin.name()
}

async fn admin_count(conn: &impl ConnectionTrait, organization_id: Uuid) -> Result<u64, Error> {
    let admin = role::Entity::find()
        .filter(role::Column::OrganizationId.eq(organization_id))
        .filter(role::Column::BuiltIn.eq(true))
        .filter(role::Column::Name.eq(BuiltInRole::Admin.name()))
        .one(conn)
        .await?
        .ok_or_else(|| Error::internal("organization has no admin role"))?;
    Ok(membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(organization_id))
        .filter(membership::Column::RoleId.eq(admin.id))
        .count(conn)
        .await?)
}

/// A member whose role holds permissions the caller lacks is out of reach:
/// a member manager cannot demote or remove someone more powerful.
fn ensure_outranks(principal: &Principal, member_role: &role::Model) -> Result<(), Error> {
    policy::check_grant(
        PermissionSet::from_storage(&member_role.permissions),
        principal.permissions,
    )
}

fn last_admin() -> Error {
    Error::conflict("this is the organization's last admin; make someone else admin first")
}

/// `updateMemberRole`: gives `user_id` the role `role_id` (one whose
/// permissions the caller holds, for a member the caller outranks). The
/// organization always keeps an admin.
pub async fn update_role(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    user_id: Uuid,
    role_id: Uuid,
) -> Result<membership::Model, Error> {
    let organization_id = caller.organization_id();
    let now = Utc::now();
    // Locked: two admins demoting each other at once must not both pass
    // the last-admin check (on PostgreSQL they would otherwise).
    let txn = database::begin_organization_write(db, organization_id).await?;
    let new_role = find_in_organization::<role::Entity>(&txn, organization_id, role_id).await?;
    policy::check_grant(
        PermissionSet::from_storage(&new_role.permissions),
        caller.principal.permissions,
    )?;
    let member = find_member(&txn, organization_id, user_id).await?;
    let current_role =
        find_in_organization::<role::Entity>(&txn, organization_id, member.role_id).await?;
    ensure_outranks(caller.principal, &current_role)?;
    if policy::leaves_no_admin(
        is_admin_role(&current_role),
        is_admin_role(&new_role),
        admin_count(&txn, organization_id).await?,
    ) {
        return Err(last_admin());
    }
    let mut active = member.into_active_model();
    active.role_id = Set(new_role.id);
    let member = active.update(&txn).await?;
    caller
        .audit(&txn, AuditAction::MemberRoleChanged, user_id, now)
        .await?;
    if new_role.id != current_role.id {
        announce(
            &txn,
            EventType::MemberRoleChanged,
            user_id,
            &new_role,
            Some(&current_role),
            &caller.actor,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(member)
}

/// `removeMember`: removes `user_id` (the caller itself, or a member it
/// outranks) and revokes their personal tokens in this organization at
/// once; service tokens they created live on. The organization always
/// keeps an admin.
pub async fn remove(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    user_id: Uuid,
) -> Result<(), Error> {
    let organization_id = caller.organization_id();
    let now = Utc::now();
    let txn = database::begin_organization_write(db, organization_id).await?;
    let member = find_member(&txn, organization_id, user_id).await?;
    let role = find_in_organization::<role::Entity>(&txn, organization_id, member.role_id).await?;
    if caller.principal.user_id != Some(user_id) {
        ensure_outranks(caller.principal, &role)?;
    }
    if policy::leaves_no_admin(
        is_admin_role(&role),
        false,
        admin_count(&txn, organization_id).await?,
    ) {
        return Err(last_admin());
    }
    delete_found::<membership::Entity, _>(&txn, member).await?;
    token::Entity::update_many()
        .col_expr(token::Column::RevokedAt, Expr::value(now))
        .col_expr(token::Column::RevocationScheduled, Expr::value(false))
        .filter(token::Column::OwnerUserId.eq(user_id))
        .filter(token::Column::OrganizationId.eq(organization_id))
        // Their personal tokens, and every child they minted here (of a
        // session too): refused through the parent row already, revoked
        // so that their status says so.
        .filter(
            Condition::any()
                .add(token::Column::Kind.eq(CredentialKind::Personal))
                .add(token::Column::ParentId.is_not_null()),
        )
        .filter(revocable_at(now))
        .exec(&txn)
        .await?;
    caller
        .audit(&txn, AuditAction::MemberRemoved, user_id, now)
        .await?;
    // One event: `member.removed` says the member's personal tokens in
    // this organization were revoked with them (no `token.revoked` each).
    announce(
        &txn,
        EventType::MemberRemoved,
        user_id,
        &role,
        None,
        &caller.actor,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str, built_in: bool) -> role::Model {
        role::Model {
            id: Uuid::now_v7(),
            organization_id: Uuid::now_v7(),
            name: name.into(),
            description: String::new(),
            permissions: BuiltInRole::Admin.permissions().to_storage(),
            built_in,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn only_the_built_in_admin_role_counts_as_admin() {
        assert!(is_admin_role(&role("admin", true)));
        // A custom role may be named admin and hold everything: it is not
        // the role the last-admin rule protects.
        assert!(!is_admin_role(&role("admin", false)));
        assert!(!is_admin_role(&role("editor", true)));
    }
}
