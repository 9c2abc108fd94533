//! Invalidation races, made deterministic with the cache's fill pause hook: a fill that
//! read the database before a write is held between its read and its L2 write while the
//! write and its invalidation run through; afterwards no old value is ever served, on
//! one instance or across two. Also: a refresh that finds its product gone.

use std::time::Duration;

use catalog_cache::cache::hooks::PausePoint::{BeforeInvalidationL2, BeforeL1Put, BeforeL2Fill};
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};

use crate::cache::{header, metrics, one_worker_app, subscribed};
use crate::helpers::{spawn_app_from, spawn_app_with, TestApp};

/// Requests go cookie-less with the admin token, so no session read can fail them.
async fn body(app: &TestApp, path: &str) -> Value {
    let response = app
        .token_client()
        .get(app.url(path))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("json")
}

async fn put(app: &TestApp, path: &str, body: &Value) -> u16 {
    app.token_client()
        .put(app.url(path))
        .json(body)
        .send()
        .await
        .expect("sent")
        .status()
        .as_u16()
}

/// Reads `path` on every app `rounds` times; each answer must satisfy `fresh`.
async fn never_old(apps: &[&TestApp], path: &str, fresh: impl Fn(&Value) -> bool) {
    for _ in 0..5 {
        for app in apps {
            let body = body(app, path).await;
            assert!(fresh(&body), "an old value was served: {body}");
        }
    }
}

/// What L2 holds for a key, read straight from Redis.
pub async fn l2_raw(app: &TestApp, name: &str) -> Option<String> {
    let url = secrecy::ExposeSecret::expose_secret(&app.settings.redis.url).to_string();
    let client = redis::Client::open(url).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    redis::cmd("GET")
        .arg(format!("{}cache:{name}", app.settings.redis.prefix))
        .query_async(&mut conn)
        .await
        .expect("get")
}

/// Starts a GET on `app` in the background (it will stop at the armed pause).
fn read_later(app: &TestApp, path: &str) -> actix_web::rt::task::JoinHandle<u16> {
    let (client, url) = (app.token_client(), app.url(path));
    actix_web::rt::spawn(async move {
        client
            .get(url)
            .send()
            .await
            .expect("sent")
            .status()
            .as_u16()
    })
}

#[actix_web::test]
async fn a_fill_paused_across_a_write_on_the_same_instance_is_never_served() {
    let app = one_worker_app().await;
    app.seed(2).await;
    let pause = app.cache.hooks().pause_next(BeforeL2Fill, "products:1");
    let reader = read_later(&app, "/api/products/1");
    pause.reached().await;

    assert_eq!(
        put(&app, "/api/products/1", &json!({"name": "Renamed"})).await,
        200
    );
    pause.release();
    assert_eq!(reader.await.expect("reader"), 200);

    never_old(&[&app], "/api/products/1", |b| {
        b["data"]["name"] == "Renamed"
    })
    .await;
    let raw = l2_raw(&app, "products:1").await.unwrap_or_default();
    assert!(raw.is_empty() || raw.contains("Renamed"), "L2 holds: {raw}");
}

#[actix_web::test]
async fn a_list_fill_paused_across_a_write_is_never_served() {
    let app = one_worker_app().await;
    app.seed(3).await;
    let list = "/api/products?category=Books";
    let pause = app
        .cache
        .hooks()
        .pause_next(BeforeL2Fill, "products:list:category=Books&limit=50&page=1");
    let reader = read_later(&app, list);
    pause.reached().await;

    // Product 2 is a book: its list tags are invalidated, the list key is not named.
    assert_eq!(
        put(&app, "/api/products/2", &json!({"price": 1234.5})).await,
        200
    );
    pause.release();
    assert_eq!(reader.await.expect("reader"), 200);

    never_old(&[&app], list, |b| {
        b["data"]
            .as_array()
            .is_some_and(|rows| rows.iter().any(|p| p["price"] == 1234.5))
    })
    .await;
}

#[actix_web::test]
async fn a_fill_paused_on_one_instance_across_a_write_on_another_is_never_served() {
    let a = one_worker_app().await;
    a.seed(2).await;
    let b = subscribed(spawn_app_from(a.settings.clone()).await).await;
    let pause = b.cache.hooks().pause_next(BeforeL2Fill, "products:1");
    let reader = read_later(&b, "/api/products/1");
    pause.reached().await;

    assert_eq!(
        put(&a, "/api/products/1", &json!({"name": "Renamed"})).await,
        200
    );
    // B's own L1 guard needs the event; the L2 guard does not.
    for _ in 0..200 {
        if metrics(&b).await["cache"]["invalidationsReceived"].as_u64() >= Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    pause.release();
    assert_eq!(reader.await.expect("reader"), 200);

    never_old(&[&a, &b], "/api/products/1", |b| {
        b["data"]["name"] == "Renamed"
    })
    .await;
}

#[actix_web::test]
async fn a_local_miss_that_reads_l2_during_an_invalidation_is_not_kept_in_l1() {
    let a = one_worker_app().await;
    a.seed(1).await;
    // B fills L2; A's L1 stays empty, so A's next read is an L2 hit of the old value.
    let b = subscribed(spawn_app_from(a.settings.clone()).await).await;
    body(&b, "/api/products/1").await;

    let invalidation = a.cache.hooks().pause_next(BeforeInvalidationL2, "");
    let writer = {
        let (client, url) = (a.token_client(), a.url("/api/products/1"));
        actix_web::rt::spawn(async move {
            let put = client.put(url).json(&json!({"name": "Renamed"}));
            put.send().await.expect("sent").status().as_u16()
        })
    };
    invalidation.reached().await;
    // The write has committed and its invalidation has begun, L2 not yet reached.
    let put = a.cache.hooks().pause_next(BeforeL1Put, "products:1");
    let reader = read_later(&a, "/api/products/1");
    put.reached().await;
    invalidation.release();
    assert_eq!(writer.await.expect("writer"), 200);
    put.release();
    assert_eq!(reader.await.expect("reader"), 200);

    never_old(&[&a, &b], "/api/products/1", |b| {
        b["data"]["name"] == "Renamed"
    })
    .await;
}

#[actix_web::test]
async fn a_refresh_that_finds_the_product_gone_drops_it_instead_of_serving_stale() {
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
    let reader = app.anonymous_client();
    let get = || async {
        reader
            .get(app.url("/api/products/1"))
            .send()
            .await
            .expect("sent")
    };
    assert_eq!(header(&get().await, "x-cache"), "MISS");
    // Gone behind the cache's back (as when an invalidation was lost).
    let mut conn = app.db_connection().await;
    diesel::sql_query("UPDATE products SET is_active = false WHERE id = 1")
        .execute(&mut conn)
        .await
        .expect("deactivated");
    tokio::time::sleep(Duration::from_millis(1200)).await;

    // Anonymous: an admin would be shown the inactive product from PostgreSQL.
    let reader = app.anonymous_client();
    let get = || async {
        reader
            .get(app.url("/api/products/1"))
            .send()
            .await
            .expect("sent")
    };
    let mut answers = Vec::new();
    for _ in 0..50 {
        let response = get().await;
        let status = response.status().as_u16();
        answers.push(format!("{status} {}", header(&response, "x-cache")));
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        answers.last().is_some_and(|a| a.starts_with("404")),
        "{answers:?}"
    );
    for _ in 0..5 {
        assert_eq!(get().await.status(), 404);
    }
}
