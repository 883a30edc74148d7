//! Who a request comes from, for per-client limits (website forms).
//!
//! Behind a reverse proxy every connection comes from the proxy, so a limit
//! per connection address would be one limit for all visitors. The proxies
//! named with `voronka serve --trusted-proxy` are believed about the client
//! they forward for (`X-Forwarded-For`); nobody else is, so a client cannot
//! escape its limit by sending the header itself.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// The addresses of the reverse proxies in front of Voronka.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpAddr>);

impl TrustedProxies {
    pub fn new(proxies: Vec<IpAddr>) -> Self {
        Self(proxies.into_iter().map(canonical).collect())
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.contains(&canonical(address))
    }

    /// The client of a request that arrived from `peer`: `peer` itself
    /// unless it is a trusted proxy; else, reading `X-Forwarded-For` from
    /// the right (each proxy appends the address it saw), the first address
    /// that is not a trusted proxy. A malformed entry stops the walk at the
    /// last address a trusted proxy vouched for.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.into_iter().rev() {
            let Ok(address) = hop.parse::<IpAddr>() else {
                break;
            };
            client = canonical(address);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// IPv4 addresses seen through an IPv6 socket (`::ffff:a.b.c.d`) as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let proxies = TrustedProxies::new(vec![ip("10.0.0.1")]);
        let claims = forwarded(&["203.0.113.9"]);
        assert_eq!(
            proxies.client(ip("198.51.100.7"), &claims),
            ip("198.51.100.7")
        );
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.1"), &claims),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_it_saw() {
        let proxies = TrustedProxies::new(vec![ip("10.0.0.1"), ip("10.0.0.2")]);
        // The client spoofs a first entry; the proxies append what they saw.
        let headers = forwarded(&["1.2.3.4, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &headers), ip("203.0.113.9"));
        // No header: the proxy itself.
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        // Garbage at the right end: the last vouched-for address.
        let garbage = forwarded(&["203.0.113.9, not-an-address"]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &garbage), ip("10.0.0.1"));
        // An IPv4 proxy seen through an IPv6 socket is still trusted.
        let single = forwarded(&["203.0.113.9"]);
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.1"), &single),
            ip("203.0.113.9")
        );
    }
}
