//! Parking a webhook that keeps failing (docs/DESIGN.md §4.5). Every attempt sent to
//! an active webhook updates its record in the transaction that records
//! the attempt: a delivered one clears its failures, a failed one counts.
//! A webhook is parked once every attempt has failed for [`PARK_AFTER`],
//! at least [`PARK_AFTER_FAILURES`] of them in a row: it is made inactive
//! (nothing more is queued for it, and what is pending fails unsent),
//! `parked_at` says when, and a `webhook.parked` audit record tells its
//! owner, since an event could not reach a receiver that is down.
//! `updateWebhook(active: true)` resumes it with a clean record.
//!
//! Both conditions, because either alone misfires: a day can hold only
//! two attempts of one delivery on the retry schedule, and a burst of
//! events during a short outage fails many attempts within minutes.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait, Func},
};
use serde_json::json;

use crate::{
    entity::webhook,
    error::Error,
    service::audit::{self, Actor, AuditAction, AuditRecord},
};

/// How long every attempt must have failed before a webhook is parked.
pub const PARK_AFTER: Duration = Duration::hours(24);

/// How many attempts in a row must have failed before a webhook is parked.
pub const PARK_AFTER_FAILURES: i32 = 10;

/// Whether a webhook whose last `failures_in_a_row` attempts failed, the
/// first of them at `failing_since`, is parked at `now`.
pub fn should_park(
    failures_in_a_row: i32,
    failing_since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    failures_in_a_row >= PARK_AFTER_FAILURES
        && failing_since.is_some_and(|since| now - since >= PARK_AFTER)
}

/// Records on `hook` the outcome of an attempt made at `attempted_at`,
/// parking it if it keeps failing. Call it in the attempt's transaction.
pub async fn record_attempt<C: ConnectionTrait>(
    conn: &C,
    hook: &webhook::Model,
    delivered: bool,
    attempted_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if delivered {
        webhook::Entity::update_many()
            .col_expr(webhook::Column::FailuresInARow, Expr::value(0))
            .col_expr(
                webhook::Column::FailingSince,
                Expr::value(None::<DateTime<Utc>>),
            )
            .filter(webhook::Column::Id.eq(hook.id))
            .filter(webhook::Column::FailuresInARow.ne(0))
            .exec(conn)
            .await?;
        return Ok(());
    }
    webhook::Entity::update_many()
        .col_expr(
            webhook::Column::FailuresInARow,
            Expr::col(webhook::Column::FailuresInARow).add(1),
        )
        .col_expr(
            webhook::Column::FailingSince,
            Func::coalesce([
                Expr::col(webhook::Column::FailingSince),
                Expr::value(attempted_at),
            ])
            .into(),
        )
        .filter(webhook::Column::Id.eq(hook.id))
        .exec(conn)
        .await?;
    let Some(current) = webhook::Entity::find_by_id(hook.id).one(conn).await? else {
        return Ok(());
    };
    if !current.active || !should_park(current.failures_in_a_row, current.failing_since, now) {
        return Ok(());
    }
    park(conn, &current, now).await
}

/// Makes `hook` inactive as parked, and audits it once.
async fn park<C: ConnectionTrait>(
    conn: &C,
    hook: &webhook::Model,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let parked = webhook::Entity::update_many()
        .col_expr(webhook::Column::Active, Expr::value(false))
        .col_expr(webhook::Column::ParkedAt, Expr::value(now))
        .filter(webhook::Column::Id.eq(hook.id))
        .filter(webhook::Column::Active.eq(true))
        .exec(conn)
        .await?;
    if parked.rows_affected == 0 {
        return Ok(());
    }
    let detail = json!({
        "failedAttempts": hook.failures_in_a_row,
        "failingSince": hook.failing_since,
    });
    let actor = Actor::default();
    let record = AuditRecord::new(
        hook.organization_id,
        AuditAction::WebhookParked,
        &actor,
        hook.id,
    );
    audit::record_with_detail(conn, record, detail.to_string(), now).await?;
    tracing::warn!(
        webhook = %hook.id,
        organization = %hook.organization_id,
        failed_attempts = hook.failures_in_a_row,
        "a webhook that kept failing was parked"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000) + Duration::hours(hours)
    }

    #[test]
    fn a_day_of_failures_and_ten_in_a_row_park_it() {
        let now = at(0);
        assert!(should_park(10, Some(at(-24)), now));
        assert!(should_park(500, Some(at(-100)), now));
        // A short outage, however many events it failed.
        assert!(!should_park(500, Some(at(-23)), now));
        // A day, but few attempts: one delivery's retries.
        assert!(!should_park(9, Some(at(-30)), now));
        assert!(!should_park(0, None, now));
        assert!(!should_park(10, None, now));
    }
}
