//! `GET /ws` across instances and failures: offsets and exactly-once with two instances,
//! a signed-in handshake, graceful shutdown (1001), and clients that keep their socket
//! across Redis restarts and a lost subscription.

use std::time::Duration;

use awc::ws::Frame;
use futures_util::StreamExt;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::cache::subscribed;
use crate::helpers::{new_client, spawn_app, spawn_app_from, TestApp, PASSWORD};
use crate::private_redis::PrivateRedis;
use crate::websocket::{connect, lamp, next, nothing, send, subscribe, Socket};
use crate::websocket_limits::close_code;

/// The next `n` product events' offsets, checking each is new to this socket.
async fn offsets(socket: &mut Socket, n: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let event = next(socket).await;
        assert!(
            event["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("product.")),
            "{event}"
        );
        seen.push(event["offset"].as_u64().expect("offset"));
    }
    seen
}

#[actix_web::test]
async fn offsets_are_equal_across_instances_and_overlapping_topics_get_each_write_once() {
    let a = subscribed(spawn_app().await).await;
    let b = subscribed(spawn_app_from(a.settings.clone()).await).await;
    let mut on_a = connect(&a).await;
    let mut on_b = connect(&b).await;
    for socket in [&mut on_a, &mut on_b] {
        subscribe(socket, json!(["products", "category:Home"])).await;
    }
    let created = a.create_product(lamp()).await;
    let topic = json!([format!("product:{}", created["id"])]);
    let first_a = offsets(&mut on_a, 1).await;
    let first_b = offsets(&mut on_b, 1).await;
    for socket in [&mut on_a, &mut on_b] {
        subscribe(socket, topic.clone()).await;
    }

    // Writes on either instance, each matching all three topics of both clients.
    let path = format!("/api/products/{}", created["id"]);
    assert_eq!(b.put_json(&path, &json!({"stock": 1})).await.status(), 200);
    assert_eq!(a.put_json(&path, &json!({"stock": 2})).await.status(), 200);
    assert_eq!(b.delete(&path).await.status(), 200);

    let rest_a = offsets(&mut on_a, 3).await;
    let rest_b = offsets(&mut on_b, 3).await;
    let all_a: Vec<u64> = first_a.into_iter().chain(rest_a).collect();
    let all_b: Vec<u64> = first_b.into_iter().chain(rest_b).collect();
    assert_eq!(all_a, all_b, "the same offsets on both instances");
    assert!(all_a.windows(2).all(|w| w[1] == w[0] + 1), "{all_a:?}");
    nothing(&mut on_a).await;
    nothing(&mut on_b).await;
}

/// `name=value` of the session cookie of a newly registered account.
async fn session_cookie(app: &TestApp) -> String {
    let email = format!("ws-{}@test.example", uuid::Uuid::new_v4().simple());
    let registered = new_client()
        .post(app.url("/api/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("sent");
    assert_eq!(registered.status(), 201);
    sign_in_cookie(app, &email).await
}

/// Signs `email` in (password `PASSWORD`) and returns `name=value` of its session cookie.
pub async fn sign_in_cookie(app: &TestApp, email: &str) -> String {
    let login = reqwest::Client::new()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), 200);
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let me = reqwest::Client::new()
        .get(app.url("/api/auth/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("sent");
    assert_eq!(me.status(), 200, "the cookie is a signed-in session");
    cookie
}

#[actix_web::test]
async fn a_signed_in_client_subscribes_with_its_session_cookie() {
    let app = subscribed(spawn_app().await).await;
    let cookie = session_cookie(&app).await;
    let url = format!("{}/ws", app.address.replacen("http", "ws", 1));
    let (response, mut socket) = awc::Client::new()
        .ws(url)
        .header("cookie", cookie)
        .connect()
        .await
        .expect("the handshake succeeds");
    assert_eq!(response.status(), 101);
    subscribe(&mut socket, json!(["products"])).await;

    app.create_product(lamp()).await;
    assert_eq!(next(&mut socket).await["type"], "product.created");
}

#[actix_web::test]
async fn a_graceful_stop_closes_every_socket_with_1001() {
    let app = subscribed(spawn_app().await).await;
    let mut idle = connect(&app).await;
    let mut subscribed_socket = connect(&app).await;
    subscribe(&mut subscribed_socket, json!(["products"])).await;

    app.stopper.stop();

    for socket in [&mut idle, &mut subscribed_socket] {
        assert_eq!(close_code(socket, Duration::from_secs(5)).await, 1001);
    }
}

pub fn private_settings(redis: &PrivateRedis) -> catalog_cache::configuration::Settings {
    let mut settings = crate::helpers::test_settings();
    settings.redis.url = SecretString::from(redis.url());
    // A busy machine must not open the breaker after the restart.
    settings.redis.timeout_ms = 250;
    settings
}

/// The JSON frames that arrive within `window` (pings skipped); panics if the socket
/// closes.
async fn frames_for(socket: &mut Socket, window: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + window;
    let mut frames = Vec::new();
    while let Ok(frame) = tokio::time::timeout_at(deadline, socket.next()).await {
        match frame
            .expect("the socket stays open")
            .expect("a valid frame")
        {
            Frame::Text(bytes) => frames.push(serde_json::from_slice(&bytes).expect("JSON")),
            Frame::Close(reason) => panic!("closed: {reason:?} after {frames:?}"),
            _ => {}
        }
    }
    frames
}

#[actix_web::test]
async fn a_client_keeps_its_socket_across_two_redis_restarts_and_is_told_to_resync() {
    let mut redis = PrivateRedis::start_persistent().await;
    let app = subscribed(spawn_app_from(private_settings(&redis)).await).await;
    let writer = app.token_client();
    let created = app.create_product(lamp()).await;
    let path = app.url(&format!("/api/products/{}", created["id"]));
    let mut socket = connect(&app).await;
    subscribe(&mut socket, json!(["products"])).await;

    for cycle in 1..=2u64 {
        redis.kill();
        // Committed in PostgreSQL; its event cannot be published.
        let response = writer
            .put(&path)
            .json(&json!({"stock": cycle}))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "cycle {cycle}");
        redis.restart().await;

        // Writes until one reaches the same socket (the instance needs a moment to find
        // Redis again); the event lost meanwhile is announced as `resync`.
        let (mut resynced, mut live) = (false, false);
        for attempt in 0..20 {
            let stock = cycle * 1000 + attempt;
            let response = writer
                .put(&path)
                .json(&json!({"stock": stock}))
                .send()
                .await
                .expect("sent");
            assert_eq!(response.status(), 200, "cycle {cycle}");
            for frame in frames_for(&mut socket, Duration::from_millis(750)).await {
                resynced |= frame["type"] == "resync";
                live |= frame["type"] == "product.updated"
                    && frame["product"]["stock"].as_u64() >= Some(cycle * 1000);
            }
            if resynced && live {
                break;
            }
        }
        assert!(live, "a write after restart {cycle} reached the socket");
        assert!(
            resynced,
            "the client was told to resync after restart {cycle}"
        );
        // Still the same, working socket (and a frame from the client, so the heartbeat
        // counts it alive).
        send(&mut socket, json!({"type": "ping"})).await;
        let pong = frames_for(&mut socket, Duration::from_millis(500)).await;
        assert!(pong.contains(&json!({"type": "pong"})), "{pong:?}");
    }
}

#[actix_web::test]
async fn events_missed_while_the_subscription_was_lost_are_replayed_once_in_order() {
    let redis = PrivateRedis::start_ready().await;
    let mut a = subscribed(spawn_app_from(private_settings(&redis)).await).await;
    let b = subscribed(spawn_app_from(a.settings.clone()).await).await;
    let created = b.create_product(lamp()).await;
    crate::websocket::passed(&mut a, 1).await;
    let mut socket = connect(&a).await;
    subscribe(&mut socket, json!(["products"])).await;
    let path = format!("/api/products/{}", created["id"]);
    assert_eq!(b.put_json(&path, &json!({"stock": 1})).await.status(), 200);
    let before = offsets(&mut socket, 1).await[0];

    // Cut every subscriber's connection; writes go on through B's command connection.
    let direct = redis::Client::open(redis.url()).expect("client");
    let mut conn = direct
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let _: redis::Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .expect("killed");
    for stock in 2..=4 {
        assert_eq!(
            b.put_json(&path, &json!({"stock": stock})).await.status(),
            200
        );
    }

    // Every update reaches the socket once, in order, with no resync needed: missed
    // ones are replayed from the history.
    let frames = offsets(&mut socket, 3).await;
    assert_eq!(frames, vec![before + 1, before + 2, before + 3]);
    assert_eq!(b.put_json(&path, &json!({"stock": 5})).await.status(), 200);
    assert_eq!(offsets(&mut socket, 1).await, vec![before + 4]);
    nothing(&mut socket).await;
}
