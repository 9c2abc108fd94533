//! Fanning out: one serialised frame per audience (`ws::visibility`), queued for each
//! matching connection without waiting.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use bytestring::ByteString;
use tokio::sync::mpsc;

use super::{Client, ConnId, Hub, Kick, Outgoing, Queued};
use crate::pubsub::product_events::ProductChange;
use crate::pubsub::ProductEvent;
use crate::telemetry::throttle::LogThrottle;
use crate::ws::protocol::{ServerMessage, Topic};
use crate::ws::visibility::{visible_to, Audience};

/// Slow clients dropped, logged once per 10 s however many (a client decides how fast
/// it reads).
static TOO_SLOW: LogThrottle = LogThrottle::new();

impl Hub {
    /// Queues the event once for every connection with at least one matching topic, and
    /// records its offset; a gap marker becomes `resync` for everyone.
    pub(super) fn fan_out(&mut self, event: &ProductEvent) {
        if let ProductChange::Gap { .. } = event.change {
            self.resync_all();
            return self
                .continuity
                .delivered(event.epoch.as_deref(), event.offset);
        }
        self.continuity
            .delivered(event.epoch.as_deref(), event.offset);
        let frames = match Frames::of(event) {
            Ok(frames) => frames,
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
            let audience = self.clients.get(&id).map(|client| client.audience);
            if let Some(frame) = audience.and_then(|audience| frames.for_audience(audience)) {
                self.enqueue(id, &frame);
            }
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

/// One event's frames, serialized once per event rather than per socket: the whole event
/// for admins, and what the public may see of it (the same frame for an active product,
/// none or a `product.deleted` for an inactive one).
struct Frames {
    admin: Queued,
    public: Option<Queued>,
}

impl Frames {
    fn of(event: &ProductEvent) -> Result<Frames, serde_json::Error> {
        let admin = frame(event)?;
        let public = match visible_to(event, Audience::Public) {
            None => None,
            Some(Cow::Borrowed(_)) => Some(admin.clone()),
            Some(Cow::Owned(hidden)) => Some(frame(&hidden)?),
        };
        Ok(Frames { admin, public })
    }

    fn for_audience(&self, audience: Audience) -> Option<Queued> {
        match audience {
            Audience::Admin => Some(self.admin.clone()),
            Audience::Public => self.public.clone(),
        }
    }
}

fn frame(event: &ProductEvent) -> Result<Queued, serde_json::Error> {
    Ok(Queued::new(Outgoing::Frame {
        offset: Some(event.offset),
        frame: ByteString::from(serde_json::to_string(event)?),
    }))
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
