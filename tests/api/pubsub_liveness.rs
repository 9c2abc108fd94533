//! Liveness of the invalidation bus (issue 7, item 5): an instance whose subscriber
//! connection silently stops carrying anything (a frozen TCP relay between it and
//! Redis, nothing closed) notices within its PING interval and timeout, clears its L1,
//! and receives events again once the path is back.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::cache::{header, metrics, subscribed};
use crate::helpers::{new_client, spawn_app_from, spawn_app_with, TestApp};
use crate::relay::Relay;

const PING_INTERVAL_MS: u64 = 200;
const PING_TIMEOUT_MS: u64 = 200;
/// Detection takes at most one interval plus one timeout; the rest is slack for a busy
/// test machine (a deadline, not a speed measurement).
const NOTICE_WITHIN: Duration = Duration::from_millis(PING_INTERVAL_MS + PING_TIMEOUT_MS + 1000);

/// `host:port` of the Redis the tests use.
fn redis_address(app: &TestApp) -> String {
    let url = url::Url::parse(app.settings.redis.url.expose_secret()).expect("redis url");
    format!(
        "{}:{}",
        url.host_str().expect("redis host"),
        url.port().unwrap_or(6379)
    )
}

/// Product 1 read without a session (sessions live in Redis, which the relayed instance
/// cannot reach while frozen): its `X-Cache` and stock.
async fn read(app: &TestApp) -> (String, i64) {
    let response = new_client()
        .get(app.url("/api/products/1"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), 200);
    let tier = header(&response, "x-cache");
    let body: Value = response.json().await.expect("json");
    (tier, body["data"]["stock"].as_i64().expect("stock"))
}

async fn set_stock(app: &TestApp, stock: i64) {
    let response = app
        .token_client()
        .put(app.url("/api/products/1"))
        .json(&json!({ "stock": stock }))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), 200);
}

async fn clears(app: &TestApp) -> u64 {
    metrics(app).await["cache"]["l1"]["clears"]
        .as_u64()
        .expect("clears")
}

/// Reads product 1 until its stock is `stock`, for at most `within`; true if it was.
async fn sees_stock(app: &TestApp, stock: i64, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if read(app).await.1 == stock {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn a_silently_dead_subscription_is_noticed_l1_cleared_and_events_flow_again() {
    let direct = subscribed(
        spawn_app_with(|s| {
            s.server.workers = 1;
            s.redis.pubsub_ping_interval_ms = PING_INTERVAL_MS;
            s.redis.pubsub_ping_timeout_ms = PING_TIMEOUT_MS;
        })
        .await,
    )
    .await;
    direct.seed(1).await;
    let relay = Relay::start(redis_address(&direct));
    let mut through_relay = direct.settings.clone();
    through_relay.redis.url = SecretString::from(relay.url());
    let relayed = subscribed(spawn_app_from(through_relay).await).await;
    read(&relayed).await;
    assert_eq!(read(&relayed).await.0, "HIT-L1", "product 1 in L1");
    let clears_before = clears(&relayed).await;

    relay.freeze();
    set_stock(&direct, 7).await;

    assert!(
        sees_stock(&relayed, 7, NOTICE_WITHIN).await,
        "the relayed instance noticed its dead subscription and dropped its L1"
    );
    assert!(clears(&relayed).await > clears_before);

    relay.thaw();
    let deadline = Instant::now() + Duration::from_secs(5);
    // Lost, then subscribed again: two clears.
    while clears(&relayed).await < clears_before + 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        clears(&relayed).await >= clears_before + 2,
        "subscribed again"
    );
    read(&relayed).await;
    assert_eq!(read(&relayed).await.0, "HIT-L1", "product 1 back in L1");
    let received = metrics(&relayed).await["cache"]["invalidationsReceived"].clone();
    set_stock(&direct, 8).await;
    assert!(
        sees_stock(&relayed, 8, NOTICE_WITHIN).await,
        "the next event reached the relayed instance"
    );
    let now_received = metrics(&relayed).await["cache"]["invalidationsReceived"].clone();
    assert_ne!(now_received, received, "by an event, not a clear");
}

/// `cache.invalidationsReceived` and `cache.l1.clears`.
async fn received_and_clears(app: &TestApp) -> (u64, u64) {
    let m = metrics(app).await;
    let received = m["cache"]["invalidationsReceived"].as_u64();
    (
        received.expect("received"),
        m["cache"]["l1"]["clears"].as_u64().expect("clears"),
    )
}

/// Publishes an event as another instance `origin` would, straight to Redis.
async fn publish_as(app: &TestApp, origin: &str, seq: u64) {
    let client = redis::Client::open(app.settings.redis.url.expose_secret()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let event = json!({"origin": origin, "seq": seq, "targets": []}).to_string();
    let _: i64 = redis::cmd("PUBLISH")
        .arg(format!("{}cache:invalidate", app.settings.redis.prefix))
        .arg(event)
        .query_async(&mut conn)
        .await
        .expect("published");
}

/// Waits (bounded) until `n` more events than `before` were received.
async fn after_events(app: &TestApp, before: u64, n: u64) -> (u64, u64) {
    for _ in 0..250 {
        let now = received_and_clears(app).await;
        if now.0 >= before + n {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("events did not arrive");
}

#[actix_web::test]
async fn a_gap_in_an_origins_sequence_clears_l1() {
    let app = subscribed(spawn_app_with(|s| s.server.workers = 1).await).await;
    let (received, clears) = received_and_clears(&app).await;

    publish_as(&app, "other-instance", 1).await;
    publish_as(&app, "other-instance", 2).await;
    publish_as(&app, "third-instance", 7).await;
    let in_order = after_events(&app, received, 3).await;
    assert_eq!(in_order.1, clears, "in order, and a first event: no clear");

    publish_as(&app, "other-instance", 4).await;
    let gap = after_events(&app, received, 4).await;
    assert_eq!(gap.1, clears + 1, "seq 3 of other-instance was missed");
}
