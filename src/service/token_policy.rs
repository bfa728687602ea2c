//! An organization's token policy (docs/DESIGN.md §9, "Token policy"): the
//! longest lifetimes of new tokens, whether service tokens must expire,
//! and how long a token may sit unused before it is revoked.
//!
//! - Lifetimes bind tokens created (or given a new expiry) afterwards;
//!   tokens that exist keep theirs.
//! - `revokeUnusedAfterDays`: a personal or service token unused that
//!   long (never used: since it was created) is revoked by the scanner
//!   ([`super::token_inactivity`]) 7 days after its `token.inactive`
//!   notice. A change that sets it, or lowers it, revokes at once what is
//!   already unused that long, and its dry run names exactly those.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde_json::json;

use crate::{
    auth::CredentialKind,
    database,
    entity::{organization, token},
    error::Error,
    service::{
        audit::{self, AuditAction, AuditRecord},
        caller::Caller,
        policy::{self, MAX_POLICY_DAYS},
        token::{RetireIf, not_revoked_at, retire},
        token_bulk::MAX_BULK_TOKENS,
        token_event,
    },
    webhook::event::EventType,
};

/// How long before revocation for inactivity `token.inactive` goes out.
pub const INACTIVE_NOTICE_DAYS: i32 = 7;

/// The shortest `revokeUnusedAfterDays`: a token gets its notice after at
/// least one day unused, and 7 days to be used before it is revoked.
pub const MIN_UNUSED_DAYS: i32 = INACTIVE_NOTICE_DAYS + 1;

/// An organization's token policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenPolicy {
    /// The longest a personal token may live, in days.
    pub max_token_lifetime_days: i32,
    /// The longest a service token may live, in days; `None`: no limit.
    pub max_service_token_lifetime_days: Option<i32>,
    /// Whether a new service token must expire.
    pub require_service_token_expiry: bool,
    /// Tokens unused this many days are revoked; `None`: never.
    pub revoke_unused_after_days: Option<i32>,
}

impl TokenPolicy {
    /// The policy stored with `org`.
    pub fn of(org: &organization::Model) -> TokenPolicy {
        TokenPolicy {
            max_token_lifetime_days: org.max_token_lifetime_days,
            max_service_token_lifetime_days: org.max_service_token_lifetime_days,
            require_service_token_expiry: org.require_service_token_expiry,
            revoke_unused_after_days: org.revoke_unused_after_days,
        }
    }

    /// This policy with `changes`, each value checked.
    pub fn with(self, changes: &PolicyChanges) -> Result<TokenPolicy, Error> {
        let mut next = self;
        if let Some(days) = changes.max_token_lifetime_days {
            policy::check_policy_days(days)?;
            next.max_token_lifetime_days = days;
        }
        if let Some(days) = changes.max_service_token_lifetime_days {
            if let Some(days) = days {
                check_days("maxServiceTokenLifetimeDays", days, 1)?;
            }
            next.max_service_token_lifetime_days = days;
        }
        if let Some(required) = changes.require_service_token_expiry {
            next.require_service_token_expiry = required;
        }
        if let Some(days) = changes.revoke_unused_after_days {
            if let Some(days) = days {
                check_days("revokeUnusedAfterDays", days, MIN_UNUSED_DAYS)?;
            }
            next.revoke_unused_after_days = days;
        }
        Ok(next)
    }

    /// How long unused a token is revoked at once by the change from
    /// `self` to `next`: only when `next` sets a limit where there was
    /// none, or a shorter one.
    pub fn revokes_at_once(self, next: TokenPolicy) -> Option<i32> {
        match (self.revoke_unused_after_days, next.revoke_unused_after_days) {
            (_, None) => None,
            (None, Some(days)) => Some(days),
            (Some(before), Some(days)) => (days < before).then_some(days),
        }
    }

    /// The policy as the audit log keeps it.
    fn to_json(self) -> serde_json::Value {
        json!({
            "maxTokenLifetimeDays": self.max_token_lifetime_days,
            "maxServiceTokenLifetimeDays": self.max_service_token_lifetime_days,
            "requireServiceTokenExpiry": self.require_service_token_expiry,
            "revokeUnusedAfterDays": self.revoke_unused_after_days,
        })
    }

    /// A service token's `expiresAt` under this policy: in the future,
    /// present if the policy requires it or limits the lifetime, and within
    /// that limit.
    pub fn check_service_expiry(
        &self,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        policy::check_service_expiry(expires_at, now)?;
        let limit = self.max_service_token_lifetime_days;
        match (expires_at, limit) {
            (None, Some(days)) => Err(Error::bad_input(format!(
                "expiresAt is required: the organization's token policy limits service tokens \
                 to {days} days (maxServiceTokenLifetimeDays)"
            ))),
            (None, None) if self.require_service_token_expiry => Err(Error::bad_input(
                "expiresAt is required: the organization's token policy requires service \
                 tokens to expire (requireServiceTokenExpiry)",
            )),
            (Some(at), Some(days)) => {
                let latest = now + Duration::days(i64::from(days));
                if at > latest {
                    return Err(Error::bad_input(format!(
                        "expiresAt must be at most {days} days from now (the organization's \
                         maxServiceTokenLifetimeDays), i.e. no later than {}",
                        policy::format_instant(latest)
                    )));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// A policy bound checked: `min` to [`MAX_POLICY_DAYS`].
fn check_days(field: &str, days: i32, min: i32) -> Result<(), Error> {
    if (min..=MAX_POLICY_DAYS).contains(&days) {
        return Ok(());
    }
    let why = if min > 1 {
        format!(
            " (a token gets its token.inactive notice {INACTIVE_NOTICE_DAYS} days before it is \
             revoked)"
        )
    } else {
        String::new()
    };
    Err(Error::bad_input(format!(
        "{field} must be between {min} and {MAX_POLICY_DAYS} (got {days}){why}; set it to null \
         for no limit"
    )))
}

/// What `updateTokenPolicy` changes: `None` leaves a field as it is; for
/// the nullable ones `Some(None)` lifts the limit.
#[derive(Clone, Debug, Default)]
pub struct PolicyChanges {
    pub max_token_lifetime_days: Option<i32>,
    pub max_service_token_lifetime_days: Option<Option<i32>>,
    pub require_service_token_expiry: Option<bool>,
    pub revoke_unused_after_days: Option<Option<i32>>,
}

/// What a policy change did (or, as a dry run, would do).
#[derive(Debug)]
pub struct PolicyChange {
    pub policy: TokenPolicy,
    /// The tokens it revoked at once, oldest first.
    pub revoked: Vec<token::Model>,
}

/// When a token was last used, or created if never: what "unused for N
/// days" counts from.
pub fn unused_since(token: &token::Model) -> DateTime<Utc> {
    token.last_used_at.unwrap_or(token.created_at)
}

/// The SQL condition for the organization's personal and service tokens
/// that work at `now` and have been unused since before `before`.
pub fn unused_condition(
    organization_id: uuid::Uuid,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Condition {
    Condition::all()
        .add(token::Column::OrganizationId.eq(organization_id))
        .add(token::Column::Kind.is_in([CredentialKind::Personal, CredentialKind::Service]))
        .add(not_revoked_at(now))
        .add(
            Condition::any()
                .add(token::Column::ExpiresAt.is_null())
                .add(token::Column::ExpiresAt.gt(now)),
        )
        .add(
            Condition::any()
                .add(token::Column::LastUsedAt.lte(before))
                .add(
                    Condition::all()
                        .add(token::Column::LastUsedAt.is_null())
                        .add(token::Column::CreatedAt.lte(before)),
                ),
        )
}

/// The moment before which a token counts as unused for `days` at `now`.
pub fn unused_cutoff(now: DateTime<Utc>, days: i32) -> DateTime<Utc> {
    now - Duration::days(i64::from(days))
}

/// The organization's tokens unused for `days` at `now`, oldest first.
pub async fn unused_tokens(
    conn: &impl ConnectionTrait,
    organization_id: uuid::Uuid,
    days: i32,
    now: DateTime<Utc>,
) -> Result<Vec<token::Model>, Error> {
    Ok(token::Entity::find()
        .filter(unused_condition(
            organization_id,
            unused_cutoff(now, days),
            now,
        ))
        .order_by_asc(token::Column::Id)
        .all(conn)
        .await?)
}

/// `updateTokenPolicy`: sets the caller's organization's policy, audited
/// as `organization.token_policy_updated` with the policy before and
/// after; when it sets or lowers `revokeUnusedAfterDays`, revokes what is
/// already unused that long, in the same transaction. A dry run changes
/// nothing and answers what the change would do now.
pub async fn update(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    changes: PolicyChanges,
    dry_run: bool,
) -> Result<PolicyChange, Error> {
    let organization_id = caller.organization_id();
    let now = Utc::now();
    let txn = database::begin_organization_write(db, organization_id).await?;
    let current = organization::Entity::find_by_id(organization_id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("organization"))?;
    let before = TokenPolicy::of(&current);
    let after = before.with(&changes)?;
    let unused = match before.revokes_at_once(after) {
        Some(days) => unused_tokens(&txn, organization_id, days, now).await?,
        None => Vec::new(),
    };
    if unused.len() > MAX_BULK_TOKENS {
        return Err(Error::bad_input(format!(
            "this change would revoke {} tokens unused that long at once; one change revokes at \
             most {MAX_BULK_TOKENS}: revoke some first with revokeTokens (lastUsedBefore, \
             neverUsed), or set a longer revokeUnusedAfterDays and lower it in steps",
            unused.len()
        )));
    }
    if dry_run {
        // Dropped without a commit: nothing was written.
        return Ok(PolicyChange {
            policy: after,
            revoked: unused,
        });
    }
    let mut active = current.into_active_model();
    active.max_token_lifetime_days = Set(after.max_token_lifetime_days);
    active.max_service_token_lifetime_days = Set(after.max_service_token_lifetime_days);
    active.require_service_token_expiry = Set(after.require_service_token_expiry);
    active.revoke_unused_after_days = Set(after.revoke_unused_after_days);
    active.update(&txn).await?;
    audit::record_with_detail(
        &txn,
        AuditRecord::new(
            organization_id,
            AuditAction::TokenPolicyUpdated,
            &caller.actor,
            organization_id,
        ),
        json!({"before": before.to_json(), "after": after.to_json()}).to_string(),
        now,
    )
    .await?;
    let mut revoked = Vec::with_capacity(unused.len());
    for row in unused {
        // Conditional: one revoked meanwhile is left to whoever did it.
        if !retire(&txn, row.id, now, now, RetireIf::NotRevoked).await? {
            continue;
        }
        let row = token::Model {
            revoked_at: Some(now),
            ..row
        };
        let detail = json!({
            "reason": "unused",
            "unusedSince": policy::format_instant(unused_since(&row)),
            "revokeUnusedAfterDays": after.revoke_unused_after_days,
        });
        audit::record_with_detail(
            &txn,
            AuditRecord::new(
                organization_id,
                AuditAction::TokenRevoked,
                &caller.actor,
                row.id,
            ),
            detail.to_string(),
            now,
        )
        .await?;
        token_event::announce(&txn, EventType::TokenRevoked, &row, None, &caller.actor).await?;
        revoked.push(row);
    }
    txn.commit().await?;
    Ok(PolicyChange {
        policy: after,
        revoked,
    })
}

/// The caller's organization's policy, read with the row.
pub async fn of_organization(
    conn: &impl ConnectionTrait,
    organization_id: uuid::Uuid,
) -> Result<TokenPolicy, Error> {
    organization::Entity::find_by_id(organization_id)
        .one(conn)
        .await?
        .map(|org| TokenPolicy::of(&org))
        .ok_or(Error::NotFound("organization"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: TokenPolicy = TokenPolicy {
        max_token_lifetime_days: 366,
        max_service_token_lifetime_days: None,
        require_service_token_expiry: false,
        revoke_unused_after_days: None,
    };

    #[test]
    fn changes_are_checked_and_null_lifts_a_limit() {
        let strict = DEFAULT
            .with(&PolicyChanges {
                max_service_token_lifetime_days: Some(Some(90)),
                require_service_token_expiry: Some(true),
                revoke_unused_after_days: Some(Some(30)),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(strict.max_service_token_lifetime_days, Some(90));
        assert_eq!(strict.max_token_lifetime_days, 366);
        let lifted = strict
            .with(&PolicyChanges {
                max_service_token_lifetime_days: Some(None),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(lifted.max_service_token_lifetime_days, None);
        assert_eq!(lifted.revoke_unused_after_days, Some(30));
        let short = DEFAULT
            .with(&PolicyChanges {
                revoke_unused_after_days: Some(Some(7)),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(short.code(), "BAD_USER_INPUT");
        assert!(
            short
                .message()
                .starts_with("revokeUnusedAfterDays must be between 8 and 3650 (got 7)")
        );
        let zero = DEFAULT
            .with(&PolicyChanges {
                max_service_token_lifetime_days: Some(Some(0)),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(
            zero.message(),
            "maxServiceTokenLifetimeDays must be between 1 and 3650 (got 0); set it to null for \
             no limit"
        );
    }

    #[test]
    fn only_a_new_or_shorter_inactivity_limit_revokes_at_once() {
        let with = |days| TokenPolicy {
            revoke_unused_after_days: days,
            ..DEFAULT
        };
        assert_eq!(with(None).revokes_at_once(with(Some(30))), Some(30));
        assert_eq!(with(Some(60)).revokes_at_once(with(Some(30))), Some(30));
        assert_eq!(with(Some(30)).revokes_at_once(with(Some(30))), None);
        assert_eq!(with(Some(30)).revokes_at_once(with(Some(60))), None);
        assert_eq!(with(Some(30)).revokes_at_once(with(None)), None);
    }

    #[test]
    fn service_expiry_follows_the_policy() {
        let now = Utc::now();
        let day = Duration::days(1);
        assert!(DEFAULT.check_service_expiry(None, now).is_ok());
        let required = TokenPolicy {
            require_service_token_expiry: true,
            ..DEFAULT
        };
        let missing = required.check_service_expiry(None, now).unwrap_err();
        assert!(missing.message().contains("requireServiceTokenExpiry"));
        assert!(required.check_service_expiry(Some(now + day), now).is_ok());
        let limited = TokenPolicy {
            max_service_token_lifetime_days: Some(30),
            ..DEFAULT
        };
        assert!(
            limited
                .check_service_expiry(None, now)
                .unwrap_err()
                .message()
                .contains("limits service tokens to 30 days (maxServiceTokenLifetimeDays)")
        );
        assert!(
            limited
                .check_service_expiry(Some(now + day * 30), now)
                .is_ok()
        );
        let far = limited
            .check_service_expiry(Some(now + day * 31), now)
            .unwrap_err();
        assert_eq!(far.code(), "BAD_USER_INPUT");
        assert!(far.message().starts_with(
            "expiresAt must be at most 30 days from now (the organization's \
             maxServiceTokenLifetimeDays)"
        ));
        // The past is refused before the policy is asked.
        assert!(
            limited
                .check_service_expiry(Some(now - day), now)
                .unwrap_err()
                .message()
                .starts_with("expiresAt must be in the future")
        );
    }
}
