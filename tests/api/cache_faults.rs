//! Faults: a private redis-server killed under load (never the shared one), Redis down
//! at start-up, PostgreSQL gone while entries are stale.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::cache::{metrics, subscribed, x_cache};
use crate::helpers::{spawn_app_from, spawn_app_with, TestApp};
use crate::private_redis::{free_port, PrivateRedis};

async fn breaker_state(app: &TestApp) -> String {
    metrics(app).await["cache"]["breaker"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Requests without cookies, as admin through the API token: they need no session, so
/// they keep working while Redis (where sessions live) is down.
async fn get_without_session(app: &TestApp, path: &str) -> reqwest::Response {
    app.token_client()
        .get(app.url(path))
        .send()
        .await
        .expect("request sent")
}

/// Reads products 1..=n once each, asserting every answer is a 200.
async fn read_round(app: &TestApp, n: i64) {
    for id in 1..=n {
        let response = get_without_session(app, &format!("/api/products/{id}")).await;
        assert_eq!(response.status(), 200, "product {id}");
    }
}

/// The breaker's state, read while Redis is down. With sessions kept in Redis behind
/// an admin guard this read needs a session-free way in; see the report.
async fn breaker_state_during_outage(app: &TestApp) -> String {
    let m: serde_json::Value = get_without_session(app, "/admin/metrics/cache")
        .await
        .json()
        .await
        .expect("json");
    m["cache"]["breaker"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[actix_web::test]
async fn killing_redis_under_load_opens_the_breaker_and_its_return_closes_it() {
    let mut redis = PrivateRedis::start();
    redis.ready().await;
    let url = redis.url();
    let app = subscribed(
        spawn_app_with(|s| {
            s.server.workers = 1;
            s.redis.url = SecretString::from(url);
            s.redis.breaker_cooldown_ms = 200;
        })
        .await,
    )
    .await;
    app.seed(20).await;
    read_round(&app, 20).await;
    let before = metrics(&app).await;
    assert_eq!(before["cache"]["breaker"]["state"], "closed");
    let clears_before = before["cache"]["l1"]["clears"].as_u64().expect("clears");

    redis.kill();
    let mut state = String::new();
    for _ in 0..50 {
        read_round(&app, 20).await;
        state = breaker_state_during_outage(&app).await;
        if state == "open" {
            break;
        }
    }
    assert_eq!(state, "open");
    read_round(&app, 20).await;

    let _redis = PrivateRedis::start_on(redis.port);
    _redis.ready().await;
    for _ in 0..100 {
        read_round(&app, 20).await;
        state = breaker_state(&app).await;
        if state == "closed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state, "closed");
    let mut clears = 0;
    for _ in 0..100 {
        let m = metrics(&app).await;
        clears = m["cache"]["l1"]["clears"].as_u64().expect("clears");
        // Once on losing the subscription, once on getting it back.
        if clears >= clears_before + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(clears >= clears_before + 2, "L1 cleared after the gap");
    // Read with Redis back, so also through a session: it opened, and came back closed
    // through half-open (closed -> open -> half-open -> closed at least).
    let m = metrics(&app).await;
    let breaker = &m["cache"]["breaker"];
    assert!(breaker["opened"].as_u64().expect("opened") >= 1, "{m}");
    assert!(
        breaker["transitions"].as_u64().expect("transitions") >= 3,
        "{m}"
    );
}

/// One worker, products 1 and 2, and a Redis URL where nothing listens.
async fn one_worker_app_without_redis() -> TestApp {
    let nobody = format!("redis://127.0.0.1:{}", free_port());
    let app = spawn_app_with(|s| {
        s.server.workers = 1;
        s.redis.url = SecretString::from(nobody);
    })
    .await;
    app.seed(2).await;
    app
}

#[actix_web::test]
async fn the_service_starts_and_serves_with_redis_down() {
    let app = one_worker_app_without_redis().await;
    let tier = |r: reqwest::Response| {
        assert_eq!(r.status(), 200);
        crate::cache::header(&r, "x-cache")
    };
    assert_eq!(
        tier(get_without_session(&app, "/api/products/1").await),
        "MISS"
    );
    assert_eq!(
        tier(get_without_session(&app, "/api/products/1").await),
        "HIT-L1"
    );
    let m: serde_json::Value = get_without_session(&app, "/admin/metrics/cache")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(m["redis"]["connected"], false);
    assert_eq!(m["cache"]["breaker"]["state"], "open", "{m}");
    assert_eq!(m["cache"]["l2"]["entries"], serde_json::Value::Null);
}

#[actix_web::test]
async fn a_write_with_redis_down_still_invalidates_local_l1() {
    let app = one_worker_app_without_redis().await;
    x_cache(&app, "/api/products/1").await;
    assert_eq!(x_cache(&app, "/api/products/1").await, "HIT-L1");
    let response = app
        .token_client()
        .put(app.url("/api/products/1"))
        .json(&serde_json::json!({"stock": 1}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), 200);
    assert_eq!(x_cache(&app, "/api/products/1").await, "MISS");
}

#[actix_web::test]
async fn stale_entries_are_served_when_postgres_is_gone() {
    let a = subscribed(
        spawn_app_with(|s| {
            s.server.workers = 1;
            s.cache.item_ttl_secs = 1;
            s.cache.l1_ttl_secs = 1;
            s.cache.jitter_percent = 0;
            s.cache.max_stale_secs = 120;
            s.database.pool_timeout_ms = 300;
        })
        .await,
    )
    .await;
    a.seed(3).await;
    assert_eq!(x_cache(&a, "/api/products/1").await, "MISS");
    let b = spawn_app_from(a.settings.clone()).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;

    drop_database(a.settings.database.url.expose_secret()).await;

    assert_eq!(x_cache(&a, "/api/products/1").await, "STALE", "from L1");
    assert_eq!(x_cache(&b, "/api/products/1").await, "STALE", "from L2");
    assert_eq!(x_cache(&b, "/api/products/1").await, "STALE");
    let never_cached = b.get("/api/products/2").await;
    assert_eq!(never_cached.status(), 503);
}

/// Drops this test's own database (never another one), closing its connections.
async fn drop_database(url: &str) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut parsed = url::Url::parse(url).expect("database url");
    let name = parsed.path().trim_start_matches('/').to_string();
    assert!(name.starts_with("cc_test_"), "only a test database");
    parsed.set_path("/postgres");
    let mut conn = AsyncPgConnection::establish(parsed.as_str())
        .await
        .expect("server connection");
    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .expect("dropped");
}
