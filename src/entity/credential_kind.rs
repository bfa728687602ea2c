//! What a stored credential is: one type for the secret's prefix
//! ([`crate::auth::token_format`]), the `token.kind` column, the
//! [`crate::auth::Principal`] and the verification query's row.
//!
//! Every decision on a kind is an exhaustive `match`, so adding a kind is
//! an edit the compiler walks through. The verification SQL
//! ([`crate::auth::verify`]) branches on the stored strings too; a unit test
//! there keeps it naming the values below.

use sea_orm::{Iterable, entity::prelude::*};

/// The kind of a bearer credential, stored in `token.kind` as `personal`,
/// `service` or `session`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum CredentialKind {
    /// A user's personal access token, in one organization.
    #[sea_orm(string_value = "personal")]
    Personal,
    /// An organization's service token, acting with a role of its own.
    #[sea_orm(string_value = "service")]
    Service,
    /// A user's session from `login`.
    #[sea_orm(string_value = "session")]
    Session,
}

impl CredentialKind {
    /// The stored value, without allocating (sea-orm's `to_value` returns
    /// a `String`); the same strings, as a unit test holds.
    pub const fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Personal => "personal",
            CredentialKind::Service => "service",
            CredentialKind::Session => "session",
        }
    }

    /// The kind stored as `stored`; `None` for a value lynk never writes.
    pub fn from_stored(stored: &str) -> Option<CredentialKind> {
        CredentialKind::iter().find(|kind| kind.as_str() == stored)
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::ActiveEnum;

    use super::*;

    #[test]
    fn stored_values_round_trip_and_match_sea_orms() {
        for kind in CredentialKind::iter() {
            assert_eq!(kind.to_value(), kind.as_str());
            assert_eq!(CredentialKind::from_stored(kind.as_str()), Some(kind));
            assert_eq!(
                CredentialKind::try_from_value(&kind.as_str().to_owned()).ok(),
                Some(kind)
            );
        }
        assert_eq!(CredentialKind::iter().count(), 3);
    }

    #[test]
    fn the_column_keeps_todays_strings() {
        // Stored rows are read as they are: no data migration.
        assert_eq!(
            CredentialKind::iter()
                .map(CredentialKind::as_str)
                .collect::<Vec<_>>(),
            ["personal", "service", "session"]
        );
        assert_eq!(CredentialKind::from_stored("invitation"), None);
        assert_eq!(CredentialKind::from_stored("Personal"), None);
        assert_eq!(CredentialKind::from_stored(""), None);
    }
}
