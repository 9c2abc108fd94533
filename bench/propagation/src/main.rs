//! propagation: how long a product write on one catalog-cache instance (A) takes to stop
//! the other instance (B) serving the old version from its L1 (docs/PERFORMANCE.md).
//!
//! For each of `--writes` writes, one after the other:
//! 1. read the product on B until it comes from B's L1 (`X-Cache: HIT-L1`), remembering
//!    its ETag (the old version);
//! 2. start polling B on that same connection with no pause, and meanwhile `PUT` a new
//!    stock on A (another connection);
//! 3. the sample is the time of B's first answer with another ETag, measured from A's
//!    answer (the commit; negative when B dropped the old version before the answer
//!    reached us) and from the PUT's send. The resolution is one poll's round trip.
//!
//! Prints one `RESULT` line (percentiles in µs, and counts) for bench/run.sh; exits 3 when
//! a write never reached B within `--write-timeout-ms`, or B served the old version from
//! below L1 to a read sent after the commit (a read sent before may get it: its database
//! read can precede the commit).

// Tests may unwrap: a failure there is the assertion.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;

mod args;
mod probe;
mod stats;

use args::Args;
use probe::{Reader, Writer};
use stats::{Sample, Summary};

/// Stock values written: far above the seeded ones, one per write, so every write changes
/// the row.
const STOCK_BASE: u64 = 1_000_000;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(error) = args.validate() {
        eprintln!("propagation: {error:#}");
        return ExitCode::from(2);
    }
    match tokio::time::timeout(args.timeout(), run(&args)).await {
        Ok(Ok(summary)) => {
            println!("{}", summary.result_line(args.writes));
            if summary.timed_out == 0 && summary.old_not_from_l1 == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Ok(Err(error)) => {
            eprintln!("propagation: {error:#}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("propagation: gave up after {} s", args.timeout_secs);
            ExitCode::FAILURE
        }
    }
}

/// What polling B found for one write.
struct Poll {
    /// When B first answered with another ETag, and that ETag; None on timeout.
    seen: Option<(Instant, String)>,
    /// (send time, came from L1) of every poll that still returned the old version: a
    /// read sent after A's answer must not get the old version from below L1 (one sent
    /// before may, its database read can precede the commit).
    old: Vec<(Instant, bool)>,
}

async fn run(args: &Args) -> Result<Summary> {
    let reader = Reader::new(&args.read_url)?;
    let writer = Writer::new(&args.write_url, &args.admin_token)?;
    let mut samples = match &args.samples {
        Some(path) => {
            let mut file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            writeln!(file, "write\tid\tfrom_answer_us\tfrom_send_us\tpolls")?;
            Some(file)
        }
        None => None,
    };
    let mut summary = Summary::default();
    for n in 0..args.writes {
        let id = args.id_of(n);
        let old = reader.warm(id).await?;
        let sent = Instant::now();
        let write = async {
            let etag = writer.set_stock(id, STOCK_BASE + n as u64).await;
            (etag, Instant::now())
        };
        let (poll, (new_etag, answered)) =
            tokio::join!(poll_until_changed(&reader, id, &old.etag, args), write);
        let (poll, new_etag) = (poll?, new_etag?);
        summary.polls += poll.old.len() as u64 + u64::from(poll.seen.is_some());
        summary.old_not_from_l1 += poll
            .old
            .iter()
            .filter(|(sent, from_l1)| *sent > answered && !from_l1)
            .count();
        let Some((seen, etag)) = poll.seen else {
            summary.timed_out += 1;
            continue;
        };
        if etag != new_etag {
            bail!("write {n}: B served {etag} for product {id}, A committed {new_etag}");
        }
        let sample = Sample {
            sent,
            answered,
            seen,
        };
        summary.record(&sample);
        if let Some(file) = samples.as_mut() {
            writeln!(
                file,
                "{n}\t{id}\t{}\t{}\t{}",
                sample.since_answer_us(),
                sample.since_send_us(),
                poll.old.len() + 1
            )?;
        }
    }
    Ok(summary)
}

/// Reads product `id` on B with no pause until its ETag is not `old`, for at most
/// `--write-timeout-ms`.
async fn poll_until_changed(reader: &Reader, id: u64, old: &str, args: &Args) -> Result<Poll> {
    let start = Instant::now();
    let mut poll = Poll {
        seen: None,
        old: Vec::new(),
    };
    while start.elapsed() < args.write_timeout() {
        let sent = Instant::now();
        let read = reader.get(id).await?;
        let at = Instant::now();
        if read.etag != old {
            poll.seen = Some((at, read.etag));
            break;
        }
        poll.old.push((sent, read.served_by_l1()));
    }
    Ok(poll)
}
