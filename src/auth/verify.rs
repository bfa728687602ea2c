//! Token verification: the one database query per authenticated request.
//!
//! The token, the owner's membership in the organization acted in, the role
//! the permissions come from and the organization itself are read in a
//! single indexed round trip (the digest's unique index). The rules that
//! decide on the row are in [`super::principal::resolve_principal`].
//! On SQLite the query runs inline on the request's thread ([`sqlite`]);
//! on PostgreSQL on pooled connections the verifier keeps checked out
//! ([`postgres`]). Either path falls back to the pool when it cannot run.

mod postgres;
mod sqlite;

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, Value};
use uuid::Uuid;

use super::{
    credential::{PresentedCredential, RequestedOrganization},
    principal::{
        AuthFailure, CredentialRow, OrganizationSnapshot, Principal, UnauthorizedReason,
        resolve_principal,
    },
    token_format::{self, SecretKind},
};
use crate::error::Error;
use postgres::HeldConnections;
use sqlite::InlineReader;

/// The verifier's own path could not run the query without waiting (or it
/// failed): ask the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Unavailable;

/// How often `lastUsedAt` is written per token, at most.
pub const LAST_USED_RESOLUTION: Duration = Duration::seconds(60);

// The organization acted in: a personal or service token's own; for a
// session, the requested one, else the one it was pinned to at login (a
// session from before pinning has none: the user's oldest membership).
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
       t.project_ids AS project_ids, t.last_used_ips AS last_used_ips
FROM token t
LEFT JOIN membership m
  ON m.user_id = t.owner_user_id
 AND m.organization_id = CASE WHEN t.kind = 'session' THEN COALESCE(
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
const VERIFY_SQL_POSTGRES: &str = verify_sql!("$1");
/// SQLite: the digest goes through a `CAST`, so the planner cannot peek at
/// its value. Once the database has `sqlite_stat4` statistics (after an
/// `ANALYZE` or `PRAGMA optimize`), a bare parameter compared with an
/// indexed column makes SQLite re-prepare the statement whenever the bound
/// value changes, that is on every request, which defeats the prepared
/// statement cache (measured in BENCHMARKS.md). The unique index is used
/// all the same.
const VERIFY_SQL_SQLITE: &str = verify_sql!("CAST($1 AS BLOB)");

/// Resolves credentials to principals: the one query of an authenticated
/// request. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    db: DatabaseConnection,
    /// On a SQLite file, the query runs inline ([`sqlite`]).
    inline: Option<Arc<InlineReader>>,
    /// On PostgreSQL, on held connections ([`postgres`]).
    held: Option<Arc<HeldConnections>>,
    /// Told the SQL of every statement the verifier runs on its own
    /// connections (inline or held), as sea-orm's metric callback is for the
    /// pool's (the round-trip test uses both).
    observer: Arc<OnceLock<StatementObserver>>,
}

type StatementObserver = Box<dyn Fn(&str) + Send + Sync>;

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("inline", &self.inline.is_some())
            .field("held", &self.held_connections())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Verifies through `db`: inline where `db` is a SQLite file, on held
    /// connections where it is a PostgreSQL pool of two or more.
    pub fn new(db: DatabaseConnection) -> Verifier {
        Verifier {
            inline: InlineReader::for_pool(&db).map(Arc::new),
            held: HeldConnections::for_pool(&db).map(Arc::new),
            ..Verifier::through_pool(db)
        }
    }

    /// Verifies through the pool only (for comparison, in benchmarks and
    /// tests).
    pub fn through_pool(db: DatabaseConnection) -> Verifier {
        Verifier {
            db,
            inline: None,
            held: None,
            observer: Arc::default(),
        }
    }

    /// Whether the query runs inline.
    pub fn is_inline(&self) -> bool {
        self.inline.is_some()
    }

    /// How many pooled connections the verifier holds now, idle or in use;
    /// `None` where it holds none by design (SQLite, a pool of one, or
    /// [`Verifier::through_pool`]).
    pub fn held_connections(&self) -> Option<usize> {
        self.held.as_ref().map(|held| held.held())
    }

    /// Gives the connections the verifier holds back to the pool; call it
    /// before closing the pool, which waits for them. Verification goes on
    /// working (it holds connections again as it needs them) until the pool
    /// is closed.
    pub fn release_connections(&self) {
        if let Some(held) = &self.held {
            held.release();
        }
    }

    /// Calls `observer` with the SQL of each statement the verifier runs on
    /// its own connections. Set once; returns false if an observer was set
    /// already.
    pub fn observe_statements(&self, observer: impl Fn(&str) + Send + Sync + 'static) -> bool {
        self.observer.set(Box::new(observer)).is_ok()
    }

    /// Resolves the request's credential to a [`Principal`]: offline format
    /// checks first, then one query.
    pub async fn authenticate(
        &self,
        presented: PresentedCredential<'_>,
        requested: RequestedOrganization,
        now: DateTime<Utc>,
    ) -> Result<Result<Principal, AuthFailure>, Error> {
        let digest = match stored_digest(presented) {
            Ok(digest) => digest,
            Err(failure) => return Ok(Err(failure)),
        };
        let requested_id = match requested {
            RequestedOrganization::Id(id) => Some(id),
            _ => None,
        };
        let row = match self.query_own(&digest.0, requested_id).await {
            Ok(row) => row,
            Err(Unavailable) => self.query_pool(&digest.0, requested_id).await?,
        };
        let Some(row) = row else {
            return Ok(Err(AuthFailure::Unauthorized(UnauthorizedReason::Unknown)));
        };
        Ok(resolve_principal(row, requested, now))
    }

    /// The query on the verifier's own connections, inline or held.
    async fn query_own(
        &self,
        digest: &[u8],
        requested: Option<Uuid>,
    ) -> Result<Option<CredentialRow>, Unavailable> {
        if let Some(inline) = &self.inline {
            self.observe(VERIFY_SQL_SQLITE);
            return inline.verify(digest, requested);
        }
        if let Some(held) = &self.held {
            // Boxed: inline, the query's future would double the size of
            // `authenticate`'s (976 bytes instead of 456), on SQLite too,
            // and every request's future is moved into a box by axum.
            let row = Box::pin(held.verify(digest, requested)).await?;
            self.observe(VERIFY_SQL_POSTGRES);
            return Ok(row);
        }
        Err(Unavailable)
    }

    fn observe(&self, sql: &str) {
        if let Some(observer) = self.observer.get() {
            observer(sql);
        }
    }

    async fn query_pool(
        &self,
        digest: &[u8],
        requested: Option<Uuid>,
    ) -> Result<Option<CredentialRow>, Error> {
        let backend = self.db.get_database_backend();
        let sql = match backend {
            DbBackend::Sqlite => VERIFY_SQL_SQLITE,
            _ => VERIFY_SQL_POSTGRES,
        };
        let statement = Statement::from_sql_and_values(
            backend,
            sql,
            [Value::from(digest.to_vec()), Value::from(requested)],
        );
        match self.db.query_one_raw(statement).await? {
            Some(row) => Ok(Some(credential_row(&row)?)),
            None => Ok(None),
        }
    }
}

/// The offline checks: a credential that is missing, malformed (prefix,
/// length, checksum) or of a kind that is never a bearer token is refused
/// without a query.
fn stored_digest(
    presented: PresentedCredential<'_>,
) -> Result<token_format::SecretDigest, AuthFailure> {
    let candidate = match presented {
        PresentedCredential::Missing => {
            return Err(AuthFailure::Unauthorized(UnauthorizedReason::Missing));
        }
        PresentedCredential::Candidate(candidate) => candidate,
    };
    let parsed = token_format::parse(candidate)
        .map_err(|_| AuthFailure::Unauthorized(UnauthorizedReason::Malformed))?;
    match parsed.kind {
        SecretKind::Credential(_) => Ok(parsed.digest),
        SecretKind::Invitation => Err(AuthFailure::Unauthorized(UnauthorizedReason::WrongKind)),
    }
}

fn credential_row(row: &QueryResult) -> Result<CredentialRow, Error> {
    let organization = match row.try_get::<Option<Uuid>>("", "organization_id")? {
        Some(id) => Some(OrganizationSnapshot {
            id,
            name: row.try_get("", "organization_name")?,
            created_at: row.try_get("", "organization_created_at")?,
            max_token_lifetime_days: row.try_get("", "max_token_lifetime_days")?,
        }),
        None => None,
    };
    Ok(CredentialRow {
        token_id: row.try_get("", "token_id")?,
        kind: row.try_get("", "kind")?,
        token_organization_id: row.try_get("", "token_organization_id")?,
        owner_user_id: row.try_get("", "owner_user_id")?,
        scopes: row.try_get("", "scopes")?,
        expires_at: row.try_get("", "expires_at")?,
        revoked_at: row.try_get("", "revoked_at")?,
        last_used_at: row.try_get("", "last_used_at")?,
        membership_organization_id: row.try_get("", "membership_organization_id")?,
        role_id: row.try_get("", "role_id")?,
        role_permissions: row.try_get("", "role_permissions")?,
        organization,
        project_ids: row.try_get("", "project_ids")?,
        last_used_ips: row.try_get("", "last_used_ips")?,
    })
}

/// Whether `lastUsedAt` is stale enough to be written again.
pub fn last_used_is_stale(last_used_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_used_at.is_none_or(|at| now - at >= LAST_USED_RESOLUTION)
}

/// Most client addresses kept per token (`Token.lastUsedIps`).
pub const LAST_USED_IPS: usize = 5;

/// The addresses after a use from `client`: it first, then the previous
/// ones without it, at most [`LAST_USED_IPS`], space-separated.
pub fn with_address(previous: Option<&str>, client: &str) -> String {
    std::iter::once(client)
        .chain(
            previous
                .unwrap_or_default()
                .split_whitespace()
                .filter(|ip| *ip != client),
        )
        .take(LAST_USED_IPS)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Records that a token was used, and from where, at most once a minute:
/// one conditional `UPDATE` of `last_used_at` and `last_used_ips`. Runs off
/// the request path; a failure is logged and never fails a request. The
/// condition in the `WHERE` keeps concurrent instances from writing twice.
pub fn touch_last_used(
    db: DatabaseConnection,
    principal: &Principal,
    client: std::net::IpAddr,
    now: DateTime<Utc>,
) {
    if !last_used_is_stale(principal.last_used_at, now) {
        return;
    }
    let token_id = principal.token_id;
    let addresses = with_address(principal.last_used_ips.as_deref(), &client.to_string());
    tokio::spawn(async move {
        let statement = Statement::from_sql_and_values(
            db.get_database_backend(),
            "UPDATE token SET last_used_at = $1, last_used_ips = $4 \
             WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
            [
                Value::from(now),
                Value::from(token_id),
                Value::from(now - LAST_USED_RESOLUTION),
                Value::from(addresses),
            ],
        );
        if let Err(err) = db.execute_raw(statement).await {
            tracing::warn!(%token_id, error = %err, "could not record token use");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_address_comes_first_and_five_are_kept() {
        assert_eq!(with_address(None, "10.0.0.1"), "10.0.0.1");
        assert_eq!(
            with_address(Some("10.0.0.2 10.0.0.1"), "10.0.0.1"),
            "10.0.0.1 10.0.0.2"
        );
        assert_eq!(
            with_address(Some("b c d e f"), "a"),
            "a b c d e",
            "the oldest goes"
        );
        assert_eq!(with_address(Some("::1"), "::1"), "::1");
    }

    #[test]
    fn last_used_is_written_at_most_once_a_minute() {
        let now = Utc::now();
        assert!(last_used_is_stale(None, now));
        assert!(!last_used_is_stale(Some(now - Duration::seconds(59)), now));
        assert!(last_used_is_stale(Some(now - Duration::seconds(60)), now));
    }
}
