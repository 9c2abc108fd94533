//! Leases: renewed for as long as a job runs, through a graceful stop too, and per run
//! (lease token) rather than per job id.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{spawn_app_from, spawn_app_with, TestApp};
use crate::jobs::{enqueue, events, test_log, wait_for_log};
use crate::jobs_instances::queue_store;

/// Polls until the job's hash is gone (a completed job of the test queue is not kept),
/// then answers the test log.
async fn wait_until_completed(app: &TestApp, id: &str, within: Duration) -> Vec<Value> {
    let mut conn = app.redis_connection().await;
    let key = format!("{}jobs:{{test}}:job:{id}", app.settings.redis.prefix);
    let started = Instant::now();
    loop {
        let exists: bool = redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("exists");
        if !exists {
            return test_log(app).await;
        }
        assert!(
            started.elapsed() < within,
            "{id} not completed in {within:?}: {:?}",
            test_log(app).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_job_running_across_a_graceful_stop_runs_once_and_is_not_recovered_elsewhere() {
    // Arrange: A runs a 6 s job, many leases long (1 s in the test config), and stops
    // with a grace that outlasts it; B is up and looking for stalled jobs.
    let a = spawn_app_with(|s| s.jobs.shutdown_grace_ms = 15_000).await;
    let id = enqueue(&a, json!({"kind": "sleep", "ms": 6000}), |o| {
        o.id = Some("across-stop".into())
    })
    .await;
    wait_for_log(&a, Duration::from_secs(10), |log| {
        !events(log, &id, "start").is_empty()
    })
    .await;
    let b = spawn_app_from(a.settings.clone()).await;
    // Act
    a.stopper.stop();
    // Assert: one run, on A, to its end.
    let log = wait_until_completed(&b, &id, Duration::from_secs(20)).await;
    let starts = events(&log, &id, "start");
    assert_eq!(starts.len(), 1, "{log:?}");
    let done = events(&log, &id, "done");
    assert_eq!(done.len(), 1, "{log:?}");
    assert_eq!(done[0]["instance"], starts[0]["instance"], "{log:?}");
}

#[actix_web::test]
async fn a_job_its_own_instance_takes_again_keeps_the_lease_of_the_second_run() {
    // Arrange: a 5 s job runs.
    let app = spawn_app_with(|_| {}).await;
    let id = enqueue(&app, json!({"kind": "sleep", "ms": 5000}), |o| {
        o.id = Some("retaken".into())
    })
    .await;
    wait_for_log(&app, Duration::from_secs(10), |log| {
        !events(log, &id, "start").is_empty()
    })
    .await;
    // Not a synchronisation: the second run must start well after the first, so that
    // the first ends while the second still has more than a lease to go.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Act: its lease lapses (as on a starved instance) and it returns to waiting; the
    // same instance takes it again while the first run goes on.
    let store = queue_store(&app.settings).await;
    let mut conn = app.redis_connection().await;
    let active = format!("{}jobs:{{test}}:active", app.settings.redis.prefix);
    let mut recovered = Vec::new();
    for _ in 0..20 {
        // A heartbeat may renew the lease between the two steps: then again.
        let _: () = redis::cmd("ZADD")
            .arg(&active)
            .arg("XX")
            .arg(0)
            .arg(&id)
            .query_async(&mut conn)
            .await
            .expect("zadd");
        recovered = store.recover_stalled("test").await.expect("recovered");
        if !recovered.is_empty() {
            break;
        }
    }
    assert_eq!(recovered, [id.as_str()]);
    wait_for_log(&app, Duration::from_secs(10), |log| {
        events(log, &id, "start").len() >= 2
    })
    .await;
    // Assert: the first run's end does not end the second run's renewals, so it is not
    // recovered and run a third time.
    let log = wait_until_completed(&app, &id, Duration::from_secs(20)).await;
    assert_eq!(events(&log, &id, "start").len(), 2, "{log:?}");
}
