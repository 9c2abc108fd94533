//! Product events and WebSocket clients: how much history a reconnecting client can
//! replay, how often a silent client is checked, and what one client (and all of them)
//! may cost the instance.

use serde::Deserialize;

use super::{invalid, ConfigError};

/// Product events, their history and the WebSocket endpoint's limits.
#[derive(Debug, Clone, Deserialize)]
pub struct RealtimeSettings {
    /// Product events kept in the Redis stream `{prefix}product:history` for replay by
    /// offset; a client further behind must refetch (`resync`).
    pub history_size: u64,
    /// The server pings each WebSocket client this often; a client silent for three
    /// intervals is closed.
    pub ping_interval_secs: u64,
    /// Open WebSockets on this instance; the next handshake gets 503.
    pub max_connections: usize,
    /// Open WebSockets per client address (the rate limiter's identity: trusted proxies,
    /// IPv6 grouped by network); the next handshake from it gets 429.
    pub max_connections_per_ip: usize,
    /// The largest frame a client may send; a larger one closes the socket with 1009.
    pub max_frame_bytes: usize,
    /// Refused frames a client may send before it is closed with 1008.
    pub max_bad_frames: u32,
    /// Frames queued for one client; a client that lets it fill is closed with 1013.
    pub client_queue_size: usize,
    /// How long each product's last published version is remembered, so an older event
    /// published later (its write was slower between commit and publish) is dropped
    /// rather than delivered out of order. Must outlast any write's commit-to-publish.
    pub event_order_window_secs: u64,
    /// Origins besides the service's own whose pages may open `/ws` (`scheme://host[:port]`);
    /// a browser handshake from any other origin is refused with 403.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Topics one socket may hold at once (each at most 128 bytes); a subscribe past it
    /// is refused (`too_many_topics`, counted as a refused frame).
    pub max_topics_per_connection: usize,
    /// `since` replays one socket may start in any minute; past it a subscribe with
    /// `since` is answered `replay_limited`.
    pub replays_per_minute: u32,
}

impl Default for RealtimeSettings {
    fn default() -> Self {
        RealtimeSettings {
            history_size: 10_000,
            ping_interval_secs: 10,
            max_connections: 20_000,
            max_connections_per_ip: 200,
            max_frame_bytes: 64 * 1024,
            max_bad_frames: 20,
            client_queue_size: 256,
            event_order_window_secs: 3600,
            allowed_origins: Vec::new(),
            max_topics_per_connection: 100,
            replays_per_minute: 6,
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
        if !(1..=1_000_000).contains(&self.max_connections) {
            return invalid("realtime.max_connections", "must be in 1..=1000000");
        }
        if !(1..=self.max_connections).contains(&self.max_connections_per_ip) {
            return invalid(
                "realtime.max_connections_per_ip",
                "must be in 1..=realtime.max_connections",
            );
        }
        // A subscribe naming a few topics must fit; a frame is held whole in memory.
        if !(256..=16 * 1024 * 1024).contains(&self.max_frame_bytes) {
            return invalid("realtime.max_frame_bytes", "must be in 256..=16777216");
        }
        if !(1..=10_000).contains(&self.max_bad_frames) {
            return invalid("realtime.max_bad_frames", "must be in 1..=10000");
        }
        if !(1..=65_536).contains(&self.client_queue_size) {
            return invalid("realtime.client_queue_size", "must be in 1..=65536");
        }
        if !(1..=10_000).contains(&self.max_topics_per_connection) {
            return invalid("realtime.max_topics_per_connection", "must be in 1..=10000");
        }
        if !(1..=600).contains(&self.replays_per_minute) {
            return invalid("realtime.replays_per_minute", "must be in 1..=600");
        }
        // Below a minute a slow write (timeouts add up) could outlive it; above a week it
        // only holds memory.
        if !(60..=604_800).contains(&self.event_order_window_secs) {
            return invalid("realtime.event_order_window_secs", "must be in 60..=604800");
        }
        self.validate_allowed_origins()
    }

    /// Each entry must be a bare origin: a path or query would be ignored by the check,
    /// so a typo would silently refuse the page it meant to allow.
    fn validate_allowed_origins(&self) -> Result<(), ConfigError> {
        for origin in &self.allowed_origins {
            if let Err(reason) = crate::origin::parse_configured(origin) {
                return invalid("realtime.allowed_origins", &reason);
            }
        }
        Ok(())
    }

    /// `ping_interval_secs` as a duration.
    pub fn ping_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.ping_interval_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(change: impl FnOnce(&mut RealtimeSettings)) -> String {
        let mut settings = RealtimeSettings::default();
        change(&mut settings);
        settings.validate().unwrap_err().to_string()
    }

    #[test]
    fn the_defaults_are_valid_and_each_limit_is_checked() {
        assert!(RealtimeSettings::default().validate().is_ok());
        assert!(refused(|s| s.max_connections = 0).contains("max_connections"));
        let err = refused(|s| {
            s.max_connections = 10;
            s.max_connections_per_ip = 11;
        });
        assert!(err.contains("max_connections_per_ip"), "{err}");
        assert!(refused(|s| s.max_frame_bytes = 100).contains("max_frame_bytes"));
        assert!(refused(|s| s.max_bad_frames = 0).contains("max_bad_frames"));
        assert!(refused(|s| s.client_queue_size = 0).contains("client_queue_size"));
        let err = refused(|s| s.max_topics_per_connection = 0);
        assert!(err.contains("max_topics_per_connection"), "{err}");
        assert!(refused(|s| s.replays_per_minute = 0).contains("replays_per_minute"));

        let err = refused(|s| s.event_order_window_secs = 5);
        assert!(err.contains("event_order_window_secs"), "{err}");
    }

    #[test]
    fn allowed_origins_must_be_bare_origins() {
        let mut settings = RealtimeSettings {
            allowed_origins: vec!["https://shop.example".into(), "http://[::1]:8080".into()],
            ..RealtimeSettings::default()
        };
        assert!(settings.validate().is_ok());
        settings
            .allowed_origins
            .push("https://shop.example/app".into());
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("realtime.allowed_origins"), "{err}");
        assert!(refused(|s| s.allowed_origins = vec!["*".into()]).contains("allowed_origins"));
    }
}
