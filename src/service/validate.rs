//! Input rules shared by every entry point. Messages say what is wrong and
//! what is valid.

use crate::error::Error;

/// Longest name (organization, token, role) accepted.
/// Longest name (of a token, role, project, organization…), in characters.
pub const MAX_NAME_LEN: usize = 100;

/// Trims a display name and checks it is 1–100 characters.
pub fn name(field: &str, value: &str) -> Result<String, Error> {
    let trimmed = value.trim();
    let len = trimmed.chars().count();
    if len == 0 || len > MAX_NAME_LEN {
        return Err(Error::bad_input(format!(
            "{field} must be between 1 and {MAX_NAME_LEN} characters (got {len})"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::bad_input(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(trimmed.to_owned())
}

/// Longest description (role, project) accepted.
pub const MAX_DESCRIPTION_LEN: usize = 500;

/// Trims an optional description and checks it is at most 500 characters.
pub fn description(value: Option<String>) -> Result<Option<String>, Error> {
    match value.map(|d| d.trim().to_owned()) {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_LEN => Err(Error::bad_input(format!(
            "description must be at most {MAX_DESCRIPTION_LEN} characters (got {})",
            d.chars().count()
        ))),
        other => Ok(other),
    }
}

/// Longest email address accepted (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_LEN: usize = 254;

/// Lower-cases and checks the shape of an email address. The length is
/// checked first, before any copy is made.
pub fn email(value: &str) -> Result<String, Error> {
    let trimmed = value.trim();
    if trimmed.len() > MAX_EMAIL_LEN {
        return Err(Error::bad_input(format!(
            "an email address is at most {MAX_EMAIL_LEN} bytes (got {})",
            trimmed.len()
        )));
    }
    let email = trimmed.to_lowercase();
    let valid = email.len() <= MAX_EMAIL_LEN
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(Error::bad_input(format!(
            "`{}` is not a valid email address (expected name@example.com)",
            value.trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  Acme ").ok().as_deref(), Some("Acme"));
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"x".repeat(101)).is_err());
        assert!(name("name", "a\nb").is_err());
    }

    #[test]
    fn descriptions_are_trimmed_and_bounded() {
        assert_eq!(description(None).ok(), Some(None));
        assert_eq!(description(Some(" x ".into())).ok(), Some(Some("x".into())));
        assert!(description(Some("x".repeat(501))).is_err());
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            email(" Ada@Example.COM ").ok().as_deref(),
            Some("ada@example.com")
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }
}
