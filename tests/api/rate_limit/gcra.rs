//! The GCRA algorithm, chosen per policy: bursts up to the limit, refills one period at a
//! time, shares one count across instances, and mixes with sliding-log policies.

use catalog_cache::configuration::PolicySettings;
use catalog_cache::ratelimit::policy::Algorithm;
use catalog_cache::ratelimit::script::{command, decode, SOURCE};
use catalog_cache::ratelimit::CheckKey;

use super::{concurrent_over_two, get, header, limited, policy};
use crate::helpers::{assert_error, spawn_app, spawn_app_from, spawn_app_with, test_settings};

fn gcra(name: &str, method: &str, path: &str, limit: u32, window_secs: u64) -> PolicySettings {
    let mut p = policy(name, method, path, limit, window_secs);
    p.algorithm = "gcra".into();
    p
}

#[actix_web::test]
async fn gcra_limit_n_lets_n_through_in_a_burst_then_refuses() {
    let app =
        spawn_app_with(|s| limited(s, vec![gcra("list", "GET", "/api/products", 5, 3600)])).await;
    let client = app.anonymous_client();
    for left in (0..5).rev() {
        let response = get(&app, &client, "/api/products").await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-ratelimit-remaining"), left.to_string());
        assert_eq!(header(&response, "x-ratelimit-limit"), "5");
        assert_eq!(header(&response, "ratelimit-policy"), "\"list\";q=5;w=3600");
    }
    for _ in 0..3 {
        let response = get(&app, &client, "/api/products").await;
        assert_eq!(header(&response, "x-ratelimit-remaining"), "0");
        // One slot comes back every 3600 / 5 = 720 s.
        let retry: u64 = header(&response, "retry-after").parse().expect("seconds");
        assert!((715..=720).contains(&retry), "{retry}");
        assert_eq!(
            header(&response, "ratelimit"),
            format!("\"list\";r=0;t={retry}")
        );
        let body = assert_error(response, 429, "rate_limited").await;
        assert_eq!(body["error"]["retryAfter"], retry);
    }
}

#[actix_web::test]
async fn gcra_refills_one_period_at_a_time() {
    let app =
        spawn_app_with(|s| limited(s, vec![gcra("slow", "GET", "/api/products", 2, 2)])).await;
    let client = app.anonymous_client();
    for expected in [200, 200, 429] {
        assert_eq!(get(&app, &client, "/api/products").await.status(), expected);
    }
    // One period (1 s) later one request fits again, not two.
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    for expected in [200, 429] {
        assert_eq!(get(&app, &client, "/api/products").await.status(), expected);
    }
}

#[actix_web::test]
async fn two_hundred_concurrent_gcra_requests_on_two_instances_let_exactly_fifty_through() {
    let mut settings = test_settings();
    limited(
        &mut settings,
        vec![gcra("burst", "GET", "/api/products", 50, 3600)],
    );
    // As in the sliding-log test: give Redis time so this checks the shared count.
    settings.redis.timeout_ms = 2000;
    let a = spawn_app_from(settings.clone()).await;
    let b = spawn_app_from(settings).await;
    let statuses = concurrent_over_two(&a, &b, 200).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((ok, limited), (50, 150), "{statuses:?}");
}

#[actix_web::test]
async fn gcra_and_log_policies_decide_together_and_refusals_use_no_quota() {
    let app = spawn_app_with(|s| {
        limited(
            s,
            vec![
                gcra("wide", "", "/api/products*", 10, 3600),
                policy("narrow", "GET", "/api/products", 2, 3600),
            ],
        )
    })
    .await;
    app.seed(1).await;
    let client = app.anonymous_client();
    for expected in [200, 200, 429, 429, 429] {
        assert_eq!(get(&app, &client, "/api/products").await.status(), expected);
    }
    // Only the two allowed requests used GCRA quota: this is the third, and the quota is
    // whole again three periods (3 × 360 s) from now.
    let other = get(&app, &client, "/api/products/1").await;
    assert_eq!(other.status(), 200);
    assert_eq!(header(&other, "ratelimit"), "\"wide\";r=7;t=1080");
}

#[actix_web::test]
async fn one_script_run_per_request_counts_the_same_as_batches() {
    let mut settings = test_settings();
    limited(
        &mut settings,
        vec![
            gcra("burst", "GET", "/api/products", 30, 3600),
            policy("log", "GET", "/api/products", 40, 3600),
        ],
    );
    settings.rate_limit.batch_max = 1;
    settings.redis.timeout_ms = 2000;
    let a = spawn_app_from(settings.clone()).await;
    let b = spawn_app_from(settings).await;
    let statuses = concurrent_over_two(&a, &b, 100).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(ok, 30, "{statuses:?}");
    // The next one is refused by GCRA, the closest policy.
    let next = get(&a, &a.anonymous_client(), "/api/products").await;
    assert_eq!(
        header(&next, "ratelimit-policy"),
        "\"burst\";q=30;w=3600, \"log\";q=40;w=3600"
    );
    assert_eq!(header(&next, "x-ratelimit-remaining"), "0");
}

#[actix_web::test]
async fn without_redis_the_local_fallback_counts_gcra_too() {
    let mut redis = crate::private_redis::PrivateRedis::start_ready().await;
    let url = secrecy::SecretString::from(redis.url());
    let app = spawn_app_with(|s| {
        limited(s, vec![gcra("list", "GET", "/api/products", 3, 3600)]);
        s.redis.url = url;
    })
    .await;
    let client = app.anonymous_client();
    let first = get(&app, &client, "/api/products").await;
    assert_eq!(header(&first, "x-ratelimit-remaining"), "2");
    redis.kill();
    // The local count starts afresh: a burst of three, then 429 with GCRA's wait.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(get(&app, &client, "/api/products").await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let refused = get(&app, &client, "/api/products").await;
    let retry: u64 = header(&refused, "retry-after").parse().expect("seconds");
    assert!((1190..=1200).contains(&retry), "one period: {retry}");
}

/// A client that keeps using its quota keeps its count: the key (moved in place while the
/// client stays ahead, its TTL set when it was written) must outlive its TAT however long
/// the client goes on, or it would expire mid-use and hand out a fresh burst.
#[actix_web::test]
async fn steady_use_past_two_windows_keeps_the_count_and_the_key() {
    // 4 per second: a burst of 4, then one every 250 ms.
    let app =
        spawn_app_with(|s| limited(s, vec![gcra("steady", "GET", "/api/products", 4, 1)])).await;
    let client = app.anonymous_client();
    let mut redis = app.redis_connection().await;
    let started = std::time::Instant::now();
    let mut allowed = 0u32;
    // 2.6 s: past the two windows a key is given when it is first written.
    while started.elapsed() < std::time::Duration::from_millis(2600) {
        if get(&app, &client, "/api/products").await.status() == 200 {
            allowed += 1;
        }
        let keys = app.redis_keys("rl:steady:gcra:*").await;
        assert_eq!(
            keys.len(),
            1,
            "the client's key is there while it is in use"
        );
        let (tat, ttl_ms, time): (Option<u64>, i64, (u64, u64)) = redis::pipe()
            .get(&keys[0])
            .pttl(&keys[0])
            .cmd("TIME")
            .query_async(&mut redis)
            .await
            .expect("key state");
        let now_us = time.0 * 1_000_000 + time.1;
        let tat = tat.expect("a TAT");
        let needed_ms = tat.saturating_sub(now_us) / 1000;
        assert!(
            ttl_ms >= needed_ms as i64,
            "TTL {ttl_ms} ms < TAT ahead {needed_ms} ms"
        );
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    }
    // GCRA's bound over 2.6 s: the burst plus one per 250 ms (a lost key would add a burst).
    let elapsed_ms = started.elapsed().as_millis() as u32;
    assert!(
        allowed <= 4 + elapsed_ms / 250 + 1,
        "{allowed} allowed in {elapsed_ms} ms"
    );
    assert!(allowed >= 8, "the client got its steady rate: {allowed}");
}

/// The script reuses a single-GCRA request's policy numbers for the next request when its
/// arguments are the same: one batch whose requests meet different GCRA policies,
/// interleaved, must still decide each by its own limit and window.
#[actix_web::test]
async fn a_batch_mixing_gcra_policies_decides_each_request_by_its_own_policy() {
    let app = spawn_app().await;
    let mut redis = app.redis_connection().await;
    let check = |name: &str, limit: u32| {
        vec![CheckKey {
            key: format!(
                "{}rl:{name}:gcra:{{ip:192.0.2.1}}",
                app.settings.redis.prefix
            ),
            limit,
            window_ms: 60_000,
            algorithm: Algorithm::Gcra,
        }]
    };
    // Policy `two` lets 2 through, `five` 5; in one run: two, five, two, two, five.
    let requests: Vec<_> = [("two", 2), ("five", 5), ("two", 2), ("two", 2), ("five", 5)]
        .iter()
        .map(|&(name, limit)| (check(name, limit), String::new()))
        .collect();
    let script = redis::Script::new(SOURCE);
    let _: String = script.load_async(&mut redis).await.expect("loaded");
    let raw: Vec<i64> = command(script.get_hash(), &requests)
        .query_async(&mut redis)
        .await
        .expect("script run");
    let decisions = decode(&raw, &[1; 5]).expect("a reply per request");
    let allowed: Vec<bool> = decisions.iter().map(|d| d.allowed).collect();
    assert_eq!(allowed, [true, true, true, false, true]);
    let remaining: Vec<u64> = decisions.iter().map(|d| d.states[0].remaining).collect();
    assert_eq!(remaining, [1, 4, 0, 0, 3]);
    // A refused request waits one period of its own policy (60 s / 2), not the other's.
    assert!(
        (29_000..=30_000).contains(&decisions[3].states[0].reset_ms),
        "{:?}",
        decisions[3]
    );
}
