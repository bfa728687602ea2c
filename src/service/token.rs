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
        CredentialKind, PermissionSet, Principal,
        project_scope::ProjectScope,
        token_access::{TokenAction, TokenFacts, check_token_action},
        token_format::{self, Secret},
    },
    entity::{membership, role, token},
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
    issue_replacing(conn, new, None, now).await
}

/// [`issue`], for a rotation's successor: it names the token it replaces
/// (`rotated_from`), whose grace ends when the successor is revoked.
pub async fn issue_replacing(
    conn: &impl ConnectionTrait,
    new: NewToken,
    rotated_from: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(token::Model, Secret), Error> {
    insert(conn, new, rotated_from, None, None, now).await
}

/// [`issue`], for a child (`attenuateToken`): it names its parent, and
/// may be bound to client addresses (`allowed_cidrs`, stored form).
pub async fn issue_child(
    conn: &impl ConnectionTrait,
    new: NewToken,
    parent_id: Uuid,
    allowed_cidrs: Option<String>,
    now: DateTime<Utc>,
) -> Result<(token::Model, Secret), Error> {
    insert(conn, new, None, Some(parent_id), allowed_cidrs, now).await
}

async fn insert(
    conn: &impl ConnectionTrait,
    new: NewToken,
    rotated_from: Option<Uuid>,
    parent_id: Option<Uuid>,
    allowed_cidrs: Option<String>,
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
        rotated_from_id: Set(rotated_from),
        parent_id: Set(parent_id),
        allowed_cidrs: Set(allowed_cidrs),
        // Enforced when set, nothing refused yet (the columns' defaults);
        // `restrict_addresses` changes a token's rule.
        ..Default::default()
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
        RetireIf::NotRevoked => still.add(revocable_at(now)),
        RetireIf::Active => still.add(token::Column::RevokedAt.is_null()).add(
            Condition::any()
                .add(token::Column::ExpiresAt.is_null())
                .add(token::Column::ExpiresAt.gt(now)),
        ),
    };
    let scheduled = at > now;
    let result = token::Entity::update_many()
        .col_expr(token::Column::RevokedAt, Expr::value(at))
        .col_expr(token::Column::RevocationScheduled, Expr::value(scheduled))
        .filter(still)
        .exec(conn)
        .await?;
    let retired = result.rows_affected == 1;
    if retired {
        retire_children(conn, token_id, at, scheduled).await?;
    }
    if retired && condition == RetireIf::NotRevoked {
        end_predecessors_grace(conn, token_id, now).await?;
    }
    Ok(retired)
}

/// The SQL condition for "a revocation at `now` would stop it": never
/// revoked, or only scheduled to end later (a rotation's grace). It asks
/// the stored flag rather than comparing `revoked_at` with `now` alone: of
/// two revocations racing, the one whose clock reads a few milliseconds
/// behind the other's must find the token revoked, not "ending later".
pub fn revocable_at(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(token::Column::RevokedAt.is_null())
        .add(
            Condition::all()
                .add(token::Column::RevocationScheduled.eq(true))
                .add(token::Column::RevokedAt.gt(now)),
        )
}

/// A parent's children stop when it does (docs/DESIGN.md §8.7): revoked
/// with it, or at the end of its rotation's grace (their `revoked_at` is
/// brought forward to `at`, never pushed back). The verification query
/// refuses them through their parent's row whatever is stored here; this
/// keeps their `status` and `revokedAt` true to it.
async fn retire_children(
    conn: &impl ConnectionTrait,
    parent_id: Uuid,
    at: DateTime<Utc>,
    scheduled: bool,
) -> Result<(), Error> {
    token::Entity::update_many()
        .col_expr(token::Column::RevokedAt, Expr::value(at))
        .col_expr(token::Column::RevocationScheduled, Expr::value(scheduled))
        .filter(token::Column::ParentId.eq(parent_id))
        .filter(
            Condition::any()
                .add(token::Column::RevokedAt.is_null())
                .add(
                    Condition::all()
                        .add(token::Column::RevocationScheduled.eq(true))
                        .add(token::Column::RevokedAt.gt(at)),
                ),
        )
        .exec(conn)
        .await?;
    Ok(())
}

/// The longest chain of rotations followed when a successor is revoked.
const MAX_ROTATION_CHAIN: usize = 32;

/// Revoking a rotation's successor ends its predecessor's grace period at
/// once (docs/DESIGN.md §3.4), and that one's predecessor's, up the chain: a secret
/// kept alive only to bridge to a successor must not outlive it.
async fn end_predecessors_grace(
    conn: &impl ConnectionTrait,
    successor: Uuid,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let mut current = successor;
    for _ in 0..MAX_ROTATION_CHAIN {
        let Some(predecessor) = token::Entity::find_by_id(current)
            .one(conn)
            .await?
            .and_then(|t| t.rotated_from_id)
        else {
            return Ok(());
        };
        let ended = token::Entity::update_many()
            .col_expr(token::Column::RevokedAt, Expr::value(now))
            .col_expr(token::Column::RevocationScheduled, Expr::value(false))
            .filter(token::Column::Id.eq(predecessor))
            .filter(revocable_at(now))
            .exec(conn)
            .await?;
        if ended.rows_affected == 0 {
            return Ok(());
        }
        retire_children(conn, predecessor, now, false).await?;
        current = predecessor;
    }
    Ok(())
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

/// Whether a token still works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    Expired,
    Revoked,
}

/// A token's status at `now`: revocation wins over expiry. A token in the
/// grace period of a rotation is still active (its `revoked_at` is ahead).
pub fn status(token: &token::Model, now: DateTime<Utc>) -> Status {
    status_at(token.expires_at, token.revoked_at, now)
}

/// The status at `now` of a token that expires and is revoked at these times.
pub fn status_at(
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Status {
    if revoked_at.is_some_and(|at| at <= now) {
        Status::Revoked
    } else if expires_at.is_some_and(|at| at <= now) {
        Status::Expired
    } else {
        Status::Active
    }
}

/// The facts of a stored token [`check_token_action`] decides on, without
/// what it carries.
pub fn facts(token: &token::Model) -> Result<TokenFacts, Error> {
    Ok(TokenFacts {
        id: token.id,
        kind: token.kind,
        organization_id: token.organization_id,
        owner_user_id: token.owner_user_id,
        carried: None,
        projects: ProjectScope::from_storage(token.project_ids.as_deref()),
        parent_id: token.parent_id,
    })
}

/// The facts `action` needs: the permissions a service token carries are
/// read only when they matter (to rotate it).
async fn facts_for(
    conn: &impl ConnectionTrait,
    token: &token::Model,
    action: TokenAction,
) -> Result<TokenFacts, Error> {
    let mut facts = facts(token)?;
    if let (TokenAction::Rotate, Some(role_id)) = (action, token.role_id) {
        facts.carried = role::Entity::find_by_id(role_id)
            .one(conn)
            .await?
            .map(|role| PermissionSet::from_storage(&role.permissions));
    }
    Ok(facts)
}

/// Loads the token `token_id` if `principal` may `action` it (docs/DESIGN.md §3.4, in
/// [`check_token_action`]); `NOT_FOUND` when it may not even know of it.
pub async fn find_for(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    token_id: Uuid,
    action: TokenAction,
) -> Result<token::Model, Error> {
    let token = token::Entity::find_by_id(token_id)
        .one(conn)
        .await?
        .ok_or(Error::NotFound("token"))?;
    check_token_action(principal, &facts_for(conn, &token, action).await?, action)?;
    Ok(token)
}

/// The permissions `model`'s role grants: a service token's own role, a
/// personal token's owner's current role in its organization (none if the
/// owner left).
pub async fn role_permissions(
    conn: &impl ConnectionTrait,
    model: &token::Model,
) -> Result<PermissionSet, Error> {
    let role_id = match (model.role_id, model.owner_user_id, model.organization_id) {
        (Some(role_id), _, _) => Some(role_id),
        (None, Some(user_id), Some(organization_id)) => membership::Entity::find()
            .filter(membership::Column::UserId.eq(user_id))
            .filter(membership::Column::OrganizationId.eq(organization_id))
            .one(conn)
            .await?
            .map(|membership| membership.role_id),
        _ => None,
    };
    let Some(role_id) = role_id else {
        return Ok(PermissionSet::EMPTY);
    };
    Ok(role::Entity::find_by_id(role_id)
        .one(conn)
        .await?
        .map_or(PermissionSet::EMPTY, |role| {
            PermissionSet::from_storage(&role.permissions)
        }))
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn revocation_wins_over_expiry_and_a_grace_period_is_active() {
        let now = Utc::now();
        let hour = Duration::hours(1);
        assert_eq!(status_at(None, None, now), Status::Active);
        assert_eq!(status_at(Some(now + hour), None, now), Status::Active);
        assert_eq!(status_at(Some(now), None, now), Status::Expired);
        assert_eq!(status_at(Some(now - hour), Some(now), now), Status::Revoked);
        // Rotated with a grace period: it works until `revoked_at`.
        assert_eq!(status_at(None, Some(now + hour), now), Status::Active);
        assert_eq!(status_at(None, Some(now - hour), now), Status::Revoked);
    }
}
