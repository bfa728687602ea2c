//! `Token.permissionsUsed`: the permissions each request was granted,
//! kept per token and written behind the request in batches, like
//! `lastUsedAt`.
//!
//! A token's permissions are written at most once per
//! [`PERMISSION_USE_RESOLUTION`] by an instance (it remembers what it
//! wrote); `permissionsUsed` looks back 90 days, so an hour's precision
//! is plenty, and a busy token costs one row write an hour per
//! permission, not one per request.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{DbBackend, Statement, Value};
use uuid::Uuid;

use crate::auth::PermissionSet;

/// How often one instance writes a token's use of a permission, at most.
pub const PERMISSION_USE_RESOLUTION: Duration = Duration::hours(1);

/// How far back `permissionsUsed` looks.
pub const PERMISSION_USE_WINDOW: Duration = Duration::days(90);

/// Rows per statement: 3 parameters each, far below either backend's limit.
const ROWS_PER_STATEMENT: usize = 256;

/// A token's granted permissions waiting to be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Granted {
    pub token_id: Uuid,
    pub permissions: PermissionSet,
    pub at: DateTime<Utc>,
}

/// The grants waiting, and what this instance wrote lately. Pure.
#[derive(Debug)]
pub(super) struct GrantBuffer {
    capacity: usize,
    pending: HashMap<Uuid, (PermissionSet, DateTime<Utc>)>,
    written: HashMap<Uuid, (PermissionSet, DateTime<Utc>)>,
}

impl GrantBuffer {
    pub fn new(capacity: usize) -> GrantBuffer {
        GrantBuffer {
            capacity,
            pending: HashMap::new(),
            written: HashMap::new(),
        }
    }

    /// Adds `permissions` granted to `token_id` at `at`, less those this
    /// instance wrote for it within the resolution. False when the grant
    /// was dropped: the buffer is full of other tokens.
    pub fn record(
        &mut self,
        token_id: Uuid,
        permissions: PermissionSet,
        at: DateTime<Utc>,
    ) -> bool {
        let fresh = match self.written.get(&token_id) {
            Some((written, when)) if at - *when < PERMISSION_USE_RESOLUTION => {
                permissions.without(*written)
            }
            _ => permissions,
        };
        if fresh.is_empty() {
            return true;
        }
        if let Some((pending, when)) = self.pending.get_mut(&token_id) {
            *pending = pending.union(fresh);
            *when = (*when).max(at);
            return true;
        }
        if self.pending.len() >= self.capacity {
            return false;
        }
        self.pending.insert(token_id, (fresh, at));
        true
    }

    /// Empties the buffer, remembering what it held as written (a failed
    /// write forgets it again: [`GrantBuffer::forget`]).
    pub fn take(&mut self) -> Vec<Granted> {
        if self.written.len() + self.pending.len() > self.capacity {
            self.written.clear();
        }
        let taken: Vec<Granted> = self
            .pending
            .drain()
            .map(|(token_id, (permissions, at))| Granted {
                token_id,
                permissions,
                at,
            })
            .collect();
        for granted in &taken {
            let entry = self
                .written
                .entry(granted.token_id)
                .or_insert((PermissionSet::EMPTY, granted.at));
            if granted.at - entry.1 >= PERMISSION_USE_RESOLUTION {
                *entry = (PermissionSet::EMPTY, granted.at);
            }
            entry.0 = entry.0.union(granted.permissions);
        }
        taken
    }

    /// Forgets that `granted` was written (its write failed).
    pub fn forget(&mut self, granted: &[Granted]) {
        for granted in granted {
            self.written.remove(&granted.token_id);
        }
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }
}

/// The statements writing `granted`: one row per token and permission,
/// inserted or moved to the latest use; a token deleted meanwhile is
/// skipped (the join). The same text on both backends (`VALUES` names its
/// columns `column1`… on both); one statement per 256 rows.
pub(super) fn upsert(backend: DbBackend, granted: &[Granted]) -> Vec<Statement> {
    let rows: Vec<(Uuid, &'static str, DateTime<Utc>)> = granted
        .iter()
        .flat_map(|granted| {
            granted
                .permissions
                .iter()
                .map(move |permission| (granted.token_id, permission.name(), granted.at))
        })
        .collect();
    rows.chunks(ROWS_PER_STATEMENT)
        .map(|chunk| {
            let values = (0..chunk.len())
                .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO token_permission_use (token_id, permission, last_used_at)\n\
                 SELECT used.column1, used.column2, used.column3\n\
                 FROM (VALUES {values}) AS used JOIN token ON token.id = used.column1\n\
                 WHERE true\n\
                 ON CONFLICT (token_id, permission) DO UPDATE SET last_used_at = excluded.last_used_at"
            );
            let params = chunk.iter().flat_map(|(token_id, permission, at)| {
                [
                    Value::from(*token_id),
                    Value::from(*permission),
                    Value::from(*at),
                ]
            });
            Statement::from_sql_and_values(backend, sql, params)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Permission;

    fn set(permissions: &[Permission]) -> PermissionSet {
        PermissionSet::of(permissions)
    }

    #[test]
    fn grants_merge_per_token_and_are_written_once_an_hour() {
        let token = Uuid::now_v7();
        let t0 = Utc::now();
        let mut buffer = GrantBuffer::new(10);
        assert!(buffer.record(token, set(&[Permission::ProjectsRead]), t0));
        assert!(buffer.record(token, set(&[Permission::SbomsWrite]), t0));
        assert_eq!(
            buffer.take(),
            [Granted {
                token_id: token,
                permissions: set(&[Permission::ProjectsRead, Permission::SbomsWrite]),
                at: t0,
            }]
        );
        // Written a minute ago: only the new permission waits.
        let t1 = t0 + Duration::minutes(1);
        buffer.record(
            token,
            set(&[Permission::ProjectsRead, Permission::AuditRead]),
            t1,
        );
        assert_eq!(buffer.take()[0].permissions, set(&[Permission::AuditRead]));
        // An hour later everything is written again.
        let t2 = t0 + Duration::hours(1);
        buffer.record(token, set(&[Permission::ProjectsRead]), t2);
        assert_eq!(
            buffer.take()[0].permissions,
            set(&[Permission::ProjectsRead])
        );
        // A failed write is retried.
        buffer.record(token, set(&[Permission::MembersRead]), t2);
        let failed = buffer.take();
        buffer.forget(&failed);
        buffer.record(token, set(&[Permission::MembersRead]), t2);
        assert_eq!(buffer.len(), 1);
    }

    #[test]
    fn nothing_granted_is_nothing_to_write_and_a_full_buffer_drops() {
        let mut buffer = GrantBuffer::new(1);
        assert!(buffer.record(Uuid::now_v7(), PermissionSet::EMPTY, Utc::now()));
        assert_eq!(buffer.len(), 0);
        assert!(buffer.record(Uuid::now_v7(), set(&[Permission::RolesRead]), Utc::now()));
        assert!(!buffer.record(Uuid::now_v7(), set(&[Permission::RolesRead]), Utc::now()));
    }

    #[test]
    fn rows_are_chunked_and_numbered() {
        let granted: Vec<Granted> = (0..100)
            .map(|_| Granted {
                token_id: Uuid::now_v7(),
                permissions: set(&[
                    Permission::ProjectsRead,
                    Permission::SbomsRead,
                    Permission::AuditRead,
                ]),
                at: Utc::now(),
            })
            .collect();
        let statements = upsert(DbBackend::Sqlite, &granted);
        assert_eq!(statements.len(), 2, "300 rows in statements of 256");
        assert!(statements[1].sql.contains("($130, $131, $132)"));
        assert!(!statements[1].sql.contains("$133"));
    }
}
