//! The email job: a product create sends the admin an email naming it, written as an
//! `.eml` file (no SMTP in tests), and through the outbox even when Redis is down at the
//! moment of the write.

use std::path::Path;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::helpers::spawn_app_with;
use crate::private_redis::PrivateRedis;

/// The `.eml` files in `dir` (none when it does not exist yet).
fn emails(dir: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(Path::new(dir)) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| std::fs::read_to_string(e.path()).expect("readable email"))
        .collect()
}

async fn wait_for_email(dir: &str, within: Duration) -> String {
    let started = Instant::now();
    loop {
        if let Some(email) = emails(dir).pop() {
            return email;
        }
        assert!(
            started.elapsed() < within,
            "no email in {dir} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Headers are unfolded before matching (long ones may wrap).
fn assert_email_names_the_product(email: &str, admin: &str, name: &str, price: &str) {
    let unfolded = email.replace("\r\n ", " ").replace("\r\n", "\n");
    assert!(unfolded.contains(&format!("To: {admin}")), "{unfolded}");
    assert!(
        unfolded.contains(&format!("Subject: New product: {name}")),
        "{unfolded}"
    );
    assert!(unfolded.contains(&format!("Name: {name}")), "{unfolded}");
    assert!(unfolded.contains(&format!("Price: {price}")), "{unfolded}");
}

#[actix_web::test]
async fn creating_a_product_emails_the_admin_naming_it() {
    // Arrange
    let app = spawn_app_with(|s| s.email.admin_address = "catalog-owner@test.example".into()).await;
    // Act
    let product = app
        .create_product(json!({"name": "Desk Lamp 42", "category": "Home", "price": 19.99}))
        .await;
    // Assert
    let email = wait_for_email(&app.settings.email.file_dir, Duration::from_secs(10)).await;
    assert_email_names_the_product(
        &email,
        "catalog-owner@test.example",
        "Desk Lamp 42",
        "19.99",
    );
    assert!(email.contains(&format!("Id: {}", product["id"])), "{email}");
    // Exactly one email for one product.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(emails(&app.settings.email.file_dir).len(), 1);
}

#[actix_web::test]
async fn the_outbox_delivers_the_email_once_redis_is_back() {
    // Arrange: an instance on a Redis of this test's own, which then dies.
    let mut redis = PrivateRedis::start_ready().await;
    let app = spawn_app_with(|s| s.redis.url = redis.url().into()).await;
    redis.kill();
    // Act: the product is committed while Redis is down.
    let response = app
        .token_client()
        .post(app.url("/api/products"))
        .json(&json!({"name": "Outage Kettle", "category": "Kitchen", "price": 25}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    // Assert: the job waits in PostgreSQL, no email yet.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut conn = app.db_connection().await;
    let waiting: i64 = catalog_cache::schema::outbox::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(waiting, 1);
    assert!(emails(&app.settings.email.file_dir).is_empty());
    // Redis returns (empty: the job was never there): the relay moves it, it is sent.
    redis.restart().await;
    let email = wait_for_email(&app.settings.email.file_dir, Duration::from_secs(30)).await;
    assert_email_names_the_product(
        &email,
        &app.settings.email.admin_address,
        "Outage Kettle",
        "25.00",
    );
    let left: i64 = catalog_cache::schema::outbox::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0);
}
