use crate::helpers::{spawn_app, spawn_app_with};
use secrecy::SecretString;
use serde_json::Value;

#[actix_web::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ok");
}

#[actix_web::test]
async fn readyz_is_ready_when_postgres_and_redis_answer() {
    let app = spawn_app().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["success"], true);
    assert_eq!(body["checks"]["postgres"], "up");
    assert_eq!(body["checks"]["redis"], "up");
}

#[actix_web::test]
async fn the_service_starts_without_redis_and_readyz_names_it() {
    // Port 1 on loopback: nothing listens there, so Redis is "down" from the start.
    let app = spawn_app_with(|s| s.redis.url = SecretString::from("redis://127.0.0.1:1")).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["success"], false);
    assert_eq!(body["checks"]["redis"], "down");
    assert_eq!(body["checks"]["postgres"], "up");
    assert_eq!(body["error"]["code"], "not_ready");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("redis")));
    // Product reads still work from PostgreSQL.
    app.seed(3).await;
    assert_eq!(app.get("/api/products/1").await.status(), 200);
}

#[actix_web::test]
async fn request_id_is_echoed_or_generated() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-Id", "abc-123")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("abc-123")
    );
    let response = app.get("/healthz").await;
    let generated = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("a generated id");
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
}

#[actix_web::test]
async fn a_stop_drains_first_readiness_fails_and_connections_close_then_it_stops() {
    let app = crate::helpers::spawn_app_with(|s| s.server.drain_ms = 1500).await;
    let client = reqwest::Client::new();
    let before = client.get(app.url("/readyz")).send().await.expect("sent");
    assert_eq!(before.status(), 200);
    assert_ne!(
        before
            .headers()
            .get("connection")
            .map(|v| v.to_str().unwrap_or("")),
        Some("close")
    );

    app.stopper.stop();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // Still serving, but telling a balancer to move away.
    let served = client
        .get(app.url("/api/products"))
        .send()
        .await
        .expect("served while draining");
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["connection"], "close");
    let ready = client.get(app.url("/readyz")).send().await.expect("sent");
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("draining")),
        "{body}"
    );

    // Then it stops: new connections are refused (bounded wait).
    let mut refused = false;
    for _ in 0..50 {
        if client.get(app.url("/healthz")).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused, "the instance stopped after draining");
}
