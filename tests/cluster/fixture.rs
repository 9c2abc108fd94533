//! A cluster of its own for each test: `scripts/cluster.sh up` with free ports, a database,
//! a Redis prefix and a folder of its own, and `down` (plus the database and the keys
//! removed) when the test ends, however it ends.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use catalog_cache::configuration::{RedisSettings, Settings};
use catalog_cache::jobs::{JobOptions, QueueStore, Retention};
use catalog_cache::redis_client::RedisClient;
use serde_json::Value;

/// Three instances behind nginx, as `scripts/cluster.sh` starts them.
pub struct Cluster {
    /// nginx: the only address clients of the deployment use.
    pub url: String,
    /// Each instance directly (for reading every one of them).
    pub instances: Vec<String>,
    pub token: String,
    dir: PathBuf,
    database: String,
    prefix: String,
    redis_url: String,
    env: Vec<(String, String)>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a test changes about its cluster.
#[derive(Default)]
pub struct Options {
    /// A Redis of the test's own (a fault test stops it); the shared one otherwise.
    pub redis_url: Option<String>,
    /// More environment for the script and every instance (`APP__*`, `TRUST_LOOPBACK_XFF`).
    pub env: Vec<(&'static str, String)>,
    /// TOML every instance reads over the repository's config (`APP_CONFIG_FILE`): the
    /// settings the environment cannot carry, such as `[[jobs.schedules]]`.
    pub config_file: Option<&'static str>,
}

impl Cluster {
    pub fn up(name: &str) -> Cluster {
        Cluster::up_with(name, Options::default())
    }

    pub fn up_with(name: &str, options: Options) -> Cluster {
        let id = format!("{name}{}", uuid::Uuid::new_v4().simple())
            .chars()
            .take(40)
            .collect::<String>();
        let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
        let dir = repo().join("target/cluster-tests").join(&id);
        let database = format!("cc_cluster_{id}");
        let prefix = format!("{id}:");
        let redis_url = options.redis_url.unwrap_or_else(|| {
            std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
        });
        let server = std::env::var("DATABASE_SERVER")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let mut env: Vec<(String, String)> = vec![
            ("CLUSTER_DIR".into(), dir.display().to_string()),
            ("CLUSTER_PORT".into(), ports[0].to_string()),
            (
                "INSTANCE_PORTS".into(),
                format!("{} {} {}", ports[1], ports[2], ports[3]),
            ),
            ("DATABASE_URL".into(), format!("{server}/{database}")),
            ("REDIS_URL".into(), redis_url.clone()),
            ("REDIS_PREFIX".into(), prefix.clone()),
            (
                "BINARY".into(),
                env!("CARGO_BIN_EXE_catalog-cache").to_string(),
            ),
            ("DEMO_PRODUCTS".into(), "20".into()),
            // Debug builds of three instances, nginx and a load client share two cores
            // with the rest of the suite: the production 50 ms would time out on
            // scheduling alone and turn these tests into tests of the machine.
            ("APP__REDIS__TIMEOUT_MS".into(), "500".into()),
            // The machine's PostgreSQL takes 100 connections, shared by two clusters at
            // once and the API tests: 3 × 16 (the default pool) each ran it out ("too
            // many clients") and an instance failed to start.
            ("APP__DATABASE__POOL_MAX_SIZE".into(), "5".into()),
        ];
        env.extend(options.env.into_iter().map(|(k, v)| (k.to_string(), v)));
        if let Some(toml) = options.config_file {
            let file = dir.join("app.toml");
            std::fs::create_dir_all(&dir).expect("the cluster's folder");
            std::fs::write(&file, toml).expect("the cluster's config file");
            env.push(("APP_CONFIG_FILE".into(), file.display().to_string()));
        }
        let mut cluster = Cluster {
            url: format!("http://127.0.0.1:{}", ports[0]),
            instances: ports[1..]
                .iter()
                .map(|p| format!("http://127.0.0.1:{p}"))
                .collect(),
            token: String::new(),
            dir,
            database,
            prefix,
            redis_url,
            env,
        };
        // From here on, Drop cleans up even when `up` fails half-way.
        cluster.script("up");
        cluster.token = std::fs::read_to_string(cluster.dir.join("admin-token"))
            .expect("the admin token the script generated")
            .trim()
            .to_string();
        cluster
    }

    fn script(&self, verb: &str) {
        self.script_args(&[verb]);
    }

    fn script_args(&self, args: &[&str]) {
        let verb = args.join(" ");
        let out = Command::new(repo().join("scripts/cluster.sh"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("scripts/cluster.sh runs");
        assert!(
            out.status.success(),
            "cluster.sh {verb} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `scripts/cluster.sh restart NAME`: one instance, gracefully.
    pub fn restart(&self, name: &str) {
        self.script_args(&["restart", name]);
    }

    /// SIGKILL for one instance (a crash: no drain, no close frames).
    pub fn kill(&self, name: &str) {
        let pid = std::fs::read_to_string(self.dir.join(format!("{name}.pid")))
            .expect("the instance's pid file");
        let status = Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -KILL {pid}");
    }

    /// The process id of instance `name` (a, b or c).
    pub fn pid(&self, name: &str) -> u32 {
        std::fs::read_to_string(self.dir.join(format!("{name}.pid")))
            .expect("the instance's pid file")
            .trim()
            .parse()
            .expect("a pid")
    }

    /// Everything instance `name` has logged so far (stdout and stderr).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// `scripts/cluster.sh down`: stops what `up` started (Drop runs it too).
    pub fn down(&self) {
        self.script("down");
    }

    /// `scripts/cluster.sh status`: its output and whether every part answered.
    pub fn status(&self) -> (bool, String) {
        let out = Command::new(repo().join("scripts/cluster.sh"))
            .arg("status")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("scripts/cluster.sh runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    }

    /// The upstream (instance address) of each request nginx has logged, in order.
    pub fn upstreams(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("nginx-access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split("upstream=").nth(1))
            .map(|u| u.split_whitespace().next().unwrap_or("").to_string())
            .collect()
    }

    /// The `test` queue's log (instances started with `APP__JOBS__TEST__ENABLED=true`):
    /// one JSON line per start and end of a test job, oldest first, naming the instance
    /// (`instanceId`: a, b or c).
    pub async fn test_job_log(&self) -> Vec<Value> {
        let mut conn = redis::Client::open(self.redis_url.as_str())
            .expect("a Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("Redis answers");
        let lines: Vec<String> = redis::cmd("LRANGE")
            .arg(format!("{}jobs:{{test}}:log", self.prefix))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .expect("the log");
        lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// Polls the test queue's log until `done` holds (at most `within`), returning it.
    pub async fn wait_for_test_job_log(
        &self,
        within: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let log = self.test_job_log().await;
            if done(&log) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "the test job log did not get there within {within:?}: {log:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Enqueues a job on the `test` queue with the service's own queue code and the
    /// cluster's Redis and prefix, as an instance would.
    pub async fn enqueue_test_job(&self, id: &str, payload: &Value) {
        let mut vars: HashMap<String, String> = self.env.iter().cloned().collect();
        vars.insert("APP_ENV".into(), "test".into());
        let settings = Settings::load_from(&vars).expect("the cluster's settings");
        let redis = RedisClient::connect(&RedisSettings {
            timeout_ms: settings.jobs.redis_timeout_ms,
            ..settings.redis.clone()
        })
        .await
        .expect("Redis answers");
        let options = JobOptions::from_queue(&settings.jobs.test.queue).with_id(id);
        let (enqueued, added) = QueueStore::new(redis, Retention::from_settings(&settings.jobs))
            .enqueue("test", payload, &options)
            .await
            .expect("enqueued");
        assert_eq!((enqueued.as_str(), added), (id, true));
    }

    /// Where the instances write their emails (`.eml` files).
    pub fn mail_dir(&self) -> PathBuf {
        self.dir.join("mail")
    }

    /// A client with a cookie store of its own that does not follow redirects.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    pub async fn put_product(&self, id: i64, body: &Value) -> reqwest::Response {
        reqwest::Client::new()
            .put(format!("{}/api/products/{id}", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("sent")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/cluster.sh"))
            .arg("down")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output();
        let server = std::env::var("DATABASE_SERVER")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let _ = Command::new("psql")
            .arg(format!("{server}/postgres"))
            .arg("-qc")
            .arg(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.database
            ))
            .output();
        let _ = Command::new("redis-cli")
            .args(["-u", &self.redis_url, "EVAL"])
            .arg("local c='0' repeat local r=redis.call('SCAN',c,'MATCH',ARGV[1],'COUNT',1000) c=r[1] for _,k in ipairs(r[2]) do redis.call('DEL',k) end until c=='0' return 1")
            .args(["0", &format!("{}*", self.prefix)])
            .output();
        // The folder stays: its logs are what tells why a test failed.
    }
}

/// The lines of the test queue's log about job `id` and `event` (`start` or `done`).
pub fn job_events<'a>(log: &'a [Value], id: &str, event: &str) -> Vec<&'a Value> {
    log.iter()
        .filter(|l| l["id"] == id && l["event"] == event)
        .collect()
}
