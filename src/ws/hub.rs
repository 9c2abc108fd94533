//! The hub: one actor per instance that owns topic → connections and fans product
//! events out. Each connection is a bounded queue; the hub never waits on a client.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix::{Actor, Context, Handler, Message};
use bytestring::ByteString;
use tokio::sync::{mpsc, Notify};

use crate::pubsub::product_events::ProductChange;
use crate::pubsub::ProductEvent;
use crate::ws::protocol::{ServerMessage, Topic};

/// Identifies one connection inside its instance.
pub type ConnId = u64;

/// One frame queued for a connection.
pub struct Outgoing {
    /// The event's offset (`None` for `resync`), so a replay can drop its duplicates.
    pub offset: Option<u64>,
    pub frame: ByteString,
}

/// The hub's handle on one connection.
struct Client {
    queue: mpsc::Sender<Outgoing>,
    /// Told when the queue overflowed: the session closes the socket with 1013.
    overflow: Arc<Notify>,
    topics: HashSet<Topic>,
}

/// Topic → connections, and every connection's queue.
#[derive(Default)]
pub struct Hub {
    clients: HashMap<ConnId, Client>,
    topics: HashMap<Topic, HashSet<ConnId>>,
    /// Clients dropped because their queue was full, since start-up.
    closed_slow: u64,
}

impl Actor for Hub {
    type Context = Context<Self>;
}

/// A new connection and its outgoing queue.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect {
    pub id: ConnId,
    pub queue: mpsc::Sender<Outgoing>,
    pub overflow: Arc<Notify>,
}

/// A connection went away.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    pub id: ConnId,
}

/// Adds topics to a connection.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub id: ConnId,
    pub topics: Vec<Topic>,
}

/// Removes topics from a connection.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub id: ConnId,
    pub topics: Vec<Topic>,
}

/// One product event to fan out.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub ProductEvent);

/// Events were lost on the way here: every client must refetch.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resync;

impl Handler<Connect> for Hub {
    type Result = ();

    /// Registers the connection with no topics.
    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) {
        let client = Client {
            queue: msg.queue,
            overflow: msg.overflow,
            topics: HashSet::new(),
        };
        self.clients.insert(msg.id, client);
    }
}

impl Handler<Disconnect> for Hub {
    type Result = ();

    /// Forgets the connection and its topics.
    fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) {
        self.remove(msg.id);
    }
}

impl Handler<Subscribe> for Hub {
    type Result = ();

    /// Adds each topic to the connection (already held topics are no-ops).
    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) {
        let Some(client) = self.clients.get_mut(&msg.id) else {
            return;
        };
        for topic in msg.topics {
            self.topics.entry(topic.clone()).or_default().insert(msg.id);
            client.topics.insert(topic);
        }
    }
}

impl Handler<Unsubscribe> for Hub {
    type Result = ();

    /// Removes each topic from the connection.
    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        let Some(client) = self.clients.get_mut(&msg.id) else {
            return;
        };
        for topic in msg.topics {
            client.topics.remove(&topic);
            unlink(&mut self.topics, &topic, msg.id);
        }
    }
}

impl Handler<Deliver> for Hub {
    type Result = ();

    /// Queues the event once for every connection with at least one matching topic; a
    /// gap marker becomes `resync` for everyone.
    fn handle(&mut self, msg: Deliver, ctx: &mut Context<Self>) {
        if let ProductChange::Gap { .. } = msg.0.change {
            return self.handle(Resync, ctx);
        }
        let frame = match serde_json::to_string(&msg.0) {
            Ok(json) => ByteString::from(json),
            Err(error) => {
                tracing::error!(%error, offset = msg.0.offset, "product event not serialisable");
                return;
            }
        };
        // A set, so a client whose topics overlap gets the event once.
        let targets: HashSet<ConnId> = Topic::of_event(&msg.0)
            .iter()
            .filter_map(|topic| self.topics.get(topic))
            .flatten()
            .copied()
            .collect();
        for id in targets {
            self.enqueue(id, Some(msg.0.offset), frame.clone());
        }
    }
}

impl Handler<Resync> for Hub {
    type Result = ();

    /// Tells every connection to refetch over HTTP.
    fn handle(&mut self, _: Resync, _: &mut Context<Self>) {
        let Ok(json) = serde_json::to_string(&ServerMessage::Resync) else {
            return;
        };
        let frame = ByteString::from(json);
        let ids: Vec<ConnId> = self.clients.keys().copied().collect();
        for id in ids {
            self.enqueue(id, None, frame.clone());
        }
    }
}

impl Hub {
    /// Queues without waiting; a full queue drops the client (its session closes the
    /// socket with 1013) rather than buffer for it or slow the others.
    fn enqueue(&mut self, id: ConnId, offset: Option<u64>, frame: ByteString) {
        let Some(client) = self.clients.get(&id) else {
            return;
        };
        match client.queue.try_send(Outgoing { offset, frame }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::info!(conn = id, "WebSocket client too slow: closing it");
                client.overflow.notify_one();
                self.closed_slow += 1;
                self.remove(id);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.remove(id),
        }
    }

    fn remove(&mut self, id: ConnId) {
        if let Some(client) = self.clients.remove(&id) {
            for topic in &client.topics {
                unlink(&mut self.topics, topic, id);
            }
        }
    }
}

/// Asks for the hub's figures (for the metrics).
#[derive(Message)]
#[rtype(result = "HubStats")]
pub struct Stats;

/// Connections now, their topic subscriptions now, and slow clients dropped so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    pub connections: u64,
    pub subscriptions: u64,
    pub closed_slow: u64,
}

impl Handler<Stats> for Hub {
    type Result = actix::MessageResult<Stats>;

    /// Counts from the hub's own maps: no extra bookkeeping on the delivery path.
    fn handle(&mut self, _: Stats, _: &mut Context<Self>) -> Self::Result {
        let subscriptions = self.clients.values().map(|c| c.topics.len() as u64).sum();
        actix::MessageResult(HubStats {
            connections: self.clients.len() as u64,
            subscriptions,
            closed_slow: self.closed_slow,
        })
    }
}

/// Drops one connection from a topic, and the topic once nobody holds it.
fn unlink(topics: &mut HashMap<Topic, HashSet<ConnId>>, topic: &Topic, id: ConnId) {
    if let Some(ids) = topics.get_mut(topic) {
        ids.remove(&id);
        if ids.is_empty() {
            topics.remove(topic);
        }
    }
}

/// Starts the instance's hub and the one task that forwards it every product event the
/// subscriber broadcasts. `send` (not `do_send`) so a busy hub slows the forwarder, and
/// the bounded broadcast behind it, rather than growing the hub's mailbox.
pub fn start(events: &tokio::sync::broadcast::Sender<ProductEvent>) -> actix::Addr<Hub> {
    use tokio::sync::broadcast::error::RecvError;

    let hub = Hub::default().start();
    let mut receiver = events.subscribe();
    let addr = hub.clone();
    actix_rt::spawn(async move {
        loop {
            let sent = match receiver.recv().await {
                Ok(event) => addr.send(Deliver(event)).await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "WebSocket hub fell behind: resync every client");
                    addr.send(Resync).await
                }
                Err(RecvError::Closed) => return,
            };
            if sent.is_err() {
                return;
            }
        }
    });
    hub
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deleted(id: i64, offset: u64) -> Deliver {
        Deliver(ProductEvent {
            change: ProductChange::Deleted { id },
            ts: chrono::Utc::now(),
            v: 1,
            offset,
        })
    }

    async fn connect(
        hub: &actix::Addr<Hub>,
        id: ConnId,
        capacity: usize,
        topics: Vec<Topic>,
    ) -> (mpsc::Receiver<Outgoing>, Arc<Notify>) {
        let (queue, rx) = mpsc::channel(capacity);
        let overflow = Arc::new(Notify::new());
        let overflow_seen = overflow.clone();
        hub.send(Connect {
            id,
            queue,
            overflow,
        })
        .await
        .unwrap();
        hub.send(Subscribe { id, topics }).await.unwrap();
        (rx, overflow_seen)
    }

    #[actix_rt::test]
    async fn overlapping_topics_queue_an_event_once_and_other_ids_not_at_all() {
        let hub = Hub::default().start();
        let topics = vec![Topic::Products, Topic::Product(1)];
        let (mut rx, _) = connect(&hub, 1, 8, topics).await;
        let (mut other, _) = connect(&hub, 2, 8, vec![Topic::Product(2)]).await;

        hub.send(deleted(1, 7)).await.unwrap();

        assert_eq!(rx.try_recv().unwrap().offset, Some(7));
        assert!(rx.try_recv().is_err());
        assert!(other.try_recv().is_err());
        let stats = hub.send(Stats).await.unwrap();
        assert_eq!((stats.connections, stats.subscriptions), (2, 3));
    }

    #[actix_rt::test]
    async fn a_full_queue_drops_the_client_and_tells_its_session() {
        let hub = Hub::default().start();
        let (mut rx, overflow) = connect(&hub, 1, 1, vec![Topic::Products]).await;

        hub.send(deleted(1, 1)).await.unwrap();
        hub.send(deleted(1, 2)).await.unwrap();

        tokio::time::timeout(std::time::Duration::from_secs(1), overflow.notified())
            .await
            .expect("the session is told");
        assert_eq!(rx.recv().await.unwrap().offset, Some(1));
        assert!(rx.recv().await.is_none(), "the hub let go of the queue");
        let stats = hub.send(Stats).await.unwrap();
        assert_eq!((stats.connections, stats.closed_slow), (0, 1));
    }
}
