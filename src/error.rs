//! lynk's one error type, with the stable codes of DESIGN §4.
//!
//! `Error` deliberately does not implement `Display`: async-graphql turns
//! any `Display` type into a client-visible message, and an internal error's
//! text (SQL, driver messages) must never reach a client. The only way to
//! a GraphQL error is [`From<Error> for async_graphql::Error`], which logs
//! internal causes once, with the request id, and sends a generic message.

use std::fmt;

use crate::auth::permission::Permission;

tokio::task_local! {
    /// The id of the HTTP request being served, for error reports and logs.
    pub static REQUEST_ID: String;
}

/// Every way a lynk operation can fail.
pub enum Error {
    /// Missing, malformed, unknown, expired or revoked credential; wrong password.
    Unauthorized,
    /// The caller's credential lacks a permission the field needs.
    MissingPermission(Permission),
    /// The caller may not do this, for a reason other than a missing permission.
    Forbidden(String),
    /// An argument is invalid; the message says what is wrong and what is valid.
    BadUserInput(String),
    /// The id does not exist in the caller's organization.
    NotFound(&'static str),
    /// A uniqueness or integrity rule would break.
    Conflict(String),
    /// Too many failed attempts.
    RateLimited { retry_after_secs: u64 },
    /// Anything unexpected. The cause is logged, never sent.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

/// Shorthand for results in lynk.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable `extensions.code` clients match on.
    pub const fn code(&self) -> &'static str {
        match self {
            Error::Unauthorized => "UNAUTHORIZED",
            Error::MissingPermission(_) | Error::Forbidden(_) => "FORBIDDEN",
            Error::BadUserInput(_) => "BAD_USER_INPUT",
            Error::NotFound(_) => "NOT_FOUND",
            Error::Conflict(_) => "CONFLICT",
            Error::RateLimited { .. } => "RATE_LIMITED",
            Error::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The client-facing message. Never includes an internal cause.
    pub fn message(&self) -> String {
        match self {
            Error::Unauthorized => "Unauthorized".to_owned(),
            Error::MissingPermission(p) => format!("Forbidden: this needs the `{p}` permission"),
            Error::Forbidden(reason) => format!("Forbidden: {reason}"),
            Error::BadUserInput(message) | Error::Conflict(message) => message.clone(),
            Error::NotFound(what) => format!("{what} not found"),
            Error::RateLimited { retry_after_secs } => {
                format!("Too many attempts; retry after {retry_after_secs} seconds")
            }
            Error::Internal(_) => "Internal server error".to_owned(),
        }
    }

    /// Wraps any unexpected error.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Internal(cause.into())
    }

    /// Shorthand for a bad argument.
    pub fn bad_input(message: impl Into<String>) -> Error {
        Error::BadUserInput(message.into())
    }

    /// Shorthand for a conflict.
    pub fn conflict(message: impl Into<String>) -> Error {
        Error::Conflict(message.into())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Internal(cause) => write!(f, "Internal({cause})"),
            other => write!(f, "{}({})", other.code(), other.message()),
        }
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Self {
        Error::internal(err)
    }
}

/// Turns a unique-key violation into a user-facing `CONFLICT`.
pub trait ResultExt<T> {
    /// On a unique-constraint violation, `CONFLICT` with `message`;
    /// any other database error stays internal.
    fn on_conflict(self, message: impl FnOnce() -> String) -> Result<T>;
}

impl<T> ResultExt<T> for std::result::Result<T, sea_orm::DbErr> {
    fn on_conflict(self, message: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|err| match err.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => Error::Conflict(message()),
            _ => Error::internal(err),
        })
    }
}

impl From<sea_orm::TransactionError<Error>> for Error {
    fn from(err: sea_orm::TransactionError<Error>) -> Self {
        match err {
            sea_orm::TransactionError::Connection(db) => Error::internal(db),
            sea_orm::TransactionError::Transaction(inner) => inner,
        }
    }
}

impl From<Error> for async_graphql::Error {
    fn from(err: Error) -> Self {
        let request_id = REQUEST_ID.try_with(Clone::clone).ok();
        if let Error::Internal(cause) = &err {
            tracing::error!(
                request_id = request_id.as_deref().unwrap_or("-"),
                error = %cause,
                "internal error"
            );
        }
        let mut gql = async_graphql::Error::new(err.message());
        let extensions = gql.extensions.get_or_insert_with(Default::default);
        extensions.set("code", err.code());
        match &err {
            Error::MissingPermission(p) => extensions.set("requiredPermission", p.name()),
            Error::RateLimited { retry_after_secs } => {
                extensions.set("retryAfter", *retry_after_secs)
            }
            Error::Internal(_) => {
                if let Some(id) = request_id {
                    extensions.set("requestId", id);
                }
            }
            _ => {}
        }
        gql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extension(err: &async_graphql::Error, name: &str) -> Option<String> {
        err.extensions
            .as_ref()
            .and_then(|e| e.get(name))
            .map(|v| v.to_string())
    }

    #[test]
    fn internal_errors_never_show_their_cause() {
        let err = Error::internal("SELECT * FROM token -- secret detail");
        let gql: async_graphql::Error = err.into();
        assert_eq!(gql.message, "Internal server error");
        assert_eq!(
            extension(&gql, "code").as_deref(),
            Some("\"INTERNAL_SERVER_ERROR\"")
        );
    }

    #[test]
    fn missing_permission_names_it() {
        let gql: async_graphql::Error = Error::MissingPermission(Permission::MembersRead).into();
        assert_eq!(
            gql.message,
            "Forbidden: this needs the `members:read` permission"
        );
        assert_eq!(extension(&gql, "code").as_deref(), Some("\"FORBIDDEN\""));
        assert_eq!(
            extension(&gql, "requiredPermission").as_deref(),
            Some("\"members:read\"")
        );
    }
}
