//! The two-level cache's TTLs, sizes, stale window and warming.

use serde::Deserialize;

use super::{invalid, ConfigError};

/// The two-level cache: TTLs, L1 size, stale window, warming.
#[derive(Debug, Clone, Deserialize)]
pub struct CacheSettings {
    /// Whether the in-process L1 is used (off: every read goes to L2; for measuring).
    pub l1_enabled: bool,
    /// Whether Redis (L2) is used (off: every L1 miss goes to PostgreSQL).
    pub l2_enabled: bool,
    /// L2 (Redis) freshness of one product.
    pub item_ttl_secs: u64,
    /// L2 (Redis) freshness of one list page.
    pub list_ttl_secs: u64,
    /// L1 freshness; an entry never stays fresh in L1 longer than in L2.
    pub l1_ttl_secs: u64,
    /// Each TTL is spread by up to this many percent either way.
    pub jitter_percent: u8,
    /// Bytes of response bodies the whole instance keeps in L1 (split across workers).
    pub l1_max_bytes: u64,
    /// How long past its TTL an entry may still be served as STALE.
    pub max_stale_secs: u64,
    /// Products preloaded at start-up.
    pub warm_count: u32,
    /// Start-up warming gives up after this long.
    pub warm_timeout_ms: u64,
    /// The cross-instance refresh lock's lifetime.
    pub lock_ms: u64,
}

impl CacheSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.item_ttl_secs == 0 || self.list_ttl_secs == 0 || self.l1_ttl_secs == 0 {
            return invalid("cache.*_ttl_secs", "every TTL must be at least 1 second");
        }
        if self.jitter_percent > 50 {
            return invalid("cache.jitter_percent", "must be in 0..=50");
        }
        if self.l1_max_bytes < 1024 * 1024 {
            return invalid("cache.l1_max_bytes", "must be at least 1 MiB");
        }
        if self.warm_count > 100_000 {
            return invalid("cache.warm_count", "must be at most 100000");
        }
        if self.lock_ms == 0 {
            return invalid("cache.lock_ms", "must be at least 1");
        }
        Ok(())
    }
}
