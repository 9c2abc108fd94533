//! Product events: how much history a reconnecting client can replay.

use serde::Deserialize;

use super::{invalid, ConfigError};

/// Product events and their history.
#[derive(Debug, Clone, Deserialize)]
pub struct RealtimeSettings {
    /// Product events kept in the Redis stream `{prefix}product:history` for replay by
    /// offset; a client further behind must refetch (`resync`).
    pub history_size: u64,
}

impl Default for RealtimeSettings {
    fn default() -> Self {
        RealtimeSettings {
            history_size: 10_000,
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
        Ok(())
    }
}
