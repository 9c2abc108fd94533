//! The server's CPU time, from /proc/PID/task/*/schedstat: nanoseconds on a CPU summed
//! over its threads. On a machine shared with other work, latency swings with the load;
//! the CPU the server spends per delivery does not, so it compares builds fairly.

use anyhow::Context;

/// Nanoseconds the process's current threads have run so far.
pub fn cpu_ns(pid: u32) -> anyhow::Result<u64> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0u64;
    for task in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let path = task?.path().join("schedstat");
        // A thread may end between the listing and the read: it is simply not counted.
        if let Ok(text) = std::fs::read_to_string(&path) {
            total += parse_run_ns(&text).with_context(|| format!("parsing {}", path.display()))?;
        }
    }
    Ok(total)
}

/// The first field of a schedstat line: time spent on the CPU, ns.
fn parse_run_ns(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_time_is_read_from_a_schedstat_line_and_from_this_process() {
        assert_eq!(parse_run_ns("123456 789 10\n"), Some(123456));
        assert_eq!(parse_run_ns(""), None);
        let before = cpu_ns(std::process::id()).unwrap();
        let spin: u64 = (0..2_000_000u64).fold(0, |a, b| a ^ b.wrapping_mul(31));
        assert!(spin != 1);
        assert!(cpu_ns(std::process::id()).unwrap() > before);
    }
}
