//! Accounts and sessions: register, login, logout, logout-all, the admin guard and the
//! session cookie, across instances.

use catalog_cache::configuration::Environment;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, new_client, spawn_app, spawn_app_from, spawn_app_with, TestApp, PASSWORD,
};

fn creds(email: &str, password: &str) -> Value {
    json!({"email": email, "password": password})
}

/// The session cookie's `name=value` from a response's `Set-Cookie`, if it sets one.
fn session_cookie(app: &TestApp, response: &reqwest::Response) -> Option<String> {
    let name = format!("{}=", app.settings.session.cookie_name);
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&name))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
}

fn set_cookie_header(app: &TestApp, response: &reqwest::Response) -> String {
    let name = format!("{}=", app.settings.session.cookie_name);
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&name))
        .expect("a session cookie")
        .to_string()
}

/// Logs in without a cookie store and returns the session cookie.
async fn login_raw(app: &TestApp, email: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(app.url("/api/auth/login"))
        .json(&creds(email, PASSWORD));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.expect("request sent")
}

async fn me_with(app: &TestApp, cookie: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url("/api/auth/me"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("request sent")
}

async fn register(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.anonymous_client()
        .post(app.url("/api/auth/register"))
        .json(&creds(email, password))
        .send()
        .await
        .expect("request sent")
}

#[actix_web::test]
async fn register_creates_a_user_and_refuses_taken_emails_in_any_case() {
    let app = spawn_app().await;
    let response = register(&app, "Ada@Example.com", PASSWORD).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["email"], "Ada@Example.com");
    assert_eq!(body["data"]["role"], "user");
    assert!(body["data"]["id"].is_i64());
    assert!(body["data"].get("passwordHash").is_none());

    assert_error(
        register(&app, "ada@example.COM", PASSWORD).await,
        409,
        "conflict",
    )
    .await;
}

#[actix_web::test]
async fn weak_passwords_and_bad_emails_are_422() {
    let app = spawn_app().await;
    let body = assert_error(
        register(&app, "a@b.io", "short").await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["error"]["fields"][0]["field"], "password");
    let long = "x".repeat(129);
    assert_error(
        register(&app, "a@b.io", &long).await,
        422,
        "validation_failed",
    )
    .await;
    let body = assert_error(
        register(&app, "not-an-email", PASSWORD).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["error"]["fields"][0]["field"], "email");
    let missing = app
        .anonymous_client()
        .post(app.url("/api/auth/register"))
        .json(&json!({"email": "a@b.io"}))
        .send()
        .await
        .expect("sent");
    assert_error(missing, 422, "validation_failed").await;
}

#[actix_web::test]
async fn wrong_credentials_get_the_same_401_whether_or_not_the_email_exists() {
    let app = spawn_app().await;
    let client = app.anonymous_client();
    let attempt = |email: &'static str| {
        client
            .post(app.url("/api/auth/login"))
            .json(&creds(email, "wrong password here"))
            .send()
    };
    app.register_and_login("known@example.com", PASSWORD).await;
    let known = assert_error(
        attempt("known@example.com").await.expect("sent"),
        401,
        "invalid_credentials",
    )
    .await;
    let unknown = assert_error(
        attempt("nobody@example.com").await.expect("sent"),
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(known, unknown);
}

#[actix_web::test]
async fn me_shows_the_signed_in_account_and_401_without_one() {
    let app = spawn_app().await;
    let client = app.register_and_login("me@example.com", PASSWORD).await;
    let body: Value = client
        .get(app.url("/api/auth/me"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(body["data"]["email"], "me@example.com");
    assert_eq!(body["data"]["role"], "user");
    let anonymous = app
        .anonymous_client()
        .get(app.url("/api/auth/me"))
        .send()
        .await
        .expect("sent");
    assert_error(anonymous, 401, "unauthorized").await;
    let admin: Value = app.get("/api/auth/me").await.json().await.expect("json");
    assert_eq!(admin["data"]["role"], "admin");
}

#[actix_web::test]
async fn product_writes_need_an_admin() {
    let app = spawn_app().await;
    app.seed(1).await;
    let lamp = json!({"name": "Lamp", "category": "Home", "price": 5, "stock": 1});
    let anonymous = app.anonymous_client();
    let user = app.register_and_login("user@example.com", PASSWORD).await;
    for (client, status, code) in [(&anonymous, 401, "unauthorized"), (&user, 403, "forbidden")] {
        let post = client
            .post(app.url("/api/products"))
            .json(&lamp)
            .send()
            .await
            .expect("sent");
        assert_error(post, status, code).await;
        let put = client
            .put(app.url("/api/products/1"))
            .json(&json!({"stock": 2}))
            .send()
            .await
            .expect("sent");
        assert_error(put, status, code).await;
        let patch = client
            .patch(app.url("/api/products/1"))
            .json(&json!({"stock": 2}))
            .send()
            .await
            .expect("sent");
        assert_error(patch, status, code).await;
        let delete = client
            .delete(app.url("/api/products/1"))
            .send()
            .await
            .expect("sent");
        assert_error(delete, status, code).await;
    }
    // Reads stay public, and the admin can write.
    assert_eq!(
        anonymous
            .get(app.url("/api/products/1"))
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );
    app.create_product(lamp).await;
}

#[actix_web::test]
async fn login_renews_the_session_id() {
    let app = spawn_app().await;
    app.seed(1).await;
    app.register_and_login("fix@example.com", PASSWORD).await;
    // An anonymous session first (a cart line makes one).
    let anonymous = reqwest::Client::new()
        .post(app.url("/api/cart/add"))
        .json(&json!({"productId": 1, "quantity": 1}))
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), 200);
    let before = session_cookie(&app, &anonymous).expect("an anonymous session");
    let login = login_raw(&app, "fix@example.com", Some(&before)).await;
    assert_eq!(login.status(), 200);
    let after = session_cookie(&app, &login).expect("a new session cookie");
    assert_ne!(before, after);
    // The planted id is worth nothing; the new one is signed in.
    assert_error(me_with(&app, &before).await, 401, "unauthorized").await;
    assert_eq!(me_with(&app, &after).await.status(), 200);
}

#[actix_web::test]
async fn logout_ends_the_session_server_side() {
    let app = spawn_app().await;
    app.register_and_login("out@example.com", PASSWORD).await;
    let login = login_raw(&app, "out@example.com", None).await;
    let cookie = session_cookie(&app, &login).expect("session cookie");
    assert_eq!(me_with(&app, &cookie).await.status(), 200);
    let logout = reqwest::Client::new()
        .post(app.url("/api/auth/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("sent");
    assert_eq!(logout.status(), 200);
    // Replaying the old cookie does not bring the session back.
    assert_error(me_with(&app, &cookie).await, 401, "unauthorized").await;
}

#[actix_web::test]
async fn logout_all_ends_every_session_on_every_instance() {
    let a = spawn_app().await;
    let b = spawn_app_from(a.settings.clone()).await;
    a.register_and_login("many@example.com", PASSWORD).await;
    let first = session_cookie(&a, &login_raw(&a, "many@example.com", None).await).expect("cookie");
    let second =
        session_cookie(&b, &login_raw(&b, "many@example.com", None).await).expect("cookie");
    assert_eq!(me_with(&b, &first).await.status(), 200);
    let all = reqwest::Client::new()
        .post(a.url("/api/auth/logout-all"))
        .header("cookie", &first)
        .send()
        .await
        .expect("sent");
    assert_eq!(all.status(), 200);
    // At once on the instance that ended them; within `session.account_cache_ms` (at
    // most a second) on the others, which may still hold the old generation.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let mut on_b = me_with(&b, &second).await;
    while on_b.status() == 200 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        on_b = me_with(&b, &second).await;
    }
    assert_error(on_b, 401, "unauthorized").await;
    assert_error(me_with(&a, &second).await, 401, "unauthorized").await;
    // A new login works again.
    let third = session_cookie(&a, &login_raw(&a, "many@example.com", None).await).expect("cookie");
    assert_eq!(me_with(&b, &third).await.status(), 200);
}

#[actix_web::test]
async fn a_login_on_one_instance_is_seen_by_another() {
    let a = spawn_app().await;
    let b = spawn_app_from(a.settings.clone()).await;
    let client = a.register_and_login("lb@example.com", PASSWORD).await;
    let body: Value = client
        .get(b.url("/api/auth/me"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(body["data"]["email"], "lb@example.com");
}

#[actix_web::test]
async fn the_cookie_is_httponly_lax_and_secure_in_production() {
    let prod = spawn_app_with(|s| s.environment = Environment::Production).await;
    prod.create_admin("prod@example.com").await;
    let cookie = set_cookie_header(&prod, &login_raw(&prod, "prod@example.com", None).await);
    assert!(cookie.starts_with("cc_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Max-Age=86400"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }

    let dev = spawn_app_with(|s| s.session.cookie_name = "sid".into()).await;
    dev.create_admin("dev@example.com").await;
    let cookie = set_cookie_header(&dev, &login_raw(&dev, "dev@example.com", None).await);
    assert!(
        cookie.starts_with("sid=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[actix_web::test]
async fn a_session_ends_at_its_absolute_lifetime_however_active() {
    // Long enough for a login and one request on a loaded machine, short for a test.
    let app = spawn_app_with(|s| s.session.absolute_lifetime_secs = 3).await;
    app.register_and_login("old@example.com", PASSWORD).await;
    let cookie =
        session_cookie(&app, &login_raw(&app, "old@example.com", None).await).expect("cookie");
    assert_eq!(me_with(&app, &cookie).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_error(me_with(&app, &cookie).await, 401, "unauthorized").await;
}

#[actix_web::test]
async fn sessions_are_stored_under_the_prefix() {
    let app = spawn_app().await;
    let client = new_client();
    assert!(app.try_login(&client, &app.admin_email, PASSWORD).await);
    assert!(!app.redis_keys("sess:*").await.is_empty());
}

#[actix_web::test]
async fn the_admin_api_token_acts_as_admin_without_a_session() {
    let app = crate::helpers::spawn_app().await;
    let token = app.token_client();
    let response = token
        .get(app.url("/admin/metrics/cache"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let response = token
        .post(app.url("/api/products"))
        .json(&serde_json::json!({"name": "n", "category": "c", "price": 1}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);

    // A wrong token is a 401, even on a client that could otherwise sign in.
    let wrong = app
        .anonymous_client()
        .get(app.url("/admin/metrics/cache"))
        .bearer_auth("token-that-is-wrong-but-long-enough-000000")
        .send()
        .await
        .expect("sent");
    crate::helpers::assert_error(wrong, 401, "unauthorized").await;
}

#[actix_web::test]
async fn without_a_configured_token_bearer_headers_grant_nothing() {
    let app = crate::helpers::spawn_app_with(|s| s.admin.api_token = None).await;
    let response = app
        .anonymous_client()
        .get(app.url("/admin/metrics/cache"))
        .bearer_auth("anything-at-all-anything-at-all-0000")
        .send()
        .await
        .expect("sent");
    crate::helpers::assert_error(response, 401, "unauthorized").await;
}
