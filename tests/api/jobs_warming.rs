//! The `cache-warming` jobs: `products` and `categories` load entries into the cache
//! before any client asks for them; an unknown kind fails with a clear error.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cache::x_cache;
use crate::helpers::{spawn_app, TestApp};

/// Enqueues a warming job and waits until the queue counts it completed or failed.
async fn run_warming(app: &TestApp, payload: Value) -> catalog_cache::jobs::QueueStats {
    let before = warming_stats(app).await;
    let options = app.jobs.options("cache-warming").unwrap();
    app.jobs
        .enqueue("cache-warming", payload, options)
        .await
        .expect("enqueued");
    let started = Instant::now();
    loop {
        let stats = warming_stats(app).await;
        if stats.completed + stats.failed > before.completed + before.failed {
            return stats;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{stats:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn warming_stats(app: &TestApp) -> catalog_cache::jobs::QueueStats {
    app.jobs
        .stats()
        .await
        .unwrap()
        .into_iter()
        .find(|q| q.name == "cache-warming")
        .unwrap()
}

#[actix_web::test]
async fn a_products_warming_job_loads_products_before_anyone_reads_them() {
    let app = spawn_app().await;
    app.seed(3).await;
    let stats = run_warming(&app, json!({"kind": "products"})).await;
    assert_eq!((stats.completed, stats.failed), (1, 0));
    for id in 1..=3 {
        let tier = x_cache(&app, &format!("/api/products/{id}")).await;
        assert!(tier.starts_with("HIT"), "product {id}: {tier}");
    }
}

#[actix_web::test]
async fn a_categories_warming_job_loads_the_first_page_of_every_category() {
    let app = spawn_app().await;
    for (name, category) in [("Atlas", "Books"), ("Rake", "Garden")] {
        app.create_product(json!({"name": name, "category": category, "price": 5}))
            .await;
    }
    let stats = run_warming(&app, json!({"kind": "categories"})).await;
    assert_eq!((stats.completed, stats.failed), (1, 0));
    for category in ["Books", "Garden"] {
        let tier = x_cache(&app, &format!("/api/products?category={category}")).await;
        assert!(tier.starts_with("HIT"), "{category}: {tier}");
    }
    // Only the first page of each category: a later page is still a miss.
    let tier = x_cache(&app, "/api/products?category=Books&page=2").await;
    assert_eq!(tier, "MISS");
}

#[actix_web::test]
async fn a_warming_job_of_unknown_kind_fails_with_a_clear_error() {
    let app = spawn_app().await;
    let options = app
        .jobs
        .options("cache-warming")
        .unwrap()
        .with_id("warm-bad");
    app.jobs
        .enqueue("cache-warming", json!({"kind": "everything"}), options)
        .await
        .unwrap();
    // 3 attempts, 200 ms then 400 ms apart in the test configuration.
    let started = Instant::now();
    let failed = loop {
        let failed = app.jobs.failed("cache-warming", 10).await.unwrap();
        if !failed.is_empty() {
            break failed;
        }
        assert!(started.elapsed() < Duration::from_secs(15));
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failed[0].id, "warm-bad");
    assert_eq!(failed[0].attempts_made, 3);
    assert!(
        failed[0]
            .failed_reason
            .contains("kind must be products or categories"),
        "{}",
        failed[0].failed_reason
    );
}
