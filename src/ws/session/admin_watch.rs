//! `admin:metrics` only while the admin access stands. The token cannot be lost while
//! the socket lives; a session can (logout, `logout-all`, a new login, a demotion), so
//! a session-held feed asks `HeldSession::standing` again on a short timer and, once the
//! session is lost, unsubscribes and answers `forbidden`. The hub may have queued a
//! snapshot before it let go: those are dropped, so none follows the `forbidden` frame.

use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::{AdminAccess, Conn, End, Flow};
use crate::auth::held_session::{HeldSession, Standing};
use crate::ws::hub::{self, SNAPSHOT_FRAME_START};
use crate::ws::protocol::{ServerMessage, Topic};

/// How often a session-held feed is checked. A logout is seen in Redis at once, so it
/// stops the feed within this; a demotion or `logout-all` made on another instance is
/// seen within `session.account_cache_ms` (500 ms by default) more: both well inside a
/// second. A check is one Redis GET and a cached account read, and admin sockets are few.
const RECHECK_EVERY: Duration = Duration::from_millis(200);

/// The longest one check may hold the connection's loop (a PostgreSQL that hangs would
/// otherwise stall its frames); past it the answer is unknown and asked again.
const CHECK_BUDGET: Duration = Duration::from_millis(1000);

/// The recheck timer of one connection, running only while a session feeds it.
#[derive(Default)]
pub(super) struct Watch {
    interval: Option<Interval>,
    /// Set once the access is lost: snapshots queued before the hub let go are dropped.
    revoked: bool,
}

impl Watch {
    /// The next recheck; never, while nothing is watched.
    pub(super) async fn tick(&mut self) {
        match &mut self.interval {
            Some(interval) => {
                interval.tick().await;
            }
            None => std::future::pending().await,
        }
    }

    pub(super) fn start(&mut self) {
        if self.interval.is_none() {
            let mut interval =
                tokio::time::interval_at(Instant::now() + RECHECK_EVERY, RECHECK_EVERY);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            self.interval = Some(interval);
        }
    }

    /// Stops checking (the access is gone, or was never a session's).
    pub(super) fn stop(&mut self) {
        self.interval = None;
    }

    /// Whether this queued frame must not reach the client: a snapshot after the loss.
    pub(super) fn drops(&self, frame: &str) -> bool {
        self.revoked && frame.starts_with(SNAPSHOT_FRAME_START)
    }
}

impl Conn {
    /// Subscribes an admin to topics that include `admin:metrics`. A session is asked
    /// first (it may have ended since the handshake), then watched.
    pub(super) async fn subscribe_admin(
        &mut self,
        topics: Vec<Topic>,
        since: Option<u64>,
        epoch: Option<String>,
    ) -> Flow {
        if let AdminAccess::Session(held) = &self.admin {
            if ask(held).await == Standing::Lost {
                return self.lose_admin().await;
            }
            self.watch.start();
        }
        self.subscribe(topics, since, epoch).await
    }

    /// One recheck; on loss, ends the feed.
    pub(super) async fn recheck_admin(&mut self) -> Flow {
        let standing = match &self.admin {
            AdminAccess::Session(held) => ask(held).await,
            _ => {
                self.watch.stop();
                return Ok(());
            }
        };
        match standing {
            Standing::Lost => self.lose_admin().await,
            // Redis or PostgreSQL did not answer: that ends no session, so ask again at
            // the next tick rather than cut an admin off for a blip.
            Standing::Admin | Standing::Unknown => Ok(()),
        }
    }

    /// Unsubscribes `admin:metrics` (the hub queues no snapshot after this), then says so.
    async fn lose_admin(&mut self) -> Flow {
        tracing::info!(conn = self.id, "admin session lost: admin:metrics ends");
        self.admin = AdminAccess::Forbidden;
        self.watch.stop();
        self.watch.revoked = true;
        let unsubscribe = hub::Unsubscribe {
            id: self.id,
            topics: vec![Topic::AdminMetrics],
        };
        if self.hub.send(unsubscribe).await.is_err() {
            return Err(End::Gone);
        }
        // No longer an admin's socket: inactive products reach it as deletes from now on.
        if self.hub.send(hub::Demote { id: self.id }).await.is_err() {
            return Err(End::Gone);
        }
        self.reply(&ServerMessage::Error {
            code: "forbidden",
            message: "admin access ended (admin:metrics, inactive products): the session was signed out or is no longer an admin's",
        })
        .await
    }
}

/// Whether the session stands, within `CHECK_BUDGET`.
async fn ask(held: &HeldSession) -> Standing {
    tokio::time::timeout(CHECK_BUDGET, held.standing())
        .await
        .unwrap_or(Standing::Unknown)
}
