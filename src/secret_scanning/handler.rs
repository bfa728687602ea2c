//! `POST /secret-scanning/revoke`: the HTTP side. In order: the
//! endpoint's own rate limit per client address, the signature headers,
//! the body (at most [`MAX_BODY_BYTES`]), the signature over it, the
//! batch, and then the revocations. Anything unsigned or badly signed is
//! a `401` before the database is touched.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Json,
    body::Bytes,
    extract::{ConnectInfo, FromRequest, Request, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use chrono::Utc;
use sea_orm::DatabaseConnection;

use super::{
    key_file::KeyFile,
    keys::Rejection,
    report::{self, feedback},
    revoke::revoke_reported,
};
use crate::{
    auth::{
        credential::client_address,
        guard::FORWARDED_FOR_HEADER,
        rate_limit::{Budget, RateLimits},
    },
    error::Error,
};

/// Which of GitHub's keys signed the body.
pub const KEY_ID_HEADER: &str = "github-public-key-identifier";
/// The base64 DER ECDSA signature over the body.
pub const SIGNATURE_HEADER: &str = "github-public-key-signature";
/// Largest body read (GitHub sends at most a few hundred reports).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Requests a client address may make per minute, whatever their outcome;
/// separate from the login and token budgets.
pub const REQUESTS_PER_MINUTE: u32 = 60;

const BUDGET: Budget = Budget {
    name: "secret_scanning_per_ip",
    max_failures: REQUESTS_PER_MINUTE,
    window: Duration::from_secs(60),
};

/// What the endpoint needs.
#[derive(Debug)]
pub struct SecretScanning {
    pub db: DatabaseConnection,
    pub keys: KeyFile,
    /// The counts store shared with the other budgets (a key of its own).
    pub rate_limits: Arc<RateLimits>,
    pub trusted_proxy_hops: usize,
}

/// The handler. Reports are never logged: only counts, and the ids of
/// what was revoked.
#[tracing::instrument(name = "secret_scanning", skip_all)]
pub async fn revoke(
    State(scanning): State<Arc<SecretScanning>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    match serve(&scanning, peer, request).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn serve(
    scanning: &SecretScanning,
    peer: SocketAddr,
    request: Request,
) -> Result<Response, Error> {
    let headers = request.headers();
    let client = client_address(
        peer.ip(),
        headers.get(FORWARDED_FOR_HEADER).map(|v| v.as_bytes()),
        scanning.trusted_proxy_hops,
    );
    let client = client.to_string();
    if let Err(exhausted) = scanning
        .rate_limits
        .counts
        .record_failure(BUDGET, &client, Utc::now())
        .await?
    {
        return Err(exhausted.into_error());
    }
    let Some((key_id, signature)) = signature_headers(headers) else {
        return Err(refuse(Rejection::MissingHeader));
    };
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    if let Err(rejection) = scanning.keys.verify(&key_id, &signature, &body).await {
        return Err(refuse(rejection));
    }
    let reports = report::parse_batch(&body)?;
    let labels = revoke_reported(&scanning.db, &reports, Some(client)).await?;
    tracing::info!(
        reports = reports.len(),
        revoked = labels
            .iter()
            .filter(|l| **l == report::Label::TruePositive)
            .count(),
        "secret-scanning report handled"
    );
    Ok(Json(feedback(&reports, &labels)).into_response())
}

/// The key identifier and signature, when both headers are present.
fn signature_headers(headers: &HeaderMap) -> Option<(String, String)> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Some((text(KEY_ID_HEADER)?, text(SIGNATURE_HEADER)?))
}

fn refuse(rejection: Rejection) -> Error {
    tracing::info!(reason = %rejection, "secret-scanning report refused");
    Error::Unauthorized
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn both_headers_are_needed_in_any_case() {
        let mut headers = HeaderMap::new();
        assert_eq!(signature_headers(&headers), None);
        headers.insert(
            "GitHub-Public-Key-Identifier",
            HeaderValue::from_static("k"),
        );
        assert_eq!(signature_headers(&headers), None);
        headers.insert("GITHUB-PUBLIC-KEY-SIGNATURE", HeaderValue::from_static("s"));
        assert_eq!(
            signature_headers(&headers),
            Some(("k".to_owned(), "s".to_owned()))
        );
    }
}
