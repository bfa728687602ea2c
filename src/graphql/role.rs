//! The `Role` type and the `role(id)` query.

use async_graphql::{Context, ID, Object};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
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
    db: &DatabaseConnection,
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
