//! The run's figures: percentiles, deliveries, memory; printed as readable lines and
//! one tab-separated `RESULT` line (the columns of `TSV_HEADER`, shared with
//! bench/socketio/load.js so bench/ws.sh can put both in one table).

use std::fmt::Write as _;

/// The columns of the `RESULT` line, in order.
pub const TSV_HEADER: &str = "label\tclients\tconnected\tconnect_failed\tupdates_ok\texpected\treceived\tlost\tduplicates\tout_of_order\tp50_ms\tp99_ms\tmax_ms\twrite_p50_ms\trss_before_kib\trss_idle_kib\trss_per_conn_kib\trss_after_kib\tconnect_s\tresyncs\tspread_p50_ms\tspread_p99_ms\tserver_cpu_us_per_delivery\tclient_cpu_us_per_delivery";

/// Server memory at the three moments the run reads it (KiB), when a PID was given.
#[derive(Debug, Default, Clone, Copy)]
pub struct Memory {
    pub before: Option<u64>,
    pub idle: Option<u64>,
    pub after: Option<u64>,
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Summary {
    pub label: String,
    pub clients: usize,
    pub connected: usize,
    pub connect_failed: usize,
    pub updates_ok: u32,
    pub received: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// `resync` frames received, over all clients.
    pub resyncs: u64,
    /// Every delivery's latency, µs (sorted by `finish`).
    pub latencies_us: Vec<u64>,
    /// Every delivery's time after the same update's first delivery to any client, µs:
    /// the fan-out alone, without the write and the trip to the first client.
    pub spreads_us: Vec<u64>,
    pub write_latencies_us: Vec<u64>,
    pub memory: Memory,
    pub connect_secs: f64,
    /// CPU time the server spent from the first update's write to the last delivery
    /// (all its threads), ns, when a PID was given.
    pub server_cpu_ns: Option<u64>,
    /// CPU time this tool (the clients and the writer) spent over the same span, ns: on
    /// one machine it shares the cores with the server, so it bounds what latency can show.
    pub client_cpu_ns: Option<u64>,
}

impl Summary {
    /// Sorts the samples; call once before reading percentiles.
    pub fn finish(&mut self) {
        self.latencies_us.sort_unstable();
        self.spreads_us.sort_unstable();
        self.write_latencies_us.sort_unstable();
    }

    pub fn expected(&self) -> u64 {
        self.connected as u64 * u64::from(self.updates_ok)
    }

    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    /// RSS growth per connected client between `before` and `idle`, KiB.
    pub fn rss_per_connection_kib(&self) -> Option<f64> {
        let (before, idle) = (self.memory.before?, self.memory.idle?);
        (self.connected > 0).then(|| (idle as f64 - before as f64) / self.connected as f64)
    }

    /// The server's CPU time per delivery received, µs: the cost of the fan-out.
    pub fn server_cpu_us_per_delivery(&self) -> Option<f64> {
        let ns = self.server_cpu_ns?;
        (self.received > 0).then(|| ns as f64 / 1000.0 / self.received as f64)
    }

    /// This tool's CPU time per delivery received, µs.
    pub fn client_cpu_us_per_delivery(&self) -> Option<f64> {
        let ns = self.client_cpu_ns?;
        (self.received > 0).then(|| ns as f64 / 1000.0 / self.received as f64)
    }

    /// Did every connected client get every update once, in order?
    pub fn complete(&self) -> bool {
        self.connect_failed == 0
            && self.lost() == 0
            && self.duplicates == 0
            && self.out_of_order == 0
    }

    pub fn human(&self) -> String {
        let mut out = String::new();
        let ms = |us: Option<u64>| {
            us.map_or("-".to_string(), |us| {
                format!("{:.2} ms", us as f64 / 1000.0)
            })
        };
        let _ = writeln!(
            out,
            "{}: {} of {} clients subscribed to products in {:.2} s ({} failed)",
            self.label, self.connected, self.clients, self.connect_secs, self.connect_failed
        );
        if let (Some(before), Some(idle)) = (self.memory.before, self.memory.idle) {
            let _ = writeln!(
                out,
                "{}: server RSS {:.1} MiB before, {:.1} MiB idle with the clients: {:.1} KiB per idle connection",
                self.label,
                before as f64 / 1024.0,
                idle as f64 / 1024.0,
                self.rss_per_connection_kib().unwrap_or(0.0)
            );
        }
        let _ = writeln!(
            out,
            "{}: {} updates written (write round trip p50 {})",
            self.label,
            self.updates_ok,
            ms(percentile(&self.write_latencies_us, 50.0))
        );
        let _ = writeln!(
            out,
            "{}: deliveries {}/{} ({} lost, {} duplicate, {} out of order; {} resync frames)",
            self.label,
            self.received,
            self.expected(),
            self.lost(),
            self.duplicates,
            self.out_of_order,
            self.resyncs
        );
        let _ = writeln!(
            out,
            "{}: update-to-delivery latency p50 {}, p99 {}, max {}",
            self.label,
            ms(percentile(&self.latencies_us, 50.0)),
            ms(percentile(&self.latencies_us, 99.0)),
            ms(self.latencies_us.last().copied())
        );
        let _ = writeln!(
            out,
            "{}: fan-out spread (after the update's first delivery) p50 {}, p99 {}",
            self.label,
            ms(percentile(&self.spreads_us, 50.0)),
            ms(percentile(&self.spreads_us, 99.0)),
        );
        if let Some(us) = self.server_cpu_us_per_delivery() {
            let _ = writeln!(
                out,
                "{}: server CPU {us:.2} µs per delivery (all its threads, from the first write to the last delivery)",
                self.label
            );
        }
        if let Some(us) = self.client_cpu_us_per_delivery() {
            let _ = writeln!(
                out,
                "{}: load tool CPU {us:.2} µs per delivery (the clients' share of the same cores)",
                self.label
            );
        }
        out
    }

    /// One line, `RESULT` then the `TSV_HEADER` columns.
    pub fn tsv(&self) -> String {
        let ms = |us: Option<u64>| {
            us.map_or("NA".to_string(), |us| format!("{:.3}", us as f64 / 1000.0))
        };
        let kib = |v: Option<u64>| v.map_or("NA".to_string(), |v| v.to_string());
        let fields = [
            self.label.clone(),
            self.clients.to_string(),
            self.connected.to_string(),
            self.connect_failed.to_string(),
            self.updates_ok.to_string(),
            self.expected().to_string(),
            self.received.to_string(),
            self.lost().to_string(),
            self.duplicates.to_string(),
            self.out_of_order.to_string(),
            ms(percentile(&self.latencies_us, 50.0)),
            ms(percentile(&self.latencies_us, 99.0)),
            ms(self.latencies_us.last().copied()),
            ms(percentile(&self.write_latencies_us, 50.0)),
            kib(self.memory.before),
            kib(self.memory.idle),
            self.rss_per_connection_kib()
                .map_or("NA".to_string(), |v| format!("{v:.2}")),
            kib(self.memory.after),
            format!("{:.2}", self.connect_secs),
            self.resyncs.to_string(),
            ms(percentile(&self.spreads_us, 50.0)),
            ms(percentile(&self.spreads_us, 99.0)),
            self.server_cpu_us_per_delivery()
                .map_or("NA".to_string(), |v| format!("{v:.2}")),
            self.client_cpu_us_per_delivery()
                .map_or("NA".to_string(), |v| format!("{v:.2}")),
        ];
        format!("RESULT\t{}", fields.join("\t"))
    }
}

/// The nearest-rank percentile of sorted samples (`None` when there are none).
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50));
        assert_eq!(percentile(&samples, 99.0), Some(99));
        assert_eq!(percentile(&samples, 100.0), Some(100));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn the_result_line_has_every_column_and_counts_losses() {
        let mut summary = Summary {
            label: "x".into(),
            clients: 3,
            connected: 2,
            connect_failed: 1,
            updates_ok: 5,
            received: 9,
            latencies_us: vec![3000, 1000, 2000],
            memory: Memory {
                before: Some(1000),
                idle: Some(1040),
                after: None,
            },
            ..Summary::default()
        };
        summary.finish();
        assert_eq!(summary.lost(), 1);
        assert!(!summary.complete());
        assert_eq!(summary.rss_per_connection_kib(), Some(20.0));
        let line = summary.tsv();
        let fields: Vec<&str> = line.split('\t').skip(1).collect();
        assert_eq!(fields.len(), TSV_HEADER.split('\t').count());
        assert_eq!(fields[10], "2.000", "p50");
        assert_eq!(fields[12], "3.000", "max");
        assert_eq!(fields[17], "NA", "no RSS after");
    }
}
