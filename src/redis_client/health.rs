//! The background health check: a `PING` through the breaker every `HEALTH_INTERVAL`,
//! so an instance notices an outage and, above all, its end without waiting for a
//! request. While the breaker is half-open this ping is (usually) the probe that closes
//! it. While it is open (cooling down) the ping goes to the shared connection without
//! the breaker, only so that each failure starts a new reconnect attempt: the probe after
//! the cooldown then finds the connection up instead of spending itself on reconnecting.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::breaker::BreakerState;
use super::{Inner, RedisClient};

/// How often Redis is pinged. Short enough that recovery is seen well within a second
/// of the breaker's cooldown; a `PING` four times a second costs Redis nothing.
pub const HEALTH_INTERVAL: Duration = Duration::from_millis(250);

/// Starts the check on the current runtime. It holds the client weakly, so it ends when
/// the last handle on the client is dropped.
pub(super) fn spawn(client: &RedisClient) {
    let weak: Weak<Inner> = Arc::downgrade(&client.inner);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HEALTH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let client = RedisClient { inner };
            if client.breaker_snapshot().state == BreakerState::Open {
                client.reconnect_quietly().await;
            } else {
                // The outcome is the breaker's business (`run` reports it there).
                let _ = client.ping().await;
            }
        }
    });
}
