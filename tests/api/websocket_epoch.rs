//! The history's epoch: every event carries it beside its offset, and a `since` from
//! another epoch (Redis restarted empty) or beyond the current offset answers `resync`
//! rather than nothing or a replay of a different history.

use std::time::Duration;

use serde_json::{json, Value};

use crate::cache::subscribed;
use crate::helpers::{spawn_app, spawn_app_from, TestApp};
use crate::private_redis::PrivateRedis;
use crate::websocket::{connect, lamp, next, nothing, send, Socket};
use crate::websocket_recovery::private_settings;

/// Creates a product as admin by token: sessions live in Redis, which these tests empty.
async fn create(app: &TestApp) -> Value {
    let response = app
        .token_client()
        .post(app.url("/api/products"))
        .json(&lamp())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("JSON");
    body["data"].clone()
}

/// The next `n` events through the instance, as JSON.
async fn events(app: &mut TestApp, n: usize) -> Vec<Value> {
    let mut events = Vec::new();
    for _ in 0..n {
        let event = tokio::time::timeout(Duration::from_secs(2), app.product_events.recv())
            .await
            .expect("the event within 2 s")
            .expect("the broadcast is open");
        events.push(serde_json::to_value(event).expect("JSON"));
    }
    events
}

/// `n` creations, and their events as they passed through the instance.
async fn creations(app: &mut TestApp, n: usize) -> Vec<Value> {
    for _ in 0..n {
        create(app).await;
    }
    events(app, n).await
}

/// Kills the private Redis, starts it again empty, and writes until an event of the new
/// history passes through the instance (it needs a moment to find Redis again; `/readyz`
/// first, so no write's event is lost meanwhile). Returns that event.
async fn restarted_empty(redis: &mut PrivateRedis, app: &mut TestApp) -> Value {
    redis.restart().await;
    for _ in 0..100 {
        if app.get("/readyz").await.status() == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..20 {
        create(app).await;
        let passed = tokio::time::timeout(Duration::from_secs(1), app.product_events.recv()).await;
        if let Ok(Ok(event)) = passed {
            return serde_json::to_value(event).expect("JSON");
        }
    }
    panic!("no event after the restart reached the instance");
}

/// Subscribes to `products` with `request` merged in; returns the acknowledgement.
async fn subscribe_with(socket: &mut Socket, request: Value) -> Value {
    let mut message = json!({"type": "subscribe", "topics": ["products"]});
    for (key, value) in request.as_object().expect("an object") {
        message[key] = value.clone();
    }
    send(socket, message).await;
    let answer = next(socket).await;
    assert_eq!(answer["type"], "subscribed", "{answer}");
    answer
}

/// Asserts `resync`, then that the next write arrives live in the current epoch.
async fn resync_then_live(app: &TestApp, socket: &mut Socket, epoch: &Value) {
    assert_eq!(next(socket).await, json!({"type": "resync"}));
    create(app).await;
    let live = next(socket).await;
    assert_eq!(live["type"], "product.created", "{live}");
    assert_eq!(&live["epoch"], epoch, "{live}");
    nothing(socket).await;
}

#[actix_web::test]
async fn a_since_from_before_redis_restarted_empty_beyond_the_new_counter_answers_resync() {
    let mut redis = PrivateRedis::start_ready().await;
    let mut app = subscribed(spawn_app_from(private_settings(&redis)).await).await;
    let before = creations(&mut app, 5).await;
    let (old_epoch, since) = (before[4]["epoch"].clone(), before[4]["offset"].clone());

    let first = restarted_empty(&mut redis, &mut app).await;
    assert!(first["offset"].as_u64() < since.as_u64(), "{first}");

    // Without an epoch: the offset alone is beyond the new counter.
    let mut socket = connect(&app).await;
    subscribe_with(&mut socket, json!({"since": since})).await;
    resync_then_live(&app, &mut socket, &first["epoch"]).await;
    events(&mut app, 1).await;

    // With the old epoch.
    assert!(old_epoch.is_string(), "{}", before[4]);
    assert_ne!(first["epoch"], old_epoch, "a new history, a new epoch");
    let mut socket = connect(&app).await;
    subscribe_with(&mut socket, json!({"since": since, "epoch": old_epoch})).await;
    resync_then_live(&app, &mut socket, &first["epoch"]).await;
}

#[actix_web::test]
async fn an_old_epochs_since_answers_resync_even_once_the_new_counter_passed_it() {
    let mut redis = PrivateRedis::start_ready().await;
    let mut app = subscribed(spawn_app_from(private_settings(&redis)).await).await;
    let before = creations(&mut app, 2).await;
    let (old_epoch, since) = (before[1]["epoch"].clone(), before[1]["offset"].clone());

    let first = restarted_empty(&mut redis, &mut app).await;
    let now = creations(&mut app, 3).await;
    assert!(now[2]["offset"].as_u64() > since.as_u64(), "{}", now[2]);

    let mut socket = connect(&app).await;
    subscribe_with(&mut socket, json!({"since": since, "epoch": old_epoch})).await;
    resync_then_live(&app, &mut socket, &first["epoch"]).await;
}

#[actix_web::test]
async fn every_event_carries_the_same_epoch_beside_its_offset() {
    let mut app = subscribed(spawn_app().await).await;
    let mut socket = connect(&app).await;
    subscribe_with(&mut socket, json!({})).await;
    let created = create(&app).await;
    let path = format!("/api/products/{}", created["id"]);
    assert_eq!(
        app.put_json(&path, &json!({"stock": 1})).await.status(),
        200
    );
    assert_eq!(app.delete(&path).await.status(), 200);

    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = next(&mut socket).await;
        assert!(event["offset"].is_u64(), "{event}");
        let epoch = event["epoch"].as_str().expect("an epoch").to_string();
        assert!(!epoch.is_empty() && epoch.len() <= 64, "{event}");
        seen.push(epoch);
    }
    assert!(seen.iter().all(|epoch| *epoch == seen[0]), "{seen:?}");
    let passed = events(&mut app, 3).await;
    assert!(passed.iter().all(|e| e["epoch"] == seen[0].as_str()));
}

#[actix_web::test]
async fn a_since_in_the_current_epoch_replays_and_the_acknowledgement_names_the_position() {
    let mut app = subscribed(spawn_app().await).await;
    let made = creations(&mut app, 3).await;
    let epoch = made[2]["epoch"].clone();

    let mut socket = connect(&app).await;
    let since = made[0]["offset"].clone();
    let ack = subscribe_with(&mut socket, json!({"since": since, "epoch": epoch})).await;
    assert_eq!(ack["epoch"], epoch, "{ack}");
    assert_eq!(ack["offset"], made[2]["offset"], "{ack}");
    for event in &made[1..] {
        let replayed = next(&mut socket).await;
        assert_eq!(replayed["offset"], event["offset"], "{replayed}");
        assert_eq!(replayed["epoch"], epoch, "{replayed}");
    }
    nothing(&mut socket).await;
}

#[actix_web::test]
async fn an_epoch_that_is_not_a_string_too_long_or_without_since_is_refused() {
    let app = spawn_app().await;
    let mut socket = connect(&app).await;
    for bad in [
        json!({"type": "subscribe", "topics": ["products"], "since": 1, "epoch": 7}),
        json!({"type": "subscribe", "topics": ["products"], "since": 1, "epoch": "e".repeat(65)}),
        json!({"type": "subscribe", "topics": ["products"], "epoch": "abc"}),
    ] {
        send(&mut socket, bad.clone()).await;
        let answer = next(&mut socket).await;
        assert_eq!(answer["type"], "error", "{bad} → {answer}");
        assert_eq!(answer["code"], "bad_message", "{bad} → {answer}");
    }
    send(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(next(&mut socket).await, json!({"type": "pong"}));
}
