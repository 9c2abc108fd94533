//! Accounts: how much password hashing may run at once.

use serde::Deserialize;

use super::{invalid, ConfigError};

/// Password hashing limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuthSettings {
    /// argon2 hashes (register, login, create-admin) computed at once; 0 = one per core.
    /// Each takes ~19 MiB and a core for tens of milliseconds, so a burst of logins
    /// would otherwise queue unbounded work on the blocking pool.
    pub max_concurrent_hashes: usize,
    /// How long a request waits for a hashing slot before it is answered 503 with
    /// `Retry-After`; 0 = not at all.
    pub hash_queue_timeout_ms: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            max_concurrent_hashes: 0,
            hash_queue_timeout_ms: 1000,
        }
    }
}

impl AuthSettings {
    /// The limit in effect: the setting, or the number of cores for 0.
    pub fn hash_limit(&self) -> usize {
        match self.max_concurrent_hashes {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_concurrent_hashes > 1024 {
            return invalid("auth.max_concurrent_hashes", "must be in 0..=1024");
        }
        if self.hash_queue_timeout_ms > 60_000 {
            return invalid("auth.hash_queue_timeout_ms", "must be in 0..=60000");
        }
        Ok(())
    }
}
