//! `since`: the events after an offset, from the Redis history, filtered by topic.

use std::collections::HashSet;

use bytestring::ByteString;

use crate::pubsub::{history_after, History};
use crate::redis_client::RedisClient;
use crate::ws::protocol::Topic;
use crate::ws::visibility::{visible_to, Audience};

/// What a `since` subscription gets before the live events.
pub enum Replay {
    /// The matching events after `since`, in order, as `(offset, frame)`.
    Events(Vec<(u64, ByteString)>),
    /// The history no longer reaches back that far, or cannot be read: refetch.
    Resync,
}

/// Reads the history after `since` and keeps the events that match `topics`, as
/// `audience` may see them.
pub async fn read(redis: &RedisClient, topics: &[Topic], since: u64, audience: Audience) -> Replay {
    let events = match history_after(redis, since).await {
        Ok(History::Events(events)) => events,
        Ok(History::TooOld) => return Replay::Resync,
        Err(error) => {
            tracing::warn!(%error, since, "product history unreadable: resync");
            return Replay::Resync;
        }
    };
    let mut frames = Vec::new();
    for event in events {
        // A gap inside the history means events were lost: only a refetch is whole.
        if Topic::of_event(&event).is_empty() {
            return Replay::Resync;
        }
        if !Topic::of_event(&event).iter().any(|t| topics.contains(t)) {
            continue;
        }
        let Some(event) = visible_to(&event, audience) else {
            continue;
        };
        match serde_json::to_string(event.as_ref()) {
            Ok(json) => frames.push((event.offset, ByteString::from(json))),
            Err(_) => return Replay::Resync,
        }
    }
    Replay::Events(frames)
}

/// The seam between a replay and the live events queued meanwhile: the offsets just
/// replayed, dropped once when they arrive live. Live events come in offset order, so
/// the set is emptied at the first live event past all of them.
#[derive(Default)]
pub struct Seam {
    replayed: HashSet<u64>,
}

impl Seam {
    /// Notes an event the replay sent.
    pub fn replayed(&mut self, offset: u64) {
        self.replayed.insert(offset);
    }

    /// Whether a live event should still be sent.
    pub fn admit(&mut self, offset: u64) -> bool {
        if self.replayed.remove(&offset) {
            return false;
        }
        if self.replayed.iter().all(|&replayed| replayed < offset) {
            self.replayed.clear();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seam_drops_each_replayed_offset_once_and_keeps_the_rest() {
        let mut seam = Seam::default();
        for offset in [3, 5] {
            seam.replayed(offset);
        }
        assert!(seam.admit(2), "an earlier event of another topic");
        assert!(!seam.admit(3));
        assert!(seam.admit(4), "not replayed (another topic)");
        assert!(!seam.admit(5));
        assert!(seam.admit(6));
        assert!(
            seam.admit(5),
            "the seam is over: nothing is dropped any more"
        );
    }
}
