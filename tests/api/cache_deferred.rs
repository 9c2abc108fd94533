//! Invalidations deferred while Redis cannot be reached: L2 stays closed for what they
//! cover, and their replay drops this instance's L1 again.

use std::time::Duration;

use serde_json::{json, Value};

use crate::cache::{header, metrics, subscribed};
use crate::cache_races::l2_raw;
use crate::helpers::{spawn_app_with, TestApp};
use crate::private_redis::PrivateRedis;

/// One worker on a private Redis, with a breaker that stays open for 1.5 s.
async fn app_on_private_redis(l1_enabled: bool) -> (PrivateRedis, TestApp) {
    let redis = PrivateRedis::start_ready().await;
    let url = redis.url();
    let app = subscribed(
        spawn_app_with(|s| {
            s.server.workers = 1;
            s.cache.l1_enabled = l1_enabled;
            s.redis.url = secrecy::SecretString::from(url);
            s.redis.breaker_cooldown_ms = 1500;
        })
        .await,
    )
    .await;
    app.seed(1).await;
    (redis, app)
}

/// Reads product 1 cookie-less (no session to load from Redis): its body and `X-Cache`.
async fn read(app: &TestApp) -> (Value, String) {
    let response = app
        .token_client()
        .get(app.url("/api/products/1"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let tier = header(&response, "x-cache");
    (response.json().await.expect("json"), tier)
}

/// Stalls Redis long enough for reads to open the breaker. A write then cannot reach
/// Redis at all (nothing is sent while the breaker is open) and is deferred, though
/// Redis itself is fine again and still holds the old entry.
async fn open_the_breaker(redis: &PrivateRedis, app: &TestApp) {
    redis.pause(600).await;
    for _ in 0..100 {
        read(app).await;
        if metrics(app).await["cache"]["breaker"]["state"] == "open" {
            return;
        }
    }
    panic!("the breaker never opened");
}

async fn rename(app: &TestApp) {
    let response = app
        .token_client()
        .put(app.url("/api/products/1"))
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
}

#[actix_web::test]
async fn a_write_while_redis_is_unreachable_is_never_read_back_from_l2() {
    // No L1: every read goes to L2, the level a pending invalidation must keep closed.
    let (redis, app) = app_on_private_redis(false).await;
    read(&app).await;
    assert!(l2_raw(&app, "products:1").await.is_some());
    open_the_breaker(&redis, &app).await;
    rename(&app).await;

    // Through the open breaker, its closing, and the replay (retried every second).
    for _ in 0..300 {
        let (body, _) = read(&app).await;
        assert_eq!(body["data"]["name"], "Renamed", "the old value came back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let raw = l2_raw(&app, "products:1").await.unwrap_or_default();
    assert!(raw.is_empty() || raw.contains("Renamed"), "L2 holds: {raw}");
}

#[actix_web::test]
async fn the_replay_of_a_deferred_invalidation_drops_this_instances_l1() {
    let (redis, app) = app_on_private_redis(true).await;
    read(&app).await;
    open_the_breaker(&redis, &app).await;
    rename(&app).await;
    // Refilled from PostgreSQL while the invalidation waits: an L1 hit from now on.
    read(&app).await;
    assert_eq!(read(&app).await.1, "HIT-L1");

    // The replay drops it (bounded: 300 reads 10 ms apart, about 3 s).
    let mut tier = String::new();
    for _ in 0..300 {
        let (body, t) = read(&app).await;
        assert_eq!(body["data"]["name"], "Renamed");
        tier = t;
        if tier != "HIT-L1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_ne!(tier, "HIT-L1", "the replay left this instance's L1 alone");
}
