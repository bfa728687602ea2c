//! Trusted publishing (docs/DESIGN.md §8.3): the rules that decide whether a CI
//! job's OIDC identity token may be exchanged for a service token. Pure
//! functions, tested beside them; fetching and caching the issuers' keys
//! is [`jwks`], the exchange itself `service::trusted_publisher`.
//!
//! What is checked, in order: the header names RS256 or ES256 and a key
//! id (never `none`, an HMAC or anything else); the named project and the
//! unverified `iss` pick the publishers to consider (docs/DESIGN.md §3.7: only that
//! project's), so that only their issuers are ever fetched, and only at
//! public `https` addresses; the signature, with the issuer's key of that
//! id; then, on the verified claims, `exp`/`nbf`/`iat` within a minute of
//! leeway, a validity of at most [`MAX_VALIDITY_SECS`], a `jti`, and
//! `iss`, `aud` and `sub` against each publisher, oldest first, with its
//! claim conditions and pinned ids ([`conditions`]). The first that
//! matches wins; its `jti` is then spent (`service::trusted_publisher`).

pub mod conditions;
pub mod jwks;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{error::Error, service::validate::MAX_NAME_LEN, webhook::address};

/// Signature algorithms accepted: GitHub Actions and GitLab CI sign with
/// RS256; ES256 for issuers with elliptic-curve keys.
pub const ALLOWED_ALGORITHMS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: f64 = 60.0;

/// Longest an identity token may be valid (`exp` less `iat`, or less
/// `nbf` when earlier): CI tokens live minutes; one valid for years is a
/// stolen credential waiting to be used.
pub const MAX_VALIDITY_SECS: f64 = 6.0 * 3600.0;

/// Longest identity token read (GitHub's are about 1.5 KB).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Longest issuer, audience and subject of a trusted publisher.
pub const MAX_FIELD_CHARS: usize = 255;

/// Claims copied into the `token.exchanged` audit event when present:
/// GitHub Actions', then GitLab CI's, naming what ran and for what.
pub const AUDITED_CLAIMS: [&str; 12] = [
    "repository",
    "workflow",
    "job_workflow_ref",
    "ref",
    "sha",
    "environment",
    "run_id",
    "actor",
    "project_path",
    "ci_config_ref_uri",
    "pipeline_id",
    "user_login",
];

/// Why an exchange failed. Logged, never sent: every failure answers the
/// same `401`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExchangeFailure {
    /// Not a JWT lynk can read (too long, bad encoding, an algorithm such
    /// as `none` that is not even a signature).
    Malformed,
    /// Signed with an algorithm outside [`ALLOWED_ALGORITHMS`].
    Algorithm,
    /// The header names no key id.
    NoKeyId,
    /// The project named with the token is not an id.
    BadProjectId,
    /// No trusted publisher of the named project names this issuer (an
    /// unknown project has none).
    UnknownIssuer,
    /// The issuer's discovery document or JWKS could not be fetched.
    IssuerUnavailable,
    /// The issuer has no usable key with that id (even after a refresh).
    UnknownKey,
    /// The signature does not verify.
    Signature,
    /// A required claim (`iss`, `sub`, `aud`, `exp`, `iat`) is missing or
    /// of the wrong type.
    Claims,
    Expired,
    NotYetValid,
    IssuedInFuture,
    /// Valid for longer than [`MAX_VALIDITY_SECS`].
    TooLongLived,
    /// No `jti`, so it could not be held to one exchange.
    NoTokenId,
    /// Valid, but its `aud` and `sub` match no publisher of its issuer.
    NoMatchingPublisher,
    /// Its `jti` was exchanged already.
    Replayed,
    /// It satisfies a publisher but for the ids that publisher pinned
    /// (a renamed or re-created repository, project or owner).
    PinMismatch,
}

impl ExchangeFailure {
    /// A stable label for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExchangeFailure::Malformed => "malformed",
            ExchangeFailure::Algorithm => "algorithm_not_allowed",
            ExchangeFailure::NoKeyId => "no_key_id",
            ExchangeFailure::BadProjectId => "bad_project_id",
            ExchangeFailure::UnknownIssuer => "unknown_issuer",
            ExchangeFailure::IssuerUnavailable => "issuer_unavailable",
            ExchangeFailure::UnknownKey => "unknown_key",
            ExchangeFailure::Signature => "bad_signature",
            ExchangeFailure::Claims => "missing_claims",
            ExchangeFailure::Expired => "expired",
            ExchangeFailure::NotYetValid => "not_yet_valid",
            ExchangeFailure::IssuedInFuture => "issued_in_future",
            ExchangeFailure::TooLongLived => "too_long_lived",
            ExchangeFailure::NoTokenId => "no_token_id",
            ExchangeFailure::NoMatchingPublisher => "no_matching_publisher",
            ExchangeFailure::Replayed => "replayed",
            ExchangeFailure::PinMismatch => "pinned_ids_differ",
        }
    }
}

/// The alg allow-list.
pub fn check_algorithm(algorithm: Algorithm) -> Result<Algorithm, ExchangeFailure> {
    if ALLOWED_ALGORITHMS.contains(&algorithm) {
        Ok(algorithm)
    } else {
        Err(ExchangeFailure::Algorithm)
    }
}

/// What a token says before its signature is checked: enough to pick the
/// publishers and the key, nothing to trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unverified {
    pub algorithm: Algorithm,
    pub key_id: String,
    pub issuer: String,
}

/// Reads the header and the unverified `iss`.
pub fn read_unverified(token: &str) -> Result<Unverified, ExchangeFailure> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: String,
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(ExchangeFailure::Malformed);
    }
    // An `alg` jsonwebtoken does not know (`none`) fails here already.
    let header = jsonwebtoken::decode_header(token).map_err(|_| ExchangeFailure::Malformed)?;
    let algorithm = check_algorithm(header.alg)?;
    let key_id = header
        .kid
        .filter(|kid| !kid.is_empty())
        .ok_or(ExchangeFailure::NoKeyId)?;
    let Issuer { iss } = jsonwebtoken::dangerous::insecure_decode_claims(token)
        .map_err(|_| ExchangeFailure::Malformed)?;
    Ok(Unverified {
        algorithm,
        key_id,
        issuer: iss,
    })
}

/// A token's `aud`: one string or several.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// Whether `audience` is one of them.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

/// The claims of a verified token. Times are NumericDates (seconds since
/// the epoch, possibly fractional).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: f64,
    #[serde(default)]
    pub nbf: Option<f64>,
    pub iat: f64,
    /// The token's id, spent by its one exchange.
    #[serde(default)]
    pub jti: Option<String>,
    /// Everything else (`repository`, `ref`, …).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Claims {
    /// A claim of [`Claims::other`] as text, if it is a string or a number.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.other.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// Verifies the signature with `key` and reads the claims. Only the
/// signature and the algorithm are jsonwebtoken's to check here: times
/// and identity are [`check_times`] and [`matches`], with reasons of
/// their own.
pub fn verify_signature(
    token: &str,
    key: &DecodingKey,
    algorithm: Algorithm,
) -> Result<Claims, ExchangeFailure> {
    let mut validation = Validation::new(check_algorithm(algorithm)?);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Claims>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|err| match err.kind() {
            ErrorKind::Json(_) => ExchangeFailure::Claims,
            ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
                ExchangeFailure::Malformed
            }
            _ => ExchangeFailure::Signature,
        })
}

/// `exp`, `nbf` and `iat` at `now` (seconds since the epoch), each with
/// [`LEEWAY_SECS`] of tolerance; then the validity, from the earlier of
/// `iat` and `nbf` to `exp`, at most [`MAX_VALIDITY_SECS`]. Since `iat`
/// is required and not in the future, `exp` is then also at most that
/// far from `now` (within the leeway).
pub fn check_times(claims: &Claims, now: f64) -> Result<(), ExchangeFailure> {
    if now >= claims.exp + LEEWAY_SECS {
        return Err(ExchangeFailure::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + LEEWAY_SECS) {
        return Err(ExchangeFailure::NotYetValid);
    }
    if claims.iat > now + LEEWAY_SECS {
        return Err(ExchangeFailure::IssuedInFuture);
    }
    let valid_from = claims.nbf.map_or(claims.iat, |nbf| nbf.min(claims.iat));
    if claims.exp - valid_from > MAX_VALIDITY_SECS {
        return Err(ExchangeFailure::TooLongLived);
    }
    Ok(())
}

/// The token's `jti`, which its exchange spends: present, not empty, at
/// most [`MAX_FIELD_CHARS`] characters.
pub fn token_id(claims: &Claims) -> Result<&str, ExchangeFailure> {
    match claims.jti.as_deref() {
        None | Some("") => Err(ExchangeFailure::NoTokenId),
        Some(jti) if jti.chars().count() > MAX_FIELD_CHARS => Err(ExchangeFailure::Claims),
        Some(jti) => Ok(jti),
    }
}

/// What a wildcard `subject` matches the start of: the pattern without
/// its `*`, when it is the one `*`, last, right after a `:`, and what
/// precedes it names a repository (contains a `/`). `None` for any other
/// pattern (exact, or not a valid wildcard).
pub fn wildcard_prefix(pattern: &str) -> Option<&str> {
    let prefix = pattern.strip_suffix('*')?;
    let valid = prefix.ends_with(':') && prefix.contains('/') && !prefix.contains('*');
    valid.then_some(prefix)
}

/// Whether `sub` satisfies a `subject` pattern: every `sub` starting with
/// its [`wildcard_prefix`], or else exactly. A pattern saved before the
/// wildcard rule (`repo:*`) thus matches only itself.
pub fn subject_matches(pattern: &str, sub: &str) -> bool {
    match wildcard_prefix(pattern) {
        Some(prefix) => sub.starts_with(prefix),
        None => sub == pattern,
    }
}

/// What a trusted publisher requires of a token.
#[derive(Clone, Copy, Debug)]
pub struct PublisherRule<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub subject: &'a str,
}

/// Whether verified `claims` satisfy `rule`: `iss` exactly, `aud` among
/// the token's audiences, `sub` by [`subject_matches`].
pub fn matches(rule: PublisherRule<'_>, claims: &Claims) -> bool {
    claims.iss == rule.issuer
        && claims.aud.contains(rule.audience)
        && subject_matches(rule.subject, &claims.sub)
}

/// Where an issuer's OIDC discovery document is (OpenID Connect
/// Discovery §4: a terminating `/` is removed before the suffix).
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.strip_suffix('/').unwrap_or(issuer)
    )
}

/// Checks a URL lynk will fetch keys from: absolute, `https` (or `http`
/// when allowed), with a host, no credentials, no query or fragment, and,
/// unless `allow_http` (a test issuer on this machine), at a public
/// address by the webhook rules (a name is checked again once resolved).
/// `what` names it in the message.
pub fn check_fetch_url(what: &str, value: &str, allow_http: bool) -> Result<(), String> {
    let url = reqwest::Url::parse(value)
        .map_err(|_| format!("{what} must be an absolute URL such as https://token.actions.githubusercontent.com (got `{value}`)"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(format!(
                "{what} must use https (got `{value}`); plain http is allowed only when lynk \
                 runs with --oidc-allow-http-issuers, for tests"
            ));
        }
        other => {
            return Err(format!(
                "{what} must be an https URL (got scheme `{other}`)"
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{what} must name a host (got `{value}`)"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{what} must not hold credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{what} must not have a query or a fragment (got `{value}`)"
        ));
    }
    if !allow_http && !address::is_public_host(&url) {
        return Err(format!(
            "{what} must be at a public address, not a loopback, private, link-local or \
             metadata one (got `{value}`); a test issuer on this machine needs \
             --oidc-allow-http-issuers"
        ));
    }
    Ok(())
}

/// Whether two URLs have one origin (scheme, host and port): where an
/// issuer's discovery may redirect and its `jwks_uri` may point, so that
/// an issuer cannot send lynk to another host.
pub fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn bounded_text(field: &str, value: &str) -> Result<String, Error> {
    let trimmed = value.trim();
    let len = trimmed.chars().count();
    if len == 0 || len > MAX_FIELD_CHARS {
        return Err(Error::bad_input(format!(
            "{field} must be between 1 and {MAX_FIELD_CHARS} characters (got {len})"
        )));
    }
    if trimmed.chars().any(char::is_whitespace) {
        return Err(Error::bad_input(format!(
            "{field} must not contain spaces or control characters"
        )));
    }
    Ok(trimmed.to_owned())
}

/// A publisher's `issuer`: trimmed and otherwise stored as given, since
/// it is compared exactly with a token's `iss` (`https://gitlab.com` and
/// `https://gitlab.com/` are different issuers).
pub fn validate_issuer(value: &str, allow_http: bool) -> Result<String, Error> {
    let issuer = bounded_text("issuer", value)?;
    check_fetch_url("issuer", &issuer, allow_http).map_err(Error::BadUserInput)?;
    Ok(issuer)
}

/// A publisher's `audience`: what the CI job asks its token to be for.
pub fn validate_audience(value: &str) -> Result<String, Error> {
    bounded_text("audience", value)
}

/// A publisher's `subject`: a token's `sub` exactly, or a
/// [`wildcard_prefix`] and `*`. Anything broader (`*`, `repo:*`,
/// `repo:acme*`) would trust jobs of repositories nobody in the
/// organization controls.
pub fn validate_subject(value: &str) -> Result<String, Error> {
    let subject = bounded_text("subject", value)?;
    if subject.contains('*') && wildcard_prefix(&subject).is_none() {
        return Err(Error::bad_input(format!(
            "subject `{subject}` is refused: a subject is a token's `sub` exactly, or ends in \
             `*` right after a `:` whose prefix names a repository (contains a `/`), e.g. \
             `repo:acme/shop-api:*` or `project_path:acme/shop:*`"
        )));
    }
    Ok(subject)
}

/// The exchanged token's name: `oidc: ` and the repository (GitHub), the
/// project path (GitLab) or else the subject, within the name limit.
pub fn token_name(claims: &Claims) -> String {
    let what = claims
        .text("repository")
        .or_else(|| claims.text("project_path"))
        .unwrap_or_else(|| claims.sub.clone());
    format!("oidc: {what}")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_NAME_LEN)
        .collect()
}

/// The `token.exchanged` audit detail: the publisher that matched and
/// the claims that say what ran, as compact JSON (each value at most
/// [`MAX_FIELD_CHARS`] characters).
pub fn audit_detail(publisher_id: Uuid, claims: &Claims) -> String {
    let bounded = |s: &str| Value::String(s.chars().take(MAX_FIELD_CHARS).collect());
    let mut detail = Map::new();
    detail.insert(
        "publisherId".into(),
        Value::String(publisher_id.to_string()),
    );
    detail.insert("iss".into(), bounded(&claims.iss));
    detail.insert("sub".into(), bounded(&claims.sub));
    for name in AUDITED_CLAIMS {
        if let Some(value) = claims.text(name) {
            detail.insert(name.into(), bounded(&value));
        }
    }
    Value::Object(detail).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Claims {
        serde_json::from_value(value).unwrap()
    }

    fn github() -> Claims {
        claims(json!({
            "iss": "https://token.actions.githubusercontent.com",
            "sub": "repo:acme/shop-api:ref:refs/heads/main",
            "aud": "lynk",
            "exp": 1_000_300,
            "iat": 999_990,
            "nbf": 999_990,
            "repository": "acme/shop-api",
            "ref": "refs/heads/main",
            "job_workflow_ref": "acme/shop-api/.github/workflows/sbom.yml@refs/heads/main",
            "run_id": "42",
            "runner_environment": "github-hosted",
        }))
    }

    /// `header.payload.` with the given header, for the header checks.
    fn with_header(header: Value) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.c2ln",
            b64.encode(header.to_string()),
            b64.encode(json!({"iss": "https://issuer.example"}).to_string())
        )
    }

    #[test]
    fn only_rs256_and_es256_are_allowed() {
        assert_eq!(check_algorithm(Algorithm::RS256), Ok(Algorithm::RS256));
        assert_eq!(check_algorithm(Algorithm::ES256), Ok(Algorithm::ES256));
        for refused in [
            Algorithm::HS256,
            Algorithm::HS384,
            Algorithm::HS512,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ] {
            assert_eq!(check_algorithm(refused), Err(ExchangeFailure::Algorithm));
        }
    }

    #[test]
    fn the_header_must_name_an_allowed_algorithm_and_a_key() {
        let ok = read_unverified(&with_header(json!({"alg": "RS256", "kid": "k1"}))).unwrap();
        assert_eq!(
            ok,
            Unverified {
                algorithm: Algorithm::RS256,
                key_id: "k1".into(),
                issuer: "https://issuer.example".into(),
            }
        );
        for (header, failure) in [
            (
                json!({"alg": "none", "kid": "k1"}),
                ExchangeFailure::Malformed,
            ),
            (json!({"alg": "None"}), ExchangeFailure::Malformed),
            (json!({"kid": "k1"}), ExchangeFailure::Malformed),
            (
                json!({"alg": "HS256", "kid": "k1"}),
                ExchangeFailure::Algorithm,
            ),
            (
                json!({"alg": "PS256", "kid": "k1"}),
                ExchangeFailure::Algorithm,
            ),
            (json!({"alg": "ES256"}), ExchangeFailure::NoKeyId),
            (json!({"alg": "ES256", "kid": ""}), ExchangeFailure::NoKeyId),
        ] {
            assert_eq!(
                read_unverified(&with_header(header.clone())),
                Err(failure),
                "{header}"
            );
        }
        assert_eq!(
            read_unverified("not a jwt"),
            Err(ExchangeFailure::Malformed)
        );
        let huge = format!(
            "{}{}",
            with_header(json!({"alg": "RS256", "kid": "k"})),
            "a".repeat(MAX_TOKEN_BYTES)
        );
        assert_eq!(read_unverified(&huge), Err(ExchangeFailure::Malformed));
    }

    #[test]
    fn times_have_a_minute_of_leeway() {
        let c = github();
        assert_eq!(check_times(&c, 1_000_000.0), Ok(()));
        assert_eq!(check_times(&c, 1_000_359.0), Ok(()));
        assert_eq!(check_times(&c, 1_000_360.0), Err(ExchangeFailure::Expired));
        // nbf 999_990: a clock 60 s behind still accepts it, 61 s does not.
        assert_eq!(check_times(&c, 999_930.0), Ok(()));
        assert_eq!(
            check_times(&c, 999_929.0),
            Err(ExchangeFailure::NotYetValid)
        );
        let mut future = c.clone();
        future.nbf = None;
        assert_eq!(check_times(&future, 999_930.0), Ok(()));
        assert_eq!(
            check_times(&future, 999_929.0),
            Err(ExchangeFailure::IssuedInFuture)
        );
    }

    #[test]
    fn validity_is_at_most_six_hours() {
        let mut c = github();
        let now = 1_000_000.0;
        c.nbf = None;
        c.iat = now;
        c.exp = now + MAX_VALIDITY_SECS;
        assert_eq!(check_times(&c, now), Ok(()));
        c.exp = now + MAX_VALIDITY_SECS + 1.0;
        assert_eq!(check_times(&c, now), Err(ExchangeFailure::TooLongLived));
        c.exp = now + 10.0 * 366.0 * 86_400.0;
        assert_eq!(check_times(&c, now), Err(ExchangeFailure::TooLongLived));
        // From an earlier `nbf`, too; a later one does not shorten it.
        c.exp = now + 300.0;
        c.nbf = Some(now + 300.0 - MAX_VALIDITY_SECS - 1.0);
        assert_eq!(check_times(&c, now), Err(ExchangeFailure::TooLongLived));
        c.nbf = Some(now + 10.0);
        c.exp = now + MAX_VALIDITY_SECS + 1.0;
        assert_eq!(check_times(&c, now), Err(ExchangeFailure::TooLongLived));
    }

    #[test]
    fn a_token_needs_a_bounded_jti() {
        let mut c = github();
        assert_eq!(token_id(&c), Err(ExchangeFailure::NoTokenId));
        c.jti = Some(String::new());
        assert_eq!(token_id(&c), Err(ExchangeFailure::NoTokenId));
        c.jti = Some("j".repeat(MAX_FIELD_CHARS + 1));
        assert_eq!(token_id(&c), Err(ExchangeFailure::Claims));
        c.jti = Some("5f0c-42".into());
        assert_eq!(token_id(&c), Ok("5f0c-42"));
        let parsed: Claims = serde_json::from_value(json!({
            "iss": "i", "sub": "s", "aud": "a", "exp": 2, "iat": 1, "jti": "x"
        }))
        .unwrap();
        assert_eq!(parsed.jti.as_deref(), Some("x"));
    }

    #[test]
    fn a_wildcard_follows_a_colon_after_a_repository() {
        assert_eq!(
            wildcard_prefix("repo:acme/shop-api:*"),
            Some("repo:acme/shop-api:")
        );
        assert_eq!(
            wildcard_prefix("project_path:acme/shop:ref_type:branch:*"),
            Some("project_path:acme/shop:ref_type:branch:")
        );
        for not_wildcard in [
            "*",
            "repo:*",
            "repo:acme*",
            "repo:acme/shop*",
            "repo:acme/shop-api:ref:refs/heads/*",
            "repo:*/x:*",
            "repo:acme/shop-api:ref:refs/heads/main",
        ] {
            assert_eq!(wildcard_prefix(not_wildcard), None, "{not_wildcard}");
        }
    }

    #[test]
    fn subjects_match_exactly_or_by_a_wildcard_after_a_repository() {
        let sub = "repo:acme/shop-api:ref:refs/heads/main";
        assert!(subject_matches(sub, sub));
        assert!(subject_matches("repo:acme/shop-api:*", sub));
        // Patterns the wildcard rule refuses match only themselves.
        for broad in [
            "repo:*",
            "*",
            "repo:acme*",
            "repo:acme/shop-api:ref:refs/heads/main*",
        ] {
            assert!(!subject_matches(broad, sub), "{broad}");
            assert!(subject_matches(broad, broad), "{broad}");
        }
        assert!(!subject_matches("repo:acme/shop-api", sub));
        assert!(!subject_matches(
            "repo:acme/shop-api:ref:refs/heads/mai",
            sub
        ));
        assert!(!subject_matches("repo:acme/other:*", sub));
        // Nothing but a trailing star is special.
        assert!(!subject_matches("repo:acme/*:ref:refs/heads/main", sub));
        assert!(!subject_matches("REPO:acme/shop-api:*", sub));
    }

    #[test]
    fn a_publisher_matches_on_issuer_audience_and_subject() {
        let c = github();
        let rule = PublisherRule {
            issuer: "https://token.actions.githubusercontent.com",
            audience: "lynk",
            subject: "repo:acme/shop-api:*",
        };
        assert!(matches(rule, &c));
        assert!(!matches(
            PublisherRule {
                issuer: "https://token.actions.githubusercontent.com/",
                ..rule
            },
            &c
        ));
        assert!(!matches(
            PublisherRule {
                audience: "other",
                ..rule
            },
            &c
        ));
        assert!(!matches(
            PublisherRule {
                subject: "repo:acme/shop-api:environment:prod",
                ..rule
            },
            &c
        ));
        let mut many = c.clone();
        many.aud = Audience::Many(vec!["sigstore".into(), "lynk".into()]);
        assert!(matches(rule, &many));
        many.aud = Audience::Many(vec![]);
        assert!(!matches(rule, &many));
    }

    #[test]
    fn claims_need_iss_sub_aud_exp_and_iat() {
        let full = json!({"iss": "i", "sub": "s", "aud": ["a"], "exp": 2.5, "iat": 1});
        assert!(serde_json::from_value::<Claims>(full.clone()).is_ok());
        for missing in ["iss", "sub", "aud", "exp", "iat"] {
            let mut partial = full.clone();
            partial.as_object_mut().unwrap().remove(missing);
            assert!(
                serde_json::from_value::<Claims>(partial).is_err(),
                "{missing} is required"
            );
        }
        let wrong = json!({"iss": "i", "sub": 7, "aud": "a", "exp": 2, "iat": 1});
        assert!(serde_json::from_value::<Claims>(wrong).is_err());
    }

    #[test]
    fn issuers_are_absolute_https_urls_stored_as_given() {
        let github = "https://token.actions.githubusercontent.com";
        assert_eq!(validate_issuer(github, false).unwrap(), github);
        assert_eq!(
            validate_issuer(&format!("  {github}/  "), false).unwrap(),
            format!("{github}/"),
            "trimmed, not normalised"
        );
        assert_eq!(
            validate_issuer("https://gitlab.example.com/gitlab", false).unwrap(),
            "https://gitlab.example.com/gitlab"
        );
        for private in [
            "https://127.0.0.1",
            "https://[::1]:8443",
            "https://169.254.169.254",
            "https://10.1.2.3/oidc",
            "https://localhost",
            "https://ci.localhost",
            "https://intranet",
            "https://0x7f000001",
        ] {
            let err = validate_issuer(private, false).unwrap_err();
            assert!(err.message().contains("public address"), "{private}");
            assert!(validate_issuer(private, true).is_ok(), "{private}");
        }
        let http = validate_issuer("http://127.0.0.1:8080", false).unwrap_err();
        assert!(
            http.message().contains("--oidc-allow-http-issuers"),
            "{}",
            http.message()
        );
        assert!(validate_issuer("http://127.0.0.1:8080", true).is_ok());
        for bad in [
            "",
            "token.actions.githubusercontent.com",
            "/relative",
            "ftp://issuer.example",
            "file:///etc/passwd",
            "https://user:pw@issuer.example",
            "https://issuer.example/?a=b",
            "https://issuer.example/#x",
            "https://issuer .example",
            "https://",
        ] {
            let err = validate_issuer(bad, true).unwrap_err();
            assert_eq!(err.code(), "BAD_USER_INPUT", "{bad}");
        }
        let long = format!("https://{}.example", "a".repeat(250));
        assert!(validate_issuer(&long, false).is_err());
    }

    #[test]
    fn audiences_and_subjects_are_bounded_and_stars_only_trail() {
        assert_eq!(validate_audience(" lynk ").unwrap(), "lynk");
        assert!(validate_audience("").is_err());
        assert!(validate_audience(&"a".repeat(256)).is_err());
        assert!(validate_audience(&"a".repeat(255)).is_ok());
        assert_eq!(
            validate_subject("repo:acme/shop-api:*").unwrap(),
            "repo:acme/shop-api:*"
        );
        assert!(validate_subject("repo:acme/shop-api:ref:refs/heads/main").is_ok());
        assert!(validate_subject("project_path:acme/shop:*").is_ok());
        for bad in [
            "",
            "*",
            "repo:*",
            "repo:acme*",
            "repo:*:ref:main",
            "repo:acme/**",
            "a b",
            "x\ny",
        ] {
            let err = validate_subject(bad).unwrap_err();
            assert_eq!(err.code(), "BAD_USER_INPUT", "{bad:?}");
        }
        assert_eq!(
            validate_subject("repo:*").unwrap_err().message(),
            "subject `repo:*` is refused: a subject is a token's `sub` exactly, or ends in `*` \
             right after a `:` whose prefix names a repository (contains a `/`), e.g. \
             `repo:acme/shop-api:*` or `project_path:acme/shop:*`"
        );
        assert!(validate_subject(&"s".repeat(256)).is_err());
    }

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        let issuer = url("https://token.actions.githubusercontent.com");
        assert!(same_origin(
            &issuer,
            &url("https://token.actions.githubusercontent.com:443/.well-known/jwks")
        ));
        for other in [
            "http://token.actions.githubusercontent.com/jwks",
            "https://token.actions.githubusercontent.com:8443/jwks",
            "https://evil.example/jwks",
            "https://githubusercontent.com/jwks",
        ] {
            assert!(!same_origin(&issuer, &url(other)), "{other}");
        }
    }

    #[test]
    fn discovery_is_under_the_issuer() {
        assert_eq!(
            discovery_url("https://token.actions.githubusercontent.com"),
            "https://token.actions.githubusercontent.com/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://auth.example/tenant/"),
            "https://auth.example/tenant/.well-known/openid-configuration"
        );
    }

    #[test]
    fn names_and_audit_details_say_what_ran() {
        let c = github();
        assert_eq!(token_name(&c), "oidc: acme/shop-api");
        let mut gitlab = c.clone();
        gitlab.other.clear();
        gitlab
            .other
            .insert("project_path".into(), json!("acme/shop"));
        assert_eq!(token_name(&gitlab), "oidc: acme/shop");
        gitlab.other.clear();
        gitlab.sub = format!("x{}", "y".repeat(300));
        assert_eq!(token_name(&gitlab).chars().count(), MAX_NAME_LEN);

        let id = Uuid::from_u128(7);
        let detail: Value = serde_json::from_str(&audit_detail(id, &c)).unwrap();
        assert_eq!(
            detail,
            json!({
                "publisherId": id.to_string(),
                "iss": "https://token.actions.githubusercontent.com",
                "sub": "repo:acme/shop-api:ref:refs/heads/main",
                "repository": "acme/shop-api",
                "ref": "refs/heads/main",
                "job_workflow_ref": "acme/shop-api/.github/workflows/sbom.yml@refs/heads/main",
                "run_id": "42",
            })
        );
    }
}
