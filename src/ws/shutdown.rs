//! Graceful shutdown with WebSockets open. actix-web's stop waits for in-flight requests,
//! but an upgraded socket is a response that never ends: the workers would wait out the
//! shutdown timeout and then drop every socket without a close frame. So the service
//! handles SIGINT/SIGTERM itself (actix's own signal handling is off): first it drains
//! (`middleware::drain`) while the hub tells every session to close with 1001 (going
//! away) and refuses new ones, then, once the sockets are closed and every request being
//! handled is answered (or the shutdown timeout has passed), the HTTP server stops,
//! dropping what is left: connections whose client does not read. So no client holds a
//! stop past `server.drain_ms` + 1 s.

use std::time::Duration;

use actix_web::dev::ServerHandle;
use tokio::sync::watch;

use crate::state::Draining;
use crate::ws::{Admission, HubShards};

/// How often the closing sockets are counted while waiting for them.
const POLL: Duration = Duration::from_millis(20);

/// The HTTP server's own shutdown timeout: how long, once the handlers are done, what
/// was written gets to reach the clients before the connections are dropped.
pub const FLUSH_SECS: u64 = 1;

/// Asks a running application to stop as SIGTERM would; cheap to clone.
#[derive(Clone)]
pub struct Stopper {
    requested: watch::Sender<bool>,
}

impl Stopper {
    pub fn new() -> Stopper {
        Stopper {
            requested: watch::Sender::new(false),
        }
    }

    /// Starts the graceful shutdown (once; later calls change nothing).
    pub fn stop(&self) {
        self.requested.send_replace(true);
    }

    /// Resolves once `stop` was called or the process got SIGINT or SIGTERM.
    async fn requested(&self) {
        let mut requested = self.requested.subscribe();
        tokio::select! {
            _ = requested.wait_for(|stop| *stop) => {}
            () = os_signal() => {}
        }
    }
}

impl Default for Stopper {
    fn default() -> Self {
        Stopper::new()
    }
}

/// What the shutdown closes, in order.
pub struct Shutdown {
    pub stopper: Stopper,
    pub hub: HubShards,
    pub admission: Admission,
    pub server: ServerHandle,
    /// For the sockets to close, then again for the server's in-flight requests.
    pub timeout: Duration,
    /// Raised first: `/readyz` fails and every answer closes its connection.
    pub draining: Draining,
    /// How long to keep serving that way before the stop.
    pub drain: Duration,
}

impl Shutdown {
    /// Waits for a stop request, closes the sockets, then stops the server.
    pub async fn run(self) {
        self.stopper.requested().await;
        // Draining first (readiness fails, connections close after their answer), and
        // the WebSockets told at once, so their clients reconnect to another instance
        // while this one still answers; the drain then covers both.
        self.draining.start();
        let told = self.hub.shutdown().await;
        tracing::info!(
            sockets = told,
            drain_ms = self.drain.as_millis() as u64,
            "stopping: draining, WebSockets closed with 1001"
        );
        tokio::time::sleep(self.drain).await;
        // Every socket closed (each session gives its close frame 100 ms at most) and
        // every request a handler works on answered (still accepting meanwhile: a
        // connection refused now would be one a balancer could not retry).
        let deadline = tokio::time::Instant::now() + self.timeout;
        while (self.admission.open() > 0 || self.draining.in_flight() > 0)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(POLL).await;
        }
        // What is left is bytes on their way to clients (and a request that came in
        // since): the graceful stop gives them `FLUSH_SECS`, then drops the connections.
        // Waiting for every client to read what it was sent would let one that never
        // reads hold the stop for `shutdown_timeout_secs` (a WebSocket's writes cannot
        // be cut short otherwise).
        self.server.stop(true).await;
    }
}

#[cfg(unix)]
async fn os_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::error!("cannot listen for SIGINT/SIGTERM: stop by other means");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => tracing::info!("SIGINT received"),
        _ = terminate.recv() => tracing::info!("SIGTERM received"),
    }
}

#[cfg(not(unix))]
async fn os_signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
