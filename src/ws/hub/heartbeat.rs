//! The heartbeat: one timer per shard instead of one per connection.
//!
//! Each connection is to be pinged once per `realtime.ping_interval_secs`. A timer per
//! connection costs every idle connection a timer entry, and fires in bursts: clients that
//! connected within the same second (a reconnect wave, the benchmark's ramp) are all pinged
//! within that second of every interval, and an update fanned out then competes with those
//! pings. The shard instead ticks `SLICES` times per interval and queues a `Heartbeat` to
//! one slice of its connections (by id) each time, so the pings are spread evenly over the
//! interval whenever the clients connected. The session checks silence and pings on it.

use std::time::Duration;

use super::{ConnId, Hub, Outgoing, Queued};

/// Slices of an interval: one slice of the connections is pinged per tick.
const SLICES: u64 = 10;

/// The shard's tick for a ping interval.
pub(super) fn tick(ping_interval: Duration) -> Duration {
    ping_interval / SLICES as u32
}

/// Whether connection `id` is in the slice pinged at beat `beat`.
fn in_slice(id: ConnId, beat: u64) -> bool {
    id % SLICES == beat % SLICES
}

impl Hub {
    /// Queues the heartbeat for the next slice of connections. A connection whose queue is
    /// full is not reading: dropped as too slow, like for an event.
    pub(super) fn heartbeat(&mut self) {
        let beat = self.beats;
        self.beats += 1;
        let ids: Vec<ConnId> = self
            .clients
            .keys()
            .copied()
            .filter(|&id| in_slice(id, beat))
            .collect();
        if ids.is_empty() {
            return;
        }
        let heartbeat = Queued::new(Outgoing::Heartbeat);
        for id in ids {
            self.enqueue(id, &heartbeat);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_is_in_exactly_one_slice_per_interval() {
        for id in 0..100u64 {
            let beats = (0..SLICES).filter(|&beat| in_slice(id, beat)).count();
            assert_eq!(beats, 1, "connection {id}");
        }
        assert_eq!(tick(Duration::from_secs(10)), Duration::from_secs(1));
    }
}
