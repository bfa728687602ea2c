//! Reading credentials from request headers. Pure functions over header
//! values; no I/O and no logging of what was sent.

use uuid::Uuid;

/// What the `Authorization` header carried. `Debug` never shows the candidate.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PresentedCredential<'a> {
    /// No `Authorization` header at all.
    Missing,
    /// A candidate token: after `Bearer ` (any case), or the bare header
    /// value (API-key style). May be empty or malformed; parsing decides.
    Candidate(&'a str),
}

impl std::fmt::Debug for PresentedCredential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PresentedCredential::Missing => f.write_str("Missing"),
            PresentedCredential::Candidate(_) => f.write_str("Candidate([redacted])"),
        }
    }
}

/// Extracts the candidate token from an `Authorization` header value.
pub fn presented_credential(authorization: Option<&[u8]>) -> PresentedCredential<'_> {
    let Some(raw) = authorization else {
        return PresentedCredential::Missing;
    };
    // Non-UTF-8 bytes cannot be a token; an empty candidate fails parsing.
    let value = std::str::from_utf8(raw).unwrap_or("").trim();
    let candidate = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ if value.eq_ignore_ascii_case("bearer") => "",
        _ => value,
    };
    PresentedCredential::Candidate(candidate)
}

/// The organization a request asks to act in, from `X-Organization-ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestedOrganization {
    /// No header: the credential's own organization (or, for a session,
    /// the user's oldest membership).
    Default,
    /// A well-formed organization id.
    Id(Uuid),
    /// A header that is not an organization id: no credential may act there.
    Invalid,
}

/// Parses the `X-Organization-ID` header value.
pub fn requested_organization(header: Option<&[u8]>) -> RequestedOrganization {
    match header {
        None => RequestedOrganization::Default,
        Some(raw) => std::str::from_utf8(raw)
            .ok()
            .and_then(|s| Uuid::parse_str(s.trim()).ok())
            .map_or(RequestedOrganization::Invalid, RequestedOrganization::Id),
    }
}

/// The client's address: the TCP peer, or, behind `trusted_proxy_hops`
/// proxies that each append to `X-Forwarded-For`, the address the
/// outermost trusted proxy saw. Entries further left are client-supplied
/// and never trusted. A malformed or short header falls back to the peer.
pub fn client_address(
    peer: std::net::IpAddr,
    forwarded_for: Option<&[u8]>,
    trusted_proxy_hops: usize,
) -> std::net::IpAddr {
    if trusted_proxy_hops == 0 {
        return peer;
    }
    forwarded_for
        .and_then(|raw| std::str::from_utf8(raw).ok())
        .and_then(|value| {
            value
                .rsplit(',')
                .nth(trusted_proxy_hops - 1)
                .and_then(|entry| entry.trim().parse().ok())
        })
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for header in ["Bearer abc", "bearer abc", "BEARER abc", "  Bearer   abc  "] {
            assert_eq!(
                presented_credential(Some(header.as_bytes())),
                PresentedCredential::Candidate("abc"),
                "{header}"
            );
        }
    }

    #[test]
    fn client_address_trusts_only_the_configured_hops() {
        let peer: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let xff = Some(b"6.6.6.6, 203.0.113.7".as_slice());
        assert_eq!(client_address(peer, xff, 0), peer);
        assert_eq!(client_address(peer, xff, 1).to_string(), "203.0.113.7");
        assert_eq!(client_address(peer, xff, 2).to_string(), "6.6.6.6");
        assert_eq!(client_address(peer, xff, 3), peer);
        assert_eq!(client_address(peer, None, 1), peer);
        assert_eq!(client_address(peer, Some(b"garbage"), 1), peer);
    }

    #[test]
    fn debug_never_shows_the_candidate() {
        let debug = format!(
            "{:?}",
            presented_credential(Some(b"Bearer lynk_live_secret"))
        );
        assert_eq!(debug, "Candidate([redacted])");
    }

    #[test]
    fn bare_token_is_accepted() {
        assert_eq!(
            presented_credential(Some(b"lynk_live_x")),
            PresentedCredential::Candidate("lynk_live_x")
        );
    }

    #[test]
    fn missing_empty_and_odd_headers() {
        assert_eq!(presented_credential(None), PresentedCredential::Missing);
        assert_eq!(
            presented_credential(Some(b"")),
            PresentedCredential::Candidate("")
        );
        assert_eq!(
            presented_credential(Some(b"Bearer")),
            PresentedCredential::Candidate("")
        );
        assert_eq!(
            presented_credential(Some(b"Bearer ")),
            PresentedCredential::Candidate("")
        );
        assert_eq!(
            presented_credential(Some(b"Basic dXNlcjpwYXNz")),
            PresentedCredential::Candidate("Basic dXNlcjpwYXNz")
        );
        assert_eq!(
            presented_credential(Some(&[0xff, 0xfe])),
            PresentedCredential::Candidate("")
        );
    }

    #[test]
    fn organization_header() {
        let id = Uuid::now_v7();
        assert_eq!(requested_organization(None), RequestedOrganization::Default);
        assert_eq!(
            requested_organization(Some(id.to_string().as_bytes())),
            RequestedOrganization::Id(id)
        );
        assert_eq!(
            requested_organization(Some(b"acme")),
            RequestedOrganization::Invalid
        );
        assert_eq!(
            requested_organization(Some(b"")),
            RequestedOrganization::Invalid
        );
    }
}

/// Property tests ("fuzzing") of the header handling: no header value can
/// make it panic, and every way of sending a token yields that token.
/// `scripts/fuzz.sh` runs them with many more cases (`PROPTEST_CASES`).
#[cfg(test)]
mod proptests {
    use proptest::{prelude::*, sample::select};

    use super::*;
    use crate::auth::token_format::{self, SecretKind};

    /// 2000 cases by default, so that `cargo test` stays fast; more with
    /// `PROPTEST_CASES` (which `with_cases` would otherwise override).
    fn config() -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        ProptestConfig::with_cases(cases)
    }

    fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..128),
            any::<String>().prop_map(String::into_bytes),
            // Near the interesting shapes: a scheme, spaces, a token-ish tail.
            "(?i)(bearer)?[ \t]{0,3}(lynk_[a-z_]{0,14})?[0-9A-Za-z \t]{0,40}"
                .prop_map(String::into_bytes),
        ]
    }

    /// `Bearer` in any letter case.
    fn bearer_scheme() -> impl Strategy<Value = String> {
        "[bB][eE][aA][rR][eE][rR]"
    }

    fn secret_kind() -> impl Strategy<Value = SecretKind> {
        select(SecretKind::all().collect::<Vec<_>>())
    }

    proptest! {
        #![proptest_config(config())]

        /// Whatever the header holds, the candidate is a trimmed slice of
        /// it (empty when it is not UTF-8), and parsing it does not panic.
        #[test]
        fn any_authorization_header_is_handled(raw in header_bytes()) {
            let PresentedCredential::Candidate(candidate) = presented_credential(Some(&raw)) else {
                return Err(TestCaseError::fail("a present header is never Missing"));
            };
            prop_assert_eq!(candidate, candidate.trim());
            match std::str::from_utf8(&raw) {
                Ok(text) => prop_assert!(text.contains(candidate)),
                Err(_) => prop_assert_eq!(candidate, ""),
            }
            let _ = token_format::parse(candidate);
        }

        /// `Bearer <token>` in any case, with any spacing, and the bare
        /// token all present exactly the token, which parses to its kind.
        #[test]
        fn every_way_of_sending_a_token_presents_it(
            kind in secret_kind(),
            scheme in bearer_scheme(),
            leading in "[ \t]{0,3}",
            gap in " {1,4}",
            trailing in "[ \t]{0,3}",
        ) {
            let generated = token_format::generate(kind);
            let token = generated.secret.expose();
            for header in [
                format!("{leading}{scheme}{gap}{token}{trailing}"),
                format!("{leading}{token}{trailing}"),
            ] {
                let presented = presented_credential(Some(header.as_bytes()));
                prop_assert_eq!(presented, PresentedCredential::Candidate(token));
                let parsed = token_format::parse(token);
                prop_assert_eq!(parsed.map(|p| p.kind), Ok(kind));
            }
        }

        /// Any candidate without inner whitespace comes through unchanged.
        #[test]
        fn a_bare_value_is_presented_as_is(value in "[!-~]{1,64}") {
            prop_assume!(!value.eq_ignore_ascii_case("bearer"));
            prop_assert_eq!(
                presented_credential(Some(value.as_bytes())),
                PresentedCredential::Candidate(value.as_str())
            );
        }

        #[test]
        fn any_organization_header_is_handled(raw in header_bytes()) {
            match requested_organization(Some(&raw)) {
                RequestedOrganization::Default => {
                    return Err(TestCaseError::fail("a present header is never Default"));
                }
                RequestedOrganization::Id(id) => {
                    let text = std::str::from_utf8(&raw).expect("an id came from UTF-8");
                    prop_assert_eq!(Uuid::parse_str(text.trim()).ok(), Some(id));
                }
                RequestedOrganization::Invalid => {}
            }
        }

        /// Every spelling of an id that `uuid` accepts selects that id, with
        /// surrounding whitespace ignored.
        #[test]
        fn every_spelling_of_an_id_selects_it(
            bits in any::<u128>(),
            spelling in 0..5usize,
            upper in any::<bool>(),
            leading in "[ \t]{0,3}",
            trailing in "[ \t]{0,3}",
        ) {
            let id = Uuid::from_u128(bits);
            let text = match spelling {
                0 => id.hyphenated().to_string(),
                1 => id.simple().to_string(),
                2 => id.braced().to_string(),
                3 => id.urn().to_string(),
                _ => id.to_string(),
            };
            let text = if upper { text.to_uppercase().replace("URN:UUID:", "urn:uuid:") } else { text };
            let header = format!("{leading}{text}{trailing}");
            prop_assert_eq!(
                requested_organization(Some(header.as_bytes())),
                RequestedOrganization::Id(id)
            );
        }
    }
}
