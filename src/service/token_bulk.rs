//! `revokeTokens` (docs/DESIGN.md §9, "Revocation for everyone"): every
//! token of the caller's organization a filter chooses, revoked in one
//! transaction, each only if the caller could revoke it alone (the rules
//! of `revokeToken`, [`check_token_action`]). A token it could not revoke
//! is neither revoked nor counted; a dry run answers the same set and
//! changes nothing.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

use crate::{
    auth::{
        Principal,
        token_access::{TokenAction, check_token_action},
    },
    database,
    entity::{project, token},
    error::Error,
    service::{
        audit::{self, AuditAction, AuditRecord},
        caller::Caller,
        scoped::find_reachable,
        token::{self as token_service, RetireIf, retire},
        token_event,
        token_filter::TokenFilter,
    },
    webhook::event::EventType,
};

/// Most tokens one call (or one policy change) revokes: the answer lists
/// each of them, and a list costs its cap times its selection (so that
/// a selection of up to 9 fields fits the default complexity limit).
pub const MAX_BULK_TOKENS: usize = 500;

/// The tokens `filter` chooses that `principal` may revoke, oldest first.
pub async fn revocable(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    filter: &TokenFilter,
    now: DateTime<Utc>,
) -> Result<Vec<token::Model>, Error> {
    if filter.is_empty() {
        return Err(Error::bad_input(
            "the filter must name at least one of kind, ownerId, projectId, createdBefore, \
             lastUsedBefore, neverUsed, nameContains",
        ));
    }
    if let Some(project_id) = filter.project_id {
        // A project of another organization, or one the caller does not
        // reach, does not exist for it.
        find_reachable::<project::Entity>(conn, principal, project_id).await?;
    }
    let rows = token::Entity::find()
        .filter(filter.condition(principal.organization_id(), now)?)
        .order_by_asc(token::Column::Id)
        .all(conn)
        .await?;
    let chosen: Vec<token::Model> = rows
        .into_iter()
        .filter(|row| filter.matches_projects(row.project_ids.as_deref()))
        .filter(|row| {
            token_service::facts(row).is_ok_and(|facts| {
                check_token_action(principal, &facts, TokenAction::Revoke).is_ok()
            })
        })
        .collect();
    if chosen.len() > MAX_BULK_TOKENS {
        return Err(Error::bad_input(format!(
            "the filter chooses {} tokens; at most {MAX_BULK_TOKENS} are revoked at once, narrow \
             it (createdBefore, nameContains, …) and repeat",
            chosen.len()
        )));
    }
    Ok(chosen)
}

/// `revokeTokens`: revokes what [`revocable`] chooses, each audited as
/// `token.revoked` (`detail.reason = "bulk"`) and announced, in one
/// transaction; a dry run writes nothing. Answers the tokens revoked (or
/// that would be).
pub async fn revoke_matching(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    filter: &TokenFilter,
    dry_run: bool,
) -> Result<Vec<token::Model>, Error> {
    let now = Utc::now();
    let txn = database::begin_write(db).await?;
    let chosen = revocable(&txn, caller.principal, filter, now).await?;
    if dry_run {
        // Dropped without a commit: nothing was written.
        return Ok(chosen);
    }
    let detail = json!({"reason": "bulk"}).to_string();
    let mut revoked = Vec::with_capacity(chosen.len());
    for row in chosen {
        // Conditional: one revoked meanwhile is left to whoever did it.
        if !retire(&txn, row.id, now, now, RetireIf::NotRevoked).await? {
            continue;
        }
        let row = token::Model {
            revoked_at: Some(now),
            ..row
        };
        audit::record_with_detail(
            &txn,
            AuditRecord::new(
                caller.organization_id(),
                AuditAction::TokenRevoked,
                &caller.actor,
                row.id,
            ),
            detail.clone(),
            now,
        )
        .await?;
        token_event::announce(&txn, EventType::TokenRevoked, &row, None, &caller.actor).await?;
        revoked.push(row);
    }
    txn.commit().await?;
    Ok(revoked)
}
