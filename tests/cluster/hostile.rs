//! The hostile-client suite: anonymous attackers do their worst against a deployment
//! (three instances behind nginx, production settings) while a well-behaved client
//! watches product events and a writer changes products. After each attack every
//! instance keeps the bounds the README's "WebSocket limits" promise:
//!
//! - its RSS grew by at most [`RSS_GROWTH_MAX_KB`];
//! - its request-path Redis breaker never opened;
//! - it wrote at most [`LOG_LINES_MAX`] log lines;
//! - the well-behaved client got every product event, in offset and version order.

use std::time::{Duration, Instant};

use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use crate::fixture::{Cluster, Options};
use crate::{subscribe, Socket, Watcher};

const INSTANCES: [&str; 3] = ["a", "b", "c"];

/// What one attack may add to one instance's RSS (README, WebSocket limits: the attacks
/// here stay well inside one address's bound).
const RSS_GROWTH_MAX_KB: u64 = 32 * 1024;

/// Log lines one instance may write during one attack: repeated warnings are
/// rate-limited, so a stream of bad clients costs a few lines, not one per frame.
const LOG_LINES_MAX: usize = 100;

/// Product writes the watcher must see during each attack.
const WRITES: i64 = 20;

/// The deployment the suite attacks: small per-address limits, so that reaching them
/// costs the test little.
fn deployment(name: &str) -> Cluster {
    deployment_with(name, Vec::new())
}

fn deployment_with(name: &str, more: Vec<(&'static str, String)>) -> Cluster {
    let mut env = vec![
        ("APP__REALTIME__MAX_CONNECTIONS_PER_IP", "40".into()),
        ("APP__REALTIME__MAX_BAD_FRAMES", "5".into()),
        ("APP__REALTIME__CLIENT_QUEUE_SIZE", "64".into()),
    ];
    env.extend(more);
    Cluster::up_with(
        name,
        Options {
            env,
            ..Options::default()
        },
    )
}

/// Each instance's figures before the attack.
struct Before {
    rss_kb: Vec<u64>,
    opened: Vec<u64>,
    log_lines: Vec<usize>,
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("the instance's status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in kB")
}

async fn breaker_opened(cluster: &Cluster, base: &str) -> u64 {
    let m: Value = reqwest::Client::new()
        .get(format!("{base}/admin/metrics/cache"))
        .bearer_auth(&cluster.token)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    m["cache"]["breaker"]["opened"]
        .as_u64()
        .unwrap_or_else(|| panic!("breaker.opened in {m}"))
}

async fn measure(cluster: &Cluster) -> Before {
    let mut before = Before {
        rss_kb: Vec::new(),
        opened: Vec::new(),
        log_lines: Vec::new(),
    };
    for (name, base) in INSTANCES.iter().zip(&cluster.instances) {
        before.rss_kb.push(rss_kb(cluster.pid(name)));
        before.opened.push(breaker_opened(cluster, base).await);
        before.log_lines.push(cluster.log(name).lines().count());
    }
    before
}

/// Every instance within its bounds since `before`.
async fn assert_bounds_held(cluster: &Cluster, before: &Before, attack: &str) {
    for (i, (name, base)) in INSTANCES.iter().zip(&cluster.instances).enumerate() {
        let grown = rss_kb(cluster.pid(name)).saturating_sub(before.rss_kb[i]);
        assert!(
            grown <= RSS_GROWTH_MAX_KB,
            "{attack}: instance {name}'s RSS grew by {grown} kB (bound {RSS_GROWTH_MAX_KB} kB)"
        );
        let opened = breaker_opened(cluster, base).await;
        assert_eq!(
            opened, before.opened[i],
            "{attack}: instance {name}'s request-path breaker opened"
        );
        let log = cluster.log(name);
        let written = log.lines().count().saturating_sub(before.log_lines[i]);
        eprintln!("{attack}: instance {name}: RSS +{grown} kB, {written} log lines");
        assert!(
            written <= LOG_LINES_MAX,
            "{attack}: instance {name} wrote {written} log lines (bound {LOG_LINES_MAX}); the last:\n{}",
            log.lines().rev().take(5).collect::<Vec<_>>().join("\n")
        );
    }
}

/// Changes product 2 `WRITES` times through nginx while the attack runs.
async fn write_products(cluster: &Cluster, attack: &str) {
    for round in 1..=WRITES {
        let put = cluster
            .put_product(2, &json!({"name": format!("{attack} {round}")}))
            .await;
        assert_eq!(put.status(), 200, "{attack}: write {round}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The watcher got the writes' events in offset and version order, none missing.
async fn assert_watcher_saw_every_write(watcher: &Watcher, attack: &str) {
    let last = format!("{attack} {WRITES}");
    watcher
        .wait_for(Duration::from_secs(10), &last, |m| {
            m["product"]["name"] == last.as_str()
        })
        .await;
    let events: Vec<Value> = watcher
        .messages()
        .into_iter()
        .filter(|m| m["type"] == "product.updated" && m["product"]["id"] == 2)
        .filter(|m| {
            m["product"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!("{attack} ")))
        })
        .collect();
    let names: Vec<String> = events
        .iter()
        .map(|e| e["product"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    let expected: Vec<String> = (1..=WRITES).map(|r| format!("{attack} {r}")).collect();
    assert_eq!(names, expected, "{attack}: every write once, in order");
    let offsets: Vec<u64> = events.iter().filter_map(|e| e["offset"].as_u64()).collect();
    assert!(
        offsets.windows(2).all(|w| w[0] < w[1]),
        "{attack}: offsets in order: {offsets:?}"
    );
}

/// Runs `attack` beside a watcher and a writer, then checks every bound while what the
/// attack returns (the sockets it still holds) is alive.
async fn under_attack<F, T>(cluster: &Cluster, name: &str, attack: F)
where
    F: std::future::Future<Output = T>,
{
    let watcher = Watcher::start(subscribe(&cluster.url).await);
    let before = measure(cluster).await;
    let writer = write_products(cluster, name);
    let (held, ()) = futures_util::join!(attack, writer);
    assert_watcher_saw_every_write(&watcher, name).await;
    assert!(watcher.ended().is_none(), "{name}: the watcher stayed open");
    assert_bounds_held(cluster, &before, name).await;
    drop(held);
}

/// Where attacker `n` connects: every other one through nginx, the rest to each
/// instance directly in turn.
fn attacked(cluster: &Cluster, n: usize) -> &str {
    if n % 2 == 0 {
        &cluster.url
    } else {
        &cluster.instances[n % 3]
    }
}

async fn open(base: &str) -> Option<Socket> {
    let url = format!("{}/ws", base.replacen("http", "ws", 1));
    let (response, socket) = awc::Client::new()
        .ws(url)
        .max_frame_size(4 * 1024 * 1024)
        .connect()
        .await
        .ok()?;
    (response.status() == 101).then_some(socket)
}

/// Reads until the socket closes (or `within` passes): the close code, if any.
async fn close_code(socket: &mut Socket, within: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Frame::Close(reason)))) => return reason.map(|r| u16::from(r.code)),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_))) | Ok(None) | Err(_) => return None,
        }
    }
}

#[actix_web::test]
async fn oversized_frames_and_bad_json_cost_a_close_and_no_more() {
    let cluster = deployment("hostile-frames");
    under_attack(&cluster, "frames", async {
        let mut codes = Vec::new();
        for round in 0..30 {
            let target = attacked(&cluster, round).to_string();
            let Some(mut socket) = open(&target).await else {
                continue;
            };
            if round % 3 == 0 {
                // Four times the largest frame a client may send.
                let huge = "x".repeat(256 * 1024);
                let _ = socket.send(Message::Text(huge.into())).await;
            } else {
                for junk in ["{", "[]", "{\"type\":\"nope\"}", "null", "\u{0}", "{}", "x"] {
                    if socket.send(Message::Text(junk.into())).await.is_err() {
                        break;
                    }
                }
            }
            codes.push(close_code(&mut socket, Duration::from_secs(5)).await);
        }
        assert!(
            codes.contains(&Some(1009)) && codes.contains(&Some(1008)),
            "oversized frames closed with 1009 and junk with 1008: {codes:?}"
        );
    })
    .await;
}

#[actix_web::test]
async fn one_address_opening_sockets_without_end_is_capped() {
    let cluster = deployment("hostile-sockets");
    under_attack(&cluster, "sockets", async {
        // Through nginx every client is the same address: the cap is per address and
        // per instance (the instances count their own sockets).
        let mut held = Vec::new();
        let mut refused = 0;
        let started = Instant::now();
        for _ in 0..200 {
            match open(&cluster.url).await {
                Some(socket) => held.push(socket),
                None => refused += 1,
            }
            if started.elapsed() > Duration::from_secs(30) {
                break;
            }
        }
        assert!(
            held.len() <= 3 * 40,
            "at most 40 per instance: {} open",
            held.len()
        );
        assert!(refused > 0, "some handshakes refused with 429");
        tokio::time::sleep(Duration::from_millis(500)).await;
        drop(held);
    })
    .await;
}

#[actix_web::test]
async fn readers_that_never_read_cost_their_queue_and_no_more() {
    let cluster = deployment("hostile-slow");
    under_attack(&cluster, "slow", async {
        // Subscribed to every product event, then never read again: each costs its
        // queue (64 frames here) and the kernel's buffers, and is closed when it fills.
        let mut sleepers = Vec::new();
        for i in 0..30 {
            let base = attacked(&cluster, i);
            if let Some(mut socket) = open(base).await {
                let subscribe = json!({"type": "subscribe", "topics": ["products"], "since": 0});
                let _ = socket
                    .send(Message::Text(subscribe.to_string().into()))
                    .await;
                sleepers.push(socket);
            }
        }
        assert!(sleepers.len() >= 20, "the sleepers connected");
        // Hold them (unread) while the writer runs.
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(sleepers);
    })
    .await;
}

/// Sends `frame` and returns the `error` codes answered before the socket closed or went
/// quiet for a moment.
async fn error_codes_after(socket: &mut Socket, frames: &[String]) -> Vec<String> {
    let mut codes = Vec::new();
    for frame in frames {
        if socket
            .send(Message::Text(frame.clone().into()))
            .await
            .is_err()
        {
            return codes;
        }
    }
    loop {
        match tokio::time::timeout(Duration::from_millis(500), socket.next()).await {
            Ok(Some(Ok(Frame::Text(bytes)))) => {
                let m: Value = serde_json::from_slice(&bytes).expect("JSON");
                if m["type"] == "error" {
                    codes.push(m["code"].as_str().unwrap_or("").to_string());
                }
            }
            Ok(Some(Ok(Frame::Ping(bytes)))) => {
                let _ = socket.send(Message::Pong(bytes)).await;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_))) | Ok(None) | Err(_) => return codes,
        }
    }
}

#[actix_web::test]
async fn distinct_topics_without_end_are_refused_past_the_cap() {
    let cluster = deployment("hostile-topics");
    under_attack(&cluster, "topics", async {
        // Ten sockets, each held open: 300 subscribes to distinct 30 KB topic names,
        // then 150 distinct short, valid ones (more than a socket may hold).
        let mut codes = Vec::new();
        let mut held = Vec::new();
        for n in 0..10 {
            let base = attacked(&cluster, n);
            let Some(mut socket) = open(base).await else {
                continue;
            };
            let long: Vec<String> = (0..300)
                .map(|i| {
                    let topic = format!("category:{n}-{i}-{}", "x".repeat(30 * 1024));
                    json!({"type": "subscribe", "topics": [topic]}).to_string()
                })
                .collect();
            codes.extend(error_codes_after(&mut socket, &long).await);
            held.push(socket);
            let Some(mut socket) = open(base).await else {
                continue;
            };
            let many: Vec<String> = (0..150)
                .map(|i| {
                    json!({"type": "subscribe", "topics": [format!("category:C{n}x{i}")]})
                        .to_string()
                })
                .collect();
            codes.extend(error_codes_after(&mut socket, &many).await);
            held.push(socket);
        }
        assert!(
            codes.iter().any(|c| c == "invalid_topic"),
            "long topic names answered invalid_topic: {codes:?}"
        );
        assert!(
            codes.iter().any(|c| c == "too_many_topics"),
            "topics past the cap answered too_many_topics: {codes:?}"
        );
        held
    })
    .await;
}

#[actix_web::test]
async fn replays_from_the_start_without_end_meet_the_replay_budget() {
    // The HTTP limiter allows 20 product writes an hour: off, so that the test can
    // write the history the attackers replay (sockets have limits of their own).
    let cluster = deployment_with(
        "hostile-replays",
        vec![("APP__RATE_LIMIT__ENABLED", "false".into())],
    );
    // A history of 1,500 events for the attackers to ask for again and again.
    let client = reqwest::Client::new();
    let writes = futures_util::stream::iter(0..1500).map(|i| {
        let (client, url, token) = (client.clone(), cluster.url.clone(), cluster.token.clone());
        async move {
            let id = 1 + i % 20;
            client
                .put(format!("{url}/api/products/{id}"))
                .bearer_auth(token)
                .json(&json!({"description": format!("history {i} {}", "d".repeat(200))}))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        }
    });
    let written = writes
        .buffer_unordered(8)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    assert!(
        written >= 1400,
        "the history was written: {written} of 1500"
    );

    under_attack(&cluster, "replays", async {
        let attackers = (0..30).map(|i| {
            let base = attacked(&cluster, i).to_string();
            async move {
                let mut codes = Vec::new();
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(10) {
                    let Some(mut socket) = open(&base).await else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    let replay = json!({"type": "subscribe", "topics": ["products"], "since": 1})
                        .to_string();
                    let frames: Vec<String> = (0..10).map(|_| replay.clone()).collect();
                    codes.extend(error_codes_after(&mut socket, &frames).await);
                }
                codes
            }
        });
        let codes: Vec<String> = futures_util::future::join_all(attackers)
            .await
            .into_iter()
            .flatten()
            .collect();
        assert!(
            codes.iter().any(|c| c == "replay_limited"),
            "replays past the budget answered replay_limited: {:?}",
            codes.iter().take(20).collect::<Vec<_>>()
        );
    })
    .await;
}
