//! The rate limiter against real Redis: exact counts, the sliding window, several
//! policies per route, two instances sharing Redis, headers, spoofing, and Redis dying.
//! Path spellings, client identity behind proxies and GCRA have files of their own.

mod gcra;
mod identity;
mod paths;

use catalog_cache::configuration::{PolicySettings, RateLimitFallback, Settings};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, spawn_app_from, spawn_app_with, test_settings, TestApp, PASSWORD,
};
use crate::private_redis::PrivateRedis;

fn policy(name: &str, method: &str, path: &str, limit: u32, window_secs: u64) -> PolicySettings {
    PolicySettings {
        name: name.into(),
        methods: if method.is_empty() {
            vec![]
        } else {
            vec![method.into()]
        },
        path: path.into(),
        limit,
        window_secs,
        identity: "client".into(),
        audience: "any".into(),
        algorithm: "sliding_log".into(),
    }
}

fn limited(settings: &mut Settings, policies: Vec<PolicySettings>) {
    settings.rate_limit.enabled = true;
    settings.rate_limit.policies = policies;
}

async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> reqwest::Response {
    client.get(app.url(path)).send().await.expect("sent")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing"))
        .to_str()
        .expect("ascii")
        .to_string()
}

/// `n` concurrent `GET /api/products` from one anonymous client, alternating between
/// two instances; their statuses.
async fn concurrent_over_two(a: &TestApp, b: &TestApp, n: usize) -> Vec<u16> {
    let client = a.anonymous_client();
    let requests = (0..n).map(|i| {
        let url = if i % 2 == 0 {
            a.url("/api/products")
        } else {
            b.url("/api/products")
        };
        let client = client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .expect("sent")
                .status()
                .as_u16()
        }
    });
    futures_util::future::join_all(requests).await
}

#[actix_web::test]
async fn limit_n_lets_n_through_and_refuses_the_next() {
    let app =
        spawn_app_with(|s| limited(s, vec![policy("list", "GET", "/api/products", 5, 3600)])).await;
    let client = app.anonymous_client();
    for left in (0..5).rev() {
        let response = get(&app, &client, "/api/products").await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-ratelimit-remaining"), left.to_string());
    }
    for _ in 0..3 {
        let response = get(&app, &client, "/api/products").await;
        assert_eq!(header(&response, "x-ratelimit-remaining"), "0");
        let retry: u64 = header(&response, "retry-after").parse().expect("seconds");
        assert!((3590..=3600).contains(&retry), "{retry}");
        let body = assert_error(response, 429, "rate_limited").await;
        assert_eq!(body["error"]["retryAfter"], retry);
    }
    // Unmatched routes carry no limit headers.
    let health = get(&app, &client, "/healthz").await;
    assert!(health.headers().get("ratelimit").is_none());
}

#[actix_web::test]
async fn rejected_requests_use_no_quota_in_any_policy() {
    let app = spawn_app_with(|s| {
        limited(
            s,
            vec![
                policy("wide", "", "/api/products*", 10, 3600),
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
    // Only the two allowed requests count against "wide": this is its third.
    let other = get(&app, &client, "/api/products/1").await;
    assert_eq!(other.status(), 200);
    assert_eq!(header(&other, "ratelimit"), "\"wide\";r=7;t=3600");
}

#[actix_web::test]
async fn the_window_slides_and_lets_requests_through_again() {
    let app =
        spawn_app_with(|s| limited(s, vec![policy("slide", "GET", "/api/products", 2, 1)])).await;
    let client = app.anonymous_client();
    for expected in [200, 200, 429, 429] {
        assert_eq!(get(&app, &client, "/api/products").await.status(), expected);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for expected in [200, 200, 429] {
        assert_eq!(get(&app, &client, "/api/products").await.status(), expected);
    }
}

#[actix_web::test]
async fn headers_list_every_policy_and_show_the_closest() {
    let app = spawn_app_with(|s| {
        limited(
            s,
            vec![
                policy("global", "", "/api/*", 100, 900),
                policy("list", "GET", "/api/products", 3, 60),
            ],
        )
    })
    .await;
    let response = get(&app, &app.anonymous_client(), "/api/products").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "ratelimit-policy"),
        "\"global\";q=100;w=900, \"list\";q=3;w=60"
    );
    assert_eq!(header(&response, "ratelimit"), "\"list\";r=2;t=60");
    assert_eq!(header(&response, "x-ratelimit-limit"), "3");
    assert_eq!(header(&response, "x-ratelimit-remaining"), "2");
    let reset = header(&response, "x-ratelimit-reset");
    let reset = chrono::DateTime::parse_from_rfc3339(&reset).expect("RFC 3339 reset");
    assert!(reset.timestamp() > chrono::Utc::now().timestamp());
}

#[actix_web::test]
async fn signed_in_users_are_counted_by_id_and_get_their_own_policy() {
    let app = spawn_app_with(|s| {
        let mut anonymous = policy("anon", "GET", "/api/products", 1, 3600);
        anonymous.audience = "anonymous".into();
        let mut user = policy("user", "GET", "/api/products", 3, 3600);
        user.audience = "signed_in".into();
        limited(s, vec![anonymous, user]);
    })
    .await;
    let anonymous = app.anonymous_client();
    assert_eq!(get(&app, &anonymous, "/api/products").await.status(), 200);
    assert_eq!(get(&app, &anonymous, "/api/products").await.status(), 429);
    // Same address, but signed in: another identity and another policy.
    let response = get(&app, &app.client, "/api/products").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "ratelimit"), "\"user\";r=2;t=3600");
}

#[actix_web::test]
async fn two_hundred_concurrent_requests_on_two_instances_let_exactly_fifty_through() {
    let mut settings = test_settings();
    limited(
        &mut settings,
        vec![policy("burst", "GET", "/api/products", 50, 3600)],
    );
    // The test's own 200 requests share one thread with both limiter actors: give Redis
    // time to answer so this checks the shared count, not the timeout fallback.
    settings.redis.timeout_ms = 2000;
    let a = spawn_app_from(settings.clone()).await;
    let b = spawn_app_from(settings).await;
    let statuses = concurrent_over_two(&a, &b, 200).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((ok, limited), (50, 150), "{statuses:?}");
}

#[actix_web::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let app =
        spawn_app_with(|s| limited(s, vec![policy("list", "GET", "/api/products", 2, 3600)])).await;
    let client = app.anonymous_client();
    let statuses = futures_util::future::join_all((0..4).map(|i| {
        client
            .get(app.url("/api/products"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .send()
    }))
    .await;
    let ok = statuses
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status() == 200))
        .count();
    assert_eq!(ok, 2);

    // From a trusted proxy the header is believed: each address has its own quota.
    let trusted = spawn_app_with(|s| {
        limited(s, vec![policy("list", "GET", "/api/products", 1, 3600)]);
        s.rate_limit.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    for i in 0..3 {
        let response = client
            .get(trusted.url("/api/products"))
            .header("x-forwarded-for", format!("6.6.6.6, 198.51.100.{i}"))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
    }
}

#[actix_web::test]
async fn login_attempts_are_limited_per_email_across_addresses() {
    let app = spawn_app_with(|s| {
        let mut per_email = policy("login-email", "POST", "/api/auth/login", 2, 300);
        per_email.identity = "email".into();
        limited(s, vec![per_email]);
        s.rate_limit.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let client = app.anonymous_client();
    let attempt = |ip: &str, email: &str| {
        client
            .post(app.url("/api/auth/login"))
            .header("x-forwarded-for", ip.to_string())
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
    };
    // The body still reaches the handler after the limiter read the email from it.
    assert_eq!(
        attempt("198.51.100.1", "Victim@Example.com")
            .await
            .expect("sent")
            .status(),
        401
    );
    assert_eq!(
        attempt("198.51.100.2", "victim@example.com")
            .await
            .expect("sent")
            .status(),
        401
    );
    let third = attempt("198.51.100.3", "victim@example.com")
        .await
        .expect("sent");
    assert_error(third, 429, "rate_limited").await;
    // Another account is not affected.
    let admin = attempt("198.51.100.4", &app.admin_email)
        .await
        .expect("sent");
    let body: Value = admin.json().await.expect("json");
    assert_eq!(body["data"]["role"], "admin");
}

async fn limiter_without_redis(fallback: RateLimitFallback) -> (TestApp, PrivateRedis) {
    let mut redis = PrivateRedis::start_ready().await;
    let url = SecretString::from(redis.url());
    let app = spawn_app_with(|s| {
        limited(s, vec![policy("list", "GET", "/api/products", 2, 3600)]);
        s.rate_limit.fallback = fallback;
        s.redis.url = url;
    })
    .await;
    let client = app.anonymous_client();
    // With Redis up, the shared limiter answers.
    let first = get(&app, &client, "/api/products").await;
    assert_eq!(header(&first, "x-ratelimit-remaining"), "1");
    redis.kill();
    (app, redis)
}

#[actix_web::test]
async fn without_redis_the_local_fallback_keeps_limiting() {
    let (app, _redis) = limiter_without_redis(RateLimitFallback::Local).await;
    let client = app.anonymous_client();
    // The local count starts afresh: two more pass, then 429, never 500.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&app, &client, "/api/products").await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    let stats = app.get("/readyz").await;
    assert_eq!(stats.status(), 503);
}

#[actix_web::test]
async fn without_redis_fail_open_lets_everything_through() {
    let (app, _redis) = limiter_without_redis(RateLimitFallback::FailOpen).await;
    let client = app.anonymous_client();
    for _ in 0..5 {
        let response = get(&app, &client, "/api/products").await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("ratelimit").is_none());
    }
}

#[actix_web::test]
async fn the_default_policies_follow_the_reference_numbers() {
    let app = spawn_app_with(|s| s.rate_limit.enabled = true).await;
    let anonymous = get(&app, &app.anonymous_client(), "/api/products").await;
    assert_eq!(
        header(&anonymous, "ratelimit-policy"),
        "\"global\";q=1000;w=900, \"products-list\";q=100;w=3600"
    );
    assert_eq!(
        header(&anonymous, "ratelimit"),
        // GCRA: whole again one period (3600 s / 100) after the one request.
        "\"products-list\";r=99;t=36"
    );
    let admin = get(&app, &app.client, "/api/products").await;
    assert_eq!(
        header(&admin, "ratelimit-policy"),
        "\"global\";q=1000;w=900, \"products-list-user\";q=1000;w=3600"
    );
    let create = app
        .post_json(
            "/api/products",
            &json!({"name": "Lamp", "category": "Home", "price": 5}),
        )
        .await;
    assert_eq!(create.status(), 201);
    assert_eq!(
        header(&create, "ratelimit"),
        "\"products-create\";r=9;t=3600"
    );
}

#[actix_web::test]
async fn while_redis_is_down_a_session_request_is_a_json_503_and_others_are_served() {
    let mut redis = PrivateRedis::start_ready().await;
    let url = SecretString::from(redis.url());
    let app = spawn_app_with(|s| s.redis.url = url).await;
    app.seed(1).await;
    assert_eq!(app.get("/api/auth/me").await.status(), 200);
    redis.kill();
    // The admin client carries a session cookie: its session cannot be loaded.
    let response = app.get("/api/auth/me").await;
    assert!(
        response.headers().contains_key("x-request-id"),
        "the 503 carries the request id"
    );
    let body = assert_error(response, 503, "service_unavailable").await;
    assert!(!body.to_string().contains("redis::"), "{body}");
    // A request without a session does not need Redis.
    let anonymous = get(&app, &app.anonymous_client(), "/api/products/1").await;
    assert_eq!(anonymous.status(), 200);
}

#[actix_web::test]
async fn registrations_are_limited_to_five_an_hour_per_address_by_default() {
    let app = spawn_app_with(|s| s.rate_limit.enabled = true).await;
    let client = app.anonymous_client();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut statuses = Vec::new();
    for i in 0..6 {
        let response = client
            .post(app.url("/api/auth/register"))
            .json(&json!({"email": format!("r{i}-{id}@test.example"), "password": PASSWORD}))
            .send()
            .await
            .expect("sent");
        if i == 0 {
            assert_eq!(
                header(&response, "ratelimit-policy"),
                "\"global\";q=1000;w=900, \"register\";q=5;w=3600"
            );
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [201, 201, 201, 201, 201, 429]);
}
