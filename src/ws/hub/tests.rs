//! The hub on its own: fan-out, the slow-client kick, shutdown, offsets going back.

use super::*;
use crate::configuration::RedisSettings;
use crate::pubsub::product_events::ProductChange;

/// Long enough that no heartbeat is queued during a test (the shards' tests use it too).
pub(crate) const NO_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(3600);

/// A client for a port nothing listens on: these tests (and the shards') never reach
/// Redis.
pub(crate) async fn no_redis() -> RedisClient {
    let settings = RedisSettings {
        url: "redis://127.0.0.1:1".to_string().into(),
        prefix: "hub-test:".into(),
        timeout_ms: 100,
        breaker_failure_threshold: 5,
        breaker_cooldown_ms: 1000,
        pubsub_ping_interval_ms: 1000,
        pubsub_ping_timeout_ms: 500,
    };
    RedisClient::connect(&settings).await.unwrap()
}

fn deleted(id: i64, offset: u64) -> Deliver {
    deleted_in("e1", id, offset)
}

/// A delete in the history of `epoch`.
fn deleted_in(epoch: &str, id: i64, offset: u64) -> Deliver {
    Deliver(ProductEvent {
        change: ProductChange::Deleted {
            id,
            version: None,
            reason: None,
        },
        ts: chrono::Utc::now(),
        v: 1,
        epoch: Some(epoch.to_string()),
        offset,
    })
}

async fn connect(
    hub: &actix::Addr<Hub>,
    id: ConnId,
    capacity: usize,
    topics: Vec<Topic>,
) -> (mpsc::Receiver<Queued>, oneshot::Receiver<Kick>) {
    let (queue, rx) = mpsc::channel(capacity);
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

#[actix_rt::test]
async fn overlapping_topics_queue_an_event_once_and_other_ids_not_at_all() {
    let hub = Hub::new(no_redis().await, NO_HEARTBEAT).start();
    let topics = vec![Topic::Products, Topic::Product(1)];
    let (mut rx, _) = connect(&hub, 1, 8, topics).await;
    let (mut other, _) = connect(&hub, 2, 8, vec![Topic::Product(2)]).await;

    hub.send(deleted(1, 7)).await.unwrap();

    assert_eq!(rx.try_recv().unwrap().offset(), Some(7));
    assert!(rx.try_recv().is_err());
    assert!(other.try_recv().is_err());
    let stats = hub.send(Stats).await.unwrap();
    assert_eq!((stats.connections, stats.subscriptions), (2, 3));
}

#[actix_rt::test]
async fn a_full_queue_drops_the_client_and_tells_its_session() {
    let hub = Hub::new(no_redis().await, NO_HEARTBEAT).start();
    let (mut rx, kicked) = connect(&hub, 1, 1, vec![Topic::Products]).await;

    hub.send(deleted(1, 1)).await.unwrap();
    hub.send(deleted(1, 2)).await.unwrap();

    assert_eq!(kicked.await.unwrap(), Kick::TooSlow);
    assert_eq!(rx.recv().await.unwrap().offset(), Some(1));
    assert!(rx.recv().await.is_none(), "the hub let go of the queue");
    let stats = hub.send(Stats).await.unwrap();
    assert_eq!((stats.connections, stats.closed_slow), (0, 1));
}

#[actix_rt::test]
async fn shutdown_kicks_everyone_and_refuses_new_connections() {
    let hub = Hub::new(no_redis().await, NO_HEARTBEAT).start();
    let (_rx, kicked) = connect(&hub, 1, 4, vec![Topic::Products]).await;

    assert_eq!(hub.send(Shutdown).await.unwrap(), 1);

    assert_eq!(kicked.await.unwrap(), Kick::Shutdown);
    let (queue, _rx) = mpsc::channel(1);
    let (kick, _kicked) = oneshot::channel();
    assert!(!hub
        .send(Connect {
            id: 2,
            queue,
            kick,
            audience: Audience::Public,
        })
        .await
        .unwrap());
    assert_eq!(hub.send(Stats).await.unwrap().connections, 0);
}

#[actix_rt::test]
async fn offsets_going_back_mean_a_reset_redis_and_resync_before_the_event() {
    let hub = Hub::new(no_redis().await, NO_HEARTBEAT).start();
    let (mut rx, _) = connect(&hub, 1, 8, vec![Topic::Products]).await;

    hub.send(deleted(1, 5)).await.unwrap();
    hub.send(deleted(1, 1)).await.unwrap();

    assert_eq!(rx.recv().await.unwrap().offset(), Some(5));
    let resync = rx.recv().await.unwrap();
    assert_eq!(
        (resync.offset(), resync.text()),
        (None, r#"{"type":"resync"}"#)
    );
    assert_eq!(rx.recv().await.unwrap().offset(), Some(1));
}

#[actix_rt::test]
async fn another_epoch_means_a_reset_redis_and_resync_before_the_event_even_ahead() {
    let hub = Hub::new(no_redis().await, NO_HEARTBEAT).start();
    let (mut rx, _) = connect(&hub, 1, 8, vec![Topic::Products]).await;

    hub.send(deleted_in("e1", 1, 5)).await.unwrap();
    // The next offset, or beyond it: no gap to mend from a history that is gone.
    hub.send(deleted_in("e2", 1, 6)).await.unwrap();
    hub.send(deleted_in("e3", 1, 40)).await.unwrap();

    for offset in [5, 6, 40] {
        if offset != 5 {
            let resync = rx.recv().await.unwrap();
            assert_eq!(resync.text(), r#"{"type":"resync"}"#);
        }
        assert_eq!(rx.recv().await.unwrap().offset(), Some(offset));
    }
}

#[actix_rt::test]
async fn every_connection_gets_the_shards_heartbeat_whatever_its_topics() {
    let hub = Hub::new(no_redis().await, std::time::Duration::from_millis(100)).start();
    let mut queues = Vec::new();
    for id in 1..=12 {
        let topics = if id % 2 == 0 {
            vec![Topic::Products]
        } else {
            vec![]
        };
        let (rx, _) = connect(&hub, id, 8, topics).await;
        queues.push(rx);
    }

    for rx in &mut queues {
        let queued = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .expect("a heartbeat within 5 s")
            .expect("the queue is open");
        assert!(matches!(*queued, Outgoing::Heartbeat));
    }
}

fn inactive(change: fn(crate::domain::Product) -> ProductChange, offset: u64) -> Deliver {
    let now = chrono::Utc::now();
    let product = crate::domain::Product {
        id: 1,
        name: "Secret".into(),
        description: String::new(),
        category: "Home".into(),
        price: crate::domain::Price::from_stored_cents(100),
        stock: 1,
        is_active: false,
        version: offset as i64,
        created_at: now,
        updated_at: now,
    };
    Deliver(ProductEvent {
        change: change(product),
        ts: now,
        v: 1,
        epoch: None,
        offset,
    })
}

#[actix_rt::test]
async fn an_inactive_product_reaches_admins_whole_and_others_as_a_delete_or_not_at_all() {
    let hub = Hub::new(no_redis().await, NO_HEARTBEAT).start();
    let (mut public, _) = connect(&hub, 1, 8, vec![Topic::Products]).await;
    let (queue, mut admin) = mpsc::channel(8);
    let (kick, _kicked) = oneshot::channel();
    let audience = Audience::Admin;
    let connect = Connect {
        id: 2,
        queue,
        kick,
        audience,
    };
    assert!(hub.send(connect).await.unwrap());
    let topics = vec![Topic::Products];
    let limit = 100;
    assert!(hub
        .send(Subscribe {
            id: 2,
            topics,
            limit
        })
        .await
        .unwrap());

    let created = |product| ProductChange::Created { product };
    let updated = |product| ProductChange::Updated {
        product,
        previous_category: None,
    };
    hub.send(inactive(created, 1)).await.unwrap();
    hub.send(inactive(updated, 2)).await.unwrap();

    let whole: Vec<String> = [admin.try_recv(), admin.try_recv()]
        .map(|frame| frame.unwrap().text().to_string())
        .to_vec();
    assert!(
        whole[0].contains(r#""type":"product.created""#),
        "{}",
        whole[0]
    );
    assert!(whole[1].contains(r#""name":"Secret""#), "{}", whole[1]);
    let hidden = public.try_recv().unwrap();
    assert_eq!(hidden.offset(), Some(2), "nothing of the creation");
    assert!(hidden.text().contains(r#""reason":"inactive""#));
    assert!(!hidden.text().contains("Secret"));
    assert!(public.try_recv().is_err());
}

#[actix_rt::test]
async fn a_subscribe_past_the_limit_adds_nothing() {
    let hub = Hub::new(no_redis().await, NO_HEARTBEAT).start();
    let (_rx, _kicked) = connect(&hub, 1, 8, vec![Topic::Product(1), Topic::Product(2)]).await;
    let subscribe = |topics: Vec<Topic>| Subscribe {
        id: 1,
        topics,
        limit: 3,
    };

    // Topics already held do not count twice.
    let again = vec![Topic::Product(1), Topic::Product(2), Topic::Product(3)];
    assert!(hub.send(subscribe(again)).await.unwrap());
    let past = vec![Topic::Product(4), Topic::Product(5)];
    assert!(!hub.send(subscribe(past)).await.unwrap());

    let stats = hub.send(Stats).await.unwrap();
    assert_eq!(stats.subscriptions, 3, "all or none");
}
