//! The rate limiter's switch, fallback, trusted proxies and policies.

use serde::Deserialize;

/// The rate limiter's switch, fallback and policies.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// What to do while Redis cannot be asked.
    pub fallback: RateLimitFallback,
    /// Peers (addresses or CIDR blocks) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    pub policies: Vec<PolicySettings>,
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

/// One rate-limit policy, as configured.
#[derive(Debug, Clone, Deserialize)]
pub struct PolicySettings {
    /// Shown in `RateLimit-Policy`; also part of the Redis key.
    pub name: String,
    /// HTTP methods it applies to; empty means all.
    #[serde(default)]
    pub methods: Vec<String>,
    /// An exact path, or a prefix when it ends with `*`.
    pub path: String,
    pub limit: u32,
    pub window_secs: u64,
    /// Who is counted: `client` (user id, else IP), `ip` or `email` (the JSON body's).
    #[serde(default = "default_identity")]
    pub identity: String,
    /// Who it applies to: `any`, `anonymous` or `signed_in`.
    #[serde(default = "default_audience")]
    pub audience: String,
}

fn default_identity() -> String {
    "client".to_string()
}

fn default_audience() -> String {
    "any".to_string()
}
