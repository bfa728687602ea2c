//! Batch loading for the fields that read rows a parent points at
//! (`Token.role`, `Member.user`, `AuditEvent.actorToken`, …), so that a
//! list costs one statement per kind of related row, not one per row:
//! async-graphql's `DataLoader` (its book, "Optimizing N+1 queries").
//!
//! Each request gets its own [`RowLoader`], without a cache, made on its
//! first use ([`RequestLoader`]): requests never wait on each other's
//! batches, and nothing read for one request is served to another
//! (docs/DESIGN.md §3.2: a role change applies to the very next request).
//!
//! Loaders do not authorize: they read by id what a parent row the caller
//! may already see points at, and the resolver keeps its permission check.
//! Rows of tenant-scoped tables (roles, projects, memberships, trusted
//! publishers) are keyed by organization too, and a row is found only under
//! the organization it belongs to, so an id that points into another
//! organization reads nothing. Users are global, and tokens are keyed by id
//! alone: an audit event or an SBOM may record a session pinned to another
//! organization that acted here with `X-Organization-ID`.
//!
//! A batch holds the keys asked for until the request's execution waits on
//! something else ([`window`]), not those of a time window: no timer delays
//! a load, and however long polling a list takes, its rows share a batch.

mod window;

pub use window::in_window;

use std::{
    collections::{HashMap, HashSet},
    hash::Hash,
    sync::{Arc, OnceLock},
    time::Duration,
};

use async_graphql::{
    Context,
    dataloader::{DataLoader, Loader},
};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::{
    auth::{Permission, PermissionSet, last_used::permission_use::PERMISSION_USE_WINDOW},
    entity::{membership, project, role, token, token_permission_use, trusted_publisher, user},
    error::Error,
    state::AppState,
};

/// Reads the rows of one kind for a batch of keys (one `Loader` impl per
/// key type).
pub struct RowLoader {
    db: DatabaseConnection,
}

/// The loader of one request.
pub type RowDataLoader = DataLoader<RowLoader>;

/// A request's loader, made when a field first asks for a row: a request
/// that reads none allocates none. Its execution must run [`in_window`].
#[derive(Default)]
pub struct RequestLoader(OnceLock<RowDataLoader>);

impl RequestLoader {
    /// The loader, over `db`.
    pub fn get(&self, db: &DatabaseConnection) -> &RowDataLoader {
        self.0.get_or_init(|| new(db.clone()))
    }
}

/// A request's loader over `db`. A zero delay: the batch window is
/// [`window`]'s. async-graphql's fallback timer (async-io) is ready at once
/// for it, without a thread; its `tokio-timer` feature stays off, as
/// tokio's timer would wait for its next millisecond tick.
fn new(db: DatabaseConnection) -> RowDataLoader {
    DataLoader::new(RowLoader { db }, window::spawn_after_window).delay(Duration::ZERO)
}

/// What a failed batch reports to each of its callers (`Loader` errors
/// are cloned to every one of them).
pub type LoadError = Arc<DbErr>;

/// A user, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(pub Uuid);

/// A token, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenId(pub Uuid);

/// A role of an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoleId {
    pub organization_id: Uuid,
    pub id: Uuid,
}

/// A project of an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProjectId {
    pub organization_id: Uuid,
    pub id: Uuid,
}

/// The role a user holds as a member of an organization (their
/// membership's role): what a personal token or session acts with there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemberRole {
    pub organization_id: Uuid,
    pub user_id: Uuid,
}

/// A project's trusted publishers, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublishersOf(pub ProjectId);

/// The permissions a token's requests were granted within
/// [`PERMISSION_USE_WINDOW`] (`Token.permissionsUsed`); every key gets a
/// set, empty for a token never used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PermissionsUsedBy(pub Uuid);

/// Rows keyed the way they were asked for; a row whose key was not asked
/// for (another organization's row under a requested id) is left out.
fn keyed<K: Eq + Hash, V>(
    keys: &[K],
    rows: impl IntoIterator<Item = V>,
    key_of: impl Fn(&V) -> K,
) -> HashMap<K, V> {
    let asked: HashSet<&K> = keys.iter().collect();
    rows.into_iter()
        .map(|row| (key_of(&row), row))
        .filter(|(key, _)| asked.contains(key))
        .collect()
}

/// The distinct values of `field` over `keys`, for an `IN (…)` list.
fn distinct<K, T: Ord + Copy>(keys: &[K], field: impl Fn(&K) -> T) -> Vec<T> {
    let mut values: Vec<T> = keys.iter().map(field).collect();
    values.sort_unstable();
    values.dedup();
    values
}

impl Loader<UserId> for RowLoader {
    type Value = user::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, user::Model>, LoadError> {
        let rows = user::Entity::find()
            .filter(user::Column::Id.is_in(distinct(keys, |k| k.0)))
            .all(&self.db)
            .await?;
        Ok(keyed(keys, rows, |u| UserId(u.id)))
    }
}

impl Loader<TokenId> for RowLoader {
    type Value = token::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[TokenId]) -> Result<HashMap<TokenId, token::Model>, LoadError> {
        let rows = token::Entity::find()
            .filter(token::Column::Id.is_in(distinct(keys, |k| k.0)))
            .all(&self.db)
            .await?;
        Ok(keyed(keys, rows, |t| TokenId(t.id)))
    }
}

impl Loader<RoleId> for RowLoader {
    type Value = role::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[RoleId]) -> Result<HashMap<RoleId, role::Model>, LoadError> {
        let rows = role::Entity::find()
            .filter(role::Column::Id.is_in(distinct(keys, |k| k.id)))
            .all(&self.db)
            .await?;
        Ok(keyed(keys, rows, |r| RoleId {
            organization_id: r.organization_id,
            id: r.id,
        }))
    }
}

impl Loader<ProjectId> for RowLoader {
    type Value = project::Model;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ProjectId],
    ) -> Result<HashMap<ProjectId, project::Model>, LoadError> {
        let rows = project::Entity::find()
            .filter(project::Column::Id.is_in(distinct(keys, |k| k.id)))
            .all(&self.db)
            .await?;
        Ok(keyed(keys, rows, |p| ProjectId {
            organization_id: p.organization_id,
            id: p.id,
        }))
    }
}

impl Loader<MemberRole> for RowLoader {
    type Value = role::Model;
    type Error = LoadError;

    /// Two statements per batch: the memberships, then their roles.
    async fn load(
        &self,
        keys: &[MemberRole],
    ) -> Result<HashMap<MemberRole, role::Model>, LoadError> {
        let memberships = membership::Entity::find()
            .filter(membership::Column::UserId.is_in(distinct(keys, |k| k.user_id)))
            .filter(membership::Column::OrganizationId.is_in(distinct(keys, |k| k.organization_id)))
            .all(&self.db)
            .await?;
        let memberships = keyed(keys, memberships, |m| MemberRole {
            organization_id: m.organization_id,
            user_id: m.user_id,
        });
        if memberships.is_empty() {
            return Ok(HashMap::new());
        }
        let role_keys: Vec<RoleId> = memberships
            .values()
            .map(|m| RoleId {
                organization_id: m.organization_id,
                id: m.role_id,
            })
            .collect();
        let roles = Loader::<RoleId>::load(self, &role_keys).await?;
        Ok(memberships
            .into_iter()
            .filter_map(|(key, m)| {
                let role = roles.get(&RoleId {
                    organization_id: m.organization_id,
                    id: m.role_id,
                })?;
                Some((key, role.clone()))
            })
            .collect())
    }
}

impl Loader<PublishersOf> for RowLoader {
    type Value = Vec<trusted_publisher::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[PublishersOf],
    ) -> Result<HashMap<PublishersOf, Vec<trusted_publisher::Model>>, LoadError> {
        let rows = trusted_publisher::Entity::find()
            .filter(trusted_publisher::Column::ProjectId.is_in(distinct(keys, |k| k.0.id)))
            .order_by_asc(trusted_publisher::Column::CreatedAt)
            .order_by_asc(trusted_publisher::Column::Id)
            .all(&self.db)
            .await?;
        let mut found: HashMap<PublishersOf, Vec<trusted_publisher::Model>> =
            keys.iter().map(|key| (*key, Vec::new())).collect();
        for row in rows {
            let key = PublishersOf(ProjectId {
                organization_id: row.organization_id,
                id: row.project_id,
            });
            if let Some(publishers) = found.get_mut(&key) {
                publishers.push(row);
            }
        }
        Ok(found)
    }
}

impl Loader<PermissionsUsedBy> for RowLoader {
    type Value = PermissionSet;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[PermissionsUsedBy],
    ) -> Result<HashMap<PermissionsUsedBy, PermissionSet>, LoadError> {
        let since = chrono::Utc::now() - PERMISSION_USE_WINDOW;
        let rows = token_permission_use::Entity::find()
            .filter(token_permission_use::Column::TokenId.is_in(distinct(keys, |k| k.0)))
            .filter(token_permission_use::Column::LastUsedAt.gte(since))
            .all(&self.db)
            .await?;
        let mut found: HashMap<PermissionsUsedBy, PermissionSet> = keys
            .iter()
            .map(|key| (*key, PermissionSet::EMPTY))
            .collect();
        for row in rows {
            if let (Some(used), Some(permission)) = (
                found.get_mut(&PermissionsUsedBy(row.token_id)),
                Permission::from_name(&row.permission),
            ) {
                *used = used.with(permission);
            }
        }
        Ok(found)
    }
}

/// The row `key` points at, if there is one.
pub async fn load_one<K>(
    ctx: &Context<'_>,
    key: K,
) -> Result<Option<<RowLoader as Loader<K>>::Value>, Error>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    RowLoader: Loader<K, Error = LoadError>,
{
    Ok(load_many(ctx, [key.clone()]).await?.remove(&key))
}

/// The rows `keys` point at, keyed by them; missing rows are left out.
pub async fn load_many<K>(
    ctx: &Context<'_>,
    keys: impl IntoIterator<Item = K>,
) -> Result<HashMap<K, <RowLoader as Loader<K>>::Value>, Error>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    RowLoader: Loader<K, Error = LoadError>,
{
    let db = &ctx
        .data::<AppState>()
        .map_err(|_| Error::internal("application state missing from schema"))?
        .db;
    ctx.data::<RequestLoader>()
        .map_err(|_| Error::internal("request loader missing"))?
        .get(db)
        .load_many(keys)
        .await
        .map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_found_only_under_the_key_asked_for() {
        let (ours, theirs, id) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let asked = [RoleId {
            organization_id: ours,
            id,
        }];
        // The id exists, but in another organization: nothing is found.
        let rows = [(theirs, id, "admin")];
        let found = keyed(&asked, rows, |(org, id, _)| RoleId {
            organization_id: *org,
            id: *id,
        });
        assert!(found.is_empty());
        let rows = [(ours, id, "admin"), (ours, Uuid::now_v7(), "extra")];
        let found = keyed(&asked, rows, |(org, id, _)| RoleId {
            organization_id: *org,
            id: *id,
        });
        assert_eq!(found.len(), 1);
        assert_eq!(found[&asked[0]].2, "admin");
    }

    #[test]
    fn in_lists_hold_each_value_once() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let keys = [UserId(b), UserId(a), UserId(b)];
        assert_eq!(distinct(&keys, |k| k.0), vec![a, b]);
    }
}
