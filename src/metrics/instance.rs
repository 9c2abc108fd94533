//! This instance's identity in the metrics: its id, when it started, its version.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Who this instance is, fixed at start-up, and how many requests it has answered.
#[derive(Debug, Clone)]
pub struct InstanceInfo {
    pub id: String,
    pub started: Instant,
    pub version: &'static str,
    /// Every HTTP request answered, whatever its route and status (the dashboard's
    /// request rate); per instance, unlike the process-wide Prometheus recorder.
    requests: Arc<AtomicU64>,
}

impl InstanceInfo {
    /// The configured id, or `{hostname}-{pid}-{4 random hex digits}`: the hostname and
    /// pid tell an operator where to look, the random part keeps two instances in one
    /// process (tests) or a restarted pid 1 in a reused container name apart.
    pub fn new(configured: Option<&str>) -> InstanceInfo {
        let id = match configured {
            Some(id) => id.to_string(),
            None => default_id(),
        };
        InstanceInfo {
            id,
            started: Instant::now(),
            version: env!("CARGO_PKG_VERSION"),
            requests: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn uptime_seconds(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

fn default_id() -> String {
    let host: String = gethostname::gethostname()
        .to_string_lossy()
        .chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .take(40)
        .collect();
    let host = if host.is_empty() { "host".into() } else { host };
    format!("{host}-{}-{:04x}", std::process::id(), fastrand::u16(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_id_is_hostname_pid_random_and_a_valid_setting() {
        let a = InstanceInfo::new(None).id;
        let b = InstanceInfo::new(None).id;
        assert!(a.contains(&format!("-{}-", std::process::id())), "{a}");
        assert!(a.len() <= crate::configuration::MAX_INSTANCE_ID);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')));
        // Two in one process differ (with overwhelming probability: 1 in 65,536 each).
        assert!(a != b || InstanceInfo::new(None).id != a);
        assert_eq!(InstanceInfo::new(Some("web-1")).id, "web-1");
    }
}
