//! A redis-server of a test's own on a free port, for tests that kill Redis: the
//! machine's shared Redis is never stopped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A redis-server of this test's own, killed on drop.
pub struct PrivateRedis {
    pub port: u16,
    child: Child,
    /// The append-only file's folder when the data survives restarts.
    dir: Option<PathBuf>,
}

impl PrivateRedis {
    pub fn start_on(port: u16) -> PrivateRedis {
        PrivateRedis {
            port,
            child: spawn(port, None),
            dir: None,
        }
    }

    pub fn start() -> PrivateRedis {
        PrivateRedis::start_on(free_port())
    }

    /// One whose data survives `restart` (an append-only file in a folder of its own,
    /// fsynced every second), so sessions and carts written before are still there.
    pub async fn start_persistent() -> PrivateRedis {
        let dir = std::env::temp_dir().join(format!(
            "cc-private-redis-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("redis data folder");
        let port = free_port();
        let redis = PrivateRedis {
            port,
            child: spawn(port, Some(&dir)),
            dir: Some(dir),
        };
        redis.ready().await;
        redis
    }

    /// Starts it again on the same port (after `kill`) and waits until it answers.
    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.port, self.dir.as_ref());
        self.ready().await;
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Waits (bounded) until it answers PING.
    pub async fn ready(&self) {
        let client = redis::Client::open(self.url()).expect("client");
        for _ in 0..100 {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut conn).await;
                if pong.is_ok() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("private redis-server did not start");
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(port: u16, dir: Option<&PathBuf>) -> Child {
    let port = port.to_string();
    let mut args = vec!["--port", &port, "--save", ""];
    let dir_arg;
    match dir {
        Some(dir) => {
            dir_arg = dir.to_string_lossy().to_string();
            args.extend(["--dir", &dir_arg, "--appendonly", "yes"]);
            args.extend(["--appendfsync", "everysec"]);
        }
        None => args.extend(["--appendonly", "no"]),
    }
    Command::new("redis-server")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts")
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A loopback port nothing listens on right now (for a private server, or a dead URL).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl PrivateRedis {
    /// `CLIENT PAUSE ms ALL`: the server stalls every client for that long without
    /// closing a connection (a slow Redis, as opposed to a dead one).
    pub async fn pause(&self, ms: u64) {
        let mut conn = self.connection().await;
        let _: () = redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(ms)
            .arg("ALL")
            .query_async(&mut conn)
            .await
            .expect("paused");
    }

    /// A connection of the test's own to this server (which must be up).
    async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("redis")
    }

    /// Starts one on a free port and waits until it answers.
    pub async fn start_ready() -> PrivateRedis {
        let redis = PrivateRedis::start();
        redis.ready().await;
        redis
    }
}

impl PrivateRedis {
    /// `SCAN` calls the server has taken since it started (`INFO commandstats`): on a
    /// server of its own, a test can count what its instance walks the keyspace for.
    pub async fn scans(&self) -> u64 {
        let mut conn = self.connection().await;
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut conn)
            .await
            .expect("commandstats");
        info.lines()
            .find_map(|line| line.strip_prefix("cmdstat_scan:calls="))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |calls| calls.parse().expect("a count"))
    }
}
