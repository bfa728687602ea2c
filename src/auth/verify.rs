//! Token verification: the one database query per authenticated request.
//!
//! The token, the owner's membership in the organization acted in, the role
//! the permissions come from and the organization itself are read in a
//! single indexed round trip (the digest's unique index); the statement,
//! its columns and the one decoder of its row are in [`row`]. The rules
//! that decide on the row are in [`super::principal::resolve_principal`].
//! On a SQLite file the query runs inline on the request's thread
//! ([`sqlite`]); on PostgreSQL, on connections the verifier keeps
//! ([`postgres`]); either falls back to the pool when it cannot run.

mod postgres;
mod row;
mod sqlite;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};
use uuid::Uuid;

use super::{
    credential::{PresentedCredential, RequestedOrganization},
    principal::{AuthFailure, CredentialRow, Principal, UnauthorizedReason, resolve_principal},
    token_format::{self, SecretKind},
};
use crate::error::Error;
use postgres::HeldConnections;
use row::{VERIFY_SQL_POSTGRES, VERIFY_SQL_SQLITE};
use sqlite::InlineReader;

/// The inline reader or the held connections could not run the query without waiting (or it
/// failed): ask the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Unavailable;

/// What verification found: the outcome, and the stored token behind a
/// secret that was refused (revoked or expired), whose use is recorded
/// (`Token.rejectedUses`).
#[derive(Debug)]
pub struct Verification {
    pub outcome: Result<Principal, AuthFailure>,
    /// The token whose row was read, when the outcome is a refusal.
    pub refused_token: Option<Uuid>,
}

/// Resolves credentials to principals: the one query of an authenticated
/// request. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Verifier {
    db: DatabaseConnection,
    /// On a SQLite file, the query runs inline ([`sqlite`]).
    inline: Option<Arc<InlineReader>>,
    /// On PostgreSQL, on connections of its own ([`postgres`]).
    held: Option<Arc<HeldConnections>>,
}

impl Verifier {
    /// Verifies through `db`: inline where `db` is a SQLite file, on up
    /// to `held_connections` connections of its own where it is PostgreSQL
    /// (the share [`crate::database::verification_connections`] took out
    /// of the pool), on the pool otherwise.
    pub fn new(db: DatabaseConnection, held_connections: u32) -> Verifier {
        Verifier {
            inline: InlineReader::for_pool(&db).map(Arc::new),
            held: HeldConnections::for_pool(&db, held_connections).map(Arc::new),
            db,
        }
    }

    /// Resolves the request's credential to a [`Principal`]: offline format
    /// checks first, then one query.
    pub async fn authenticate(
        &self,
        presented: PresentedCredential<'_>,
        requested: RequestedOrganization,
        now: DateTime<Utc>,
    ) -> Result<Result<Principal, AuthFailure>, Error> {
        Ok(self.verify(presented, requested, now).await?.outcome)
    }

    /// [`Verifier::authenticate`], also naming the token of a refused
    /// secret.
    pub async fn verify(
        &self,
        presented: PresentedCredential<'_>,
        requested: RequestedOrganization,
        now: DateTime<Utc>,
    ) -> Result<Verification, Error> {
        authenticate(
            self.inline.as_deref(),
            self.held.as_deref(),
            &self.db,
            presented,
            requested,
            now,
        )
        .await
    }

    /// The verifier's own PostgreSQL connections open now.
    pub fn held_connections(&self) -> usize {
        self.held.as_ref().map_or(0, |held| held.open())
    }
}

/// [`Verifier::authenticate`]: inline when `inline` is given and can run,
/// else on `held` connections when given and they can, else on the pool.
async fn authenticate(
    inline: Option<&InlineReader>,
    held: Option<&HeldConnections>,
    db: &DatabaseConnection,
    presented: PresentedCredential<'_>,
    requested: RequestedOrganization,
    now: DateTime<Utc>,
) -> Result<Verification, Error> {
    let refused = |failure| Verification {
        outcome: Err(failure),
        refused_token: None,
    };
    let digest = match stored_digest(presented) {
        Ok(digest) => digest,
        Err(failure) => return Ok(refused(failure)),
    };
    let requested_id = match requested {
        RequestedOrganization::Id(id) => Some(id),
        RequestedOrganization::Default | RequestedOrganization::Invalid => None,
    };
    let row = match inline.map(|inline| inline.verify(&digest.0, requested_id)) {
        Some(Ok(row)) => row,
        Some(Err(Unavailable)) | None => {
            query_held_or_pool(held, db, &digest.0, requested_id).await?
        }
    };
    let Some(row) = row else {
        return Ok(refused(AuthFailure::Unauthorized(
            UnauthorizedReason::Unknown,
        )));
    };
    let token_id = row.token_id;
    let outcome = resolve_principal(row, requested, now);
    Ok(Verification {
        refused_token: outcome.is_err().then_some(token_id),
        outcome,
    })
}

/// On `held` connections when given and they can run the query, else on
/// the pool. The held path's future is boxed: it would make every
/// backend's verification future larger.
async fn query_held_or_pool(
    held: Option<&HeldConnections>,
    db: &DatabaseConnection,
    digest: &[u8],
    requested: Option<Uuid>,
) -> Result<Option<CredentialRow>, Error> {
    if let Some(held) = held
        && let Ok(row) = Box::pin(held.verify(digest, requested)).await
    {
        return Ok(row);
    }
    query_pool(db, digest, requested).await
}

async fn query_pool(
    db: &DatabaseConnection,
    digest: &[u8],
    requested: Option<Uuid>,
) -> Result<Option<CredentialRow>, Error> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => VERIFY_SQL_SQLITE,
        _ => VERIFY_SQL_POSTGRES,
    };
    let statement = Statement::from_sql_and_values(
        backend,
        sql,
        [Value::from(digest.to_vec()), Value::from(requested)],
    );
    match db.query_one_raw(statement).await? {
        Some(found) => Ok(Some(row::decode(&found)?)),
        None => Ok(None),
    }
}

/// What tests and benchmarks measure verification with, outside the
/// [`Verifier`] the server uses. Not part of the API.
#[doc(hidden)]
pub mod testing {
    use super::*;

    /// Verifies through the pool alone, as the server does off SQLite
    /// files (and on one when the inline reader cannot run).
    pub async fn authenticate_through_pool(
        db: &DatabaseConnection,
        presented: PresentedCredential<'_>,
        requested: RequestedOrganization,
        now: DateTime<Utc>,
    ) -> Result<Result<Principal, AuthFailure>, Error> {
        Ok(authenticate(None, None, db, presented, requested, now)
            .await?
            .outcome)
    }

    /// How many verification statements ran on the verifier's own
    /// PostgreSQL connections (off the pool) on the calling thread so far.
    pub fn held_statements() -> u64 {
        super::postgres::statements_on_this_thread()
    }

    /// How many verification statements ran inline (on a SQLite file,
    /// off the pool) on the calling thread so far. A server spawned on a
    /// current-thread runtime, as `#[tokio::test]` makes, verifies on the
    /// test's thread.
    pub fn inline_statements() -> u64 {
        super::sqlite::statements_on_this_thread()
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
