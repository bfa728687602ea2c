//! The `permissions` query: the catalog, with descriptions.

use async_graphql::{Object, SimpleObject};

use crate::auth;

/// One permission of the catalog.
#[derive(SimpleObject)]
pub struct Permission {
    /// `resource:action`, e.g. `sboms:write`.
    pub name: &'static str,
    pub description: &'static str,
}

/// `permissions`.
#[derive(Default)]
pub struct PermissionQuery;

#[Object]
impl PermissionQuery {
    /// Every permission a role can hold.
    async fn permissions(&self) -> Vec<Permission> {
        auth::Permission::ALL
            .into_iter()
            .map(|p| Permission {
                name: p.name(),
                description: p.description(),
            })
            .collect()
    }
}
