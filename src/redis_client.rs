//! The one way into Redis: a shared connection and the key prefix.
//!
//! Every key and pub/sub channel is built by [`Keyspace`], which puts the configured
//! prefix first, so deployments and test runs sharing one Redis never touch each other's
//! data, and no caller can forget the prefix. The connection is a `redis`
//! `ConnectionManager` (one multiplexed connection that reconnects by itself); it is made
//! in the background when Redis is down at start-up, so the service starts and serves
//! without it.
//!
//! Every command goes through [`RedisClient::run`], which puts a timeout on it and a
//! circuit breaker ([`breaker`]) in front of it: after a run of failures Redis is skipped
//! (`CircuitOpen`, at once) until a probe after the cooldown succeeds again. A background
//! [`health`] check pings Redis, so the breaker closes again after an outage without
//! waiting for a request, and every admitted call reports to the breaker even when its
//! future is dropped ([`permit`]).
//!
//! Reconnection: the `ConnectionManager`s make one connection attempt per reconnect,
//! never their own backoff. redis 0.32 hands its retry factor to `backon` as the growth
//! factor of a 1 s minimum delay, so its default backoff sleeps 1 to 2 s and then 60 to
//! 120 s between attempts, and commands wait on that sleeping attempt: a Redis restart
//! went unnoticed for minutes. Here each failed command (the health ping at least) starts
//! a fresh attempt instead.

pub mod breaker;
pub mod health;
pub mod info;
mod permit;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;
use tokio::sync::OnceCell;

use crate::configuration::RedisSettings;
use breaker::{Breaker, BreakerState};
use permit::Permit;

/// Builds prefixed key, channel and pattern names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyspace {
    prefix: Arc<str>,
}

impl Keyspace {
    pub fn new(prefix: &str) -> Keyspace {
        Keyspace {
            prefix: Arc::from(prefix),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A key inside the prefix: `key("products:1")` is `cc:products:1`.
    pub fn key(&self, name: &str) -> String {
        self.key_from(format_args!("{name}"))
    }

    /// A key inside the prefix from a formatted name, written in one allocation (for
    /// keys built on every request).
    pub fn key_from(&self, name: std::fmt::Arguments<'_>) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A pub/sub channel inside the prefix.
    pub fn channel(&self, name: &str) -> String {
        self.key(name)
    }

    /// A SCAN `MATCH` pattern that cannot reach outside the prefix: the prefix's own glob
    /// characters are refused by configuration, so only `pattern` can match freely.
    pub fn pattern(&self, pattern: &str) -> String {
        self.key(pattern)
    }

    /// The name without the prefix, if it carries it.
    pub fn strip<'a>(&self, key: &'a str) -> Option<&'a str> {
        key.strip_prefix(&*self.prefix)
    }
}

/// A failure talking to Redis.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis is not connected")]
    NotConnected,
    #[error("redis command timed out")]
    Timeout,
    #[error("redis circuit breaker is open")]
    CircuitOpen,
    #[error("redis command failed: {0}")]
    Command(#[from] redis::RedisError),
}

impl RedisError {
    /// Whether this says Redis is unreachable or too slow (what trips the breaker), as
    /// opposed to a command Redis answered with an error.
    pub fn is_outage(&self) -> bool {
        match self {
            RedisError::NotConnected | RedisError::Timeout => true,
            RedisError::CircuitOpen => false,
            RedisError::Command(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
            }
        }
    }
}

static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Per-thread connections (see `run_local`), keyed by client id because tests run
    /// several apps, each with its own client, in one process, with the client's
    /// recovery count when each was opened.
    static THREAD_CONNECTIONS: RefCell<HashMap<u64, (u64, ConnectionManager)>> =
        RefCell::new(HashMap::new());
}

/// A cheap, cloneable handle on the shared Redis connection.
#[derive(Clone)]
pub struct RedisClient {
    inner: Arc<Inner>,
}

struct Inner {
    /// Tells this client's per-thread connections from another client's in one process.
    id: u64,
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    keyspace: Keyspace,
    timeout: Duration,
    // A std mutex: held for a few field updates, never across an await.
    breaker: Mutex<Breaker>,
    /// How many times the breaker closed after an outage. A per-thread connection opened
    /// before the latest recovery is replaced on its next use rather than trusted.
    recoveries: AtomicU64,
}

impl Inner {
    fn breaker(&self) -> MutexGuard<'_, Breaker> {
        // A panic while holding it cannot leave the few integers inconsistent.
        self.breaker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The breaker just closed after an outage.
    fn on_recovered(&self) {
        self.recoveries.fetch_add(1, Ordering::AcqRel);
        tracing::info!("redis answers again; circuit breaker closed");
    }
}

/// The breaker as the metrics show it.
#[derive(Debug, Clone, Copy)]
pub struct BreakerSnapshot {
    pub state: BreakerState,
    pub transitions: u64,
    pub opened: u64,
}

impl RedisClient {
    /// Opens the client and tries to connect once; when Redis does not answer, keeps
    /// trying in the background (call from the runtime that lives as long as the app).
    pub async fn connect(settings: &RedisSettings) -> anyhow::Result<RedisClient> {
        let client = redis::Client::open(settings.url.expose_secret())?;
        let timeout = Duration::from_millis(settings.timeout_ms);
        // Longer than any admitted call can take (connecting a thread's connection, then
        // the command), so only a probe that was really lost is replaced.
        let probe_deadline = connect_timeout(timeout) + timeout;
        let redis = RedisClient {
            inner: Arc::new(Inner {
                id: NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed),
                client,
                connection: OnceCell::new(),
                keyspace: Keyspace::new(&settings.prefix),
                timeout,
                breaker: Mutex::new(Breaker::new(
                    settings.breaker_failure_threshold,
                    Duration::from_millis(settings.breaker_cooldown_ms),
                    probe_deadline,
                )),
                recoveries: AtomicU64::new(0),
            }),
        };
        health::spawn(&redis);
        if let Err(e) = redis.try_connect().await {
            tracing::warn!(error = %e, "redis unavailable at start-up; retrying in the background");
            let retry = redis.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(Duration::from_millis(500));
                while retry.try_connect().await.is_err() {
                    interval.tick().await;
                }
                tracing::info!("redis connected");
            });
        }
        Ok(redis)
    }

    async fn try_connect(&self) -> Result<(), RedisError> {
        if self.inner.connection.initialized() {
            return Ok(());
        }
        let manager = self.new_manager().await?;
        let _ = self.inner.connection.set(manager);
        Ok(())
    }

    /// Opens a `ConnectionManager` whose I/O task runs on the calling thread's runtime.
    async fn new_manager(&self) -> Result<ConnectionManager, RedisError> {
        let connect_timeout = connect_timeout(self.inner.timeout);
        // No retries of its own: see the module doc.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(connect_timeout)
            .set_response_timeout(self.inner.timeout)
            .set_number_of_retries(0);
        let manager = tokio::time::timeout(
            connect_timeout,
            ConnectionManager::new_with_config(self.inner.client.clone(), config),
        )
        .await
        .map_err(|_| RedisError::Timeout)??;
        Ok(manager)
    }

    /// This thread's own connection for this client, opened on first use. Not before the
    /// shared connection exists: while Redis is down, calls fail at once instead of every
    /// thread dialling on every call. One opened before the breaker's latest recovery is
    /// replaced: it saw the outage, and may sit on a failed reconnect that only its own
    /// next failure would retry, which would cost each thread a failed call after every
    /// outage.
    async fn thread_connection(&self) -> Result<ConnectionManager, RedisError> {
        let id = self.inner.id;
        let recoveries = self.inner.recoveries.load(Ordering::Acquire);
        let cached = THREAD_CONNECTIONS.with(|m| m.borrow().get(&id).cloned());
        if let Some((opened_at, conn)) = cached {
            if opened_at == recoveries {
                return Ok(conn);
            }
        }
        self.connection()?;
        let manager = self.new_manager().await?;
        THREAD_CONNECTIONS.with(|m| m.borrow_mut().insert(id, (recoveries, manager.clone())));
        Ok(manager)
    }

    pub fn keyspace(&self) -> &Keyspace {
        &self.inner.keyspace
    }

    /// The configured per-command timeout.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The underlying client, for dedicated connections (pub/sub).
    pub fn client(&self) -> &redis::Client {
        &self.inner.client
    }

    /// A handle on the shared connection, or `NotConnected`.
    pub fn connection(&self) -> Result<ConnectionManager, RedisError> {
        self.inner
            .connection
            .get()
            .cloned()
            .ok_or(RedisError::NotConnected)
    }

    /// Runs one command or pipeline against the shared connection, bounded by the
    /// configured timeout, unless the circuit breaker is open (then `CircuitOpen` at once).
    pub async fn run<T, F, Fut>(&self, f: F) -> Result<T, RedisError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let permit = Permit::acquire(&self.inner)?;
        let connection = self.connection();
        self.guarded(permit, connection, f).await
    }

    /// Like [`run`](Self::run), but over a connection of the calling thread's own, whose
    /// I/O is driven by this thread's runtime: a per-request call from an actix worker
    /// (the rate limiter's) then never waits for another thread to wake up. Measured in
    /// docs/PERFORMANCE.md.
    pub async fn run_local<T, F, Fut>(&self, f: F) -> Result<T, RedisError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let permit = Permit::acquire(&self.inner)?;
        let connection = self.thread_connection().await;
        self.guarded(permit, connection, f).await
    }

    /// Runs `f` within the timeout and tells the breaker how it went.
    async fn guarded<T, F, Fut>(
        &self,
        permit: Permit<'_>,
        connection: Result<ConnectionManager, RedisError>,
        f: F,
    ) -> Result<T, RedisError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let result = match connection {
            Ok(conn) => {
                let started = Instant::now();
                let result = tokio::time::timeout(self.inner.timeout, f(conn))
                    .await
                    .map_err(|_| RedisError::Timeout)
                    .and_then(|r| r.map_err(RedisError::from));
                crate::metrics::prometheus::redis_command(started.elapsed(), result.is_ok());
                result
            }
            Err(e) => Err(e),
        };
        permit.report(&result);
        result
    }

    /// The breaker's state and counters, for the metrics.
    pub fn breaker_snapshot(&self) -> BreakerSnapshot {
        let breaker = self.inner.breaker();
        BreakerSnapshot {
            state: breaker.state(Instant::now()),
            transitions: breaker.transitions,
            opened: breaker.opened,
        }
    }

    /// Memory and keyspace figures from `INFO memory` and `INFO stats`.
    pub async fn info(&self) -> Result<(info::RedisMemory, info::KeyspaceStats), RedisError> {
        let text: String = self
            .run(|mut c| async move {
                redis::cmd("INFO")
                    .arg("memory")
                    .arg("stats")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok((
            info::RedisMemory::parse(&text),
            info::KeyspaceStats::parse(&text),
        ))
    }

    /// A `PING` on the shared connection past the breaker, its outcome ignored: a failed
    /// command makes the connection start a new reconnect attempt (see `health`).
    async fn reconnect_quietly(&self) {
        if let Ok(mut c) = self.connection() {
            let ping = redis::cmd("PING");
            let _ =
                tokio::time::timeout(self.inner.timeout, ping.query_async::<String>(&mut c)).await;
        }
    }

    /// `PING`, for readiness.
    pub async fn ping(&self) -> Result<(), RedisError> {
        self.run(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await
            .map(|_| ())
    }
}

/// How long opening a connection may take: longer than one command, a few timeouts.
fn connect_timeout(command_timeout: Duration) -> Duration {
    (command_timeout * 10).max(Duration::from_millis(500))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_carries_the_prefix() {
        let ks = Keyspace::new("t1:");
        assert_eq!(ks.key("products:1"), "t1:products:1");
        assert_eq!(ks.channel("cache:invalidate"), "t1:cache:invalidate");
        assert_eq!(ks.pattern("products:list:*"), "t1:products:list:*");
        assert_eq!(ks.strip("t1:products:1"), Some("products:1"));
        assert_eq!(ks.strip("other:products:1"), None);
    }
}
