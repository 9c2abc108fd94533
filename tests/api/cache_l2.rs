//! The L2 guard against Redis itself: a fill whose generation snapshot predates an
//! invalidation of its key, one of its tags, a pattern or everything is refused; a later
//! one is stored; an entry loaded before a tag's invalidation is never read again.

use std::time::{Duration, Instant};

use actix_web::http::header::HeaderValue;
use bytes::Bytes;
use catalog_cache::cache::entry::Entry;
use catalog_cache::cache::generation::{self, Snapshot};
use catalog_cache::cache::{l2, CacheKey, Target};
use catalog_cache::redis_client::RedisClient;

use crate::helpers::spawn_app;

const MARKER_TTL: Duration = Duration::from_secs(600);

fn entry(snapshot: Snapshot) -> Entry {
    let now = Instant::now();
    Entry {
        body: Bytes::from_static(b"{\"success\":true}"),
        etag: HeaderValue::from_static("\"p9-v1\""),
        tags: vec!["product:9".to_string(), "category:Toys".to_string()].into(),
        fresh_until: now + Duration::from_secs(60),
        stale_until: now + Duration::from_secs(120),
        generation: snapshot.seq,
    }
}

async fn fill(redis: &RedisClient, snapshot: Snapshot) -> bool {
    l2::fill(
        redis,
        &CacheKey::Product(9),
        &entry(snapshot),
        snapshot,
        MARKER_TTL,
    )
    .await
    .expect("ran")
}

async fn redis_of_own_prefix() -> (crate::helpers::TestApp, RedisClient) {
    // The app only provides a prefix of our own (and its cleanup).
    let app = spawn_app().await;
    let redis = RedisClient::connect(&app.settings.redis)
        .await
        .expect("redis");
    (app, redis)
}

#[actix_web::test]
async fn a_fill_whose_snapshot_predates_an_invalidation_is_not_stored() {
    let (_app, redis) = redis_of_own_prefix().await;
    let key = CacheKey::Product(9);

    for target in [
        Target::Key("products:9".into()),
        Target::Tag("category:Toys".into()),
        Target::Pattern("products:*".into()),
        Target::All,
    ] {
        let before = generation::snapshot(&redis).await.expect("snapshot");
        l2::invalidate(&redis, std::slice::from_ref(&target), MARKER_TTL)
            .await
            .expect("invalidated");
        assert!(!fill(&redis, before).await, "a fill older than {target:?}");
        assert!(l2::get(&redis, &key).await.expect("get").is_none());

        let after = generation::snapshot(&redis).await.expect("snapshot");
        assert!(after.seq > before.seq, "generations only grow");
        assert!(fill(&redis, after).await, "a fill after {target:?} refused");
        let back = l2::get(&redis, &key).await.expect("get").expect("stored");
        assert_eq!(back.etag, "\"p9-v1\"");
        assert_eq!(back.generation, after.seq);
    }

    // An unrelated tag's invalidation does not block the fill.
    let before = generation::snapshot(&redis).await.expect("snapshot");
    l2::invalidate(&redis, &[Target::Tag("category:Books".into())], MARKER_TTL)
        .await
        .expect("invalidated");
    assert!(fill(&redis, before).await);
}

#[actix_web::test]
async fn a_fill_older_than_the_markers_live_is_refused() {
    let (_app, redis) = redis_of_own_prefix().await;
    let mut old = generation::snapshot(&redis).await.expect("snapshot");
    old.time_ms -= MARKER_TTL.as_millis() as u64;
    assert!(!fill(&redis, old).await);
}

#[actix_web::test]
async fn a_tag_invalidation_hides_every_entry_loaded_before_it_without_a_member_set() {
    let (app, redis) = redis_of_own_prefix().await;
    let key = CacheKey::Product(9);
    let before = generation::snapshot(&redis).await.expect("snapshot");
    assert!(fill(&redis, before).await);
    assert!(l2::get(&redis, &key).await.expect("get").is_some());

    l2::invalidate(&redis, &[Target::Tag("category:Toys".into())], MARKER_TTL)
        .await
        .expect("invalidated");
    assert!(l2::get(&redis, &key).await.expect("get").is_none());
    assert!(
        app.redis_keys("cache:*").await.is_empty(),
        "the hidden entry is deleted when read"
    );
    assert!(app.redis_keys("tag:*").await.is_empty(), "no member sets");
}

#[actix_web::test]
async fn a_holder_whose_lock_outlived_its_lifetime_cannot_release_the_next_holders() {
    let (_app, redis) = redis_of_own_prefix().await;
    let key = CacheKey::Product(1);
    let first = l2::lock(&redis, &key, Duration::from_millis(100))
        .await
        .expect("redis")
        .expect("the lock is free");
    assert_eq!(
        l2::lock(&redis, &key, Duration::from_secs(60))
            .await
            .expect("redis"),
        None,
        "held"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The first holder's load took longer than the lock's lifetime; a waiter took over.
    let second = l2::lock(&redis, &key, Duration::from_secs(60))
        .await
        .expect("redis")
        .expect("free again after its lifetime");
    // The first holder finishes and lets go of what it believes is its lock.
    l2::unlock(&redis, &key, first).await.expect("redis");
    assert_eq!(
        l2::lock(&redis, &key, Duration::from_secs(60))
            .await
            .expect("redis"),
        None,
        "the second holder's lock stands"
    );
    l2::unlock(&redis, &key, second).await.expect("redis");
    assert!(l2::lock(&redis, &key, Duration::from_secs(60))
        .await
        .expect("redis")
        .is_some());
}
