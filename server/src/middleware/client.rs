//! Who sent a request: the client's address (for per-client limits: wrong API keys, uploads)
//! and the scheme it used (for the form's cross-site guard).
//!
//! - **Plain server.** The accept loop (`crate::serve`) puts a [`Client`] into every request's
//!   extensions, made by [`Proxies::resolve`] from the peer address and, only when
//!   TRUSTED_PROXY_HOPS says proxies are in front, from `X-Forwarded-For` and
//!   `X-Forwarded-Proto`. Behind an ALB the peer is the balancer, so without that setting all
//!   clients share the balancer's few addresses; with it, a client that can reach the server
//!   without the proxies could claim any address, so set it only when it cannot.
//! - **Lambda.** `crate::lambda` takes the address from API Gateway's request context
//!   (`sourceIp`, set by AWS) and the scheme from the URL `lambda_http` built (https).
//!
//! A request without a [`Client`] (a router called directly) counts as [`Client::unknown`].

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;

/// The scheme the client used to reach us (the public one, behind a TLS-terminating proxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    pub fn parse(text: &str) -> Option<Scheme> {
        if text.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else if text.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else {
            None
        }
    }
}

/// A request's client, in its extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    pub ip: IpAddr,
    pub scheme: Scheme,
}

impl Client {
    /// For a request that did not come through the accept loop or Lambda.
    pub fn unknown() -> Client {
        Client {
            ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            scheme: Scheme::Http,
        }
    }

    /// The request's client, or [`Client::unknown`].
    pub fn of<B>(request: &axum::http::Request<B>) -> Client {
        request
            .extensions()
            .get::<Client>()
            .copied()
            .unwrap_or_else(Client::unknown)
    }

    /// The key for per-client limits: the address, or for IPv6 its /64 network (one host
    /// usually has a whole /64, so single addresses would cost an attacker nothing).
    pub fn limit_key(&self) -> IpAddr {
        match self.ip {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
        }
    }
}

/// How many proxies in front are trusted (TRUSTED_PROXY_HOPS).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Proxies {
    pub hops: u8,
}

impl Proxies {
    /// The client of a request that arrived from `peer` with `headers`.
    ///
    /// With `hops` = N > 0, each trusted proxy appended the address it was connected from to
    /// `X-Forwarded-For`, so the client is the N-th entry from the right; entries left of it
    /// were written by the client and are ignored. Too few entries or an unreadable one: the
    /// peer. The scheme is the last proxy's `X-Forwarded-Proto` (`http` when absent or odd).
    pub fn resolve(&self, peer: SocketAddr, headers: &HeaderMap) -> Client {
        let mut client = Client {
            ip: peer.ip().to_canonical(),
            scheme: Scheme::Http,
        };
        if self.hops == 0 {
            return client;
        }
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        if let Some(ip) = forwarded
            .len()
            .checked_sub(usize::from(self.hops))
            .and_then(|i| parse_address(forwarded[i]))
        {
            client.ip = ip.to_canonical();
        }
        client.scheme = headers
            .get_all("x-forwarded-proto")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| Scheme::parse(v.trim()))
            .unwrap_or(Scheme::Http);
        client
    }
}

/// `203.0.113.7`, `2001:db8::1`, or either with a port (`203.0.113.7:4711`, `[2001:db8::1]:4711`).
fn parse_address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    const PEER: &str = "10.0.0.5:41000";

    #[test]
    fn without_trusted_proxies_forwarded_headers_are_ignored() {
        let forged = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
        ]);
        let client = Proxies { hops: 0 }.resolve(PEER.parse().unwrap(), &forged);
        assert_eq!(client.ip, "10.0.0.5".parse::<IpAddr>().unwrap());
        assert_eq!(client.scheme, Scheme::Http);
    }

    #[test]
    fn with_n_trusted_proxies_the_nth_address_from_the_right_is_the_client() {
        let peer = PEER.parse().unwrap();
        // The client forged the first entry; the ALB appended the real one.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 198.51.100.7"),
            ("x-forwarded-proto", "https"),
        ]);
        let client = Proxies { hops: 1 }.resolve(peer, &h);
        assert_eq!(client.ip, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(client.scheme, Scheme::Https);
        // Two proxies (CloudFront, then the ALB), the header split over two lines.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 198.51.100.7"),
            ("x-forwarded-for", "[2001:db8::1]:443"),
        ]);
        let client = Proxies { hops: 2 }.resolve(peer, &h);
        assert_eq!(client.ip, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(client.scheme, Scheme::Http);
        // Too few entries, or garbage where the client should be: the peer.
        for h in [
            headers(&[("x-forwarded-for", "198.51.100.7")]),
            headers(&[("x-forwarded-for", "junk, 198.51.100.7")]),
            headers(&[]),
        ] {
            let client = Proxies { hops: 2 }.resolve(peer, &h);
            assert_eq!(client.ip, "10.0.0.5".parse::<IpAddr>().unwrap(), "{h:?}");
        }
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64_network() {
        let a = Client {
            ip: "2001:db8:1:2:aaaa::1".parse().unwrap(),
            scheme: Scheme::Http,
        };
        let b = Client {
            ip: "2001:db8:1:2:bbbb::9".parse().unwrap(),
            scheme: Scheme::Http,
        };
        assert_eq!(a.limit_key(), b.limit_key());
        let mapped = Client {
            ip: "::ffff:192.0.2.1".parse().unwrap(),
            scheme: Scheme::Http,
        };
        assert_eq!(mapped.limit_key(), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
