//! The client address a request is counted under.
//!
//! `X-Forwarded-For` is believed only when the direct peer is a configured trusted proxy,
//! and then read from the right: the rightmost address that is not itself a trusted proxy
//! is the one our own proxies saw. (actix's `realip_remote_addr` takes the leftmost entry
//! from anyone, which would let a client rotate spoofed addresses past the limiter.)

use std::net::IpAddr;

use ipnet::IpNet;

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

    /// The client's address given the direct peer and any `X-Forwarded-For` values.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl Iterator<Item = &'a str>,
    ) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = forwarded_for
            .flat_map(|v| v.split(','))
            .map_while(|h| h.trim().parse::<IpAddr>().ok())
            .collect();
        hops.into_iter()
            .rev()
            .find(|ip| !self.trusts(*ip))
            .unwrap_or(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
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
}
