//! `spawn_app`: the service on a random port, with a database and a Redis prefix of its
//! own, against the machine's real PostgreSQL and Redis. Dropping the `TestApp` drops
//! the database and deletes the prefix's keys, even when the test panicked.

use std::collections::HashMap;

use catalog_cache::configuration::Settings;
use catalog_cache::startup::Application;
use secrecy::SecretString;
use serde_json::Value;

/// The server the tests talk to; override with `TEST_DATABASE_SERVER`.
fn database_server() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// Settings as in `config/test.toml`, with a fresh database name and Redis prefix.
pub fn test_settings() -> Settings {
    let vars: HashMap<String, String> = [
        ("APP_ENV", "test".to_string()),
        (
            "APP_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config").to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut settings = Settings::load_from(&vars).expect("test settings load");
    let id = uuid::Uuid::new_v4().simple().to_string();
    settings.database.url =
        SecretString::from(format!("{}/cc_test_{}", database_server(), &id[..16]));
    settings.redis.url = SecretString::from(redis_url());
    settings.redis.prefix = format!("cctest:{}:", &id[..16]);
    // One key per test run, shared by instances started from a clone of these settings.
    settings.session.secret = Some(SecretString::from(format!("{id}{id}{id}")));
    settings.admin.api_token = Some(SecretString::from(format!("token-{id}")));
    // Emails (a file each) of this test only, never into the working tree.
    settings.email.file_dir = std::env::temp_dir()
        .join(format!("cc-test-mail-{}", &id[..16]))
        .to_string_lossy()
        .to_string();
    settings
}

/// The password of every account the helpers create.
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub address: String,
    /// Signed in as an admin (`admin_email`).
    pub client: reqwest::Client,
    pub admin_email: String,
    pub settings: Settings,
    /// The instance's cache, for arming its test hooks.
    pub cache: catalog_cache::cache::Cache,
    /// Every product event this instance's subscriber forwards, from start-up on.
    pub product_events: tokio::sync::broadcast::Receiver<catalog_cache::pubsub::ProductEvent>,
    /// Stops this instance gracefully, as SIGTERM would.
    pub stopper: catalog_cache::ws::shutdown::Stopper,
    /// The instance's job scheduler.
    pub jobs: catalog_cache::jobs::Jobs,
    _cleanup: Cleanup,
}

/// Starts the app with the test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app after `customise` has changed the test settings.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings();
    customise(&mut settings);
    spawn_app_from(settings).await
}

/// Starts the app with exactly these settings (a second instance can share the first
/// one's database and prefix this way).
pub async fn spawn_app_from(settings: Settings) -> TestApp {
    let cleanup = Cleanup::for_settings(&settings);
    let app = Application::build(settings.clone())
        .await
        .expect("the app builds");
    let port = app.port();
    let cache = app.cache();
    let product_events = app.product_events();
    let stopper = app.stopper();
    let jobs = app.jobs();
    actix_web::rt::spawn(app.run_until_stopped());
    let admin_email = format!("admin-{}@test.example", uuid::Uuid::new_v4().simple());
    let app = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: new_client(),
        admin_email,
        settings,
        cache,
        product_events,
        stopper,
        jobs,
        _cleanup: cleanup,
    };
    app.create_admin(&app.admin_email).await;
    if !app.try_login(&app.client, &app.admin_email, PASSWORD).await {
        // Redis is unreachable in this test: the client stays signed out.
        eprintln!("spawn_app: the admin could not sign in");
    }
    app
}

/// A client with a cookie store of its own.
pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client builds")
}

impl TestApp {
    /// A client without cookies that acts as admin through the `ADMIN_TOKEN` bearer
    /// token, so it reaches `/admin` and product writes even while Redis (where sessions
    /// live) is down.
    pub fn token_client(&self) -> reqwest::Client {
        use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&self.bearer()).expect("header value"),
        );
        reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("client builds")
    }

    /// The `Authorization` value of the admin token: `Bearer {token}`.
    pub fn bearer(&self) -> String {
        let token = self
            .settings
            .admin
            .api_token
            .as_ref()
            .map(secrecy::ExposeSecret::expose_secret)
            .expect("test settings carry an admin token");
        format!("Bearer {token}")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// A fresh, signed-out client.
    pub fn anonymous_client(&self) -> reqwest::Client {
        new_client()
    }

    /// Creates (or promotes) an admin with `PASSWORD` straight through the library.
    pub async fn create_admin(&self, email: &str) {
        let pool = catalog_cache::db::pool::build_pool(&self.settings.database).expect("pool");
        let mut conn = catalog_cache::db::pool::connection(&pool)
            .await
            .expect("connection");
        let hasher = catalog_cache::auth::password::Hasher::new(&self.settings.auth);
        catalog_cache::auth::accounts::ensure_admin(&mut conn, &hasher, email, PASSWORD)
            .await
            .expect("admin created");
    }

    /// Signs `client` in; true on 200.
    pub async fn try_login(&self, client: &reqwest::Client, email: &str, password: &str) -> bool {
        let response = client
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await;
        match response {
            Ok(r) if r.status() == 200 => true,
            // Say why, so a failing test shows more than `false`.
            Ok(r) => {
                let status = r.status();
                eprintln!(
                    "login of {email}: {status} {}",
                    r.text().await.unwrap_or_default()
                );
                false
            }
            Err(e) => {
                eprintln!("login of {email}: {e}");
                false
            }
        }
    }

    /// Registers an account over HTTP and returns a new client signed in to it.
    pub async fn register_and_login(&self, email: &str, password: &str) -> reqwest::Client {
        let client = new_client();
        let response = client
            .post(self.url("/api/auth/register"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 201, "registering {email}");
        assert!(
            self.try_login(&client, email, password).await,
            "signing in {email}"
        );
        client
    }

    /// A connection of the test's own to this app's Redis.
    pub async fn redis_connection(&self) -> redis::aio::MultiplexedConnection {
        let url = secrecy::ExposeSecret::expose_secret(&self.settings.redis.url).to_string();
        redis::Client::open(url)
            .expect("redis client")
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection")
    }

    /// Keys under this app's prefix matching `pattern` (which must not repeat the prefix).
    pub async fn redis_keys(&self, pattern: &str) -> Vec<String> {
        let mut conn = self.redis_connection().await;
        let mut found = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}{pattern}", self.settings.redis.prefix))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .expect("scan");
            found.extend(keys);
            if next == 0 {
                return found;
            }
            cursor = next;
        }
    }

    /// Creates a product through the API and returns its JSON.
    pub async fn create_product(&self, body: Value) -> Value {
        let response = self.post_json("/api/products", &body).await;
        assert_eq!(response.status(), 201, "creating {body}");
        let json: Value = response.json().await.expect("json body");
        json["data"].clone()
    }

    /// A connection of the test's own to this app's database (for SQL behind the app's
    /// back: locks, rows changed without an invalidation).
    pub async fn db_connection(&self) -> diesel_async::AsyncPgConnection {
        use diesel_async::AsyncConnection;
        let url = secrecy::ExposeSecret::expose_secret(&self.settings.database.url).to_string();
        diesel_async::AsyncPgConnection::establish(&url)
            .await
            .expect("database connection")
    }

    /// Seeds demo products 1..=n straight into the database.
    pub async fn seed(&self, n: u32) {
        let pool = catalog_cache::db::pool::build_pool(&self.settings.database).expect("pool");
        let mut conn = catalog_cache::db::pool::connection(&pool)
            .await
            .expect("connection");
        catalog_cache::db::seed::seed(&mut conn, n)
            .await
            .expect("seeded");
    }
}

/// Asserts the JSON error shape and returns the body.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body: Value = response.json().await.expect("json error body");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    body
}

/// Drops a test's database, Redis keys and mail folder when dropped.
pub struct Cleanup {
    database_url: String,
    redis_url: String,
    prefix: String,
    mail_dir: String,
}

impl Cleanup {
    fn for_settings(settings: &Settings) -> Cleanup {
        Cleanup {
            database_url: secrecy::ExposeSecret::expose_secret(&settings.database.url).to_string(),
            redis_url: secrecy::ExposeSecret::expose_secret(&settings.redis.url).to_string(),
            prefix: settings.redis.prefix.clone(),
            mail_dir: settings.email.file_dir.clone(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let database_url = self.database_url.clone();
        let redis_url = self.redis_url.clone();
        let prefix = self.prefix.clone();
        let _ = std::fs::remove_dir_all(&self.mail_dir);
        // Drop cannot await, and the test's runtime may be gone: use a thread of our own.
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async move {
                drop_database(&database_url).await;
                delete_prefix(&redis_url, &prefix).await;
            });
        });
        let _ = done.join();
    }
}

async fn drop_database(url: &str) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut parsed = url::Url::parse(url).expect("database url");
    let name = parsed.path().trim_start_matches('/').to_string();
    parsed.set_path("/postgres");
    if let Ok(mut conn) = AsyncPgConnection::establish(parsed.as_str()).await {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

async fn delete_prefix(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let mut cursor: u64 = 0;
    loop {
        let Ok((next, keys)): redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(500)
            .query_async(&mut conn)
            .await
        else {
            return;
        };
        if !keys.is_empty() {
            let _: redis::RedisResult<()> =
                redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

/// Drops the settings' database and Redis keys when dropped, for tests that run the
/// binary instead of `spawn_app`.
pub fn cleanup_guard(settings: &Settings) -> Cleanup {
    Cleanup::for_settings(settings)
}
