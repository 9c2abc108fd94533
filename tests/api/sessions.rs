//! Sessions follow account changes: a role change reaches signed-in sessions on every
//! instance within a second, and `logout-all` does not depend on a Redis key that can be
//! evicted.

use std::time::{Duration, Instant};

use catalog_cache::auth::{accounts, Role};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_from, TestApp, PASSWORD};

/// The deadline the issue sets for a change to reach every instance.
const WITHIN: Duration = Duration::from_secs(1);

/// Polls `GET path` with `client` on `app` until it answers `status`, or `deadline`
/// passes; the last status seen.
async fn status_by(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    status: u16,
    deadline: Instant,
) -> u16 {
    loop {
        let seen = client
            .get(app.url(path))
            .send()
            .await
            .expect("sent")
            .status()
            .as_u16();
        if seen == status || Instant::now() >= deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn connection(app: &TestApp) -> catalog_cache::db::PooledConn {
    let pool = catalog_cache::db::pool::build_pool(&app.settings.database).expect("pool");
    catalog_cache::db::pool::connection(&pool)
        .await
        .expect("connection")
}

#[actix_web::test]
async fn demoting_an_admin_reaches_its_sessions_on_every_instance_within_a_second() {
    let a = spawn_app().await;
    let b = spawn_app_from(a.settings.clone()).await;
    // `a.client` is signed in as an admin; its cookie works on both instances.
    for app in [&a, &b] {
        let metrics = a.client.get(app.url("/admin/metrics/cache")).send().await;
        assert_eq!(metrics.expect("sent").status(), 200);
    }

    // What `catalog-cache set-role --email E --role user` runs.
    accounts::set_role(&mut *connection(&a).await, &a.admin_email, Role::User)
        .await
        .expect("demoted");
    let deadline = Instant::now() + WITHIN;

    for app in [&a, &b] {
        let seen = status_by(app, &a.client, "/admin/metrics/cache", 403, deadline).await;
        assert_eq!(seen, 403, "{} still lets the demoted admin in", app.address);
        let write = a
            .client
            .post(app.url("/api/products"))
            .json(&json!({"name": "n", "category": "c", "price": 1}))
            .send()
            .await
            .expect("sent");
        assert_eq!(write.status(), 403);
        let me: Value = a
            .client
            .get(app.url("/api/auth/me"))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        assert_eq!(me["data"]["role"], "user");
    }

    // Promoting works the same way, without signing in again.
    accounts::set_role(&mut *connection(&a).await, &a.admin_email, Role::Admin)
        .await
        .expect("promoted");
    let deadline = Instant::now() + WITHIN;
    for app in [&a, &b] {
        let seen = status_by(app, &a.client, "/admin/metrics/cache", 200, deadline).await;
        assert_eq!(seen, 200);
    }
}

#[actix_web::test]
async fn an_evicted_generation_key_does_not_revive_sessions_ended_by_logout_all() {
    let app = spawn_app().await;
    let first = app.register_and_login("evict@example.com", PASSWORD).await;
    let second = crate::helpers::new_client();
    assert!(app.try_login(&second, "evict@example.com", PASSWORD).await);
    assert_eq!(
        second
            .get(app.url("/api/auth/me"))
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );

    let all = first
        .post(app.url("/api/auth/logout-all"))
        .send()
        .await
        .expect("sent");
    assert_eq!(all.status(), 200);
    // Redis evicts (or an operator deletes) whatever generation key there may be.
    let mut redis = app.redis_connection().await;
    let keys = app.redis_keys("user:*").await;
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut redis)
            .await
            .expect("deleted");
    }

    let me = second
        .get(app.url("/api/auth/me"))
        .send()
        .await
        .expect("sent");
    crate::helpers::assert_error(me, 401, "unauthorized").await;
}

#[actix_web::test]
async fn a_signed_in_request_whose_account_cannot_be_read_is_a_503_not_a_sign_out() {
    use diesel_async::SimpleAsyncConnection;

    let app = crate::helpers::spawn_app_with(|s| {
        s.database.statement_timeout_ms = 300;
        s.session.account_cache_ms = 1;
    })
    .await;
    assert_eq!(app.get("/api/auth/me").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Every read of `users` waits (then times out) while this transaction holds the lock.
    let mut lock = app.db_connection().await;
    lock.batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("locked");

    let me = app.get("/api/auth/me").await;
    let admin = app.get("/admin/metrics/cache").await;

    lock.batch_execute("ROLLBACK").await.expect("unlocked");
    assert_eq!(
        me.status(),
        503,
        "the account store is down, not the session"
    );
    assert!(me.headers().contains_key("retry-after"));
    assert_eq!(admin.status(), 503);
    // The session survived: once the account can be read again, it is still signed in.
    assert_eq!(app.get("/api/auth/me").await.status(), 200);
}
