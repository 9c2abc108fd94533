//! Per-product event order: whatever order concurrent writes publish in, every client
//! sees each product's events in version order, never an update after its delete, and a
//! delete carries the version it deleted. Made deterministic with the invalidation pause
//! (a write held between its commit and its publish), then checked under load.

use std::collections::{HashMap, HashSet};

use catalog_cache::cache::hooks::PausePoint::BeforeInvalidationL2;
use catalog_cache::pubsub::{history_after, History};
use catalog_cache::redis_client::RedisClient;
use serde_json::{json, Value};

use crate::cache::subscribed;
use crate::helpers::{spawn_app, spawn_app_from, TestApp};
use crate::websocket::{connect, lamp, next, nothing, passed, subscribe, Socket};

/// Sends a write with the admin token (no session to race) and answers its status.
async fn write(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> u16 {
    let mut request = app.token_client().request(method, app.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("sent").status().as_u16()
}

/// Starts a PATCH on `app` in the background (it stops at an armed pause).
fn patch_later(app: &TestApp, path: &str, body: Value) -> actix_web::rt::task::JoinHandle<u16> {
    let (client, url) = (app.token_client(), app.url(path));
    actix_web::rt::spawn(async move {
        let patch = client.patch(url).json(&body);
        patch.send().await.expect("sent").status().as_u16()
    })
}

/// The product events in the history, as `(type, id, version)`.
async fn history(app: &TestApp) -> Vec<(String, i64, i64)> {
    let redis = RedisClient::connect(&app.settings.redis)
        .await
        .expect("redis client");
    let History::Events(events) = history_after(&redis, 0).await.expect("history") else {
        panic!("the whole history is kept");
    };
    events
        .iter()
        .map(|e| summary(&serde_json::to_value(e).expect("json")))
        .collect()
}

/// `(type, id, version)` of a product event frame.
fn summary(event: &Value) -> (String, i64, i64) {
    let product = event.get("product").unwrap_or(event);
    match (
        event["type"].as_str(),
        product["id"].as_i64(),
        product["version"].as_i64(),
    ) {
        (Some(kind), Some(id), Some(version)) => (kind.to_string(), id, version),
        _ => panic!("not a versioned product event: {event}"),
    }
}

/// A write on `a` held after its commit while `b` updates and deletes the product.
struct Race {
    a: TestApp,
    b: TestApp,
    socket: Socket,
    path: String,
    id: i64,
}

async fn race() -> Race {
    let mut a = subscribed(spawn_app().await).await;
    let b = subscribed(spawn_app_from(a.settings.clone()).await).await;
    let created = a.create_product(lamp()).await;
    passed(&mut a, 1).await;
    let mut socket = connect(&a).await;
    subscribe(&mut socket, json!(["products"])).await;
    let id = created["id"].as_i64().expect("id");
    let path = format!("/api/products/{id}");
    Race {
        a,
        b,
        socket,
        path,
        id,
    }
}

#[actix_web::test]
async fn an_update_published_after_a_newer_one_never_reaches_clients() {
    let Race {
        a,
        b,
        mut socket,
        path,
        id,
    } = race().await;

    // A's update commits version 2, then stops before publishing.
    let held = a.cache.hooks().pause_next(BeforeInvalidationL2, "");
    let older = patch_later(&a, &path, json!({"stock": 1}));
    held.reached().await;
    // B's update commits version 3 and publishes it first.
    let patch = reqwest::Method::PATCH;
    assert_eq!(
        write(&b, patch, &path, Some(json!({"stock": 2}))).await,
        200
    );
    held.release();
    assert_eq!(older.await.expect("the held write"), 200);
    assert_eq!(write(&b, reqwest::Method::DELETE, &path, None).await, 200);

    let seen = [next(&mut socket).await, next(&mut socket).await];
    let seen: Vec<_> = seen.iter().map(summary).collect();
    let expected = vec![
        ("product.updated".to_string(), id, 3),
        ("product.deleted".to_string(), id, 3),
    ];
    assert_eq!(seen, expected, "version 2 came too late to be news");
    let mut recorded = history(&a).await;
    assert_eq!(recorded.remove(0), ("product.created".to_string(), id, 1));
    assert_eq!(recorded, expected, "the history holds what clients saw");
}

#[actix_web::test]
async fn an_update_published_after_the_delete_does_not_bring_the_product_back() {
    let Race {
        a,
        b,
        mut socket,
        path,
        id,
    } = race().await;

    let held = a.cache.hooks().pause_next(BeforeInvalidationL2, "");
    let older = patch_later(&a, &path, json!({"stock": 1}));
    held.reached().await;
    assert_eq!(write(&b, reqwest::Method::DELETE, &path, None).await, 200);
    held.release();
    assert_eq!(older.await.expect("the held write"), 200);
    // A later event as a marker: whatever came before it has arrived.
    let marker = b.create_product(lamp()).await;

    let deleted = next(&mut socket).await;
    assert_eq!(summary(&deleted), ("product.deleted".to_string(), id, 2));
    let after = next(&mut socket).await;
    assert_eq!(
        after["type"], "product.created",
        "not the late update: {after}"
    );
    assert_eq!(after["product"]["id"], marker["id"]);
}

#[actix_web::test]
async fn a_move_overtaken_by_a_newer_update_still_reaches_the_category_it_left() {
    let Race { a, b, path, id, .. } = race().await;
    let mut home = connect(&a).await;
    subscribe(&mut home, json!(["category:Home"])).await;

    // A moves the product to Office (version 2) and stops before publishing; B's update
    // (version 3) goes out first, then A's is refused as old.
    let held = a.cache.hooks().pause_next(BeforeInvalidationL2, "");
    let moved = patch_later(&a, &path, json!({"category": "Office"}));
    held.reached().await;
    let patch = reqwest::Method::PATCH;
    assert_eq!(
        write(&b, patch, &path, Some(json!({"stock": 2}))).await,
        200
    );
    held.release();
    assert_eq!(moved.await.expect("the held write"), 200);

    // Home last heard of the product in Home: the newest event tells it that it left.
    let event = next(&mut home).await;
    assert_eq!(summary(&event), ("product.updated".to_string(), id, 3));
    assert_eq!(event["product"]["category"], "Office");
    assert_eq!(event["previousCategory"], "Home", "{event}");
    nothing(&mut home).await;
}

#[actix_web::test]
async fn concurrent_updates_and_deletes_through_two_instances_arrive_in_version_order() {
    const PRODUCTS: usize = 12;
    const PATCHES: usize = 4;
    let mut a = subscribed(spawn_app().await).await;
    let mut b = subscribed(spawn_app_from(a.settings.clone()).await).await;
    let mut ids = Vec::new();
    for _ in 0..PRODUCTS {
        ids.push(a.create_product(lamp()).await["id"].as_i64().expect("id"));
    }
    passed(&mut a, PRODUCTS).await;
    passed(&mut b, PRODUCTS).await;
    let mut sockets = [connect(&a).await, connect(&b).await];
    for socket in &mut sockets {
        subscribe(socket, json!(["products"])).await;
    }

    // Every product: patches through both instances and a delete, all at once.
    let mut writes = Vec::new();
    for &id in &ids {
        let path = format!("/api/products/{id}");
        for i in 0..=PATCHES {
            let app = if i % 2 == 0 { &a } else { &b };
            let (client, url) = (app.token_client(), app.url(&path));
            writes.push(actix_web::rt::spawn(async move {
                let request = if i == PATCHES / 2 {
                    client.delete(url)
                } else {
                    client.patch(url).json(&json!({"stock": i}))
                };
                request.send().await.expect("sent").status().as_u16()
            }));
        }
    }
    for write in writes {
        let status = write.await.expect("the write ran");
        assert!(status == 200 || status == 404, "{status}");
    }

    // A creation after every write returned: its event comes after all of theirs.
    let marker = a.create_product(lamp()).await["id"].clone();
    for socket in &mut sockets {
        let (mut deleted, mut resynced) = (HashSet::new(), false);
        let mut last: HashMap<i64, (String, i64)> = HashMap::new();
        loop {
            let event = next(socket).await;
            // A publish that timed out on a busy machine is announced so; the order of
            // what does arrive still holds (the guard is in Redis, not in the instance).
            if event["type"] == "resync" {
                resynced = true;
                continue;
            }
            if event["type"] == "product.created" && event["product"]["id"] == marker {
                break;
            }
            let (kind, id, version) = summary(&event);
            if let Some((before, seen)) = last.get(&id) {
                assert_ne!(before, "product.deleted", "{kind} of {id} after its delete");
                let in_order = version > *seen || (kind == "product.deleted" && version == *seen);
                assert!(in_order, "{kind} v{version} of {id} after v{seen}");
            }
            if kind == "product.deleted" {
                deleted.insert(id);
            }
            last.insert(id, (kind, version));
        }
        assert!(
            resynced || deleted.len() == PRODUCTS,
            "every delete arrived"
        );
    }
}
