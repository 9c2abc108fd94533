//! `GET /admin/metrics/cluster`: every live instance, found through the snapshot index;
//! a stopped instance is gone once its snapshot's TTL runs out.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use serde_json::Value;

use crate::helpers::{spawn_app_with, TestApp};

/// A second instance as a process of its own, killed (SIGKILL: no goodbye) on drop.
struct OtherInstance(Child);

impl OtherInstance {
    fn start(app: &TestApp, id: &str) -> OtherInstance {
        let port = crate::private_redis::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_catalog-cache"))
            .arg("serve")
            .env("APP_ENV", "test")
            .env(
                "APP_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
            )
            .env("DATABASE_URL", app.settings.database.url.expose_secret())
            .env("REDIS_URL", app.settings.redis.url.expose_secret())
            .env("REDIS_PREFIX", &app.settings.redis.prefix)
            .env("PORT", port.to_string())
            .env("APP__SERVER__INSTANCE_ID", id)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        OtherInstance(child)
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// SIGTERM, then waits (bounded) for a clean exit.
    fn terminate(&mut self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.0.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for OtherInstance {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn listed_ids(app: &TestApp) -> Vec<String> {
    let response = app.get("/admin/metrics/cluster").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    body["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .map(|i| i["instance"]["id"].as_str().expect("an id").to_string())
        .collect()
}

/// Polls (bounded) until the listed ids are `want`.
async fn wait_for(app: &TestApp, want: &[&str], within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let ids = listed_ids(app).await;
        if ids == want || Instant::now() > deadline {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[actix_web::test]
async fn the_cluster_lists_every_live_instance_and_drops_a_stopped_one() {
    let app = spawn_app_with(|s| s.server.instance_id = Some("cluster-a".into())).await;
    assert_eq!(
        wait_for(&app, &["cluster-a"], Duration::from_secs(5)).await,
        ["cluster-a"]
    );

    let mut crashed = OtherInstance::start(&app, "cluster-b");
    let mut stopped = OtherInstance::start(&app, "cluster-c");
    let all = ["cluster-a", "cluster-b", "cluster-c"];
    // Start-up of a fresh process (migrations already applied) is bounded generously.
    assert_eq!(wait_for(&app, &all, Duration::from_secs(60)).await, all);
    let body: Value = app
        .get("/admin/metrics/cluster")
        .await
        .json()
        .await
        .unwrap();
    for instance in body["instances"].as_array().unwrap() {
        // The same document as /admin/metrics/cache.
        assert!(instance["cache"]["hitRate"].is_number(), "{instance}");
        assert!(instance["redis"]["keyspaceHits"].is_u64(), "{instance}");
        assert!(instance["instance"]["uptimeSeconds"].is_u64(), "{instance}");
    }
    // Indexed, not scanned: one sorted set lists them.
    assert_eq!(app.redis_keys("metrics:{instances}:index").await.len(), 1);

    // A graceful stop withdraws its snapshot on the way out.
    stopped.terminate();
    assert_eq!(listed_ids(&app).await, ["cluster-a", "cluster-b"]);
    // A crash leaves it to expire: 3 s after the last publish; allow for a loaded machine.
    crashed.kill();
    let after = wait_for(&app, &["cluster-a"], Duration::from_secs(10)).await;
    assert_eq!(after, ["cluster-a"]);
}

#[actix_web::test]
async fn without_redis_the_cluster_is_a_503_and_the_instance_still_reports() {
    let mut redis = crate::private_redis::PrivateRedis::start();
    redis.ready().await;
    let url = redis.url();
    let app = spawn_app_with(|s| {
        s.redis.url = secrecy::SecretString::from(url);
        s.server.instance_id = Some("lonely".into());
    })
    .await;
    assert_eq!(
        wait_for(&app, &["lonely"], Duration::from_secs(5)).await,
        ["lonely"]
    );

    redis.kill();
    // The token, not the session: sessions live in the Redis that is gone.
    let admin = app.token_client();
    let cluster = admin
        .get(app.url("/admin/metrics/cluster"))
        .send()
        .await
        .unwrap();
    crate::helpers::assert_error(cluster, 503, "service_unavailable").await;
    let m: Value = admin
        .get(app.url("/admin/metrics/cache"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["redis"]["connected"], false, "{m}");
    assert_eq!(m["redis"]["keyspaceHits"], 0, "{m}");
    assert_eq!(m["instance"]["id"], "lonely", "{m}");
    let scrape = app
        .anonymous_client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    let text = scrape.text().await.unwrap();
    assert!(text.contains("redis_connected 0"), "{text}");
}
