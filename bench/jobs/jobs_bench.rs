//! Enqueue-and-process throughput of no-op jobs, and enqueue-to-start latency, for
//! catalog-cache's own queue: the service built in-process (`Application::build`) with
//! the `test` queue on, JOBS `{"kind":"noop"}` jobs enqueued INFLIGHT at a time through
//! the scheduler, run CONCURRENCY at once. Latency is each job's `waitedMs` (ready to
//! taken, Redis clock) from the `completed` events on `{prefix}jobs:events`; throughput
//! is JOBS over the time from the first enqueue to the last completed event.
//! Run by bench/jobs/run.sh; prints one JSON line. Uses its own database and key prefix,
//! and removes both.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use catalog_cache::configuration::Settings;
use catalog_cache::startup::Application;
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let jobs_total = env_or("JOBS", 10_000);
    let concurrency = env_or("CONCURRENCY", 50);
    let inflight = env_or("INFLIGHT", 32);
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("APP_ENV".into(), "test".into());
    vars.insert(
        "APP_CONFIG_DIR".into(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/config").into(),
    );
    let mut settings = Settings::load_from(&vars)?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let server = std::env::var("DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    settings.database.url = SecretString::from(format!("{server}/cc_bench_jobs_{}", &id[..12]));
    settings.redis.prefix = format!("ccbench:{}:", &id[..12]);
    settings.jobs.test.queue.concurrency = u32::try_from(concurrency)?;
    settings.jobs.test.queue.keep_completed = 0;
    settings.jobs.schedules.clear();
    settings.email.file_dir = std::env::temp_dir()
        .join(format!("cc-bench-mail-{}", &id[..12]))
        .to_string_lossy()
        .to_string();

    let app = Application::build(settings.clone()).await?;
    let jobs = app.jobs();
    actix_rt::spawn(app.run_until_stopped());

    let client = redis::Client::open(settings.redis.url.expose_secret())?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub
        .subscribe(format!("{}jobs:events", settings.redis.prefix))
        .await?;
    let collector = tokio::spawn(async move {
        let mut waits = Vec::with_capacity(jobs_total);
        let mut messages = pubsub.into_on_message();
        while waits.len() < jobs_total {
            let Some(message) = messages.next().await else {
                break;
            };
            let payload: String = message.get_payload().unwrap_or_default();
            let event: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
            if event["event"] == "completed" {
                waits.push(event["waitedMs"].as_u64().unwrap_or(0));
            }
        }
        (waits, Instant::now())
    });

    let started = Instant::now();
    let options = jobs.options("test")?;
    futures_util::stream::iter(0..jobs_total)
        .map(|_| jobs.enqueue("test", serde_json::json!({"kind": "noop"}), options.clone()))
        .buffer_unordered(inflight)
        .for_each(|r| {
            r.expect("enqueued");
            std::future::ready(())
        })
        .await;
    let enqueue_secs = started.elapsed().as_secs_f64();
    let (mut waits, ended) = tokio::time::timeout(Duration::from_secs(600), collector).await??;
    let secs = ended.duration_since(started).as_secs_f64();
    waits.sort_unstable();
    println!(
        "{}",
        serde_json::json!({
            "impl": "catalog-cache",
            "jobs": waits.len(),
            "concurrency": concurrency,
            "inflight": inflight,
            "seconds": secs,
            "enqueueSeconds": enqueue_secs,
            "jobsPerSec": waits.len() as f64 / secs,
            "p50Ms": percentile(&waits, 50.0),
            "p99Ms": percentile(&waits, 99.0),
        })
    );

    jobs.shutdown().await;
    cleanup(&settings).await;
    Ok(())
}

/// Drops the bench's database and deletes its keys.
async fn cleanup(settings: &Settings) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let _ = std::fs::remove_dir_all(&settings.email.file_dir);
    if let Ok(client) = redis::Client::open(settings.redis.url.expose_secret()) {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
            let script =
                "local c='0' repeat local r=redis.call('SCAN',c,'MATCH',ARGV[1],'COUNT',1000) \
                c=r[1] for _,k in ipairs(r[2]) do redis.call('DEL',k) end until c=='0' return 1";
            let _: redis::RedisResult<i64> = redis::cmd("EVAL")
                .arg(script)
                .arg(0)
                .arg(format!("{}*", settings.redis.prefix))
                .query_async(&mut conn)
                .await;
        }
    }
    let mut url = url::Url::parse(settings.database.url.expose_secret()).expect("database url");
    let name = url.path().trim_start_matches('/').to_string();
    url.set_path("/postgres");
    if let Ok(mut conn) = AsyncPgConnection::establish(url.as_str()).await {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}
