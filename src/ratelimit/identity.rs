//! The client address a request is counted under.
//!
//! `X-Forwarded-For` is believed only when the direct peer is a configured trusted proxy,
//! and then walked from the right: each trusted proxy appended the address it saw, so the
//! first hop that is not itself a trusted proxy is the client our own proxies saw. Anything
//! further left was written by the client and proves nothing. A hop that is not an address
//! ends the walk where it stands: the last trusted hop reached is the identity, never a
//! value to the left of the junk (which the client chose). actix's `realip_remote_addr`
//! takes the leftmost entry from anyone, which would let a client rotate spoofed
//! addresses past the limiter.
//!
//! IPv6 clients are counted per network (`/64` by default), since one host usually holds a
//! whole /64 and could otherwise take a fresh address, and fresh quota, per request.
//!
//! A forwarding header from a peer that is not trusted is ignored by the walk, but it is
//! not nothing: it says the peer is a proxy, so the peer's address is not the client's.
//! A proxy on the same host left out of `rate_limit.trusted_proxies` makes every client
//! 127.0.0.1; the first such request is logged once per process.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::http::header::HeaderMap;
use ipnet::{IpNet, Ipv6Net};

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

/// A trusted-proxy entry that is neither an address nor a CIDR block.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an IP address or CIDR block")]
pub struct BadProxy(String);

impl TrustedProxies {
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, BadProxy> {
        let nets = entries
            .iter()
            .map(|e| {
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadProxy(e.clone()))
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { nets })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// Whether the direct peer is a trusted proxy (`false` without a peer address).
    pub fn trusts_peer(&self, peer: Option<SocketAddr>) -> bool {
        peer.is_some_and(|p| self.trusts(p.ip().to_canonical()))
    }

    /// Whether a peer that is not a trusted proxy forwarded this request (it carries
    /// `X-Forwarded-For`, `Forwarded` or `X-Real-IP`): its peer address is a proxy's, so
    /// it says nothing about where the client is. Logs once per process when that peer
    /// is loopback, the mark of a proxy on this host missing from the trusted list.
    pub fn forwarded_by_untrusted(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
        let Some(peer) = peer.map(|p| p.ip().to_canonical()) else {
            return false;
        };
        let forwarded = FORWARDING_HEADERS.iter().any(|h| headers.contains_key(*h));
        if !forwarded || self.trusts(peer) {
            return false;
        }
        if peer.is_loopback() && UNTRUSTED_LOCAL_PROXY.first() {
            tracing::warn!(
                %peer,
                "requests forwarded by a proxy on this host (X-Forwarded-For or Forwarded \
                 from a loopback peer) while rate_limit.trusted_proxies does not list it: every \
                 client shares the proxy's address, and forwarded requests are kept off \
                 metrics.allowed_networks; add the proxy's address to rate_limit.trusted_proxies"
            );
        }
        true
    }

    /// The client's address given the direct peer and any `X-Forwarded-For` values (in
    /// header order; several headers are one list).
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut current = peer.to_canonical();
        if !self.trusts(current) {
            return current;
        }
        for hop in forwarded_for.rev().flat_map(|v| v.rsplit(',')) {
            let Some(ip) = parse_hop(hop) else {
                return current;
            };
            current = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        current
    }

    /// A request's client: its peer, or the `X-Forwarded-For` hop the trusted proxies
    /// vouch for; `None` without a peer address. The rate limiter, the WebSocket caps and
    /// the `/metrics` network rule all decide the client here.
    pub fn request_client(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        // Only for its warning: the walk below ignores an untrusted peer's headers anyway.
        self.forwarded_by_untrusted(peer, headers);
        let forwarded = headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok());
        Some(self.client_ip(peer?.ip(), forwarded))
    }

    /// The identity string of a request's client ([`group`]ed), `unknown` without a peer.
    pub fn request_identity(
        &self,
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
        ipv6_prefix_len: u8,
    ) -> String {
        match self.request_client(peer, headers) {
            Some(ip) => group(ip, ipv6_prefix_len),
            None => "unknown".to_string(),
        }
    }
}

/// The headers a proxy adds to name the client it forwards for.
const FORWARDING_HEADERS: [&str; 3] = ["x-forwarded-for", "forwarded", "x-real-ip"];

/// The warning about a proxy on this host that is not trusted: once per process.
static UNTRUSTED_LOCAL_PROXY: Once = Once::new();

/// A flag that answers `true` to the first caller only.
struct Once(AtomicBool);

impl Once {
    const fn new() -> Once {
        Once(AtomicBool::new(false))
    }

    fn first(&self) -> bool {
        !self.0.swap(true, Ordering::Relaxed)
    }
}

/// One `X-Forwarded-For` hop: `ip`, `ip:port`, `[v6]` or `[v6]:port`; IPv4-mapped IPv6
/// addresses count as the IPv4 address.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<Ipv6Addr>()
                .ok()
                .map(IpAddr::V6)
        })?;
    Some(ip.to_canonical())
}

/// The identity string of an address: an IPv4 address as is, an IPv6 address as its
/// network of `ipv6_prefix_len` bits (`2001:db8:1:2::/64`).
pub fn group(ip: IpAddr, ipv6_prefix_len: u8) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) if ipv6_prefix_len >= 128 => v6.to_string(),
        IpAddr::V6(v6) => Ipv6Net::new(v6, ipv6_prefix_len)
            .map(|n| n.trunc().to_string())
            .unwrap_or_else(|_| v6.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn local() -> TrustedProxies {
        TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let t = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let got = t.client_ip(ip("203.0.113.9"), ["1.2.3.4"].into_iter());
        assert_eq!(got, ip("203.0.113.9"));
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(ip("127.0.0.1"), ["1.2.3.4"].into_iter()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn a_trusted_chain_is_read_from_the_right() {
        let t = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.0.2.1".into()]).unwrap();
        let got = t.client_ip(
            ip("10.0.0.2"),
            ["6.6.6.6, 198.51.100.7", "192.0.2.1"].into_iter(),
        );
        assert_eq!(got, ip("198.51.100.7"));
        assert_eq!(
            t.client_ip(ip("10.0.0.2"), std::iter::empty()),
            ip("10.0.0.2")
        );
        assert!(TrustedProxies::parse(&["nonsense".into()]).is_err());
    }

    #[test]
    fn junk_ends_the_walk_at_the_last_trusted_hop() {
        let t = local();
        // The client wrote both values; the proxy's view is the junk: the proxy it is.
        let got = t.client_ip(ip("127.0.0.1"), ["6.6.6.6, junk"].into_iter());
        assert_eq!(got, ip("127.0.0.1"));
        let got = t.client_ip(ip("127.0.0.1"), ["6.6.6.6, junk, 10.1.2.3"].into_iter());
        assert_eq!(got, ip("10.1.2.3"));
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), [""].into_iter()),
            ip("127.0.0.1")
        );
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), ["unknown"].into_iter()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn only_trusted_hops_make_the_leftmost_one_the_client() {
        let got = local().client_ip(ip("127.0.0.1"), ["10.9.9.9, 10.0.0.1"].into_iter());
        assert_eq!(got, ip("10.9.9.9"));
    }

    #[test]
    fn hops_with_ports_and_brackets_are_addresses() {
        let t = local();
        let one = |v: &str| t.client_ip(ip("127.0.0.1"), [v].into_iter());
        assert_eq!(one("198.51.100.7:4711"), ip("198.51.100.7"));
        assert_eq!(one("[2001:db8::1]:443"), ip("2001:db8::1"));
        assert_eq!(one("[2001:db8::1]"), ip("2001:db8::1"));
        assert_eq!(one(" 2001:db8::2 "), ip("2001:db8::2"));
        assert_eq!(one("6.6.6.6, 198.51.100.7:80"), ip("198.51.100.7"));
        assert_eq!(one("10.0.0.1:80, 127.0.0.1:1234"), ip("10.0.0.1"));
        assert_eq!(one("::ffff:198.51.100.9"), ip("198.51.100.9"));
    }

    #[test]
    fn several_headers_are_one_list_read_from_the_last() {
        let got = local().client_ip(
            ip("127.0.0.1"),
            ["6.6.6.6", "198.51.100.7, 10.0.0.5"].into_iter(),
        );
        assert_eq!(got, ip("198.51.100.7"));
    }

    #[test]
    fn a_mapped_ipv4_peer_is_trusted_as_its_ipv4_address() {
        let got = local().client_ip(ip("::ffff:127.0.0.1"), ["198.51.100.7"].into_iter());
        assert_eq!(got, ip("198.51.100.7"));
    }

    #[test]
    fn a_forwarding_header_from_an_untrusted_peer_marks_the_request() {
        let peer = |s: &str| Some(SocketAddr::new(ip(s), 4000));
        let headers = |name: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(
                actix_web::http::header::HeaderName::from_static(name),
                actix_web::http::header::HeaderValue::from_static("for=203.0.113.7"),
            );
            h
        };
        let none = TrustedProxies::default();
        for name in ["x-forwarded-for", "forwarded", "x-real-ip"] {
            assert!(none.forwarded_by_untrusted(peer("127.0.0.1"), &headers(name)));
            assert!(none.forwarded_by_untrusted(peer("::1"), &headers(name)));
            assert!(none.forwarded_by_untrusted(peer("203.0.113.9"), &headers(name)));
        }
        assert!(!none.forwarded_by_untrusted(peer("127.0.0.1"), &HeaderMap::new()));
        assert!(!none.forwarded_by_untrusted(None, &headers("forwarded")));
        // A trusted proxy's headers are the walk's to read.
        assert!(!local().forwarded_by_untrusted(peer("127.0.0.1"), &headers("forwarded")));
        assert!(!local().forwarded_by_untrusted(peer("::ffff:10.1.2.3"), &headers("x-real-ip")));
    }

    #[test]
    fn the_local_proxy_warning_is_given_once() {
        let once = Once::new();
        assert!(once.first());
        assert!(!once.first());
        assert!(!once.first());
    }

    #[test]
    fn ipv6_clients_are_grouped_by_prefix() {
        assert_eq!(group(ip("2001:db8:1:2:aaaa::1"), 64), "2001:db8:1:2::/64");
        assert_eq!(
            group(ip("2001:db8:1:2:ffff::9"), 64),
            group(ip("2001:db8:1:2::1"), 64)
        );
        assert_ne!(
            group(ip("2001:db8:1:3::1"), 64),
            group(ip("2001:db8:1:2::1"), 64)
        );
        assert_eq!(group(ip("2001:db8:1:2::1"), 48), "2001:db8:1::/48");
        assert_eq!(group(ip("2001:db8::1"), 128), "2001:db8::1");
        assert_eq!(group(ip("198.51.100.7"), 64), "198.51.100.7");
        assert_eq!(group(ip("::ffff:198.51.100.7"), 64), "198.51.100.7");
    }
}
