//! `GET /ws`: subscribe filters, exactly-once delivery with overlapping topics and across
//! instances, ping/pong and invalid frames.

use std::time::Duration;

use actix_codec::Framed;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use crate::cache::subscribed;
use crate::helpers::{spawn_app, spawn_app_from, TestApp};

pub type Socket = Framed<BoxedSocket, Codec>;

pub fn lamp() -> Value {
    json!({"name": "Desk Lamp", "description": "Bright", "category": "Home", "price": 19.99, "stock": 5})
}

/// Opens a WebSocket to the app.
pub async fn connect(app: &TestApp) -> Socket {
    let url = format!("{}/ws", app.address.replacen("http", "ws", 1));
    let (response, socket) = awc::Client::new()
        .ws(url)
        .connect()
        .await
        .expect("the handshake succeeds");
    assert_eq!(response.status(), 101);
    socket
}

/// Opens a WebSocket to the app with one more handshake header (a cookie, a token).
pub async fn connect_with(app: &TestApp, header: (&str, String)) -> Socket {
    let url = format!("{}/ws", app.address.replacen("http", "ws", 1));
    let (response, socket) = awc::Client::new()
        .ws(url)
        .header(header.0, header.1)
        .connect()
        .await
        .expect("the handshake succeeds");
    assert_eq!(response.status(), 101);
    socket
}

pub async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .expect("the frame is sent");
}

/// The next text frame as JSON, within two seconds.
pub async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(2), socket.next())
            .await
            .expect("a frame within 2 s")
            .expect("the socket is open")
            .expect("a valid frame");
        match frame {
            Frame::Text(bytes) => return serde_json::from_slice(&bytes).expect("JSON"),
            Frame::Ping(_) | Frame::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Asserts that no text frame arrives for a moment.
pub async fn nothing(socket: &mut Socket) {
    let next = tokio::time::timeout(Duration::from_millis(300), socket.next()).await;
    assert!(next.is_err(), "unexpected frame {:?}", next.ok().flatten());
}

/// Subscribes and waits for the acknowledgement.
pub async fn subscribe(socket: &mut Socket, topics: Value) {
    send(socket, json!({"type": "subscribe", "topics": topics})).await;
    let answer = next(socket).await;
    assert_eq!(answer, json!({"type": "subscribed", "topics": topics}));
}

#[actix_web::test]
async fn products_subscribers_get_created_updated_and_deleted_events() {
    let app = subscribed(spawn_app().await).await;
    let mut socket = connect(&app).await;
    subscribe(&mut socket, json!(["products"])).await;

    let created = app.create_product(lamp()).await;
    let event = next(&mut socket).await;
    assert_eq!(event["type"], "product.created");
    assert_eq!(event["product"], created);
    let first = event["offset"].as_u64().expect("offset");
    assert!(event["ts"].is_string());

    let path = format!("/api/products/{}", created["id"]);
    let response = app.put_json(&path, &json!({"stock": 9})).await;
    assert_eq!(response.status(), 200);
    let event = next(&mut socket).await;
    assert_eq!(event["type"], "product.updated");
    assert_eq!(event["product"]["stock"], 9);
    assert_eq!(event["offset"].as_u64(), Some(first + 1));

    assert_eq!(app.delete(&path).await.status(), 200);
    let event = next(&mut socket).await;
    assert_eq!(event["type"], "product.deleted");
    assert_eq!(event["id"], created["id"]);
    assert_eq!(event["offset"].as_u64(), Some(first + 2));
    nothing(&mut socket).await;
}

#[actix_web::test]
async fn a_product_topic_gets_only_that_product() {
    let mut app = subscribed(spawn_app().await).await;
    let watched = app.create_product(lamp()).await;
    let other = app.create_product(lamp()).await;
    // Let both creations pass through the instance before subscribing.
    for _ in 0..2 {
        let _ = tokio::time::timeout(Duration::from_secs(2), app.product_events.recv()).await;
    }
    let mut socket = connect(&app).await;
    subscribe(&mut socket, json!([format!("product:{}", watched["id"])])).await;

    let body = json!({"stock": 1});
    let other_path = format!("/api/products/{}", other["id"]);
    assert_eq!(app.put_json(&other_path, &body).await.status(), 200);
    let watched_path = format!("/api/products/{}", watched["id"]);
    assert_eq!(app.put_json(&watched_path, &body).await.status(), 200);

    let event = next(&mut socket).await;
    assert_eq!(event["type"], "product.updated");
    assert_eq!(event["product"]["id"], watched["id"]);
    nothing(&mut socket).await;
}

#[actix_web::test]
async fn overlapping_topics_deliver_each_event_once() {
    let mut app = subscribed(spawn_app().await).await;
    let created = app.create_product(lamp()).await;
    // Let the creation pass through the instance first: only the update is under test.
    let _ = tokio::time::timeout(Duration::from_secs(2), app.product_events.recv()).await;
    let mut socket = connect(&app).await;
    subscribe(&mut socket, json!(["products", "category:Home"])).await;
    subscribe(&mut socket, json!([format!("product:{}", created["id"])])).await;

    let path = format!("/api/products/{}", created["id"]);
    assert_eq!(
        app.put_json(&path, &json!({"stock": 2})).await.status(),
        200
    );
    assert_eq!(next(&mut socket).await["type"], "product.updated");
    nothing(&mut socket).await;
}

#[actix_web::test]
async fn ping_gets_pong() {
    let app = spawn_app().await;
    let mut socket = connect(&app).await;
    send(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(next(&mut socket).await, json!({"type": "pong"}));
}

#[actix_web::test]
async fn invalid_frames_get_an_error_and_the_socket_stays_open() {
    let app = spawn_app().await;
    let mut socket = connect(&app).await;

    socket
        .send(Message::Text("{not json".into()))
        .await
        .expect("sent");
    let answer = next(&mut socket).await;
    assert_eq!(answer["type"], "error");
    assert_eq!(answer["code"], "bad_message");
    assert!(answer["message"].is_string());

    send(&mut socket, json!({"type": "shout"})).await;
    assert_eq!(next(&mut socket).await["code"], "bad_message");

    send(
        &mut socket,
        json!({"type": "subscribe", "topics": ["stuff"]}),
    )
    .await;
    assert_eq!(next(&mut socket).await["code"], "bad_topic");

    send(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(next(&mut socket).await, json!({"type": "pong"}));
}

#[actix_web::test]
async fn events_written_on_another_instance_reach_this_instances_clients() {
    let a = subscribed(spawn_app().await).await;
    let b = subscribed(spawn_app_from(a.settings.clone()).await).await;
    let mut socket = connect(&a).await;
    subscribe(&mut socket, json!(["products"])).await;

    let created = b.create_product(lamp()).await;
    let event = next(&mut socket).await;
    assert_eq!(event["type"], "product.created");
    assert_eq!(event["product"], created);
    nothing(&mut socket).await;
}

#[actix_web::test]
async fn clients_on_every_worker_shard_get_each_event_exactly_once() {
    // Two workers, so two hub shards; the sockets are spread over both by the accept loop.
    let app = subscribed(spawn_app().await).await;
    let mut sockets = Vec::new();
    for _ in 0..8 {
        let mut socket = connect(&app).await;
        subscribe(&mut socket, json!(["products"])).await;
        sockets.push(socket);
    }
    let websocket = crate::cache::metrics(&app).await["websocket"].clone();
    let shards = websocket["connectionsPerShard"]
        .as_array()
        .expect("per shard");
    assert_eq!(shards.len(), 2, "{websocket}");
    assert!(
        shards.iter().all(|n| n.as_u64() > Some(0)),
        "every shard holds some of the sockets: {websocket}"
    );

    let created = app.create_product(lamp()).await;
    let path = format!("/api/products/{}", created["id"]);
    assert_eq!(
        app.put_json(&path, &json!({"stock": 3})).await.status(),
        200
    );
    for socket in &mut sockets {
        let event = next(socket).await;
        assert_eq!(event["type"], "product.created");
        let event = next(socket).await;
        assert_eq!(event["type"], "product.updated");
        assert_eq!(event["product"]["stock"], 3);
    }
    for socket in &mut sockets {
        nothing(socket).await;
    }
}

/// Waits until `n` product events have passed through the instance.
pub async fn passed(app: &mut TestApp, n: usize) {
    for _ in 0..n {
        tokio::time::timeout(Duration::from_secs(2), app.product_events.recv())
            .await
            .expect("the event within 2 s")
            .expect("the broadcast is open");
    }
}

#[actix_web::test]
async fn since_replays_the_missed_matching_events_in_order_then_live_ones() {
    let mut a = subscribed(spawn_app().await).await;
    let mut b = subscribed(spawn_app_from(a.settings.clone()).await).await;
    let first = a.create_product(lamp()).await;
    a.create_product(lamp()).await;
    let path = format!("/api/products/{}", first["id"]);
    assert_eq!(a.put_json(&path, &json!({"stock": 3})).await.status(), 200);
    passed(&mut a, 3).await;
    passed(&mut b, 3).await;

    // On the other instance: everything after offset 1 about the first product.
    let mut socket = connect(&b).await;
    let topic = format!("product:{}", first["id"]);
    send(
        &mut socket,
        json!({"type": "subscribe", "topics": [topic], "since": 0}),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "subscribed");
    let replayed = next(&mut socket).await;
    assert_eq!(replayed["type"], "product.created");
    assert_eq!(replayed["offset"], 1);
    let replayed = next(&mut socket).await;
    assert_eq!(replayed["type"], "product.updated");
    assert_eq!(replayed["offset"], 3);

    assert_eq!(a.delete(&path).await.status(), 200);
    let live = next(&mut socket).await;
    assert_eq!(live["type"], "product.deleted");
    assert_eq!(live["offset"], 4);
    nothing(&mut socket).await;
}

#[actix_web::test]
async fn since_older_than_the_history_answers_resync_then_live_events() {
    let mut app =
        subscribed(crate::helpers::spawn_app_with(|s| s.realtime.history_size = 2).await).await;
    for _ in 0..4 {
        app.create_product(lamp()).await;
    }
    passed(&mut app, 4).await;
    let mut socket = connect(&app).await;
    send(
        &mut socket,
        json!({"type": "subscribe", "topics": ["products"], "since": 0}),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "subscribed");
    assert_eq!(next(&mut socket).await, json!({"type": "resync"}));

    app.create_product(lamp()).await;
    let live = next(&mut socket).await;
    assert_eq!(live["type"], "product.created");
    assert_eq!(live["offset"], 5);
    nothing(&mut socket).await;
}

#[actix_web::test]
async fn a_category_move_reaches_the_old_and_the_new_category_once() {
    let mut app = subscribed(spawn_app().await).await;
    let created = app.create_product(lamp()).await;
    passed(&mut app, 1).await;
    let mut home = connect(&app).await;
    subscribe(&mut home, json!(["category:Home"])).await;
    let mut office = connect(&app).await;
    subscribe(&mut office, json!(["category:Office"])).await;
    let mut both = connect(&app).await;
    subscribe(&mut both, json!(["category:Home", "category:Office"])).await;

    let path = format!("/api/products/{}", created["id"]);
    let response = app.put_json(&path, &json!({"category": "Office"})).await;
    assert_eq!(response.status(), 200);

    for socket in [&mut home, &mut office, &mut both] {
        let event = next(socket).await;
        assert_eq!(event["type"], "product.updated");
        assert_eq!(event["product"]["category"], "Office");
        assert_eq!(event["previousCategory"], "Home");
        nothing(socket).await;
    }

    // An update that does not move the product says nothing of a previous category, and
    // no longer concerns the old one.
    let response = app.put_json(&path, &json!({"stock": 1})).await;
    assert_eq!(response.status(), 200);
    let event = next(&mut office).await;
    assert!(event.get("previousCategory").is_none(), "{event}");
    nothing(&mut home).await;
}

#[actix_web::test]
async fn unsubscribe_stops_the_events() {
    let app = subscribed(spawn_app().await).await;
    let mut socket = connect(&app).await;
    subscribe(&mut socket, json!(["products"])).await;
    send(
        &mut socket,
        json!({"type": "unsubscribe", "topics": ["products"]}),
    )
    .await;
    assert_eq!(
        next(&mut socket).await,
        json!({"type": "unsubscribed", "topics": ["products"]})
    );

    app.create_product(lamp()).await;
    nothing(&mut socket).await;
}

#[actix_web::test]
async fn twenty_bad_frames_close_the_socket_with_1008() {
    let app = spawn_app().await;
    let mut socket = connect(&app).await;
    for _ in 0..20 {
        send(&mut socket, json!({"type": "shout"})).await;
        assert_eq!(next(&mut socket).await["type"], "error");
    }
    let frame = tokio::time::timeout(Duration::from_secs(2), socket.next())
        .await
        .expect("a frame within 2 s")
        .expect("the close frame")
        .expect("a valid frame");
    match frame {
        Frame::Close(Some(reason)) => assert_eq!(u16::from(reason.code), 1008),
        other => panic!("expected a 1008 close, got {other:?}"),
    }
}

#[actix_web::test]
async fn a_client_silent_for_three_ping_intervals_is_closed() {
    let app = crate::helpers::spawn_app_with(|s| s.realtime.ping_interval_secs = 1).await;
    let mut socket = connect(&app).await;
    let mut pings = 0;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(6), socket.next())
            .await
            .expect("a frame within 6 s")
            .expect("the socket ends with a close frame")
            .expect("a valid frame");
        match frame {
            Frame::Ping(_) => pings += 1,
            Frame::Close(Some(reason)) => {
                assert_eq!(u16::from(reason.code), 1000);
                break;
            }
            other => panic!("unexpected frame {other:?}"),
        }
    }
    // Pinged at 1 s and 2 s, closed at the third tick (or, by a hair, the fourth).
    assert!((2..=3).contains(&pings), "{pings} pings before the close");
}

#[actix_web::test]
async fn a_plain_get_of_ws_is_a_json_400() {
    let app = spawn_app().await;
    let response = app
        .anonymous_client()
        .get(app.url("/ws"))
        .send()
        .await
        .expect("sent");
    let body = crate::helpers::assert_error(response, 400, "bad_request").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("WebSocket")),
        "{body}"
    );
}
