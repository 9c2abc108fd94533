//! The deployment as its clients see it: three instances behind nginx
//! (`scripts/cluster.sh`), every request through nginx unless a test reads each instance
//! directly to prove what all of them serve.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod faults;
mod fixture;
mod hostile;
mod load;
// A throwaway redis-server on a port of its own (shared with the API tests).
#[allow(dead_code)]
#[path = "../api/private_redis.rs"]
mod private_redis;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use actix_codec::Framed;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use fixture::{Cluster, Options};

pub const PASSWORD: &str = "correct horse battery staple";

/// The name `base` serves for product `id`; `None` when it answers no product.
pub async fn name_on(base: &str, id: i64) -> Option<String> {
    let body: Value = reqwest::get(format!("{base}/api/products/{id}"))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    body["data"]["name"].as_str().map(str::to_string)
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

#[tokio::test]
async fn the_script_reports_each_part_and_down_stops_them() {
    let cluster = Cluster::up("status");
    let (ok, report) = cluster.status();
    assert!(ok, "{report}");
    for part in ["instance a", "instance b", "instance c", "nginx"] {
        assert!(report.contains(part), "{report}");
    }
    assert_eq!(report.matches("/readyz 200").count(), 4, "{report}");

    cluster.down();
    let (ok, report) = cluster.status();
    assert!(!ok, "{report}");
    assert_eq!(report.matches("stopped").count(), 4, "{report}");
    for base in cluster.instances.iter().chain([&cluster.url]) {
        let gone = reqwest::get(format!("{base}/healthz")).await;
        assert!(gone.is_err(), "{base} still answers");
    }
}

#[tokio::test]
async fn a_session_and_its_cart_hold_on_every_instance() {
    let cluster = Cluster::up("session");
    let browser = cluster.browser();
    let register = browser
        .post(format!("{}/api/auth/register", cluster.url))
        .json(&json!({"email": "shopper@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("sent");
    assert_eq!(register.status(), 201);
    let login = browser
        .post(format!("{}/api/auth/login", cluster.url))
        .json(&json!({"email": "shopper@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), 200);

    let before = cluster.upstreams().len();
    for round in 1..=6_u64 {
        let me = browser
            .get(format!("{}/api/auth/me", cluster.url))
            .send()
            .await
            .expect("sent");
        assert_eq!(me.status(), 200, "round {round}");
        assert_eq!(
            json_of(me).await["data"]["email"],
            "shopper@example.com",
            "round {round}"
        );

        let add = browser
            .post(format!("{}/api/cart/add", cluster.url))
            .json(&json!({"productId": 1, "quantity": 1}))
            .send()
            .await
            .expect("sent");
        assert!(add.status().is_success(), "round {round}: {}", add.status());
        let cart = json_of(
            browser
                .get(format!("{}/api/cart", cluster.url))
                .send()
                .await
                .expect("sent"),
        )
        .await;
        let quantity = cart["cart"][0]["quantity"].as_u64();
        assert_eq!(quantity, Some(round), "round {round}: {cart}");
    }
    // Round robin: those 18 requests met all three instances.
    let upstreams: HashSet<String> = cluster.upstreams()[before..].iter().cloned().collect();
    assert_eq!(upstreams.len(), 3, "{upstreams:?}");
}

#[tokio::test]
async fn after_an_update_no_instance_serves_the_old_version() {
    let cluster = Cluster::up("update");
    let mut readers = cluster.instances.clone();
    readers.push(cluster.url.clone());
    // Warm every L1 (and nginx's view of each) with the old version.
    for _ in 0..2 {
        for base in &readers {
            assert!(name_on(base, 1).await.is_some(), "{base}");
        }
    }

    for version in 1..=3 {
        let name = format!("Version {version}");
        let put = cluster.put_product(1, &json!({"name": name})).await;
        assert_eq!(put.status(), 200);
        // Each reader switches to the new version within a bounded time, and once it
        // has, never serves an older one again.
        let mut switched = vec![false; readers.len()];
        for _round in 0..60 {
            for (i, base) in readers.iter().enumerate() {
                let served = name_on(base, 1)
                    .await
                    .expect("an answer naming the product");
                if served == name {
                    switched[i] = true;
                } else {
                    assert!(
                        !switched[i],
                        "{base} went back to {served:?} after {name:?}"
                    );
                }
            }
            if switched.iter().all(|s| *s) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            switched.iter().all(|s| *s),
            "{name:?} not served by all of {readers:?}: {switched:?}"
        );
        for _ in 0..10 {
            for base in &readers {
                assert_eq!(
                    name_on(base, 1).await.as_deref(),
                    Some(name.as_str()),
                    "{base}"
                );
            }
        }
    }
}

#[tokio::test]
async fn rate_limits_count_across_instances_exactly() {
    let cluster = Cluster::up("limits");
    // products-list: 100 per hour for an anonymous client. nginx spreads the requests
    // over the three instances; the 101st is refused whichever instance it meets.
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..103 {
        let answer = client
            .get(format!("{}/api/products?limit=1", cluster.url))
            .send()
            .await
            .expect("sent");
        statuses.push(answer.status().as_u16());
    }
    let allowed = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((allowed, refused), (100, 3), "{statuses:?}");
    assert!(statuses[..100].iter().all(|s| *s == 200), "{statuses:?}");
    let upstreams: HashSet<String> = cluster.upstreams().into_iter().collect();
    assert!(upstreams.len() >= 3, "{upstreams:?}");
}

pub type Socket = Framed<BoxedSocket, Codec>;

pub async fn subscribe(base: &str) -> Socket {
    let url = format!("{}/ws", base.replacen("http", "ws", 1));
    let (response, mut socket) = awc::Client::new()
        .ws(url)
        .connect()
        .await
        .expect("the handshake succeeds");
    assert_eq!(response.status(), 101);
    socket
        .send(Message::Text(
            json!({"type": "subscribe", "topics": ["products", "product:2"]})
                .to_string()
                .into(),
        ))
        .await
        .expect("sent");
    assert_eq!(next(&mut socket).await["type"], "subscribed");
    socket
}

pub async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(3), socket.next())
            .await
            .expect("a frame within 3 s")
            .expect("the socket is open")
            .expect("a valid frame");
        match frame {
            Frame::Text(bytes) => return serde_json::from_slice(&bytes).expect("JSON"),
            Frame::Ping(_) | Frame::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// A WebSocket client read all the time by a task of its own (answering the server's
/// pings, so a long test is never closed for silence): every message it got, in order,
/// and how its socket ended, if it did.
pub struct Watcher {
    messages: Rc<RefCell<Vec<Value>>>,
    ended: Rc<RefCell<Option<String>>>,
    task: actix_web::rt::task::JoinHandle<()>,
}

impl Watcher {
    /// Starts reading `socket` (on the test's local runtime: actix_web::test).
    pub fn start(mut socket: Socket) -> Watcher {
        let messages = Rc::new(RefCell::new(Vec::new()));
        let ended = Rc::new(RefCell::new(None));
        let (m, e) = (messages.clone(), ended.clone());
        let task = actix_web::rt::spawn(async move {
            let end = loop {
                match socket.next().await {
                    Some(Ok(Frame::Text(bytes))) => m
                        .borrow_mut()
                        .push(serde_json::from_slice(&bytes).expect("JSON")),
                    Some(Ok(Frame::Ping(bytes))) => {
                        if let Err(error) = socket.send(Message::Pong(bytes)).await {
                            break format!("pong not sent: {error}");
                        }
                    }
                    Some(Ok(Frame::Close(reason))) => break format!("closed: {reason:?}"),
                    Some(Ok(_)) => {}
                    Some(Err(error)) => break format!("broken: {error}"),
                    None => break "ended".to_string(),
                }
            };
            *e.borrow_mut() = Some(end);
        });
        Watcher {
            messages,
            ended,
            task,
        }
    }

    pub fn messages(&self) -> Vec<Value> {
        self.messages.borrow().clone()
    }

    /// `Some(how)` once the socket closed or broke.
    pub fn ended(&self) -> Option<String> {
        self.ended.borrow().clone()
    }

    /// Waits (at most `within`) for a message `check` accepts.
    pub async fn wait_for(&self, within: Duration, what: &str, check: impl Fn(&Value) -> bool) {
        let deadline = std::time::Instant::now() + within;
        while !self.messages.borrow().iter().any(&check) {
            assert!(
                std::time::Instant::now() < deadline,
                "{what} not received within {within:?} (socket end: {:?}): {:?}",
                self.ended(),
                self.messages()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[actix_web::test]
async fn a_websocket_client_on_each_instance_gets_each_update_once_with_the_same_offset() {
    let cluster = Cluster::up("ws");
    let mut sockets = Vec::new();
    for base in &cluster.instances {
        sockets.push(subscribe(base).await);
    }
    // And one through nginx, as a browser would connect.
    sockets.push(subscribe(&cluster.url).await);

    for round in 1..=3 {
        let put = cluster
            .put_product(2, &json!({"name": format!("Round {round}")}))
            .await;
        assert_eq!(put.status(), 200);
        let mut offsets = HashSet::new();
        for socket in &mut sockets {
            let event = next(socket).await;
            assert_eq!(event["type"], "product.updated", "{event}");
            assert_eq!(
                event["product"]["name"],
                format!("Round {round}"),
                "{event}"
            );
            offsets.insert(event["offset"].as_u64().expect("an offset"));
        }
        assert_eq!(
            offsets.len(),
            1,
            "one offset on every instance: {offsets:?}"
        );
    }
    // Exactly once: nothing more, although two topics match.
    for socket in &mut sockets {
        let more = tokio::time::timeout(Duration::from_millis(300), socket.next()).await;
        match more {
            Err(_) => {}
            Ok(Some(Ok(Frame::Ping(_)))) => {}
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_cluster_metrics_list_the_three_instances() {
    let cluster = Cluster::up("metrics");
    let client = reqwest::Client::new();
    // Each instance publishes its snapshot every second: wait (bounded) for all three.
    let mut ids = Vec::new();
    for _ in 0..50 {
        let body = json_of(
            client
                .get(format!("{}/admin/metrics/cluster", cluster.url))
                .bearer_auth(&cluster.token)
                .send()
                .await
                .expect("sent"),
        )
        .await;
        ids = body["instances"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|i| i["instance"]["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if ids.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ids, ["a", "b", "c"]);
}

#[actix_web::test]
async fn a_cron_tick_enqueues_one_job_in_total() {
    // Every second (the optional seconds field), set for all three instances in the file
    // a deployment would use (APP_CONFIG_FILE); a `record` job logs each run it gets.
    let cluster = Cluster::up_with(
        "cron",
        Options {
            env: vec![("APP__JOBS__TEST__ENABLED", "true".into())],
            config_file: Some(
                "[[jobs.schedules]]\nname = \"every-second\"\ncron = \"* * * * * *\"\n\
                 queue = \"test\"\npayload = { kind = \"record\" }\n",
            ),
            ..Options::default()
        },
    );
    let ticks_of = |log: &[serde_json::Value]| -> BTreeMap<i64, Vec<String>> {
        let mut runs: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for line in log.iter().filter(|l| l["event"] == "done") {
            let id = line["id"].as_str().expect("an id");
            let tick = id
                .strip_prefix("cron:every-second:")
                .unwrap_or_else(|| panic!("unexpected job {id}"))
                .parse()
                .expect("a tick time");
            let instance = line["instanceId"].as_str().unwrap_or("?").to_string();
            runs.entry(tick).or_default().push(instance);
        }
        runs
    };
    // Ticks while all three instances check the schedule every second: the one whose
    // check comes first after each second enqueues it (and runs it), so one instance
    // tends to take them all. A graceful restart of that one shows the others enqueue
    // the ticks meanwhile, still once each, and none is skipped.
    let log = cluster
        .wait_for_test_job_log(Duration::from_secs(30), |log| ticks_of(log).len() >= 3)
        .await;
    let busiest = ticks_of(&log)
        .values()
        .last()
        .and_then(|instances| instances.first().cloned())
        .expect("a tick ran");
    cluster.restart(&busiest);
    let before = ticks_of(&cluster.test_job_log().await).len();
    cluster
        .wait_for_test_job_log(Duration::from_secs(30), |log| {
            ticks_of(log).len() >= before + 3
        })
        .await;
    // A moment for a late second enqueue of any tick to show.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let runs = ticks_of(&cluster.test_job_log().await);
    println!("restarted {busiest}: {runs:?}");

    assert!(
        runs.values().all(|instances| instances.len() == 1),
        "a tick ran more than once: {runs:?}"
    );
    let (first, last) = (
        *runs.keys().next().expect("a tick"),
        *runs.keys().last().expect("a tick"),
    );
    assert_eq!(
        runs.len() as i64,
        last - first + 1,
        "a tick was skipped: {runs:?}"
    );
    assert!(runs.len() >= 6, "{runs:?}");
    let instances: HashSet<&str> = runs.values().flatten().map(String::as_str).collect();
    assert!(
        instances.len() >= 2 && instances.iter().all(|i| ["a", "b", "c"].contains(i)),
        "ticks ran on {instances:?}: {runs:?}"
    );
}
