//! The request check: from an HTTP request's head to the caller, in one
//! call ([`Guard::authenticate`]), in the spirit of crates.io's `AuthCheck`.
//!
//! It reads `Authorization`, `X-Organization-ID` and the client address,
//! verifies the credential in one query ([`super::verify`]), and records
//! the use (`lastUsedAt`). The body is never read here: a caller without a
//! valid credential comes back as [`Caller::Anonymous`], which the HTTP
//! layer lets run only public operations (`login`, `acceptInvitation`,
//! `exchangeOidcToken`) and otherwise refuses with [`Anonymous::refuse`],
//! which spends the address's failure budget. Every rejection renders
//! itself ([`AuthRejection`] implements `IntoResponse`), and every outcome
//! has stable metric labels, so this module needs neither the GraphQL
//! layer nor the metrics registry.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    http::{HeaderValue, header, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};

use super::{
    address_rule::{self, AddressVerdict},
    credential::{
        PresentedCredential, client_address, presented_credential, requested_organization,
    },
    credential_kind::CredentialKind,
    last_used::{LastUsedRecorder, RejectionReason},
    principal::{AuthFailure, Principal, UnauthorizedReason},
    rate_limit::{RateLimits, retry_after_secs},
    verify::Verifier,
};
use crate::error::Error;

/// Header that selects the organization a session (or token) acts in.
pub const ORGANIZATION_HEADER: &str = "x-organization-id";
/// Header a proxy appends the client's address to.
pub const FORWARDED_FOR_HEADER: &str = "x-forwarded-for";

/// Everything the request check needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Guard {
    verifier: Verifier,
    rate_limits: Arc<RateLimits>,
    trusted_proxy_hops: usize,
    last_used: Arc<LastUsedRecorder>,
}

/// The caller of a request that passed the check.
#[derive(Debug)]
pub struct Authenticated {
    /// The client's address (after the trusted proxies).
    pub client: IpAddr,
    /// When the credential was checked.
    pub at: DateTime<Utc>,
    /// Who is calling.
    pub caller: Caller,
}

/// Who is calling.
#[derive(Debug)]
pub enum Caller {
    /// A credential that verified: shared from here on (the request's
    /// context holds it), so each step hands on a pointer, not its bytes.
    Principal(Arc<Principal>),
    /// No valid credential: only public operations may run.
    Anonymous(Anonymous),
}

/// What a checked caller may run, once its operation is known.
#[derive(Debug)]
pub enum Admission {
    /// A verified credential: anything its permissions allow.
    Principal(Arc<Principal>),
    /// No valid credential, on a public operation: it runs anonymously.
    Public,
    /// No valid credential, on anything else: refuse it
    /// ([`Anonymous::refuse`]).
    Refused(Anonymous),
}

/// A caller without a valid credential, and why.
#[derive(Debug, Clone, Copy)]
pub struct Anonymous {
    reason: UnauthorizedReason,
    token_was_sent: bool,
}

/// Why a request is refused before any of it runs.
#[derive(Debug)]
pub enum AuthRejection {
    /// 401: no valid credential, on an operation that needs one.
    Unauthorized { token_was_sent: bool },
    /// 403: a valid credential asked to act in an organization it may not.
    Forbidden,
    /// 429: the client's address spent its budget of failures.
    RateLimited { retry_after_secs: u64 },
    /// The check itself failed (the database is unreachable).
    Internal(Error),
}

impl Guard {
    pub fn new(
        verifier: Verifier,
        rate_limits: Arc<RateLimits>,
        trusted_proxy_hops: usize,
        last_used: Arc<LastUsedRecorder>,
    ) -> Guard {
        Guard {
            verifier,
            rate_limits,
            trusted_proxy_hops,
            last_used,
        }
    }

    /// Checks the request's credential from its head alone. A caller
    /// without a valid one is not refused here (public operations are
    /// anonymous); a credential that may not act in the requested
    /// organization is (403).
    pub async fn authenticate(
        &self,
        parts: &Parts,
        peer: SocketAddr,
    ) -> Result<Authenticated, AuthRejection> {
        let headers = &parts.headers;
        let presented =
            presented_credential(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()));
        let requested =
            requested_organization(headers.get(ORGANIZATION_HEADER).map(|v| v.as_bytes()));
        let client = client_address(
            peer.ip(),
            headers.get(FORWARDED_FOR_HEADER).map(|v| v.as_bytes()),
            self.trusted_proxy_hops,
        );
        let at = Utc::now();
        let verified = match self.verifier.verify(presented, requested, at).await {
            Ok(verified) => verified,
            Err(err) => return Err(AuthRejection::Internal(err)),
        };
        let token_was_sent = matches!(presented, PresentedCredential::Candidate(_));
        let caller = match verified.outcome {
            // The address check runs on the row already read: no statement.
            // A child is held to its parent's rule as well as its own.
            Ok(principal) => match address_rule::check(principal.addresses.as_ref(), client).and(
                address_rule::check(principal.parent_addresses.as_ref(), client),
            ) {
                AddressVerdict::Allowed => {
                    self.last_used.record(&principal, client, at);
                    Caller::Principal(Arc::new(principal))
                }
                AddressVerdict::Reported => {
                    self.last_used.record_rejection(
                        principal.token_id,
                        RejectionReason::AddressNotAllowed,
                        client,
                        at,
                    );
                    self.last_used.record(&principal, client, at);
                    Caller::Principal(Arc::new(principal))
                }
                AddressVerdict::Refused => {
                    self.last_used.record_rejection(
                        principal.token_id,
                        RejectionReason::AddressNotAllowed,
                        client,
                        at,
                    );
                    Caller::Anonymous(Anonymous {
                        reason: UnauthorizedReason::AddressNotAllowed,
                        token_was_sent,
                    })
                }
            },
            Err(AuthFailure::Unauthorized(reason)) => {
                let recorded = match reason {
                    UnauthorizedReason::Revoked => Some(RejectionReason::Revoked),
                    UnauthorizedReason::Expired => Some(RejectionReason::Expired),
                    _ => None,
                };
                if let (Some(recorded), Some(token_id)) = (recorded, verified.refused_token) {
                    self.last_used
                        .record_rejection(token_id, recorded, client, at);
                }
                Caller::Anonymous(Anonymous {
                    reason,
                    token_was_sent,
                })
            }
            Err(AuthFailure::Forbidden) => return Err(AuthRejection::Forbidden),
        };
        Ok(Authenticated { client, at, caller })
    }

    /// Notes the permissions `principal`'s request was granted, once it
    /// has run (`Token.permissionsUsed`, written behind the request).
    pub fn record_granted(&self, principal: &Principal, at: DateTime<Utc>) {
        self.last_used.record_granted(principal, at);
    }
}

impl Authenticated {
    /// Whether no credential verified.
    pub fn is_anonymous(&self) -> bool {
        matches!(self.caller, Caller::Anonymous(_))
    }

    /// The decision about this caller for an operation that is `public`
    /// (`login`, `acceptInvitation`, `exchangeOidcToken`) or not.
    pub fn admit(self, public: bool) -> Admission {
        match self.caller {
            Caller::Principal(principal) => Admission::Principal(principal),
            Caller::Anonymous(_) if public => Admission::Public,
            Caller::Anonymous(anonymous) => Admission::Refused(anonymous),
        }
    }

    /// The verified principal, if any.
    pub fn principal(&self) -> Option<&Principal> {
        match &self.caller {
            Caller::Principal(principal) => Some(principal),
            Caller::Anonymous(_) => None,
        }
    }

    /// The metric labels (`outcome`, `reason`) of this check, for a request
    /// whose operation is `public` or not.
    pub fn labels(&self, public: bool) -> (&'static str, &'static str) {
        match &self.caller {
            Caller::Principal(principal) => ("ok", kind_label(principal.kind)),
            Caller::Anonymous(anonymous) if public => ("anonymous", anonymous.reason.as_str()),
            Caller::Anonymous(anonymous) => ("unauthorized", anonymous.reason.as_str()),
        }
    }
}

impl Anonymous {
    /// Why the credential did not verify.
    pub fn reason(&self) -> UnauthorizedReason {
        self.reason
    }

    /// Refuses a caller without a valid credential on anything but a public
    /// operation: 401, or 429 once its address has spent its budget of
    /// failures (requests without any credential count too). A credential
    /// that verifies never gets here, so it is never refused for its
    /// address's failures.
    pub async fn refuse(self, guard: &Guard, client: IpAddr) -> AuthRejection {
        let limits = &guard.rate_limits;
        let counted = limits
            .counts
            .record_failure(limits.budgets.auth_per_ip, &client.to_string(), Utc::now())
            .await;
        match counted {
            Ok(Ok(())) => {}
            Ok(Err(exhausted)) => {
                tracing::warn!(%client, "too many failed authentications");
                return AuthRejection::RateLimited {
                    retry_after_secs: retry_after_secs(exhausted.retry_after),
                };
            }
            // Never fail open into execution; the 401 stands. The cause is
            // logged by the conversion.
            Err(err) => drop(async_graphql::Error::from(err)),
        }
        tracing::info!(reason = self.reason.as_str(), "authentication failed");
        AuthRejection::Unauthorized {
            token_was_sent: self.token_was_sent,
        }
    }
}

impl AuthRejection {
    /// The metric labels (`outcome`, `reason`) of this rejection.
    pub fn labels(&self) -> (&'static str, &'static str) {
        match self {
            AuthRejection::Unauthorized { .. } => ("unauthorized", "refused"),
            AuthRejection::Forbidden => ("forbidden", "organization"),
            AuthRejection::RateLimited { .. } => ("unauthorized", "rate_limited"),
            AuthRejection::Internal(_) => ("error", "internal"),
        }
    }
}

fn kind_label(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::Session => "session",
        CredentialKind::Personal => "personal_token",
        CredentialKind::Service => "service_token",
    }
}

/// The answers of docs/DESIGN.md §4.1: the exact 401 body of §1 with its
/// `WWW-Authenticate` challenge (`error="invalid_token"` when a token was
/// sent), the exact request-level 403, a 429 with `Retry-After`.
impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Unauthorized { token_was_sent } => {
                let mut response = Error::Unauthorized.into_response();
                if token_was_sent {
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(r#"Bearer realm="lynk", error="invalid_token""#),
                    );
                }
                response
            }
            AuthRejection::Forbidden => {
                tracing::info!("credential may not act in the requested organization");
                Error::OrganizationForbidden.into_response()
            }
            AuthRejection::RateLimited { retry_after_secs } => {
                Error::RateLimited { retry_after_secs }.into_response()
            }
            AuthRejection::Internal(err) => err.into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::{body::to_bytes, http::StatusCode};

    use super::*;

    async fn body(response: Response) -> String {
        String::from_utf8(
            to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn unauthorized_is_the_exact_body_with_its_challenge() {
        for (token_was_sent, challenge) in [
            (false, r#"Bearer realm="lynk""#),
            (true, r#"Bearer realm="lynk", error="invalid_token""#),
        ] {
            let response = AuthRejection::Unauthorized { token_was_sent }.into_response();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(response.headers()[header::WWW_AUTHENTICATE], challenge);
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
            assert_eq!(
                body(response).await,
                r#"{"errors":[{"message":"Unauthorized","extensions":{"code":"UNAUTHORIZED"}}]}"#
            );
        }
    }

    #[tokio::test]
    async fn forbidden_and_rate_limited_render_as_design_says() {
        let response = AuthRejection::Forbidden.into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            body(response).await,
            r#"{"errors":[{"message":"Forbidden","extensions":{"code":"FORBIDDEN"}}]}"#
        );
        let response = AuthRejection::RateLimited {
            retry_after_secs: 7,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        let text = body(response).await;
        assert!(
            text.contains(r#""code":"RATE_LIMITED","retryAfter":7"#),
            "{text}"
        );
    }

    #[test]
    fn outcomes_name_the_reason() {
        let checked = |reason| Authenticated {
            client: "10.0.0.1".parse().unwrap(),
            at: Utc::now(),
            caller: Caller::Anonymous(Anonymous {
                reason,
                token_was_sent: true,
            }),
        };
        assert_eq!(
            checked(UnauthorizedReason::Revoked).labels(false),
            ("unauthorized", "revoked")
        );
        assert_eq!(
            checked(UnauthorizedReason::Missing).labels(true),
            ("anonymous", "missing")
        );
        assert_eq!(
            AuthRejection::Forbidden.labels(),
            ("forbidden", "organization")
        );
    }

    #[tokio::test]
    async fn an_internal_failure_never_shows_its_cause() {
        let response = AuthRejection::Internal(Error::internal("connection refused: 10.0.0.5"))
            .into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let text = body(response).await;
        assert!(!text.contains("10.0.0.5"), "{text}");
        assert!(text.contains("INTERNAL_SERVER_ERROR"), "{text}");
    }
}
