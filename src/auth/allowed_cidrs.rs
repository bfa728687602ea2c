//! The client addresses a credential may be used from (`allowedCidrs`):
//! parsing what a caller gives, the stored form (a JSON array of CIDRs in
//! `token.allowed_cidrs`) and the check. Pure, tested beside it.
//!
//! A list that no longer reads allows nothing: a stored restriction never
//! falls back to "any address".

use std::net::IpAddr;

use ipnet::IpNet;

/// Most networks one credential may be bound to (docs/DESIGN.md §8.7).
pub const MAX_ALLOWED_CIDRS: usize = 20;

/// The networks a credential may be used from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedCidrs(Vec<IpNet>);

impl AllowedCidrs {
    /// Parses `allowedCidrs`: 1 to [`MAX_ALLOWED_CIDRS`] IPv4 or IPv6
    /// networks in CIDR notation (`203.0.113.0/24`, `2001:db8::/32`); a
    /// bare address is a network of one. A network with host bits set is
    /// refused, naming the network meant. The message says what is wrong
    /// and what is valid.
    pub fn parse(given: &[String]) -> Result<AllowedCidrs, String> {
        if given.is_empty() || given.len() > MAX_ALLOWED_CIDRS {
            return Err(format!(
                "allowedCidrs must name between 1 and {MAX_ALLOWED_CIDRS} networks (got {}); \
                 omit it for any address",
                given.len()
            ));
        }
        let mut networks = Vec::with_capacity(given.len());
        for text in given {
            let network = parse_one(text.trim())?;
            if !networks.contains(&network) {
                networks.push(network);
            }
        }
        Ok(AllowedCidrs(networks))
    }

    /// The stored form: a JSON array of the networks.
    pub fn to_storage(&self) -> String {
        let texts: Vec<String> = self.0.iter().map(IpNet::to_string).collect();
        serde_json::Value::from(texts).to_string()
    }

    /// Reads the stored form; anything unreadable allows nothing.
    pub fn from_storage(stored: &str) -> AllowedCidrs {
        let texts: Vec<String> = serde_json::from_str(stored).unwrap_or_default();
        AllowedCidrs(texts.iter().filter_map(|t| t.parse().ok()).collect())
    }

    /// Whether `client` lies in one of the networks (an IPv4 client seen
    /// as an IPv4-mapped IPv6 address is compared as IPv4).
    pub fn allows(&self, client: IpAddr) -> bool {
        let client = client.to_canonical();
        self.0.iter().any(|network| network.contains(&client))
    }

    /// The networks, in the order given.
    pub fn networks(&self) -> Vec<String> {
        self.0.iter().map(IpNet::to_string).collect()
    }
}

fn parse_one(text: &str) -> Result<IpNet, String> {
    if let Ok(address) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(address));
    }
    let network: IpNet = text.parse().map_err(|_| {
        format!(
            "allowedCidrs: \"{}\" is not an IPv4 or IPv6 network in CIDR notation \
             (e.g. 203.0.113.0/24 or 2001:db8::/32)",
            text.chars().take(64).collect::<String>()
        )
    })?;
    if network.trunc() != network {
        return Err(format!(
            "allowedCidrs: {network} has host bits set; did you mean {}?",
            network.trunc()
        ));
    }
    Ok(network)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn networks_parse_store_and_match() {
        let cidrs = AllowedCidrs::parse(&strings(&["203.0.113.0/24", "2001:db8::/32", "10.1.2.3"]))
            .unwrap();
        assert_eq!(
            cidrs.networks(),
            ["203.0.113.0/24", "2001:db8::/32", "10.1.2.3/32"]
        );
        let stored = cidrs.to_storage();
        assert_eq!(
            stored,
            r#"["203.0.113.0/24","2001:db8::/32","10.1.2.3/32"]"#
        );
        let read = AllowedCidrs::from_storage(&stored);
        assert_eq!(read, cidrs);
        assert!(read.allows("203.0.113.77".parse().unwrap()));
        assert!(read.allows("::ffff:203.0.113.77".parse().unwrap()));
        assert!(read.allows("2001:db8::1".parse().unwrap()));
        assert!(read.allows("10.1.2.3".parse().unwrap()));
        assert!(!read.allows("10.1.2.4".parse().unwrap()));
        assert!(!read.allows("198.51.100.1".parse().unwrap()));
    }

    #[test]
    fn bad_lists_are_refused_with_what_is_valid() {
        assert!(
            AllowedCidrs::parse(&[])
                .unwrap_err()
                .contains("between 1 and 20")
        );
        let many: Vec<String> = (0..21).map(|i| format!("10.0.0.{i}")).collect();
        assert!(AllowedCidrs::parse(&many).unwrap_err().contains("got 21"));
        assert!(
            AllowedCidrs::parse(&strings(&["example.com"]))
                .unwrap_err()
                .contains("CIDR notation")
        );
        assert!(
            AllowedCidrs::parse(&strings(&["10.0.0.0/33"]))
                .unwrap_err()
                .contains("CIDR notation")
        );
        assert_eq!(
            AllowedCidrs::parse(&strings(&["10.0.0.1/8"])).unwrap_err(),
            "allowedCidrs: 10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?"
        );
        // A huge entry is not echoed whole.
        let huge = "x".repeat(10_000);
        assert!(AllowedCidrs::parse(&[huge]).unwrap_err().len() < 200);
    }

    #[test]
    fn an_unreadable_stored_list_allows_nothing() {
        for stored in ["garbage", "[\"nope\"]", "[]", "{}"] {
            assert!(!AllowedCidrs::from_storage(stored).allows("127.0.0.1".parse().unwrap()));
        }
    }
}
