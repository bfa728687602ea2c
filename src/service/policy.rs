//! The rules of docs/DESIGN.md §3 that decide on values alone: token expiry,
//! no escalation, the last admin. Pure functions, tested beside them.

use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};

use crate::{
    auth::{PermissionSet, permission::check_no_escalation},
    error::Error,
};

/// Longest `maxTokenLifetimeDays` an organization may set (ten years).
pub const MAX_POLICY_DAYS: i32 = 3650;

/// A personal token's `expiresAt`: in the future and within the
/// organization's maximum lifetime.
pub fn check_personal_expiry(
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    max_days: i32,
) -> Result<(), Error> {
    if expires_at <= now {
        return Err(Error::bad_input(format!(
            "expiresAt must be in the future (got {}, now is {})",
            expires_at.to_rfc3339(),
            now.to_rfc3339()
        )));
    }
    let latest = now + Duration::days(i64::from(max_days));
    if expires_at > latest {
        return Err(Error::bad_input(format!(
            "expiresAt must be at most {max_days} days from now (the organization's \
             maxTokenLifetimeDays), i.e. no later than {}",
            latest.to_rfc3339()
        )));
    }
    Ok(())
}

/// A service token's optional `expiresAt`: if given, in the future.
pub fn check_service_expiry(
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    match expires_at {
        Some(at) if at <= now => Err(Error::bad_input(format!(
            "expiresAt must be in the future (got {}); omit it for a token that lives until revoked",
            at.to_rfc3339()
        ))),
        _ => Ok(()),
    }
}

/// An instant as the API writes it (the `DateTime` scalar: UTC, `Z`,
/// milliseconds only when there are any), so messages match responses.
pub fn format_instant(at: DateTime<Utc>) -> String {
    at.trunc_subsecs(3)
        .to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Longest grace period of a rotation, in seconds (7 days).
pub const MAX_GRACE_SECONDS: i32 = 7 * 24 * 3600;

/// A rotation's `gracePeriodSeconds`: 0 (the default) to 7 days.
pub fn grace_period(seconds: Option<i32>) -> Result<Duration, Error> {
    match seconds.unwrap_or(0) {
        s @ 0..=MAX_GRACE_SECONDS => Ok(Duration::seconds(i64::from(s))),
        s => Err(Error::bad_input(format!(
            "gracePeriodSeconds must be between 0 and {MAX_GRACE_SECONDS} (7 days); got {s}"
        ))),
    }
}

/// `maxTokenLifetimeDays` must be 1–3650.
pub fn check_policy_days(days: i32) -> Result<(), Error> {
    if (1..=MAX_POLICY_DAYS).contains(&days) {
        Ok(())
    } else {
        Err(Error::bad_input(format!(
            "maxTokenLifetimeDays must be between 1 and {MAX_POLICY_DAYS} (got {days})"
        )))
    }
}

/// No escalation: what the caller grants must be a subset of what it holds.
pub fn check_grant(granted: PermissionSet, held: PermissionSet) -> Result<(), Error> {
    check_no_escalation(granted, held).map_err(|missing| {
        let names: Vec<&str> = missing.iter().map(|p| p.name()).collect();
        Error::Forbidden(format!(
            "you cannot grant permissions you do not hold: {}",
            names.join(", ")
        ))
    })
}

/// Whether demoting or removing a member would leave the organization
/// without an admin.
pub const fn leaves_no_admin(member_is_admin: bool, stays_admin: bool, admin_count: u64) -> bool {
    member_is_admin && !stays_admin && admin_count <= 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{BuiltInRole, Permission};

    #[test]
    fn personal_expiry_must_be_future_and_within_policy() {
        let now = Utc::now();
        assert!(check_personal_expiry(now + Duration::days(30), now, 366).is_ok());
        assert!(check_personal_expiry(now + Duration::days(366), now, 366).is_ok());
        let past = check_personal_expiry(now - Duration::seconds(1), now, 366).unwrap_err();
        assert!(
            past.message()
                .starts_with("expiresAt must be in the future")
        );
        let far = check_personal_expiry(now + Duration::days(367), now, 366).unwrap_err();
        assert!(far.message().contains("at most 366 days"));
        assert!(check_personal_expiry(now + Duration::days(8), now, 7).is_err());
    }

    #[test]
    fn service_expiry_is_optional_but_future() {
        let now = Utc::now();
        assert!(check_service_expiry(None, now).is_ok());
        assert!(check_service_expiry(Some(now + Duration::hours(1)), now).is_ok());
        assert!(check_service_expiry(Some(now), now).is_err());
    }

    #[test]
    fn grace_periods_are_at_most_a_week() {
        assert_eq!(grace_period(None).unwrap(), Duration::zero());
        assert_eq!(grace_period(Some(3600)).unwrap(), Duration::hours(1));
        assert_eq!(
            grace_period(Some(MAX_GRACE_SECONDS)).unwrap(),
            Duration::days(7)
        );
        assert!(grace_period(Some(MAX_GRACE_SECONDS + 1)).is_err());
        assert!(grace_period(Some(-1)).is_err());
    }

    #[test]
    fn policy_days_bounds() {
        assert!(check_policy_days(1).is_ok());
        assert!(check_policy_days(3650).is_ok());
        assert!(check_policy_days(0).is_err());
        assert!(check_policy_days(3651).is_err());
    }

    #[test]
    fn grants_name_what_is_missing() {
        let viewer = BuiltInRole::Viewer.permissions();
        assert!(check_grant(viewer, BuiltInRole::Editor.permissions()).is_ok());
        let err = check_grant(
            PermissionSet::of(&[Permission::TokensWrite, Permission::AuditRead]),
            viewer,
        )
        .unwrap_err();
        assert_eq!(err.code(), "FORBIDDEN");
        assert_eq!(
            err.message(),
            "Forbidden: you cannot grant permissions you do not hold: tokens:write, audit:read"
        );
    }

    #[test]
    fn the_last_admin_stays() {
        assert!(leaves_no_admin(true, false, 1));
        assert!(!leaves_no_admin(true, false, 2));
        assert!(!leaves_no_admin(true, true, 1));
        assert!(!leaves_no_admin(false, false, 0));
    }
}
