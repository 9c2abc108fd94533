//! The rate limiter: per policy a sliding-window log or GCRA, all of a request's
//! policies decided in one atomic Redis script.
//!
//! - `policy`: policies from configuration and which ones a request falls under.
//! - `identity`: the client address, believing `X-Forwarded-For` only from trusted
//!   proxies, and IPv6 clients grouped by network.
//! - `actor`: the `RateLimiter` actor and its `Check` message; the checks of a worker go
//!   to `script.lua` in shared runs, falling back to `local` while Redis cannot be asked.
//! - `script`: the arguments and reply of `script.lua`.
//! - `headers`: `X-RateLimit-*`, `RateLimit-Policy` and `RateLimit` (IETF draft -11).
//!
//! The HTTP side is `middleware::rate_limit`.

pub mod actor;
pub mod headers;
pub mod identity;
pub mod local;
pub mod policy;
pub mod script;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};

pub use actor::{Check, CheckKey, RateLimiter};
use identity::TrustedProxies;
use local::LocalLimiter;
use policy::Policies;

use crate::configuration::{RateLimitFallback, RateLimitSettings};
use crate::redis_client::RedisClient;

/// One policy's state after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyState {
    /// Requests left in the window (after this one, if it was allowed).
    pub remaining: u64,
    /// With no request left: milliseconds until the next slot frees. Otherwise:
    /// milliseconds until the quota is whole again (see `script.lua`).
    pub reset_ms: u64,
}

/// The answer to a check: allowed or not, and each policy's state in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub states: Vec<PolicyState>,
}

/// Running totals, for logs and the admin metrics.
#[derive(Debug, Default)]
pub struct LimiterStats {
    pub allowed: AtomicU64,
    pub rejected: AtomicU64,
    /// Checks answered by the fallback because Redis could not be asked.
    pub fallbacks: AtomicU64,
}

impl LimiterStats {
    fn count(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the middleware needs: the policies and who to believe, plus what each worker's
/// limiter actor is built from.
#[derive(Clone)]
pub struct RateLimit {
    pub policies: Policies,
    pub proxies: TrustedProxies,
    /// IPv6 clients are counted per network of this many bits.
    pub ipv6_prefix_len: u8,
    pub stats: Arc<LimiterStats>,
    redis: RedisClient,
    fallback: RateLimitFallback,
    local: LocalLimiter,
    batch_max: usize,
}

/// The limiter actor of the worker a request runs on (registered as app data).
#[derive(Clone)]
pub struct WorkerLimiter(pub Addr<RateLimiter>);

impl RateLimit {
    /// The instance's limiter settings; `None` when switched off.
    pub fn start(settings: &RateLimitSettings, redis: RedisClient) -> anyhow::Result<Option<Self>> {
        if !settings.enabled {
            return Ok(None);
        }
        let policies = Policies::parse_all(&settings.policies)?;
        let proxies = TrustedProxies::parse(&settings.trusted_proxies)?;
        let stats = Arc::new(LimiterStats::default());
        let longest = settings.policies.iter().map(|p| p.window_secs).max();
        let local = LocalLimiter::new(
            settings.local_max_entries,
            Duration::from_secs(longest.unwrap_or(1).max(1)),
        );
        Ok(Some(RateLimit {
            policies,
            proxies,
            ipv6_prefix_len: settings.ipv6_prefix_len,
            stats,
            redis,
            fallback: settings.fallback,
            local,
            batch_max: settings.batch_max,
        }))
    }

    /// Starts a limiter actor on the current (worker) thread.
    pub fn start_worker(&self) -> WorkerLimiter {
        WorkerLimiter(
            RateLimiter::new(
                self.redis.clone(),
                self.fallback,
                self.stats.clone(),
                self.local.clone(),
                self.batch_max,
            )
            .start(),
        )
    }
}
