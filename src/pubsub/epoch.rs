//! The history's epoch: a random id the publish script stores beside the offset counter
//! when a new counter starts (Redis lost its data, or the first event ever), and stamps
//! on every event. Offsets only mean something within one epoch: after Redis restarts
//! empty they count from 1 again, so a client's `since` from before names events of a
//! history that is gone.

use uuid::Uuid;

use super::product_events::{EPOCH_KEY, OFFSET_KEY};
use super::EventError;
use crate::redis_client::RedisClient;

/// The longest epoch a client may send (ours are 32 characters).
pub const MAX_EPOCH_LEN: usize = 64;

/// A fresh epoch for the script to store if it starts a new counter. Made in Rust:
/// Lua's `math.random` is seeded the same way in every script run.
pub fn candidate() -> String {
    Uuid::new_v4().simple().to_string()
}

/// The history's current epoch and last offset (`None` and 0 before any event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub epoch: Option<String>,
    pub offset: u64,
}

/// Reads the current position in one round trip.
pub async fn position(redis: &RedisClient) -> Result<Position, EventError> {
    let keyspace = redis.keyspace();
    let (offset_key, epoch_key) = (keyspace.key(OFFSET_KEY), keyspace.key(EPOCH_KEY));
    let (offset, epoch): (Option<u64>, Option<String>) = redis
        .run(|mut c| async move {
            redis::cmd("MGET")
                .arg(&offset_key)
                .arg(&epoch_key)
                .query_async(&mut c)
                .await
        })
        .await?;
    Ok(Position {
        epoch,
        offset: offset.unwrap_or(0),
    })
}

/// What a subscribe with `since` gets before the live events.
#[derive(Debug, PartialEq, Eq)]
pub enum Recovery {
    /// The history after `since` (which may still turn out too old).
    Replay,
    /// `since` is not a position in the current history: refetch.
    Resync,
}

/// Whether the client's `since` (and the epoch it came with, if it sent one) is a
/// position in the current history. Beyond the last offset it cannot be (the counter
/// started again below it); with another epoch it is a number of a lost history, even
/// once the new counter has passed it.
pub fn recovery(epoch: Option<&str>, since: u64, current: &Position) -> Recovery {
    if since > current.offset {
        return Recovery::Resync;
    }
    match epoch {
        Some(epoch) if current.epoch.as_deref() != Some(epoch) => Recovery::Resync,
        _ => Recovery::Replay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(epoch: Option<&str>, offset: u64) -> Position {
        Position {
            epoch: epoch.map(str::to_string),
            offset,
        }
    }

    #[test]
    fn a_since_replays_only_within_the_current_epoch_and_offset() {
        let now = at(Some("e2"), 10);
        assert_eq!(recovery(Some("e2"), 4, &now), Recovery::Replay);
        assert_eq!(recovery(Some("e2"), 10, &now), Recovery::Replay);
        assert_eq!(recovery(None, 4, &now), Recovery::Replay, "no epoch sent");
        assert_eq!(recovery(Some("e2"), 11, &now), Recovery::Resync);
        assert_eq!(recovery(None, 11, &now), Recovery::Resync);
        assert_eq!(recovery(Some("e1"), 4, &now), Recovery::Resync);
        assert_eq!(recovery(Some("e1"), 10, &now), Recovery::Resync);
    }

    #[test]
    fn an_empty_redis_replays_only_from_zero_and_no_epoch() {
        let empty = at(None, 0);
        assert_eq!(recovery(None, 0, &empty), Recovery::Replay);
        assert_eq!(recovery(None, 3, &empty), Recovery::Resync);
        assert_eq!(recovery(Some("e1"), 0, &empty), Recovery::Resync);
    }

    #[test]
    fn candidates_are_distinct_and_short() {
        let (a, b) = (candidate(), candidate());
        assert_ne!(a, b);
        assert!(a.len() <= MAX_EPOCH_LEN && a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
