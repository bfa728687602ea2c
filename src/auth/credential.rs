//! Reading credentials from request headers. Pure functions over header
//! values; no I/O and no logging of what was sent.

use uuid::Uuid;

/// What the `Authorization` header carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentedCredential<'a> {
    /// No `Authorization` header at all.
    Missing,
    /// A candidate token: after `Bearer ` (any case), or the bare header
    /// value (API-key style). May be empty or malformed; parsing decides.
    Candidate(&'a str),
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
