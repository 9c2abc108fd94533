//! Fanning out: one serialised frame per matching connection, queued without waiting.

use std::collections::{HashMap, HashSet};

use bytestring::ByteString;
use tokio::sync::mpsc;

use super::{Client, ConnId, Hub, Kick, Outgoing, Queued};
use crate::pubsub::product_events::ProductChange;
use crate::pubsub::ProductEvent;
use crate::telemetry::throttle::LogThrottle;
use crate::ws::protocol::{ServerMessage, Topic};

/// Slow clients dropped, logged once per 10 s however many (a client decides how fast
/// it reads).
static TOO_SLOW: LogThrottle = LogThrottle::new();

impl Hub {
    /// Queues the event once for every connection with at least one matching topic, and
    /// records its offset; a gap marker becomes `resync` for everyone.
    pub(super) fn fan_out(&mut self, event: &ProductEvent) {
        if let ProductChange::Gap { .. } = event.change {
            self.resync_all();
            return self.continuity.delivered(event.offset);
        }
        self.continuity.delivered(event.offset);
        let frame = match serde_json::to_string(event) {
            Ok(json) => Queued::new(Outgoing::Frame {
                offset: Some(event.offset),
                frame: ByteString::from(json),
            }),
            Err(error) => {
                tracing::error!(%error, offset = event.offset, "product event not serialisable");
                return;
            }
        };
        // A set, so a client whose topics overlap gets the event once.
        let targets: HashSet<ConnId> = Topic::of_event(event)
            .iter()
            .filter_map(|topic| self.topics.get(topic))
            .flatten()
            .copied()
            .collect();
        for id in targets {
            self.enqueue(id, &frame);
        }
    }

    /// Tells every client to refetch; the position no longer matters (nothing before the
    /// next event needs replaying).
    pub(super) fn resync_all(&mut self) {
        self.continuity.forget();
        let Ok(json) = serde_json::to_string(&ServerMessage::Resync) else {
            return;
        };
        let frame = Queued::new(Outgoing::Frame {
            offset: None,
            frame: ByteString::from(json),
        });
        let ids: Vec<ConnId> = self.clients.keys().copied().collect();
        for id in ids {
            self.enqueue(id, &frame);
        }
    }

    /// Queues without waiting; a full queue drops the client (its session closes the
    /// socket with 1013) rather than buffer for it or slow the others.
    pub(super) fn enqueue(&mut self, id: ConnId, frame: &Queued) {
        let Some(client) = self.clients.get(&id) else {
            return;
        };
        match client.queue.try_send(frame.clone()) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                if let Some(suppressed) = TOO_SLOW.admit() {
                    tracing::info!(
                        conn = id,
                        suppressed,
                        "WebSocket client too slow: closing it"
                    );
                }
                self.closed_slow += 1;
                if let Some(client) = self.remove(id) {
                    let _ = client.kick.send(Kick::TooSlow);
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.remove(id);
            }
        }
    }

    pub(super) fn remove(&mut self, id: ConnId) -> Option<Client> {
        let client = self.clients.remove(&id)?;
        for topic in &client.topics {
            unlink(&mut self.topics, topic, id);
        }
        Some(client)
    }
}

/// Drops one connection from a topic, and the topic once nobody holds it.
pub(super) fn unlink(topics: &mut HashMap<Topic, HashSet<ConnId>>, topic: &Topic, id: ConnId) {
    if let Some(ids) = topics.get_mut(topic) {
        ids.remove(&id);
        if ids.is_empty() {
            topics.remove(topic);
        }
    }
}
