//! Publishing product events (offset, history and live channel in one script run) and
//! reading the history back after an offset, for clients that reconnect with `since`.
//!
//! Keys: `{prefix}product:offset`, `{prefix}product:history` and `{prefix}product:epoch`
//! (`epoch`), passed as script `KEYS`, and for a product's event
//! `{prefix}product:published:{id}` (`event_order`).
//! On a Redis Cluster they would have to share a slot: a hash tag around the common part
//! (`{prefix}{product}:offset`, `...:history`, `...:published:{id}`) confines them; a
//! single node needs none, so the names stay as the rest of the keyspace spells them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::Utc;

use super::epoch;
use super::event_order::{self, published_key};
use super::product_events::{
    ProductChange, ProductEvent, EPOCH_KEY, HISTORY_KEY, OFFSET_KEY, UPDATES_CHANNEL,
};
use crate::redis_client::{RedisClient, RedisError};

/// A failure publishing or reading product events.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("product event could not be encoded or decoded: {0}")]
    Json(#[from] serde_json::Error),
    #[error("history entry `{0}` is malformed")]
    Entry(String),
}

/// Publishes product events; cheap to clone.
#[derive(Clone)]
pub struct ProductEvents {
    redis: RedisClient,
    script: Arc<redis::Script>,
    history_size: u64,
    failures: Arc<AtomicU64>,
    /// Events lost since the last `product.gap` marker went out.
    unmarked: Arc<AtomicU64>,
    /// Seconds a product's last published version is remembered (`event_order`).
    order_window_secs: u64,
}

/// Until `with_order_window` says otherwise (`realtime.event_order_window_secs`).
const DEFAULT_ORDER_WINDOW_SECS: u64 = 3600;

impl ProductEvents {
    pub fn new(redis: RedisClient, history_size: u64) -> ProductEvents {
        ProductEvents {
            redis,
            script: Arc::new(redis::Script::new(include_str!("product_events.lua"))),
            history_size,
            failures: Arc::new(AtomicU64::new(0)),
            unmarked: Arc::new(AtomicU64::new(0)),
            order_window_secs: DEFAULT_ORDER_WINDOW_SECS,
        }
    }

    /// Remembers each product's last published version this long, to refuse older
    /// events that arrive later (see `event_order`).
    pub fn with_order_window(mut self, secs: u64) -> ProductEvents {
        self.order_window_secs = secs;
        self
    }

    /// Publishes one change after its commit and returns its offset. A failure is logged
    /// and counted, never returned: the write has committed and must not fail for it.
    /// The loss is announced later by a `product.gap` marker (`publish_gap`).
    /// `None` too for an event older than one of its product already published: it is
    /// not news, and out of order it would undo the newer one.
    pub async fn publish(&self, change: &ProductChange) -> Option<u64> {
        match self.try_publish(change).await {
            Ok(Some(offset)) => Some(offset),
            Ok(None) => {
                tracing::info!("product event superseded by a newer one: not published");
                None
            }
            Err(error) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                self.unmarked.fetch_add(1, Ordering::AcqRel);
                tracing::warn!(%error, "product event not published");
                None
            }
        }
    }

    /// When events were lost, publishes one `product.gap` marker for them (called once a
    /// second; a marker that fails too is retried with the next ones). A lost event takes
    /// no offset, so without the marker no consumer could tell anything was missed.
    pub async fn publish_gap(&self) {
        let missed = self.unmarked.swap(0, Ordering::AcqRel);
        if missed == 0 {
            return;
        }
        if let Err(error) = self.try_publish(&ProductChange::Gap { missed }).await {
            self.unmarked.fetch_add(missed, Ordering::AcqRel);
            tracing::debug!(%error, missed, "product gap marker not published yet");
        }
    }

    /// How many events could not be published since start-up.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The event's offset, or `None` when the script refused it as older than one
    /// already published for its product.
    async fn try_publish(&self, change: &ProductChange) -> Result<Option<u64>, EventError> {
        let (change, guard) = event_order::guard(change)?;
        let payload = change.unstamped_json(Utc::now())?;
        let keyspace = self.redis.keyspace();
        let (offset_key, history_key) = (keyspace.key(OFFSET_KEY), keyspace.key(HISTORY_KEY));
        let channel = keyspace.channel(UPDATES_CHANNEL);
        let (epoch_key, fresh_epoch) = (keyspace.key(EPOCH_KEY), epoch::candidate());
        let (script, size) = (self.script.clone(), self.history_size);
        let guard = guard.map(|g| (keyspace.key(&published_key(g.id)), g));
        let window = self.order_window_secs;
        let offset = self
            .redis
            .run(|mut c| async move {
                let mut invocation = script.key(offset_key);
                invocation
                    .key(history_key)
                    .key(epoch_key)
                    .arg(payload)
                    .arg(size)
                    .arg(channel)
                    .arg(fresh_epoch);
                if let Some((key, guard)) = guard {
                    invocation
                        .key(key)
                        .arg(guard.rank)
                        .arg(guard.category)
                        .arg(guard.fallback_previous)
                        .arg(window);
                }
                invocation.invoke_async::<u64>(&mut c).await
            })
            .await?;
        Ok((offset > 0).then_some(offset))
    }
}

/// The history after an offset.
#[derive(Debug, PartialEq)]
pub enum History {
    /// Every event after the offset, in order (possibly none).
    Events(Vec<ProductEvent>),
    /// Events after the offset have already left the capped history: refetch instead.
    TooOld,
}

/// Reads every event after `since` (`XRANGE` from `since + 1`). One atomic pipeline
/// also reads the first entry and the counter, so "too old" and the events agree.
pub async fn history_after(redis: &RedisClient, since: u64) -> Result<History, EventError> {
    let pipe = position_and_entries(redis, since.saturating_add(1), None);
    let (current, first, entries): (Option<u64>, Entries, Entries) = redis
        .run(|mut c| async move { pipe.query_async(&mut c).await })
        .await?;
    let oldest = oldest_of(&first)?;
    if is_too_old(since, oldest, current.unwrap_or(0)) {
        return Ok(History::TooOld);
    }
    let events = entries
        .iter()
        .map(|(id, fields)| {
            let json = fields.get(1).ok_or_else(|| EventError::Entry(id.clone()))?;
            Ok(serde_json::from_str(json)?)
        })
        .collect::<Result<_, EventError>>()?;
    Ok(History::Events(events))
}

/// One page of the history, read in one atomic pipeline with where the history stands,
/// so a replay can read it a page at a time and still tell what it cannot replay.
#[derive(Debug, Default, PartialEq)]
pub struct Page {
    /// The last offset given out (0 when none since Redis lost its data).
    pub current: u64,
    /// The oldest offset the capped stream still holds.
    pub oldest: Option<u64>,
    /// At most `count` entries from offset `from` on, in order, as (offset, event JSON).
    pub entries: Vec<(u64, String)>,
}

/// Reads up to `count` events from offset `from` on (`XRANGE … COUNT`), with the counter
/// and the oldest entry: a replay holds one page at a time, whatever the history's size.
pub async fn history_page(
    redis: &RedisClient,
    from: u64,
    count: usize,
) -> Result<Page, EventError> {
    let pipe = position_and_entries(redis, from, Some(count));
    // On the calling thread's own connection: a replay runs in its socket's task, on
    // that socket's worker, and its replies then need no other thread to wake up.
    let (current, first, entries): (Option<u64>, Entries, Entries) = redis
        .run_local(|mut c| async move { pipe.query_async(&mut c).await })
        .await?;
    let oldest = oldest_of(&first)?;
    let entries = entries
        .into_iter()
        .map(|(id, mut fields)| {
            let offset = entry_offset(&id)?;
            match fields.pop() {
                Some(json) if fields.len() == 1 => Ok((offset, json)),
                _ => Err(EventError::Entry(id)),
            }
        })
        .collect::<Result<_, EventError>>()?;
    Ok(Page {
        current: current.unwrap_or(0),
        oldest,
        entries,
    })
}

/// Stream entries as `XRANGE` answers them: (id, [field, value, ...]).
type Entries = Vec<(String, Vec<String>)>;

/// One atomic pipeline: the counter, the oldest entry, and the entries from offset
/// `from` on (at most `count`), so "too old" and the entries agree.
fn position_and_entries(redis: &RedisClient, from: u64, count: Option<usize>) -> redis::Pipeline {
    let keyspace = redis.keyspace();
    let history_key = keyspace.key(HISTORY_KEY);
    let mut pipe = redis::pipe();
    pipe.atomic()
        .get(keyspace.key(OFFSET_KEY))
        .cmd("XRANGE")
        .arg(&history_key)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .cmd("XRANGE")
        .arg(&history_key)
        .arg(format!("{from}-0"))
        .arg("+");
    if let Some(count) = count {
        pipe.arg("COUNT").arg(count);
    }
    pipe
}

/// The offset of the oldest entry the capped stream still holds, if any.
fn oldest_of(first: &Entries) -> Result<Option<u64>, EventError> {
    first.first().map(|(id, _)| entry_offset(id)).transpose()
}

/// `since` is too old when the next event it needs (`since + 1`) is older than the
/// oldest kept one, or when the history is empty though later events were published.
pub fn is_too_old(since: u64, oldest: Option<u64>, current: u64) -> bool {
    match oldest {
        Some(oldest) => oldest > since.saturating_add(1),
        None => current > since,
    }
}

/// The offset in a `{offset}-0` stream id.
fn entry_offset(id: &str) -> Result<u64, EventError> {
    id.split_once('-')
        .and_then(|(ms, _)| ms.parse().ok())
        .ok_or_else(|| EventError::Entry(id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_too_old_only_when_the_next_event_is_gone() {
        assert!(!is_too_old(0, Some(1), 5));
        assert!(!is_too_old(4, Some(5), 5));
        assert!(!is_too_old(9, Some(5), 9));
        assert!(is_too_old(3, Some(5), 9));
        assert!(!is_too_old(0, None, 0));
        assert!(is_too_old(2, None, 3));
        assert_eq!(entry_offset("12-0").unwrap(), 12);
        assert!(entry_offset("x").is_err());
    }
}
