//! The product event history: read back after an offset, and "too old" once the capped
//! stream no longer holds the next event a client needs.

use catalog_cache::pubsub::{history_after, History, ProductEvent};
use catalog_cache::redis_client::RedisClient;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

async fn writes(app: &TestApp, n: usize) {
    for i in 0..n {
        app.create_product(
            json!({"name": format!("P{i}"), "category": "Home", "price": 1, "stock": 1}),
        )
        .await;
    }
}

async fn history(app: &TestApp, since: u64) -> History {
    let redis = RedisClient::connect(&app.settings.redis)
        .await
        .expect("redis client");
    history_after(&redis, since).await.expect("history read")
}

fn offsets(history: History) -> Vec<u64> {
    match history {
        History::Events(events) => events.iter().map(|e: &ProductEvent| e.offset).collect(),
        History::TooOld => panic!("unexpected TooOld"),
    }
}

#[actix_web::test]
async fn history_after_an_offset_returns_exactly_the_later_events_in_order() {
    let app = spawn_app().await;
    assert_eq!(offsets(history(&app, 0).await), Vec::<u64>::new());
    writes(&app, 5).await;

    assert_eq!(offsets(history(&app, 2).await), [3, 4, 5]);
    assert_eq!(offsets(history(&app, 0).await), [1, 2, 3, 4, 5]);
    assert_eq!(offsets(history(&app, 5).await), Vec::<u64>::new());
    let History::Events(events) = history(&app, 4).await else {
        panic!("events expected");
    };
    let event = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(event["type"], "product.created");
    assert_eq!(event["product"]["name"], "P4");
}

#[actix_web::test]
async fn a_since_older_than_a_small_history_is_too_old() {
    let app = spawn_app_with(|s| s.realtime.history_size = 2).await;
    writes(&app, 4).await;

    assert_eq!(history(&app, 0).await, History::TooOld);
    assert_eq!(history(&app, 1).await, History::TooOld);
    assert_eq!(offsets(history(&app, 2).await), [3, 4]);
    assert_eq!(offsets(history(&app, 3).await), [4]);
}
