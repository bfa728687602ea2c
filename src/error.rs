//! lynk's one error type, with the stable codes of docs/DESIGN.md §4.1.
//!
//! `Error` deliberately does not implement `Display`: async-graphql turns
//! any `Display` type into a client-visible message, and an internal error's
//! text (SQL, driver messages) must never reach a client. The only way to
//! a GraphQL error is [`From<Error> for async_graphql::Error`], and the only
//! way to an HTTP answer is [`IntoResponse`]; both log internal causes once,
//! with the request id, and send a generic message.

use std::{cell::Cell, fmt};

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

tokio::task_local! {
    /// The HTTP request being served: its id, for error reports and logs,
    /// and the status an error met during execution asks for.
    pub static REQUEST: RequestScope;
}

/// What the errors of one request tell the HTTP layer. Set where an
/// [`Error`] becomes a GraphQL error, read by the handler once execution is
/// over: the status is decided by the typed error, never by reading the
/// finished response.
#[derive(Debug)]
pub struct RequestScope {
    id: String,
    status: Cell<Option<Escalation>>,
}

/// A request-level status asked for by an error met during execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escalation {
    /// `UNAUTHORIZED`: the whole answer is the 401 of docs/DESIGN.md §1.
    Unauthorized,
    /// `RATE_LIMITED`: the answer is a 429 with `Retry-After`.
    RateLimited { retry_after_secs: u64 },
    /// `SERVICE_UNAVAILABLE`: the answer is a 503 with `Retry-After`.
    Overloaded { retry_after_secs: u64 },
}

impl RequestScope {
    pub fn new(id: String) -> RequestScope {
        RequestScope {
            id,
            status: Cell::new(None),
        }
    }

    /// The request id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The status asked for, if any: `UNAUTHORIZED` wins over
    /// `RATE_LIMITED`.
    pub fn escalation(&self) -> Option<Escalation> {
        self.status.get()
    }

    fn escalate(&self, to: Escalation) {
        if self.status.get() != Some(Escalation::Unauthorized) {
            self.status.set(Some(to));
        }
    }
}

/// The id of the request being served, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST.try_with(|scope| scope.id.clone()).ok()
}

/// Every way a lynk operation can fail.
pub enum Error {
    /// Missing, malformed, unknown, expired or revoked credential; wrong password.
    Unauthorized,
    /// The caller's credential lacks the named permission the field needs.
    MissingPermission(&'static str),
    /// The caller's role grants the permission, but the credential in use
    /// may not use it: `(permission, why)` (docs/DESIGN.md §3.6: a
    /// project-restricted credential is project-level; §3.4: a secret in its
    /// rotation grace manages no token).
    Withheld(&'static str, &'static str),
    /// The credential may not act in the organization `X-Organization-ID`
    /// names (request-level, docs/DESIGN.md §4.1).
    OrganizationForbidden,
    /// The caller may not do this, for a reason other than a missing permission.
    Forbidden(String),
    /// The project accepts uploads only through trusted publishing
    /// (`extensions.reason: "UPLOAD_POLICY"`, docs/DESIGN.md §9).
    UploadPolicy,
    /// An argument is invalid; the message says what is wrong and what is valid.
    BadUserInput(String),
    /// The id does not exist in the caller's organization.
    NotFound(&'static str),
    /// A uniqueness or integrity rule would break.
    Conflict(String),
    /// Too many failed attempts.
    RateLimited { retry_after_secs: u64 },
    /// The server has no room for this work now (the password check
    /// queue is full); nothing was done.
    Overloaded { retry_after_secs: u64 },
    /// Anything unexpected. The cause is logged, never sent.
    Internal(Box<dyn std::error::Error + Send + Sync>),
    /// The body is not a GraphQL request (malformed JSON, a broken
    /// multipart upload, no `query`).
    BadRequest(String),
    /// The query text is over the limit; the message names it.
    QueryTooLarge(String),
    /// The body is over `body_limit`, the limit for an SBOM document of
    /// `max_sbom_bytes`.
    PayloadTooLarge {
        max_sbom_bytes: usize,
        body_limit: usize,
    },
    /// A `POST` body that is neither JSON nor a multipart upload.
    UnsupportedMediaType,
    /// A mutation sent with `GET`.
    MethodNotAllowed,
}

/// Shorthand for results in lynk.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable `extensions.code` clients match on.
    pub const fn code(&self) -> &'static str {
        match self {
            Error::Unauthorized => "UNAUTHORIZED",
            Error::MissingPermission(_)
            | Error::Withheld(..)
            | Error::Forbidden(_)
            | Error::UploadPolicy
            | Error::OrganizationForbidden => "FORBIDDEN",
            Error::BadUserInput(_) => "BAD_USER_INPUT",
            Error::NotFound(_) => "NOT_FOUND",
            Error::Conflict(_) => "CONFLICT",
            Error::RateLimited { .. } => "RATE_LIMITED",
            Error::Overloaded { .. } => "SERVICE_UNAVAILABLE",
            Error::Internal(_) => "INTERNAL_SERVER_ERROR",
            Error::BadRequest(_) => "BAD_REQUEST",
            Error::QueryTooLarge(_) | Error::PayloadTooLarge { .. } => "QUERY_TOO_LARGE",
            Error::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Error::MethodNotAllowed => "METHOD_NOT_ALLOWED",
        }
    }

    /// The HTTP status of this error answered for a whole request
    /// (docs/DESIGN.md §4.1): user errors inside a well-formed request are a 200.
    pub const fn status_code(&self) -> StatusCode {
        match self {
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::OrganizationForbidden => StatusCode::FORBIDDEN,
            Error::MissingPermission(_)
            | Error::Withheld(..)
            | Error::Forbidden(_)
            | Error::UploadPolicy
            | Error::BadUserInput(_)
            | Error::NotFound(_)
            | Error::Conflict(_) => StatusCode::OK,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::QueryTooLarge(_) | Error::PayloadTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The client-facing message. Never includes an internal cause.
    pub fn message(&self) -> String {
        match self {
            Error::Unauthorized => "Unauthorized".to_owned(),
            Error::OrganizationForbidden => "Forbidden".to_owned(),
            Error::MissingPermission(p) => format!("Forbidden: this needs the `{p}` permission"),
            Error::Withheld(p, why) => {
                format!("Forbidden: this needs the `{p}` permission, which {why}")
            }
            Error::Forbidden(reason) => format!("Forbidden: {reason}"),
            Error::UploadPolicy => "Forbidden: this project's upload policy is \
                TRUSTED_PUBLISHING_ONLY: upload with a token from exchangeOidcToken"
                .to_owned(),
            Error::BadUserInput(message) | Error::Conflict(message) => message.clone(),
            Error::NotFound(what) => format!("{what} not found"),
            Error::RateLimited { retry_after_secs } => {
                format!("Too many attempts; retry after {retry_after_secs} seconds")
            }
            Error::Overloaded { retry_after_secs } => format!(
                "The server is busy checking passwords; retry after {retry_after_secs} seconds"
            ),
            Error::Internal(_) => "Internal server error".to_owned(),
            Error::BadRequest(message) | Error::QueryTooLarge(message) => message.clone(),
            Error::PayloadTooLarge {
                max_sbom_bytes,
                body_limit,
            } => format!(
                "length limit exceeded: an SBOM document may be at most {max_sbom_bytes} bytes \
                 (the body of a request at most {body_limit} bytes)"
            ),
            Error::UnsupportedMediaType => "Unsupported media type: POST a JSON body with \
                 Content-Type: application/json (or multipart/form-data for uploads)"
                .to_owned(),
            Error::MethodNotAllowed => "Mutations must use POST".to_owned(),
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
        let _ = REQUEST.try_with(|scope| match err {
            Error::Unauthorized => scope.escalate(Escalation::Unauthorized),
            Error::RateLimited { retry_after_secs } => {
                scope.escalate(Escalation::RateLimited { retry_after_secs });
            }
            Error::Overloaded { retry_after_secs } => {
                scope.escalate(Escalation::Overloaded { retry_after_secs });
            }
            _ => {}
        });
        graphql_error(&err)
    }
}

/// The GraphQL error for `err`, its internal cause logged.
fn graphql_error(err: &Error) -> async_graphql::Error {
    let request_id = current_request_id();
    if let Error::Internal(cause) = err {
        tracing::error!(
            request_id = request_id.as_deref().unwrap_or("-"),
            error = %cause,
            "internal error"
        );
    }
    let mut gql = async_graphql::Error::new(err.message());
    let extensions = gql.extensions.get_or_insert_with(Default::default);
    extensions.set("code", err.code());
    match err {
        Error::MissingPermission(p) | Error::Withheld(p, _) => {
            extensions.set("requiredPermission", *p)
        }
        Error::RateLimited { retry_after_secs } | Error::Overloaded { retry_after_secs } => {
            extensions.set("retryAfter", *retry_after_secs);
        }
        Error::UploadPolicy => extensions.set("reason", "UPLOAD_POLICY"),
        Error::Internal(_) => {
            if let Some(id) = request_id {
                extensions.set("requestId", id);
            }
        }
        _ => {}
    }
    gql
}

/// A GraphQL response body holding only `errors` (no `data`: nothing was
/// executed), as GraphQL over HTTP answers a request error.
#[derive(serde::Serialize)]
pub struct ErrorsBody<'a> {
    pub errors: &'a [async_graphql::ServerError],
}

impl ErrorsBody<'_> {
    /// The body as a JSON response with `status`.
    pub fn into_response_with(self, status: StatusCode) -> Response {
        match serde_json::to_vec(&self) {
            Ok(body) => (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

/// A whole request answered with this error: its [`Error::status_code`]
/// and a GraphQL `errors` body (docs/DESIGN.md §4.1). `UNAUTHORIZED` carries the
/// `WWW-Authenticate` challenge, `RATE_LIMITED` its `Retry-After`, and a
/// `GET` mutation `Allow: POST`. A body over the size limit is answered in
/// the plain-text shape of the body-limit layer's own 413.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if let Error::PayloadTooLarge { .. } = self {
            return (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                )],
                self.message(),
            )
                .into_response();
        }
        let graphql = graphql_error(&self);
        let mut error = async_graphql::ServerError::new(graphql.message, None);
        error.extensions = graphql.extensions;
        let mut response = ErrorsBody {
            errors: std::slice::from_ref(&error),
        }
        .into_response_with(status);
        let headers = response.headers_mut();
        match self {
            Error::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="lynk""#),
                );
            }
            Error::RateLimited { retry_after_secs } | Error::Overloaded { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Error::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            _ => {}
        }
        response
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
        let gql: async_graphql::Error = Error::MissingPermission("members:read").into();
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
