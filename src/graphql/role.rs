//! The `Role` type and the `role(id)` query.

use async_graphql::{Context, ID, Object};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::context::ContextExt;
use crate::{
    auth::{Permission, PermissionSet},
    entity::role,
    error::Error,
};

/// A named set of permissions in one organization.
pub struct Role(pub role::Model);

#[Object]
impl Role {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    /// Permission names, in catalog order.
    async fn permissions(&self) -> Vec<&'static str> {
        PermissionSet::from_storage(&self.0.permissions).names()
    }

    /// Built-in roles (admin, editor, uploader, viewer) cannot be changed or deleted.
    async fn built_in(&self) -> bool {
        self.0.built_in
    }
}

/// Parses a GraphQL id; a malformed one cannot exist, so it is `NOT_FOUND`.
pub fn parse_id(id: &ID, what: &'static str) -> Result<Uuid, Error> {
    Uuid::parse_str(id.as_str()).map_err(|_| Error::NotFound(what))
}

/// Loads a role of `organization_id`; any other is `NOT_FOUND`.
pub async fn find_in_organization(
    db: &impl sea_orm::ConnectionTrait,
    organization_id: Uuid,
    role_id: Uuid,
) -> Result<role::Model, Error> {
    role::Entity::find_by_id(role_id)
        .filter(role::Column::OrganizationId.eq(organization_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("role"))
}

/// `role(id)`.
#[derive(Default)]
pub struct RoleQuery;

#[Object]
impl RoleQuery {
    /// A role of the caller's organization (needs `roles:read`).
    async fn role(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Role>, Error> {
        let principal = ctx.require(Permission::RolesRead)?;
        let role_id = parse_id(&id, "role")?;
        find_in_organization(ctx.db()?, principal.organization_id(), role_id)
            .await
            .map(|r| Some(Role(r)))
    }
}

/// `createRole`'s input.
#[derive(async_graphql::InputObject)]
pub struct CreateRoleInput {
    pub name: String,
    pub description: Option<String>,
    /// Permission names from the catalog; a subset of yours.
    pub permissions: Vec<String>,
}

/// `updateRole`'s input; omitted fields stay as they are.
#[derive(async_graphql::InputObject)]
pub struct UpdateRoleInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub permissions: Option<Vec<String>>,
}

fn parse_permissions(names: Vec<String>) -> Result<PermissionSet, Error> {
    PermissionSet::parse(names).map_err(|e| Error::bad_input(e.to_string()))
}

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

async fn record_role_event(
    conn: &impl sea_orm::ConnectionTrait,
    ctx: &Context<'_>,
    organization_id: Uuid,
    action: crate::service::audit::AuditAction,
    role_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Error> {
    crate::service::audit::record(
        conn,
        crate::service::audit::AuditRecord {
            organization_id: Some(organization_id),
            action,
            actor: &ctx.actor()?,
            target: Some(role_id),
        },
        now,
    )
    .await
}

fn duplicate_name(name: &str) -> String {
    format!("a role named `{name}` already exists in this organization")
}

/// Role mutations (all need `roles:write`).
#[derive(Default)]
pub struct RoleMutation;

#[Object]
impl RoleMutation {
    /// Creates a custom role; its permissions must be a subset of yours.
    async fn create_role(&self, ctx: &Context<'_>, input: CreateRoleInput) -> Result<Role, Error> {
        use sea_orm::{ActiveModelTrait, Set};

        use crate::{error::ResultExt, service::policy};
        let principal = ctx.require(Permission::RolesWrite)?;
        let name = crate::service::validate::name("name", &input.name)?;
        let description =
            crate::service::validate::description(input.description)?.unwrap_or_default();
        let permissions = parse_permissions(input.permissions)?;
        policy::check_grant(permissions, principal.permissions)?;
        let now = chrono::Utc::now();
        let organization_id = principal.organization_id();
        let txn = crate::database::begin_write(ctx.db()?).await?;
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
        record_role_event(
            &txn,
            ctx,
            organization_id,
            crate::service::audit::AuditAction::RoleCreated,
            model.id,
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(Role(model))
    }

    /// Updates a custom role. You can change only roles whose permissions
    /// you hold, and grant only permissions you hold.
    async fn update_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateRoleInput,
    ) -> Result<Role, Error> {
        use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};

        use crate::{error::ResultExt, service::policy};
        let principal = ctx.require(Permission::RolesWrite)?;
        let db = ctx.db()?;
        let organization_id = principal.organization_id();
        let current = find_in_organization(db, organization_id, parse_id(&id, "role")?).await?;
        ensure_custom(&current)?;
        policy::check_grant(
            PermissionSet::from_storage(&current.permissions),
            principal.permissions,
        )?;
        let name = input
            .name
            .map(|n| crate::service::validate::name("name", &n))
            .transpose()?;
        let description = crate::service::validate::description(input.description)?;
        let permissions = input.permissions.map(parse_permissions).transpose()?;
        if let Some(permissions) = permissions {
            policy::check_grant(permissions, principal.permissions)?;
        }
        let now = chrono::Utc::now();
        let txn = crate::database::begin_write(db).await?;
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
        record_role_event(
            &txn,
            ctx,
            organization_id,
            crate::service::audit::AuditAction::RoleUpdated,
            model.id,
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(Role(model))
    }

    /// Deletes a custom role that no member, service token, pending
    /// invitation or trusted publisher uses.
    async fn delete_role(&self, ctx: &Context<'_>, id: ID) -> Result<ID, Error> {
        use sea_orm::{ModelTrait, PaginatorTrait};

        use crate::entity::{invitation, membership, token, trusted_publisher};
        let principal = ctx.require(Permission::RolesWrite)?;
        let db = ctx.db()?;
        let organization_id = principal.organization_id();
        let role = find_in_organization(db, organization_id, parse_id(&id, "role")?).await?;
        ensure_custom(&role)?;
        let now = chrono::Utc::now();
        // Locked, so that no member, invitation or service token takes the
        // role between the count and the delete.
        let txn = crate::database::begin_organization_write(db, organization_id).await?;
        let members = membership::Entity::find()
            .filter(membership::Column::RoleId.eq(role.id))
            .count(&txn)
            .await?;
        let tokens = token::Entity::find()
            .filter(token::Column::RoleId.eq(role.id))
            .filter(crate::service::token::not_revoked_at(now))
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
        let role_id = role.id;
        role.delete(&txn).await?;
        record_role_event(
            &txn,
            ctx,
            organization_id,
            crate::service::audit::AuditAction::RoleDeleted,
            role_id,
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(ID(role_id.to_string()))
    }
}
