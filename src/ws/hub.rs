//! The hub: one actor per instance that owns topic → connections and fans product
//! events out. Each connection is a bounded queue; the hub never waits on a client.
//!
//! It also keeps its clients whole across a lost subscription: it notes the offset of
//! every event it delivers (`continuity`), and when the subscriber reconnects, or an
//! event arrives after a jump in offsets, it reads the missed events from the Redis
//! history and delivers them first, in order (live events wait meanwhile, and those the
//! replay already delivered are dropped). When the history cannot mend the gap, every
//! client gets `resync`. On shutdown it tells every session to close with 1001.

use std::collections::{HashMap, HashSet};

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, WrapFuture};
use bytestring::ByteString;
use tokio::sync::{mpsc, oneshot};

use crate::pubsub::product_events::{ProductChange, BROADCAST_CAPACITY};
use crate::pubsub::{history_after, EventError, History, ProductEvent};
use crate::redis_client::RedisClient;
use crate::ws::continuity::{Continuity, Step};
use crate::ws::protocol::{ServerMessage, Topic};

/// Identifies one connection inside its instance.
pub type ConnId = u64;

/// One frame queued for a connection.
pub struct Outgoing {
    /// The event's offset (`None` for `resync`), so a replay can drop its duplicates.
    pub offset: Option<u64>,
    pub frame: ByteString,
}

/// Why the hub lets go of a connection; its session closes the socket accordingly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    /// Its queue overflowed: 1013 (try again later).
    TooSlow,
    /// The server is stopping: 1001 (going away).
    Shutdown,
}

/// The hub's handle on one connection.
struct Client {
    queue: mpsc::Sender<Outgoing>,
    kick: oneshot::Sender<Kick>,
    topics: HashSet<Topic>,
}

/// Topic → connections, every connection's queue, and the delivered position.
pub struct Hub {
    clients: HashMap<ConnId, Client>,
    topics: HashMap<Topic, HashSet<ConnId>>,
    redis: RedisClient,
    continuity: Continuity,
    /// Live events held while a history read mends a gap; `None` when none is running.
    held: Option<Vec<ProductEvent>>,
    /// Bumped when a running history read is abandoned, so its late answer is ignored.
    generation: u64,
    /// Set by `Shutdown`: new connections are refused.
    closing: bool,
    closed_slow: u64,
}

impl Actor for Hub {
    type Context = Context<Self>;
}

/// A new connection and its outgoing queue; `false` when the server is stopping.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Connect {
    pub id: ConnId,
    pub queue: mpsc::Sender<Outgoing>,
    pub kick: oneshot::Sender<Kick>,
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

/// The subscriber (re)connected: events published meanwhile may be missing.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Recover;

/// The server is stopping: close every socket with 1001 and accept no more. Answers how
/// many sessions were told.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Shutdown;

/// The hub's counters, for logs and metrics.
#[derive(Message)]
#[rtype(result = "HubStats")]
pub struct Stats;

/// What `Stats` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubStats {
    pub connections: usize,
    /// Topic subscriptions summed over connections.
    pub subscriptions: usize,
    /// Connections closed with 1013 since start-up.
    pub closed_slow: u64,
}

impl Handler<Connect> for Hub {
    type Result = bool;

    /// Registers the connection with no topics, unless the server is stopping.
    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) -> bool {
        if self.closing {
            return false;
        }
        let client = Client {
            queue: msg.queue,
            kick: msg.kick,
            topics: HashSet::new(),
        };
        self.clients.insert(msg.id, client);
        true
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

    /// Fans the event out, unless a history read is mending a gap (then it waits its
    /// turn) or the event shows a gap itself (then the read starts).
    fn handle(&mut self, msg: Deliver, ctx: &mut Context<Self>) {
        match &mut self.held {
            Some(held) if held.len() >= BROADCAST_CAPACITY => {
                tracing::warn!("too many events held while mending a gap: resync instead");
                self.generation += 1;
                self.held = None;
                self.resync_all();
                self.live(msg.0, ctx);
            }
            Some(held) => held.push(msg.0),
            None => self.live(msg.0, ctx),
        }
    }
}

impl Handler<Resync> for Hub {
    type Result = ();

    /// Tells every connection to refetch over HTTP.
    fn handle(&mut self, _: Resync, _: &mut Context<Self>) {
        self.resync_all();
    }
}

impl Handler<Recover> for Hub {
    type Result = ();

    /// Reads what was published after the last delivered event, if anyone could have
    /// missed it.
    fn handle(&mut self, _: Recover, ctx: &mut Context<Self>) {
        if self.held.is_some() {
            return;
        }
        if self.clients.is_empty() {
            self.continuity.forget();
            return;
        }
        match self.continuity.last() {
            Some(after) => self.mend(after, Vec::new(), ctx),
            // Nothing delivered yet, so no position to replay from.
            None => self.resync_all(),
        }
    }
}

impl Handler<Shutdown> for Hub {
    type Result = usize;

    /// Kicks every connection with `Kick::Shutdown` and refuses new ones.
    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> usize {
        self.closing = true;
        self.topics.clear();
        let told = self.clients.len();
        for (_, client) in self.clients.drain() {
            let _ = client.kick.send(Kick::Shutdown);
        }
        told
    }
}

impl Handler<Stats> for Hub {
    type Result = actix::MessageResult<Stats>;

    fn handle(&mut self, _: Stats, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(HubStats {
            connections: self.clients.len(),
            subscriptions: self.clients.values().map(|c| c.topics.len()).sum(),
            closed_slow: self.closed_slow,
        })
    }
}

impl Hub {
    pub fn new(redis: RedisClient) -> Hub {
        Hub {
            clients: HashMap::new(),
            topics: HashMap::new(),
            redis,
            continuity: Continuity::default(),
            held: None,
            generation: 0,
            closing: false,
            closed_slow: 0,
        }
    }

    /// One live event, in order: delivered, or held behind a history read it started.
    fn live(&mut self, event: ProductEvent, ctx: &mut Context<Self>) {
        match self.continuity.step(event.offset) {
            Step::Next => self.fan_out(&event),
            Step::Gap { after } if !self.clients.is_empty() => {
                tracing::warn!(
                    after,
                    offset = event.offset,
                    "product events missed: replaying"
                );
                self.mend(after, vec![event], ctx);
            }
            Step::Gap { .. } => self.fan_out(&event),
            Step::Reset => {
                tracing::warn!(offset = event.offset, "product offsets restarted: resync");
                self.resync_all();
                self.fan_out(&event);
            }
        }
    }

    /// Reads the history after `after`, holding live events (starting with `held`) until
    /// it answers.
    fn mend(&mut self, after: u64, held: Vec<ProductEvent>, ctx: &mut Context<Self>) {
        self.held = Some(held);
        let generation = self.generation;
        let redis = self.redis.clone();
        let read = async move { history_after(&redis, after).await }
            .into_actor(self)
            .map(move |history, hub, ctx| {
                if hub.generation == generation {
                    hub.mended(after, history, ctx);
                }
            });
        ctx.spawn(read);
    }

    /// Delivers the missed events (or `resync` when they are gone), then the held ones
    /// the replay did not already deliver.
    fn mended(
        &mut self,
        after: u64,
        history: Result<History, EventError>,
        ctx: &mut Context<Self>,
    ) {
        // The replay delivers (after, replayed]; a held event in that range is a copy.
        let mut replayed = after;
        match history {
            Ok(History::Events(events)) => {
                for event in &events {
                    self.fan_out(event);
                    replayed = replayed.max(event.offset);
                }
            }
            Ok(History::TooOld) => self.resync_all(),
            Err(error) => {
                tracing::warn!(%error, "product history unreadable: resync");
                self.resync_all();
            }
        }
        for event in self.held.take().unwrap_or_default() {
            if let Some(waiting) = self.held.as_mut() {
                // Another gap started a read: the remaining events wait for it too.
                waiting.push(event);
            } else if !(after < event.offset && event.offset <= replayed) {
                self.live(event, ctx);
            }
        }
    }

    /// Queues the event once for every connection with at least one matching topic, and
    /// records its offset; a gap marker becomes `resync` for everyone.
    fn fan_out(&mut self, event: &ProductEvent) {
        if let ProductChange::Gap { .. } = event.change {
            self.resync_all();
            return self.continuity.delivered(event.offset);
        }
        self.continuity.delivered(event.offset);
        let frame = match serde_json::to_string(event) {
            Ok(json) => ByteString::from(json),
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
            self.enqueue(id, Some(event.offset), frame.clone());
        }
    }

    /// Tells every client to refetch; the position no longer matters (nothing before the
    /// next event needs replaying).
    fn resync_all(&mut self) {
        self.continuity.forget();
        let Ok(json) = serde_json::to_string(&ServerMessage::Resync) else {
            return;
        };
        let frame = ByteString::from(json);
        let ids: Vec<ConnId> = self.clients.keys().copied().collect();
        for id in ids {
            self.enqueue(id, None, frame.clone());
        }
    }

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

    fn remove(&mut self, id: ConnId) -> Option<Client> {
        let client = self.clients.remove(&id)?;
        for topic in &client.topics {
            unlink(&mut self.topics, topic, id);
        }
        Some(client)
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
/// subscriber broadcasts, and each (re)connection of the subscriber. `send` (not
/// `do_send`) so a busy hub slows the forwarder, and the bounded broadcast behind it,
/// rather than growing the hub's mailbox.
pub fn start(
    events: &tokio::sync::broadcast::Sender<ProductEvent>,
    reconnected: std::sync::Arc<tokio::sync::Notify>,
    redis: RedisClient,
) -> actix::Addr<Hub> {
    use tokio::sync::broadcast::error::RecvError;

    let hub = Hub::new(redis).start();
    let mut receiver = events.subscribe();
    let addr = hub.clone();
    actix_rt::spawn(async move {
        loop {
            let sent = tokio::select! {
                event = receiver.recv() => match event {
                    Ok(event) => addr.send(Deliver(event)).await,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "WebSocket hub fell behind: resync every client");
                        addr.send(Resync).await
                    }
                    Err(RecvError::Closed) => return,
                },
                () = reconnected.notified() => addr.send(Recover).await,
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
    use crate::configuration::RedisSettings;

    /// A client for a port nothing listens on: these tests never reach Redis.
    async fn no_redis() -> RedisClient {
        let settings = RedisSettings {
            url: "redis://127.0.0.1:1".to_string().into(),
            prefix: "hub-test:".into(),
            timeout_ms: 100,
            breaker_failure_threshold: 5,
            breaker_cooldown_ms: 1000,
            pubsub_ping_interval_ms: 1000,
            pubsub_ping_timeout_ms: 500,
        };
        RedisClient::connect(&settings).await.unwrap()
    }

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
    ) -> (mpsc::Receiver<Outgoing>, oneshot::Receiver<Kick>) {
        let (queue, rx) = mpsc::channel(capacity);
        let (kick, kicked) = oneshot::channel();
        assert!(hub.send(Connect { id, queue, kick }).await.unwrap());
        hub.send(Subscribe { id, topics }).await.unwrap();
        (rx, kicked)
    }

    #[actix_rt::test]
    async fn overlapping_topics_queue_an_event_once_and_other_ids_not_at_all() {
        let hub = Hub::new(no_redis().await).start();
        let topics = vec![Topic::Products, Topic::Product(1)];
        let (mut rx, _) = connect(&hub, 1, 8, topics).await;
        let (mut other, _) = connect(&hub, 2, 8, vec![Topic::Product(2)]).await;

        hub.send(deleted(1, 7)).await.unwrap();

        assert_eq!(rx.try_recv().unwrap().offset, Some(7));
        assert!(rx.try_recv().is_err());
        assert!(other.try_recv().is_err());
    }

    #[actix_rt::test]
    async fn a_full_queue_drops_the_client_and_tells_its_session() {
        let hub = Hub::new(no_redis().await).start();
        let (mut rx, kicked) = connect(&hub, 1, 1, vec![Topic::Products]).await;

        hub.send(deleted(1, 1)).await.unwrap();
        hub.send(deleted(1, 2)).await.unwrap();

        assert_eq!(kicked.await.unwrap(), Kick::TooSlow);
        assert_eq!(rx.recv().await.unwrap().offset, Some(1));
        assert!(rx.recv().await.is_none(), "the hub let go of the queue");
        assert_eq!(hub.send(Stats).await.unwrap().closed_slow, 1);
    }

    #[actix_rt::test]
    async fn shutdown_kicks_everyone_and_refuses_new_connections() {
        let hub = Hub::new(no_redis().await).start();
        let (_rx, kicked) = connect(&hub, 1, 4, vec![Topic::Products]).await;

        assert_eq!(hub.send(Shutdown).await.unwrap(), 1);

        assert_eq!(kicked.await.unwrap(), Kick::Shutdown);
        let (queue, _rx) = mpsc::channel(1);
        let (kick, _kicked) = oneshot::channel();
        assert!(!hub.send(Connect { id: 2, queue, kick }).await.unwrap());
        assert_eq!(hub.send(Stats).await.unwrap().connections, 0);
    }

    #[actix_rt::test]
    async fn offsets_going_back_mean_a_reset_redis_and_resync_before_the_event() {
        let hub = Hub::new(no_redis().await).start();
        let (mut rx, _) = connect(&hub, 1, 8, vec![Topic::Products]).await;

        hub.send(deleted(1, 5)).await.unwrap();
        hub.send(deleted(1, 1)).await.unwrap();

        assert_eq!(rx.recv().await.unwrap().offset, Some(5));
        let resync = rx.recv().await.unwrap();
        assert_eq!(
            (resync.offset, &*resync.frame),
            (None, r#"{"type":"resync"}"#)
        );
        assert_eq!(rx.recv().await.unwrap().offset, Some(1));
    }
}
