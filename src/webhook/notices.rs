//! Expiry notices: `token.expiring` 7 days and 1 day before a personal or
//! service token expires, `token.expired` once it has. Every instance
//! scans at start and then every minute; each notice goes out once per
//! token whichever instance finds it first, because it is recorded in
//! `token_notice` (its primary key refuses a second row) in the same
//! transaction as its announcement.
//!
//! Only the latest notice due is sent: a token found with 12 hours left
//! gets the 1-day notice, not a late 7-day one. A notice is due only if
//! the token lived to see its mark (created at least 7 days, or 1 day,
//! before it expires): a token made with 2 days left gets the 1-day notice
//! only. Tokens that live less than a day (trusted publishing's 15-minute
//! tokens) get none: their expiry is the point, not news.

use std::{collections::HashSet, time::Duration as StdDuration};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::OnConflict,
};
use serde_json::json;
use tokio::time::MissedTickBehavior;
use uuid::Uuid;

use super::{data, event::EventType, outbox};
use crate::{
    auth::CredentialKind,
    entity::{token, token_notice},
    error::Error,
};

/// How often tokens are scanned for notices due.
pub const SCAN_INTERVAL: StdDuration = StdDuration::from_secs(60);

/// One notice about a token's expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Notice {
    /// 7 days or less before, more than 1 day.
    Expiring7d,
    /// 1 day or less before.
    Expiring1d,
    /// In the 7 days after.
    Expired,
}

impl Notice {
    /// Its key in `token_notice`.
    pub const fn key(self) -> &'static str {
        match self {
            Notice::Expiring7d => "token.expiring.7d",
            Notice::Expiring1d => "token.expiring.1d",
            Notice::Expired => "token.expired",
        }
    }

    /// The event it is announced as.
    pub const fn event(self) -> EventType {
        match self {
            Notice::Expiring7d | Notice::Expiring1d => EventType::TokenExpiring,
            Notice::Expired => EventType::TokenExpired,
        }
    }

    /// The event's `expiresIn`, for `token.expiring`.
    pub const fn expires_in(self) -> Option<&'static str> {
        match self {
            Notice::Expiring7d => Some("7d"),
            Notice::Expiring1d => Some("1d"),
            Notice::Expired => None,
        }
    }
}

/// How far before and after expiry notices are looked for.
const WINDOW: Duration = Duration::days(7);

/// The notice due at `now` for a token created at `created_at` that
/// expires at `expires_at`, if any.
pub fn due(
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<Notice> {
    let lifetime = expires_at - created_at;
    if lifetime < Duration::days(1) {
        return None;
    }
    let left = expires_at - now;
    if left <= Duration::zero() {
        return (-left < WINDOW).then_some(Notice::Expired);
    }
    if left <= Duration::days(1) {
        return Some(Notice::Expiring1d);
    }
    (left <= WINDOW && lifetime >= WINDOW).then_some(Notice::Expiring7d)
}

/// Scans at once and then every [`SCAN_INTERVAL`] until `stop` completes.
pub async fn run_until(db: DatabaseConnection, stop: impl Future<Output = ()>) {
    let mut every = tokio::time::interval(SCAN_INTERVAL);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = every.tick() => {
                if let Err(err) = scan(&db, Utc::now()).await {
                    tracing::warn!(error = ?err, "scanning tokens for expiry notices failed");
                }
            }
        }
    }
}

/// Announces every notice due at `now` not announced before; returns how
/// many this call announced.
pub async fn scan(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<usize, Error> {
    let tokens = token::Entity::find()
        .filter(token::Column::Kind.is_in([CredentialKind::Personal, CredentialKind::Service]))
        .filter(token::Column::OrganizationId.is_not_null())
        .filter(token::Column::RevokedAt.is_null())
        .filter(token::Column::ExpiresAt.gt(now - WINDOW))
        .filter(token::Column::ExpiresAt.lte(now + WINDOW))
        .all(db)
        .await?;
    let due: Vec<(token::Model, Notice)> = tokens
        .into_iter()
        .filter_map(|token| {
            let notice = due(token.created_at, token.expires_at?, now)?;
            Some((token, notice))
        })
        .collect();
    if due.is_empty() {
        return Ok(0);
    }
    // Most notices due were sent in an earlier scan: skip those without
    // a write.
    let sent: HashSet<(Uuid, String)> = token_notice::Entity::find()
        .filter(token_notice::Column::TokenId.is_in(due.iter().map(|(token, _)| token.id)))
        .all(db)
        .await?
        .into_iter()
        .map(|sent| (sent.token_id, sent.notice))
        .collect();
    let mut announced = 0;
    for (token, notice) in due {
        if sent.contains(&(token.id, notice.key().to_owned())) {
            continue;
        }
        if announce_once(db, &token, notice, now).await? {
            announced += 1;
        }
    }
    Ok(announced)
}

/// Records `notice` for `token` and announces it, unless another scan
/// recorded it first; returns whether this one did.
async fn announce_once(
    db: &DatabaseConnection,
    token: &token::Model,
    notice: Notice,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let Some(organization_id) = token.organization_id else {
        return Ok(false);
    };
    let txn = db.begin().await?;
    let inserted = token_notice::Entity::insert(token_notice::ActiveModel {
        token_id: Set(token.id),
        notice: Set(notice.key().to_owned()),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([token_notice::Column::TokenId, token_notice::Column::Notice])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    if inserted == 0 {
        return Ok(false);
    }
    let mut data = json!({ "token": data::token(token) });
    if let Some(expires_in) = notice.expires_in() {
        data["expiresIn"] = json!(expires_in);
    }
    outbox::announce(&txn, organization_id, notice.event(), data).await?;
    txn.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours_from_now: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000) + Duration::hours(hours_from_now)
    }

    #[test]
    fn the_latest_notice_due_is_the_one() {
        let now = at(0);
        let long_ago = at(-24 * 90);
        assert_eq!(due(long_ago, at(24 * 8), now), None);
        assert_eq!(due(long_ago, at(24 * 7), now), Some(Notice::Expiring7d));
        assert_eq!(due(long_ago, at(24 * 3), now), Some(Notice::Expiring7d));
        assert_eq!(due(long_ago, at(25), now), Some(Notice::Expiring7d));
        assert_eq!(due(long_ago, at(24), now), Some(Notice::Expiring1d));
        assert_eq!(due(long_ago, at(12), now), Some(Notice::Expiring1d));
        assert_eq!(due(long_ago, at(0), now), Some(Notice::Expired));
        assert_eq!(due(long_ago, at(-1), now), Some(Notice::Expired));
        assert_eq!(due(long_ago, at(-24 * 7 + 1), now), Some(Notice::Expired));
        assert_eq!(due(long_ago, at(-24 * 7), now), None);
    }

    #[test]
    fn a_token_gets_only_the_notices_it_lived_to_see() {
        let now = at(0);
        // Created with 2 days left: no 7-day notice, the 1-day one later.
        assert_eq!(due(at(0), at(48), now), None);
        assert_eq!(due(at(0), at(48), at(30)), Some(Notice::Expiring1d));
        // Created with exactly 7 days left: the 7-day notice.
        assert_eq!(due(at(-1), at(24 * 7 - 1), now), Some(Notice::Expiring7d));
        // Short-lived tokens (trusted publishing): none at all.
        assert_eq!(due(at(-1), at(0), at(0)), None);
        assert_eq!(due(at(-2), at(-1), now), None);
    }

    #[test]
    fn notices_name_their_event() {
        assert_eq!(Notice::Expiring7d.event().name(), "token.expiring");
        assert_eq!(Notice::Expiring1d.expires_in(), Some("1d"));
        assert_eq!(Notice::Expired.event().name(), "token.expired");
        assert_eq!(Notice::Expired.expires_in(), None);
        assert_ne!(Notice::Expiring7d.key(), Notice::Expiring1d.key());
    }
}
