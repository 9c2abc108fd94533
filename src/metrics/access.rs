//! Who may read `GET /metrics`: a client in `metrics.allowed_networks` (loopback by
//! default), or anyone presenting the `ADMIN_TOKEN` bearer token.
//!
//! The client address is decided exactly as the rate limiter decides it
//! (`ratelimit::identity`): `X-Forwarded-For` is believed only from
//! `rate_limit.trusted_proxies` and walked from the right, so a client cannot claim to be
//! on an allowed network by writing the header itself. A request that carries a
//! forwarding header (`X-Forwarded-For`, `Forwarded`, `X-Real-IP`) from a peer that is not
//! a trusted proxy is never on an allowed network: its peer is a proxy nobody vouched for
//! (nginx on this host, left out of the trusted list, would make every client 127.0.0.1).

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

use crate::configuration::{ConfigError, Settings};
use crate::ratelimit::identity::TrustedProxies;

/// The networks allowed and the proxies believed.
#[derive(Debug, Clone)]
pub struct MetricsAccess {
    allowed: Vec<IpNet>,
    proxies: TrustedProxies,
}

impl MetricsAccess {
    pub fn from_settings(settings: &Settings) -> Result<MetricsAccess, ConfigError> {
        let proxies = TrustedProxies::parse(&settings.rate_limit.trusted_proxies).map_err(|e| {
            ConfigError::Invalid {
                setting: "rate_limit.trusted_proxies",
                reason: e.to_string(),
            }
        })?;
        Ok(MetricsAccess {
            allowed: settings.metrics.networks()?,
            proxies,
        })
    }

    /// The client's address as the rate limiter sees it; `None` without a peer address
    /// or when an untrusted proxy forwarded the request (its client is unknown).
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        if self
            .proxies
            .forwarded_by_untrusted(req.peer_addr(), req.headers())
        {
            return None;
        }
        self.proxies.request_client(req.peer_addr(), req.headers())
    }

    /// Whether this client is on an allowed network.
    pub fn allows(&self, client: IpAddr) -> bool {
        let client = client.to_canonical();
        self.allowed.iter().any(|net| net.contains(&client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(allowed: &[&str], proxies: &[&str]) -> MetricsAccess {
        MetricsAccess {
            allowed: allowed.iter().map(|n| n.parse().unwrap()).collect(),
            proxies: TrustedProxies::parse(
                &proxies.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            )
            .unwrap(),
        }
    }

    #[test]
    fn loopback_and_listed_networks_are_allowed_others_not() {
        let a = access(&["127.0.0.0/8", "::1/128", "10.1.0.0/16"], &[]);
        assert!(a.allows("127.0.0.1".parse().unwrap()));
        assert!(a.allows("::1".parse().unwrap()));
        assert!(a.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(a.allows("10.1.2.3".parse().unwrap()));
        assert!(!a.allows("10.2.0.1".parse().unwrap()));
        assert!(!a.allows("203.0.113.7".parse().unwrap()));
    }
}
