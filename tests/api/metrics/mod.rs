//! Issue 10's metrics: admin access on every `/admin` route, every field of
//! `/admin/metrics/cache`, the cluster view, and Prometheus at `/metrics`.

mod access;
mod cluster;
mod prometheus;

use std::time::Duration;

use awc::ws::Message;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use crate::cache::metrics;
use crate::helpers::{assert_error, spawn_app_with, PASSWORD};

/// Every `/admin` route with a request that an admin gets answered (not 401/403).
fn admin_routes() -> Vec<(reqwest::Method, &'static str, Option<Value>)> {
    vec![
        (reqwest::Method::GET, "/admin/metrics/cache", None),
        (reqwest::Method::GET, "/admin/metrics/cluster", None),
        (
            reqwest::Method::POST,
            "/admin/cache/invalidate",
            Some(json!({"key": "products:1"})),
        ),
    ]
}

async fn call(
    client: &reqwest::Client,
    base: &str,
    (method, path, body): &(reqwest::Method, &'static str, Option<Value>),
) -> reqwest::Response {
    let mut request = client.request(method.clone(), format!("{base}{path}"));
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("sent")
}

#[actix_web::test]
async fn every_admin_route_needs_an_admin_session_or_the_admin_token() {
    let app = spawn_app_with(|_| {}).await;
    let user = app
        .register_and_login("metrics-user@test.example", PASSWORD)
        .await;
    let wrong_token = reqwest::Client::builder()
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                "Bearer not-the-token-not-the-token-not-the-token"
                    .parse()
                    .unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    for route in admin_routes() {
        let name = format!("{} {}", route.0, route.1);
        assert_error(
            call(&app.anonymous_client(), &app.address, &route).await,
            401,
            "unauthorized",
        )
        .await;
        assert_error(call(&user, &app.address, &route).await, 403, "forbidden").await;
        assert_error(
            call(&wrong_token, &app.address, &route).await,
            401,
            "unauthorized",
        )
        .await;
        let admin = call(&app.client, &app.address, &route).await.status();
        assert_eq!(admin, 200, "admin session on {name}");
        let token = call(&app.token_client(), &app.address, &route)
            .await
            .status();
        assert_eq!(token, 200, "admin token on {name}");
    }
}

#[actix_web::test]
async fn cache_metrics_add_keyspace_limiter_websocket_instance_and_queue_figures() {
    let app = spawn_app_with(|s| {
        s.server.instance_id = Some("metrics-one".into());
        s.rate_limit.enabled = true;
        s.rate_limit.policies = vec![catalog_cache::configuration::PolicySettings {
            name: "two-lists".into(),
            methods: vec!["GET".into()],
            path: "/api/products".into(),
            limit: 2,
            window_secs: 60,
            identity: "ip".into(),
            audience: "any".into(),
            algorithm: "sliding_log".into(),
        }];
    })
    .await;
    app.seed(1).await;
    let before = metrics(&app).await;

    let anonymous = app.anonymous_client();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = anonymous
            .get(app.url("/api/products"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
    // A first read of a product looks its key up in Redis and misses.
    assert_eq!(app.get("/api/products/1").await.status(), 200);
    let url = format!("{}/ws", app.address.replacen("http", "ws", 1));
    let (_, mut socket) = awc::Client::new().ws(url).connect().await.unwrap();
    let topics = json!(["products", "product:1"]);
    socket
        .send(Message::Text(
            json!({"type": "subscribe", "topics": topics})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    // The acknowledgement: the hub has the subscriptions.
    let ack = tokio::time::timeout(Duration::from_secs(2), socket.next())
        .await
        .expect("an answer")
        .expect("open")
        .expect("a frame");
    assert!(matches!(ack, awc::ws::Frame::Text(_)), "{ack:?}");

    let m = metrics(&app).await;
    let redis = &m["redis"];
    let (hits, misses) = (&redis["keyspaceHits"], &redis["keyspaceMisses"]);
    assert!(hits.is_u64() && misses.is_u64(), "{m}");
    assert!(
        misses.as_u64() > before["redis"]["keyspaceMisses"].as_u64(),
        "the product miss counts in Redis: {m}"
    );
    assert_eq!(
        m["rateLimiter"],
        json!({"allowed": 2, "limited": 1, "fallback": 0})
    );
    assert_websocket(&m, 1, 2);
    assert_eq!(m["instance"]["id"], "metrics-one");
    assert!(m["instance"]["uptimeSeconds"].is_u64(), "{m}");
    assert_eq!(m["instance"]["version"], env!("CARGO_PKG_VERSION"));
    // Every request counts, whatever its route and status (the WebSocket handshake too).
    let requests = |m: &Value| m["http"]["requests"].as_u64().expect("a count");
    assert!(requests(&m) >= requests(&before) + 4, "{before} {m}");
    // Both job queues, each with every state as a number.
    for queue in ["cache-warming", "email"] {
        for state in ["waiting", "active", "delayed", "completed", "failed"] {
            assert!(
                m["queues"][queue]["depths"][state].is_u64(),
                "{queue} {state}: {m}"
            );
        }
    }
    let hit_rate = m["cache"]["hitRate"].as_f64().expect("a number");
    assert!((0.0..=1.0).contains(&hit_rate), "{m}");
    // Every field the document had before stays.
    for field in ["l1", "l2", "dbQueries", "coalesced", "breaker"] {
        assert!(!m["cache"][field].is_null(), "cache.{field}: {m}");
    }
    assert!(m["redis"]["memory"]["usedMemory"].is_u64(), "{m}");
    assert!(m["productEvents"]["publishFailures"].is_u64(), "{m}");

    drop(socket);
    // The hub forgets the connection once its session ends (bounded wait).
    let mut last = Value::Null;
    for _ in 0..100 {
        last = metrics(&app).await["websocket"].clone();
        if last["connections"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_websocket(&json!({ "websocket": last }), 0, 0);
}

/// The hub's figures: `connections` and `subscriptions` as given, no slow client, and one
/// count per shard (one shard per worker) adding up to `connections`.
fn assert_websocket(m: &Value, connections: u64, subscriptions: u64) {
    let ws = &m["websocket"];
    assert_eq!(ws["connections"], connections, "{m}");
    assert_eq!(ws["subscriptions"], subscriptions, "{m}");
    assert_eq!(ws["closedSlow"], 0, "{m}");
    let shards: Vec<u64> = ws["connectionsPerShard"]
        .as_array()
        .expect("a count per shard")
        .iter()
        .map(|n| n.as_u64().expect("a count"))
        .collect();
    assert_eq!(shards.len(), 2, "the test app runs two workers: {m}");
    assert_eq!(shards.iter().sum::<u64>(), connections, "{m}");
}
