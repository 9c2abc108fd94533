//! A graceful stop with queries in flight on pooled connections that another worker
//! opened: the worker that stops first must not take those connections down with it.

use std::time::{Duration, Instant};

use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use secrecy::ExposeSecret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app_with, TestApp};

/// The pool's size: phase two's requests hold every connection of the pool at once.
const POOL: usize = 4;

/// An update whose new name reads `sleep <ms> ...` sleeps that long inside PostgreSQL.
const SLOW_UPDATES: &str = "
    CREATE FUNCTION slow_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.name LIKE 'sleep %' THEN
        PERFORM pg_sleep(split_part(NEW.name, ' ', 2)::float / 1000);
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER slow_update BEFORE UPDATE ON products
      FOR EACH ROW EXECUTE FUNCTION slow_update();";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Opens `2 × n` connections one after another. The server hands accepted connections
/// to its two workers in turn, so the even ones share one worker and the odd ones the
/// other; the even ones are returned, the odd ones closed unused.
async fn connections_to_one_worker(app: &TestApp, n: usize) -> Vec<TcpStream> {
    let address = app.address.trim_start_matches("http://");
    let mut kept = Vec::new();
    for i in 0..2 * n {
        let stream = TcpStream::connect(address).await.expect("connected");
        if i % 2 == 0 {
            kept.push(stream);
        }
    }
    kept
}

/// Renames product `id` over `stream` (the connection closes after the answer); answers
/// the status, 0 when the connection ended without one.
async fn rename(mut stream: TcpStream, token: String, id: usize, name: &str) -> u16 {
    let body = serde_json::json!({ "name": name }).to_string();
    let request = format!(
        "PUT /api/products/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return 0;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let head = String::from_utf8_lossy(&response);
    head.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[actix_web::test]
async fn a_graceful_stop_lets_queries_finish_on_connections_another_worker_opened() {
    // Arrange: two workers, a small pool, and updates slowed down inside PostgreSQL.
    let app = spawn_app_with(|s| {
        s.server.workers = 2;
        s.server.shutdown_timeout_secs = 20;
        s.database.pool_max_size = POOL;
        s.database.pool_timeout_ms = 10_000;
        s.database.statement_timeout_ms = 20_000;
    })
    .await;
    app.seed(2 * POOL as u32).await;
    let mut db = app.db_connection().await;
    db.batch_execute(SLOW_UPDATES)
        .await
        .expect("trigger created");
    let token = app
        .settings
        .admin
        .api_token
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_string();
    // One worker (call it A) opens the pool's connections: its slow updates overlap, so
    // each needs a connection of its own. Then A serves nothing more.
    let on_a = connections_to_one_worker(&app, POOL).await;
    let first = on_a
        .into_iter()
        .enumerate()
        .map(|(i, stream)| rename(stream, token.clone(), i + 1, "sleep 1000 first"));
    let statuses = futures_util::future::join_all(first).await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    // The other worker (B) runs long updates on every connection of the pool, A's too:
    // one connection more first (to A, closed at once) makes the even ones B's.
    let address = app.address.trim_start_matches("http://");
    drop(TcpStream::connect(address).await.expect("connected"));
    let on_b = connections_to_one_worker(&app, POOL).await;
    let second = on_b
        .into_iter()
        .enumerate()
        .map(|(i, stream)| rename(stream, token.clone(), POOL + i + 1, "sleep 8000 second"));
    let second = tokio::spawn(futures_util::future::join_all(second));
    let started = Instant::now();
    loop {
        let sleeping: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event = 'PgSleep'",
        )
        .get_result(&mut db)
        .await
        .expect("pg_stat_activity");
        if sleeping.n == POOL as i64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} sleeping",
            sleeping.n
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Act: a graceful stop; A, idle, stops at once while B waits for its requests.
    app.stopper.stop();
    // Assert: every request got its answer.
    let statuses = second.await.expect("requests joined");
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
}
