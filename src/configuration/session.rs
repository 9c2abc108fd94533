//! The session cookie and its lifetimes.

use secrecy::SecretString;
use serde::Deserialize;

/// Session cookie and lifetimes.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionSettings {
    pub cookie_name: String,
    /// Idle lifetime, extended on every request.
    pub idle_timeout_secs: u64,
    /// Lifetime after which a session ends however active it is.
    pub absolute_lifetime_secs: u64,
    /// The cookie key (`SESSION_SECRET`), at least 64 bytes; required in production.
    pub secret: Option<SecretString>,
    /// How long an instance may use an account's role and session generation read from
    /// PostgreSQL before reading them again (0..=1000 ms; 0 = on every request): the
    /// longest a role change or `logout-all` made elsewhere takes to reach its sessions.
    #[serde(default = "default_account_cache_ms")]
    pub account_cache_ms: u64,
}

fn default_account_cache_ms() -> u64 {
    500
}
