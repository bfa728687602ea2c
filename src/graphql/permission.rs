//! The `permissions` query: the catalog, with descriptions.

use async_graphql::{Context, Object, SimpleObject};

use super::limits::{count_resolved, list_complexity};
use crate::{auth, error::Error};

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
    #[graphql(complexity = "list_complexity(auth::Permission::ALL.len(), child_complexity)")]
    async fn permissions(&self, ctx: &Context<'_>) -> Result<Vec<Permission>, Error> {
        count_resolved(ctx, auth::Permission::ALL.len())?;
        Ok(auth::Permission::ALL
            .into_iter()
            .map(|p| Permission {
                name: p.name(),
                description: p.description(),
            })
            .collect())
    }
}
