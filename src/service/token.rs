//! Issuing tokens: generate the secret, store only its digest and hint,
//! hand the plaintext back once.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set,
    sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    auth::{
        CredentialKind, PermissionSet,
        project_scope::ProjectScope,
        token_format::{self, Secret},
    },
    entity::token,
    error::Error,
};

/// What a new token is.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub kind: CredentialKind,
    pub organization_id: Option<Uuid>,
    pub name: String,
    pub scopes: Option<PermissionSet>,
    pub role_id: Option<Uuid>,
    pub owner_user_id: Option<Uuid>,
    pub created_by_user_id: Option<Uuid>,
    /// The projects it reaches (a restriction is checked by the caller).
    pub projects: ProjectScope,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Inserts a token and returns it with its secret (the only copy).
pub async fn issue(
    conn: &impl ConnectionTrait,
    new: NewToken,
    now: DateTime<Utc>,
) -> Result<(token::Model, Secret), Error> {
    let generated = token_format::generate(new.kind);
    let model = token::ActiveModel {
        id: Set(Uuid::now_v7()),
        kind: Set(new.kind),
        organization_id: Set(new.organization_id),
        name: Set(new.name),
        digest: Set(generated.digest.0.to_vec()),
        hint: Set(generated.hint),
        scopes: Set(new.scopes.map(PermissionSet::to_storage)),
        role_id: Set(new.role_id),
        owner_user_id: Set(new.owner_user_id),
        created_by_user_id: Set(new.created_by_user_id),
        created_at: Set(now),
        expires_at: Set(new.expires_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
        project_ids: Set(new.projects.to_storage()),
        last_used_ips: Set(None),
    }
    .insert(conn)
    .await?;
    Ok((model, generated.secret))
}

/// The SQL condition for "not revoked at `now`": never revoked, or in
/// the grace period of a rotation (its revocation is still ahead).
pub fn not_revoked_at(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(token::Column::RevokedAt.is_null())
        .add(token::Column::RevokedAt.gt(now))
}

/// What must still hold for [`retire`] to revoke a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetireIf {
    /// Not revoked yet, or in a rotation's grace period, which a
    /// revocation ends at once.
    NotRevoked,
    /// Never revoked nor rotated, and not expired (rotation: only an
    /// active token rotates, once).
    Active,
}

/// Sets a token's `revoked_at` to `at` (now, or the end of a rotation's
/// grace period) with one conditional `UPDATE`, and says whether this call
/// did it. Of concurrent callers exactly one sees `true`: on PostgreSQL the
/// second `UPDATE` waits for the first transaction and re-checks the
/// condition; on SQLite writes are serialized.
pub async fn retire(
    conn: &impl ConnectionTrait,
    token_id: Uuid,
    now: DateTime<Utc>,
    at: DateTime<Utc>,
    condition: RetireIf,
) -> Result<bool, Error> {
    let mut still = Condition::all().add(token::Column::Id.eq(token_id));
    still = match condition {
        RetireIf::NotRevoked => still.add(not_revoked_at(now)),
        RetireIf::Active => still.add(token::Column::RevokedAt.is_null()).add(
            Condition::any()
                .add(token::Column::ExpiresAt.is_null())
                .add(token::Column::ExpiresAt.gt(now)),
        ),
    };
    let result = token::Entity::update_many()
        .col_expr(token::Column::RevokedAt, Expr::value(at))
        .filter(still)
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Ends every session of `user_id` but `keep` (the one in use, when a
/// user changes their own password), at once.
pub async fn end_sessions(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    keep: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let mut sessions = token::Entity::update_many()
        .col_expr(token::Column::RevokedAt, Expr::value(now))
        .filter(token::Column::OwnerUserId.eq(user_id))
        .filter(token::Column::Kind.eq(CredentialKind::Session))
        .filter(token::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        sessions = sessions.filter(token::Column::Id.ne(keep));
    }
    sessions.exec(conn).await?;
    Ok(())
}
