//! Settings of the HTTP server, the database pool, logs, demo data and admin access.

use secrecy::SecretString;
use serde::Deserialize;

/// Machine access to the admin side.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AdminSettings {
    /// A bearer token (`ADMIN_TOKEN`, at least 32 characters) that grants admin rights
    /// without a session: for metrics scrapers, scripts, and for reaching `/admin` while
    /// Redis, where sessions live, is down. Unset means sessions only.
    #[serde(default)]
    pub api_token: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// 0 means one worker per core.
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
    /// After a stop request, keep serving this long with `Connection: close` on every
    /// answer and `/readyz` at 503, so a load balancer moves away without a failed
    /// request (see `middleware::drain`). 0 stops at once.
    pub drain_ms: u64,
    pub max_body_bytes: usize,
    /// This instance's name in `/admin/metrics/cluster` and its Redis snapshot key; unset
    /// means `{hostname}-{pid}-{4 random hex digits}`, made at start-up (see
    /// `metrics::instance`).
    #[serde(default)]
    pub instance_id: Option<String>,
}

/// Longest drain before a stop, in milliseconds.
const MAX_DRAIN_MS: u64 = 60_000;

/// Longest instance id, in characters.
pub const MAX_INSTANCE_ID: usize = 64;

impl ServerSettings {
    /// An instance id goes into a Redis key: 1..=64 of `A-Z a-z 0-9 . _ -` (no braces,
    /// which would change the key's Redis Cluster hash tag).
    pub(super) fn validate(&self) -> Result<(), super::ConfigError> {
        if self.drain_ms > MAX_DRAIN_MS {
            return super::invalid(
                "server.drain_ms (APP__SERVER__DRAIN_MS)",
                "must be at most 60000 (a minute)",
            );
        }
        let Some(id) = &self.instance_id else {
            return Ok(());
        };
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if id.is_empty() || id.len() > MAX_INSTANCE_ID || !id.chars().all(allowed) {
            return super::invalid(
                "server.instance_id (APP__SERVER__INSTANCE_ID)",
                "must be 1..=64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
            );
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub pool_max_size: usize,
    pub pool_timeout_ms: u64,
    /// PostgreSQL's `statement_timeout` on every pooled connection; also bounds, with
    /// `pool_timeout_ms`, how long one cache load may wait for the database.
    pub statement_timeout_ms: u64,
    pub create_if_missing: bool,
}

impl DatabaseSettings {
    /// The longest one cache load may take: a connection, then its queries' timeout.
    pub fn load_deadline(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.pool_timeout_ms + self.statement_timeout_ms)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SeedSettings {
    pub demo_products: u32,
}
