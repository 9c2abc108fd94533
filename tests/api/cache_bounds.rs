//! Bounded resources: a hung database query cannot pin a read (statement timeout and
//! load deadline), client-chosen list queries cannot grow a tag without bound, and an
//! invalidation that had to be deferred says so.

use std::time::Duration;

use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use serde_json::{json, Value};

use crate::cache::{header, metrics, one_worker_app, subscribed};
use crate::helpers::{spawn_app_with, TestApp};
use crate::private_redis::PrivateRedis;

/// A client that gives up (failing the test) instead of hanging with the server.
fn patient_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Holds `products` locked from another connection: every read of it waits.
async fn lock_products(app: &TestApp) -> AsyncPgConnection {
    let mut conn = app.db_connection().await;
    conn.batch_execute("BEGIN; LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("locked");
    conn
}

async fn statement_timeout_app(l1_enabled: bool) -> TestApp {
    subscribed(
        spawn_app_with(|s| {
            s.server.workers = 1;
            s.database.statement_timeout_ms = 300;
            s.cache.l1_enabled = l1_enabled;
            s.cache.item_ttl_secs = 1;
            s.cache.jitter_percent = 0;
        })
        .await,
    )
    .await
}

#[actix_web::test]
async fn a_hung_query_answers_503_with_retry_after() {
    let app = statement_timeout_app(true).await;
    app.seed(1).await;
    let mut lock = lock_products(&app).await;

    let response = patient_client()
        .get(app.url("/api/products/1"))
        .send()
        .await
        .expect("answered before the client gave up");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "service_unavailable");

    lock.batch_execute("ROLLBACK").await.expect("unlocked");
    assert_eq!(
        patient_client()
            .get(app.url("/api/products/1"))
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );
}

#[actix_web::test]
async fn a_hung_refresh_does_not_pin_the_flight_of_a_stale_key() {
    // No L1: every read reaches the loader, where the refresh flight runs.
    let app = statement_timeout_app(false).await;
    app.seed(1).await;
    assert_eq!(
        header(
            &patient_client()
                .get(app.url("/api/products/1"))
                .send()
                .await
                .expect("sent"),
            "x-cache"
        ),
        "MISS"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut lock = lock_products(&app).await;

    let client = patient_client();
    for _ in 0..3 {
        // The first serves the stale L2 entry and starts a refresh that hangs on the
        // lock; the next ones meet that flight and must not wait for it forever.
        let response = client
            .get(app.url("/api/products/1"))
            .send()
            .await
            .expect("answered before the client gave up");
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-cache"), "STALE");
    }
    lock.batch_execute("ROLLBACK").await.expect("unlocked");
}

#[actix_web::test]
async fn thousands_of_distinct_list_queries_leave_no_growing_tag_set() {
    let app = one_worker_app().await;
    app.seed(5).await;
    let paths: Vec<String> = (0..2000)
        .map(|i| format!("/api/products?minPrice={}&limit={}", i % 500, 1 + i / 500))
        .collect();
    // Cookie-less (the admin token), so the reads do not also load a session.
    let client = app.token_client();
    let get = |path: &str| client.get(app.url(path)).send();
    for chunk in paths.chunks(10) {
        let reads = chunk.iter().map(|p| get(p));
        for response in futures_util::future::join_all(reads).await {
            let response = response.expect("sent");
            let status = response.status();
            assert_eq!(status, 200, "{}", response.text().await.unwrap_or_default());
        }
    }
    let mut conn = app.redis_connection().await;
    let members: u64 = redis::cmd("SCARD")
        .arg(format!(
            "{}tag:products:list:any",
            app.settings.redis.prefix
        ))
        .query_async(&mut conn)
        .await
        .expect("scard");
    assert!(
        members <= 1000,
        "tag:products:list:any has {members} members"
    );

    let response = app
        .post_json(
            "/admin/cache/invalidate",
            &json!({"tag": "products:list:any"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["success"], true, "{body}");
    assert!(body.get("deferred").is_none(), "{body}");
    for path in paths.iter().step_by(97) {
        let response = get(path).await.expect("sent");
        assert_eq!(header(&response, "x-cache"), "MISS", "{path}");
    }
}

#[actix_web::test]
async fn an_invalidation_redis_could_not_take_answers_202_deferred() {
    let redis = PrivateRedis::start_ready().await;
    let url = redis.url();
    let app = subscribed(
        spawn_app_with(|s| {
            s.server.workers = 1;
            s.redis.url = secrecy::SecretString::from(url);
        })
        .await,
    )
    .await;
    redis.pause(1000).await;

    let response = app
        .token_client()
        .post(app.url("/admin/cache/invalidate"))
        .json(&json!({"key": "products:1"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["deferred"], true, "{body}");
    assert!(body["message"].is_string(), "{body}");
}

#[actix_web::test]
async fn a_lock_let_go_without_a_fill_does_not_hold_readers_for_its_lifetime() {
    // A lock lifetime far past the client's patience: a reader that waited it out would
    // fail the test.
    let app = subscribed(
        spawn_app_with(|s| {
            s.server.workers = 1;
            s.cache.lock_ms = 60_000;
        })
        .await,
    )
    .await;
    app.seed(1).await;
    let lock = format!("{}lock:products:1", app.settings.redis.prefix);
    let mut redis = app.redis_connection().await;
    // Another flight holds the key's lock (another instance, or a refresh of a stale
    // entry on this one) ...
    let _: () = redis::cmd("SET")
        .arg(&lock)
        .arg(1)
        .arg("PX")
        .arg(60_000)
        .query_async(&mut redis)
        .await
        .expect("lock taken");
    let read = tokio::spawn(patient_client().get(app.url("/api/products/1")).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!read.is_finished(), "the read waits for the holder's fill");
    // ... and lets go without filling L2, as one does when a write's invalidation
    // refuses its fill.
    let _: () = redis::cmd("DEL")
        .arg(&lock)
        .query_async(&mut redis)
        .await
        .expect("lock let go");

    let response = read
        .await
        .expect("joined")
        .expect("answered before the client gave up");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-cache"), "MISS");
}

/// Counting L2 entries is a SCAN, which walks the Redis server's whole keyspace (every
/// prefix, the limiter's keys included). The snapshot every instance publishes each
/// second reuses a recent count rather than walking it every second; an admin asking for
/// the metrics still gets a fresh one.
#[actix_web::test]
async fn the_snapshot_published_each_second_does_not_scan_the_keyspace_each_second() {
    let redis = PrivateRedis::start_ready().await;
    let url = redis.url();
    let app = spawn_app_with(|s| {
        s.server.workers = 1;
        s.redis.url = secrecy::SecretString::from(url);
    })
    .await;
    // The first publish, at start-up, counts.
    let mut before = redis.scans().await;
    for _ in 0..100 {
        if before >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        before = redis.scans().await;
    }
    assert!(before >= 1, "the first snapshot counted L2 entries");
    tokio::time::sleep(Duration::from_millis(4000)).await;
    assert_eq!(
        redis.scans().await,
        before,
        "four more snapshots, no more SCAN"
    );

    metrics(&app).await;
    assert!(
        redis.scans().await > before,
        "the admin's request counted afresh"
    );
}
