//! Several instances sharing PostgreSQL and Redis; single-flight; warming.

use std::time::Duration;

use serde_json::{json, Value};

use crate::cache::{header, metrics, one_worker_app, subscribed, x_cache};
use crate::helpers::{spawn_app_from, spawn_app_with};

#[actix_web::test]
async fn an_update_through_a_is_not_served_stale_by_b() {
    let a = one_worker_app().await;
    a.seed(2).await;
    let b = subscribed(spawn_app_from(a.settings.clone()).await).await;
    x_cache(&b, "/api/products/1").await;
    assert_eq!(x_cache(&b, "/api/products/1").await, "HIT-L1");

    let response = a
        .put_json("/api/products/1", &json!({"name": "Renamed"}))
        .await;
    assert_eq!(response.status(), 200);

    // Bounded: 20 polls 5 ms apart (about 100 ms of waiting).
    let mut seen_new = false;
    for _ in 0..20 {
        let body: Value = b.get("/api/products/1").await.json().await.expect("json");
        if body["data"]["name"] == "Renamed" {
            seen_new = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(seen_new, "B still serves the old name");
    for _ in 0..10 {
        let body: Value = b.get("/api/products/1").await.json().await.expect("json");
        assert_eq!(body["data"]["name"], "Renamed", "never the old value again");
    }
    let m = metrics(&b).await;
    assert!(
        m["cache"]["invalidationsReceived"].as_u64().expect("n") >= 1,
        "{m}"
    );
}

#[actix_web::test]
async fn after_an_invalidation_the_first_read_anywhere_is_a_miss_then_b_hits_l2() {
    let a = one_worker_app().await;
    a.seed(2).await;
    let b = subscribed(spawn_app_from(a.settings.clone()).await).await;
    x_cache(&a, "/api/products/2").await;
    assert_eq!(x_cache(&b, "/api/products/2").await, "HIT-L2");

    let response = a
        .post_json("/admin/cache/invalidate", &json!({"key": "products:2"}))
        .await;
    assert_eq!(response.status(), 200);
    // B's L1 drops the entry when the event arrives; bounded wait for that.
    let mut tier = String::new();
    for _ in 0..200 {
        tier = x_cache(&b, "/api/products/2").await;
        if tier != "HIT-L1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(tier, "MISS");
    assert_eq!(x_cache(&a, "/api/products/2").await, "HIT-L2");
}

#[actix_web::test]
async fn two_hundred_concurrent_reads_of_a_cold_key_query_the_database_once() {
    let app = spawn_app_with(|s| s.database.pool_max_size = 4).await;
    app.seed(5).await;

    // Cookie-less: 200 concurrent session loads from Redis would test the session
    // store's timeout under load, not single-flight.
    let client = app.anonymous_client();
    let reads = (0..200).map(|_| client.get(app.url("/api/products/5")).send());
    let responses: Vec<reqwest::Response> = futures_util::future::join_all(reads)
        .await
        .into_iter()
        .map(|r| r.expect("sent"))
        .collect();
    for response in &responses {
        assert_eq!(response.status(), 200);
        assert_eq!(header(response, "etag"), "\"p5-v1\"");
    }

    let m = metrics(&app).await;
    assert_eq!(m["cache"]["dbQueries"], 1, "{m}");
    let l1 = &m["cache"]["l1"];
    let answered = l1["hits"].as_u64().unwrap_or(0) + l1["misses"].as_u64().unwrap_or(0);
    assert_eq!(answered, 200, "{m}");
    println!("coalesced: {}", m["cache"]["coalesced"]);
}

#[actix_web::test]
async fn warming_preloads_the_most_popular_products() {
    let a = one_worker_app().await;
    a.seed(30).await;
    for _ in 0..3 {
        x_cache(&a, "/api/products/17").await;
    }
    // Popularity is flushed to Redis about once a second, off the response path.
    let redis = redis::Client::open(secrecy::ExposeSecret::expose_secret(&a.settings.redis.url))
        .expect("client");
    let mut conn = redis
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let key = format!("{}products:popularity", a.settings.redis.prefix);
    let mut score: Option<f64> = None;
    for _ in 0..50 {
        score = redis::cmd("ZSCORE")
            .arg(&key)
            .arg(17)
            .query_async(&mut conn)
            .await
            .expect("zscore");
        // The three reads may land in two flushes: wait for all of them.
        if score == Some(3.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(score, Some(3.0));

    let mut settings = a.settings.clone();
    settings.cache.warm_count = 5;
    let b = subscribed(spawn_app_from(settings).await).await;
    let mut entries = 0;
    for _ in 0..50 {
        entries = metrics(&b).await["cache"]["l1"]["entries"]
            .as_u64()
            .unwrap_or(0);
        if entries >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(entries, 1, "only product 17 has been read so far");
    assert_eq!(x_cache(&b, "/api/products/17").await, "HIT-L1");
}

#[actix_web::test]
async fn warming_falls_back_to_recently_updated_products() {
    let a = one_worker_app().await;
    a.seed(30).await;
    let mut settings = a.settings.clone();
    settings.cache.warm_count = 5;
    let b = subscribed(spawn_app_from(settings).await).await;
    let mut entries = 0;
    for _ in 0..50 {
        entries = metrics(&b).await["cache"]["l1"]["entries"]
            .as_u64()
            .unwrap_or(0);
        if entries >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(entries, 5);
    // Seeded rows are updated in id order: the newest are 26..=30.
    assert_eq!(x_cache(&b, "/api/products/30").await, "HIT-L1");
}
