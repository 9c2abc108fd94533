//! Every instance comes back fully after every Redis restart (issue 7, item 1): five
//! stop/start cycles of a private redis-server, with cookie-carrying clients (an
//! anonymous cart, a signed-in admin) and plain clients hammering one instance throughout,
//! some of them giving up on their requests after a few milliseconds (dropped futures),
//! and a second instance that gets no traffic at all during the outage and until its
//! single-shot check after the restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use catalog_cache::configuration::{PolicySettings, Settings};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::cache::{header, metrics, subscribed};
use crate::helpers::{new_client, spawn_app_from, test_settings, TestApp};
use crate::private_redis::PrivateRedis;

const CYCLES: u64 = 5;
/// Longer than the breaker needs to open (five failed health pings, 250 ms apart).
const OUTAGE: Duration = Duration::from_secs(2);
/// What the issue asks: back within 5 s of Redis answering again.
const RECOVERY: Duration = Duration::from_secs(5);
/// How long the idle instance is left alone after the restart before its one check.
const IDLE_WAIT: Duration = Duration::from_secs(3);

/// Two workers, the given Redis, and the limiter on with one roomy policy (counting in
/// Redis is what is checked, not limiting). The command timeout is raised from 50 ms so
/// that a busy test machine does not open the breaker after the recovery.
fn settings(url: &str) -> Settings {
    let mut s = test_settings();
    s.server.workers = 2;
    s.redis.url = SecretString::from(url.to_string());
    s.redis.timeout_ms = 250;
    s.rate_limit.enabled = true;
    s.rate_limit.policies = vec![PolicySettings {
        name: "global".into(),
        methods: vec![],
        path: "/api/*".into(),
        limit: 1_000_000,
        window_secs: 900,
        identity: "client".into(),
        audience: "any".into(),
        algorithm: "sliding_log".into(),
    }];
    s
}

/// A client of one instance with what it needs to check every part of it.
struct Probe {
    app: TestApp,
    /// An anonymous cart holding product 1: a session cookie.
    cart: reqwest::Client,
    /// The admin's user id: its limiter key is `rl:global:{user:{id}}`.
    admin_id: i64,
}

impl Probe {
    async fn new(app: TestApp) -> Probe {
        let cart = new_client();
        let added = cart
            .post(app.url("/api/cart/add"))
            .json(&json!({"productId": 1, "quantity": 1}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(added.status(), 200, "a cart and its cookie");
        let me: Value = app.get("/api/auth/me").await.json().await.expect("json");
        let admin_id = me["data"]["id"].as_i64().expect("the admin signed in");
        Probe {
            app,
            cart,
            admin_id,
        }
    }

    /// Every part that depends on Redis, without L2 (checked across instances): Err
    /// names the first part that is not back.
    async fn check(&self, redis: &redis::Client) -> Result<(), String> {
        let app = &self.app;
        let ready = new_client().get(app.url("/readyz")).send().await;
        expect_status(ready, 200, "/readyz")?;
        let state = metrics(app).await["cache"]["breaker"]["state"].clone();
        if state != "closed" {
            return Err(format!("breaker {state}"));
        }
        let cart = self.cart.get(app.url("/api/cart")).send().await;
        let cart: Value = expect_status(cart, 200, "cart")?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if cart["cart"][0]["productId"] != 1 {
            return Err(format!("the cart's session was not read: {cart}"));
        }
        let key = format!(
            "{}rl:global:{{user:{}}}",
            app.settings.redis.prefix, self.admin_id
        );
        let before = zcard(redis, &key).await?;
        let me = app.client.get(app.url("/api/auth/me")).send().await;
        expect_status(me, 200, "the admin's session")?;
        let after = zcard(redis, &key).await?;
        if after <= before {
            return Err(format!(
                "the limiter did not count in Redis ({before} -> {after})"
            ));
        }
        Ok(())
    }
}

fn expect_status(
    response: reqwest::Result<reqwest::Response>,
    status: u16,
    what: &str,
) -> Result<reqwest::Response, String> {
    let response = response.map_err(|e| format!("{what}: {e}"))?;
    if response.status() == status {
        Ok(response)
    } else {
        Err(format!("{what}: {}", response.status()))
    }
}

async fn zcard(redis: &redis::Client, key: &str) -> Result<u64, String> {
    let mut conn = redis
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    redis::cmd("ZCARD")
        .arg(key)
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())
}

/// `X-Cache` of one product read without cookies.
async fn tier(app: &TestApp, id: u64) -> String {
    let response = new_client()
        .get(app.url(&format!("/api/products/{id}")))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), 200, "product {id}");
    header(&response, "x-cache")
}

/// Calls `check` until it passes or `within` has passed; the last failure otherwise.
async fn eventually<F, Fut>(within: Duration, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + within;
    loop {
        let outcome = check().await;
        if outcome.is_ok() || Instant::now() >= deadline {
            return outcome;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Traffic on `app` until `stop`: plain reads, an anonymous cart, a signed-in admin,
/// each also with a client that gives up after a few milliseconds, so request futures
/// (and with them, at times, the breaker's probe) are dropped half-way.
async fn traffic(app: &TestApp, stop: Arc<AtomicBool>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut clients = Vec::new();
    for give_up in [Duration::from_secs(2), Duration::from_millis(3)] {
        let build = || {
            reqwest::Client::builder()
                .cookie_store(true)
                .timeout(give_up)
                .build()
                .expect("client")
        };
        let plain = build();
        let cart = build();
        let added = cart
            .post(app.url("/api/cart/add"))
            .timeout(Duration::from_secs(2))
            .json(&json!({"productId": 2, "quantity": 1}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(added.status(), 200);
        let admin = build();
        assert!(
            admin
                .post(app.url("/api/auth/login"))
                .timeout(Duration::from_secs(5))
                .json(&json!({"email": app.admin_email, "password": crate::helpers::PASSWORD}))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200),
            "admin signs in"
        );
        clients.push((plain, vec!["/readyz", "/api/products/3", "/api/products"]));
        clients.push((cart, vec!["/readyz", "/api/cart"]));
        clients.push((admin, vec!["/readyz", "/api/auth/me", "/api/products/4"]));
    }
    clients
        .into_iter()
        .map(|(client, paths)| {
            let (stop, base) = (stop.clone(), app.address.clone());
            actix_web::rt::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    for path in &paths {
                        let _ = client.get(format!("{base}{path}")).send().await;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect()
}

#[actix_web::test]
async fn every_instance_comes_back_fully_after_each_of_five_redis_restarts() {
    let mut redis = PrivateRedis::start_persistent().await;
    let direct = redis::Client::open(redis.url()).expect("client");
    let busy = subscribed(spawn_app_from(settings(&redis.url())).await).await;
    busy.seed(10 + 2 * CYCLES as u32).await;
    let busy = Probe::new(busy).await;
    // The same database, prefix and Redis: a second instance of the same deployment.
    let idle = spawn_app_from(busy.app.settings.clone()).await;
    let idle = Probe::new(subscribed(idle).await).await;
    busy.check(&direct)
        .await
        .expect("all up before the first outage");
    idle.check(&direct)
        .await
        .expect("all up before the first outage");
    let stop = Arc::new(AtomicBool::new(false));
    let load = traffic(&busy.app, stop.clone()).await;

    for cycle in 1..=CYCLES {
        redis.kill();
        tokio::time::sleep(OUTAGE).await;
        redis.restart().await;

        let (busy_back, idle_back) =
            tokio::join!(eventually(RECOVERY, || busy.check(&direct)), async {
                // No traffic at all: recovery must not wait for a request.
                tokio::time::sleep(IDLE_WAIT).await;
                idle.check(&direct).await
            });
        assert_eq!(busy_back, Ok(()), "busy instance, cycle {cycle}");
        assert_eq!(idle_back, Ok(()), "idle instance, cycle {cycle}");

        // L2 in both directions: a key filled by one instance is an L2 hit on the other.
        let (a, b) = (10 + 2 * cycle - 1, 10 + 2 * cycle);
        assert_eq!(tier(&idle.app, a).await, "MISS", "cycle {cycle}");
        assert_eq!(
            tier(&busy.app, a).await,
            "HIT-L2",
            "busy reads L2, cycle {cycle}"
        );
        assert_eq!(tier(&busy.app, b).await, "MISS", "cycle {cycle}");
        assert_eq!(
            tier(&idle.app, b).await,
            "HIT-L2",
            "busy fills L2, cycle {cycle}"
        );
    }

    stop.store(true, Ordering::Relaxed);
    for task in load {
        let _ = task.await;
    }
    let opened = metrics(&busy.app).await["cache"]["breaker"]["opened"]
        .as_u64()
        .expect("opened");
    assert!(
        opened >= CYCLES,
        "every outage was noticed: opened {opened} times"
    );
}
