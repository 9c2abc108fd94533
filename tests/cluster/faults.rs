//! Faults under load, each with servers of its own where it stops one.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fixture::{job_events, Cluster, Options};
use crate::load::Load;
use crate::private_redis::PrivateRedis;
use crate::{name_on, next, subscribe, Watcher};
use futures_util::{SinkExt, StreamExt};

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

#[actix_web::test]
async fn redis_stopped_for_ten_seconds_under_load_loses_nothing() {
    let mut redis = PrivateRedis::start_ready().await;
    let cluster = Cluster::up_with(
        "redisdown",
        Options {
            redis_url: Some(redis.url()),
            env: vec![("TRUST_LOOPBACK_XFF", "1".into())],
            ..Options::default()
        },
    );
    // A WebSocket client on each instance, read all along from before the outage.
    let mut watchers = Vec::new();
    for base in &cluster.instances {
        watchers.push(Watcher::start(subscribe(base).await));
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
    // A product created while Redis is down: its email job waits in the outbox.
    let created = reqwest::Client::new()
        .post(format!("{}/api/products", cluster.url))
        .bearer_auth(&cluster.token)
        .header("X-Forwarded-For", "10.7.0.1")
        .json(
            &json!({"name": "Outage Lantern", "description": "Made while Redis slept",
            "category": "Home", "price": 12.5, "stock": 4}),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), 201, "a create commits without Redis");
    tokio::time::sleep(Duration::from_secs(7)).await;
    redis.restart().await;
    eventually_everywhere(&cluster, Duration::from_secs(10), "breaker closed", |m| {
        m["cache"]["breaker"]["state"] == "closed" && m["redis"]["connected"] == true
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tally = load.finish().await;

    println!("{tally:?}");
    assert_eq!(tally.failed_reads(), 0, "every GET answered 200: {tally:?}");
    // The limiter answered from its local fallback meanwhile.
    let mut fallbacks = 0;
    for base in &cluster.instances {
        if let Some(m) = metrics(base, &cluster.token).await {
            fallbacks += m["rateLimiter"]["fallback"].as_u64().unwrap_or(0);
        }
    }
    assert!(
        fallbacks > 0,
        "no limiter check fell back during the outage"
    );
    // The outbox delivered the email of the product created during the outage, once.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let emails: Vec<String> = std::fs::read_dir(cluster.mail_dir())
            .map(|entries| {
                entries
                    .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .filter(|text| text.contains("Outage Lantern"))
                    .collect()
            })
            .unwrap_or_default();
        if !emails.is_empty() {
            assert_eq!(emails.len(), 1, "one email for one create");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no email for the product created during the outage"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
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
    // Events flow again after the outage: a write reaches every client...
    let put = cluster
        .put_product(7, &json!({"name": "After the outage"}))
        .await;
    assert_eq!(put.status(), 200);
    let created_name = "Outage Lantern";
    for (watcher, base) in watchers.iter().zip(&cluster.instances) {
        watcher
            .wait_for(Duration::from_secs(10), "the write after the outage", |m| {
                m["type"] == "product.updated" && m["product"]["name"] == "After the outage"
            })
            .await;
        // ...on the socket it had before the outage (never closed, nor broken)...
        assert_eq!(watcher.ended(), None, "{base}'s client lost its socket");
        // ...having missed nothing unannounced: in offset order with no gap and no repeat,
        // except across a `resync` (the client refetches); without any `resync`, every
        // acknowledged write (and the product created during the outage) was delivered.
        let messages = watcher.messages();
        let mut last: Option<u64> = None;
        let mut resyncs = 0;
        for m in &messages {
            match m["type"].as_str().unwrap_or_default() {
                "resync" => {
                    resyncs += 1;
                    last = None;
                }
                "product.updated" | "product.created" | "product.deleted" => {
                    let offset = m["offset"].as_u64().expect("an offset");
                    if let Some(last) = last {
                        assert_eq!(
                            offset,
                            last + 1,
                            "{base}: a gap or a repeat without resync: {messages:?}"
                        );
                    }
                    last = Some(offset);
                }
                other => panic!("{base}: unexpected {other}: {m}"),
            }
        }
        if resyncs == 0 {
            let names: HashSet<&str> = messages
                .iter()
                .filter_map(|m| m["product"]["name"].as_str())
                .collect();
            for (id, name) in &tally.every_acknowledged {
                assert!(
                    names.contains(name.as_str()),
                    "{base}: no resync, yet the write of {name:?} to {id} was not delivered"
                );
            }
            assert!(names.contains(created_name), "{base}: {messages:?}");
        }
        println!("{base}: {} messages, {resyncs} resync", messages.len());
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

#[actix_web::test]
async fn an_instance_killed_mid_job_leaves_the_job_to_another_and_its_client_misses_nothing() {
    let cluster = Cluster::up_with(
        "killed",
        Options {
            env: vec![
                ("APP__JOBS__TEST__ENABLED", "true".into()),
                // Short leases: a dead instance's job is taken over within about a second.
                ("APP__JOBS__HEARTBEAT_INTERVAL_MS", "250".into()),
                ("APP__JOBS__STALLED_AFTER_MS", "1000".into()),
            ],
            ..Options::default()
        },
    );
    // A job that runs 8 s (the test queue's `sleep`): its instance is killed in the middle.
    cluster
        .enqueue_test_job("long-job", &json!({"kind": "sleep", "ms": 8000}))
        .await;
    let log = cluster
        .wait_for_test_job_log(Duration::from_secs(20), |log| {
            !job_events(log, "long-job", "start").is_empty()
        })
        .await;
    let killed = job_events(&log, "long-job", "start")[0]["instanceId"]
        .as_str()
        .expect("the running instance's id")
        .to_string();
    let victim = ["a", "b", "c"]
        .iter()
        .position(|name| *name == killed)
        .map(|i| cluster.instances[i].clone())
        .expect("one of the three runs it");

    // A client of the same instance, through nginx: round robin reaches it within three
    // connections (the connection count of that instance tells which one did).
    let mut socket = None;
    let mut elsewhere = Vec::new();
    for _ in 0..6 {
        let candidate = subscribe(&cluster.url).await;
        let m = metrics(&victim, &cluster.token).await.expect("metrics");
        if m["websocket"]["connections"] == 1 {
            socket = Some(candidate);
            break;
        }
        elsewhere.push(candidate);
    }
    drop(elsewhere);
    let mut socket = socket.expect("nginx sent a WebSocket to the job's instance");
    let put = cluster.put_product(3, &json!({"name": "Seen 0"})).await;
    assert_eq!(put.status(), 200);
    let first = next(&mut socket).await;
    assert_eq!(first["product"]["name"], "Seen 0", "{first}");
    let mut last = first["offset"].as_u64().expect("an offset");

    let log = cluster.test_job_log().await;
    assert!(
        job_events(&log, "long-job", "done").is_empty(),
        "the job ended before its instance was killed (make it longer): {log:?}"
    );
    cluster.kill(&killed);
    let dropped = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("the socket ends with its instance");
    assert!(
        !matches!(dropped, Some(Ok(awc::ws::Frame::Text(_)))),
        "{dropped:?}"
    );
    let killed = killed.as_str();

    // Writes meanwhile, through nginx (to the live instances).
    for i in 1..=5 {
        let put = cluster
            .put_product(3, &json!({"name": format!("Missed {i}")}))
            .await;
        assert_eq!(put.status(), 200, "write {i} while {killed} is down");
    }
    // Reconnect through nginx with `since`: the five, in order, then live.
    let url = format!("{}/ws", cluster.url.replacen("http", "ws", 1));
    let (_, mut socket) = awc::Client::new()
        .ws(url)
        .connect()
        .await
        .expect("reconnects");
    socket
        .send(awc::ws::Message::Text(
            json!({"type": "subscribe", "topics": ["product:3"], "since": last})
                .to_string()
                .into(),
        ))
        .await
        .expect("sent");
    assert_eq!(next(&mut socket).await["type"], "subscribed");
    for i in 1..=5 {
        let event = next(&mut socket).await;
        assert_eq!(event["product"]["name"], format!("Missed {i}"), "{event}");
        let offset = event["offset"].as_u64().expect("an offset");
        assert!(offset > last, "in order: {offset} after {last}");
        last = offset;
    }
    let put = cluster.put_product(3, &json!({"name": "Live again"})).await;
    assert_eq!(put.status(), 200);
    assert_eq!(next(&mut socket).await["product"]["name"], "Live again");

    // Another instance took the job over once its lease lapsed and ran it to the end,
    // once; the queue holds nothing of it any more.
    let log = cluster
        .wait_for_test_job_log(Duration::from_secs(30), |log| {
            !job_events(log, "long-job", "done").is_empty()
        })
        .await;
    let starts = job_events(&log, "long-job", "start");
    let done = job_events(&log, "long-job", "done");
    assert_eq!(starts.len(), 2, "{log:?}");
    assert_eq!(done.len(), 1, "{log:?}");
    assert_ne!(done[0]["instanceId"], killed, "{log:?}");
    assert_eq!(done[0]["instanceId"], starts[1]["instanceId"], "{log:?}");
    let queues: Value = reqwest::Client::new()
        .get(format!("{}/admin/queues", cluster.url))
        .bearer_auth(&cluster.token)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let test = queues["data"]
        .as_array()
        .and_then(|all| all.iter().find(|q| q["name"] == "test"))
        .unwrap_or_else(|| panic!("the test queue is listed: {queues}"));
    assert_eq!(
        (&test["waiting"], &test["active"], &test["failed"]),
        (&json!(0), &json!(0), &json!(0)),
        "{test}"
    );
}
