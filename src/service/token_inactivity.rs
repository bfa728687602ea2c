//! Revoking tokens nobody uses (docs/DESIGN.md §9, "Token policy"): in an
//! organization whose policy sets `revokeUnusedAfterDays` (N), a personal
//! or service token unused for N − 7 days gets a `token.inactive` event;
//! unused for N days and at least 7 days after that notice, the scanner
//! revokes it (audited as `token.revoked` with no actor, `detail.reason`
//! `"unused"`, and announced). A use after the notice voids it: the
//! token starts over. Every instance sweeps with its pruning
//! ([`crate::retention`]); the notice is recorded in `token_notice` in the
//! same transaction as its announcement, with a conditional write, so each
//! goes out once whichever instance finds it first.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    sea_query::{Expr, OnConflict},
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    database,
    entity::{organization, token, token_notice},
    error::Error,
    service::{
        audit::{self, Actor, AuditAction, AuditRecord},
        policy::format_instant,
        token::{RetireIf, Status, retire, status},
        token_event,
        token_policy::{INACTIVE_NOTICE_DAYS, unused_since, unused_tokens},
    },
    webhook::{data, event::EventType, outbox},
};

/// The notice's key in `token_notice`.
pub const NOTICE_KEY: &str = "token.inactive";

/// Tokens whose notices are read per statement.
const NOTICE_LOOKUP_CHUNK: usize = 500;

/// What the sweep does with one token now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing yet.
    Wait,
    /// Announce `token.inactive`.
    Notify,
    /// Revoke it.
    Revoke,
}

/// The step for a token unused since `unused_since`, whose last notice
/// (if any) went out at `noticed_at`, under a limit of `days`.
pub fn step(
    unused_since: DateTime<Utc>,
    noticed_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    days: i32,
) -> Step {
    let notice_period = Duration::days(i64::from(INACTIVE_NOTICE_DAYS));
    let limit = Duration::days(i64::from(days));
    if now - unused_since < limit - notice_period {
        return Step::Wait;
    }
    // A notice sent before the last use no longer counts.
    match noticed_at.filter(|at| *at >= unused_since) {
        None => Step::Notify,
        Some(at) if now - at >= notice_period && now - unused_since >= limit => Step::Revoke,
        Some(_) => Step::Wait,
    }
}

/// When a token noticed at `noticed_at` is revoked if still unused.
pub fn revoked_from(
    unused_since: DateTime<Utc>,
    noticed_at: DateTime<Utc>,
    days: i32,
) -> DateTime<Utc> {
    let by_policy = unused_since + Duration::days(i64::from(days));
    let by_notice = noticed_at + Duration::days(i64::from(INACTIVE_NOTICE_DAYS));
    by_policy.max(by_notice)
}

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub noticed: u64,
    pub revoked: u64,
}

/// Announces the notices due and revokes the tokens due at `now`, in
/// every organization whose policy sets `revokeUnusedAfterDays`.
pub async fn sweep(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<Swept, Error> {
    let organizations = organization::Entity::find()
        .filter(organization::Column::RevokeUnusedAfterDays.is_not_null())
        .all(db)
        .await?;
    let mut swept = Swept::default();
    for org in organizations {
        let Some(days) = org.revoke_unused_after_days else {
            continue;
        };
        let candidates = unused_tokens(db, org.id, days - INACTIVE_NOTICE_DAYS, now).await?;
        let notices = notices_of(db, &candidates).await?;
        for token in candidates {
            let noticed_at = notices.get(&token.id).copied();
            match step(unused_since(&token), noticed_at, now, days) {
                Step::Wait => {}
                Step::Notify => {
                    if notify(db, &token, noticed_at, days, now).await? {
                        swept.noticed += 1;
                    }
                }
                Step::Revoke => {
                    if revoke_unused(db, &token, days, now).await? {
                        swept.revoked += 1;
                    }
                }
            }
        }
    }
    Ok(swept)
}

/// When each of `tokens` last got its notice.
async fn notices_of(
    db: &DatabaseConnection,
    tokens: &[token::Model],
) -> Result<HashMap<Uuid, DateTime<Utc>>, Error> {
    let mut noticed = HashMap::new();
    for chunk in tokens.chunks(NOTICE_LOOKUP_CHUNK) {
        let rows = token_notice::Entity::find()
            .filter(token_notice::Column::Notice.eq(NOTICE_KEY))
            .filter(token_notice::Column::TokenId.is_in(chunk.iter().map(|t| t.id)))
            .all(db)
            .await?;
        noticed.extend(rows.into_iter().map(|row| (row.token_id, row.created_at)));
    }
    Ok(noticed)
}

/// Records and announces `token.inactive` for `token`, unless another
/// sweep did first; `previous` is the void notice it replaces.
async fn notify(
    db: &DatabaseConnection,
    token: &token::Model,
    previous: Option<DateTime<Utc>>,
    days: i32,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let Some(organization_id) = token.organization_id else {
        return Ok(false);
    };
    let txn = database::begin_write(db).await?;
    let recorded = match previous {
        None => {
            token_notice::Entity::insert(token_notice::ActiveModel {
                token_id: Set(token.id),
                notice: Set(NOTICE_KEY.to_owned()),
                created_at: Set(now),
            })
            .on_conflict(
                OnConflict::columns([token_notice::Column::TokenId, token_notice::Column::Notice])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?
        }
        Some(at) => {
            token_notice::Entity::update_many()
                .col_expr(token_notice::Column::CreatedAt, Expr::value(now))
                .filter(token_notice::Column::TokenId.eq(token.id))
                .filter(token_notice::Column::Notice.eq(NOTICE_KEY))
                .filter(token_notice::Column::CreatedAt.eq(at))
                .exec(&txn)
                .await?
                .rows_affected
        }
    };
    if recorded == 0 {
        return Ok(false);
    }
    let since = unused_since(token);
    outbox::announce(
        &txn,
        organization_id,
        EventType::TokenInactive,
        json!({
            "token": data::token(token),
            "unusedSince": format_instant(since),
            "revokeUnusedAfterDays": days,
            "revokedFrom": format_instant(revoked_from(since, now, days)),
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// Revokes `token` if it is still unused since the sweep read it.
async fn revoke_unused(
    db: &DatabaseConnection,
    token: &token::Model,
    days: i32,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let since = unused_since(token);
    let txn = database::begin_write(db).await?;
    let Some(current) = token::Entity::find_by_id(token.id).one(&txn).await? else {
        return Ok(false);
    };
    if unused_since(&current) != since || status(&current, now) != Status::Active {
        return Ok(false);
    }
    if !retire(&txn, current.id, now, now, RetireIf::NotRevoked).await? {
        return Ok(false);
    }
    let revoked = token::Model {
        revoked_at: Some(now),
        ..current
    };
    let lynk = Actor::default();
    if let Some(organization_id) = revoked.organization_id {
        let detail = json!({
            "reason": "unused",
            "unusedSince": format_instant(since),
            "revokeUnusedAfterDays": days,
        });
        audit::record_with_detail(
            &txn,
            AuditRecord::new(
                organization_id,
                AuditAction::TokenRevoked,
                &lynk,
                revoked.id,
            ),
            detail.to_string(),
            now,
        )
        .await?;
    }
    token_event::announce(&txn, EventType::TokenRevoked, &revoked, None, &lynk).await?;
    txn.commit().await?;
    tracing::info!(token_id = %revoked.id, days, "revoked a token unused too long");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000 + n)
    }

    #[test]
    fn a_notice_comes_seven_days_before_and_revocation_after_it() {
        // Limit 30 days, unused since day 0.
        assert_eq!(step(day(0), None, day(22), 30), Step::Wait);
        assert_eq!(step(day(0), None, day(23), 30), Step::Notify);
        assert_eq!(step(day(0), Some(day(23)), day(29), 30), Step::Wait);
        assert_eq!(step(day(0), Some(day(23)), day(30), 30), Step::Revoke);
        // Found long unused (the policy is new): notice first, revoked a
        // week after it, not at once.
        assert_eq!(step(day(0), None, day(100), 30), Step::Notify);
        assert_eq!(step(day(0), Some(day(100)), day(106), 30), Step::Wait);
        assert_eq!(step(day(0), Some(day(100)), day(107), 30), Step::Revoke);
        assert_eq!(revoked_from(day(0), day(100), 30), day(107));
        assert_eq!(revoked_from(day(0), day(23), 30), day(30));
    }

    #[test]
    fn a_use_after_the_notice_voids_it() {
        // Noticed on day 23, used on day 25: it starts over.
        assert_eq!(step(day(25), Some(day(23)), day(40), 30), Step::Wait);
        assert_eq!(step(day(25), Some(day(23)), day(48), 30), Step::Notify);
        assert_eq!(step(day(25), Some(day(48)), day(55), 30), Step::Revoke);
    }
}
