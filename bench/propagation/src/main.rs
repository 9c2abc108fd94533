//! propagation: how long a product write on one catalog-cache instance (A) takes to stop
//! the other instance (B) serving the old version from its L1 (docs/PERFORMANCE.md).
//!
//! For each of `--writes` writes, one after the other:
//! 1. read the product on B until it comes from B's L1 (`X-Cache: HIT-L1`), remembering
//!    its ETag (the old version);
//! 2. `PUT` a new stock on A; the clock starts when A answers (the write has committed);
//! 3. poll B on the same connection, with no pause, until its ETag is no longer the old
//!    one: the elapsed time is the sample (the resolution is one poll's round trip).
//!
//! Prints one `RESULT` line (p50/p99/max in µs, and counts) for bench/run.sh; exits 3 when
//! a write never reached B within `--write-timeout-ms`, or B served the old version from
//! below L1 after the commit, or a new version other than the written one.

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
use stats::Summary;

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

async fn run(args: &Args) -> Result<Summary> {
    let reader = Reader::new(&args.read_url)?;
    let writer = Writer::new(&args.write_url, &args.admin_token)?;
    let mut samples = match &args.samples {
        Some(path) => {
            let mut file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            writeln!(file, "write\tid\tlatency_us\tpolls")?;
            Some(file)
        }
        None => None,
    };
    let mut summary = Summary::default();
    for n in 0..args.writes {
        let id = args.id_of(n);
        let old = reader.warm(id).await?;
        let new_etag = writer.set_stock(id, STOCK_BASE + n as u64).await?;
        if new_etag == old.etag {
            bail!("write {n}: product {id} kept its ETag {new_etag} after a PUT");
        }
        let committed = Instant::now();
        let mut polls = 0u64;
        let latency = loop {
            let read = reader.get(id).await?;
            polls += 1;
            if read.etag != old.etag {
                if read.etag != new_etag {
                    bail!(
                        "write {n}: B served {} for product {id}, expected {new_etag}",
                        read.etag
                    );
                }
                break Some(committed.elapsed());
            }
            if !read.from_l1() {
                summary.old_not_from_l1 += 1;
            }
            if committed.elapsed() > args.write_timeout() {
                break None;
            }
        };
        summary.polls += polls;
        match latency {
            Some(latency) => {
                summary.record(latency);
                if polls == 1 {
                    summary.at_first_poll += 1;
                }
                if let Some(file) = samples.as_mut() {
                    writeln!(file, "{n}\t{id}\t{}\t{polls}", latency.as_micros())?;
                }
            }
            None => summary.timed_out += 1,
        }
    }
    Ok(summary)
}
