//! Who may scrape `GET /metrics`.

use ipnet::IpNet;
use serde::Deserialize;

use super::{invalid, ConfigError};

/// Access to the Prometheus endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    /// Addresses or CIDR blocks whose clients may read `/metrics` without the admin
    /// token. The client is decided as for the rate limiter (`rate_limit.trusted_proxies`).
    pub allowed_networks: Vec<String>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            allowed_networks: vec!["127.0.0.0/8".into(), "::1/128".into()],
        }
    }
}

impl MetricsSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.networks().map(|_| ())
    }

    /// The allowed networks, parsed (a bare address is a network of one).
    pub fn networks(&self) -> Result<Vec<IpNet>, ConfigError> {
        self.allowed_networks
            .iter()
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                    .or_else(|_| {
                        invalid(
                            "metrics.allowed_networks",
                            &format!("`{entry}` is not an IP address or CIDR block"),
                        )
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_addresses_or_cidr_blocks() {
        let ok = MetricsSettings {
            allowed_networks: vec!["10.0.0.0/8".into(), "192.0.2.7".into(), "::1".into()],
        };
        assert_eq!(ok.networks().unwrap().len(), 3);
        for bad in ["10.0.0.0/33", "localhost", ""] {
            let settings = MetricsSettings {
                allowed_networks: vec![bad.into()],
            };
            let err = settings.validate().unwrap_err().to_string();
            assert!(err.contains("metrics.allowed_networks"), "{err}");
        }
    }
}
