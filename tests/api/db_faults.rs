//! PostgreSQL that stops answering without closing anything (a frozen relay between the
//! pool and the server, as a dead host or a silent network partition): nothing hangs.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::cache::x_cache;
use crate::helpers::{spawn_app_with, TestApp};
use crate::relay::Relay;

/// An app whose pool reaches PostgreSQL through `relay`, with short timeouts.
async fn app_through(relay: &Relay) -> TestApp {
    spawn_app_with(|s| {
        let mut url = url::Url::parse(s.database.url.expose_secret()).expect("database url");
        url.set_port(Some(relay.port)).expect("a port");
        s.database.url = SecretString::from(url.to_string());
        s.database.pool_timeout_ms = 500;
        s.database.statement_timeout_ms = 1000;
        s.server.workers = 1;
        s.cache.item_ttl_secs = 1;
        s.cache.l1_ttl_secs = 1;
        s.cache.jitter_percent = 0;
        s.cache.max_stale_secs = 120;
    })
    .await
}

#[actix_web::test]
async fn a_hung_database_gives_stale_reads_and_quick_503_writes_then_recovers() {
    let relay = Relay::start("127.0.0.1:5432".into());
    let app = app_through(&relay).await;
    app.seed(3).await;
    let token = app.token_client();
    assert_eq!(x_cache(&app, "/api/products/1").await, "MISS");
    tokio::time::sleep(Duration::from_millis(1200)).await;

    for outage in 1..=3 {
        relay.freeze();
        // Reads: past their TTL, served stale; the refresh gives up in bounded time.
        for _ in 0..3 {
            assert_eq!(
                x_cache(&app, "/api/products/1").await,
                "STALE",
                "outage {outage}"
            );
        }
        // Writes: 503 with Retry-After, within the pool wait plus the statement timeout
        // (plus slack for a loaded machine), not after TCP gives up minutes later.
        let started = Instant::now();
        let write = token
            .put(app.url("/api/products/2"))
            .json(&json!({"name": format!("During outage {outage}")}))
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .expect("an answer, not a hang");
        assert_eq!(write.status(), 503, "outage {outage}");
        assert!(write.headers().contains_key("retry-after"));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "outage {outage}: the write took {:?}",
            started.elapsed()
        );

        relay.thaw();
        // Back without a restart: a write succeeds within a bounded number of tries.
        let mut status = 0;
        for _ in 0..40 {
            status = token
                .put(app.url("/api/products/2"))
                .json(&json!({"name": format!("After outage {outage}")}))
                .timeout(Duration::from_secs(20))
                .send()
                .await
                .expect("an answer")
                .status()
                .as_u16();
            if status == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert_eq!(status, 200, "outage {outage}: writes recover");
        let body: serde_json::Value = app.get("/api/products/2").await.json().await.expect("json");
        assert_eq!(body["data"]["name"], format!("After outage {outage}"));
        // Fresh again before the next outage.
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
}
