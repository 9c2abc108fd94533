//! Product events on `{prefix}product:updates`: exactly one per successful write, after
//! it, carrying the product as the API returns it and an offset shared by every instance;
//! nothing for a failed write; and each instance's subscriber forwards them in-process.

use std::time::Duration;

use catalog_cache::pubsub::{history_after, History};
use catalog_cache::redis_client::RedisClient;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::cache::subscribed;
use crate::helpers::{assert_error, spawn_app, spawn_app_from, spawn_app_with, TestApp};
use crate::private_redis::PrivateRedis;

type Messages = std::pin::Pin<Box<dyn futures_util::Stream<Item = redis::Msg> + Send>>;

fn lamp() -> Value {
    json!({"name": "Desk Lamp", "description": "Bright", "category": "Home", "price": 19.99, "stock": 5})
}

/// A plain Redis subscriber of the app's product channel, as another service would be.
async fn listen(app: &TestApp) -> Messages {
    let url = secrecy::ExposeSecret::expose_secret(&app.settings.redis.url).to_string();
    let client = redis::Client::open(url).expect("client");
    let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
    let channel = format!("{}product:updates", app.settings.redis.prefix);
    pubsub.subscribe(channel).await.expect("subscribed");
    Box::pin(pubsub.into_on_message())
}

/// The next event on the channel, within a second.
async fn next_event(messages: &mut Messages) -> Value {
    let message = tokio::time::timeout(Duration::from_secs(1), messages.next())
        .await
        .expect("an event within 1 s")
        .expect("the subscription is open");
    serde_json::from_slice(message.get_payload_bytes()).expect("the event is JSON")
}

/// Asserts that no event arrives for a moment.
async fn no_event(messages: &mut Messages) {
    let next = tokio::time::timeout(Duration::from_millis(300), messages.next()).await;
    assert!(next.is_err(), "unexpected event {:?}", next.ok().flatten());
}

/// Checks the envelope and returns the event's offset.
fn envelope(event: &Value, kind: &str) -> u64 {
    assert_eq!(event["type"], kind, "{event}");
    assert_eq!(event["v"], 1, "{event}");
    let ts = event["ts"].as_str().expect("ts is a string");
    chrono::DateTime::parse_from_rfc3339(ts).expect("ts is RFC 3339");
    event["offset"].as_u64().expect("offset is an integer")
}

#[actix_web::test]
async fn created_updated_and_deleted_publish_one_event_each_with_the_api_product() {
    let app = spawn_app().await;
    let mut messages = listen(&app).await;

    let created = app.create_product(lamp()).await;
    let event = next_event(&mut messages).await;
    assert_eq!(envelope(&event, "product.created"), 1);
    assert_eq!(event["product"], created);

    let path = format!("/api/products/{}", created["id"]);
    let response = app.put_json(&path, &json!({"category": "Office"})).await;
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.expect("json");
    let event = next_event(&mut messages).await;
    assert_eq!(envelope(&event, "product.updated"), 2);
    assert_eq!(event["product"], updated["data"]);
    assert_eq!(event["product"]["category"], "Office");

    assert_eq!(app.delete(&path).await.status(), 200);
    let event = next_event(&mut messages).await;
    assert_eq!(envelope(&event, "product.deleted"), 3);
    assert_eq!(event["id"], created["id"]);
    assert!(event.get("product").is_none());
    no_event(&mut messages).await;
}

#[actix_web::test]
async fn a_failed_write_publishes_nothing() {
    let app = spawn_app().await;
    let mut messages = listen(&app).await;

    let missing = app
        .put_json("/api/products/999", &json!({"stock": 1}))
        .await;
    assert_error(missing, 404, "not_found").await;
    assert_error(app.delete("/api/products/999").await, 404, "not_found").await;
    let invalid = app.post_json("/api/products", &json!({"name": ""})).await;
    assert_error(invalid, 422, "validation_failed").await;
    let created = app.create_product(lamp()).await;
    let path = format!("/api/products/{}", created["id"]);
    let invalid = app.put_json(&path, &json!({"price": -1})).await;
    assert_error(invalid, 422, "validation_failed").await;

    // Only the one successful write, with the first offset: the failures took none.
    let event = next_event(&mut messages).await;
    assert_eq!(envelope(&event, "product.created"), 1);
    no_event(&mut messages).await;
}

#[actix_web::test]
async fn offsets_increase_across_two_instances_and_both_subscribers_forward_every_event() {
    let mut a = subscribed(spawn_app().await).await;
    let mut b = subscribed(spawn_app_from(a.settings.clone()).await).await;
    let mut messages = listen(&a).await;

    let first = a.create_product(lamp()).await;
    let second = b.create_product(lamp()).await;
    let path = format!("/api/products/{}", first["id"]);
    assert_eq!(b.put_json(&path, &json!({"stock": 9})).await.status(), 200);
    assert_eq!(a.delete(&path).await.status(), 200);

    let mut on_channel = Vec::new();
    for _ in 0..4 {
        on_channel.push(next_event(&mut messages).await);
    }
    no_event(&mut messages).await;
    let offsets: Vec<u64> = on_channel
        .iter()
        .map(|e| e["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [1, 2, 3, 4]);
    assert_eq!(on_channel[1]["product"], second);

    // Each instance's subscriber forwards the same events, with the same offsets.
    for app in [&mut a, &mut b] {
        for expected in &on_channel {
            let event = tokio::time::timeout(Duration::from_secs(1), app.product_events.recv())
                .await
                .expect("forwarded within 1 s")
                .expect("the broadcast is open");
            assert_eq!(&serde_json::to_value(&event).unwrap(), expected);
        }
        assert!(app.product_events.try_recv().is_err(), "no extra event");
    }
}

#[actix_web::test]
async fn a_write_succeeds_while_redis_is_unreachable_and_a_gap_marker_follows_recovery() {
    let mut redis = PrivateRedis::start_ready().await;
    let url = redis.url();
    let app = spawn_app_with(|s| s.redis.url = secrecy::SecretString::from(url)).await;
    redis.kill();

    let response = app
        .token_client()
        .post(app.url("/api/products"))
        .json(&lamp())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["name"], "Desk Lamp");
    let metrics: Value = app
        .token_client()
        .get(app.url("/admin/metrics/cache"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(metrics["productEvents"]["publishFailures"], 1);

    // Once Redis answers again, the lost event is announced: it took no offset, so the
    // marker is what tells consumers (and replays) to refetch. Bounded: 100 polls.
    redis.restart().await;
    let client = RedisClient::connect(&app.settings.redis)
        .await
        .expect("redis");
    for _ in 0..100 {
        if let Ok(History::Events(events)) = history_after(&client, 0).await {
            if let [event] = events.as_slice() {
                let json = serde_json::to_value(event).unwrap();
                assert_eq!(envelope(&json, "product.gap"), 1);
                assert_eq!(json["missed"], 1);
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no product.gap marker within 10 s of Redis coming back");
}
