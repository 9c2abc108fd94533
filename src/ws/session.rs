//! One task per WebSocket connection: answers the client's frames itself and writes
//! what the hub queues for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use futures_util::StreamExt;
use tokio::sync::{mpsc, Notify};

use crate::redis_client::RedisClient;
use crate::ws::hub::{self, ConnId, Hub, Outgoing};
use crate::ws::protocol::{parse_topics, ClientMessage, ServerMessage, Topic};
use crate::ws::replay;

/// Events queued for one client before it counts as too slow and is closed with 1013.
pub const CLIENT_QUEUE: usize = 256;
/// The largest frame a client may send; subscriptions are small.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Refused frames a client may send before it is closed with 1008 (policy violation):
/// one mistake is answered, a stream of them is not a client worth serving.
pub const MAX_BAD_FRAMES: u32 = 20;
/// How long a close frame may take before the socket is simply dropped (a client that
/// does not read would otherwise hold the task).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Intervals without a frame from the client before it counts as gone.
const SILENT_INTERVALS: u32 = 3;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Why the loop ended, and so how to close.
enum End {
    ClientClosed,
    TooSlow,
    BadFrames,
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
    /// Frames refused so far (see `MAX_BAD_FRAMES`).
    bad_frames: u32,
}

/// Serves one connection until either side closes it.
pub async fn run(
    hub: Addr<Hub>,
    redis: RedisClient,
    ping_interval: Duration,
    session: Session,
    stream: MessageStream,
) {
    let id: ConnId = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let (queue, mut outgoing) = mpsc::channel(CLIENT_QUEUE);
    let overflow = Arc::new(Notify::new());
    let connect = hub::Connect {
        id,
        queue,
        overflow: overflow.clone(),
    };
    if hub.send(connect).await.is_err() {
        let _ = session.close(None).await;
        return;
    }
    let mut conn = Conn {
        id,
        hub,
        redis,
        session,
        seam: replay::Seam::default(),
        bad_frames: 0,
    };
    let mut stream = stream.max_frame_size(MAX_FRAME_BYTES);
    // The first ping one interval after the handshake, not at once.
    let start = tokio::time::Instant::now() + ping_interval;
    let mut heartbeat = tokio::time::interval_at(start, ping_interval);
    let mut heard = Instant::now();
    let end = loop {
        // Biased: an overflow closes the client before anything else it would be sent.
        let next = tokio::select! {
            biased;
            () = overflow.notified() => break End::TooSlow,
            frame = outgoing.recv() => match frame {
                Some(frame) => conn.forward(frame).await,
                None => break End::TooSlow,
            },
            _ = heartbeat.tick() => {
                if heard.elapsed() > ping_interval * SILENT_INTERVALS {
                    break End::Silent;
                }
                conn.session.ping(b"").await.is_ok()
            }
            message = stream.next() => match message {
                Some(Ok(Message::Close(_))) | None => break End::ClientClosed,
                Some(Ok(message)) => {
                    heard = Instant::now();
                    conn.on_message(message).await
                }
                Some(Err(error)) => {
                    tracing::debug!(conn = id, %error, "WebSocket protocol error");
                    conn.reply_error("bad_frame", &error.to_string()).await
                }
            },
        };
        if !next {
            break End::Gone;
        }
        if conn.bad_frames >= MAX_BAD_FRAMES {
            break End::BadFrames;
        }
    };
    conn.hub.do_send(hub::Disconnect { id });
    let reason = match end {
        End::ClientClosed => Some(CloseCode::Normal.into()),
        End::TooSlow => Some(CloseReason {
            code: CloseCode::Again,
            description: Some("too slow: reconnect and resync".into()),
        }),
        End::BadFrames => Some(CloseReason {
            code: CloseCode::Policy,
            description: Some("too many invalid frames".into()),
        }),
        End::Silent => Some(CloseReason {
            code: CloseCode::Normal,
            description: Some("no frame for three ping intervals".into()),
        }),
        End::Gone => return,
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.session.close(reason)).await;
}

impl Conn {
    /// Writes one queued frame unless a replay already sent it; `false` once the socket
    /// is gone.
    async fn forward(&mut self, out: Outgoing) -> bool {
        if let Some(offset) = out.offset {
            if !self.seam.admit(offset) {
                return true;
            }
        }
        self.session.text(out.frame).await.is_ok()
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
        match message {
            ClientMessage::Ping => self.reply(&ServerMessage::Pong).await,
            ClientMessage::Subscribe { topics, since } => match parse_topics(&topics) {
                Err(message) => self.reply_error("bad_topic", &message).await,
                Ok(topics) => self.subscribe(topics, since).await,
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
    /// replays the history after `since` when asked.
    async fn subscribe(&mut self, topics: Vec<Topic>, since: Option<u64>) -> bool {
        let subscribe = hub::Subscribe {
            id: self.id,
            topics: topics.clone(),
        };
        if self.hub.send(subscribe).await.is_err() {
            return false;
        }
        if !self
            .reply(&ServerMessage::Subscribed { topics: &topics })
            .await
        {
            return false;
        }
        match since {
            Some(since) => self.replay(&topics, since).await,
            None => true,
        }
    }

    async fn replay(&mut self, topics: &[Topic], since: u64) -> bool {
        match replay::read(&self.redis, topics, since).await {
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
