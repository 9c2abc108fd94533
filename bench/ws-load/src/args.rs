//! The command line, and the checks that keep a run on loopback and bounded.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use url::Url;

/// The most clients one run may open (the file limit of one process is the other bound).
pub const MAX_CLIENTS: usize = 20_000;
/// The most updates one run may make.
pub const MAX_UPDATES: u32 = 10_000;
/// The most deliveries one run may expect (each keeps an 8-byte latency sample).
pub const MAX_DELIVERIES: u64 = 5_000_000;

/// What the clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// catalog-cache's `GET /ws`: `subscribe` to `products`, product events as JSON frames.
    CatalogCache,
    /// Socket.IO 4 (Engine.IO 4, WebSocket transport), for bench/socketio/server.js: emit
    /// `subscribe` ["products"] with an ack, events `product.updated`; answers pings. The
    /// URL is then e.g. ws://127.0.0.1:3201/socket.io/?EIO=4&transport=websocket.
    Socketio,
}

/// Opens N WebSocket clients to one instance, subscribes them to `products`, makes M
/// product updates through another instance and reports delivery latency at every
/// client, deliveries expected against received, and the server's RSS per idle
/// connection.
#[derive(Debug, Parser)]
#[command(name = "ws-load", version)]
pub struct Args {
    /// The WebSocket endpoint that holds the clients, e.g. ws://127.0.0.1:8080/ws.
    #[arg(long)]
    pub ws_url: Url,
    /// The protocol of --ws-url (the writes are the same `PUT /api/products/{id}`).
    #[arg(long, value_enum, default_value_t = Protocol::CatalogCache)]
    pub protocol: Protocol,
    /// The base URL that takes the writes (another instance), e.g. http://127.0.0.1:8081.
    #[arg(long)]
    pub write_url: Url,
    /// Bearer token for the writes (the service's ADMIN_TOKEN).
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    /// WebSocket clients to open.
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Product updates to make, one at a time.
    #[arg(long, default_value_t = 50)]
    pub updates: u32,
    /// Time between the starts of two updates (ms).
    #[arg(long, default_value_t = 200)]
    pub interval_ms: u64,
    /// Updates cycle over products 1..=N.
    #[arg(long, default_value_t = 20)]
    pub products: u32,
    /// Connection handshakes (TCP + WebSocket + subscribe) in flight at once: the ramp.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// PID of the server that holds the clients, for its RSS (/proc/PID/status).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Wait this long after the last client subscribed before reading the idle RSS (ms).
    #[arg(long, default_value_t = 2000)]
    pub settle_ms: u64,
    /// After the last update, wait at most this long for the deliveries (s).
    #[arg(long, default_value_t = 15)]
    pub drain_secs: u64,
    /// The whole run gives up after this long (s).
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// The first column of the RESULT line.
    #[arg(long, default_value = "catalog-cache")]
    pub label: String,
    /// Writes one line per update to this file (TSV: update, the write's round trip, its
    /// first and last delivery, deliveries; µs from the write's send), to tell a slow
    /// write from a slow fan-out.
    #[arg(long)]
    pub per_update: Option<std::path::PathBuf>,
}

impl Args {
    /// Refuses a target off this machine and sizes out of bounds.
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure_loopback(&self.ws_url, &["ws"])?;
        ensure_loopback(&self.write_url, &["http"])?;
        if self.clients == 0 || self.clients > MAX_CLIENTS {
            bail!("--clients must be 1..={MAX_CLIENTS}");
        }
        if self.updates == 0 || self.updates > MAX_UPDATES {
            bail!("--updates must be 1..={MAX_UPDATES}");
        }
        if self.clients as u64 * u64::from(self.updates) > MAX_DELIVERIES {
            bail!("--clients × --updates must be at most {MAX_DELIVERIES}");
        }
        if self.products == 0 {
            bail!("--products must be at least 1");
        }
        if self.connect_concurrency == 0 {
            bail!("--connect-concurrency must be at least 1");
        }
        Ok(())
    }

    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }

    pub fn settle(&self) -> Duration {
        Duration::from_millis(self.settle_ms)
    }

    pub fn drain(&self) -> Duration {
        Duration::from_secs(self.drain_secs)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// Load goes to this machine only: `localhost` or a loopback address, plain scheme.
fn ensure_loopback(url: &Url, schemes: &[&str]) -> anyhow::Result<()> {
    if !schemes.contains(&url.scheme()) {
        bail!("{url}: the scheme must be one of {schemes:?}");
    }
    let host = url.host_str().context("the URL has no host")?;
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("{url}: only loopback targets (127.0.0.0/8, ::1, localhost) are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The required arguments, each replaced by `extra` when it names it too.
    fn parse(extra: &[&str]) -> Args {
        let mut argv = vec!["ws-load"];
        for (flag, value) in [
            ("--ws-url", "ws://127.0.0.1:1/ws"),
            ("--write-url", "http://127.0.0.1:2"),
            ("--admin-token", "t"),
        ] {
            if !extra.contains(&flag) {
                argv.extend([flag, value]);
            }
        }
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).unwrap()
    }

    #[test]
    fn loopback_targets_pass_and_others_are_refused() {
        parse(&[]).validate().unwrap();
        for ok in [
            "ws://localhost:1/ws",
            "ws://[::1]:1/ws",
            "ws://127.9.9.9/ws",
        ] {
            parse(&["--ws-url", ok]).validate().unwrap();
        }
        for bad in [
            "ws://10.0.0.1/ws",
            "ws://example.com/ws",
            "wss://127.0.0.1/ws",
        ] {
            assert!(parse(&["--ws-url", bad]).validate().is_err(), "{bad}");
        }
        assert!(parse(&["--write-url", "http://192.168.1.1"])
            .validate()
            .is_err());
    }

    #[test]
    fn sizes_are_bounded() {
        assert!(parse(&["--clients", "0"]).validate().is_err());
        assert!(parse(&["--clients", "20001"]).validate().is_err());
        parse(&["--clients", "20000"]).validate().unwrap();
        assert!(parse(&["--updates", "10001"]).validate().is_err());
        assert!(parse(&["--clients", "10000", "--updates", "501"])
            .validate()
            .is_err());
        assert!(parse(&["--connect-concurrency", "0"]).validate().is_err());
    }
}
