//! The one subscriber per instance: a dedicated pub/sub connection (pub/sub cannot
//! share the multiplexed command connection), reconnected forever, subscribed to the
//! invalidation and the product event channels. Each invalidation from another instance
//! goes to every local cache actor. Every product event, this instance's own included
//! (local clients need local writes too), goes to the bounded in-process broadcast the
//! WebSocket hub will read; nothing else in the process subscribes to Redis. Whenever the connection is lost
//! or (re)made, events may have been missed, so every L1 is cleared. It also retries,
//! once a second, invalidations this instance could not deliver while Redis was down,
//! and announces product events it could not publish (`product.gap`).
//!
//! Liveness: a connection can die without closing (an idle timeout on a NAT or proxy
//! drops it silently), and a subscriber only reads, so it would never notice and would
//! lose every event from then on. So the connection is PINGed every `ping.interval`; a
//! PING unanswered within `ping.timeout` counts as a lost connection. Events carry a
//! per-origin sequence number, and a gap in it (an event lost on a live connection)
//! also clears L1.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::StreamExt;
use redis::aio::{PubSub, PubSubSink, PubSubStream};
use tokio::sync::{broadcast, Notify};

use super::product_events::UPDATES_CHANNEL;
use super::sequence::{Seen, Sequences};
use super::{Event, ProductEvent, ProductEvents, CHANNEL};
use crate::cache::Cache;

/// Pause between reconnection attempts.
const RECONNECT_DELAY: Duration = Duration::from_millis(200);
/// Upper bound for connecting and subscribing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often invalidations deferred while Redis was unreachable are retried.
const RETRY_DEFERRED: Duration = Duration::from_secs(1);

/// How the subscription is kept honest (`redis.pubsub_ping_*`).
#[derive(Debug, Clone, Copy)]
pub struct Ping {
    pub interval: Duration,
    pub timeout: Duration,
}

pub struct Subscriber {
    listener: Listener,
    /// Told after each successful (re)subscription (the WebSocket hub mends its
    /// clients' gap then).
    reconnected: Option<Arc<Notify>>,
    ping: Ping,
    /// Announces product events lost to an outage, on the deferred-retry tick.
    gaps: ProductEvents,
}

/// What the receiving loop needs: where invalidations and product events go.
#[derive(Clone)]
struct Listener {
    cache: Cache,
    origin: Arc<str>,
    products: broadcast::Sender<ProductEvent>,
}

impl Subscriber {
    /// `products` receives every product event published by any instance.
    pub fn new(
        cache: Cache,
        origin: Arc<str>,
        ping: Ping,
        products: broadcast::Sender<ProductEvent>,
        gaps: ProductEvents,
    ) -> Subscriber {
        Subscriber {
            listener: Listener {
                cache,
                origin,
                products,
            },
            reconnected: None,
            ping,
            gaps,
        }
    }

    /// Tells `reconnected` each time the subscription is (re)made.
    pub fn on_reconnect(mut self, reconnected: Arc<Notify>) -> Subscriber {
        self.reconnected = Some(reconnected);
        self
    }
}

impl Actor for Subscriber {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let reconnected = self.reconnected.clone();
        ctx.spawn(listen(self.listener.clone(), self.ping, reconnected).into_actor(self));
        ctx.run_interval(RETRY_DEFERRED, |actor, _| {
            let (cache, gaps) = (actor.listener.cache.clone(), actor.gaps.clone());
            actix_rt::spawn(async move {
                cache.retry_deferred().await;
                gaps.publish_gap().await;
            });
        });
    }
}

async fn listen(listener: Listener, ping: Ping, reconnected: Option<Arc<Notify>>) {
    let cache = &listener.cache;
    let keyspace = cache.redis().keyspace();
    let channels = [keyspace.channel(CHANNEL), keyspace.channel(UPDATES_CHANNEL)];
    let mut sequences = Sequences::default();
    loop {
        let Some(pubsub) = subscribe(cache, &channels).await else {
            tokio::time::sleep(RECONNECT_DELAY).await;
            continue;
        };
        sequences.reset();
        cache.resync().await;
        tracing::info!("subscribed to cache invalidations and product events");
        if let Some(reconnected) = &reconnected {
            reconnected.notify_one();
        }
        let (sink, stream) = pubsub.split();
        // Product events missed while disconnected are the hub's to recover (told above:
        // it replays from the history by offset, or sends `resync`).
        let reason = receive(&listener, &channels[1], sink, stream, ping, &mut sequences).await;
        tracing::warn!(reason, "pub/sub subscription lost; clearing L1");
        cache.clear_l1().await;
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

async fn subscribe(cache: &Cache, channels: &[String]) -> Option<PubSub> {
    let client = cache.redis().client().clone();
    let subscribed = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channels).await?;
        Ok::<_, redis::RedisError>(pubsub)
    })
    .await;
    subscribed.ok()?.ok()
}

/// Forwards events until the connection ends or stops answering PINGs; says why.
async fn receive(
    listener: &Listener,
    product_channel: &str,
    mut sink: PubSubSink,
    mut stream: PubSubStream,
    ping: Ping,
    sequences: &mut Sequences,
) -> &'static str {
    let mut ticks = tokio::time::interval(ping.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; the connection was just proven by SUBSCRIBE.
    ticks.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else {
                    return "connection closed";
                };
                let payload = message.get_payload_bytes();
                if message.get_channel_name() == product_channel {
                    forward_product(&listener.products, payload);
                } else {
                    forward(&listener.cache, &listener.origin, payload, sequences).await;
                }
            }
            _ = ticks.tick() => {
                // Events that arrive meanwhile wait in the connection's buffer.
                match tokio::time::timeout(ping.timeout, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) => return "ping failed",
                    Err(_) => return "ping unanswered",
                }
            }
        }
    }
}

/// Applies one event from another instance, clearing L1 first when its origin's
/// sequence shows that events were missed.
async fn forward(cache: &Cache, origin: &str, payload: &[u8], sequences: &mut Sequences) {
    let Ok(event) = serde_json::from_slice::<Event>(payload) else {
        tracing::warn!("ignoring a malformed invalidation event");
        return;
    };
    if event.origin == origin {
        return;
    }
    if let Seen::Gap { missed } = sequences.observe(&event.origin, event.seq) {
        tracing::warn!(
            origin = %event.origin,
            missed,
            "invalidation events missed; clearing L1"
        );
        cache.clear_l1().await;
    }
    cache.apply_remote(event.targets).await;
}

/// Hands one product event to the in-process consumers. No consumer yet is fine (the
/// send fails and the event is dropped: nobody is connected to miss it).
fn forward_product(products: &broadcast::Sender<ProductEvent>, payload: &[u8]) {
    match serde_json::from_slice::<ProductEvent>(payload) {
        Ok(event) => {
            let _ = products.send(event);
        }
        Err(error) => tracing::warn!(%error, "ignoring a malformed product event"),
    }
}
