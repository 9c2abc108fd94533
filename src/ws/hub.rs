//! The hub: one actor per actix-web worker thread (a shard, see `ws::shards`) that owns
//! topic → connections of the sockets that worker serves and fans product events out to
//! them. Each connection is a bounded queue; the hub never waits on a client.
//!
//! It also keeps its clients whole across a lost subscription: it notes the offset of
//! every event it delivers (`continuity`), and when the subscriber reconnects, or an
//! event arrives after a jump in offsets, it reads the missed events from the Redis
//! history and delivers them first, in order (live events wait meanwhile, and those the
//! replay already delivered are dropped). When the history cannot mend the gap, every
//! client gets `resync`. On shutdown it tells every session to close with 1001.

use std::collections::{HashMap, HashSet};

use actix::{Actor, AsyncContext, Context, Handler, Message};
use bytestring::ByteString;
use tokio::sync::{mpsc, oneshot};

use crate::pubsub::product_events::BROADCAST_CAPACITY;
use crate::pubsub::ProductEvent;
use crate::redis_client::RedisClient;
use crate::ws::continuity::Continuity;
use crate::ws::protocol::Topic;
use crate::ws::visibility::Audience;

mod fan_out;
mod heartbeat;
mod mend;
#[cfg(test)]
pub(crate) mod tests;

/// Identifies one connection inside its instance.
pub type ConnId = u64;

/// What the hub sends a connection; queued as a `Queued`.
pub enum Outgoing {
    /// One text frame for the connections it goes to.
    Frame {
        /// The event's offset (`None` for `resync`), so a replay can drop its duplicates.
        offset: Option<u64>,
        frame: ByteString,
    },
    /// The shard's heartbeat for this connection: its session checks that the client
    /// still answers and pings it (see `heartbeat`).
    Heartbeat,
}

impl Outgoing {
    /// The product event's offset, if the frame is one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Outgoing::Frame { offset, .. } => *offset,
            Outgoing::Heartbeat => None,
        }
    }

    /// The text frame (empty for the heartbeat).
    pub fn text(&self) -> &str {
        match self {
            Outgoing::Frame { frame, .. } => frame,
            Outgoing::Heartbeat => "",
        }
    }
}

/// What a connection's queue holds: one pointer to a frame every matching connection
/// shares. tokio's bounded queue allocates its slots 32 at a time when it is created, so
/// a slot's size is paid by every idle connection: 8 bytes here rather than the frame's 48.
pub type Queued = std::sync::Arc<Outgoing>;

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
    queue: mpsc::Sender<Queued>,
    kick: oneshot::Sender<Kick>,
    topics: HashSet<Topic>,
    /// Which copy of each product event it gets (`ws::visibility`).
    audience: Audience,
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
    /// Clients dropped because their queue was full, since start-up.
    closed_slow: u64,
    /// Every connection is pinged once per interval, a slice of them at a time.
    ping_interval: std::time::Duration,
    /// Heartbeat slices sent so far (which slice is next).
    beats: u64,
}

impl Actor for Hub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(heartbeat::tick(self.ping_interval), |hub, _| {
            hub.heartbeat();
        });
    }
}

/// A new connection and its outgoing queue; `false` when the server is stopping.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Connect {
    pub id: ConnId,
    pub queue: mpsc::Sender<Queued>,
    pub kick: oneshot::Sender<Kick>,
    pub audience: Audience,
}

/// A connection's session lost the admin role: it gets the public events from now on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Demote {
    pub id: ConnId,
}

/// A connection went away.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    pub id: ConnId,
}

/// Adds topics to a connection, all or none: `false` (and nothing added) when the
/// connection would then hold more than `limit` topics.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Subscribe {
    pub id: ConnId,
    pub topics: Vec<Topic>,
    /// `realtime.max_topics_per_connection`.
    pub limit: usize,
}

/// Removes topics from a connection.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub id: ConnId,
    pub topics: Vec<Topic>,
}

/// One product event to fan out.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Deliver(pub ProductEvent);

/// Events were lost on the way here: every client must refetch.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Resync;

/// The subscriber (re)connected: events published meanwhile may be missing.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Recover;

/// The server is stopping: close every socket with 1001 and accept no more. Answers how
/// many sessions were told.
#[derive(Message, Clone)]
#[rtype(result = "usize")]
pub struct Shutdown;

/// This instance's metrics snapshot, for the `admin:metrics` subscribers.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct AdminMetrics {
    frame: ByteString,
}

/// How every `admin:metrics` frame starts (a session tells its snapshots by it).
pub const SNAPSHOT_FRAME_START: &str = r#"{"type":"admin.metrics","snapshot":"#;

impl AdminMetrics {
    /// Wraps the snapshot's JSON as `{"type":"admin.metrics","snapshot":{...}}`.
    pub fn new(snapshot_json: &str) -> AdminMetrics {
        AdminMetrics {
            frame: ByteString::from(format!("{SNAPSHOT_FRAME_START}{snapshot_json}}}")),
        }
    }
}

/// Asks for the hub's figures (for the metrics).
#[derive(Message, Clone)]
#[rtype(result = "HubStats")]
pub struct Stats;

/// Connections now, their topic subscriptions now, and slow clients dropped so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    pub connections: u64,
    pub subscriptions: u64,
    pub closed_slow: u64,
}

impl HubStats {
    /// The figures of several shards as one hub's.
    pub fn sum(shards: &[HubStats]) -> HubStats {
        shards
            .iter()
            .fold(HubStats::default(), |sum, shard| HubStats {
                connections: sum.connections + shard.connections,
                subscriptions: sum.subscriptions + shard.subscriptions,
                closed_slow: sum.closed_slow + shard.closed_slow,
            })
    }
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
            audience: msg.audience,
        };
        self.clients.insert(msg.id, client);
        true
    }
}

impl Handler<Demote> for Hub {
    type Result = ();

    /// The connection's events are filtered as any anonymous socket's.
    fn handle(&mut self, msg: Demote, _: &mut Context<Self>) {
        if let Some(client) = self.clients.get_mut(&msg.id) {
            client.audience = Audience::Public;
        }
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
    type Result = bool;

    /// Adds each topic to the connection (already held topics are no-ops), unless that
    /// would take it past its limit.
    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) -> bool {
        let Some(client) = self.clients.get_mut(&msg.id) else {
            // Gone (kicked): its session is closing anyway.
            return true;
        };
        let new: HashSet<&Topic> = msg
            .topics
            .iter()
            .filter(|t| !client.topics.contains(*t))
            .collect();
        if client.topics.len() + new.len() > msg.limit {
            return false;
        }
        for topic in msg.topics {
            self.topics.entry(topic.clone()).or_default().insert(msg.id);
            client.topics.insert(topic);
        }
        true
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
            fan_out::unlink(&mut self.topics, &topic, msg.id);
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

impl Handler<AdminMetrics> for Hub {
    type Result = ();

    /// Queues the snapshot for every `admin:metrics` subscriber (no offset: it is not a
    /// product event, and a replay never covers it).
    fn handle(&mut self, msg: AdminMetrics, _: &mut Context<Self>) {
        let Some(ids) = self.topics.get(&Topic::AdminMetrics) else {
            return;
        };
        let ids: Vec<ConnId> = ids.iter().copied().collect();
        let frame = Queued::new(Outgoing::Frame {
            offset: None,
            frame: msg.frame,
        });
        for id in ids {
            self.enqueue(id, &frame);
        }
    }
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

impl Hub {
    /// A shard whose connections are pinged every `ping_interval` (`realtime.*`).
    pub fn new(redis: RedisClient, ping_interval: std::time::Duration) -> Hub {
        Hub {
            clients: HashMap::new(),
            topics: HashMap::new(),
            redis,
            continuity: Continuity::default(),
            held: None,
            generation: 0,
            closing: false,
            closed_slow: 0,
            ping_interval,
            beats: 0,
        }
    }
}
