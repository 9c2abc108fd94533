//! Jobs across instances: cron once per tick with three schedulers, a job whose instance
//! is killed mid-run completed by another, and 1,000 jobs over two instances each handled
//! once.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use catalog_cache::configuration::ScheduleSettings;
use catalog_cache::jobs::{JobOptions, QueueStore, Retention};
use catalog_cache::redis_client::RedisClient;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::helpers::{cleanup_guard, spawn_app_from, spawn_app_with, test_settings};
use crate::jobs::{events, wait_for_log};

#[actix_web::test]
async fn three_instances_enqueue_each_cron_tick_exactly_once() {
    // Arrange: a per-second schedule (the optional seconds field) on three instances.
    let a = spawn_app_with(|s| {
        s.jobs.schedules = vec![ScheduleSettings {
            name: "every-second".into(),
            cron: "* * * * * *".into(),
            queue: "test".into(),
            payload: json!({"kind": "record"}),
        }];
    })
    .await;
    let b = spawn_app_from(a.settings.clone()).await;
    let c = spawn_app_from(a.settings.clone()).await;
    // Act: let a few ticks pass.
    wait_for_log(&a, Duration::from_secs(20), |log| {
        log.iter().filter(|l| l["event"] == "done").count() >= 5
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = crate::jobs::test_log(&a).await;
    // Assert: one run per tick (a completed job is removed at once in the test queue, so
    // only the per-tick key stops a later instance from enqueueing the tick again), and
    // no second skipped between the first and the last tick.
    let mut runs: HashMap<i64, usize> = HashMap::new();
    for line in log.iter().filter(|l| l["event"] == "done") {
        let id = line["id"].as_str().unwrap();
        let tick: i64 = id
            .strip_prefix("cron:every-second:")
            .unwrap_or_else(|| panic!("unexpected job {id}"))
            .parse()
            .unwrap();
        *runs.entry(tick).or_default() += 1;
    }
    assert!(runs.values().all(|&n| n == 1), "a tick ran twice: {runs:?}");
    let (first, last) = (*runs.keys().min().unwrap(), *runs.keys().max().unwrap());
    assert_eq!(
        runs.len() as i64,
        last - first + 1,
        "a tick was skipped: {runs:?}"
    );
    assert!(runs.len() >= 5);
    drop((b, c));
}

#[actix_web::test]
async fn a_job_of_an_instance_killed_mid_run_is_completed_by_another() {
    // Arrange: a 3 s job waiting before any instance runs.
    let settings = test_settings();
    let _cleanup = cleanup_guard(&settings);
    let store = queue_store(&settings).await;
    let options = JobOptions::from_queue(&settings.jobs.test.queue).with_id("long-job");
    store
        .enqueue("test", &json!({"kind": "sleep", "ms": 3000}), &options)
        .await
        .unwrap();
    // The service binary takes it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_catalog-cache"))
        .arg("serve")
        .env("APP_ENV", "test")
        .env(
            "APP_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .env("DATABASE_URL", settings.database.url.expose_secret())
        .env("REDIS_URL", settings.redis.url.expose_secret())
        .env("REDIS_PREFIX", &settings.redis.prefix)
        .env("APP__EMAIL__FILE_DIR", &settings.email.file_dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let probe = ProbeApp(settings.clone());
    let log = probe
        .wait(Duration::from_secs(60), |log| {
            !events(log, "long-job", "start").is_empty()
        })
        .await;
    let killed = events(&log, "long-job", "start")[0]["instance"].clone();
    // Act: SIGKILL mid-job, then another instance comes up.
    child.kill().expect("SIGKILL sent");
    child.wait().expect("child reaped");
    let other = spawn_app_from(settings.clone()).await;
    // Assert: its lease lapses and the other instance runs it to the end, once.
    let log = wait_for_log(&other, Duration::from_secs(20), |log| {
        !events(log, "long-job", "done").is_empty()
    })
    .await;
    let done = events(&log, "long-job", "done");
    assert_eq!(done.len(), 1, "{log:?}");
    assert_ne!(done[0]["instance"], killed, "{log:?}");
    assert_eq!(events(&log, "long-job", "start").len(), 2, "{log:?}");
}

/// The queues of these settings, as the service's scheduler reaches them (its timeout).
pub async fn queue_store(settings: &catalog_cache::configuration::Settings) -> QueueStore {
    let mut redis = settings.redis.clone();
    redis.timeout_ms = settings.jobs.redis_timeout_ms;
    QueueStore::new(
        RedisClient::connect(&redis).await.unwrap(),
        Retention::from_settings(&settings.jobs),
    )
}

/// Reads the test log of settings whose instance is a child process.
struct ProbeApp(catalog_cache::configuration::Settings);

impl ProbeApp {
    async fn wait(&self, within: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let mut conn = redis::Client::open(self.0.redis.url.expose_secret())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let key = format!("{}jobs:{{test}}:log", self.0.redis.prefix);
        let started = std::time::Instant::now();
        loop {
            let lines: Vec<String> = redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .unwrap();
            let log: Vec<Value> = lines
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            if done(&log) {
                return log;
            }
            assert!(started.elapsed() < within, "{log:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[actix_web::test]
async fn a_thousand_jobs_over_two_instances_are_each_handled_once() {
    // Arrange: completed jobs kept, so a re-sent enqueue of a finished id adds nothing.
    let a = spawn_app_with(|s| {
        s.jobs.keep_completed = 2000;
        s.jobs.test.queue.keep_completed = 2000;
    })
    .await;
    let b = spawn_app_from(a.settings.clone()).await;
    // Act: 1,000 jobs, enqueued 100 at a time through both instances. Ids of our own
    // make a retried enqueue (a Redis timeout on this busy machine) idempotent.
    let ids: Vec<String> = (0..1000).map(|i| format!("bulk-{i}")).collect();
    for (chunk, chunk_ids) in ids.chunks(100).enumerate() {
        let app = if chunk % 2 == 0 { &a } else { &b };
        let adds = chunk_ids.iter().map(|id| async move {
            for _ in 0..20 {
                let options = app.jobs.options("test").unwrap().with_id(id.clone());
                match app
                    .jobs
                    .enqueue("test", json!({"kind": "record"}), options)
                    .await
                {
                    Ok(_) => return,
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
            panic!("{id} not enqueued");
        });
        futures_util::future::join_all(adds).await;
    }
    let log = wait_for_log(&a, Duration::from_secs(90), |log| {
        log.iter().filter(|l| l["event"] == "done").count() >= 1000
    })
    .await;
    // Assert: every id once, none lost, both instances worked.
    let mut runs: HashMap<&str, usize> = HashMap::new();
    let mut per_instance: HashMap<&str, usize> = HashMap::new();
    for line in log.iter().filter(|l| l["event"] == "done") {
        *runs.entry(line["id"].as_str().unwrap()).or_default() += 1;
        *per_instance
            .entry(line["instance"].as_str().unwrap())
            .or_default() += 1;
    }
    assert_eq!(runs.len(), 1000);
    let not_once: Vec<(&String, Option<&usize>)> = ids
        .iter()
        .map(|id| (id, runs.get(id.as_str())))
        .filter(|(_, n)| *n != Some(&1))
        .collect();
    assert!(
        not_once.is_empty(),
        "not handled exactly once: {not_once:?}"
    );
    assert_eq!(per_instance.len(), 2, "{per_instance:?}");
    let stats = a.jobs.stats().await.unwrap();
    let test = stats.iter().find(|q| q.name == "test").unwrap();
    assert_eq!((test.waiting, test.active, test.failed), (0, 0, 0));
    assert!((1..=1000).contains(&test.processed_per_minute), "{test:?}");
}

#[actix_web::test]
async fn sigterm_lets_short_jobs_finish_and_returns_long_ones_to_waiting() {
    // Arrange: the service binary runs a short and a long job (grace: 1 s in test config).
    let settings = test_settings();
    let _cleanup = cleanup_guard(&settings);
    let store = queue_store(&settings).await;
    let options = JobOptions::from_queue(&settings.jobs.test.queue);
    for (id, ms) in [("short", 600), ("long", 60_000)] {
        let options = options.clone().with_id(id);
        store
            .enqueue("test", &json!({"kind": "sleep", "ms": ms}), &options)
            .await
            .unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_catalog-cache"))
        .arg("serve")
        .env("APP_ENV", "test")
        .env(
            "APP_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .env("DATABASE_URL", settings.database.url.expose_secret())
        .env("REDIS_URL", settings.redis.url.expose_secret())
        .env("REDIS_PREFIX", &settings.redis.prefix)
        .env("APP__EMAIL__FILE_DIR", &settings.email.file_dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    ProbeApp(settings.clone())
        .wait(Duration::from_secs(60), |log| {
            !events(log, "short", "start").is_empty() && !events(log, "long", "start").is_empty()
        })
        .await;
    // Act
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = std::time::Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Assert: a clean exit; the short job finished, the long one waits for another
    // instance (not failed, not stuck in active until its lease lapses).
    assert!(exit.success(), "{exit:?}");
    let log = ProbeApp(settings.clone())
        .wait(Duration::from_secs(1), |_| true)
        .await;
    assert_eq!(events(&log, "short", "done").len(), 1, "{log:?}");
    assert!(events(&log, "long", "done").is_empty());
    let stats = store.stats("test").await.unwrap();
    assert_eq!(
        (stats.waiting, stats.active, stats.failed),
        (1, 0, 0),
        "{stats:?}"
    );
}
