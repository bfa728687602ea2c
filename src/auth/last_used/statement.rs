//! The one `UPDATE` that writes a batch of token uses.
//!
//! The batch travels as a single JSON parameter, unpacked in SQL
//! (`json_to_recordset` on PostgreSQL, `json_each` on SQLite), rather than
//! as a `VALUES` list: the statement's text is then the same whatever the
//! number of tokens, so each connection prepares it once (sqlx caches
//! every distinct text it prepares, a hundred per connection), and no
//! batch reaches a bind-parameter limit (32,766 on SQLite).

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{DbBackend, Statement, Value};
use serde::Serialize;

use super::{LAST_USED_RESOLUTION, Use};

/// `$1`: the uses as JSON; `$2`: the cutoff. Each use is one lookup of
/// the token's primary key.
const POSTGRES: &str = "\
UPDATE token SET last_used_at = used.at, last_used_ips = used.ips
FROM json_to_recordset($1::json) AS used(id uuid, at timestamptz, ips text)
WHERE token.id = used.id AND (token.last_used_at IS NULL OR token.last_used_at <= $2)";

/// SQLite stores a UUID as its 16 bytes, hence `unhex` (SQLite 3.41; sqlx
/// bundles a newer one, which the inline reader shares). The plan scans
/// the JSON and looks each token up by its primary key.
const SQLITE: &str = "\
UPDATE token SET last_used_at = used.at, last_used_ips = used.ips
FROM (SELECT unhex(value ->> 'id') AS id, value ->> 'at' AS at, value ->> 'ips' AS ips
      FROM json_each($1)) AS used
WHERE token.id = used.id AND (token.last_used_at IS NULL OR token.last_used_at <= $2)";

/// One use in the JSON parameter.
#[derive(Serialize)]
struct Row<'a> {
    /// 32 hex digits: what `unhex` takes, and PostgreSQL's `uuid` too.
    id: String,
    /// RFC 3339 in UTC exactly as sqlx writes a timestamp to SQLite, so
    /// that stored values keep comparing as text in time order.
    at: String,
    ips: &'a str,
}

/// The statement writing `uses` (at most one per token). A token is
/// written only if it was not written in the minute before the earliest
/// of these uses, by this instance or another.
pub(super) fn update(backend: DbBackend, uses: &[Use]) -> Statement {
    let rows: Vec<Row<'_>> = uses
        .iter()
        .map(|used| Row {
            id: used.token_id.simple().to_string(),
            at: sqlx_timestamp(used.at),
            ips: &used.addresses,
        })
        .collect();
    // Serializing strings into a JSON array cannot fail.
    let json = serde_json::to_string(&rows).unwrap_or_default();
    let earliest = uses
        .iter()
        .map(|used| used.at)
        .min()
        .unwrap_or_else(Utc::now);
    let sql = match backend {
        DbBackend::Sqlite => SQLITE,
        _ => POSTGRES,
    };
    Statement::from_sql_and_values(
        backend,
        sql,
        [
            Value::from(json),
            Value::from(earliest - LAST_USED_RESOLUTION),
        ],
    )
}

fn sqlx_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use sea_orm::{ConnectionTrait, Database};
    use uuid::Uuid;

    use super::*;

    #[test]
    fn a_batch_is_one_statement_with_two_parameters() {
        let at = "2026-12-02T10:00:00.250Z".parse::<DateTime<Utc>>().unwrap();
        let uses = [
            Use {
                token_id: Uuid::from_u128(0x0193_a9d0_0000_7000_8000_0000_0000_0001),
                at,
                addresses: "10.0.0.1 ::1".into(),
            },
            Use {
                token_id: Uuid::from_u128(2),
                at: at - Duration::seconds(1),
                addresses: "::1".into(),
            },
        ];
        let json = concat!(
            r#"[{"id":"0193a9d0000070008000000000000001","at":"2026-12-02T10:00:00.250+00:00","#,
            r#""ips":"10.0.0.1 ::1"},"#,
            r#"{"id":"00000000000000000000000000000002","at":"2026-12-02T09:59:59.250+00:00","#,
            r#""ips":"::1"}]"#
        );
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            let statement = update(backend, &uses);
            assert!(statement.sql.starts_with("UPDATE token SET last_used_at"));
            let values = statement.values.expect("bound values").0;
            // The cutoff is a minute before the earliest use.
            assert_eq!(
                values,
                [
                    Value::from(json),
                    Value::from(at - Duration::seconds(1) - LAST_USED_RESOLUTION)
                ]
            );
        }
    }

    #[tokio::test]
    async fn timestamps_are_written_as_sqlx_writes_them() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let at = Utc::now();
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "SELECT $1 AS at",
                [Value::from(at)],
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<String>("", "at").unwrap(), sqlx_timestamp(at));
    }
}
