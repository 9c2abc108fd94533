//! One WebSocket client: connect, subscribe to `products`, then record every delivery of
//! this run's updates until it has them all or is told to stop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use crate::args::Protocol;
use crate::stamp::{classify, Received};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A handshake (TCP, WebSocket upgrade, subscribe, `subscribed`) that takes longer fails.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the close handshake may take at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Each client's read buffer. tungstenite's default (128 KiB) is zero-filled up to its
/// capacity before every socket read: with 10,000 clients that is 1.3 GB of buffers and
/// a 128 KiB memset per delivery, which made the tool, not the server, most of the CPU
/// an update cost (docs/ws-fanout-notes.md). Events are a few hundred bytes; a larger
/// frame still arrives whole (the buffer grows to the frame's length).
const READ_BUFFER_BYTES: usize = 4096;

/// What every client shares.
#[derive(Clone)]
pub struct Shared {
    pub url: Url,
    pub protocol: Protocol,
    /// Marks this run's updates (see `stamp`).
    pub tag: Arc<str>,
    /// The run's clock: stamps are µs since this instant.
    pub epoch: Instant,
    pub updates: u32,
    /// Bounds the handshakes in flight (the connect ramp).
    pub handshakes: Arc<Semaphore>,
}

/// What one client saw.
#[derive(Debug, Default)]
pub struct ClientResult {
    pub connected: bool,
    /// Each distinct update received: its sequence number and delivery latency, µs.
    pub deliveries: Vec<(u32, u64)>,
    pub duplicates: u32,
    /// Deliveries whose offset was not above the previous one's.
    pub out_of_order: u32,
    /// `resync` frames: the server knows this client missed events.
    pub resyncs: u32,
    /// Why the socket ended before the client was done, if it did.
    pub ended_early: Option<String>,
}

/// Runs one client; reports on `ready` once subscribed (or failed) and on `done` once it
/// has every update, then keeps its socket open until `stop` turns true: a client that
/// closed at once would load the server (and this tool) with its close handshake while
/// the others still wait for the last update, which made the last update's fan-out five
/// times slower than the others' and decided p99 (docs/ws-fanout-notes.md). Ends early
/// on `stop` or when the socket fails.
pub async fn run(
    shared: Shared,
    ready: mpsc::Sender<Result<(), String>>,
    done: mpsc::UnboundedSender<()>,
    mut stop: watch::Receiver<bool>,
) -> ClientResult {
    let handshake = {
        let _permit = shared.handshakes.acquire().await;
        tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            connect_and_subscribe(&shared.url, shared.protocol),
        )
        .await
    };
    let mut socket = match handshake {
        Ok(Ok(socket)) => socket,
        Ok(Err(error)) => return failed(&ready, format!("{error:#}")).await,
        Err(_) => return failed(&ready, "handshake timed out".to_string()).await,
    };
    let _ = ready.send(Ok(())).await;
    let mut result = ClientResult {
        connected: true,
        deliveries: Vec::with_capacity(shared.updates as usize),
        ..ClientResult::default()
    };
    let mut seen = SeenSet::new(shared.updates);
    let mut last_offset = None;
    while seen.count() < shared.updates {
        let message = tokio::select! {
            _ = stop.changed() => break,
            message = socket.next() => message,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                result.ended_early = Some(format!("closed by the server: {frame:?}"));
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => {
                result.ended_early = Some(error.to_string());
                break;
            }
            None => {
                result.ended_early = Some("the connection ended".to_string());
                break;
            }
        };
        let received_us = micros_since(shared.epoch);
        let delivery = match classify(shared.protocol, &shared.tag, text.as_str()) {
            Received::Delivery(delivery) => delivery,
            Received::Ping => {
                if pong(&mut socket).await.is_err() {
                    result.ended_early = Some("could not answer a ping".to_string());
                    break;
                }
                continue;
            }
            Received::Resync => {
                result.resyncs += 1;
                continue;
            }
            _ => continue,
        };
        if !seen.insert(delivery.stamp.seq) {
            result.duplicates += 1;
            continue;
        }
        let latency = received_us.saturating_sub(delivery.stamp.sent_us);
        result.deliveries.push((delivery.stamp.seq, latency));
        if let Some(offset) = delivery.offset {
            if last_offset.is_some_and(|last| offset <= last) {
                result.out_of_order += 1;
            }
            last_offset = Some(offset);
        }
    }
    if seen.count() == shared.updates {
        let _ = done.send(());
        // Still answering Socket.IO's pings, so the server keeps the socket meanwhile.
        loop {
            let message = tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                message = socket.next() => message,
            };
            match message {
                Some(Ok(Message::Text(text)))
                    if classify(shared.protocol, "", text.as_str()) == Received::Ping =>
                {
                    if pong(&mut socket).await.is_err() {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            }
        }
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close(None)).await;
    result
}

async fn failed(ready: &mpsc::Sender<Result<(), String>>, why: String) -> ClientResult {
    let _ = ready.send(Err(why.clone())).await;
    ClientResult {
        ended_early: Some(why),
        ..ClientResult::default()
    }
}

/// µs since `epoch` on the monotonic clock.
pub fn micros_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Opens the socket and waits for `subscribed` to `products`: events written after it
/// are delivered.
async fn connect_and_subscribe(url: &Url, protocol: Protocol) -> anyhow::Result<Socket> {
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false)
            .await
            .context("WebSocket handshake")?;
    let subscribe = match protocol {
        Protocol::CatalogCache => r#"{"type":"subscribe","topics":["products"]}"#,
        Protocol::Socketio => {
            // Engine.IO `open`, then Socket.IO `connect` to the main namespace.
            next_text_starting(&mut socket, "0").await?;
            socket
                .send(Message::text("40"))
                .await
                .context("connecting")?;
            next_text_starting(&mut socket, "40").await?;
            r#"420["subscribe",["products"]]"#
        }
    };
    socket
        .send(Message::text(subscribe))
        .await
        .context("sending subscribe")?;
    while let Some(message) = socket.next().await {
        if let Message::Text(text) = message.context("reading the subscribe answer")? {
            match classify(protocol, "", text.as_str()) {
                Received::Subscribed => return Ok(socket),
                Received::Error(error) => bail!("subscribe refused: {error}"),
                Received::Ping => pong(&mut socket).await.context("pong")?,
                _ => {}
            }
        }
    }
    bail!("the connection ended before `subscribed`")
}

/// Answers an Engine.IO ping (catalog-cache pings at the WebSocket level, which
/// tungstenite answers by itself).
async fn pong(socket: &mut Socket) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    socket.send(Message::text("3")).await
}

/// Skips frames until a text frame that starts with `prefix`.
async fn next_text_starting(socket: &mut Socket, prefix: &str) -> anyhow::Result<()> {
    while let Some(message) = socket.next().await {
        if let Message::Text(text) = message.context("reading the handshake")? {
            if text.as_str().starts_with(prefix) {
                return Ok(());
            }
        }
    }
    bail!("the connection ended during the Socket.IO handshake")
}

/// Which updates a client has seen: a bitset over the sequence numbers.
struct SeenSet {
    bits: Vec<u64>,
    updates: u32,
    count: u32,
}

impl SeenSet {
    fn new(updates: u32) -> Self {
        SeenSet {
            bits: vec![0; (updates as usize).div_ceil(64)],
            updates,
            count: 0,
        }
    }

    /// `false` when `seq` was seen already (or is out of range).
    fn insert(&mut self, seq: u32) -> bool {
        if seq >= self.updates {
            return false;
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        match self.bits.get_mut(word) {
            Some(w) if *w & bit == 0 => {
                *w |= bit;
                self.count += 1;
                true
            }
            _ => false,
        }
    }

    fn count(&self) -> u32 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seen_set_counts_each_sequence_number_once() {
        let mut seen = SeenSet::new(130);
        assert!(seen.insert(0));
        assert!(seen.insert(129));
        assert!(!seen.insert(129));
        assert!(!seen.insert(130), "out of range");
        assert_eq!(seen.count(), 2);
    }

    /// A one-connection WebSocket server: answers the subscribe, sends `updates` product
    /// events of `tag`, then reports whether the client closed within `quiet`, and whether
    /// it closed after that.
    async fn one_connection_server(
        listener: tokio::net::TcpListener,
        tag: String,
        updates: u32,
        quiet: Duration,
    ) -> (bool, bool) {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let subscribe = ws.next().await.unwrap().unwrap();
        assert!(subscribe.to_text().unwrap().contains("subscribe"));
        let subscribed = r#"{"type":"subscribed","topics":["products"]}"#;
        ws.send(Message::text(subscribed)).await.unwrap();
        for seq in 0..updates {
            let event = format!(
                r#"{{"type":"product.updated","offset":{},"product":{{"description":"{tag} seq={seq} t_us=0"}}}}"#,
                seq + 1
            );
            ws.send(Message::text(event)).await.unwrap();
        }
        let closed_early = tokio::time::timeout(quiet, ws.next()).await.is_ok();
        let closed_later = matches!(ws.next().await, Some(Ok(Message::Close(_))) | None);
        (closed_early, closed_later)
    }

    #[tokio::test]
    async fn a_client_with_every_update_keeps_its_socket_until_told_to_stop() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("ws://{}/ws", listener.local_addr().unwrap())).unwrap();
        let server = tokio::spawn(one_connection_server(
            listener,
            "t1".to_string(),
            2,
            Duration::from_millis(300),
        ));
        let shared = Shared {
            url,
            protocol: Protocol::CatalogCache,
            tag: "t1".into(),
            epoch: Instant::now(),
            updates: 2,
            handshakes: Arc::new(Semaphore::new(1)),
        };
        let (ready_tx, mut ready_rx) = mpsc::channel(1);
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let client = tokio::spawn(run(shared, ready_tx, done_tx, stop_rx));
        assert_eq!(ready_rx.recv().await, Some(Ok(())));
        assert_eq!(
            done_rx.recv().await,
            Some(()),
            "done once it has both updates"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!client.is_finished(), "it waits for stop");
        stop_tx.send(true).unwrap();
        let result = client.await.unwrap();
        let (closed_early, closed_later) = server.await.unwrap();
        assert!(!closed_early, "the socket stayed open until stop");
        assert!(closed_later, "and was closed after it");
        assert_eq!(result.deliveries.len(), 2);
        assert!(result.ended_early.is_none());
    }
}
