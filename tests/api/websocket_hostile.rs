//! Hostile WebSocket clients against an instance of its own (the binary): what they can
//! make it hold in memory, and the bounds that hold whatever they send.

use std::time::Duration;

use awc::ws::Message;
use futures_util::SinkExt;
use serde_json::json;

use crate::spawned::Instance;
use crate::websocket::Socket;

async fn connect(instance: &Instance) -> Socket {
    let (response, socket) = awc::Client::new()
        .ws(instance.ws_url())
        .max_frame_size(1 << 20)
        .connect()
        .await
        .expect("the handshake succeeds");
    assert_eq!(response.status(), 101);
    socket
}

/// Sends without reading; `false` once the server has closed the socket.
async fn send(socket: &mut Socket, text: String) -> bool {
    socket.send(Message::Text(text.into())).await.is_ok()
}

/// Hostile sockets, each doing its worst to the instance's memory.
const HOSTILE: usize = 50;
/// What `HOSTILE` sockets may add to the instance's resident memory: the README's bound
/// of 0.5 MB per socket (WebSocket, "What a socket costs"), and 15 MB for the allocator's
/// and the runtime's own growth under load.
const BOUND: u64 = (HOSTILE as u64) * 512 * 1024 + 15 * 1024 * 1024;

/// One socket's worst that keeps it open, never reading a frame: the largest frame
/// allowed, the most topics allowed with the longest names allowed, then as many refused
/// frames as it may send (`max_bad_frames` - 1), each naming a distinct 60 KB `category:`
/// topic (the attack that once took 120 MB on one socket, frame after frame).
async fn do_the_worst(socket: &mut Socket, n: usize) {
    let padding = "x".repeat(60 * 1024);
    assert!(
        send(
            socket,
            json!({"type": "ping", "padding": padding}).to_string()
        )
        .await
    );
    let topics: Vec<String> = (0..100)
        // 126 bytes: 45 characters, within a category's 100, with 3-byte ones.
        .map(|t| format!("category:{n:04}-{t:03}-{}", "€".repeat(36)))
        .collect();
    assert!(
        send(
            socket,
            json!({"type": "subscribe", "topics": topics}).to_string()
        )
        .await
    );
    for attempt in 0..19 {
        let name = format!("{n:04}-{attempt:03}-{}", "z".repeat(60_000));
        let frame = json!({"type": "subscribe", "topics": [format!("category:{name}")]});
        assert!(send(socket, frame.to_string()).await);
    }
}

#[actix_web::test]
async fn hostile_sockets_cannot_grow_the_instance_past_the_documented_bound() {
    let instance = Instance::start(&[]).await;
    // The first sockets grow the runtime and the allocator's arenas once: not per socket.
    for n in 0..4 {
        let mut socket = connect(&instance).await;
        do_the_worst(&mut socket, 10_000 + n).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = instance.rss();

    let mut sockets = Vec::new();
    for n in 0..HOSTILE {
        let mut socket = connect(&instance).await;
        do_the_worst(&mut socket, n).await;
        sockets.push(socket);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = instance.rss();

    let grown = after.saturating_sub(before);
    eprintln!(
        "RSS {} MB before, {} MB with {HOSTILE} hostile sockets: {} KB each",
        before >> 20,
        after >> 20,
        (grown >> 10) / HOSTILE as u64
    );
    assert!(
        grown < BOUND,
        "{HOSTILE} hostile sockets grew the instance by {} MB (bound {} MB)",
        grown >> 20,
        BOUND >> 20
    );
    let websocket = &instance.admin_get("/admin/metrics/cache").await["websocket"];
    assert_eq!(websocket["connections"], HOSTILE, "all open: {websocket}");
    assert_eq!(
        websocket["subscriptions"],
        100 * HOSTILE,
        "100 topics a socket, no more: {websocket}"
    );
}
