//! `GET /metrics`: the series follow traffic, labelled by route pattern.

use crate::helpers::{spawn_app_with, TestApp};

/// The value of the one sample named `name` whose labels include every `labels` pair
/// (0 when absent: a counter not yet touched).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            if metric != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            all.then(|| value.parse().expect("a number"))
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
    found.first().copied().unwrap_or(0.0)
}

/// Scrapes from loopback, without any credentials.
async fn scrape(app: &TestApp) -> String {
    let response = app
        .anonymous_client()
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.expect("text")
}

#[actix_web::test]
async fn requests_are_counted_by_route_pattern_method_and_status() {
    let app = spawn_app_with(|s| s.server.workers = 1).await;
    app.seed(43).await;
    let get = ("method", "GET");
    let product_ok = [get, ("route", "/api/products/{id}"), ("status", "200")];
    let unmatched = [get, ("route", "unmatched"), ("status", "404")];
    let before = scrape(&app).await;

    for path in ["/api/products/42", "/api/products/43", "/api/products/42"] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
    assert_eq!(app.get("/no/such/route").await.status(), 404);
    let after = scrape(&app).await;

    let delta = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    assert_eq!(delta("http_requests_total", &product_ok), 3.0, "{after}");
    assert_eq!(delta("http_requests_total", &unmatched), 1.0, "{after}");
    assert!(!after.contains("route=\"/api/products/42\""), "{after}");
    assert!(!after.contains("/no/such/route"), "{after}");
    // The latency histogram: buckets by pattern, and its count.
    let le_inf = [product_ok[0], product_ok[1], product_ok[2], ("le", "+Inf")];
    assert_eq!(delta("http_request_duration_seconds_bucket", &le_inf), 3.0);
    assert_eq!(
        delta("http_request_duration_seconds_count", &product_ok),
        3.0
    );
    // Two first reads miss L1 and L2, the repeat is an L1 hit.
    let cache = |tier, result| {
        delta(
            "cache_requests_total",
            &[("tier", tier), ("result", result)],
        )
    };
    assert_eq!(cache("l1", "miss"), 2.0, "{after}");
    assert_eq!(cache("l2", "miss"), 2.0, "{after}");
    assert_eq!(cache("l1", "hit"), 1.0, "{after}");
    assert_eq!(delta("cache_db_loads_total", &[]), 2.0, "{after}");
    assert!(after.contains("cache_coalesced_loads_total "), "{after}");
    assert_eq!(
        sample(&after, "redis_breaker_state", &[("state", "closed")]),
        1.0
    );
    assert_eq!(
        sample(&after, "redis_breaker_state", &[("state", "open")]),
        0.0
    );
    // L2 reads and writes went through Redis and were timed.
    assert!(delta("redis_command_duration_seconds_count", &[("outcome", "ok")]) >= 4.0);
    assert_eq!(
        sample(&after, "db_pool_max_size", &[]),
        app.settings.database.pool_max_size as f64
    );
    assert!(after.contains("db_pool_connections_in_use "), "{after}");
    assert!(after.contains("db_pool_waiting "), "{after}");
    assert_eq!(sample(&after, "websocket_connections", &[]), 0.0);
    assert!(after.contains("websocket_closed_slow_total "), "{after}");
    let id = sample(
        &after,
        "instance_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
    );
    assert_eq!(id, 1.0, "{after}");
}

#[actix_web::test]
async fn rate_limited_requests_are_counted_by_policy() {
    let app = spawn_app_with(|s| {
        s.rate_limit.enabled = true;
        s.rate_limit.policies = vec![catalog_cache::configuration::PolicySettings {
            name: "one-list".into(),
            methods: vec!["GET".into()],
            path: "/api/products".into(),
            limit: 1,
            window_secs: 60,
            identity: "ip".into(),
            audience: "any".into(),
            algorithm: "gcra".into(),
        }];
    })
    .await;
    let before = scrape(&app).await;
    let statuses = [
        app.get("/api/products").await.status().as_u16(),
        app.get("/api/products").await.status().as_u16(),
        app.get("/api/products").await.status().as_u16(),
    ];
    assert_eq!(statuses, [200, 429, 429]);
    let after = scrape(&app).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    assert_eq!(
        delta("rate_limited_requests_total", &[("policy", "one-list")]),
        2.0,
        "{after}"
    );
    let limited = [
        ("method", "GET"),
        ("route", "/api/products"),
        ("status", "429"),
    ];
    assert_eq!(delta("http_requests_total", &limited), 2.0, "{after}");
    assert_eq!(
        delta("rate_limiter_checks_total", &[("result", "limited")]),
        2.0,
        "{after}"
    );
}
