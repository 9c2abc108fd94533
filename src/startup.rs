//! Builds the application: database, Redis, actors and the HTTP server.
//!
//! `Application::build` binds the listener first, so tests can ask for port 0 and read
//! the real port from `port()` before `run_until_stopped()`.

use std::net::TcpListener;

use actix::Actor;
use actix_session::config::{PersistentSession, TtlExtensionPolicy};
use actix_session::SessionMiddleware;
use actix_web::cookie::{time, Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use secrecy::ExposeSecret;

use crate::auth::account_state::AccountStates;
use crate::auth::held_session::SessionCookie;
use crate::auth::password::Hasher;
use crate::auth::session_store::RedisClientStore;
use crate::cache::Cache;
use crate::configuration::{Environment, Settings};
use crate::db::{self, DbPool};
use crate::jobs::email::Mailer;
use crate::jobs::testing::TestJobs;
use crate::jobs::worker::Runner;
use crate::jobs::{Jobs, QueueStore, Retention};
use crate::metrics::access::MetricsAccess;
use crate::metrics::http::record_http;
use crate::metrics::instance::InstanceInfo;
use crate::middleware::csrf::csrf_guard;
use crate::middleware::drain::close_while_draining;
use crate::middleware::rate_limit::rate_limit;
use crate::middleware::request_id::request_id;
use crate::middleware::session_guard::session_guard;
use crate::middleware::session_unavailable::session_unavailable;
use crate::origin::Origins;
use crate::products::ProductWrites;
use crate::pubsub::product_events::BROADCAST_CAPACITY;
use crate::pubsub::{Ping, ProductEvent, ProductEvents, Publisher, Subscriber};
use crate::ratelimit::identity::TrustedProxies;
use crate::ratelimit::RateLimit;
use crate::redis_client::RedisClient;
use crate::routes;
use crate::state::{AppState, Draining};
use crate::ws::shutdown::{Shutdown, Stopper};
use crate::ws::{Admission, HubShards};

/// A built, bound, not yet running service.
pub struct Application {
    port: u16,
    server: Server,
    db: DbPool,
    cache: Cache,
    product_events: tokio::sync::broadcast::Sender<ProductEvent>,
    ws_hub: HubShards,
    ws_admission: Admission,
    stopper: Stopper,
    shutdown_timeout: std::time::Duration,
    draining: Draining,
    drain: std::time::Duration,
    /// Publishes this instance's snapshot for `/admin/metrics/cluster`; stopped with the
    /// server.
    snapshot_publisher: crate::metrics::cluster::SnapshotPublisher,
    jobs: Jobs,
}

impl Application {
    /// Prepares the database (create, migrate, demo data), connects to Redis (or keeps
    /// trying in the background) and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let db = prepare_database(&settings).await?;
        let redis = RedisClient::connect(&settings.redis)
            .await
            .context("opening the Redis client")?;
        // `since` replays read the history on a client of their own: a replay storm can
        // open its breaker, never the one every request goes through. A page of 100
        // events is a larger reply than a request's command: ten times its timeout.
        let replay_redis = RedisClient::connect(&crate::configuration::RedisSettings {
            timeout_ms: settings.redis.timeout_ms.saturating_mul(10),
            ..settings.redis.clone()
        })
        .await
        .context("opening the replays' Redis client")?;
        let listener = TcpListener::bind(settings.address())
            .with_context(|| format!("binding {}", settings.address()))?;
        let port = listener.local_addr()?.port();
        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let max_body = settings.server.max_body_bytes;
        let shutdown_timeout = settings.server.shutdown_timeout_secs;
        let origin: std::sync::Arc<str> = uuid::Uuid::new_v4().simple().to_string().into();
        let cache = Cache::start(
            db.clone(),
            redis.clone(),
            settings.cache.clone(),
            Publisher::new(redis.clone(), origin.clone()),
            workers,
            settings.database.load_deadline(),
        );
        let ping = Ping {
            interval: std::time::Duration::from_millis(settings.redis.pubsub_ping_interval_ms),
            timeout: std::time::Duration::from_millis(settings.redis.pubsub_ping_timeout_ms),
        };
        let (product_events, _) = tokio::sync::broadcast::channel(BROADCAST_CAPACITY);
        let publisher = ProductEvents::new(redis.clone(), settings.realtime.history_size)
            .with_order_window(settings.realtime.event_order_window_secs);
        // Told each time the subscriber (re)subscribes, so the hub can mend what its
        // clients missed meanwhile.
        let reconnected = std::sync::Arc::new(tokio::sync::Notify::new());
        Subscriber::new(
            cache.clone(),
            origin.clone(),
            ping,
            product_events.clone(),
            publisher.clone(),
        )
        .on_reconnect(reconnected.clone())
        .start();
        // The hub's shards (one per worker, started below), fed from the broadcast by one
        // routing task.
        let ws_hub = HubShards::start(
            &product_events,
            reconnected,
            redis.clone(),
            settings.realtime.ping_interval(),
        );
        let ws_admission =
            Admission::from_settings(&settings).context("the WebSocket connection caps")?;
        let jobs = start_jobs(&settings, &db, &cache, &origin).await?;
        let products = ProductWrites::new(db.clone(), cache.clone(), publisher, jobs.clone());
        let (warm_count, warm_timeout) = (
            settings.cache.warm_count,
            std::time::Duration::from_millis(settings.cache.warm_timeout_ms),
        );
        let session_key = session_key(&settings)?;
        let limiter = RateLimit::start(&settings.rate_limit, redis.clone())
            .context("starting the rate limiter")?;
        let prometheus = crate::metrics::prometheus::install()?;
        let metrics_access = MetricsAccess::from_settings(&settings)?;
        let origins = Origins::new(
            TrustedProxies::parse(&settings.rate_limit.trusted_proxies)
                .context("rate_limit.trusted_proxies")?,
            &settings.realtime.allowed_origins,
        );
        let instance = InstanceInfo::new(settings.server.instance_id.as_deref());
        let draining = Draining::default();
        let drain = std::time::Duration::from_millis(settings.server.drain_ms);
        let state = web::Data::new(AppState {
            db: db.clone(),
            redis,
            replay_redis,
            cache: cache.clone(),
            hasher: Hasher::new(&settings.auth),
            accounts: AccountStates::new(
                db.clone(),
                std::time::Duration::from_millis(settings.session.account_cache_ms),
            ),
            session_cookie: SessionCookie {
                name: settings.session.cookie_name.clone(),
                key: session_key.clone(),
            },
            settings,
            rate_limit: limiter,
            products,
            product_events: product_events.clone(),
            ws_hub: ws_hub.clone(),
            ws_admission: ws_admission.clone(),
            instance,
            queues: std::sync::Arc::new(jobs.clone()),
            origins,
            metrics_access,
            prometheus,
            draining: draining.clone(),
            jobs: jobs.clone(),
        });
        let snapshot_publisher = crate::metrics::cluster::spawn_publisher(state.clone());
        let factory_cache = cache.clone();
        let test_cache = cache.clone();
        let server = HttpServer::new(move || {
            // Runs once on each worker thread: that worker's own L1 actor.
            let worker_cache = web::Data::new(factory_cache.start_worker());
            // Its own WebSocket hub shard, for the sockets this worker serves.
            let worker_hub = web::Data::new(state.ws_hub.start_worker());
            // And its own limiter actor, when the limiter is on.
            let worker_limiter = state
                .rate_limit
                .as_ref()
                .map(|l| web::Data::new(l.start_worker()));
            // Outermost last: request id, session errors as JSON, the session itself,
            // the session's lifetime checks, the CSRF rule (which reads the session's
            // token), then the rate limiter (which needs the user).
            let mut app = App::new()
                .app_data(state.clone())
                .app_data(worker_cache)
                .app_data(worker_hub);
            if let Some(limiter) = worker_limiter {
                app = app.app_data(limiter);
            }
            app.wrap(from_fn(rate_limit))
                .wrap(from_fn(csrf_guard))
                .wrap(from_fn(session_guard))
                .wrap(session_middleware(&state, session_key.clone()))
                .wrap(from_fn(session_unavailable))
                .wrap(from_fn(request_id))
                .wrap(from_fn(record_http))
                .wrap(from_fn(close_while_draining))
                .configure(|cfg| routes::configure(cfg, max_body))
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)?
        .workers(workers)
        // The stop waits for the handlers itself (`shutdown_timeout_secs`); the server's
        // graceful stop then only flushes, for a second (see `ws::shutdown`).
        .shutdown_timeout(crate::ws::shutdown::FLUSH_SECS)
        // SIGINT/SIGTERM are handled in `run_until_stopped`, WebSockets first.
        .disable_signals()
        .run();
        tracing::info!(port, workers, "listening");
        // In the background, bounded in time: readiness does not wait for it.
        actix_rt::spawn(async move {
            let warmed = cache.warm_at_start(warm_count, warm_timeout, workers).await;
            tracing::info!(warmed, "cache warmed");
        });
        Ok(Application {
            port,
            server,
            db,
            cache: test_cache,
            product_events,
            ws_hub,
            ws_admission,
            stopper: Stopper::new(),
            shutdown_timeout: std::time::Duration::from_secs(shutdown_timeout),
            draining,
            drain,
            snapshot_publisher,
            jobs,
        })
    }

    /// The instance's cache, for tests that arm its hooks.
    #[doc(hidden)]
    pub fn cache(&self) -> Cache {
        self.cache.clone()
    }

    /// A receiver of every product event this instance's subscriber forwards, for tests.
    #[doc(hidden)]
    pub fn product_events(&self) -> tokio::sync::broadcast::Receiver<ProductEvent> {
        self.product_events.subscribe()
    }

    /// Stops the running application as SIGTERM would (WebSockets closed with 1001, then
    /// a graceful HTTP stop).
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// The instance's job scheduler, for tests that enqueue.
    #[doc(hidden)]
    pub fn jobs(&self) -> Jobs {
        self.jobs.clone()
    }

    /// The port actually bound (useful when configured as 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM (or `stopper().stop()`): drains for `server.drain_ms`
    /// (see `middleware::drain`), closes every WebSocket with 1001, stops accepting, lets
    /// in-flight requests finish (up to the shutdown timeout for each step), lets running
    /// jobs finish (up to their grace period; the rest return to waiting), withdraws the
    /// instance's cluster snapshot, then closes the pool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        actix_rt::spawn(
            Shutdown {
                stopper: self.stopper,
                hub: self.ws_hub,
                admission: self.ws_admission,
                server: self.server.handle(),
                timeout: self.shutdown_timeout,
                draining: self.draining,
                drain: self.drain,
            }
            .run(),
        );
        let result = self.server.await;
        self.jobs.shutdown().await;
        self.snapshot_publisher.stop().await;
        self.db.close();
        tracing::info!("stopped");
        result
    }
}

/// The job scheduler with its handlers (the mailer's file directory is made here), on a
/// Redis client of its own: a longer timeout (`jobs.redis_timeout_ms`) and a breaker that
/// background polling cannot open for the requests.
async fn start_jobs(
    settings: &Settings,
    db: &DbPool,
    cache: &Cache,
    origin: &std::sync::Arc<str>,
) -> anyhow::Result<Jobs> {
    let redis = &RedisClient::connect(&crate::configuration::RedisSettings {
        timeout_ms: settings.jobs.redis_timeout_ms,
        ..settings.redis.clone()
    })
    .await
    .context("opening the job queue's Redis client")?;
    let runner = Runner {
        cache: cache.clone(),
        db: db.clone(),
        mailer: Mailer::new(&settings.email).context("setting up email")?,
        test: settings.jobs.test.enabled.then(|| {
            TestJobs::new(
                redis.clone(),
                origin.clone(),
                settings.server.instance_id.clone(),
            )
        }),
        warm_products: settings.jobs.warm_products,
    };
    Jobs::start(
        QueueStore::new(redis.clone(), Retention::from_settings(&settings.jobs)),
        runner,
        db.clone(),
        settings.jobs.clone(),
        origin.clone(),
    )
    .context("starting the job scheduler")
}

/// The cookie key from `SESSION_SECRET`, or (outside production, where configuration
/// already refused to load without one) a random one, which signs everyone out at restart
/// and differs between instances.
fn session_key(settings: &Settings) -> anyhow::Result<Key> {
    match &settings.session.secret {
        Some(secret) => Key::try_from(secret.expose_secret().as_bytes())
            .map_err(|e| anyhow::anyhow!("SESSION_SECRET is not a usable key: {e}")),
        None => {
            tracing::warn!(
                "SESSION_SECRET is not set: using a random session key; sessions will not \
                 survive a restart nor be shared between instances"
            );
            Ok(Key::generate())
        }
    }
}

/// actix-session over Redis: an HttpOnly, SameSite=Lax cookie (Secure in production)
/// whose 24 h idle lifetime is extended on every request.
fn session_middleware(state: &AppState, key: Key) -> SessionMiddleware<RedisClientStore> {
    let settings = &state.settings.session;
    let idle = i64::try_from(settings.idle_timeout_secs).unwrap_or(i64::MAX);
    SessionMiddleware::builder(RedisClientStore::new(state.redis.clone()), key)
        .cookie_name(settings.cookie_name.clone())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_secure(state.settings.environment == Environment::Production)
        .session_lifecycle(
            PersistentSession::default()
                .session_ttl(time::Duration::seconds(idle))
                .session_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
        )
        .build()
}

/// Creates the database if asked to, runs migrations, builds the pool and, when the
/// settings ask for demo data, seeds an empty table.
async fn prepare_database(settings: &Settings) -> anyhow::Result<DbPool> {
    let url = settings.database.url.expose_secret();
    if settings.database.create_if_missing {
        db::pool::create_database_if_missing(url).await?;
    }
    db::migrate::run_migrations(url).await?;
    let pool = db::pool::build_pool(&settings.database)?;
    if settings.seed.demo_products > 0 {
        let mut conn = db::pool::connection(&pool).await?;
        if db::products::count_all(&mut conn).await? == 0 {
            let added = db::seed::seed(&mut conn, settings.seed.demo_products).await?;
            tracing::info!(added, "seeded demo products into the empty table");
        }
    }
    Ok(pool)
}
