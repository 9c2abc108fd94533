//! One task per WebSocket connection: answers the client's frames itself and writes
//! what the hub queues for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::Addr;
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, ProtocolError, Session};
use bytestring::ByteString;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::auth::held_session::HeldSession;
use crate::configuration::RealtimeSettings;
use crate::pubsub::epoch;
use crate::redis_client::RedisClient;
use crate::telemetry::throttle::LogThrottle;
use crate::ws::admission::Admitted;
use crate::ws::hub::{self, ConnId, Hub, Kick, Outgoing, Queued};
use crate::ws::protocol::{check_epoch, parse_topics, ClientMessage, ServerMessage, Topic};
use crate::ws::replay;
use crate::ws::visibility::Audience;

mod admin_watch;

/// The history's position could not be read for a `since` (answered `resync`): logged
/// once per 10 s however many clients ask.
static POSITION_UNREADABLE: LogThrottle = LogThrottle::new();

/// Intervals without a frame from the client before it counts as gone.
const SILENT_INTERVALS: u32 = 3;

/// How long the close frame may wait on the client while the server stops (within the
/// 1 s a stop may take past `server.drain_ms`).
const SHUTDOWN_CLOSE: Duration = Duration::from_millis(100);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What one connection may cost, from `realtime.*`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub ping_interval: Duration,
    /// Frames queued for the client before it counts as too slow (1013).
    pub queue_size: usize,
    /// The largest frame the client may send (1009 beyond).
    pub max_frame_bytes: usize,
    /// Refused frames before the client is closed with 1008: one mistake is answered, a
    /// stream of them is not a client worth serving.
    pub max_bad_frames: u32,
    /// Topics the connection may hold at once (`too_many_topics` beyond).
    pub max_topics: usize,
    /// `since` replays the connection may start in any minute (`replay_limited` beyond).
    pub replays_per_minute: u32,
}

impl Limits {
    pub fn from_settings(settings: &RealtimeSettings) -> Limits {
        Limits {
            ping_interval: settings.ping_interval(),
            queue_size: settings.client_queue_size,
            max_frame_bytes: settings.max_frame_bytes,
            max_bad_frames: settings.max_bad_frames,
            max_topics: settings.max_topics_per_connection,
            replays_per_minute: settings.replays_per_minute,
        }
    }
}

/// Whether the connection may subscribe to `admin:metrics`, decided at the handshake from
/// its session or bearer token like any `/admin` request. A session is asked again while
/// the feed flows (`admin_watch`): lost, the feed ends; a promotion applies when the
/// client reconnects.
pub enum AdminAccess {
    /// The admin token: nothing to lose while the socket lives.
    Token,
    /// An admin session.
    Session(HeldSession),
    /// Signed out: `unauthorized`.
    Unauthorized,
    /// Signed in, not an admin: `forbidden`.
    Forbidden,
}

impl AdminAccess {
    /// Only an admin's socket gets inactive products' events (`ws::visibility`).
    pub fn audience(&self) -> Audience {
        match self {
            AdminAccess::Token | AdminAccess::Session(_) => Audience::Admin,
            AdminAccess::Unauthorized | AdminAccess::Forbidden => Audience::Public,
        }
    }
}

/// Why the loop ended, and so how to close.
enum End {
    ClientClosed,
    Kicked(Kick),
    BadFrames,
    TooLarge,
    Silent,
    Gone,
}

/// What handling a frame or writing one gives: go on, or end the connection this way.
type Flow = Result<(), End>;

/// One connection's state, owned by its task.
struct Conn {
    id: ConnId,
    hub: Addr<Hub>,
    /// The replay Redis client (its own breaker, see `ws::replay`).
    redis: RedisClient,
    session: Session,
    /// The hub's word that the connection must end (too slow, or the server stopping).
    kicked: oneshot::Receiver<Kick>,
    limits: Limits,
    /// When the client last sent a frame: three silent ping intervals end it.
    heard: Instant,
    /// What a `since` replay already sent, so the live copies are dropped.
    seam: replay::Seam,
    /// The `since` replays it may still start.
    replays: replay::Budget,
    /// Frames refused so far (see `Limits::max_bad_frames`).
    bad_frames: u32,
    admin: AdminAccess,
    /// Rechecks a session-held `admin:metrics` feed.
    watch: admin_watch::Watch,
}

/// Serves one connection until either side closes it. `admitted` holds the connection's
/// place under the caps; it is dropped with this task however the connection ends.
pub async fn run(
    hub: Addr<Hub>,
    redis: RedisClient,
    limits: Limits,
    admin: AdminAccess,
    admitted: Admitted,
    session: Session,
    stream: MessageStream,
) {
    let _admitted = admitted;
    let id: ConnId = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let (queue, mut outgoing) = mpsc::channel(limits.queue_size);
    let (kick, kicked) = oneshot::channel();
    let audience = admin.audience();
    let connect = hub::Connect {
        id,
        queue,
        kick,
        audience,
    };
    let mut conn = Conn {
        id,
        hub,
        redis,
        session,
        kicked,
        limits,
        heard: Instant::now(),
        seam: replay::Seam::default(),
        replays: replay::Budget::new(limits.replays_per_minute),
        bad_frames: 0,
        admin,
        watch: admin_watch::Watch::default(),
    };
    let end = match conn.hub.send(connect).await {
        Ok(true) => conn.serve(stream, &mut outgoing).await,
        // The server is stopping (or the hub is gone with it).
        Ok(false) | Err(_) => End::Kicked(Kick::Shutdown),
    };
    conn.hub.do_send(hub::Disconnect { id });
    let end_was_shutdown = matches!(end, End::Kicked(Kick::Shutdown));
    let reason = match end {
        End::ClientClosed => Some(CloseCode::Normal.into()),
        End::Kicked(Kick::TooSlow) => Some(CloseReason {
            code: CloseCode::Again,
            description: Some("too slow: reconnect and resync".into()),
        }),
        End::Kicked(Kick::Shutdown) => Some(CloseReason {
            code: CloseCode::Away,
            description: Some("server shutting down: reconnect".into()),
        }),
        End::BadFrames => Some(CloseReason {
            code: CloseCode::Policy,
            description: Some("too many invalid frames".into()),
        }),
        End::TooLarge => Some(CloseReason {
            code: CloseCode::Size,
            description: Some(format!(
                "frames are limited to {} bytes",
                limits.max_frame_bytes
            )),
        }),
        End::Silent => Some(CloseReason {
            code: CloseCode::Normal,
            description: Some("no frame for three ping intervals".into()),
        }),
        End::Gone => return,
    };
    // The close frame queues behind what the client has not read yet. It gets as long to
    // take it as a silent client gets to answer pings; then the socket is simply dropped
    // (the task and its few queued frames are all it holds meanwhile). Not while the
    // server stops: a client that does not read would hold the stop that long.
    let close_timeout = match end_was_shutdown {
        true => SHUTDOWN_CLOSE,
        false => limits.ping_interval * SILENT_INTERVALS,
    };
    let _ = tokio::time::timeout(close_timeout, conn.session.close(reason)).await;
}

impl Conn {
    /// The connection's loop: the hub's frames, pings, and the client's frames.
    async fn serve(&mut self, stream: MessageStream, outgoing: &mut mpsc::Receiver<Queued>) -> End {
        let mut stream = stream.max_frame_size(self.limits.max_frame_bytes);
        let connected = Instant::now();
        loop {
            // Biased: a kick closes the client before anything else it would be sent.
            let flow = tokio::select! {
                biased;
                // The hub gone without a word: the system is stopping.
                kick = &mut self.kicked => Err(End::Kicked(kick.unwrap_or(Kick::Shutdown))),
                () = self.watch.tick() => self.recheck_admin().await,
                frame = outgoing.recv() => match frame {
                    // The shard's heartbeat (one timer per shard, not one per connection).
                    Some(frame) if matches!(*frame, Outgoing::Heartbeat) => {
                        self.heartbeat(connected).await
                    }
                    Some(frame) => self.forward(frame).await,
                    None => Err(End::Kicked(Kick::Shutdown)),
                },
                message = stream.next() => match message {
                    Some(Ok(Message::Close(_))) | None => Err(End::ClientClosed),
                    Some(Ok(message)) => {
                        self.heard = Instant::now();
                        // Boxed: a subscribe may replay from Redis, and that future is
                        // large. Inline, every connection's task would be that large for
                        // its whole life (the task is sized for its largest await);
                        // boxed, it is allocated for the moment a client frame is handled.
                        Box::pin(self.on_message(message)).await
                    }
                    // The frame is still in the buffer: nothing after it can be read.
                    Some(Err(ProtocolError::Overflow)) => Err(End::TooLarge),
                    Some(Err(error)) => {
                        tracing::debug!(conn = self.id, %error, "WebSocket protocol error");
                        self.reply_error("bad_frame", &error.to_string()).await
                    }
                },
            };
            if let Err(end) = flow {
                return end;
            }
            if self.bad_frames >= self.limits.max_bad_frames {
                return End::BadFrames;
            }
        }
    }

    /// Ends a client silent for three intervals, else pings it (the first ping one
    /// interval after the handshake, not at once).
    async fn heartbeat(&mut self, connected: Instant) -> Flow {
        if self.heard.elapsed() > self.limits.ping_interval * SILENT_INTERVALS {
            return Err(End::Silent);
        }
        if connected.elapsed() < self.limits.ping_interval {
            return Ok(());
        }
        let deadline = self.deadline();
        let session = &mut self.session;
        race(&mut self.kicked, deadline, session.ping(b"")).await
    }

    /// When a client that sends nothing counts as gone.
    fn deadline(&self) -> Instant {
        self.heard + self.limits.ping_interval * SILENT_INTERVALS
    }

    /// Writes one text frame, raced against the kick and the silence deadline: a client
    /// that does not read blocks the write, and must not pin the task (nor a graceful
    /// stop) for longer than that (the unsent frame is dropped with the write).
    async fn write(&mut self, text: ByteString) -> Flow {
        let deadline = self.deadline();
        let session = &mut self.session;
        race(&mut self.kicked, deadline, session.text(text)).await
    }

    /// Writes one queued frame unless a replay already sent it.
    async fn forward(&mut self, out: Queued) -> Flow {
        let Outgoing::Frame { offset, frame } = &*out else {
            return Ok(());
        };
        if self.watch.drops(frame) {
            return Ok(());
        }
        if let Some(offset) = *offset {
            if !self.seam.admit(offset) {
                return Ok(());
            }
        }
        self.write(frame.clone()).await
    }

    /// Handles one client frame.
    async fn on_message(&mut self, message: Message) -> Flow {
        match message {
            Message::Text(text) => self.on_text(&text).await,
            Message::Ping(bytes) => {
                let deadline = self.deadline();
                let session = &mut self.session;
                race(&mut self.kicked, deadline, session.pong(&bytes)).await
            }
            Message::Binary(_) => self.reply_error("bad_frame", "Send JSON text frames").await,
            _ => Ok(()),
        }
    }

    async fn on_text(&mut self, text: &str) -> Flow {
        let message = match serde_json::from_str::<ClientMessage>(text) {
            Ok(message) => message,
            Err(error) => return self.reply_error("bad_message", &error.to_string()).await,
        };
        if let ClientMessage::Subscribe { since, epoch, .. } = &message {
            if let Err(problem) = check_epoch(epoch.as_deref(), *since) {
                return self.reply_error("bad_message", &problem).await;
            }
        }
        match message {
            ClientMessage::Ping => self.reply(&ServerMessage::Pong).await,
            ClientMessage::Subscribe {
                topics,
                since,
                epoch,
            } => match parse_topics(&topics) {
                Err(refused) => self.reply_error(refused.code(), refused.message()).await,
                Ok(topics) if topics.contains(&Topic::AdminMetrics) => {
                    match self.admin {
                        AdminAccess::Token | AdminAccess::Session(_) => {
                            self.subscribe_admin(topics, since, epoch).await
                        }
                        // Not a malformed frame: answered, not counted against the client.
                        AdminAccess::Unauthorized => {
                            self.reply(&ServerMessage::Error {
                                code: "unauthorized",
                                message: "admin:metrics needs an admin session or the admin token",
                            })
                            .await
                        }
                        AdminAccess::Forbidden => {
                            self.reply(&ServerMessage::Error {
                                code: "forbidden",
                                message: "admin:metrics is for admins",
                            })
                            .await
                        }
                    }
                }
                Ok(topics) => {
                    // An admin session's socket gets inactive products whole: watched, so
                    // that a lost role makes it a public socket (`lose_admin`).
                    if matches!(self.admin, AdminAccess::Session(_)) {
                        self.watch.start();
                    }
                    self.subscribe(topics, since, epoch).await
                }
            },
            ClientMessage::Unsubscribe { topics } => match parse_topics(&topics) {
                Err(refused) => self.reply_error(refused.code(), refused.message()).await,
                Ok(topics) => {
                    let unsubscribe = hub::Unsubscribe {
                        id: self.id,
                        topics: topics.clone(),
                    };
                    if self.hub.send(unsubscribe).await.is_err() {
                        return Err(End::Gone);
                    }
                    self.reply(&ServerMessage::Unsubscribed { topics: &topics })
                        .await
                }
            },
        }
    }

    /// Subscribes in the hub first and waits for it (live events from then on queue up
    /// behind the replay, and events written after `subscribed` are delivered), then
    /// replays the history after `since` when asked, if `since` (and its epoch) is a
    /// position in the current history (`pubsub::epoch`), else answers `resync`. A
    /// `since` past the socket's replay budget is refused before anything is subscribed
    /// (not a malformed frame: answered, not counted).
    async fn subscribe(
        &mut self,
        topics: Vec<Topic>,
        since: Option<u64>,
        client_epoch: Option<String>,
    ) -> Flow {
        if since.is_some() && !self.replays.take(Instant::now()) {
            let message = format!(
                "At most {} replays (`since`) a minute: subscribe without it, or wait",
                self.limits.replays_per_minute
            );
            return self
                .reply(&ServerMessage::Error {
                    code: "replay_limited",
                    message: &message,
                })
                .await;
        }
        let subscribe = hub::Subscribe {
            id: self.id,
            topics: topics.clone(),
            limit: self.limits.max_topics,
        };
        match self.hub.send(subscribe).await {
            Ok(true) => {}
            Ok(false) => {
                let message = format!(
                    "A socket holds at most {} topics: unsubscribe first",
                    self.limits.max_topics
                );
                return self.reply_error("too_many_topics", &message).await;
            }
            Err(_) => return Err(End::Gone),
        }
        // Read after the hub subscription, so nothing after this position is missed.
        let position = match since {
            Some(_) => epoch::position(&self.redis)
                .await
                .inspect_err(|error| {
                    if let Some(suppressed) = POSITION_UNREADABLE.admit() {
                        tracing::warn!(%error, suppressed, "product history unreadable: resync");
                    }
                })
                .ok(),
            None => None,
        };
        let subscribed = ServerMessage::Subscribed {
            topics: &topics,
            epoch: position.as_ref().and_then(|p| p.epoch.as_deref()),
            offset: position.as_ref().map(|p| p.offset),
        };
        self.reply(&subscribed).await?;
        let Some(since) = since else {
            return Ok(());
        };
        match position.map(|p| epoch::recovery(client_epoch.as_deref(), since, &p)) {
            Some(epoch::Recovery::Replay) => self.replay(&topics, since).await,
            // Unreadable, like a history that cannot be read later.
            Some(epoch::Recovery::Resync) | None => self.reply(&ServerMessage::Resync).await,
        }
    }

    /// Sends the matching events after `since` a page at a time (each page written before
    /// the next is read), or `resync`.
    async fn replay(&mut self, topics: &[Topic], since: u64) -> Flow {
        let mut replay = replay::Replay::new(self.redis.clone(), since, self.admin.audience());
        loop {
            match replay.next(topics).await {
                replay::Step::Events(frames) => {
                    for (offset, frame) in frames {
                        self.write(frame).await?;
                        self.seam.replayed(offset);
                    }
                }
                replay::Step::Done => return Ok(()),
                replay::Step::Resync => return self.reply(&ServerMessage::Resync).await,
            }
        }
    }

    /// Answers a refused frame, and counts it against the client.
    async fn reply_error(&mut self, code: &str, message: &str) -> Flow {
        self.bad_frames += 1;
        self.reply(&ServerMessage::Error { code, message }).await
    }

    async fn reply(&mut self, message: &ServerMessage<'_>) -> Flow {
        match serde_json::to_string(message) {
            Ok(json) => self.write(json.into()).await,
            Err(_) => Ok(()),
        }
    }
}

/// A write raced against the kick and the silence deadline.
async fn race<E>(
    kicked: &mut oneshot::Receiver<Kick>,
    deadline: Instant,
    write: impl std::future::Future<Output = Result<(), E>>,
) -> Flow {
    tokio::select! {
        biased;
        kick = kicked => Err(End::Kicked(kick.unwrap_or(Kick::Shutdown))),
        () = tokio::time::sleep_until(deadline.into()) => Err(End::Silent),
        sent = write => sent.map_err(|_| End::Gone),
    }
}
