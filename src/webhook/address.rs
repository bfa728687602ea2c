//! Where a webhook may point. A webhook makes lynk send requests on a
//! caller's behalf, so without these checks it would reach what only lynk
//! can: loopback services, the private network, a cloud's metadata
//! endpoint. URLs are `https` and public; the address is checked again on
//! every delivery, after DNS resolution, so a name cannot be re-pointed at
//! a private address later (`webhook::sender` connects only to checked
//! addresses). `--allow-private-webhook-urls` lifts both rules for tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// The longest URL a webhook may have.
pub const MAX_URL_LEN: usize = 2048;

/// `text` as a webhook URL, or why it cannot be one.
pub fn check_url(text: &str, allow_private: bool) -> Result<Url, String> {
    let text = text.trim();
    if text.len() > MAX_URL_LEN {
        return Err(format!("url is longer than {MAX_URL_LEN} characters"));
    }
    let url = Url::parse(text).map_err(|e| {
        format!("url is not an absolute URL ({e}); e.g. https://hooks.example.com/lynk")
    })?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        scheme => {
            return Err(format!(
                "url must use https, not {scheme}; e.g. https://hooks.example.com/lynk"
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "url must not carry a user name or password: they would be stored and shown in clear; \
             authenticate deliveries with the webhook's signature instead"
                .to_owned(),
        );
    }
    if url.host().is_none() {
        return Err("url has no host".to_owned());
    }
    if !is_public_host(&url) && !allow_private {
        return Err(
            "url must point to a public address, not loopback, private, link-local or metadata \
             ones, nor an IPv6 6to4, Teredo or NAT64 form of one"
                .to_owned(),
        );
    }
    Ok(url)
}

/// Whether `url`'s host may be public: an address [`is_public`] accepts,
/// or a dotted name other than `localhost` (names are checked again after
/// resolution, at every connection).
pub fn is_public_host(url: &Url) -> bool {
    match url.host() {
        None => false,
        Some(Host::Ipv4(ip)) => is_public(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_public(IpAddr::V6(ip)),
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name != "localhost" && !name.ends_with(".localhost") && name.contains('.')
        }
    }
}

/// Whether `ip` is an address on the public internet: not loopback,
/// private, shared (CGNAT), link-local (cloud metadata lives there),
/// multicast, broadcast, documentation, benchmarking or reserved, and not
/// an IPv6 form of such an IPv4 address. IPv6 transition addresses reach
/// an IPv4 address through a relay or translator: 6to4 and NAT64's
/// well-known prefix are judged by the IPv4 address they carry; Teredo
/// (whose client address is obfuscated) and local-use NAT64 (translated by
/// whichever network the server sits in) are refused.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    let embedded = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded(segments[6], segments[7]));
    }
    // 6to4 (2002::/16) reaches the IPv4 address in bits 16 to 47.
    if segments[0] == 0x2002 {
        return is_public_v4(embedded(segments[1], segments[2]));
    }
    !(ip.is_unspecified()
        || (segments[0] == 0x2001 && segments[1] == 0) // Teredo (2001::/32)
        || segments[..3] == [0x64, 0xff9b, 1] // local-use NAT64 (64:ff9b:1::/48)
        || segments[..4] == [0x100, 0, 0, 0] // discard-only (100::/64)
        || segments[..3] == [0x2001, 2, 0] // benchmarking (2001:2::/48)
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || segments[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses_pass_and_private_ones_do_not() {
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "140.82.112.3",
            "2606:4700::1111",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:4860:4860::8888",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
            // 6to4 of loopback, private and metadata addresses.
            "2002:7f00:1::1",
            "2002:a00:1::",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:101:1::1",
            // Teredo, whatever it carries.
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001::1",
            // Local-use NAT64, whatever it carries.
            "64:ff9b:1::808:808",
            "64:ff9b:1:ffff::a9fe:a9fe",
            "100::1",
            "2001:2::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
    }

    #[test]
    fn urls_must_be_https_and_public() {
        assert!(check_url("https://hooks.example.com/lynk", false).is_ok());
        assert!(check_url(" https://1.1.1.1:8443/x ", false).is_ok());
        let refused = [
            ("http://hooks.example.com/", "must use https"),
            ("ftp://hooks.example.com/", "must use https"),
            ("hooks.example.com/lynk", "not an absolute URL"),
            ("https://127.0.0.1/", "public address"),
            ("https://[::1]/", "public address"),
            ("https://169.254.169.254/latest/meta-data", "public address"),
            ("https://localhost:8443/", "public address"),
            ("https://api.localhost/", "public address"),
            ("https://intranet/", "public address"),
            ("https://0x7f000001/", "public address"),
            (
                "https://user:pass@hooks.example.com/",
                "user name or password",
            ),
        ];
        for (url, reason) in refused {
            let error = check_url(url, false).unwrap_err();
            assert!(error.contains(reason), "{url}: {error}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(check_url(&long, false).unwrap_err().contains("longer than"));
    }

    #[test]
    fn private_urls_only_when_allowed() {
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("https://localhost/hook", true).is_ok());
        assert!(check_url("ftp://127.0.0.1/", true).is_err());
    }
}
