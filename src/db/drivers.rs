//! The runtime that drives every pooled PostgreSQL connection.
//!
//! diesel-async opens a connection by spawning its I/O task (tokio-postgres's
//! `Connection`) with `tokio::spawn`, on whichever runtime asked the pool for it. Each
//! actix-web worker has a runtime of its own that ends when that worker stops, while the
//! pool hands the connection to any worker: a worker stopping first in a graceful stop
//! would close connections under another worker's running queries ("connection closed").
//! So connections are opened here, on one runtime that lives as long as the process.

use std::sync::LazyLock;

use anyhow::Context;
use tokio::runtime::{Builder, Handle, Runtime};

/// Threads of the driver runtime: they only move bytes between sockets and channels.
const DRIVER_THREADS: usize = 2;

/// Never dropped: a static lives until the process exits, and so do its tasks.
static DRIVERS: LazyLock<std::io::Result<Runtime>> = LazyLock::new(|| {
    Builder::new_multi_thread()
        .worker_threads(DRIVER_THREADS)
        .thread_name("pg-drivers")
        .enable_all()
        .build()
});

/// A handle on the process-wide driver runtime (built on first use).
pub fn handle() -> anyhow::Result<Handle> {
    match &*DRIVERS {
        Ok(runtime) => Ok(runtime.handle().clone()),
        Err(e) => Err(anyhow::anyhow!("{e}")).context("starting the PostgreSQL driver runtime"),
    }
}
