//! Command line of the propagation tool.

use std::time::Duration;

use anyhow::{bail, Result};
use clap::Parser;

/// Invalidation propagation between two catalog-cache instances sharing Redis and
/// PostgreSQL: write a product on A, then poll B until its L1 stops serving the old
/// version.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Args {
    /// Base URL of the instance that takes the writes (A), e.g. http://127.0.0.1:8094.
    #[arg(long)]
    pub write_url: String,
    /// Base URL of the instance that is polled (B).
    #[arg(long)]
    pub read_url: String,
    /// Bearer token that acts as admin on A (the instances' ADMIN_TOKEN).
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    /// Writes to measure, one after the other.
    #[arg(long, default_value_t = 200)]
    pub writes: usize,
    /// Products written in turn: ids first_id..first_id+ids (each must exist and be active).
    #[arg(long, default_value_t = 1)]
    pub first_id: u64,
    #[arg(long, default_value_t = 200)]
    pub ids: u64,
    /// How long one write may take to reach B before it counts as not propagated.
    #[arg(long, default_value_t = 10000)]
    pub write_timeout_ms: u64,
    /// Bound of the whole run.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Writes every sample (write, id, latency µs, polls) to this file as TSV.
    #[arg(long)]
    pub samples: Option<std::path::PathBuf>,
}

impl Args {
    /// Rejects values that would make the run meaningless or unbounded.
    pub fn validate(&self) -> Result<()> {
        if self.writes == 0 || self.writes > 100_000 {
            bail!("--writes must be 1..=100000");
        }
        if self.ids == 0 {
            bail!("--ids must be at least 1");
        }
        if self.write_timeout_ms == 0 || self.timeout_secs == 0 {
            bail!("timeouts must be positive");
        }
        for url in [&self.write_url, &self.read_url] {
            if !url.starts_with("http://127.") && !url.starts_with("http://[::1]") {
                bail!("{url}: loopback only (http://127.x.x.x or http://[::1])");
            }
        }
        Ok(())
    }

    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// The product id of write number `n` (0-based): the ids in turn.
    pub fn id_of(&self, n: usize) -> u64 {
        self.first_id + (n as u64) % self.ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec![
            "propagation",
            "--write-url",
            "http://127.0.0.1:1",
            "--read-url",
            "http://127.0.0.1:2",
            "--admin-token",
            "t",
        ];
        argv.extend_from_slice(extra);
        Args::parse_from(argv)
    }

    #[test]
    fn ids_cycle_from_the_first() {
        let a = args(&["--first-id", "5", "--ids", "3"]);
        let ids: Vec<u64> = (0..7).map(|n| a.id_of(n)).collect();
        assert_eq!(ids, [5, 6, 7, 5, 6, 7, 5]);
    }

    #[test]
    fn non_loopback_and_zero_writes_are_refused() {
        assert!(args(&[]).validate().is_ok());
        assert!(args(&["--writes", "0"]).validate().is_err());
        let mut a = args(&[]);
        a.read_url = "http://10.0.0.1:80".into();
        assert!(a.validate().is_err());
    }
}
