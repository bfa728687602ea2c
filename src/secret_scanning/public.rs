//! `POST /tokens/revoke` (docs/DESIGN.md §9, "Revocation for everyone"):
//! anyone who finds a lynk secret kills it, without a credential. A
//! self-hosted lynk cannot join GitHub's secret-scanning partner program,
//! so this is how a token found in a paste or a public repository dies.
//!
//! The body is `{"tokens": [...]}`: at most [`MAX_TOKENS`] strings and
//! [`MAX_BODY_BYTES`]. Every live lynk secret among them is revoked
//! exactly as a scanner's report would revoke it ([`revoke_reported`]:
//! audited and announced as `token.leaked`, `detail.source` `"public"`).
//! The answer is `202` with [`ACCEPTED_BODY`] whatever the strings were,
//! so it tells nobody whether a string was a live token; strings that
//! fail the offline checks (prefix, length, alphabet, checksum) never
//! reach the database. Each client address has its own budget of
//! [`REQUESTS_PER_MINUTE`].

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    extract::{ConnectInfo, FromRequest, Request, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use sea_orm::DatabaseConnection;
use serde::Deserialize;

use super::{report::Report, revoke::revoke_reported};
use crate::{
    auth::{
        credential::client_address,
        guard::FORWARDED_FOR_HEADER,
        rate_limit::{Budget, RateLimits},
        token_format,
    },
    error::Error,
};

/// Most strings one request may carry.
pub const MAX_TOKENS: usize = 1000;
/// Largest body read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Requests a client address may make per minute, whatever their outcome.
pub const REQUESTS_PER_MINUTE: u32 = 30;
/// The one answer to every accepted request.
pub const ACCEPTED_BODY: &str =
    r#"{"message":"Every live lynk secret among these strings is now revoked."}"#;
/// `detail.source` of what this endpoint revokes.
pub const SOURCE: &str = "public";

const BUDGET: Budget = Budget {
    name: "public_revoke_per_ip",
    max_failures: REQUESTS_PER_MINUTE,
    window: Duration::from_secs(60),
};

/// What the endpoint needs.
#[derive(Debug)]
pub struct PublicRevocation {
    pub db: DatabaseConnection,
    /// The counts store shared with the other budgets (a key of its own).
    pub rate_limits: Arc<RateLimits>,
    pub trusted_proxy_hops: usize,
}

/// The body: strings anyone found.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    tokens: Vec<String>,
}

/// The handler. The strings are never logged: only counts.
#[tracing::instrument(name = "public_revoke", skip_all)]
pub async fn revoke(
    State(endpoint): State<Arc<PublicRevocation>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    match serve(&endpoint, peer, request).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn serve(
    endpoint: &PublicRevocation,
    peer: SocketAddr,
    request: Request,
) -> Result<Response, Error> {
    let client = client_address(
        peer.ip(),
        request
            .headers()
            .get(FORWARDED_FOR_HEADER)
            .map(|v| v.as_bytes()),
        endpoint.trusted_proxy_hops,
    )
    .to_string();
    if let Err(exhausted) = endpoint
        .rate_limits
        .counts
        .record_failure(BUDGET, &client, Utc::now())
        .await?
    {
        return Err(exhausted.into_error());
    }
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let strings = parse(&body)?;
    let reports = well_formed(strings);
    if !reports.is_empty() {
        revoke_reported(&endpoint.db, &reports, Some(client)).await?;
    }
    tracing::info!(
        candidates = reports.len(),
        "public revocation request handled"
    );
    Ok(accepted())
}

/// The `202` every accepted request gets.
pub fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        ACCEPTED_BODY,
    )
        .into_response()
}

/// The strings of a body, at most [`MAX_TOKENS`]. The error never quotes
/// the body (it may hold secrets), only where it went wrong.
fn parse(body: &[u8]) -> Result<Vec<String>, Error> {
    let submission: Submission = serde_json::from_slice(body).map_err(|err| {
        Error::BadRequest(format!(
            "the body must be a JSON object {{\"tokens\": [\"...\"]}} with an array of strings \
             (error at line {}, column {})",
            err.line(),
            err.column()
        ))
    })?;
    if submission.tokens.len() > MAX_TOKENS {
        return Err(Error::BadRequest(format!(
            "too many strings: at most {MAX_TOKENS} per request, this one has {}",
            submission.tokens.len()
        )));
    }
    Ok(submission.tokens)
}

/// The strings that pass the offline checks, as reports from the public;
/// the rest cost nothing more.
fn well_formed(strings: Vec<String>) -> Vec<Report> {
    strings
        .into_iter()
        .filter(|s| token_format::parse(s).is_ok())
        .map(|token| Report {
            token,
            token_type: "lynk".to_owned(),
            url: String::new(),
            source: SOURCE.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::CredentialKind;

    #[test]
    fn only_lynk_secrets_with_a_good_checksum_are_kept() {
        let live = token_format::generate(CredentialKind::Service);
        let secret = live.secret.expose().to_owned();
        let mut bad_checksum = secret.clone();
        let last = bad_checksum.pop().unwrap();
        bad_checksum.push(if last == 'A' { 'B' } else { 'A' });
        let kept = well_formed(vec![
            "ghp_not_ours".into(),
            bad_checksum,
            secret.clone(),
            String::new(),
        ]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].token, secret);
        assert_eq!(kept[0].source, "public");
        // The report's Debug never shows the string.
        assert!(!format!("{:?}", kept[0]).contains(&secret));
    }

    #[test]
    fn the_body_is_an_object_of_at_most_a_thousand_strings() {
        assert_eq!(parse(br#"{"tokens": ["a", "b"]}"#).unwrap(), ["a", "b"]);
        assert_eq!(parse(br#"{"tokens": []}"#).unwrap(), Vec::<String>::new());
        let many = serde_json::json!({ "tokens": vec!["x"; MAX_TOKENS + 1] }).to_string();
        let error = parse(many.as_bytes()).unwrap_err();
        assert_eq!(
            error.message(),
            "too many strings: at most 1000 per request, this one has 1001"
        );
        for bad in [
            &b"[\"lynk_live_secret\"]"[..],
            br#"{"tokens": [1]}"#,
            br#"{"tokens": ["a"], "more": 1}"#,
            b"not json",
        ] {
            let error = parse(bad).unwrap_err();
            assert_eq!(error.code(), "BAD_REQUEST");
            assert!(!error.message().contains("lynk_live_secret"));
        }
    }
}
