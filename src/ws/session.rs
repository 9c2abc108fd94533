//! One task per WebSocket connection: answers the client's frames itself and writes
//! what the hub queues for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use futures_util::StreamExt;
use tokio::sync::{mpsc, Notify};

use crate::ws::hub::{self, ConnId, Hub};
use crate::ws::protocol::{parse_topics, ClientMessage, ServerMessage};

/// Events queued for one client before it counts as too slow and is closed with 1013.
pub const CLIENT_QUEUE: usize = 256;
/// The largest frame a client may send; subscriptions are small.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// How long a close frame may take before the socket is simply dropped (a client that
/// does not read would otherwise hold the task).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Why the loop ended, and so how to close.
enum End {
    ClientClosed,
    TooSlow,
    Gone,
}

/// Serves one connection until either side closes it.
pub async fn run(hub: Addr<Hub>, mut session: Session, stream: MessageStream) {
    let id: ConnId = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let (queue, mut outgoing) = mpsc::channel(CLIENT_QUEUE);
    let overflow = Arc::new(Notify::new());
    let connected = hub.send(hub::Connect {
        id,
        queue,
        overflow: overflow.clone(),
    });
    if connected.await.is_err() {
        let _ = session.close(None).await;
        return;
    }
    let mut stream = stream.max_frame_size(MAX_FRAME_BYTES);
    let end = loop {
        // Biased: an overflow closes the client before anything else it would be sent.
        let next = tokio::select! {
            biased;
            () = overflow.notified() => break End::TooSlow,
            frame = outgoing.recv() => match frame {
                Some(frame) => session.text(frame).await.is_ok(),
                None => break End::TooSlow,
            },
            message = stream.next() => match message {
                Some(Ok(Message::Close(_))) | None => break End::ClientClosed,
                Some(Ok(message)) => on_message(&hub, id, &mut session, message).await,
                Some(Err(error)) => {
                    tracing::debug!(conn = id, %error, "WebSocket protocol error");
                    reply_error(&mut session, "bad_frame", &error.to_string()).await
                }
            },
        };
        if !next {
            break End::Gone;
        }
    };
    hub.do_send(hub::Disconnect { id });
    let reason = match end {
        End::ClientClosed => Some(CloseCode::Normal.into()),
        End::TooSlow => Some(CloseReason {
            code: CloseCode::Again,
            description: Some("too slow: reconnect and resync".into()),
        }),
        End::Gone => return,
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, session.close(reason)).await;
}

/// Handles one client frame; `false` once the socket is gone.
async fn on_message(hub: &Addr<Hub>, id: ConnId, session: &mut Session, message: Message) -> bool {
    match message {
        Message::Text(text) => on_text(hub, id, session, &text).await,
        Message::Ping(bytes) => session.pong(&bytes).await.is_ok(),
        Message::Binary(_) => reply_error(session, "bad_frame", "Send JSON text frames").await,
        _ => true,
    }
}

async fn on_text(hub: &Addr<Hub>, id: ConnId, session: &mut Session, text: &str) -> bool {
    let message = match serde_json::from_str::<ClientMessage>(text) {
        Ok(message) => message,
        Err(error) => return reply_error(session, "bad_message", &error.to_string()).await,
    };
    match message {
        ClientMessage::Ping => reply(session, &ServerMessage::Pong).await,
        ClientMessage::Subscribe { since: Some(_), .. } => {
            reply_error(session, "unsupported", "`since` is not supported yet").await
        }
        ClientMessage::Subscribe {
            topics,
            since: None,
        } => match parse_topics(&topics) {
            Err(message) => reply_error(session, "bad_topic", &message).await,
            Ok(topics) => {
                // `send` and wait, so events written after `subscribed` reach the client.
                let subscribe = hub::Subscribe {
                    id,
                    topics: topics.clone(),
                };
                if hub.send(subscribe).await.is_err() {
                    return false;
                }
                reply(session, &ServerMessage::Subscribed { topics: &topics }).await
            }
        },
        ClientMessage::Unsubscribe { topics } => match parse_topics(&topics) {
            Err(message) => reply_error(session, "bad_topic", &message).await,
            Ok(topics) => {
                let unsubscribe = hub::Unsubscribe {
                    id,
                    topics: topics.clone(),
                };
                if hub.send(unsubscribe).await.is_err() {
                    return false;
                }
                reply(session, &ServerMessage::Unsubscribed { topics: &topics }).await
            }
        },
    }
}

async fn reply_error(session: &mut Session, code: &str, message: &str) -> bool {
    reply(session, &ServerMessage::Error { code, message }).await
}

async fn reply(session: &mut Session, message: &ServerMessage<'_>) -> bool {
    match serde_json::to_string(message) {
        Ok(json) => session.text(json).await.is_ok(),
        Err(_) => true,
    }
}
