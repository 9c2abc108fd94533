//! One task per WebSocket connection: answers the client's frames itself and writes
//! what the hub queues for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::Addr;
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, ProtocolError, Session};
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::configuration::RealtimeSettings;
use crate::pubsub::epoch;
use crate::redis_client::RedisClient;
use crate::ws::admission::Admitted;
use crate::ws::hub::{self, ConnId, Hub, Kick, Outgoing, Queued};
use crate::ws::protocol::{check_epoch, parse_topics, ClientMessage, ServerMessage, Topic};
use crate::ws::replay;
use crate::ws::visibility::Audience;

/// Intervals without a frame from the client before it counts as gone.
const SILENT_INTERVALS: u32 = 3;

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
}

impl Limits {
    pub fn from_settings(settings: &RealtimeSettings) -> Limits {
        Limits {
            ping_interval: settings.ping_interval(),
            queue_size: settings.client_queue_size,
            max_frame_bytes: settings.max_frame_bytes,
            max_bad_frames: settings.max_bad_frames,
        }
    }
}

/// Whether the connection may subscribe to `admin:metrics`, decided at the handshake from
/// its session or bearer token like any `/admin` request (a role changed later applies
/// when the client reconnects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAccess {
    Granted,
    /// Signed out: `unauthorized`.
    Unauthorized,
    /// Signed in, not an admin: `forbidden`.
    Forbidden,
}

impl AdminAccess {
    /// Only an admin's socket gets inactive products' events (`ws::visibility`).
    pub fn audience(self) -> Audience {
        match self {
            AdminAccess::Granted => Audience::Admin,
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

/// One connection's state, owned by its task.
struct Conn {
    id: ConnId,
    hub: Addr<Hub>,
    redis: RedisClient,
    session: Session,
    /// What a `since` replay already sent, so the live copies are dropped.
    seam: replay::Seam,
    /// Frames refused so far (see `Limits::max_bad_frames`).
    bad_frames: u32,
    admin: AdminAccess,
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
    let (kick, mut kicked) = oneshot::channel();
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
        seam: replay::Seam::default(),
        bad_frames: 0,
        admin,
    };
    let end = match conn.hub.send(connect).await {
        Ok(true) => conn.serve(stream, &mut outgoing, &mut kicked, limits).await,
        // The server is stopping (or the hub is gone with it).
        Ok(false) | Err(_) => End::Kicked(Kick::Shutdown),
    };
    conn.hub.do_send(hub::Disconnect { id });
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
    // (the task and its few queued frames are all it holds meanwhile).
    let close_timeout = limits.ping_interval * SILENT_INTERVALS;
    let _ = tokio::time::timeout(close_timeout, conn.session.close(reason)).await;
}

impl Conn {
    /// The connection's loop: the hub's frames, pings, and the client's frames.
    async fn serve(
        &mut self,
        stream: MessageStream,
        outgoing: &mut mpsc::Receiver<Queued>,
        kicked: &mut oneshot::Receiver<Kick>,
        limits: Limits,
    ) -> End {
        let mut stream = stream.max_frame_size(limits.max_frame_bytes);
        let connected = Instant::now();
        let mut heard = connected;
        loop {
            // Biased: a kick closes the client before anything else it would be sent.
            let next = tokio::select! {
                biased;
                // The hub gone without a word: the system is stopping.
                kick = &mut *kicked => return End::Kicked(kick.unwrap_or(Kick::Shutdown)),
                frame = outgoing.recv() => match frame {
                    // The shard's heartbeat (one timer per shard, not one per connection).
                    Some(frame) if matches!(*frame, Outgoing::Heartbeat) => {
                        if heard.elapsed() > limits.ping_interval * SILENT_INTERVALS {
                            return End::Silent;
                        }
                        // The first ping one interval after the handshake, not at once.
                        connected.elapsed() < limits.ping_interval
                            || self.session.ping(b"").await.is_ok()
                    }
                    // A client that does not read blocks the write: the kick must still
                    // get through (the unsent frame is dropped with the write).
                    Some(frame) => tokio::select! {
                        sent = self.forward(frame) => sent,
                        kick = &mut *kicked => return End::Kicked(kick.unwrap_or(Kick::Shutdown)),
                    },
                    None => return End::Kicked(Kick::Shutdown),
                },
                message = stream.next() => match message {
                    Some(Ok(Message::Close(_))) | None => return End::ClientClosed,
                    Some(Ok(message)) => {
                        heard = Instant::now();
                        // Boxed: a subscribe may replay from Redis, and that future is
                        // large. Inline, every connection's task would be that large for
                        // its whole life (the task is sized for its largest await);
                        // boxed, it is allocated for the moment a client frame is handled.
                        Box::pin(self.on_message(message)).await
                    }
                    // The frame is still in the buffer: nothing after it can be read.
                    Some(Err(ProtocolError::Overflow)) => return End::TooLarge,
                    Some(Err(error)) => {
                        tracing::debug!(conn = self.id, %error, "WebSocket protocol error");
                        self.reply_error("bad_frame", &error.to_string()).await
                    }
                },
            };
            if !next {
                return End::Gone;
            }
            if self.bad_frames >= limits.max_bad_frames {
                return End::BadFrames;
            }
        }
    }

    /// Writes one queued frame unless a replay already sent it; `false` once the socket
    /// is gone.
    async fn forward(&mut self, out: Queued) -> bool {
        let Outgoing::Frame { offset, frame } = &*out else {
            return true;
        };
        if let Some(offset) = *offset {
            if !self.seam.admit(offset) {
                return true;
            }
        }
        self.session.text(frame.clone()).await.is_ok()
    }

    /// Handles one client frame; `false` once the socket is gone.
    async fn on_message(&mut self, message: Message) -> bool {
        match message {
            Message::Text(text) => self.on_text(&text).await,
            Message::Ping(bytes) => self.session.pong(&bytes).await.is_ok(),
            Message::Binary(_) => self.reply_error("bad_frame", "Send JSON text frames").await,
            _ => true,
        }
    }

    async fn on_text(&mut self, text: &str) -> bool {
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
                Err(message) => self.reply_error("bad_topic", &message).await,
                Ok(topics) if topics.contains(&Topic::AdminMetrics) => {
                    match self.admin {
                        AdminAccess::Granted => self.subscribe(topics, since, epoch).await,
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
                Ok(topics) => self.subscribe(topics, since, epoch).await,
            },
            ClientMessage::Unsubscribe { topics } => match parse_topics(&topics) {
                Err(message) => self.reply_error("bad_topic", &message).await,
                Ok(topics) => {
                    let unsubscribe = hub::Unsubscribe {
                        id: self.id,
                        topics: topics.clone(),
                    };
                    if self.hub.send(unsubscribe).await.is_err() {
                        return false;
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
    /// position in the current history (`pubsub::epoch`), else answers `resync`.
    async fn subscribe(
        &mut self,
        topics: Vec<Topic>,
        since: Option<u64>,
        client_epoch: Option<String>,
    ) -> bool {
        let subscribe = hub::Subscribe {
            id: self.id,
            topics: topics.clone(),
        };
        if self.hub.send(subscribe).await.is_err() {
            return false;
        }
        // Read after the hub subscription, so nothing after this position is missed.
        let position = match since {
            Some(_) => epoch::position(&self.redis)
                .await
                .inspect_err(|error| tracing::warn!(%error, "product history unreadable"))
                .ok(),
            None => None,
        };
        let subscribed = ServerMessage::Subscribed {
            topics: &topics,
            epoch: position.as_ref().and_then(|p| p.epoch.as_deref()),
            offset: position.as_ref().map(|p| p.offset),
        };
        if !self.reply(&subscribed).await {
            return false;
        }
        let Some(since) = since else {
            return true;
        };
        match position.map(|p| epoch::recovery(client_epoch.as_deref(), since, &p)) {
            Some(epoch::Recovery::Replay) => self.replay(&topics, since).await,
            // Unreadable, like a history that cannot be read later.
            Some(epoch::Recovery::Resync) | None => self.reply(&ServerMessage::Resync).await,
        }
    }

    async fn replay(&mut self, topics: &[Topic], since: u64) -> bool {
        match replay::read(&self.redis, topics, since, self.admin.audience()).await {
            replay::Replay::Events(events) => {
                for (offset, frame) in events {
                    if self.session.text(frame).await.is_err() {
                        return false;
                    }
                    self.seam.replayed(offset);
                }
                true
            }
            replay::Replay::Resync => self.reply(&ServerMessage::Resync).await,
        }
    }

    /// Answers a refused frame, and counts it against the client.
    async fn reply_error(&mut self, code: &str, message: &str) -> bool {
        self.bad_frames += 1;
        self.reply(&ServerMessage::Error { code, message }).await
    }

    async fn reply(&mut self, message: &ServerMessage<'_>) -> bool {
        match serde_json::to_string(message) {
            Ok(json) => self.session.text(json).await.is_ok(),
            Err(_) => true,
        }
    }
}
