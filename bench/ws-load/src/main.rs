//! ws-load: the WebSocket fan-out benchmark of catalog-cache (docs/PERFORMANCE.md).
//!
//! 1. Reads the server's RSS, then opens N clients to `--ws-url` (at most
//!    `--connect-concurrency` handshakes at once) and subscribes each to `products`.
//! 2. Waits `--settle-ms`, reads the RSS again: the growth over N is the memory of one
//!    idle connection.
//! 3. Makes M updates through `--write-url` (another instance), each stamped with its
//!    send time; every client records each delivery's latency, duplicates and order.
//! 4. Prints readable lines, a `COLUMNS` line and a `RESULT` line (tab-separated); exits 3 when
//!    a delivery was lost, duplicated or out of order, or a client failed to connect.

// Tests may unwrap: a failure there is the assertion.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Parser;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

mod args;
mod client;
mod cpu;
mod report;
mod rss;
mod stamp;
mod writer;

use args::Args;
use client::ClientResult;
use report::{Memory, Summary};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(error) = args.validate() {
        eprintln!("ws-load: {error:#}");
        return ExitCode::from(2);
    }
    match tokio::time::timeout(args.timeout(), run(&args)).await {
        Ok(Ok(summary)) => {
            print!("{}", summary.human());
            println!("COLUMNS\t{}", report::TSV_HEADER);
            println!("{}", summary.tsv());
            if summary.complete() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Ok(Err(error)) => {
            eprintln!("ws-load: {error:#}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("ws-load: gave up after {} s", args.timeout_secs);
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<Summary> {
    let epoch = Instant::now();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tag: Arc<str> = format!("ws-load-{}-{nanos}", std::process::id()).into();
    let read_rss = |pid: Option<u32>| pid.map(rss::vm_rss_kib).transpose();
    let mut memory = Memory {
        before: read_rss(args.server_pid)?,
        ..Memory::default()
    };

    let shared = client::Shared {
        url: args.ws_url.clone(),
        protocol: args.protocol,
        tag: tag.clone(),
        epoch,
        updates: args.updates,
        handshakes: Arc::new(Semaphore::new(args.connect_concurrency)),
    };
    let (ready_tx, mut ready_rx) = mpsc::channel(args.clients);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut clients = JoinSet::new();
    for _ in 0..args.clients {
        clients.spawn(client::run(
            shared.clone(),
            ready_tx.clone(),
            done_tx.clone(),
            stop_rx.clone(),
        ));
    }
    drop(ready_tx);
    drop(done_tx);
    let (connected, failed) = count_subscribed(&mut ready_rx, args.clients).await;
    let connect_secs = epoch.elapsed().as_secs_f64();
    if connected == 0 {
        bail!("no client could subscribe to {}", args.ws_url);
    }
    tokio::time::sleep(args.settle()).await;
    memory.idle = read_rss(args.server_pid)?;

    let read_cpu = |pid: Option<u32>| pid.map(cpu::cpu_ns).transpose();
    let cpu_before = read_cpu(args.server_pid)?;
    let own_cpu_before = cpu::cpu_ns(std::process::id())?;
    let writes = writer::run(&writer::Plan {
        base: args.write_url.clone(),
        admin_token: args.admin_token.clone(),
        updates: args.updates,
        interval: args.interval(),
        products: args.products,
        tag,
        epoch,
    })
    .await?;
    if let Some(why) = &writes.first_failure {
        eprintln!("ws-load: {} writes failed; the first: {why}", writes.failed);
    }

    let mut results = Vec::with_capacity(args.clients);
    wait_until_done(
        &mut clients,
        &mut done_rx,
        &mut results,
        args.clients,
        args.drain(),
    )
    .await;
    // Read before the clients close: the closes are not part of the fan-out.
    let cpu_after = read_cpu(args.server_pid)?;
    let own_cpu_after = cpu::cpu_ns(std::process::id())?;
    memory.after = read_rss(args.server_pid)?;
    let _ = stop_tx.send(true);
    results.extend(join_all(&mut clients).await);
    if let Some(path) = &args.per_update {
        write_per_update(path, &writes.by_update_us, &results, args.updates)?;
    }
    let summary = Summary {
        label: args.label.clone(),
        clients: args.clients,
        connected,
        connect_failed: failed,
        updates_ok: writes.ok,
        write_latencies_us: writes.latencies_us,
        memory,
        connect_secs,
        server_cpu_ns: cpu_before.zip(cpu_after).map(|(b, a)| a.saturating_sub(b)),
        client_cpu_ns: Some(own_cpu_after.saturating_sub(own_cpu_before)),
        ..Summary::default()
    };
    Ok(add_deliveries(summary, results, args.updates))
}

/// Counts the clients' reports: subscribed, or failed. Every client reports once (the
/// senders live as long as the clients do, so the channel never closes by itself).
async fn count_subscribed(
    ready: &mut mpsc::Receiver<Result<(), String>>,
    clients: usize,
) -> (usize, usize) {
    let (mut connected, mut failed) = (0usize, 0usize);
    while connected + failed < clients {
        let Some(outcome) = ready.recv().await else {
            break;
        };
        match outcome {
            Ok(()) => connected += 1,
            Err(why) => {
                if failed == 0 {
                    eprintln!("ws-load: first failed client: {why}");
                }
                failed += 1;
            }
        }
    }
    (connected, failed)
}

/// Writes [`per_update`]'s lines to `path`.
fn write_per_update(
    path: &std::path::Path,
    writes_us: &[Option<u64>],
    results: &[ClientResult],
    updates: u32,
) -> anyhow::Result<()> {
    std::fs::write(path, per_update(writes_us, results, updates))
        .with_context(|| format!("writing {}", path.display()))
}

/// One line per update: its write's round trip, its first and last delivery, how many.
fn per_update(writes_us: &[Option<u64>], results: &[ClientResult], updates: u32) -> String {
    let mut first = vec![u64::MAX; updates as usize];
    let mut last = vec![0u64; updates as usize];
    let mut count = vec![0u64; updates as usize];
    for &(seq, latency) in results.iter().flat_map(|r| &r.deliveries) {
        let i = seq as usize;
        first[i] = first[i].min(latency);
        last[i] = last[i].max(latency);
        count[i] += 1;
    }
    let show = |v: Option<u64>| v.map_or_else(|| "NA".to_string(), |v| v.to_string());
    let mut text =
        String::from("update\twrite_us\tfirst_delivery_us\tlast_delivery_us\tdeliveries\n");
    for i in 0..updates as usize {
        let delivered = count[i] > 0;
        text.push_str(&format!(
            "{i}\t{}\t{}\t{}\t{}\n",
            show(writes_us.get(i).copied().flatten()),
            show(delivered.then_some(first[i])),
            show(delivered.then_some(last[i])),
            count[i]
        ));
    }
    text
}

/// Adds every client's deliveries to the summary: latencies, fan-out spreads, counts.
fn add_deliveries(mut summary: Summary, results: Vec<ClientResult>, updates: u32) -> Summary {
    let mut first_early_end = None;
    // The earliest delivery of each update, over all clients: the fan-out spread of a
    // delivery is how long after that one it came.
    let mut first = vec![u64::MAX; updates as usize];
    for &(seq, latency) in results.iter().flat_map(|r| &r.deliveries) {
        let slot = &mut first[seq as usize];
        *slot = (*slot).min(latency);
    }
    for result in results {
        summary.received += result.deliveries.len() as u64;
        summary.duplicates += u64::from(result.duplicates);
        summary.out_of_order += u64::from(result.out_of_order);
        summary.resyncs += u64::from(result.resyncs);
        for (seq, latency) in result.deliveries {
            summary.latencies_us.push(latency);
            summary.spreads_us.push(latency - first[seq as usize]);
        }
        if result.connected && first_early_end.is_none() {
            first_early_end = result.ended_early;
        }
    }
    if let Some(why) = first_early_end {
        eprintln!("ws-load: a client's socket ended before it was done: {why}");
    }
    summary.finish();
    summary
}

/// Waits until each of the `clients` tasks has either reported every update on `done`
/// or ended (a failed client), or until `drain` has passed; the ended ones' results go
/// to `results`.
async fn wait_until_done(
    clients: &mut JoinSet<ClientResult>,
    done: &mut mpsc::UnboundedReceiver<()>,
    results: &mut Vec<ClientResult>,
    total: usize,
    drain: std::time::Duration,
) {
    let deadline = tokio::time::sleep(drain);
    tokio::pin!(deadline);
    let mut complete = 0usize;
    while complete + results.len() < total {
        tokio::select! {
            Some(()) = done.recv() => complete += 1,
            joined = clients.join_next() => match joined {
                // A task that failed counts as done: nothing more will come from it.
                Some(joined) => match result_of(joined) {
                    Some(result) => results.push(result),
                    None => complete += 1,
                },
                None => return,
            },
            () = &mut deadline => return,
        }
    }
}

/// Every remaining client's result (after `stop`).
async fn join_all(clients: &mut JoinSet<ClientResult>) -> Vec<ClientResult> {
    let mut results = Vec::with_capacity(clients.len());
    while let Some(joined) = clients.join_next().await {
        results.extend(result_of(joined));
    }
    results
}

/// A joined client's result, or `None` (reported) when its task failed.
fn result_of(joined: Result<ClientResult, tokio::task::JoinError>) -> Option<ClientResult> {
    joined
        .inspect_err(|error| eprintln!("ws-load: a client task failed: {error}"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_ends_when_every_client_is_done_or_ended_not_at_the_drain() {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut clients = JoinSet::new();
        for _ in 0..2 {
            let (done, mut stop) = (done_tx.clone(), stop_rx.clone());
            clients.spawn(async move {
                done.send(()).unwrap();
                stop.wait_for(|stop| *stop).await.unwrap();
                client(vec![(0, 1)])
            });
        }
        clients.spawn(async { ClientResult::default() });
        let mut results = Vec::new();
        let waited = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            wait_until_done(
                &mut clients,
                &mut done_rx,
                &mut results,
                3,
                std::time::Duration::from_secs(60),
            ),
        )
        .await;
        assert!(waited.is_ok(), "returned once all three were done or ended");
        assert_eq!(results.len(), 1, "only the ended client's result so far");
        assert_eq!(clients.len(), 2, "the done clients still run");
        stop_tx.send(true).unwrap();
        assert_eq!(join_all(&mut clients).await.len(), 2);
    }

    #[tokio::test]
    async fn waiting_gives_up_at_the_drain() {
        let (_done_tx, mut done_rx) = mpsc::unbounded_channel();
        let mut clients = JoinSet::new();
        clients.spawn(std::future::pending::<ClientResult>());
        let mut results = Vec::new();
        wait_until_done(
            &mut clients,
            &mut done_rx,
            &mut results,
            1,
            std::time::Duration::from_millis(50),
        )
        .await;
        assert!(results.is_empty());
    }

    fn client(deliveries: Vec<(u32, u64)>) -> ClientResult {
        ClientResult {
            connected: true,
            deliveries,
            ..ClientResult::default()
        }
    }

    #[test]
    fn spreads_are_measured_from_each_updates_first_delivery() {
        let results = vec![
            client(vec![(0, 10), (1, 30)]),
            client(vec![(0, 15), (1, 20)]),
        ];
        let summary = add_deliveries(
            Summary {
                connected: 2,
                updates_ok: 2,
                ..Summary::default()
            },
            results,
            2,
        );
        assert_eq!(summary.received, 4);
        assert_eq!(summary.lost(), 0);
        assert_eq!(summary.latencies_us, [10, 15, 20, 30]);
        assert_eq!(summary.spreads_us, [0, 0, 5, 10]);
    }

    #[test]
    fn each_update_gets_its_write_and_first_and_last_delivery() {
        let results = vec![
            client(vec![(0, 10), (1, 300)]),
            client(vec![(0, 15), (1, 320)]),
        ];
        let text = per_update(&[Some(4), Some(290), None], &results, 3);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "update\twrite_us\tfirst_delivery_us\tlast_delivery_us\tdeliveries",
                "0\t4\t10\t15\t2",
                "1\t290\t300\t320\t2",
                "2\tNA\tNA\tNA\t0",
            ]
        );
    }
}
