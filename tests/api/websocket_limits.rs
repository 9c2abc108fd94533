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
    let second = connect(&app).await;

    let response = refused_handshake(&app, None).await;
    assert!(retry_after(&response) >= 1);
    let body = assert_error(response, 429, "rate_limited").await;
    assert!(body["error"]["retryAfter"].as_u64() >= Some(1), "{body}");

    // A clean close frees a place...
    close(&mut first).await;
    let _third = reconnect(&app).await;
    assert_error(refused_handshake(&app, None).await, 429, "rate_limited").await;
    // ...and so does a connection dropped without a close frame.
    drop(second);
    let _fourth = reconnect(&app).await;
}

/// Retries the handshake until it is accepted: a place frees when the server's task for
/// the closed socket ends (bounded wait).
async fn reconnect(app: &TestApp) -> Socket {
    for _ in 0..100 {
        if let Ok((response, socket)) = awc::Client::new().ws(ws_url(app)).connect().await {
            assert_eq!(response.status(), 101);
            return socket;
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

/// Product updates big enough (10 kB descriptions, 4.8 MB in all) that a client that does
/// not read fills even the server's send buffer (Linux grows it for a receiver that is not
/// reading: some 250 such events fit on loopback), then its queue. Written by `WRITERS`
/// at once.
const UPDATES: usize = 480;
const WRITERS: usize = 2;

#[actix_web::test]
async fn a_client_that_never_reads_is_closed_with_1013_and_the_others_get_everything() {
    let app = subscribed(
        spawn_app_with(|s| {
            // Room for the reader on a busy machine; none for a client that never reads.
            s.realtime.client_queue_size = 32;
            // No event lost to a slow Redis reply: the reader must get every one.
            s.redis.timeout_ms = 250;
        })
        .await,
    )
    .await;
    let mut paths = Vec::new();
    for _ in 0..WRITERS {
        let created = app.create_product(lamp()).await;
        paths.push(format!("/api/products/{}", created["id"]));
    }
    let mut slow = raw::connect(&app.address).await;
    raw::send_text(
        &mut slow,
        &json!({"type": "subscribe", "topics": ["products"]}),
    )
    .await;
    let (opcode, _) = raw::read_frame(&mut slow).await;
    assert_eq!(opcode, raw::TEXT, "subscribed");
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

    let writers = paths.iter().map(|path| async {
        for i in 0..UPDATES / WRITERS {
            let description = format!("{i:05}{}", "d".repeat(10_000 - 5));
            let response = app
                .put_json(path, &json!({"description": description}))
                .await;
            assert_eq!(response.status(), 200);
        }
    });
    futures_util::future::join_all(writers).await;

    let offsets = reading.await.expect("the reader finished");
    assert!(
        offsets.windows(2).all(|w| w[1] == w[0] + 1),
        "the reader got every update once, in order"
    );
    // Now the slow client reads: what fitted in the buffers, then the close.
    let mut got = 0;
    let code = loop {
        let (opcode, payload) =
            tokio::time::timeout(Duration::from_secs(10), raw::read_frame(&mut slow))
                .await
                .expect("a frame in time");
        match opcode {
            raw::TEXT => got += 1,
            raw::CLOSE => break u16::from_be_bytes([payload[0], payload[1]]),
            _ => {}
        }
    };
    assert_eq!(code, 1013, "after {got} events");
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

/// A WebSocket client over a plain TCP socket with a tiny receive buffer, so that a
/// client that does not read is felt by the server after a few frames rather than after
/// the megabytes loopback buffers otherwise absorb.
pub mod raw {
    use serde_json::Value;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpSocket, TcpStream};

    pub const TEXT: u8 = 0x1;
    pub const CLOSE: u8 = 0x8;

    /// Completes the handshake with the app at `address` (`http://host:port`).
    pub async fn connect(address: &str) -> TcpStream {
        let addr: std::net::SocketAddr = address
            .trim_start_matches("http://")
            .parse()
            .expect("an address");
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(2048).expect("small buffer");
        let mut stream = socket.connect(addr).await.expect("connected");
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("sent");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.expect("the response head"));
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        stream
    }

    /// A masked text frame, as a client must send.
    pub async fn send_text(stream: &mut TcpStream, message: &Value) {
        let payload = message.to_string().into_bytes();
        assert!(payload.len() < 126, "a short frame");
        let mask = [0x11, 0x22, 0x33, 0x44];
        let mut frame = vec![0x80 | TEXT, 0x80 | payload.len() as u8];
        frame.extend(mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        stream.write_all(&frame).await.expect("sent");
    }

    /// The next frame's opcode and payload (server frames are not masked).
    pub async fn read_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
        let first = stream.read_u8().await.expect("a frame");
        let len = match stream.read_u8().await.expect("a length") & 0x7f {
            126 => u64::from(stream.read_u16().await.expect("length")),
            127 => stream.read_u64().await.expect("length"),
            short => u64::from(short),
        };
        let mut payload = vec![0; usize::try_from(len).expect("a sane length")];
        stream.read_exact(&mut payload).await.expect("the payload");
        (first & 0x0f, payload)
    }
}
