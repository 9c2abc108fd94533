//! Hostile WebSocket clients against an instance of its own (the binary): what they can
//! make it hold in memory, and the bounds that hold whatever they send.

use std::time::Duration;

use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};
use crate::spawned::Instance;
use crate::websocket::Socket;
use crate::websocket_limits::raw;

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

/// Fills the app's history to `n` events: one real product creation, then copies of its
/// event under the next offsets, written straight into the stream (a long history in a
/// moment, not 3,000 writes through the API).
pub async fn long_history(app: &TestApp, n: u64) {
    app.create_product(crate::websocket::lamp()).await;
    copy_first_event(
        &mut app.redis_connection().await,
        &app.settings.redis.prefix,
        n,
    )
    .await;
}

/// Writes copies of the history's first event as events 2..=`n`.
async fn copy_first_event(conn: &mut redis::aio::MultiplexedConnection, prefix: &str, n: u64) {
    let history = format!("{prefix}product:history");
    let first: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg(&history)
        .arg("-")
        .arg("+")
        .query_async(conn)
        .await
        .expect("the history");
    let mut event: Value = serde_json::from_str(&first[0].1[1]).expect("an event");
    let mut pipe = redis::pipe();
    for offset in 2..=n {
        event["offset"] = json!(offset);
        pipe.cmd("XADD")
            .arg(&history)
            .arg(format!("{offset}-0"))
            .arg("e")
            .arg(event.to_string())
            .ignore();
    }
    pipe.cmd("SET")
        .arg(format!("{prefix}product:offset"))
        .arg(n)
        .ignore();
    let () = pipe.query_async(conn).await.expect("written");
}

/// Reads text frames until one whose type or error code is one of `kinds`, any one when
/// `kinds` is empty (or panics after 10 s).
async fn until(socket: &mut Socket, kinds: &[&str]) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("none of {kinds:?} in time"))
            .expect("the socket is open")
            .expect("a valid frame");
        if let Frame::Text(bytes) = frame {
            let message: Value = serde_json::from_slice(&bytes).expect("JSON");
            let matches = |field: &str| kinds.iter().any(|k| message[field] == *k);
            if kinds.is_empty() || matches("type") || matches("code") {
                return message;
            }
        }
    }
}

#[actix_web::test]
async fn a_socket_gets_replays_per_minute_replays_then_replay_limited() {
    let app = spawn_app_with(|s| s.realtime.replays_per_minute = 3).await;
    let mut socket = crate::websocket::connect(&app).await;
    let since = json!({"type": "subscribe", "topics": ["products"], "since": 0});
    for _ in 0..3 {
        crate::websocket::send(&mut socket, since.clone()).await;
        assert_eq!(
            crate::websocket::next(&mut socket).await["type"],
            "subscribed"
        );
    }
    crate::websocket::send(&mut socket, since.clone()).await;
    let refused = until(&mut socket, &["error"]).await;
    assert_eq!(refused["code"], "replay_limited", "{refused}");
    // Not a malformed frame: the socket goes on, and a subscribe without `since` works.
    crate::websocket::subscribe(&mut socket, json!(["product:1"])).await;
}

/// Anonymous sockets replaying a long history, each as often as it may (twice here, to
/// keep the test short: the budget, not the attack, is what differs from the issue's).
const REPLAYERS: usize = 50;
/// The history they replay (from offset 1, so 2,999 events each time).
const HISTORY: u64 = 3_000;

#[actix_web::test]
async fn a_replay_storm_never_opens_the_request_paths_breaker() {
    let app = spawn_app_with(|s| s.realtime.replays_per_minute = 2).await;
    long_history(&app, HISTORY).await;
    let opened = crate::cache::metrics(&app).await["cache"]["breaker"]["opened"].clone();
    assert!(opened.is_u64(), "the breaker's openings are counted");

    let mut storm = Vec::new();
    for _ in 0..REPLAYERS {
        let mut socket = crate::websocket::connect(&app).await;
        storm.push(actix_web::rt::spawn(async move {
            let since = json!({"type": "subscribe", "topics": ["products"], "since": 1});
            // Until the budget answers: every replay this socket may have, read through.
            let (mut events, mut resyncs) = (0, 0);
            loop {
                crate::websocket::send(&mut socket, since.clone()).await;
                let mut replayed = 0;
                // A replay ends with its 2,999th event, or `resync`.
                while replayed < HISTORY - 1 {
                    let message = until(&mut socket, &[]).await;
                    match message["type"].as_str() {
                        Some("product.created") => replayed += 1,
                        Some("resync") => {
                            resyncs += 1;
                            break;
                        }
                        Some("error") => {
                            assert_eq!(message["code"], "replay_limited", "{message}");
                            return (events, resyncs);
                        }
                        _ => {}
                    }
                }
                events += replayed;
            }
        }));
    }
    let (mut events, mut resyncs) = (0, 0);
    for socket in storm {
        let (e, r) = tokio::time::timeout(Duration::from_secs(300), socket)
            .await
            .expect("the storm ends")
            .expect("a socket's task");
        (events, resyncs) = (events + e, resyncs + r);
    }
    eprintln!("{events} events replayed, {resyncs} replays answered resync");
    assert!(events > 0, "the storm replayed something");

    let breaker = crate::cache::metrics(&app).await["cache"]["breaker"].clone();
    assert_eq!(breaker["opened"], opened, "{breaker}");
    assert_eq!(breaker["state"], "closed", "{breaker}");
}

/// Sockets asking for replays of a history that cannot be read.
const ASKERS: usize = 30;

#[actix_web::test]
async fn failed_replays_write_one_log_line_per_ten_seconds_whoever_asks() {
    let instance = Instance::start(&[]).await;
    let mut conn = instance.redis().await;
    let prefix = &instance.prefix;
    let () = redis::pipe()
        .cmd("XADD")
        .arg(format!("{prefix}product:history"))
        .arg("1-0")
        .arg("e")
        .arg("not an event")
        .ignore()
        .cmd("SET")
        .arg(format!("{prefix}product:offset"))
        .arg(1)
        .ignore()
        .query_async(&mut conn)
        .await
        .expect("written");
    let lines_before = instance.log().lines().count();

    let mut resyncs = 0;
    for _ in 0..ASKERS {
        let mut socket = connect(&instance).await;
        let since = json!({"type": "subscribe", "topics": ["products"], "since": 0});
        for _ in 0..6 {
            assert!(send(&mut socket, since.to_string()).await);
            until(&mut socket, &["resync"]).await;
            resyncs += 1;
        }
    }

    let log = instance.log();
    let new_lines: Vec<&str> = log.lines().skip(lines_before).collect();
    let unreadable = new_lines
        .iter()
        .filter(|l| l.contains("product history unreadable"))
        .count();
    assert_eq!(resyncs, ASKERS * 6);
    assert!(
        (1..=2).contains(&unreadable),
        "{resyncs} failed replays wrote {unreadable} warnings:\n{}",
        new_lines.join("\n")
    );
    assert!(
        new_lines.len() <= 4,
        "a bounded number of lines:\n{}",
        new_lines.join("\n")
    );
}

/// The drain the stop test runs with, and the shutdown timeout it must not wait out.
const DRAIN_MS: u64 = 500;
const SHUTDOWN_TIMEOUT_SECS: u64 = 30;

#[actix_web::test]
async fn a_client_that_never_reads_a_replay_does_not_hold_a_graceful_stop() {
    let mut instance = Instance::start(&[
        ("APP__SERVER__DRAIN_MS", &DRAIN_MS.to_string()),
        (
            "APP__SERVER__SHUTDOWN_TIMEOUT_SECS",
            &SHUTDOWN_TIMEOUT_SECS.to_string(),
        ),
    ])
    .await;
    // 2,000 events of 10 KB: 20 MB, far more than the socket buffers take.
    let created = reqwest::Client::new()
        .post(format!("{}/api/products", instance.address))
        .bearer_auth(&instance.token)
        .json(&json!({"name": "Big", "category": "Home", "price": 1,
                       "description": "d".repeat(10_000)}))
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), 201);
    copy_first_event(&mut instance.redis().await, &instance.prefix, 2_000).await;

    let mut stuck = raw::connect(&instance.address).await;
    raw::send_text(
        &mut stuck,
        &json!({"type": "subscribe", "topics": ["products"], "since": 0}),
    )
    .await;
    // The replay fills the buffers and then waits on the client, which never reads.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let took = instance
        .terminate(Duration::from_secs(SHUTDOWN_TIMEOUT_SECS * 2))
        .expect("the instance stopped");
    let bound = Duration::from_millis(DRAIN_MS) + Duration::from_secs(1);
    eprintln!("stopped in {took:?} (bound {bound:?})");
    // The bound, with room for a busy machine; far below the 30 s the old code waited.
    assert!(
        took < bound + Duration::from_secs(2),
        "the stop took {took:?}: the stuck client held it"
    );
    drop(stuck);
}
