//! Network-bound tokens (docs/DESIGN.md §9): the CIDRs a token may be used
//! from and whether a use from elsewhere is refused or only recorded.
//! Pure: parsed from the verification row and checked in memory, so the
//! check adds no statement to the request.

use std::net::IpAddr;

use ipnet::IpNet;

/// Most CIDRs one token may carry.
pub const MAX_ALLOWED_CIDRS: usize = 20;

/// What happens to a use from an address outside the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressEnforcement {
    /// Refused with the same 401 as an unknown token, and recorded.
    Enforce,
    /// Let through, and recorded.
    ReportOnly,
}

impl AddressEnforcement {
    /// The stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            AddressEnforcement::Enforce => "enforce",
            AddressEnforcement::ReportOnly => "report_only",
        }
    }

    /// Reads the stored form; anything else enforces (fail closed).
    pub fn from_storage(stored: Option<&str>) -> AddressEnforcement {
        match stored {
            Some("report_only") => AddressEnforcement::ReportOnly,
            _ => AddressEnforcement::Enforce,
        }
    }
}

/// The addresses a token may be used from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressRule {
    pub networks: Vec<IpNet>,
    pub enforcement: AddressEnforcement,
}

/// What the rule says of one use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressVerdict {
    /// No rule, or the address is in the list.
    Allowed,
    /// Outside the list: refused.
    Refused,
    /// Outside the list, let through (`REPORT_ONLY`): recorded.
    Reported,
}

impl AddressRule {
    /// The stored rule: `cidrs` space-separated; `None` when there is none
    /// (no column, or an empty one). A stored entry that does not parse
    /// matches nothing.
    pub fn from_storage(cidrs: Option<&str>, enforcement: Option<&str>) -> Option<AddressRule> {
        let cidrs = cidrs?.trim();
        if cidrs.is_empty() {
            return None;
        }
        Some(AddressRule {
            networks: cidrs
                .split_whitespace()
                .filter_map(|cidr| cidr.parse().ok())
                .collect(),
            enforcement: AddressEnforcement::from_storage(enforcement),
        })
    }

    /// Whether `client` may use the token. An IPv4 address seen as
    /// IPv6 (`::ffff:a.b.c.d`, on a dual-stack listener) is matched as IPv4.
    pub fn check(&self, client: IpAddr) -> AddressVerdict {
        let client = client.to_canonical();
        if self
            .networks
            .iter()
            .any(|network| network.contains(&client))
        {
            AddressVerdict::Allowed
        } else {
            match self.enforcement {
                AddressEnforcement::Enforce => AddressVerdict::Refused,
                AddressEnforcement::ReportOnly => AddressVerdict::Reported,
            }
        }
    }
}

impl AddressVerdict {
    /// The verdict of two rules that must both hold (a child's and its
    /// parent's): the stricter one.
    pub fn and(self, other: AddressVerdict) -> AddressVerdict {
        use AddressVerdict::*;
        match (self, other) {
            (Refused, _) | (_, Refused) => Refused,
            (Reported, _) | (_, Reported) => Reported,
            (Allowed, Allowed) => Allowed,
        }
    }
}

/// What a rule says of `client`: allowed when there is no rule.
pub fn check(rule: Option<&AddressRule>, client: IpAddr) -> AddressVerdict {
    rule.map_or(AddressVerdict::Allowed, |rule| rule.check(client))
}

/// Validates `allowedCidrs` as given: at most [`MAX_ALLOWED_CIDRS`], each an
/// IPv4 or IPv6 network (`203.0.113.0/24`, `2001:db8::/32`) or a single
/// address; duplicates are dropped. The answer is the storage form
/// (normalized, space-separated), `None` for an empty list (no rule). The
/// error names the first bad entry and what is valid.
pub fn validate_cidrs<S: AsRef<str>>(cidrs: &[S]) -> Result<Option<String>, String> {
    if cidrs.len() > MAX_ALLOWED_CIDRS {
        return Err(format!(
            "allowedCidrs has {} entries; a token takes at most {MAX_ALLOWED_CIDRS}",
            cidrs.len()
        ));
    }
    let mut networks: Vec<IpNet> = Vec::with_capacity(cidrs.len());
    for cidr in cidrs {
        let cidr = cidr.as_ref().trim();
        let shown: String = cidr.chars().take(64).collect();
        let network = parse_cidr(cidr).ok_or_else(|| {
            format!(
                "allowedCidrs entry `{shown}` is not an IPv4 or IPv6 network; give an address \
                 with its prefix length, such as 203.0.113.0/24 or 2001:db8::/32, or a single \
                 address"
            )
        })?;
        // `10.0.0.1/8` is a typo for one address or for `10.0.0.0/8`:
        // which, only its writer knows, so it is refused, not widened.
        if network != network.trunc() {
            return Err(format!(
                "allowedCidrs entry `{shown}` has bits set past its prefix length; did you mean \
                 {} (the network) or {} (that one address)?",
                network.trunc(),
                IpNet::from(network.addr()),
            ));
        }
        if !networks.contains(&network) {
            networks.push(network);
        }
    }
    Ok((!networks.is_empty()).then(|| {
        networks
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }))
}

/// A network, or a single address as the network of just it; host bits
/// are cleared (`10.1.2.3/8` is `10.0.0.0/8`).
fn parse_cidr(cidr: &str) -> Option<IpNet> {
    if cidr.contains('/') {
        cidr.parse::<IpNet>().ok()
    } else {
        cidr.parse::<IpAddr>()
            .ok()
            .map(|address| IpNet::from(address.to_canonical()))
    }
}

/// The rule binding a token to the one address `client` (a trusted
/// publisher's `bindToRunnerAddress`), in storage form.
pub fn single_address(client: IpAddr) -> String {
    IpNet::from(client.to_canonical()).to_string()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_network_with_host_bits_is_refused_not_widened() {
        let error = validate_cidrs(&["10.0.0.1/8"]).unwrap_err();
        assert!(error.contains("did you mean 10.0.0.0/8"), "{error}");
        assert!(error.contains("10.0.0.1/32"), "{error}");
        assert_eq!(
            validate_cidrs(&["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]).unwrap(),
            Some("10.0.0.0/8 2001:db8::/32 192.0.2.7/32".to_owned())
        );
    }

    #[test]
    fn networks_and_single_addresses_are_accepted_and_normalized() {
        assert_eq!(
            validate_cidrs(&[
                "10.1.2.3/8",
                "127.0.0.2",
                "2001:db8::1/32",
                "::1",
                "10.0.0.0/8"
            ]),
            Ok(Some("10.0.0.0/8 127.0.0.2/32 2001:db8::/32 ::1/128".into()))
        );
        assert_eq!(validate_cidrs::<&str>(&[]), Ok(None));
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "example.com",
            "",
            "10.0.0/8",
            "1.2.3.4/-1",
        ] {
            let err = validate_cidrs(&[bad]).unwrap_err();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
            assert!(err.contains("203.0.113.0/24"), "{err}");
        }
        let many: Vec<String> = (0..21).map(|i| format!("10.0.0.{i}")).collect();
        let err = validate_cidrs(&many).unwrap_err();
        assert!(
            err.contains("21 entries") && err.contains("at most 20"),
            "{err}"
        );
    }

    #[test]
    fn the_rule_decides_by_containment_and_mode() {
        let rule =
            AddressRule::from_storage(Some("127.0.0.2/32 2001:db8::/32"), Some("enforce")).unwrap();
        assert_eq!(rule.check(ip("127.0.0.2")), AddressVerdict::Allowed);
        assert_eq!(rule.check(ip("::ffff:127.0.0.2")), AddressVerdict::Allowed);
        assert_eq!(rule.check(ip("2001:db8:5::9")), AddressVerdict::Allowed);
        assert_eq!(rule.check(ip("127.0.0.3")), AddressVerdict::Refused);
        let report = AddressRule::from_storage(Some("10.0.0.0/8"), Some("report_only")).unwrap();
        assert_eq!(report.check(ip("192.0.2.1")), AddressVerdict::Reported);
        assert_eq!(AddressRule::from_storage(None, Some("enforce")), None);
        assert_eq!(AddressRule::from_storage(Some(" "), None), None);
        assert_eq!(check(None, ip("192.0.2.1")), AddressVerdict::Allowed);
        // A stored entry that does not parse matches nothing.
        let broken = AddressRule::from_storage(Some("nonsense"), None).unwrap();
        assert_eq!(broken.check(ip("127.0.0.1")), AddressVerdict::Refused);
        assert_eq!(single_address(ip("::ffff:127.0.0.5")), "127.0.0.5/32");
    }

    proptest! {
        /// Whatever is given, validation never panics, and what it stores
        /// reads back as a rule with the same networks.
        #[test]
        fn validated_lists_round_trip(entries in proptest::collection::vec("[0-9a-f:./]{0,24}", 0..6)) {
            if let Ok(Some(stored)) = validate_cidrs(&entries) {
                let rule = AddressRule::from_storage(Some(&stored), None).unwrap();
                prop_assert_eq!(rule.networks.len(), stored.split_whitespace().count());
            }
        }
    }
}
