//! A TCP relay that can be frozen: it then stops forwarding in both directions without
//! closing anything, as a NAT or proxy that silently dropped an idle connection would.
//! Data read while frozen is held back until it thaws, and new connections are accepted
//! but carry nothing meanwhile.
//!
//! It runs on a thread and runtime of its own: the test's runtime is blocked while a
//! `TestApp` drops (its clean-up waits on a thread that talks to Redis, through this
//! relay for an instance that uses it).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

pub struct Relay {
    pub port: u16,
    frozen: watch::Sender<bool>,
    stop: Option<oneshot::Sender<()>>,
}

impl Relay {
    /// Relays 127.0.0.1:{port} to `upstream` (`host:port`) until dropped.
    pub fn start(upstream: String) -> Relay {
        let (frozen, watching) = watch::channel(false);
        let (stop, stopped) = oneshot::channel();
        let (bound, port) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("relay runtime");
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay binds");
                let _ = bound.send(listener.local_addr().expect("relay address").port());
                tokio::select! {
                    _ = accept(listener, upstream, watching) => {}
                    _ = stopped => {}
                }
            });
        });
        let port = port.recv().expect("relay started");
        Relay {
            port,
            frozen,
            stop: Some(stop),
        }
    }

    /// A Redis URL through the relay.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    pub fn thaw(&self) {
        self.frozen.send_replace(false);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn accept(listener: TcpListener, upstream: String, watching: watch::Receiver<bool>) {
    while let Ok((client, _)) = listener.accept().await {
        let Ok(server) = TcpStream::connect(&upstream).await else {
            continue;
        };
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        tokio::spawn(pump(client_read, server_write, watching.clone()));
        tokio::spawn(pump(server_read, client_write, watching.clone()));
    }
}

/// Copies one direction, holding everything back while frozen.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut frozen: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if frozen.wait_for(|f| !*f).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Frozen while this was being read: it waits too.
        if frozen.wait_for(|f| !*f).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
