//! The L2 fill guard against Redis itself: a fill that started before an invalidation
//! of its key, one of its tags, or everything is refused; a later one is stored.

use std::time::{Duration, Instant};

use actix_web::http::header::HeaderValue;
use bytes::Bytes;
use catalog_cache::cache::entry::{unix_ms, Entry};
use catalog_cache::cache::{l2, CacheKey, Target};
use catalog_cache::redis_client::RedisClient;

use crate::helpers::spawn_app;

fn entry() -> Entry {
    let now = Instant::now();
    Entry {
        body: Bytes::from_static(b"{\"success\":true}"),
        etag: HeaderValue::from_static("\"p9-v1\""),
        tags: vec!["product:9".to_string(), "category:Toys".to_string()].into(),
        fresh_until: now + Duration::from_secs(60),
        stale_until: now + Duration::from_secs(120),
    }
}

#[actix_web::test]
async fn a_fill_that_started_before_an_invalidation_is_not_stored() {
    // The app only provides a prefix of our own (and its cleanup).
    let app = spawn_app().await;
    let redis = RedisClient::connect(&app.settings.redis)
        .await
        .expect("redis");
    let key = CacheKey::Product(9);

    for target in [
        Target::Key("products:9".into()),
        Target::Tag("category:Toys".into()),
        Target::All,
    ] {
        let started = unix_ms();
        tokio::time::sleep(Duration::from_millis(2)).await;
        l2::invalidate(&redis, std::slice::from_ref(&target))
            .await
            .expect("invalidated");
        let stored = l2::fill(&redis, &key, &entry(), started)
            .await
            .expect("ran");
        assert!(!stored, "a fill older than {target:?} was stored");
        assert!(l2::get(&redis, &key).await.expect("get").is_none());

        tokio::time::sleep(Duration::from_millis(2)).await;
        let stored = l2::fill(&redis, &key, &entry(), unix_ms())
            .await
            .expect("ran");
        assert!(stored, "a fill after {target:?} was refused");
        let back = l2::get(&redis, &key).await.expect("get").expect("stored");
        assert_eq!(back.etag, "\"p9-v1\"");
        assert_eq!(&*back.tags, &*entry().tags);
    }

    // An unrelated tag's invalidation does not block the fill.
    let started = unix_ms();
    tokio::time::sleep(Duration::from_millis(2)).await;
    l2::invalidate(&redis, &[Target::Tag("category:Books".into())])
        .await
        .expect("invalidated");
    assert!(l2::fill(&redis, &key, &entry(), started)
        .await
        .expect("ran"));
}
