//! Bounds on the job queues: an attempt's time limit (`timeout_ms` per queue), and the
//! most completed and failed jobs kept (`jobs.keep_completed`, `jobs.keep_failed`).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};
use crate::jobs::{enqueue, events, test_log};

fn job_key(app: &TestApp, id: &str) -> String {
    format!("{}jobs:{{test}}:job:{id}", app.settings.redis.prefix)
}

/// Polls until the job's hash reads `state` (a job trimmed away at once counts too).
async fn wait_for_state(app: &TestApp, id: &str, state: &str) {
    let mut conn = app.redis_connection().await;
    let started = Instant::now();
    loop {
        let now: Option<String> = redis::cmd("HGET")
            .arg(job_key(app, id))
            .arg("state")
            .query_async(&mut conn)
            .await
            .expect("hget");
        if now.as_deref().is_none_or(|s| s == state) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{id} is {now:?}, not {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ids in one of the test queue's sets, oldest first.
async fn set_members(app: &TestApp, set: &str) -> Vec<String> {
    let mut conn = app.redis_connection().await;
    redis::cmd("ZRANGE")
        .arg(format!("{}jobs:{{test}}:{set}", app.settings.redis.prefix))
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .expect("zrange")
}

/// Which of the jobs still have their hash.
async fn with_data(app: &TestApp, ids: &[String]) -> Vec<String> {
    let mut conn = app.redis_connection().await;
    let mut kept = Vec::new();
    for id in ids {
        let exists: bool = redis::cmd("EXISTS")
            .arg(job_key(app, id))
            .query_async(&mut conn)
            .await
            .expect("exists");
        if exists {
            kept.push(id.clone());
        }
    }
    kept
}

#[actix_web::test]
async fn a_job_past_its_timeout_fails_with_timed_out_and_is_retried_per_its_attempts() {
    // Arrange: the test queue's attempts may run 1 s; this job would sleep 30 s.
    let app = spawn_app_with(|s| s.jobs.test.queue.timeout_ms = 1000).await;
    let id = enqueue(&app, json!({"kind": "sleep", "ms": 30_000}), |o| {
        o.attempts = 2
    })
    .await;
    // Act: wait for it to land in the failed set.
    let admin = app.token_client();
    let started = Instant::now();
    let failed = loop {
        let body: Value = admin
            .get(app.url("/admin/queues/test/failed"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["count"] == 1 {
            break body["data"][0].clone();
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Assert: both attempts ran and timed out; neither got to its end.
    assert_eq!(failed["id"], id.as_str(), "{failed}");
    assert_eq!(failed["failedReason"], "timed out", "{failed}");
    assert_eq!(failed["attemptsMade"], 2, "{failed}");
    let log = test_log(&app).await;
    assert!(events(&log, &id, "done").is_empty(), "{log:?}");
}

#[actix_web::test]
async fn the_failed_set_keeps_the_newest_keep_failed_jobs_and_drops_the_data_of_the_rest() {
    // Arrange
    let app = spawn_app_with(|s| s.jobs.keep_failed = 3).await;
    // Act: six jobs fail for good, one after another.
    let mut ids = Vec::new();
    for i in 0..6 {
        let id = enqueue(&app, json!({"kind": "fail", "times": 100}), |o| {
            o.attempts = 1;
            o.id = Some(format!("doomed-{i}"));
        })
        .await;
        wait_for_state(&app, &id, "failed").await;
        ids.push(id);
    }
    // Assert: the newest three are kept, the others are gone with their data.
    assert_eq!(set_members(&app, "failed").await, ids[3..]);
    assert_eq!(with_data(&app, &ids).await, ids[3..]);
}

#[actix_web::test]
async fn completed_jobs_beyond_jobs_keep_completed_are_removed_with_their_data() {
    // Arrange: jobs asking to be kept by the ten, over a bound of two.
    let app = spawn_app_with(|s| s.jobs.keep_completed = 2).await;
    // Act
    let mut ids = Vec::new();
    for i in 0..4 {
        let id = enqueue(&app, json!({"kind": "record"}), |o| {
            o.keep_completed = 10;
            o.id = Some(format!("kept-{i}"));
        })
        .await;
        wait_for_state(&app, &id, "completed").await;
        ids.push(id);
    }
    // Assert
    assert_eq!(set_members(&app, "completed").await, ids[2..]);
    assert_eq!(with_data(&app, &ids).await, ids[2..]);
}
