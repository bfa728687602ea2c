//! The verification query on SQLite, run inline on the calling thread.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands every
//! statement, and every row back, across channels. For the one statement
//! of an authenticated request those hand-offs (two thread wake-ups, in
//! both directions) cost more CPU than the query itself: a quarter of the
//! server's time under load went to the channels (BENCHMARKS.md).
//! Verification is an indexed read of a few pages of a memory-mapped,
//! WAL-mode file, a few microseconds, so it runs here, synchronously,
//! through rusqlite connections of its own, the way a blocking call that
//! short is usually made from async code.
//!
//! These connections never wait. A WAL reader is not blocked by writers;
//! when the file is busy all the same (a recovery or a checkpoint that
//! needs exclusive access), [`InlineReader::verify`] answers
//! [`Unavailable`] at once and the caller takes the pool, which
//! waits within the busy timeout. Any other error does the same, after a
//! warning: this path can make verification faster, never make it fail.

use std::{
    cell::Cell,
    path::{Path, PathBuf},
    sync::Mutex,
};

use chrono::{DateTime, Utc};
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Row, named_params,
    types::{FromSql, FromSqlError, ValueRef},
};
use sea_orm::{DatabaseConnection, DbBackend, sqlx::ConnectOptions};
use uuid::Uuid;

use super::{
    Unavailable,
    row::{self, COLUMNS, ColumnRead, VERIFY_SQL_SQLITE},
};
use crate::{auth::principal::CredentialRow, database::SQLITE_MMAP_BYTES};

/// Synchronous read connections to the pool's database file.
#[derive(Debug)]
pub struct InlineReader {
    path: PathBuf,
    /// The pool's VFS, when its URL names one (`vfs=unix-excl`): every
    /// connection of the process must lock the file the same way.
    vfs: Option<String>,
    /// Connections not in use. At most one per thread verifying at the same
    /// moment is ever opened, since a verification never yields while it
    /// holds one: in practice, one per runtime worker thread.
    idle: Mutex<Vec<ReadConnection>>,
}

/// A connection with the verification statement prepared on it, held
/// beside it rather than in rusqlite's statement cache: the cache is keyed
/// by the SQL text, which it trims, hashes twice and copies into a new
/// `Arc<str>` on every use, more than a thousand bytes each time
/// (BENCHMARKS.md). `ouroboros` (already in the build through sea-orm)
/// keeps the statement from outliving its connection.
#[ouroboros::self_referencing]
struct ReadConnection {
    connection: Connection,
    #[borrows(connection)]
    #[covariant]
    statement: rusqlite::Statement<'this>,
}

// SAFETY: a `ReadConnection` is moved between threads whole: the
// statement and the connection it was prepared on go together, and nothing
// outside holds a reference to either (the struct is private to this
// module, and `with_statement_mut` lends them only for one synchronous
// call). `rusqlite::Connection` is `Send`; a `Statement` is not only because
// it borrows its `Connection`, which is not `Sync`, and no second thread
// ever sees this connection while the first uses it. SQLite allows a
// connection and its statements on any thread, one thread at a time (it is
// opened with `SQLITE_OPEN_NO_MUTEX`, SQLite's multi-thread mode).
unsafe impl Send for ReadConnection {}

impl std::fmt::Debug for ReadConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadConnection")
    }
}

impl InlineReader {
    /// A reader for the pool's database, when it is a SQLite file (an
    /// in-memory database is private to its connections, so it has none).
    pub fn for_pool(db: &DatabaseConnection) -> Option<InlineReader> {
        if db.get_database_backend() != DbBackend::Sqlite {
            return None;
        }
        let options = db.get_sqlite_connection_pool().connect_options();
        let path = options.get_filename();
        // sqlx has no getter for the VFS; its URL form carries it.
        let vfs = options
            .to_url_lossy()
            .query_pairs()
            .find(|(key, _)| key == "vfs")
            .map(|(_, vfs)| vfs.into_owned());
        path.is_file().then(|| InlineReader {
            path: path.to_path_buf(),
            vfs,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Runs the verification query for `digest`, acting in `requested`:
    /// the credential's row, or `None` for an unknown digest.
    pub fn verify(
        &self,
        digest: &[u8],
        requested: Option<Uuid>,
    ) -> Result<Option<CredentialRow>, Unavailable> {
        let mut connection = match self.take() {
            Ok(connection) => connection,
            Err(err) => return Err(unavailable(&err)),
        };
        let answer = query(&mut connection, digest, requested);
        match answer {
            Ok(row) => {
                self.put_back(connection);
                Ok(row)
            }
            // A busy connection is still a good one.
            Err(err) if is_busy(&err) => {
                self.put_back(connection);
                Err(Unavailable)
            }
            // Anything else: drop the connection, a fresh one is opened next
            // time.
            Err(err) => Err(unavailable(&err)),
        }
    }

    fn take(&self) -> rusqlite::Result<ReadConnection> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(connection) => Ok(connection),
            None => open(&self.path, self.vfs.as_deref()),
        }
    }

    fn put_back(&self, connection: ReadConnection) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(connection);
    }
}

/// Opens a connection that reads like the pool's (memory-mapped, through
/// the same VFS), may not write (`query_only`) and never waits for a lock
/// (no busy timeout). The file exists and is in WAL mode already: the pool
/// created and migrated it. The verification statement is prepared on it.
fn open(path: &Path, vfs: Option<&str>) -> rusqlite::Result<ReadConnection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = match vfs {
        Some(vfs) => Connection::open_with_flags_and_vfs(path, flags, vfs)?,
        None => Connection::open_with_flags(path, flags)?,
    };
    connection.pragma_update(None, "mmap_size", SQLITE_MMAP_BYTES)?;
    connection.pragma_update(None, "query_only", true)?;
    connection.busy_timeout(std::time::Duration::ZERO)?;
    ReadConnectionTryBuilder {
        connection,
        statement_builder: |connection: &Connection| {
            let statement = connection.prepare(VERIFY_SQL_SQLITE)?;
            let columns = statement.column_names().join(",");
            if columns != COLUMNS.join(",") {
                return Err(rusqlite::Error::InvalidColumnName(format!(
                    "the verification query returns {columns}, not the COLUMNS it is read by"
                )));
            }
            Ok(statement)
        },
    }
    .try_build()
}

fn query(
    connection: &mut ReadConnection,
    digest: &[u8],
    requested: Option<Uuid>,
) -> rusqlite::Result<Option<CredentialRow>> {
    STATEMENTS.set(STATEMENTS.get() + 1);
    connection.with_statement_mut(|statement| {
        statement
            .query_row(named_params! { "$1": digest, "$2": requested }, |row| {
                row::decode(row)
            })
            .optional()
    })
}

thread_local! {
    /// Verification statements run inline on this thread (read through
    /// [`super::testing::inline_statements`]).
    static STATEMENTS: Cell<u64> = const { Cell::new(0) };
}

/// Verification statements run inline on the calling thread so far.
pub fn statements_on_this_thread() -> u64 {
    STATEMENTS.get()
}

/// The row in the types the pool path decodes: UUIDs are 16-byte blobs and
/// timestamps RFC 3339 text, as sqlx writes them.
impl ColumnRead for Row<'_> {
    type Error = rusqlite::Error;

    fn uuid(&self, column: usize) -> rusqlite::Result<Option<Uuid>> {
        // The 16-byte blob sqlx writes, read without `FromSql`'s checks;
        // anything else through them (and their error).
        match self.get_ref(column)? {
            ValueRef::Null => Ok(None),
            ValueRef::Blob(bytes) if bytes.len() == 16 => Ok(Uuid::from_slice(bytes).ok()),
            _ => self.get(column),
        }
    }

    fn integer(&self, column: usize) -> rusqlite::Result<Option<i32>> {
        self.get(column)
    }

    /// RFC 3339 as sqlx writes it, parsed directly (the general parser
    /// behind rusqlite's `FromSql` costs more than the query's page reads);
    /// anything else through rusqlite's.
    fn timestamp(&self, column: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
        let value = self.get_ref(column)?;
        if let ValueRef::Text(text) = value {
            if let Some(at) = utc_as_sqlx_writes_it(text) {
                return Ok(Some(at));
            }
            if let Ok(at) = std::str::from_utf8(text)
                .map_err(drop)
                .and_then(|text| DateTime::parse_from_rfc3339(text).map_err(drop))
            {
                return Ok(Some(at.to_utc()));
            }
        }
        Option::<DateTime<Utc>>::column_result(value).map_err(|err| match err {
            FromSqlError::InvalidType => rusqlite::Error::InvalidColumnType(
                column,
                COLUMNS[column].into(),
                value.data_type(),
            ),
            err => {
                rusqlite::Error::FromSqlConversionFailure(column, value.data_type(), Box::new(err))
            }
        })
    }

    fn text_with<T>(
        &self,
        column: usize,
        read: impl FnOnce(Option<&str>) -> T,
    ) -> rusqlite::Result<T> {
        match self.get_ref(column)? {
            ValueRef::Null => Ok(read(None)),
            value => Ok(read(Some(value.as_str().map_err(|err| {
                rusqlite::Error::FromSqlConversionFailure(column, value.data_type(), Box::new(err))
            })?))),
        }
    }

    fn invalid(&self, column: usize) -> rusqlite::Error {
        let found = self
            .get_ref(column)
            .map_or(rusqlite::types::Type::Null, |value| value.data_type());
        rusqlite::Error::InvalidColumnType(column, COLUMNS[column].into(), found)
    }
}

/// A timestamp in the one shape sqlx writes a `DateTime<Utc>` in,
/// `2026-12-07T18:03:45.944636667+00:00` (the fraction of 0 to 9 digits,
/// `Z` accepted for the offset), read by position; `None` for anything
/// else, which the general RFC 3339 parser then reads. Verification reads
/// four timestamps per request, and chrono's parser costs several times
/// this.
fn utc_as_sqlx_writes_it(text: &[u8]) -> Option<DateTime<Utc>> {
    fn number(digits: &[u8]) -> Option<u32> {
        digits.iter().try_fold(0u32, |value, &digit| {
            digit
                .is_ascii_digit()
                .then(|| value * 10 + u32::from(digit - b'0'))
        })
    }
    let (date_time, mut rest) = text.split_at_checked(19)?;
    if date_time[4] != b'-'
        || date_time[7] != b'-'
        || date_time[10] != b'T'
        || date_time[13] != b':'
        || date_time[16] != b':'
    {
        return None;
    }
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        nanos = number(&fraction[..digits])? * 10u32.pow(9 - digits as u32);
        rest = &fraction[digits..];
    }
    if rest != b"+00:00" && rest != b"Z" {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(number(&date_time[0..4])?).ok()?,
        number(&date_time[5..7])?,
        number(&date_time[8..10])?,
    )?;
    let time = chrono::NaiveTime::from_hms_nano_opt(
        number(&date_time[11..13])?,
        number(&date_time[14..16])?,
        number(&date_time[17..19])?,
        nanos,
    )?;
    Some(date.and_time(time).and_utc())
}

fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn unavailable(err: &rusqlite::Error) -> Unavailable {
    if !is_busy(err) {
        tracing::warn!(error = %err, "inline verification failed; using the pool");
    }
    Unavailable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_by_position_agree_with_chrono() {
        for text in [
            "2026-12-07T18:03:45.944636667+00:00",
            "2026-12-07T18:03:45.9+00:00",
            "2026-12-07T18:03:45+00:00",
            "2024-02-29T23:59:59.123Z",
            "1970-01-01T00:00:00Z",
        ] {
            let expected = DateTime::parse_from_rfc3339(text).unwrap().to_utc();
            assert_eq!(
                utc_as_sqlx_writes_it(text.as_bytes()),
                Some(expected),
                "{text}"
            );
        }
        // Anything else is left to the general parser.
        for text in [
            "2026-12-07T18:03:45.944636667+01:00",
            "2026-12-07 18:03:45+00:00",
            "2026-12-07T18:03:45.+00:00",
            "2026-12-07T18:03:45.1234567890+00:00",
            "2023-02-29T00:00:00Z",
            "2026-12-07T24:00:00Z",
            "2026-1a-07T18:03:45Z",
            "2026-12-07T18:03:45",
            "",
        ] {
            assert_eq!(utc_as_sqlx_writes_it(text.as_bytes()), None, "{text}");
        }
    }
    use crate::{config::DatabaseArgs, database};

    /// Connections of one process must lock a file the same way: with the
    /// pool on `unix-excl`, a reader on the default VFS would take and drop
    /// POSIX locks on the file that the pool's exclusive lock relies on.
    #[tokio::test]
    async fn the_reader_opens_the_file_through_the_pools_vfs() {
        let dir = tempfile::tempdir().unwrap();
        for (name, query, vfs) in [
            ("default.db", "", None),
            ("exclusive.db", "&vfs=unix-excl", Some("unix-excl")),
        ] {
            let path = dir.path().join(name);
            let url = format!("sqlite://{}?mode=rwc{query}", path.display());
            let db = database::connect(&DatabaseArgs::new(url)).await.unwrap();
            database::migrate(&db).await.unwrap();
            let reader = InlineReader::for_pool(&db).expect("a SQLite file");
            assert_eq!(reader.vfs.as_deref(), vfs);
            assert!(matches!(reader.verify(&[0; 32], None), Ok(None)));
            assert_eq!(reader.idle.lock().unwrap().len(), 1);
        }
    }
}
