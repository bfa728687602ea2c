//! The issuers' signing keys: the OIDC discovery document, then the JWKS
//! it names, fetched over HTTPS and cached in memory per issuer.
//!
//! - **Only publishers' issuers.** The exchange looks its publishers up
//!   before asking for keys, so a token naming any other issuer costs no
//!   fetch; at most [`MAX_ISSUERS`] issuers are cached.
//! - **Refreshed, but not on demand.** Keys are kept for [`KEY_TTL`]; an
//!   unknown key id refreshes them (the issuer rotated its keys), but an
//!   issuer is fetched at most once per `min_refresh` (a minute by
//!   default), failed fetches included. A flood of tokens with made-up key
//!   ids costs one fetch a minute, not one each. Concurrent exchanges for
//!   one issuer wait for the same fetch (a lock per issuer).
//! - **Where lynk connects** (docs/DESIGN.md §3.7): the issuer and its `jwks_uri`
//!   follow the webhook address rules, `https` and public, checked before
//!   any request and again after DNS resolution ([`PublicResolver`]); the
//!   `jwks_uri` and any redirect stay on the issuer's origin.
//!   `--oidc-allow-http-issuers` lifts the first rule (a test issuer on
//!   loopback), never the second.
//! - **Bounded answers.** 2 s to connect (a port that swallows packets
//!   costs no more than one that refuses), 5 s per request, 1 MiB per body;
//!   every failure is the same `401` to the caller.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse},
};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

use super::{ExchangeFailure, check_fetch_url, discovery_url, same_origin};
use crate::{error::Error, webhook::resolver::PublicResolver};

/// How long fetched keys are trusted before they are fetched again.
pub const KEY_TTL: Duration = Duration::from_secs(3600);
/// The default least time between two fetches of one issuer.
pub const DEFAULT_MIN_REFRESH: Duration = Duration::from_secs(60);
/// Most issuers cached at once (each is a trusted publisher's issuer).
pub const MAX_ISSUERS: usize = 1024;
/// Longest a discovery or JWKS request may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a connection to an issuer may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest discovery document or JWKS read.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Most redirects followed per request.
const MAX_REDIRECTS: usize = 3;

/// How the keys are fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OidcSettings {
    /// Accept `http` issuers and key URLs (tests only).
    pub allow_http_issuers: bool,
    /// Least time between two fetches of one issuer.
    pub min_refresh: Duration,
}

impl Default for OidcSettings {
    fn default() -> Self {
        OidcSettings {
            allow_http_issuers: false,
            min_refresh: DEFAULT_MIN_REFRESH,
        }
    }
}

/// What is known of one issuer.
#[derive(Default)]
struct Cached {
    keys: Vec<Jwk>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

/// One issuer's entry: its place in the order of addition (the oldest
/// goes first when the cache is full) and its keys, behind a lock held
/// across a fetch.
type Entry = (u64, Arc<tokio::sync::Mutex<Cached>>);

/// The cached issuers, and the number the next one added gets.
#[derive(Default)]
struct Issuers {
    entries: HashMap<String, Entry>,
    added: u64,
}

/// The key cache every exchange goes through.
pub struct IssuerKeys {
    http: reqwest::Client,
    settings: OidcSettings,
    issuers: Mutex<Issuers>,
}

impl fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("settings", &self.settings)
            .field("issuers", &lock(&self.issuers).entries.len())
            .finish()
    }
}

/// Why a fetch failed, for the log.
#[derive(Debug)]
struct FetchError(String);

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<reqwest::Error> for FetchError {
    fn from(err: reqwest::Error) -> Self {
        FetchError(err.to_string())
    }
}

/// The part of a discovery document lynk reads.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// A JWKS whose keys are read one by one, so that one key lynk cannot
/// read does not hide the others.
#[derive(Deserialize)]
struct RawKeySet {
    keys: Vec<Value>,
}

impl IssuerKeys {
    /// A cache with its HTTP client.
    pub fn new(settings: OidcSettings) -> Result<IssuerKeys, Error> {
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            let same_host = attempt
                .previous()
                .first()
                .is_none_or(|first| same_origin(first, attempt.url()));
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if !same_host {
                attempt.error("redirect to another origin")
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .user_agent(concat!("lynk/", env!("CARGO_PKG_VERSION")))
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(redirects)
            .https_only(!settings.allow_http_issuers)
            .no_proxy()
            .dns_resolver(Arc::new(PublicResolver {
                allow_private: settings.allow_http_issuers,
            }))
            .build()
            .map_err(Error::internal)?;
        Ok(IssuerKeys {
            http,
            settings,
            issuers: Mutex::new(Issuers::default()),
        })
    }

    /// Whether `http` issuers are accepted.
    pub fn allow_http_issuers(&self) -> bool {
        self.settings.allow_http_issuers
    }

    /// The issuer's key with `key_id`, usable with `algorithm`: from the
    /// cache, or after a refresh when it is stale or the id is unknown
    /// (at most once per `min_refresh`).
    pub async fn key(
        &self,
        issuer: &str,
        key_id: &str,
        algorithm: Algorithm,
    ) -> Result<DecodingKey, ExchangeFailure> {
        let entry = self.entry(issuer);
        let mut cached = entry.lock().await;
        let fresh = cached.fetched_at.is_some_and(|at| at.elapsed() < KEY_TTL);
        if fresh && let Some(jwk) = select_key(&cached.keys, key_id, algorithm) {
            return decoding_key(jwk);
        }
        if cached
            .attempted_at
            .is_some_and(|at| at.elapsed() < self.settings.min_refresh)
        {
            return Err(if fresh {
                ExchangeFailure::UnknownKey
            } else {
                ExchangeFailure::IssuerUnavailable
            });
        }
        cached.attempted_at = Some(Instant::now());
        match self.fetch(issuer).await {
            Ok(keys) => {
                tracing::info!(issuer, keys = keys.len(), "fetched the issuer's keys");
                cached.keys = keys;
                cached.fetched_at = Some(Instant::now());
            }
            Err(err) => {
                tracing::info!(issuer, error = %err, "could not fetch the issuer's keys");
                return Err(ExchangeFailure::IssuerUnavailable);
            }
        }
        match select_key(&cached.keys, key_id, algorithm) {
            Some(jwk) => decoding_key(jwk),
            None => Err(ExchangeFailure::UnknownKey),
        }
    }

    /// The issuer's entry, added (and the oldest dropped when full) if new.
    fn entry(&self, issuer: &str) -> Arc<tokio::sync::Mutex<Cached>> {
        let mut issuers = lock(&self.issuers);
        if let Some((_, entry)) = issuers.entries.get(issuer) {
            return entry.clone();
        }
        if issuers.entries.len() >= MAX_ISSUERS {
            let oldest = issuers
                .entries
                .iter()
                .min_by_key(|(_, (added, _))| *added)
                .map(|(name, _)| name.clone());
            if let Some(oldest) = oldest {
                issuers.entries.remove(&oldest);
            }
        }
        let entry = Arc::new(tokio::sync::Mutex::new(Cached::default()));
        issuers.added += 1;
        let added = issuers.added;
        issuers
            .entries
            .insert(issuer.to_owned(), (added, entry.clone()));
        entry
    }

    /// Discovery, then the JWKS it names, on the issuer's origin.
    async fn fetch(&self, issuer: &str) -> Result<Vec<Jwk>, FetchError> {
        let allow_http = self.allow_http_issuers();
        // Checked again here: a publisher saved under older rules, or
        // directly in the database, reaches no private address.
        check_fetch_url("issuer", issuer, allow_http).map_err(FetchError)?;
        let discovery: Discovery = self.get_json(&discovery_url(issuer)).await?;
        // OpenID Connect Discovery §4.3: the document is the issuer's own.
        if discovery.issuer != issuer {
            return Err(FetchError(format!(
                "the discovery document names another issuer, {:?}",
                discovery.issuer
            )));
        }
        check_fetch_url("jwks_uri", &discovery.jwks_uri, allow_http).map_err(FetchError)?;
        let on_issuer_origin = match (
            reqwest::Url::parse(issuer),
            reqwest::Url::parse(&discovery.jwks_uri),
        ) {
            (Ok(issuer), Ok(jwks)) => same_origin(&issuer, &jwks),
            _ => false,
        };
        if !on_issuer_origin {
            return Err(FetchError(format!(
                "the jwks_uri {:?} is not on the issuer's host",
                discovery.jwks_uri
            )));
        }
        let set: RawKeySet = self.get_json(&discovery.jwks_uri).await?;
        Ok(set
            .keys
            .into_iter()
            .filter_map(|key| serde_json::from_value(key).ok())
            .collect())
    }

    /// GETs `url` and reads at most [`MAX_RESPONSE_BYTES`] of JSON.
    async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, FetchError> {
        let mut response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError(format!("{url} answered {status}")));
        }
        let too_large = || FetchError(format!("{url} sent more than {MAX_RESPONSE_BYTES} bytes"));
        if response
            .content_length()
            .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map_err(|err| FetchError(format!("{url} did not answer the expected JSON: {err}")))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn decoding_key(jwk: &Jwk) -> Result<DecodingKey, ExchangeFailure> {
    DecodingKey::from_jwk(jwk).map_err(|_| ExchangeFailure::UnknownKey)
}

/// The key with `key_id` that can verify `algorithm`: meant for
/// signatures (`use` absent or `sig`), declaring that algorithm if it
/// declares one, of the right type (RSA for RS256, P-256 for ES256).
pub fn select_key<'a>(keys: &'a [Jwk], key_id: &str, algorithm: Algorithm) -> Option<&'a Jwk> {
    keys.iter().find(|jwk| {
        let common = &jwk.common;
        let for_signatures = matches!(common.public_key_use, None | Some(PublicKeyUse::Signature));
        let declared = common
            .key_algorithm
            .is_none_or(|declared| Algorithm::try_from(declared).ok() == Some(algorithm));
        let kind = match (&jwk.algorithm, algorithm) {
            (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
            (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
                ec.curve == EllipticCurve::P256
            }
            _ => false,
        };
        common.key_id.as_deref() == Some(key_id) && for_signatures && declared && kind
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keys(value: Value) -> Vec<Jwk> {
        serde_json::from_value(value).unwrap()
    }

    // The example keys of RFC 7517, appendix A.1.
    const N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
    const X: &str = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4";
    const Y: &str = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM";

    fn set() -> Vec<Jwk> {
        keys(json!([
            {"kty": "RSA", "kid": "rsa", "use": "sig", "alg": "RS256", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "rsa-enc", "use": "enc", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "rsa-384", "alg": "RS384", "n": N, "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": X, "y": Y},
            {"kty": "RSA", "kid": "shared", "n": N, "e": "AQAB"},
            {"kty": "EC", "kid": "shared", "crv": "P-256", "x": X, "y": Y},
        ]))
    }

    fn kid(found: Option<&Jwk>) -> Option<(&str, bool)> {
        found.map(|jwk| {
            (
                jwk.common.key_id.as_deref().unwrap_or_default(),
                matches!(jwk.algorithm, AlgorithmParameters::RSA(_)),
            )
        })
    }

    #[test]
    fn a_key_is_chosen_by_id_use_algorithm_and_type() {
        let set = set();
        assert_eq!(
            kid(select_key(&set, "rsa", Algorithm::RS256)),
            Some(("rsa", true))
        );
        assert_eq!(
            kid(select_key(&set, "ec", Algorithm::ES256)),
            Some(("ec", false))
        );
        // The wrong type for the algorithm, an encryption key, another
        // declared algorithm, an unknown id: none.
        assert!(select_key(&set, "rsa", Algorithm::ES256).is_none());
        assert!(select_key(&set, "ec", Algorithm::RS256).is_none());
        assert!(select_key(&set, "rsa-enc", Algorithm::RS256).is_none());
        assert!(select_key(&set, "rsa-384", Algorithm::RS256).is_none());
        assert!(select_key(&set, "nope", Algorithm::RS256).is_none());
        // One id, two key types: the one that fits the algorithm.
        assert_eq!(
            kid(select_key(&set, "shared", Algorithm::RS256)),
            Some(("shared", true))
        );
        assert_eq!(
            kid(select_key(&set, "shared", Algorithm::ES256)),
            Some(("shared", false))
        );
        assert!(decoding_key(select_key(&set, "rsa", Algorithm::RS256).unwrap()).is_ok());
    }

    #[tokio::test]
    async fn an_unreachable_issuer_is_asked_at_most_once_per_interval() {
        let cache = IssuerKeys::new(OidcSettings {
            allow_http_issuers: true,
            min_refresh: Duration::from_secs(60),
        })
        .unwrap();
        // Port 9 (discard) on loopback: nothing listens, so the fetch fails fast.
        let issuer = "http://127.0.0.1:9";
        assert_eq!(
            cache.key(issuer, "k", Algorithm::RS256).await.err(),
            Some(ExchangeFailure::IssuerUnavailable)
        );
        let attempted = {
            let entry = cache.entry(issuer);
            let cached = entry.lock().await;
            cached.attempted_at
        };
        assert!(attempted.is_some());
        // Within the interval: refused without a new attempt.
        assert_eq!(
            cache.key(issuer, "other", Algorithm::RS256).await.err(),
            Some(ExchangeFailure::IssuerUnavailable)
        );
        let entry = cache.entry(issuer);
        assert_eq!(entry.lock().await.attempted_at, attempted);
    }

    #[test]
    fn the_cache_holds_a_bounded_number_of_issuers() {
        let cache = IssuerKeys::new(OidcSettings::default()).unwrap();
        for i in 0..MAX_ISSUERS + 10 {
            cache.entry(&format!("https://issuer-{i}.example"));
        }
        let issuers = &lock(&cache.issuers).entries;
        assert_eq!(issuers.len(), MAX_ISSUERS);
        for evicted in 0..10 {
            assert!(!issuers.contains_key(&format!("https://issuer-{evicted}.example")));
        }
        assert!(issuers.contains_key(&format!("https://issuer-{}.example", MAX_ISSUERS + 9)));
    }
}
