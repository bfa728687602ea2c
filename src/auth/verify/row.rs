//! The verification query, its columns and the one decoder of its row,
//! shared by the pool and the inline SQLite reader.

use chrono::{DateTime, Utc};
use sea_orm::{DbErr, QueryResult};
use uuid::Uuid;

use crate::auth::{
    CredentialKind,
    child::ParentRow,
    principal::{CredentialRow, OrganizationSnapshot},
};

// The organization acted in: a personal or service token's own; for a
// session, the requested one, else the one it was pinned to at login (a
// session from before pinning has none: the user's oldest membership).
// A child (`attenuateToken`) of a session stays in the organization its
// parent acted in when it was minted (its own `organization_id`); its
// parent's row is joined by primary key, so a child is refused once its
// parent is (`auth::child`). The child copies its parent's kind, owner,
// organization and role at minting, none of which a token ever changes.
// The role: a service token's own, else the member's. The `CASE`s name
// stored kinds (`CredentialKind::as_str`, held by a test below).
// `$N` placeholders work on both SQLite and PostgreSQL; only the digest
// comparison differs (see below).
macro_rules! verify_sql {
    ($digest:literal) => {
        concat!(
            r#"
SELECT t.id AS token_id, t.kind AS kind, t.organization_id AS token_organization_id,
       t.owner_user_id AS owner_user_id, t.scopes AS scopes, t.expires_at AS expires_at,
       t.revoked_at AS revoked_at, t.last_used_at AS last_used_at,
       m.organization_id AS membership_organization_id,
       r.id AS role_id, r.permissions AS role_permissions,
       o.id AS organization_id, o.name AS organization_name,
       o.created_at AS organization_created_at,
       o.max_token_lifetime_days AS max_token_lifetime_days,
       t.project_ids AS project_ids, t.last_used_ips AS last_used_ips,
       t.parent_id AS parent_id, p.id AS parent_row_id, p.scopes AS parent_scopes,
       p.project_ids AS parent_project_ids, p.expires_at AS parent_expires_at,
       p.revoked_at AS parent_revoked_at, t.allowed_cidrs AS allowed_cidrs,
       t.address_enforcement AS address_enforcement,
       p.allowed_cidrs AS parent_allowed_cidrs,
       p.address_enforcement AS parent_address_enforcement
FROM token t
LEFT JOIN token p
  ON p.id = t.parent_id
LEFT JOIN membership m
  ON m.user_id = t.owner_user_id
 AND m.organization_id = CASE WHEN t.kind = 'session' AND t.parent_id IS NULL THEN COALESCE(
       $2,
       t.organization_id,
       (SELECT m2.organization_id FROM membership m2
         WHERE m2.user_id = t.owner_user_id
         ORDER BY m2.joined_at, m2.id LIMIT 1))
     ELSE t.organization_id END
LEFT JOIN role r
  ON r.id = CASE WHEN t.kind = 'service' THEN t.role_id ELSE m.role_id END
LEFT JOIN organization o
  ON o.id = CASE WHEN t.kind = 'session' THEN m.organization_id ELSE t.organization_id END
WHERE t.digest = "#,
            $digest,
            "\n"
        )
    };
}
/// PostgreSQL: the digest compared as bound.
pub const VERIFY_SQL_POSTGRES: &str = verify_sql!("$1");
/// SQLite: the digest goes through a `CAST`, so the planner cannot peek at
/// its value. Once the database has `sqlite_stat4` statistics (after an
/// `ANALYZE` or `PRAGMA optimize`), a bare parameter compared with an
/// indexed column makes SQLite re-prepare the statement whenever the bound
/// value changes, that is on every request, which defeats the prepared
/// statement cache (BENCHMARKS.md). The unique index is used all the same.
pub const VERIFY_SQL_SQLITE: &str = verify_sql!("CAST($1 AS BLOB)");

/// The query's columns, in order; rows are read by position (looking a
/// column up by name costs more than reading it).
pub const COLUMNS: [&str; 27] = [
    "token_id",
    "kind",
    "token_organization_id",
    "owner_user_id",
    "scopes",
    "expires_at",
    "revoked_at",
    "last_used_at",
    "membership_organization_id",
    "role_id",
    "role_permissions",
    "organization_id",
    "organization_name",
    "organization_created_at",
    "max_token_lifetime_days",
    "project_ids",
    "last_used_ips",
    "parent_id",
    "parent_row_id",
    "parent_scopes",
    "parent_project_ids",
    "parent_expires_at",
    "parent_revoked_at",
    "allowed_cidrs",
    "address_enforcement",
    "parent_allowed_cidrs",
    "parent_address_enforcement",
];

/// Positions in [`COLUMNS`].
pub mod column {
    pub const TOKEN_ID: usize = 0;
    pub const KIND: usize = 1;
    pub const TOKEN_ORGANIZATION_ID: usize = 2;
    pub const OWNER_USER_ID: usize = 3;
    pub const SCOPES: usize = 4;
    pub const EXPIRES_AT: usize = 5;
    pub const REVOKED_AT: usize = 6;
    pub const LAST_USED_AT: usize = 7;
    pub const MEMBERSHIP_ORGANIZATION_ID: usize = 8;
    pub const ROLE_ID: usize = 9;
    pub const ROLE_PERMISSIONS: usize = 10;
    pub const ORGANIZATION_ID: usize = 11;
    pub const ORGANIZATION_NAME: usize = 12;
    pub const ORGANIZATION_CREATED_AT: usize = 13;
    pub const MAX_TOKEN_LIFETIME_DAYS: usize = 14;
    pub const PROJECT_IDS: usize = 15;
    pub const LAST_USED_IPS: usize = 16;
    pub const PARENT_ID: usize = 17;
    pub const PARENT_ROW_ID: usize = 18;
    pub const PARENT_SCOPES: usize = 19;
    pub const PARENT_PROJECT_IDS: usize = 20;
    pub const PARENT_EXPIRES_AT: usize = 21;
    pub const PARENT_REVOKED_AT: usize = 22;
    pub const ALLOWED_CIDRS: usize = 23;
    pub const ADDRESS_ENFORCEMENT: usize = 24;
    pub const PARENT_ALLOWED_CIDRS: usize = 25;
    pub const PARENT_ADDRESS_ENFORCEMENT: usize = 26;
}

/// One row of the verification query as a driver hands it over: each
/// column by position, `None` for SQL `NULL`.
pub trait ColumnRead {
    type Error;

    fn uuid(&self, column: usize) -> Result<Option<Uuid>, Self::Error>;

    fn integer(&self, column: usize) -> Result<Option<i32>, Self::Error>;

    fn timestamp(&self, column: usize) -> Result<Option<DateTime<Utc>>, Self::Error>;

    /// A text column, lent to `read` (without a copy where the driver
    /// allows it).
    fn text_with<T>(
        &self,
        column: usize,
        read: impl FnOnce(Option<&str>) -> T,
    ) -> Result<T, Self::Error>;

    /// The error for a column holding what the query never returns there:
    /// `NULL` in a column that always has a value, or a kind lynk never
    /// writes.
    fn invalid(&self, column: usize) -> Self::Error;

    fn text(&self, column: usize) -> Result<Option<String>, Self::Error> {
        self.text_with(column, |text| text.map(str::to_owned))
    }
}

/// Decodes a row of the verification query.
pub fn decode<R: ColumnRead>(row: &R) -> Result<CredentialRow, R::Error> {
    let organization = match row.uuid(column::ORGANIZATION_ID)? {
        Some(id) => Some(OrganizationSnapshot {
            id,
            name: row
                .text(column::ORGANIZATION_NAME)?
                .ok_or_else(|| row.invalid(column::ORGANIZATION_NAME))?,
            created_at: row
                .timestamp(column::ORGANIZATION_CREATED_AT)?
                .ok_or_else(|| row.invalid(column::ORGANIZATION_CREATED_AT))?,
            max_token_lifetime_days: row
                .integer(column::MAX_TOKEN_LIFETIME_DAYS)?
                .ok_or_else(|| row.invalid(column::MAX_TOKEN_LIFETIME_DAYS))?,
        }),
        None => None,
    };
    Ok(CredentialRow {
        token_id: row
            .uuid(column::TOKEN_ID)?
            .ok_or_else(|| row.invalid(column::TOKEN_ID))?,
        kind: row
            .text_with(column::KIND, |kind| {
                kind.and_then(CredentialKind::from_stored)
            })?
            .ok_or_else(|| row.invalid(column::KIND))?,
        token_organization_id: row.uuid(column::TOKEN_ORGANIZATION_ID)?,
        owner_user_id: row.uuid(column::OWNER_USER_ID)?,
        scopes: row.text(column::SCOPES)?,
        expires_at: row.timestamp(column::EXPIRES_AT)?,
        revoked_at: row.timestamp(column::REVOKED_AT)?,
        last_used_at: row.timestamp(column::LAST_USED_AT)?,
        membership_organization_id: row.uuid(column::MEMBERSHIP_ORGANIZATION_ID)?,
        role_id: row.uuid(column::ROLE_ID)?,
        role_permissions: row.text(column::ROLE_PERMISSIONS)?,
        organization,
        project_ids: row.text(column::PROJECT_IDS)?,
        last_used_ips: row.text(column::LAST_USED_IPS)?,
        parent: match row.uuid(column::PARENT_ID)? {
            None => None,
            Some(id) => Some(ParentRow {
                id,
                found: row.uuid(column::PARENT_ROW_ID)?.is_some(),
                scopes: row.text(column::PARENT_SCOPES)?,
                project_ids: row.text(column::PARENT_PROJECT_IDS)?,
                expires_at: row.timestamp(column::PARENT_EXPIRES_AT)?,
                revoked_at: row.timestamp(column::PARENT_REVOKED_AT)?,
                allowed_cidrs: row.text(column::PARENT_ALLOWED_CIDRS)?,
                address_enforcement: row.text(column::PARENT_ADDRESS_ENFORCEMENT)?,
            }),
        },
        allowed_cidrs: row.text(column::ALLOWED_CIDRS)?,
        address_enforcement: row.text(column::ADDRESS_ENFORCEMENT)?,
    })
}

/// The pool's rows, as sea-orm hands them over (sqlx decodes UUIDs and
/// timestamps for either backend).
impl ColumnRead for QueryResult {
    type Error = DbErr;

    fn uuid(&self, column: usize) -> Result<Option<Uuid>, DbErr> {
        self.try_get_by_index(column)
    }

    fn integer(&self, column: usize) -> Result<Option<i32>, DbErr> {
        self.try_get_by_index(column)
    }

    fn timestamp(&self, column: usize) -> Result<Option<DateTime<Utc>>, DbErr> {
        self.try_get_by_index(column)
    }

    fn text_with<T>(
        &self,
        column: usize,
        read: impl FnOnce(Option<&str>) -> T,
    ) -> Result<T, DbErr> {
        let text: Option<String> = self.try_get_by_index(column)?;
        Ok(read(text.as_deref()))
    }

    fn invalid(&self, column: usize) -> DbErr {
        DbErr::Type(format!(
            "the verification query returned an invalid {}",
            COLUMNS[column]
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `AS` aliases of the `SELECT` list, in order.
    fn aliases(sql: &str) -> Vec<&str> {
        let select = &sql[..sql.find("FROM token t").expect("a FROM clause")];
        select
            .split(" AS ")
            .skip(1)
            .map(|rest| {
                rest.split(|c: char| c == ',' || c.is_whitespace())
                    .next()
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn both_statements_return_the_columns_in_order() {
        assert_eq!(aliases(VERIFY_SQL_SQLITE), COLUMNS);
        assert_eq!(aliases(VERIFY_SQL_POSTGRES), COLUMNS);
    }

    #[test]
    fn column_positions_name_their_columns() {
        for (position, name) in [
            (column::TOKEN_ID, "token_id"),
            (column::KIND, "kind"),
            (column::TOKEN_ORGANIZATION_ID, "token_organization_id"),
            (column::OWNER_USER_ID, "owner_user_id"),
            (column::SCOPES, "scopes"),
            (column::EXPIRES_AT, "expires_at"),
            (column::REVOKED_AT, "revoked_at"),
            (column::LAST_USED_AT, "last_used_at"),
            (
                column::MEMBERSHIP_ORGANIZATION_ID,
                "membership_organization_id",
            ),
            (column::ROLE_ID, "role_id"),
            (column::ROLE_PERMISSIONS, "role_permissions"),
            (column::ORGANIZATION_ID, "organization_id"),
            (column::ORGANIZATION_NAME, "organization_name"),
            (column::ORGANIZATION_CREATED_AT, "organization_created_at"),
            (column::MAX_TOKEN_LIFETIME_DAYS, "max_token_lifetime_days"),
            (column::PROJECT_IDS, "project_ids"),
            (column::LAST_USED_IPS, "last_used_ips"),
            (column::PARENT_ID, "parent_id"),
            (column::PARENT_ROW_ID, "parent_row_id"),
            (column::PARENT_SCOPES, "parent_scopes"),
            (column::PARENT_PROJECT_IDS, "parent_project_ids"),
            (column::PARENT_EXPIRES_AT, "parent_expires_at"),
            (column::PARENT_REVOKED_AT, "parent_revoked_at"),
            (column::ALLOWED_CIDRS, "allowed_cidrs"),
            (column::ADDRESS_ENFORCEMENT, "address_enforcement"),
            (column::PARENT_ALLOWED_CIDRS, "parent_allowed_cidrs"),
            (
                column::PARENT_ADDRESS_ENFORCEMENT,
                "parent_address_enforcement",
            ),
        ] {
            assert_eq!(COLUMNS[position], name);
        }
    }

    #[test]
    fn the_statement_branches_on_stored_kinds() {
        for kind in [CredentialKind::Session, CredentialKind::Service] {
            let branch = format!("WHEN t.kind = '{}' THEN", kind.as_str());
            assert!(VERIFY_SQL_SQLITE.contains(&branch), "{branch}");
        }
    }

    /// A row as plain values, to test the decoder without a database.
    struct Fake(Vec<Option<&'static str>>);

    impl ColumnRead for Fake {
        type Error = String;

        fn uuid(&self, column: usize) -> Result<Option<Uuid>, String> {
            self.0[column]
                .map(|text| text.parse().map_err(|_| COLUMNS[column].to_owned()))
                .transpose()
        }

        fn integer(&self, column: usize) -> Result<Option<i32>, String> {
            self.0[column]
                .map(|text| text.parse().map_err(|_| COLUMNS[column].to_owned()))
                .transpose()
        }

        fn timestamp(&self, column: usize) -> Result<Option<DateTime<Utc>>, String> {
            self.0[column]
                .map(|text| text.parse().map_err(|_| COLUMNS[column].to_owned()))
                .transpose()
        }

        fn text_with<T>(
            &self,
            column: usize,
            read: impl FnOnce(Option<&str>) -> T,
        ) -> Result<T, String> {
            Ok(read(self.0[column]))
        }

        fn invalid(&self, column: usize) -> String {
            format!("invalid {}", COLUMNS[column])
        }
    }

    const ID: &str = "0193a9d0-0000-7000-8000-000000000001";
    const AT: &str = "2026-12-01T10:00:00Z";

    fn service_row() -> Fake {
        let mut values = vec![None; COLUMNS.len()];
        values[column::TOKEN_ID] = Some(ID);
        values[column::KIND] = Some("service");
        values[column::TOKEN_ORGANIZATION_ID] = Some(ID);
        values[column::ROLE_ID] = Some(ID);
        values[column::ROLE_PERMISSIONS] = Some("projects:read");
        values[column::ORGANIZATION_ID] = Some(ID);
        values[column::ORGANIZATION_NAME] = Some("Acme");
        values[column::ORGANIZATION_CREATED_AT] = Some(AT);
        values[column::MAX_TOKEN_LIFETIME_DAYS] = Some("366");
        Fake(values)
    }

    #[test]
    fn a_row_decodes_with_its_nulls() {
        let row = decode(&service_row()).unwrap();
        assert_eq!(row.kind, CredentialKind::Service);
        assert_eq!(row.owner_user_id, None);
        assert_eq!(row.membership_organization_id, None);
        let organization = row.organization.unwrap();
        assert_eq!(organization.name, "Acme");
        assert_eq!(organization.max_token_lifetime_days, 366);
        assert_eq!(
            organization.created_at,
            AT.parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn a_kind_lynk_never_writes_is_an_error_not_a_guess() {
        let mut row = service_row();
        row.0[column::KIND] = Some("admin");
        assert_eq!(decode(&row), Err("invalid kind".to_owned()));
        row.0[column::KIND] = None;
        assert_eq!(decode(&row), Err("invalid kind".to_owned()));
    }

    #[test]
    fn an_organization_is_read_whole_or_not_at_all() {
        let mut row = service_row();
        row.0[column::ORGANIZATION_NAME] = None;
        assert_eq!(decode(&row), Err("invalid organization_name".to_owned()));
        let mut row = service_row();
        row.0[column::ORGANIZATION_ID] = None;
        assert_eq!(decode(&row).unwrap().organization, None);
    }
}
