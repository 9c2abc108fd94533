//! The one subscriber per instance: a dedicated pub/sub connection (pub/sub cannot
//! share the multiplexed command connection), reconnected forever. Each event from
//! another instance goes to every local cache actor. Whenever the connection is lost
//! or (re)made, events may have been missed, so every L1 is cleared. It also retries,
//! once a second, invalidations this instance could not deliver while Redis was down.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::StreamExt;

use super::{Event, CHANNEL};
use crate::cache::Cache;

/// Pause between reconnection attempts.
const RECONNECT_DELAY: Duration = Duration::from_millis(200);
/// Upper bound for connecting and subscribing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often invalidations deferred while Redis was unreachable are retried.
const RETRY_DEFERRED: Duration = Duration::from_secs(1);

pub struct Subscriber {
    cache: Cache,
    origin: Arc<str>,
}

impl Subscriber {
    pub fn new(cache: Cache, origin: Arc<str>) -> Subscriber {
        Subscriber { cache, origin }
    }
}

impl Actor for Subscriber {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let (cache, origin) = (self.cache.clone(), self.origin.clone());
        ctx.spawn(listen(cache, origin).into_actor(self));
        ctx.run_interval(RETRY_DEFERRED, |actor, _| {
            let cache = actor.cache.clone();
            actix_rt::spawn(async move { cache.retry_deferred().await });
        });
    }
}

async fn listen(cache: Cache, origin: Arc<str>) {
    let channel = cache.redis().keyspace().channel(CHANNEL);
    loop {
        let client = cache.redis().client().clone();
        let subscribed = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        let Ok(Ok(pubsub)) = subscribed else {
            tokio::time::sleep(RECONNECT_DELAY).await;
            continue;
        };
        cache.resync().await;
        tracing::info!("subscribed to cache invalidations");
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            let Ok(event) = serde_json::from_slice::<Event>(message.get_payload_bytes()) else {
                tracing::warn!("ignoring a malformed invalidation event");
                continue;
            };
            if *event.origin != *origin {
                cache.apply_remote(event.targets).await;
            }
        }
        tracing::warn!("cache invalidation subscription lost; clearing L1");
        cache.clear_l1().await;
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}
