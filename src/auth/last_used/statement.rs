//! The `UPDATE` that writes a batch of token uses.
//!
//! On PostgreSQL the batch travels as a single JSON parameter, unpacked by
//! the server in one pass (`json_to_recordset`): one statement whatever
//! the number of tokens, its text always the same, so each connection
//! prepares it once, and no batch reaches a bind-parameter limit.
//!
//! On SQLite the database runs inside lynk, and its JSON functions parse
//! each element again for every field read out of it (`json_each` hands
//! an element back as text, `->>` parses it), which cost more than the
//! row updates themselves. There the uses are bound as values of a
//! `VALUES` list of one of a few fixed sizes ([`SQLITE_ROWS`], the last
//! rows padded with `NULL`s that match no token): a batch of up to 256
//! tokens is one statement, a larger one a statement per 256 in one
//! transaction, and only three statement texts are ever prepared.

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{DbBackend, Statement, Value};
use serde::Serialize;
use uuid::Uuid;

use super::{LAST_USED_RESOLUTION, Use};

/// `$1`: the uses as JSON; `$2`: the cutoff. Each use is one lookup of
/// the token's primary key.
const POSTGRES: &str = "\
UPDATE token SET last_used_at = used.at, last_used_ips = used.ips
FROM json_to_recordset($1::json) AS used(id uuid, at timestamptz, ips text)
WHERE token.id = used.id AND (token.last_used_at IS NULL OR token.last_used_at <= $2)";

/// The sizes of the SQLite statement's `VALUES` list, smallest first; a
/// batch takes the smallest that holds it, or the largest, repeated.
/// 3 × 256 + 1 parameters stay far below SQLite's limit (32,766).
pub(super) const SQLITE_ROWS: [usize; 3] = [1, 16, 256];

/// The SQLite statement for `rows` uses: `(id, at, ips)` per use, then
/// the cutoff. The plan scans the values and looks each token up by its
/// primary key.
fn sqlite_sql(rows: usize) -> &'static str {
    static TEXTS: std::sync::LazyLock<[String; 3]> = std::sync::LazyLock::new(|| {
        SQLITE_ROWS.map(|rows| {
            let values = vec!["(?, ?, ?)"; rows].join(", ");
            format!(
                "UPDATE token SET last_used_at = used.column2, last_used_ips = used.column3\n\
                 FROM (VALUES {values}) AS used\n\
                 WHERE token.id = used.column1 AND (token.last_used_at IS NULL OR token.last_used_at <= ?)"
            )
        })
    });
    let class = SQLITE_ROWS
        .iter()
        .position(|&size| size == rows)
        .unwrap_or(SQLITE_ROWS.len() - 1);
    &TEXTS[class]
}

/// One use in the JSON parameter.
#[derive(Serialize)]
struct Row<'a> {
    /// 32 hex digits, which PostgreSQL's `uuid` takes.
    id: String,
    at: String,
    ips: &'a str,
}

/// The statements writing `uses` (at most one per token), in order; more
/// than one must run in one transaction. A token is written only if it
/// was not written in the minute before the earliest of these uses, by
/// this instance or another.
pub(super) fn update(backend: DbBackend, mut uses: Vec<Use>) -> Vec<Statement> {
    let earliest = uses
        .iter()
        .map(|used| used.at)
        .min()
        .unwrap_or_else(Utc::now);
    let cutoff = earliest - LAST_USED_RESOLUTION;
    // In key order, the updates walk the primary key's index forwards.
    uses.sort_unstable_by_key(|used| used.token_id);
    match backend {
        DbBackend::Sqlite => sqlite(uses, cutoff),
        _ => vec![postgres(&uses, cutoff)],
    }
}

fn postgres(uses: &[Use], cutoff: DateTime<Utc>) -> Statement {
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
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        POSTGRES,
        [Value::from(json), Value::from(cutoff)],
    )
}

fn sqlite(uses: Vec<Use>, cutoff: DateTime<Utc>) -> Vec<Statement> {
    let largest = SQLITE_ROWS[SQLITE_ROWS.len() - 1];
    let mut statements = Vec::with_capacity(uses.len().div_ceil(largest));
    let mut uses = uses.into_iter().peekable();
    while uses.peek().is_some() {
        let chunk: Vec<Use> = uses.by_ref().take(largest).collect();
        let rows = SQLITE_ROWS
            .into_iter()
            .find(|&size| size >= chunk.len())
            .unwrap_or(largest);
        let mut values = Vec::with_capacity(3 * rows + 1);
        let padding = rows - chunk.len();
        for used in chunk {
            values.push(Value::from(used.token_id));
            values.push(Value::from(used.at));
            values.push(Value::from(used.addresses));
        }
        for _ in 0..padding {
            values.push(Value::from(None::<Uuid>));
            values.push(Value::from(None::<DateTime<Utc>>));
            values.push(Value::from(None::<String>));
        }
        values.push(Value::from(cutoff));
        statements.push(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sqlite_sql(rows),
            values,
        ));
    }
    statements
}

/// RFC 3339 in UTC, as sqlx writes a timestamp.
fn sqlx_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};
    use uuid::Uuid;

    use super::*;

    fn uses(count: u128, at: DateTime<Utc>) -> Vec<Use> {
        (1..=count)
            .map(|n| Use {
                token_id: Uuid::from_u128(n),
                at,
                addresses: format!("10.0.0.{}", n % 250),
            })
            .collect()
    }

    #[test]
    fn postgres_takes_the_batch_as_one_json_parameter() {
        let at = "2026-12-02T10:00:00.250Z".parse::<DateTime<Utc>>().unwrap();
        let uses = vec![
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
        // In key order.
        let json = concat!(
            r#"[{"id":"00000000000000000000000000000002","at":"2026-12-02T09:59:59.250+00:00","#,
            r#""ips":"::1"},"#,
            r#"{"id":"0193a9d0000070008000000000000001","at":"2026-12-02T10:00:00.250+00:00","#,
            r#""ips":"10.0.0.1 ::1"}]"#
        );
        let statements = update(DbBackend::Postgres, uses);
        assert_eq!(statements.len(), 1);
        assert!(
            statements[0]
                .sql
                .starts_with("UPDATE token SET last_used_at")
        );
        let values = statements[0].values.clone().expect("bound values").0;
        // The cutoff is a minute before the earliest use.
        assert_eq!(
            values,
            [
                Value::from(json),
                Value::from(at - Duration::seconds(1) - LAST_USED_RESOLUTION)
            ]
        );
    }

    #[test]
    fn sqlite_takes_up_to_256_uses_per_statement_in_three_sizes() {
        let at = Utc::now();
        let sizes = |count| {
            update(DbBackend::Sqlite, uses(count, at))
                .iter()
                .map(|statement| {
                    let values = statement.values.clone().expect("bound values").0;
                    assert_eq!(values.last(), Some(&Value::from(at - LAST_USED_RESOLUTION)));
                    assert_eq!(statement.sql.matches('?').count(), values.len());
                    (values.len() - 1) / 3
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(2), [16]);
        assert_eq!(sizes(16), [16]);
        assert_eq!(sizes(17), [256]);
        assert_eq!(sizes(256), [256]);
        assert_eq!(sizes(300), [256, 256]);
        assert_eq!(sizes(513), [256, 256, 1]);
    }

    /// Every use of a large batch is written, once, where the stored one
    /// is older than the cutoff, with the time as sqlx writes it.
    #[tokio::test]
    async fn sqlite_writes_every_use_of_a_batch() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared(
            "CREATE TABLE token (id uuid_text NOT NULL PRIMARY KEY, \
             last_used_at timestamp_with_timezone_text NULL, last_used_ips text NULL)",
        )
        .await
        .unwrap();
        let at = Utc::now();
        let batch = uses(300, at);
        for used in &batch {
            // Token 7 was written 30 s ago (by another instance, say).
            let stored = (used.token_id == Uuid::from_u128(7)).then(|| at - Duration::seconds(30));
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "INSERT INTO token (id, last_used_at) VALUES ($1, $2)",
                [Value::from(used.token_id), Value::from(stored)],
            ))
            .await
            .unwrap();
        }
        let txn = db.begin().await.unwrap();
        for statement in update(DbBackend::Sqlite, batch) {
            txn.execute_raw(statement).await.unwrap();
        }
        txn.commit().await.unwrap();
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT id, last_used_at, last_used_ips FROM token ORDER BY id",
            ))
            .await
            .unwrap();
        assert_eq!(rows.len(), 300);
        for (n, row) in (1..=300u128).zip(rows) {
            assert_eq!(row.try_get_by_index::<Uuid>(0).unwrap(), Uuid::from_u128(n));
            let (written, ips) = (
                row.try_get_by_index::<DateTime<Utc>>(1).unwrap(),
                row.try_get_by_index::<Option<String>>(2).unwrap(),
            );
            if n == 7 {
                assert_eq!(written, at - Duration::seconds(30), "written in the minute");
                assert_eq!(ips, None);
            } else {
                assert_eq!(written, at);
                assert_eq!(ips.as_deref(), Some(format!("10.0.0.{}", n % 250).as_str()));
            }
        }
    }
}
