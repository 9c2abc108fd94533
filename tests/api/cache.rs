//! The read path: X-Cache sequences, ETag/304, list normalisation, stale, and exactly
//! which entries each write invalidates. One worker, so one L1 answers every request.

use std::time::Duration;

use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};

pub async fn one_worker_app() -> TestApp {
    subscribed(spawn_app_with(|s| s.server.workers = 1).await).await
}

/// Waits (bounded) until the instance has subscribed to invalidation events. Its first
/// subscription clears L1 (events before it may have been missed), which would turn an
/// expected HIT-L1 into a miss if it landed mid-test.
pub async fn subscribed(app: TestApp) -> TestApp {
    for _ in 0..200 {
        if metrics(&app).await["cache"]["l1"]["clears"].as_u64() >= Some(1) {
            return app;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the instance never subscribed to invalidation events");
}

/// GETs a path and returns its `X-Cache`.
pub async fn x_cache(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    header(&response, "x-cache")
}

pub fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Reads the cache metrics with the admin API token (no session needed).
pub async fn metrics(app: &TestApp) -> Value {
    let response = app
        .token_client()
        .get(app.url("/admin/metrics/cache"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

#[actix_web::test]
async fn a_product_is_a_miss_then_an_l1_hit_with_a_strong_etag() {
    let app = one_worker_app().await;
    app.seed(3).await;

    let first = app.get("/api/products/1").await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-cache"), "MISS");
    assert_eq!(header(&first, CACHE_CONTROL.as_str()), "no-cache");
    let etag = header(&first, ETAG.as_str());
    assert_eq!(etag, "\"p1-v1\"");
    let first_body: Value = first.json().await.expect("json");

    let second = app.get("/api/products/1").await;
    assert_eq!(header(&second, "x-cache"), "HIT-L1");
    assert_eq!(header(&second, ETAG.as_str()), etag);
    assert_eq!(
        header(&second, "content-type"),
        "application/json",
        "the cached body keeps its type"
    );
    assert_eq!(second.json::<Value>().await.expect("json"), first_body);
}

#[actix_web::test]
async fn if_none_match_is_a_304_without_body_from_the_cache() {
    let app = one_worker_app().await;
    app.seed(2).await;
    let etag = header(&app.get("/api/products/2").await, ETAG.as_str());

    for candidate in [etag.clone(), format!("W/{etag}"), format!("\"x\", {etag}")] {
        let response = app
            .client
            .get(app.url("/api/products/2"))
            .header(IF_NONE_MATCH, candidate.as_str())
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 304, "{candidate}");
        assert_eq!(header(&response, "x-cache"), "HIT-L1");
        assert_eq!(header(&response, ETAG.as_str()), etag);
        assert!(response.bytes().await.expect("body").is_empty());
    }

    let changed = app
        .client
        .get(app.url("/api/products/2"))
        .header(IF_NONE_MATCH, "\"p2-v0\"")
        .send()
        .await
        .expect("sent");
    assert_eq!(changed.status(), 200);
}

#[actix_web::test]
async fn equivalent_list_queries_share_one_entry() {
    let app = one_worker_app().await;
    app.seed(40).await;

    let first = app.get("/api/products?category=Books&minPrice=1").await;
    assert_eq!(header(&first, "x-cache"), "MISS");
    let etag = header(&first, ETAG.as_str());
    assert!(etag.starts_with("\"l"), "{etag}");

    let same = app
        .get("/api/products?minPrice=1.00&category=Books&page=1&limit=50&_=9")
        .await;
    assert_eq!(header(&same, "x-cache"), "HIT-L1");
    assert_eq!(header(&same, ETAG.as_str()), etag);
    assert_eq!(
        x_cache(&app, "/api/products?category=Books&minPrice=2").await,
        "MISS"
    );
}

#[actix_web::test]
async fn an_expired_entry_is_served_stale_while_one_refresh_runs() {
    let app = subscribed(
        spawn_app_with(|s| {
            s.server.workers = 1;
            s.cache.item_ttl_secs = 1;
            s.cache.l1_ttl_secs = 1;
            s.cache.jitter_percent = 0;
            s.cache.max_stale_secs = 60;
        })
        .await,
    )
    .await;
    app.seed(1).await;
    assert_eq!(x_cache(&app, "/api/products/1").await, "MISS");
    tokio::time::sleep(Duration::from_millis(1200)).await;

    assert_eq!(x_cache(&app, "/api/products/1").await, "STALE");
    // The refresh lands in the background: bounded wait for the fresh entry.
    let mut tier = String::new();
    for _ in 0..100 {
        tier = x_cache(&app, "/api/products/1").await;
        if tier == "HIT-L1" {
            break;
        }
        assert_eq!(tier, "STALE");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(tier, "HIT-L1");
    let m = metrics(&app).await;
    assert_eq!(m["cache"]["dbQueries"], 2, "one load and one refresh: {m}");
}

/// Fills L1 with the entries the write tests look at.
async fn read_all(app: &TestApp, paths: &[&str]) {
    for path in paths {
        x_cache(app, path).await;
        assert_eq!(x_cache(app, path).await, "HIT-L1", "{path}");
    }
}

const P1: &str = "/api/products/1"; // Electronics
const P2: &str = "/api/products/2"; // Books
const ELECTRONICS: &str = "/api/products?category=Electronics";
const BOOKS: &str = "/api/products?category=Books";
const GARDEN: &str = "/api/products?category=Garden";
const ALL: &str = "/api/products";
const CHEAP: &str = "/api/products?maxPrice=1000";

#[actix_web::test]
async fn an_update_moving_category_invalidates_both_categories_and_unfiltered_lists() {
    let app = one_worker_app().await;
    app.seed(4).await;
    read_all(&app, &[P1, P2, ELECTRONICS, BOOKS, GARDEN, ALL, CHEAP]).await;

    let response = app
        .put_json(P1, &json!({"category": "Garden", "price": 1.5}))
        .await;
    assert_eq!(response.status(), 200);

    for stale in [P1, ELECTRONICS, GARDEN, ALL, CHEAP] {
        assert_eq!(x_cache(&app, stale).await, "MISS", "{stale}");
    }
    for kept in [P2, BOOKS] {
        assert_eq!(x_cache(&app, kept).await, "HIT-L1", "{kept}");
    }
    let p1: Value = app.get(P1).await.json().await.expect("json");
    assert_eq!(p1["data"]["category"], "Garden");
    assert_eq!(p1["data"]["version"], 2);
    let garden: Value = app.get(GARDEN).await.json().await.expect("json");
    assert_eq!(garden["total"], 1);
    assert_eq!(x_cache(&app, P1).await, "HIT-L1", "then it hits again");
}

#[actix_web::test]
async fn delete_and_create_invalidate_their_category_and_unfiltered_lists() {
    let app = one_worker_app().await;
    app.seed(4).await;
    read_all(&app, &[P1, P2, ELECTRONICS, BOOKS, ALL]).await;

    assert_eq!(app.delete(P2).await.status(), 200);
    assert_eq!(app.get(P2).await.status(), 404);
    for stale in [BOOKS, ALL] {
        assert_eq!(x_cache(&app, stale).await, "MISS", "{stale}");
    }
    for kept in [P1, ELECTRONICS] {
        assert_eq!(x_cache(&app, kept).await, "HIT-L1", "{kept}");
    }

    read_all(&app, &[BOOKS, ALL]).await;
    app.create_product(json!({"name": "Novel", "category": "Books", "price": 9.5}))
        .await;
    for stale in [BOOKS, ALL] {
        assert_eq!(x_cache(&app, stale).await, "MISS", "{stale}");
    }
    let books: Value = app.get(BOOKS).await.json().await.expect("json");
    assert!(books["data"]
        .as_array()
        .expect("array")
        .iter()
        .any(|p| p["name"] == "Novel"));
    for kept in [P1, ELECTRONICS] {
        assert_eq!(x_cache(&app, kept).await, "HIT-L1", "{kept}");
    }
}

#[actix_web::test]
async fn deactivating_a_product_hides_it_at_once() {
    let app = one_worker_app().await;
    app.seed(2).await;
    read_all(&app, &[P1, ELECTRONICS]).await;
    assert_eq!(
        app.put_json(P1, &json!({"isActive": false})).await.status(),
        200
    );
    // Hidden from everyone but admins (app.client is one): ask as an anonymous client.
    let anonymous = app.anonymous_client();
    let get = |path: &str| anonymous.get(app.url(path)).send();
    assert_eq!(get(P1).await.expect("sent").status(), 404);
    let list: Value = get(ELECTRONICS)
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(list["total"], 0);
}

#[actix_web::test]
async fn each_level_can_be_switched_off_for_measuring() {
    let no_l1 = subscribed(
        spawn_app_with(|s| {
            s.server.workers = 1;
            s.cache.l1_enabled = false;
        })
        .await,
    )
    .await;
    no_l1.seed(1).await;
    assert_eq!(x_cache(&no_l1, P1).await, "MISS");
    assert_eq!(x_cache(&no_l1, P1).await, "HIT-L2");
    assert_eq!(x_cache(&no_l1, P1).await, "HIT-L2");

    let mut settings = no_l1.settings.clone();
    settings.cache.l2_enabled = false;
    let neither = subscribed(crate::helpers::spawn_app_from(settings).await).await;
    for _ in 0..3 {
        assert_eq!(x_cache(&neither, P1).await, "MISS");
    }
    assert_eq!(metrics(&neither).await["cache"]["dbQueries"], 3);
}
