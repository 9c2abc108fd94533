//! A policy meets every spelling of a path that reaches its handler: percent-encoded
//! letters, doubled slashes, a trailing slash.

use reqwest::{Client, Method};
use serde_json::{json, Value};

use super::{header, limited, policy};
use crate::helpers::{spawn_app, spawn_app_with, TestApp};

async fn send(
    app: &TestApp,
    client: &Client,
    method: &Method,
    path: &str,
    from: &str,
    body: &Value,
) -> reqwest::Response {
    let mut request = client
        .request(method.clone(), app.url(path))
        .header("x-forwarded-for", from);
    if *method != Method::GET && *method != Method::DELETE {
        request = request.json(body);
    }
    request.send().await.expect("sent")
}

#[actix_web::test]
async fn twelve_wrong_passwords_through_an_encoded_login_path_meet_the_login_limit() {
    let app = spawn_app_with(|s| s.rate_limit.enabled = true).await;
    let client = app.anonymous_client();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let response = client
            .post(app.url("/api/auth/%6Cogin"))
            .json(&json!({"email": app.admin_email, "password": "not the password 1"}))
            .send()
            .await
            .expect("sent");
        statuses.push(response.status().as_u16());
    }
    // The helper's own admin sign-in used one of this address's ten.
    assert!(statuses[..9].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses[10..], [429, 429], "{statuses:?}");
}

/// One limited route: how to call it, spelled plainly and otherwise.
struct Route {
    method: Method,
    plain: &'static str,
    spelled: &'static str,
    admin: bool,
    body: Value,
}

fn routes(body_email: impl Fn(&str) -> String) -> Vec<Route> {
    let product = json!({"name": "Lamp", "category": "Home", "price": 5});
    let account = |n: &str| json!({"email": body_email(n), "password": "a long enough password"});
    let route = |method, plain, spelled, admin, body| Route {
        method,
        plain,
        spelled,
        admin,
        body,
    };
    vec![
        route(
            Method::POST,
            "/api/products",
            "/api/%70roducts",
            true,
            product,
        ),
        route(
            Method::PUT,
            "/api/products/1",
            "/api/%70roducts/%31",
            true,
            json!({"price": 6}),
        ),
        route(
            Method::GET,
            "/api/products",
            "/api/product%73",
            false,
            json!(null),
        ),
        route(
            Method::POST,
            "/api/auth/login",
            "/api/auth/%6Cogin",
            false,
            account("l"),
        ),
        route(
            Method::POST,
            "/api/auth/register",
            "/api/auth/%72egister",
            false,
            account("r"),
        ),
        route(
            Method::DELETE,
            "/api/products/1",
            "/api/product%73/1",
            true,
            json!(null),
        ),
    ]
}

fn route_policies() -> Vec<catalog_cache::configuration::PolicySettings> {
    vec![
        policy("create", "POST", "/api/products", 1, 3600),
        policy("update", "PUT", "/api/products/*", 1, 3600),
        policy("list", "GET", "/api/products", 1, 3600),
        policy("login", "POST", "/api/auth/login", 1, 3600),
        policy("register", "POST", "/api/auth/register", 1, 3600),
        policy("delete", "DELETE", "/api/products/*", 1, 3600),
    ]
}

#[actix_web::test]
async fn every_limited_route_counts_its_percent_encoded_spelling() {
    let app = spawn_app_with(|s| {
        limited(s, route_policies());
        s.rate_limit.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    app.seed(1).await;
    let anonymous = app.anonymous_client();
    let id = uuid::Uuid::new_v4().simple().to_string();
    for (i, route) in routes(|n| format!("{n}-{id}@test.example"))
        .iter()
        .enumerate()
    {
        let client = if route.admin { &app.client } else { &anonymous };
        // Each route from an address of its own, so only its own policy counts.
        let from = format!("198.51.100.{i}");
        let first = send(
            &app,
            client,
            &route.method,
            route.spelled,
            &from,
            &route.body,
        )
        .await;
        assert!(
            [200, 201, 401].contains(&first.status().as_u16()),
            "{} {} reaches its handler: {}",
            route.method,
            route.spelled,
            first.status()
        );
        assert_eq!(
            header(&first, "x-ratelimit-remaining"),
            "0",
            "{}",
            route.spelled
        );
        let second = send(&app, client, &route.method, route.plain, &from, &route.body).await;
        assert_eq!(second.status(), 429, "{} {}", route.method, route.plain);
    }
}

#[actix_web::test]
async fn an_encoded_api_prefix_meets_the_global_policy() {
    let app = spawn_app_with(|s| limited(s, vec![policy("global", "", "/api/*", 3, 900)])).await;
    app.seed(1).await;
    let client = app.anonymous_client();
    let first = client
        .get(app.url("/%61pi/products/1"))
        .send()
        .await
        .expect("sent");
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "ratelimit"), "\"global\";r=1;t=900");
    let second = client
        .get(app.url("/%61%70%69/products/%31"))
        .send()
        .await
        .expect("sent");
    assert_eq!(second.status(), 200);
    let third = client
        .get(app.url("/api/products/1"))
        .send()
        .await
        .expect("sent");
    assert_eq!(third.status(), 429);
}

const SLASHED: [(&str, &str); 8] = [
    ("GET", "/api//products"),
    ("GET", "/api/products/"),
    ("POST", "/api/products/"),
    ("PUT", "/api/products//1"),
    ("DELETE", "/api/products/1/"),
    ("POST", "/api//auth/login"),
    ("POST", "/api/auth/login/"),
    ("POST", "/api/auth/register/"),
];

#[actix_web::test]
async fn the_router_sends_doubled_and_trailing_slashes_to_no_handler() {
    // The limiter is off here: this is what the router alone does with these spellings.
    let app = spawn_app().await;
    app.seed(1).await;
    for (method, path) in SLASHED {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let response = send(&app, &app.client, &method, path, "", &json!({"price": 6})).await;
        assert_eq!(response.status(), 404, "{method} {path}");
    }
}

#[actix_web::test]
async fn doubled_and_trailing_slashes_are_counted_all_the_same() {
    // They reach no handler today (the test above), but a path-normalising layer in
    // front of the router would make them: the limiter counts them like the plain path.
    let app = spawn_app_with(|s| {
        limited(s, route_policies());
        s.rate_limit.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    app.seed(1).await;
    let plain = [
        "/api/products",
        "/api/products",
        "/api/products",
        "/api/products/1",
        "/api/products/1",
        "/api/auth/login",
        "/api/auth/login",
        "/api/auth/register",
    ];
    let anonymous = app.anonymous_client();
    for (i, ((method, path), plain)) in SLASHED.iter().zip(plain).enumerate() {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let from = format!("198.51.100.{i}");
        let client = if path.contains("/auth/") || method == Method::GET {
            &anonymous
        } else {
            &app.client
        };
        let body =
            json!({"email": format!("s{i}@test.example"), "password": "a long enough password"});
        let first = send(&app, client, &method, path, &from, &body).await;
        assert_eq!(
            header(&first, "x-ratelimit-remaining"),
            "0",
            "{method} {path}"
        );
        let second = send(&app, client, &method, plain, &from, &body).await;
        assert_eq!(second.status(), 429, "{method} {plain} after {path}");
    }
}
