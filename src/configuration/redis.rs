//! The Redis connection, its key prefix and the circuit breaker in front of it.

use secrecy::SecretString;
use serde::Deserialize;

use super::{invalid, ConfigError};

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    pub url: SecretString,
    pub prefix: String,
    pub timeout_ms: u64,
    /// Consecutive failures or timeouts that open the circuit breaker.
    pub breaker_failure_threshold: u32,
    /// How long the breaker stays open before one probe is let through.
    pub breaker_cooldown_ms: u64,
    /// How often the invalidation subscriber PINGs its connection.
    pub pubsub_ping_interval_ms: u64,
    /// How long a PING may go unanswered before the connection counts as dead.
    pub pubsub_ping_timeout_ms: u64,
}

impl RedisSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let prefix = &self.prefix;
        if prefix.is_empty()
            || prefix.len() > 64
            || prefix
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '*' | '?' | '[' | ']' | '\\'))
        {
            return invalid(
                "redis.prefix (REDIS_PREFIX)",
                "must be 1..=64 characters without spaces or glob characters",
            );
        }
        if self.timeout_ms == 0 {
            return invalid("redis.timeout_ms", "must be at least 1");
        }
        if self.breaker_failure_threshold == 0 {
            return invalid("redis.breaker_failure_threshold", "must be at least 1");
        }
        if self.breaker_cooldown_ms == 0 {
            return invalid("redis.breaker_cooldown_ms", "must be at least 1");
        }
        if self.pubsub_ping_interval_ms == 0 {
            return invalid("redis.pubsub_ping_interval_ms", "must be at least 1");
        }
        // One ping is answered or given up on before the next is due.
        if self.pubsub_ping_timeout_ms == 0
            || self.pubsub_ping_timeout_ms > self.pubsub_ping_interval_ms
        {
            return invalid(
                "redis.pubsub_ping_timeout_ms",
                "must be 1..=redis.pubsub_ping_interval_ms",
            );
        }
        Ok(())
    }
}
