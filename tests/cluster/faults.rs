//! Faults under load, each with servers of its own where it stops one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fixture::{Cluster, Options};
use crate::load::Load;
use crate::private_redis::PrivateRedis;
use crate::{next, subscribe};

async fn metrics(base: &str, token: &str) -> Option<Value> {
    let answer = reqwest::Client::new()
        .get(format!("{base}/admin/metrics/cache"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    answer.json().await.ok()
}

/// Polls every instance until `check` holds for all of them (at most `within`).
async fn eventually_everywhere(
    cluster: &Cluster,
    within: Duration,
    what: &str,
    check: impl Fn(&Value) -> bool,
) {
    let deadline = Instant::now() + within;
    loop {
        let mut all = true;
        let mut seen = Vec::new();
        for base in &cluster.instances {
            let m = metrics(base, &cluster.token).await;
            all &= m.as_ref().is_some_and(&check);
            seen.push(m);
        }
        if all {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not reached within {within:?}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn name_on(base: &str, id: i64) -> Option<String> {
    let body: Value = reqwest::get(format!("{base}/api/products/{id}"))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    body["data"]["name"].as_str().map(str::to_string)
}

#[actix_web::test]
async fn redis_stopped_for_ten_seconds_under_load_loses_nothing() {
    let mut redis = PrivateRedis::start_ready().await;
    let cluster = Cluster::up_with(
        "redisdown",
        Options {
            redis_url: Some(redis.url()),
            env: vec![("TRUST_LOOPBACK_XFF", "1".into())],
        },
    );
    let mut sockets = Vec::new();
    for base in &cluster.instances {
        sockets.push(subscribe(base).await);
    }

    let load = Load::start(
        &cluster.url,
        &cluster.token,
        6,
        2000,
        Duration::from_millis(100),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.kill();
    eventually_everywhere(&cluster, Duration::from_secs(8), "breaker open", |m| {
        m["cache"]["breaker"]["state"] != "closed"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    redis.restart().await;
    eventually_everywhere(&cluster, Duration::from_secs(10), "breaker closed", |m| {
        m["cache"]["breaker"]["state"] == "closed" && m["redis"]["connected"] == true
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tally = load.finish().await;

    println!("{tally:?}");
    assert_eq!(tally.failed_reads(), 0, "every GET answered 200: {tally:?}");
    assert!(tally.count(200) > 500, "the load ran: {tally:?}");
    assert!(!tally.acknowledged.is_empty(), "{tally:?}");
    // Every acknowledged write is what every instance serves now: nothing lost, and no
    // L1 entry from before or during the gap survived it.
    for (id, name) in &tally.acknowledged {
        for base in &cluster.instances {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let served = name_on(base, *id).await;
                if served.as_deref() == Some(name.as_str()) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{base} serves {served:?} for product {id}, acknowledged {name:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    // The sockets stayed open through the outage, and a write after it reaches each
    // (after a `resync` when the instance could not replay what it may have missed).
    let put = cluster
        .put_product(7, &json!({"name": "After the outage"}))
        .await;
    assert_eq!(put.status(), 200);
    for socket in &mut sockets {
        loop {
            let event = next(socket).await;
            if event["type"] == "product.updated" && event["product"]["id"] == 7 {
                assert_eq!(event["product"]["name"], "After the outage");
                break;
            }
            assert!(
                [
                    "resync",
                    "product.updated",
                    "product.created",
                    "product.deleted"
                ]
                .contains(&event["type"].as_str().unwrap_or_default()),
                "{event}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_fails_no_read_and_keeps_sessions_carts_and_counts() {
    let cluster = Arc::new(Cluster::up_with(
        "rolling",
        Options {
            env: vec![("TRUST_LOOPBACK_XFF", "1".into())],
            ..Options::default()
        },
    ));
    let browser = cluster.browser();
    let register = browser
        .post(format!("{}/api/auth/register", cluster.url))
        .json(&json!({"email": "rolling@example.com", "password": crate::PASSWORD}))
        .send()
        .await
        .expect("sent");
    assert_eq!(register.status(), 201);
    let login = browser
        .post(format!("{}/api/auth/login", cluster.url))
        .json(&json!({"email": "rolling@example.com", "password": crate::PASSWORD}))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), 200);
    // One anonymous client's products-list quota (100 an hour): 60 before the restarts.
    let lister = reqwest::Client::new();
    let list = |lister: reqwest::Client, url: String| async move {
        lister
            .get(format!("{url}/api/products?limit=1"))
            .header("X-Forwarded-For", "203.0.113.77")
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    for _ in 0..60 {
        assert_eq!(list(lister.clone(), cluster.url.clone()).await, 200);
    }

    let load = Load::start(
        &cluster.url,
        &cluster.token,
        4,
        500,
        Duration::from_millis(200),
    );
    let restarts = {
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || {
            for name in ["a", "b", "c"] {
                cluster.restart(name);
                std::thread::sleep(Duration::from_secs(2));
            }
        })
    };
    // Meanwhile the signed-in client keeps its session and fills its cart.
    let mut added = 0_u64;
    let mut add_failures = Vec::new();
    while !restarts.is_finished() {
        let me = browser
            .get(format!("{}/api/auth/me", cluster.url))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        assert_eq!(
            me, 200,
            "the session holds through the restarts (GET /api/auth/me)"
        );
        let add = browser
            .post(format!("{}/api/cart/add", cluster.url))
            .json(&json!({"productId": 3, "quantity": 1}))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if (200..300).contains(&add) {
            added += 1;
        } else {
            add_failures.push(add);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    restarts.await.expect("the restarts ran");
    let tally = load.finish().await;
    println!("{tally:?}; cart adds: {added} acknowledged, failures {add_failures:?}");

    // Draining (server.drain_ms) lets nginx move away first: no request fails at all,
    // writes and cart adds (POSTs nginx could not retry) included.
    assert_eq!(tally.failed_reads(), 0, "{tally:?}");
    assert_eq!(
        tally.writes.keys().copied().collect::<Vec<u16>>(),
        [200],
        "{tally:?}"
    );
    assert!(add_failures.is_empty(), "{add_failures:?}");
    assert!(added > 10, "{added}");
    let cart: Value = browser
        .get(format!("{}/api/cart", cluster.url))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(
        cart["cart"][0]["quantity"].as_u64(),
        Some(added),
        "every add is in the cart"
    );
    // The limiter's count survived: 40 more fit in the hour, the 41st does not.
    for i in 0..40 {
        assert_eq!(
            list(lister.clone(), cluster.url.clone()).await,
            200,
            "request {}",
            61 + i
        );
    }
    assert_eq!(list(lister.clone(), cluster.url.clone()).await, 429);
}
