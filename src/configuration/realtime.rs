//! Product events and WebSocket clients: how much history a reconnecting client can
//! replay, and how often a silent client is checked.

use serde::Deserialize;

use super::{invalid, ConfigError};

/// Product events and their history.
#[derive(Debug, Clone, Deserialize)]
pub struct RealtimeSettings {
    /// Product events kept in the Redis stream `{prefix}product:history` for replay by
    /// offset; a client further behind must refetch (`resync`).
    pub history_size: u64,
    /// The server pings each WebSocket client this often; a client silent for three
    /// intervals is closed.
    pub ping_interval_secs: u64,
}

impl Default for RealtimeSettings {
    fn default() -> Self {
        RealtimeSettings {
            history_size: 10_000,
            ping_interval_secs: 10,
        }
    }
}

impl RealtimeSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        // Bounded above because a replay from the oldest offset reads the whole stream
        // in one XRANGE.
        if !(1..=1_000_000).contains(&self.history_size) {
            return invalid("realtime.history_size", "must be in 1..=1000000");
        }
        if !(1..=3600).contains(&self.ping_interval_secs) {
            return invalid("realtime.ping_interval_secs", "must be in 1..=3600");
        }
        Ok(())
    }

    /// `ping_interval_secs` as a duration.
    pub fn ping_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.ping_interval_secs)
    }
}
