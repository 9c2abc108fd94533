//! The instance's hub, split into one shard per actix-web worker thread.
//!
//! A connection's task runs on the worker that accepted it, and registers with that
//! worker's shard only. Fanning an event out then wakes tasks on the shard's own thread:
//! no cross-thread wake-up per client (one hub on the main arbiter woke every client's
//! task across threads). The router, one task on the main arbiter, hands each product
//! event, each resync and each subscriber reconnection to every shard; each shard keeps
//! its own offsets and mends its own gaps (`hub::mend`), so a client still gets every
//! event exactly once, in order: it belongs to exactly one shard.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::{Actor, Addr};
use futures_util::future::join_all;
use tokio::sync::{broadcast, Notify};

use crate::pubsub::ProductEvent;
use crate::redis_client::RedisClient;
use crate::ws::hub::{self, AdminMetrics, Hub, HubStats};

/// Every shard of the instance; cheap to clone.
#[derive(Clone)]
pub struct HubShards {
    inner: Arc<Inner>,
}

struct Inner {
    /// Written once per worker at start-up, read once per event: never per client.
    shards: RwLock<Vec<Addr<Hub>>>,
    redis: RedisClient,
    /// `realtime.ping_interval_secs`: each shard pings its connections (`hub::heartbeat`).
    ping_interval: Duration,
}

/// The shard of the worker thread a handler runs on (`web::Data` of that worker's app).
#[derive(Clone)]
pub struct WorkerHub(pub Addr<Hub>);

impl HubShards {
    /// No shard yet (each worker starts its own, `start_worker`); starts the router that
    /// forwards the subscriber's product events and reconnections to them.
    pub fn start(
        events: &broadcast::Sender<ProductEvent>,
        reconnected: Arc<Notify>,
        redis: RedisClient,
        ping_interval: Duration,
    ) -> HubShards {
        let shards = HubShards {
            inner: Arc::new(Inner {
                shards: RwLock::new(Vec::new()),
                redis,
                ping_interval,
            }),
        };
        actix_rt::spawn(route(shards.clone(), events.subscribe(), reconnected));
        shards
    }

    /// Starts a shard on the current (worker) thread and registers it.
    pub fn start_worker(&self) -> WorkerHub {
        let shard = Hub::new(self.inner.redis.clone(), self.inner.ping_interval).start();
        if let Ok(mut shards) = self.inner.shards.write() {
            shards.push(shard.clone());
        }
        WorkerHub(shard)
    }

    fn shards(&self) -> Vec<Addr<Hub>> {
        self.inner
            .shards
            .read()
            .map(|shards| shards.clone())
            .unwrap_or_default()
    }

    /// Sends a message to every shard and waits for every answer (a stopped shard's is
    /// left out).
    async fn ask_all<M>(&self, message: M) -> Vec<M::Result>
    where
        M: actix::Message + Clone + Send + 'static,
        M::Result: Send,
        Hub: actix::Handler<M>,
    {
        let asks = self.shards().into_iter().map(|shard| {
            let message = message.clone();
            async move { shard.send(message).await }
        });
        join_all(asks)
            .await
            .into_iter()
            .filter_map(Result::ok)
            .collect()
    }

    /// Each shard's figures (a stopped shard, at shutdown, is left out); `HubStats::sum`
    /// makes the instance's hub of them.
    pub async fn stats(&self) -> Vec<HubStats> {
        self.ask_all(hub::Stats).await
    }

    /// Closes every socket with 1001 and refuses new ones; answers how many were told.
    pub async fn shutdown(&self) -> usize {
        self.ask_all(hub::Shutdown).await.into_iter().sum()
    }

    /// Queues a metrics snapshot for every `admin:metrics` subscriber of every shard.
    pub fn admin_metrics(&self, snapshot_json: &str) {
        let message = AdminMetrics::new(snapshot_json);
        for shard in self.shards() {
            shard.do_send(message.clone());
        }
    }
}

/// Forwards every product event, lag (resync) and subscriber reconnection to every shard.
/// `send` (not `do_send`), awaited on all shards before the next one, so each shard sees
/// them in order and a busy shard slows the router, and the bounded broadcast behind it,
/// rather than growing its mailbox.
async fn route(
    shards: HubShards,
    mut receiver: broadcast::Receiver<ProductEvent>,
    reconnected: Arc<Notify>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        tokio::select! {
            event = receiver.recv() => match event {
                Ok(event) => {
                    shards.ask_all(hub::Deliver(event)).await;
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "WebSocket hub fell behind: resync every client");
                    shards.ask_all(hub::Resync).await;
                }
                Err(RecvError::Closed) => return,
            },
            () = reconnected.notified() => {
                shards.ask_all(hub::Recover).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use actix::Arbiter;
    use tokio::sync::{mpsc, oneshot};

    use super::*;
    use crate::pubsub::product_events::ProductChange;
    use crate::ws::hub::tests::{no_redis, NO_HEARTBEAT};
    use crate::ws::hub::{ConnId, Connect, Kick, Queued, Subscribe};
    use crate::ws::protocol::Topic;
    use crate::ws::visibility::Audience;

    fn deleted(id: i64, offset: u64) -> ProductEvent {
        ProductEvent {
            change: ProductChange::Deleted {
                id,
                version: None,
                reason: None,
            },
            ts: chrono::Utc::now(),
            v: 1,
            epoch: None,
            offset,
        }
    }

    /// Starts a shard on `arbiter`'s thread, as a worker's app factory does.
    async fn shard_on(shards: &HubShards, arbiter: &Arbiter) -> Addr<Hub> {
        let (started, shard) = oneshot::channel();
        let shards = shards.clone();
        assert!(arbiter.spawn(async move {
            let _ = started.send(shards.start_worker().0);
        }));
        shard.await.unwrap()
    }

    /// The shards of two worker threads, fed from `events`.
    struct TwoShards {
        events: broadcast::Sender<ProductEvent>,
        shards: HubShards,
        threads: [Arbiter; 2],
        first: Addr<Hub>,
        second: Addr<Hub>,
    }

    impl TwoShards {
        async fn start() -> TwoShards {
            let (events, _) = broadcast::channel(16);
            let shards = HubShards::start(
                &events,
                Arc::new(Notify::new()),
                no_redis().await,
                NO_HEARTBEAT,
            );
            let threads = [Arbiter::new(), Arbiter::new()];
            let first = shard_on(&shards, &threads[0]).await;
            let second = shard_on(&shards, &threads[1]).await;
            TwoShards {
                events,
                shards,
                threads,
                first,
                second,
            }
        }
    }

    async fn connect(
        hub: &Addr<Hub>,
        id: ConnId,
        topics: Vec<Topic>,
    ) -> (mpsc::Receiver<Queued>, oneshot::Receiver<Kick>) {
        let (queue, rx) = mpsc::channel(8);
        let (kick, kicked) = oneshot::channel();
        assert!(hub
            .send(Connect {
                id,
                queue,
                kick,
                audience: Audience::Public,
            })
            .await
            .unwrap());
        assert!(hub
            .send(Subscribe {
                id,
                topics,
                limit: 100
            })
            .await
            .unwrap());
        (rx, kicked)
    }

    async fn next_offset(rx: &mut mpsc::Receiver<Queued>) -> Option<u64> {
        tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .expect("a frame within 2 s")
            .expect("the queue is open")
            .offset()
    }

    #[actix_rt::test]
    async fn shards_on_two_threads_each_deliver_every_event_once_and_add_up() {
        let TwoShards {
            events,
            shards,
            threads,
            first,
            second,
        } = TwoShards::start().await;
        let (mut a, kicked_a) = connect(&first, 1, vec![Topic::Products, Topic::Product(1)]).await;
        let (mut b, kicked_b) = connect(&second, 2, vec![Topic::Products]).await;
        let (mut other, _) = connect(&second, 3, vec![Topic::Product(2)]).await;

        for offset in [7, 8] {
            events.send(deleted(1, offset)).unwrap();
        }

        for rx in [&mut a, &mut b] {
            assert_eq!(next_offset(rx).await, Some(7));
            assert_eq!(next_offset(rx).await, Some(8));
        }
        let stats = shards.stats().await;
        let per_shard: Vec<u64> = stats.iter().map(|s| s.connections).collect();
        assert_eq!(per_shard, [1, 2]);
        assert_eq!(HubStats::sum(&stats).subscriptions, 4);
        assert!(a.try_recv().is_err(), "each event once");
        assert!(b.try_recv().is_err(), "each event once");
        assert!(other.try_recv().is_err(), "another product's topic");

        assert_eq!(shards.shutdown().await, 3);
        assert_eq!(kicked_a.await.unwrap(), Kick::Shutdown);
        assert_eq!(kicked_b.await.unwrap(), Kick::Shutdown);
        for thread in threads {
            thread.stop();
        }
    }

    #[actix_rt::test]
    async fn admin_metrics_reach_the_subscribers_of_every_shard() {
        let TwoShards {
            events: _events, // kept open for the whole test, as the others
            shards,
            threads,
            first,
            second,
        } = TwoShards::start().await;
        let (mut a, _) = connect(&first, 1, vec![Topic::AdminMetrics]).await;
        let (mut b, _) = connect(&second, 2, vec![Topic::AdminMetrics]).await;

        shards.admin_metrics(r#"{"n":1}"#);

        for rx in [&mut a, &mut b] {
            let frame = tokio::time::timeout(Duration::from_secs(2), rx.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (frame.offset(), frame.text()),
                (None, r#"{"type":"admin.metrics","snapshot":{"n":1}}"#)
            );
        }
        for thread in threads {
            thread.stop();
        }
    }
}
