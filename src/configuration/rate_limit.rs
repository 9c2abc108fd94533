//! The rate limiter's switch, fallback, client identity and policies.

use serde::Deserialize;

// Defined beside its parser, which must not depend on configuration (the settings
// are validated with that parser).
pub use crate::ratelimit::policy::PolicySettings;

/// The rate limiter's switch, fallback and policies.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// What to do while Redis cannot be asked.
    pub fallback: RateLimitFallback,
    /// Peers (addresses or CIDR blocks) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    /// IPv6 clients are counted per network of this many leading bits (1..=128).
    #[serde(default = "default_ipv6_prefix_len")]
    pub ipv6_prefix_len: u8,
    /// Timestamps the local fallback holds at most: a sliding-log key weighs its limit,
    /// a GCRA key 1 (16 bytes each, plus about 100 per key).
    #[serde(default = "default_local_max_entries")]
    pub local_max_entries: u64,
    /// Checks one worker sends to Redis in one script run at most (1: one run per
    /// request, which keeps a run's keys in one Redis Cluster slot).
    #[serde(default = "default_batch_max")]
    pub batch_max: usize,
    pub policies: Vec<PolicySettings>,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            fallback: RateLimitFallback::Local,
            trusted_proxies: Vec::new(),
            ipv6_prefix_len: default_ipv6_prefix_len(),
            local_max_entries: default_local_max_entries(),
            batch_max: default_batch_max(),
            policies: Vec::new(),
        }
    }
}

impl RateLimitSettings {
    /// Checks the ranges the types allow but the limiter cannot use.
    pub fn validate(&self) -> Result<(), super::ConfigError> {
        if !(1..=128).contains(&self.ipv6_prefix_len) {
            return super::invalid("rate_limit.ipv6_prefix_len", "must be in 1..=128");
        }
        if !(1..=1000).contains(&self.batch_max) {
            return super::invalid("rate_limit.batch_max", "must be in 1..=1000");
        }
        let largest_log = self
            .policies
            .iter()
            .filter(|p| p.algorithm == "sliding_log")
            .map(|p| u64::from(p.limit))
            .max()
            .unwrap_or(0);
        if self.local_max_entries < largest_log.max(1000) {
            return super::invalid(
                "rate_limit.local_max_entries",
                "must be at least 1000 and at least every sliding_log policy's limit",
            );
        }
        Ok(())
    }
}

/// The limiter's behaviour while Redis is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitFallback {
    /// Let every request through (the reference design's choice).
    FailOpen,
    /// Count in this instance's memory with the same policies.
    Local,
}

fn default_ipv6_prefix_len() -> u8 {
    64
}

fn default_local_max_entries() -> u64 {
    1_000_000
}

fn default_batch_max() -> usize {
    64
}
