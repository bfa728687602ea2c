//! Where a delivery may connect, decided when it is sent: a webhook's name
//! is resolved here, and only the addresses `address::is_public` accepts
//! are handed to the HTTP client, so a name re-pointed at a private
//! address after the webhook was created (DNS rebinding) reaches nothing.
//! IP-literal URLs never go through a resolver: [`check_target`] checks
//! them before the request. `--allow-private-webhook-urls` lifts both.

use std::{error::Error as StdError, fmt, net::IpAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use super::address::is_public;

/// Why a delivery was not sent to an address.
#[derive(Debug)]
pub struct NotPublic(String);

impl fmt::Display for NotPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "address not public: {}", self.0)
    }
}

impl StdError for NotPublic {}

/// Whether a delivery may be sent to `url`: `https` (or `http` when
/// private URLs are allowed), and an IP-literal host must be public.
/// Names are checked after resolution, by [`PublicResolver`].
pub fn check_target(url: &Url, allow_private: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        scheme => return Err(format!("url must use https, not {scheme}")),
    }
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(Host::Domain(_)) => return Ok(()),
        None => return Err("url has no host".to_owned()),
    };
    if allow_private || is_public(ip) {
        Ok(())
    } else {
        Err(NotPublic(ip.to_string()).to_string())
    }
}

/// The addresses of `resolved` a delivery may connect to.
pub fn permitted(
    resolved: impl IntoIterator<Item = std::net::SocketAddr>,
    allow_private: bool,
) -> Vec<std::net::SocketAddr> {
    resolved
        .into_iter()
        .filter(|address| allow_private || is_public(address.ip()))
        .collect()
}

/// The system resolver, keeping only the addresses a delivery may reach;
/// a name with none left fails with [`NotPublic`].
#[derive(Clone, Copy, Debug)]
pub struct PublicResolver {
    pub allow_private: bool,
}

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // The port is the URL's; reqwest sets it on every address.
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let addresses = permitted(resolved, allow_private);
            if addresses.is_empty() {
                return Err(
                    Box::new(NotPublic(format!("{host} resolves to no public address")))
                        as Box<dyn StdError + Send + Sync>,
                );
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn literal_addresses_are_checked_before_sending() {
        assert!(check_target(&url("https://1.1.1.1/hook"), false).is_ok());
        assert!(check_target(&url("https://hooks.example.com/"), false).is_ok());
        for private in [
            "https://127.0.0.1:8443/",
            "https://[::1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::ffff:10.0.0.1]/",
        ] {
            let error = check_target(&url(private), false).unwrap_err();
            assert!(
                error.starts_with("address not public: "),
                "{private}: {error}"
            );
        }
        assert!(check_target(&url("http://hooks.example.com/"), false).is_err());
        assert!(check_target(&url("http://127.0.0.1:9000/"), true).is_ok());
        assert!(check_target(&url("ftp://127.0.0.1/"), true).is_err());
    }

    #[test]
    fn only_public_resolved_addresses_are_kept() {
        let resolved: Vec<std::net::SocketAddr> = vec![
            "127.0.0.1:0".parse().unwrap(),
            "1.1.1.1:0".parse().unwrap(),
            "[fd00::1]:0".parse().unwrap(),
        ];
        assert_eq!(
            permitted(resolved.clone(), false),
            ["1.1.1.1:0".parse().unwrap()]
        );
        assert_eq!(permitted(resolved.clone(), true), resolved);
    }

    #[tokio::test]
    async fn a_name_of_loopback_resolves_to_nothing_reachable() {
        let name: Name = "localhost".parse().unwrap();
        let error = PublicResolver {
            allow_private: false,
        }
        .resolve(name)
        .await
        .err()
        .expect("localhost is refused");
        assert_eq!(
            error.to_string(),
            "address not public: localhost resolves to no public address"
        );
        let allowed = PublicResolver {
            allow_private: true,
        }
        .resolve("localhost".parse().unwrap())
        .await
        .expect("allowed when private URLs are");
        assert!(
            allowed
                .into_iter()
                .all(|address| address.ip().is_loopback())
        );
    }
}
