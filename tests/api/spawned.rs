//! The service as a process of its own (the built binary), for what an in-process app
//! cannot show: its resident memory (an in-process app shares the test's), its log
//! output, and how long a stop by signal takes. It gets a database, a Redis prefix and a
//! port of its own, like `spawn_app`, and is killed (then cleaned up) when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;

use crate::helpers::{cleanup_guard, test_settings};
use crate::private_redis::free_port;

pub struct Instance {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// The admin token it accepts (`Authorization: Bearer ...`).
    pub token: String,
    /// Its Redis URL and key prefix.
    pub redis_url: String,
    pub prefix: String,
    child: Child,
    /// Its standard output and error, together.
    log: PathBuf,
    _cleanup: crate::helpers::Cleanup,
}

impl Instance {
    /// Starts the binary with the test settings (`APP_ENV=test`) and `env` on top, and
    /// waits until `/readyz` answers 200.
    pub async fn start(env: &[(&str, &str)]) -> Instance {
        let settings = test_settings();
        let port = free_port();
        let log =
            std::env::temp_dir().join(format!("cc-instance-{}.log", uuid::Uuid::new_v4().simple()));
        let output = std::fs::File::create(&log).expect("the log file");
        let token = settings
            .admin
            .api_token
            .as_ref()
            .map(|t| t.expose_secret().to_string())
            .expect("a token");
        let child = Command::new(env!("CARGO_BIN_EXE_catalog-cache"))
            .arg("serve")
            .env("APP_ENV", "test")
            .env(
                "APP_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
            )
            .env("DATABASE_URL", settings.database.url.expose_secret())
            .env("REDIS_URL", settings.redis.url.expose_secret())
            .env("REDIS_PREFIX", &settings.redis.prefix)
            .env(
                "SESSION_SECRET",
                settings
                    .session
                    .secret
                    .as_ref()
                    .expect("a secret")
                    .expose_secret(),
            )
            .env("ADMIN_TOKEN", &token)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("APP__EMAIL__FILE_DIR", &settings.email.file_dir)
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("the log file"))
            .stderr(output)
            .spawn()
            .expect("the binary starts");
        let instance = Instance {
            address: format!("http://127.0.0.1:{port}"),
            token,
            redis_url: settings.redis.url.expose_secret().to_string(),
            prefix: settings.redis.prefix.clone(),
            child,
            log,
            _cleanup: cleanup_guard(&settings),
        };
        instance.ready().await;
        instance
    }

    async fn ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let ready = reqwest::get(format!("{}/readyz", self.address)).await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the instance never got ready:\n{}", self.log());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its resident set size now (`VmRSS` of `/proc/PID/status`), in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the instance is running");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line");
        kb * 1024
    }

    /// Everything it wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM (a graceful stop) and waits up to `within` for it to exit; the time
    /// it took, or `None` if it was still running.
    pub fn terminate(&mut self, within: Duration) -> Option<Duration> {
        let started = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        while started.elapsed() < within {
            if self.child.try_wait().expect("the child's status").is_some() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// A `GET` with the admin token, as JSON.
    pub async fn admin_get(&self, path: &str) -> serde_json::Value {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.address))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.expect("JSON")
    }

    /// A connection of the test's own to its Redis.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis_url.as_str())
            .expect("a Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("Redis answers")
    }

    /// `ws://127.0.0.1:PORT/ws`
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.address.replacen("http", "ws", 1))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
