//! The `Role` type and the `role(id)` query.

use super::names::Names;
use async_graphql::{Context, ID, Object};
use uuid::Uuid;

use super::context::ContextExt;
use crate::{
    auth::{Permission, PermissionSet},
    entity::role,
    error::Error,
    service::{
        role::{self as role_service, NewRole, RoleChanges},
        scoped::find_in_organization,
    },
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
    async fn permissions(&self) -> Names {
        Names(PermissionSet::from_storage(&self.0.permissions).names())
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

/// `role(id)`.
#[derive(Default)]
pub struct RoleQuery;

#[Object]
impl RoleQuery {
    /// A role of the caller's organization (needs `roles:read`).
    async fn role(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Role>, Error> {
        let principal = ctx.require(Permission::RolesRead)?;
        let role_id = parse_id(&id, "role")?;
        find_in_organization::<role::Entity>(ctx.db()?, principal.organization_id(), role_id)
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

/// Role mutations (all need `roles:write`).
#[derive(Default)]
pub struct RoleMutation;

#[Object]
impl RoleMutation {
    /// Creates a custom role; its permissions must be a subset of yours.
    async fn create_role(&self, ctx: &Context<'_>, input: CreateRoleInput) -> Result<Role, Error> {
        let caller = ctx.authorized(Permission::RolesWrite)?;
        let new = NewRole {
            name: input.name,
            description: input.description,
            permissions: input.permissions,
        };
        Ok(Role(role_service::create(ctx.db()?, &caller, new).await?))
    }

    /// Updates a custom role. You can change only roles whose permissions
    /// you hold, and grant only permissions you hold.
    async fn update_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateRoleInput,
    ) -> Result<Role, Error> {
        let caller = ctx.authorized(Permission::RolesWrite)?;
        let changes = RoleChanges {
            name: input.name,
            description: input.description,
            permissions: input.permissions,
        };
        let role_id = parse_id(&id, "role")?;
        Ok(Role(
            role_service::update(ctx.db()?, &caller, role_id, changes).await?,
        ))
    }

    /// Deletes a custom role that no member, service token, pending
    /// invitation or trusted publisher uses.
    async fn delete_role(&self, ctx: &Context<'_>, id: ID) -> Result<ID, Error> {
        let caller = ctx.authorized(Permission::RolesWrite)?;
        let role_id = parse_id(&id, "role")?;
        role_service::delete(ctx.db()?, &caller, role_id).await?;
        Ok(ID(role_id.to_string()))
    }
}
