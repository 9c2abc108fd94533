//! The job queues over real Redis: retries with backoff, the failed set, delays, the
//! admin routes and their access rules. The `test` queue (on in `config/test.toml` only)
//! logs each run to `{prefix}jobs:{test}:log`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};

/// Every line of the test queue's log, oldest first.
pub async fn test_log(app: &TestApp) -> Vec<Value> {
    let mut conn = app.redis_connection().await;
    let key = format!("{}jobs:{{test}}:log", app.settings.redis.prefix);
    let lines: Vec<String> = redis::cmd("LRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .expect("lrange");
    lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("log line"))
        .collect()
}

/// The log lines of one job with the given event.
pub fn events<'a>(log: &'a [Value], id: &str, event: &str) -> Vec<&'a Value> {
    log.iter()
        .filter(|l| l["id"] == id && l["event"] == event)
        .collect()
}

/// Polls the log until `done` holds (bounded by `within`), returning the log.
pub async fn wait_for_log(
    app: &TestApp,
    within: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let log = test_log(app).await;
        if done(&log) {
            return log;
        }
        assert!(
            started.elapsed() < within,
            "the job log did not get there in {within:?}: {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn enqueue(
    app: &TestApp,
    payload: Value,
    change: impl FnOnce(&mut catalog_cache::jobs::JobOptions),
) -> String {
    let mut options = app.jobs.options("test").expect("the test queue is on");
    change(&mut options);
    app.jobs
        .enqueue("test", payload, options)
        .await
        .expect("enqueued")
}

async fn queue_stats(app: &TestApp, name: &str) -> Value {
    let response = app
        .token_client()
        .get(app.url("/admin/queues"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no queue {name} in {body}"))
}

#[actix_web::test]
async fn a_failing_job_is_retried_with_exponential_backoff_until_it_succeeds() {
    // Arrange: fails twice, 3 attempts, exponential backoff from 200 ms (test config).
    let app = spawn_app().await;
    // Act
    let id = enqueue(&app, json!({"kind": "fail", "times": 2}), |_| {}).await;
    let log = wait_for_log(&app, Duration::from_secs(10), |log| {
        !events(log, &id, "done").is_empty()
    })
    .await;
    // Assert: three attempts, 200 ms then 400 ms apart (within a tolerance: polling every
    // 50 ms and a busy machine only ever make it later).
    let starts: Vec<i64> = events(&log, &id, "start")
        .iter()
        .map(|l| l["at"].as_i64().unwrap())
        .collect();
    assert_eq!(starts.len(), 3, "{log:?}");
    let attempts: Vec<i64> = events(&log, &id, "start")
        .iter()
        .map(|l| l["attempt"].as_i64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    let (first_gap, second_gap) = (starts[1] - starts[0], starts[2] - starts[1]);
    assert!(
        (200..1200).contains(&first_gap),
        "first retry after {first_gap} ms"
    );
    assert!(
        (400..1400).contains(&second_gap),
        "second retry after {second_gap} ms"
    );
    let stats = queue_stats(&app, "test").await;
    assert_eq!(stats["failed"], 0, "{stats}");
    assert!(
        stats["processedPerMinute"].as_u64().unwrap() >= 1,
        "{stats}"
    );
}

#[actix_web::test]
async fn a_job_out_of_attempts_lands_in_failed_with_its_error_and_can_be_retried_or_removed() {
    // Arrange: always fails, 2 attempts.
    let app = spawn_app().await;
    let id = enqueue(&app, json!({"kind": "fail", "times": 100}), |o| {
        o.attempts = 2
    })
    .await;
    let admin = app.token_client();
    // Act: wait for it to land in the failed set.
    let started = Instant::now();
    let failed = loop {
        let response = admin
            .get(app.url("/admin/queues/test/failed"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        if body["count"] == 1 {
            break body;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Assert: its last error and attempt count.
    let job = &failed["data"][0];
    assert_eq!(job["id"], id.as_str());
    assert_eq!(job["queue"], "test");
    assert_eq!(job["attemptsMade"], 2);
    assert_eq!(job["attempts"], 2);
    assert_eq!(job["failedReason"], "failing on purpose, attempt 2");
    assert_eq!(job["payload"], json!({"kind": "fail", "times": 100}));
    assert!(job["failedAt"].as_u64().unwrap() >= job["enqueuedAt"].as_u64().unwrap());
    assert_eq!(queue_stats(&app, "test").await["failed"], 1);

    // Retry: back to waiting with its attempts reset, so it runs twice more.
    let response = admin
        .post(app.url(&format!("/admin/queues/test/jobs/{id}/retry")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    wait_for_log(&app, Duration::from_secs(10), |log| {
        events(log, &id, "start").len() == 4
    })
    .await;
    // Retrying a job that has not failed (it is running or waiting again) is a conflict
    // until it fails again.
    let started = Instant::now();
    while queue_stats(&app, "test").await["failed"] != 1 {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Remove: gone from the failed set; a second remove finds nothing.
    let response = admin
        .delete(app.url(&format!("/admin/queues/test/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(queue_stats(&app, "test").await["failed"], 0);
    let response = admin
        .delete(app.url(&format!("/admin/queues/test/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "not_found").await;
}

#[actix_web::test]
async fn a_delayed_job_does_not_run_before_its_time() {
    let app = spawn_app().await;
    let before = chrono::Utc::now().timestamp_millis();
    let id = enqueue(&app, json!({"kind": "record"}), |o| {
        o.delay = Duration::from_millis(800)
    })
    .await;
    let stats = queue_stats(&app, "test").await;
    assert_eq!(stats["delayed"], 1, "{stats}");
    let log = wait_for_log(&app, Duration::from_secs(10), |log| {
        !events(log, &id, "done").is_empty()
    })
    .await;
    let ran_at = events(&log, &id, "done")[0]["at"].as_i64().unwrap();
    assert!(
        ran_at >= before + 800,
        "ran {} ms after enqueue",
        ran_at - before
    );
}

#[actix_web::test]
async fn queue_routes_need_an_admin_and_answer_404_for_unknown_queues_and_jobs() {
    let app = spawn_app().await;
    let admin = app.token_client();
    // Access: 401 without a session, 403 for a user, 200 for an admin session and token.
    let anonymous = app.anonymous_client();
    let response = anonymous
        .get(app.url("/admin/queues"))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;
    let user = app
        .register_and_login("queue-user@test.example", crate::helpers::PASSWORD)
        .await;
    for (method, path) in [
        ("GET", "/admin/queues"),
        ("GET", "/admin/queues/email/failed"),
        ("POST", "/admin/queues/email/jobs/x/retry"),
        ("DELETE", "/admin/queues/email/jobs/x"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = user
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_error(response, 403, "forbidden").await;
        let response = anonymous
            .request(method, app.url(path))
            .send()
            .await
            .unwrap();
        assert_error(response, 401, "unauthorized").await;
    }
    let response = app.get("/admin/queues").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let names: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cache-warming", "email", "test"]);
    for field in [
        "waiting",
        "active",
        "delayed",
        "completed",
        "failed",
        "processedPerMinute",
    ] {
        assert_eq!(body["data"][0][field], 0, "{field} in {body}");
    }

    // Unknown queue or job: 404; a job that has not failed cannot be retried: 409.
    for (method, path) in [
        ("GET", "/admin/queues/nope/failed"),
        ("POST", "/admin/queues/nope/jobs/1/retry"),
        ("DELETE", "/admin/queues/nope/jobs/1"),
        ("POST", "/admin/queues/email/jobs/missing/retry"),
        ("DELETE", "/admin/queues/email/jobs/missing"),
        ("DELETE", "/admin/queues/email/jobs/bad%20id"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = admin.request(method, app.url(path)).send().await.unwrap();
        assert_error(response, 404, "not_found").await;
    }
    let id = enqueue(&app, json!({"kind": "record"}), |o| {
        o.delay = Duration::from_secs(60)
    })
    .await;
    let response = admin
        .post(app.url(&format!("/admin/queues/test/jobs/{id}/retry")))
        .send()
        .await
        .unwrap();
    assert_error(response, 409, "conflict").await;
    // A delayed job can be removed; it then never runs.
    let response = admin
        .delete(app.url(&format!("/admin/queues/test/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(queue_stats(&app, "test").await["delayed"], 0);
    let response = admin
        .get(app.url("/admin/queues/test/failed?limit=0"))
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "bad_request").await;
}

#[actix_web::test]
async fn completed_and_failed_jobs_are_published_on_the_events_channel() {
    use futures_util::StreamExt;
    // Arrange: a subscriber on `{prefix}jobs:events`.
    let app = spawn_app().await;
    let url = secrecy::ExposeSecret::expose_secret(&app.settings.redis.url).to_string();
    let mut pubsub = redis::Client::open(url)
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    pubsub
        .subscribe(format!("{}jobs:events", app.settings.redis.prefix))
        .await
        .unwrap();
    let mut messages = pubsub.into_on_message();
    // Act: one job that completes, one that fails its only attempt.
    let ok = enqueue(&app, json!({"kind": "record"}), |_| {}).await;
    let bad = enqueue(&app, json!({"kind": "fail", "times": 1}), |o| {
        o.attempts = 1
    })
    .await;
    // Assert
    let mut seen: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, messages.next())
            .await
            .expect("events within 10 s")
            .expect("subscription open");
        let payload: String = message.get_payload().unwrap();
        seen.push(serde_json::from_str(&payload).unwrap());
    }
    let completed = seen
        .iter()
        .find(|e| e["id"] == ok.as_str())
        .expect("completed event");
    assert_eq!(completed["event"], "completed");
    assert_eq!(completed["queue"], "test");
    assert_eq!(completed["attemptsMade"], 1);
    assert!(completed["waitedMs"].is_u64());
    let failed = seen
        .iter()
        .find(|e| e["id"] == bad.as_str())
        .expect("failed event");
    assert_eq!(failed["event"], "failed");
    assert_eq!(failed["error"], "failing on purpose, attempt 1");
    assert!(failed.get("retryInMs").is_none(), "{failed}");
}
