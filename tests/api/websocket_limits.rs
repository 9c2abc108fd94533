//! `GET /ws` limits: the connection caps (429 per client address, 503 in total), the
//! frame size (1009) and the slow-client close (1013).

use std::time::Duration;

use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use crate::cache::subscribed;
use crate::helpers::{assert_error, spawn_app_with, TestApp};
use crate::websocket::{connect, lamp, next, send, subscribe, Socket};

fn ws_url(app: &TestApp) -> String {
    format!("{}/ws", app.address.replacen("http", "ws", 1))
}

/// A WebSocket handshake that is expected to succeed, as if forwarded for `client`.
async fn connect_as(app: &TestApp, client: &str) -> Socket {
    let (response, socket) = awc::Client::new()
        .ws(ws_url(app))
        .header("x-forwarded-for", client)
        .connect()
        .await
        .expect("the handshake succeeds");
    assert_eq!(response.status(), 101);
    socket
}

/// A WebSocket handshake sent as plain HTTP, to read a refusal's JSON body.
async fn refused_handshake(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app
        .anonymous_client()
        .get(app.url("/ws"))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    if let Some(client) = forwarded_for {
        request = request.header("x-forwarded-for", client);
    }
    request.send().await.expect("sent")
}

/// Reads until the close frame (skipping text and pings) and returns its code; panics if
/// the socket ends without one.
pub async fn close_code(socket: &mut Socket, within: Duration) -> u16 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("a close frame in time")
            .expect("a close frame before the end of the stream")
            .expect("a valid frame");
        match frame {
            Frame::Close(Some(reason)) => return u16::from(reason.code),
            Frame::Close(None) => panic!("a close frame without a code"),
            _ => continue,
        }
    }
}

async fn close(socket: &mut Socket) {
    socket.send(Message::Close(None)).await.expect("close sent");
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a numeric Retry-After")
}

#[actix_web::test]
async fn the_per_address_cap_answers_429_json_until_a_socket_closes() {
    let app = spawn_app_with(|s| s.realtime.max_connections_per_ip = 2).await;
    let mut first = connect(&app).await;
    let _second = connect(&app).await;

    let response = refused_handshake(&app, None).await;
    assert!(retry_after(&response) >= 1);
    let body = assert_error(response, 429, "rate_limited").await;
    assert!(body["error"]["retryAfter"].as_u64() >= Some(1), "{body}");

    close(&mut first).await;
    // The place frees when the server's task for the socket ends: bounded wait.
    for _ in 0..100 {
        let attempt = awc::Client::new().ws(ws_url(&app)).connect().await;
        if let Ok((response, _socket)) = attempt {
            assert_eq!(response.status(), 101);
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("closing a socket never freed its place");
}

#[actix_web::test]
async fn the_address_is_the_rate_limiters_so_clients_behind_a_trusted_proxy_count_apart() {
    let app = spawn_app_with(|s| {
        s.realtime.max_connections_per_ip = 1;
        s.rate_limit.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let _a = connect_as(&app, "198.51.100.7").await;
    let _b = connect_as(&app, "198.51.100.8").await;

    let refused = refused_handshake(&app, Some("198.51.100.7")).await;
    assert_error(refused, 429, "rate_limited").await;
    // A value the client wrote to the left of what the proxy saw changes nothing.
    let spoofed = refused_handshake(&app, Some("203.0.113.1, 198.51.100.8")).await;
    assert_error(spoofed, 429, "rate_limited").await;
}

#[actix_web::test]
async fn the_total_cap_answers_503_json() {
    let app = spawn_app_with(|s| {
        s.realtime.max_connections = 2;
        s.realtime.max_connections_per_ip = 2;
        s.rate_limit.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let _a = connect_as(&app, "198.51.100.7").await;
    let _b = connect_as(&app, "198.51.100.8").await;

    let response = refused_handshake(&app, Some("198.51.100.9")).await;
    assert!(retry_after(&response) >= 1);
    assert_error(response, 503, "service_unavailable").await;
}

#[actix_web::test]
async fn a_frame_over_max_frame_bytes_closes_the_socket_with_1009() {
    let app = spawn_app_with(|s| s.realtime.max_frame_bytes = 1024).await;
    let mut socket = connect(&app).await;
    // Just under the limit is answered as usual.
    let padding = "x".repeat(900);
    send(&mut socket, json!({"type": "ping", "padding": padding})).await;
    assert_eq!(next(&mut socket).await, json!({"type": "pong"}));

    let padding = "x".repeat(2000);
    send(&mut socket, json!({"type": "ping", "padding": padding})).await;
    assert_eq!(close_code(&mut socket, Duration::from_secs(2)).await, 1009);
}

/// Product updates big enough (10 kB descriptions) that a client that does not read fills
/// the socket's buffers, then its queue.
const UPDATES: usize = 150;

#[actix_web::test]
async fn a_client_that_never_reads_is_closed_with_1013_and_the_others_get_everything() {
    let app = subscribed(spawn_app_with(|s| s.realtime.client_queue_size = 4).await).await;
    let created = app.create_product(lamp()).await;
    let mut slow = connect(&app).await;
    subscribe(&mut slow, json!(["products"])).await;
    let mut reader = connect(&app).await;
    subscribe(&mut reader, json!(["products"])).await;
    // The reader reads all along, in a task of its own.
    let reading = actix_web::rt::spawn(async move {
        let mut offsets = Vec::new();
        while offsets.len() < UPDATES {
            let event: Value = next_within(&mut reader, Duration::from_secs(10)).await;
            if event["type"] == "product.updated" {
                offsets.push(event["offset"].as_u64().expect("offset"));
            }
        }
        offsets
    });

    let path = format!("/api/products/{}", created["id"]);
    for i in 0..UPDATES {
        let description = format!("{i}{}", "d".repeat(10_000 - 8));
        let response = app
            .put_json(&path, &json!({"description": description}))
            .await;
        assert_eq!(response.status(), 200);
    }

    let offsets = reading.await.expect("the reader finished");
    assert_eq!(offsets.len(), UPDATES);
    assert!(
        offsets.windows(2).all(|w| w[1] == w[0] + 1),
        "the reader got every update once, in order"
    );
    // Now the slow client reads: what fitted in its buffers, then the close.
    let mut got = 0;
    let code = loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), slow.next())
            .await
            .expect("a frame in time")
            .expect("a close frame before the end of the stream")
            .expect("a valid frame");
        match frame {
            Frame::Text(_) => got += 1,
            Frame::Close(reason) => break reason.map(|r| u16::from(r.code)),
            _ => {}
        }
    };
    assert_eq!(code, Some(1013));
    assert!(got < UPDATES, "the slow client was cut off ({got} events)");
}

async fn next_within(socket: &mut Socket, within: Duration) -> Value {
    loop {
        let frame = tokio::time::timeout(within, socket.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .expect("a valid frame");
        if let Frame::Text(bytes) = frame {
            return serde_json::from_slice(&bytes).expect("JSON");
        }
    }
}
