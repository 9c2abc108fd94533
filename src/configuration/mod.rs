//! Typed settings, layered and validated at start-up.
//!
//! Order (later wins): `config/default.toml`, `config/{APP_ENV}.toml`, the file named by
//! `APP_CONFIG_FILE` (a deployment's own settings), `APP__SECTION__KEY` environment
//! variables, then the conventional variables `DATABASE_URL`, `REDIS_URL`,
//! `HOST`, `PORT`, `REDIS_PREFIX` and `SESSION_SECRET`. The TOML files are read from
//! `APP_CONFIG_DIR` (default `./config`) and fall back to the copies compiled into the
//! binary, so the binary runs from any directory. There is no global settings object:
//! tests build their own.

use std::collections::HashMap;
use std::path::PathBuf;

use config::{Config, File, FileFormat};
use secrecy::ExposeSecret;
use serde::Deserialize;

mod auth;
mod cache;
mod email;
mod jobs;
mod metrics;
mod rate_limit;
mod realtime;
mod redis;
mod server;
mod session;

pub use auth::AuthSettings;
pub use cache::CacheSettings;
pub use email::EmailSettings;
pub use jobs::{BackoffKind, JobsSettings, QueueSettings, ScheduleSettings, TestQueueSettings};
pub use metrics::MetricsSettings;
pub use rate_limit::{PolicySettings, RateLimitFallback, RateLimitSettings};
pub use realtime::RealtimeSettings;
pub use redis::RedisSettings;
pub use server::{
    AdminSettings, DatabaseSettings, LogFormat, LogSettings, SeedSettings, ServerSettings,
    MAX_INSTANCE_ID,
};
pub use session::SessionSettings;

/// The deployment environment, chosen by `APP_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Test,
    Production,
}

impl Environment {
    /// The name used in `APP_ENV` and in the config file name.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Test => "test",
            Environment::Production => "production",
        }
    }

    fn embedded_file(self) -> &'static str {
        match self {
            Environment::Development => include_str!("../../config/development.toml"),
            Environment::Test => include_str!("../../config/test.toml"),
            Environment::Production => include_str!("../../config/production.toml"),
        }
    }
}

impl std::str::FromStr for Environment {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Environment::Development),
            "test" => Ok(Environment::Test),
            "production" | "prod" => Ok(Environment::Production),
            other => Err(ConfigError::Invalid {
                setting: "APP_ENV",
                reason: format!(
                    "unknown environment `{other}` (use development, test or production)"
                ),
            }),
        }
    }
}

/// A setting that could not be loaded or is out of range.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid setting {setting}: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
    #[error("invalid configuration: {0}")]
    Load(#[from] config::ConfigError),
}

/// All settings of one service instance.
#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub log: LogSettings,
    pub seed: SeedSettings,
    pub cache: CacheSettings,
    pub session: SessionSettings,
    pub rate_limit: RateLimitSettings,
    pub admin: AdminSettings,
    pub auth: AuthSettings,
    pub realtime: RealtimeSettings,
    pub metrics: MetricsSettings,
    pub jobs: JobsSettings,
    pub email: EmailSettings,
}

#[derive(Deserialize)]
struct RawSettings {
    server: ServerSettings,
    database: DatabaseSettings,
    redis: RedisSettings,
    log: LogSettings,
    seed: SeedSettings,
    cache: CacheSettings,
    session: SessionSettings,
    rate_limit: RateLimitSettings,
    #[serde(default)]
    admin: AdminSettings,
    #[serde(default)]
    auth: AuthSettings,
    #[serde(default)]
    realtime: RealtimeSettings,
    #[serde(default)]
    metrics: MetricsSettings,
    jobs: JobsSettings,
    email: EmailSettings,
}

/// Environment variables with conventional names, and the setting each one overrides.
const CONVENTIONAL_VARS: &[(&str, &str)] = &[
    ("DATABASE_URL", "database.url"),
    ("REDIS_URL", "redis.url"),
    ("HOST", "server.host"),
    ("PORT", "server.port"),
    ("REDIS_PREFIX", "redis.prefix"),
    ("SESSION_SECRET", "session.secret"),
    ("ADMIN_TOKEN", "admin.api_token"),
];

impl Settings {
    /// Loads settings from the process environment (`APP_ENV` picks the file).
    pub fn load() -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Settings::load_from(&vars)
    }

    /// Loads settings from the given variables instead of the process environment.
    pub fn load_from(vars: &HashMap<String, String>) -> Result<Settings, ConfigError> {
        let environment: Environment = vars
            .get("APP_ENV")
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(Environment::Development);
        let dir = PathBuf::from(
            vars.get("APP_CONFIG_DIR")
                .map(String::as_str)
                .unwrap_or("config"),
        );

        let mut builder = Config::builder()
            .add_source(config_file(
                &dir,
                "default",
                include_str!("../../config/default.toml"),
            ))
            .add_source(config_file(
                &dir,
                environment.as_str(),
                environment.embedded_file(),
            ));
        // Lists of tables (`[[jobs.schedules]]`, `[[rate_limit.policies]]`) have no
        // environment-variable form: a deployment sets its own in one more file, without
        // editing the repository's. A named file that cannot be read stops start-up.
        if let Some(path) = vars.get("APP_CONFIG_FILE").filter(|p| !p.is_empty()) {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
                setting: "APP_CONFIG_FILE",
                reason: format!("cannot read {path}: {e}"),
            })?;
            builder = builder.add_source(File::from_str(&text, FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("APP")
                .prefix_separator("__")
                .separator("__")
                .source(Some(vars.clone().into_iter().collect()))
                .try_parsing(true),
        );
        for (var, key) in CONVENTIONAL_VARS {
            if let Some(value) = vars.get(*var) {
                builder = builder.set_override(*key, value.as_str())?;
            }
        }
        let raw: RawSettings = builder.build()?.try_deserialize()?;
        let settings = Settings {
            environment,
            server: raw.server,
            database: raw.database,
            redis: raw.redis,
            log: raw.log,
            seed: raw.seed,
            cache: raw.cache,
            session: raw.session,
            rate_limit: raw.rate_limit,
            admin: raw.admin,
            auth: raw.auth,
            realtime: raw.realtime,
            metrics: raw.metrics,
            jobs: raw.jobs,
            email: raw.email,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what the types alone cannot: URL shapes, ranges and the key prefix.
    fn validate(&self) -> Result<(), ConfigError> {
        check_url(
            "database.url (DATABASE_URL)",
            self.database.url.expose_secret(),
            &["postgres", "postgresql"],
        )?;
        check_url(
            "redis.url (REDIS_URL)",
            self.redis.url.expose_secret(),
            &["redis", "rediss", "redis+unix", "unix"],
        )?;
        if self.database_name().is_empty() {
            return invalid("database.url (DATABASE_URL)", "names no database");
        }
        if self
            .admin
            .api_token
            .as_ref()
            .is_some_and(|t| t.expose_secret().chars().count() < 32)
        {
            return invalid(
                "admin.api_token (ADMIN_TOKEN)",
                "must be at least 32 characters",
            );
        }
        if self.server.host.trim().is_empty() {
            return invalid("server.host (HOST)", "must not be empty");
        }
        self.redis.validate()?;
        if !(1..=1000).contains(&self.database.pool_max_size) {
            return invalid("database.pool_max_size", "must be in 1..=1000");
        }
        if !(1..=3_600_000).contains(&self.database.statement_timeout_ms) {
            return invalid("database.statement_timeout_ms", "must be in 1..=3600000");
        }
        self.cache.validate()?;
        self.auth.validate()?;
        self.realtime.validate()?;
        self.metrics.validate()?;
        self.server.validate()?;
        self.jobs.validate()?;
        self.email.validate()?;
        if self.server.max_body_bytes < 1024 {
            return invalid("server.max_body_bytes", "must be at least 1024");
        }
        if let Some(secret) = &self.session.secret {
            if secret.expose_secret().len() < 64 {
                return invalid(
                    "session.secret (SESSION_SECRET)",
                    "must be at least 64 bytes",
                );
            }
        } else if self.environment == Environment::Production {
            return invalid(
                "session.secret (SESSION_SECRET)",
                "SESSION_SECRET is required in production (at least 64 random bytes)",
            );
        }
        if self.session.account_cache_ms > 1000 {
            return invalid(
                "session.account_cache_ms",
                "must be in 0..=1000 (role changes must reach sessions within a second)",
            );
        }
        if self.session.cookie_name.trim().is_empty() || self.session.idle_timeout_secs == 0 {
            return invalid(
                "session",
                "cookie_name must be set and idle_timeout_secs >= 1",
            );
        }
        self.rate_limit.validate()?;
        crate::ratelimit::policy::Policies::parse_all(&self.rate_limit.policies).map_err(|e| {
            ConfigError::Invalid {
                setting: "rate_limit.policies",
                reason: e.to_string(),
            }
        })?;
        crate::ratelimit::identity::TrustedProxies::parse(&self.rate_limit.trusted_proxies)
            .map_err(|e| ConfigError::Invalid {
                setting: "rate_limit.trusted_proxies",
                reason: e.to_string(),
            })?;
        if self
            .log
            .level
            .parse::<tracing_subscriber::EnvFilter>()
            .is_err()
        {
            return invalid("log.level", "is not a valid filter directive");
        }
        Ok(())
    }

    /// The name of the configured database (the URL's path).
    pub fn database_name(&self) -> String {
        url::Url::parse(self.database.url.expose_secret())
            .map(|u| u.path().trim_start_matches('/').to_string())
            .unwrap_or_default()
    }

    /// The address to bind, as `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.server.host, self.server.port)
    }
}

fn config_file(
    dir: &std::path::Path,
    name: &str,
    embedded: &'static str,
) -> File<config::FileSourceString, FileFormat> {
    let path = dir.join(format!("{name}.toml"));
    match std::fs::read_to_string(&path) {
        Ok(text) => File::from_str(&text, FileFormat::Toml),
        Err(_) => File::from_str(embedded, FileFormat::Toml),
    }
}

fn check_url(setting: &'static str, value: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    match url::Url::parse(value) {
        Ok(url) if schemes.contains(&url.scheme()) => Ok(()),
        Ok(url) => invalid(
            setting,
            &format!(
                "scheme `{}` is not one of {}",
                url.scheme(),
                schemes.join(", ")
            ),
        ),
        // The URL may hold a password: name the setting, never echo the value.
        Err(e) => invalid(setting, &format!("not a valid URL ({e})")),
    }
}

pub(super) fn invalid<T>(setting: &'static str, reason: &str) -> Result<T, ConfigError> {
    Err(ConfigError::Invalid {
        setting,
        reason: reason.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(&vars)
    }

    /// Every setting of `config/default.toml` (`section.key`; a list of tables as its
    /// name) is documented in the README: by its name, its `APP__` variable, or (a job
    /// queue's, the WebSocket's) a row of its section's table.
    #[test]
    fn the_readme_names_every_setting() {
        let readme = include_str!("../../README.md");
        let mut section = String::new();
        let mut in_list_of_tables = false;
        let mut missing = Vec::new();
        for line in include_str!("../../config/default.toml").lines() {
            let line = line.trim_end();
            if let Some(list) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
                in_list_of_tables = true;
                if !readme.contains(&format!("[[{list}]]")) {
                    missing.push(format!("[[{list}]]"));
                }
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                (section, in_list_of_tables) = (name.to_string(), false);
                continue;
            }
            let Some((key, _)) = line.split_once(" = ") else {
                continue;
            };
            if in_list_of_tables || key.starts_with([' ', '#', '"']) {
                continue;
            }
            let dotted = format!("{section}.{key}");
            let variable = format!("APP__{}", dotted.replace('.', "__").to_uppercase());
            let field = key.to_uppercase();
            let documented = readme.contains(&format!("`{dotted}`"))
                || readme.contains(&variable)
                || (section.starts_with("jobs.")
                    && (readme.contains(&format!("__{field}`"))
                        || readme.contains(&format!("_{field}`"))))
                || (section == "realtime" && readme.contains(&format!("| `{key}` |")));
            if !documented {
                missing.push(dotted);
            }
        }
        assert!(
            missing.is_empty(),
            "settings the README does not name: {missing:?}"
        );
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = load(&[]).expect("defaults load");
        assert_eq!(s.environment, Environment::Development);
        assert_eq!(s.address(), "127.0.0.1:8080");
        assert_eq!(
            s.database.url.expose_secret(),
            "postgres://postgres@127.0.0.1:5432/catalog_cache"
        );
        assert_eq!(s.redis.url.expose_secret(), "redis://127.0.0.1:6379");
        assert_eq!(s.redis.prefix, "cc:");
        assert_eq!(s.redis.pubsub_ping_interval_ms, 1000);
        assert_eq!(s.redis.pubsub_ping_timeout_ms, 500);
        assert_eq!(s.seed.demo_products, 1000);
        assert_eq!(s.database_name(), "catalog_cache");
        assert_eq!(s.cache.item_ttl_secs, 3600);
        assert_eq!(s.cache.list_ttl_secs, 300);
        assert_eq!(s.cache.jitter_percent, 10);
        assert_eq!(s.cache.l1_max_bytes, 64 * 1024 * 1024);
        assert_eq!(s.auth.max_concurrent_hashes, 0);
        assert!(s.auth.hash_limit() >= 1);
        assert_eq!(s.auth.hash_queue_timeout_ms, 1000);
        assert_eq!(s.session.account_cache_ms, 500);
        assert_eq!(s.realtime.history_size, 10_000);
        assert_eq!(s.metrics.allowed_networks, ["127.0.0.0/8", "::1/128"]);
        assert!(s.server.instance_id.is_none());
        // The test queue's kinds never run outside config/test.toml.
        assert!(!s.jobs.test.enabled);
        assert_eq!(s.jobs.email.attempts, 3);
        assert_eq!(s.jobs.email.backoff_delay_ms, 2000);
        assert_eq!(s.jobs.email.timeout_ms, 30_000);
        assert_eq!(s.jobs.cache_warming.timeout_ms, 300_000);
        assert_eq!((s.jobs.keep_completed, s.jobs.keep_failed), (1000, 1000));
        assert_eq!(s.jobs.schedules[0].cron, "0 */6 * * *");
        assert_eq!(s.email.file_dir, "./mail");
        assert!(s.email.smtp_url.is_none());
        assert_eq!(s.database.statement_timeout_ms, 5000);
        assert_eq!(
            s.database.load_deadline(),
            std::time::Duration::from_millis(7000)
        );
    }

    #[test]
    fn conventional_and_app_variables_override_files() {
        let secret = "s".repeat(64);
        let s = load(&[
            ("APP_ENV", "production"),
            ("SESSION_SECRET", &secret),
            ("PORT", "9000"),
            ("REDIS_PREFIX", "x:"),
            ("APP__DATABASE__POOL_MAX_SIZE", "3"),
        ])
        .expect("loads");
        assert_eq!(s.environment, Environment::Production);
        assert_eq!(s.server.port, 9000);
        assert_eq!(s.server.host, "0.0.0.0");
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.redis.prefix, "x:");
        assert_eq!(s.database.pool_max_size, 3);
    }

    #[test]
    fn the_config_file_replaces_schedules_and_yields_to_app_variables() {
        let path = std::env::temp_dir().join(format!(
            "cc-config-file-{}.toml",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(
            &path,
            "[jobs]\nwarm_products = 7\npoll_interval_ms = 300\n\n\
             [[jobs.schedules]]\nname = \"every-2s\"\ncron = \"*/2 * * * * *\"\n\
             queue = \"cache-warming\"\npayload = { kind = \"categories\" }\n",
        )
        .expect("written");
        let file = path.to_string_lossy().to_string();
        let s = load(&[
            ("APP_CONFIG_FILE", &file),
            ("APP__JOBS__POLL_INTERVAL_MS", "400"),
        ]);
        std::fs::remove_file(&path).expect("removed");
        let s = s.expect("loads");
        // The file's list replaces the default one (not merged entry by entry).
        assert_eq!(s.jobs.schedules.len(), 1);
        assert_eq!(s.jobs.schedules[0].name, "every-2s");
        assert_eq!(s.jobs.schedules[0].cron, "*/2 * * * * *");
        assert_eq!(s.jobs.warm_products, 7);
        assert_eq!(s.jobs.poll_interval_ms, 400);

        let err = load(&[("APP_CONFIG_FILE", "/nonexistent/cc.toml")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("APP_CONFIG_FILE"), "{err}");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = load(&[("APP_ENV", "staging")]).unwrap_err().to_string();
        assert!(err.contains("APP_ENV"), "{err}");
        let err = load(&[("PORT", "70000")]).unwrap_err().to_string();
        assert!(err.contains("port"), "{err}");
        let err = load(&[("DATABASE_URL", "not a url")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("DATABASE_URL"), "{err}");
        let err = load(&[("REDIS_URL", "http://x")]).unwrap_err().to_string();
        assert!(err.contains("REDIS_URL"), "{err}");
        let err = load(&[("REDIS_PREFIX", "a b")]).unwrap_err().to_string();
        assert!(err.contains("REDIS_PREFIX"), "{err}");
        let err = load(&[("APP__CACHE__JITTER_PERCENT", "90")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("jitter_percent"), "{err}");
        let err = load(&[("APP__REDIS__BREAKER_FAILURE_THRESHOLD", "0")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("breaker_failure_threshold"), "{err}");
        let err = load(&[("APP__REDIS__PUBSUB_PING_INTERVAL_MS", "0")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("pubsub_ping_interval_ms"), "{err}");
        let err = load(&[("APP__REDIS__PUBSUB_PING_TIMEOUT_MS", "5000")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("pubsub_ping_timeout_ms"), "{err}");
        let err = load(&[("APP__DATABASE__STATEMENT_TIMEOUT_MS", "0")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("statement_timeout_ms"), "{err}");
        let err = load(&[("APP__SERVER__DRAIN_MS", "600000")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.drain_ms"), "{err}");
        let err = load(&[("SESSION_SECRET", "short")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SESSION_SECRET") && err.contains("64"),
            "{err}"
        );
        let err = load(&[("APP__RATE_LIMIT__FALLBACK", "pray")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("fallback"), "{err}");
        let err = load(&[("APP__AUTH__HASH_QUEUE_TIMEOUT_MS", "99999999")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("hash_queue_timeout_ms"), "{err}");
        let err = load(&[("APP__SERVER__INSTANCE_ID", "a{b}")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("instance_id"), "{err}");
        for (variable, value, named) in [
            ("APP__JOBS__EMAIL__TIMEOUT_MS", "0", "timeout_ms"),
            ("APP__JOBS__KEEP_FAILED", "1000001", "jobs.keep_failed"),
            ("APP__JOBS__KEEP_COMPLETED", "10", "jobs.cache_warming"),
        ] {
            let err = load(&[(variable, value)]).unwrap_err().to_string();
            assert!(err.contains(named), "{variable}: {err}");
        }
        for size in ["0", "1000001"] {
            let err = load(&[("APP__REALTIME__HISTORY_SIZE", size)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("history_size"), "{err}");
        }
    }

    #[test]
    fn production_refuses_to_start_without_a_session_secret() {
        let err = load(&[("APP_ENV", "production")]).unwrap_err().to_string();
        assert!(err.contains("SESSION_SECRET is required"), "{err}");
        let dev = load(&[]).expect("development needs no secret");
        assert!(dev.session.secret.is_none());
        assert!(dev.rate_limit.enabled);
        assert_eq!(dev.rate_limit.fallback, RateLimitFallback::Local);
        assert_eq!(dev.rate_limit.policies.len(), 9);
    }
}
