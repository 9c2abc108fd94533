//! The state every handler and middleware can reach. It lives below the routes,
//! middleware and start-up so that all of them import it downwards.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::auth::account_state::AccountStates;
use crate::auth::held_session::SessionCookie;
use crate::auth::password::Hasher;
use crate::cache::Cache;
use crate::configuration::Settings;
use crate::db::DbPool;
use crate::jobs::Jobs;
use crate::metrics::access::MetricsAccess;
use crate::metrics::instance::InstanceInfo;
use crate::metrics::queues::QueueStatsSource;
use crate::origin::Origins;
use crate::products::ProductWrites;
use crate::pubsub::ProductEvent;
use crate::ratelimit::RateLimit;
use crate::redis_client::RedisClient;
use crate::ws::{Admission, HubShards};

/// What every handler can reach, shared by all workers.
pub struct AppState {
    pub db: DbPool,
    pub redis: RedisClient,
    /// The WebSocket replays' own Redis client: its failures open its own breaker, never
    /// the request path's.
    pub replay_redis: RedisClient,
    pub cache: Cache,
    pub settings: Settings,
    /// `None` when `rate_limit.enabled` is false.
    pub rate_limit: Option<RateLimit>,
    /// Password hashing, bounded by `auth.max_concurrent_hashes`.
    pub hasher: Hasher,
    /// Each account's role and session generation, cached for a moment.
    pub accounts: AccountStates,
    /// The session cookie's name and key, to find a request's session outside the
    /// session middleware (a WebSocket's admin session, asked again later).
    pub session_cookie: SessionCookie,
    /// The one place products are written (commit, invalidate, publish the event).
    pub products: ProductWrites,
    /// Every product event of the deployment, as the subscriber receives it (bounded);
    /// `subscribe()` to consume.
    pub product_events: tokio::sync::broadcast::Sender<ProductEvent>,
    /// This instance's WebSocket hub, one shard per worker (topic → connections).
    pub ws_hub: HubShards,
    /// This instance's open WebSockets, capped per client address and in total.
    pub ws_admission: Admission,
    /// This instance's id, start time and version.
    pub instance: InstanceInfo,
    /// The job queues' figures for the metrics (`NoQueues` until the queue is wired in).
    pub queues: std::sync::Arc<dyn QueueStatsSource>,
    /// The service's own origin per request, and the others `/ws` accepts.
    pub origins: Origins,
    /// Who may read `GET /metrics`.
    pub metrics_access: MetricsAccess,
    /// Renders the process's Prometheus recorder.
    pub prometheus: metrics_exporter_prometheus::PrometheusHandle,
    /// Set when a stop was requested: `/readyz` answers 503 and connections close.
    pub draining: Draining,
    /// This instance's job scheduler.
    pub jobs: Jobs,
}

/// Set once the instance has been asked to stop (`middleware::drain` says what follows),
/// with the requests a handler is working on now (the stop waits for those, not for
/// clients); cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Draining {
    on: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
}

impl Draining {
    pub fn start(&self) {
        self.on.store(true, Ordering::Relaxed);
    }

    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Counts one request as being handled until the guard is dropped.
    pub fn handling(&self) -> Handling {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Handling(self.in_flight.clone())
    }

    /// Requests being handled now (a WebSocket counts until its handshake is answered).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

/// One request being handled (see `Draining::handling`).
pub struct Handling(Arc<AtomicUsize>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
