//! `since`: the events after an offset, from the Redis history, filtered by topic, a
//! page at a time; and the budget that bounds how often one socket may ask for it.
//!
//! A replay reads `PAGE` events per `XRANGE … COUNT` on the replay Redis client (its own
//! connection and breaker: a replay's failures never open the request path's breaker),
//! keeps those the socket's topics match, and hands them to the session to write before
//! it reads the next page. So what one replay holds is one page, whatever the history's
//! size, and a client that does not read stops the reading too.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use std::borrow::Cow;

use bytestring::ByteString;

use crate::pubsub::product_history::is_too_old;
use crate::pubsub::{history_page, EventError, Page, ProductEvent};
use crate::redis_client::RedisClient;
use crate::telemetry::throttle::LogThrottle;
use crate::ws::protocol::Topic;
use crate::ws::visibility::{visible_to, Audience};

/// Events read per page.
pub const PAGE: usize = 100;

/// The history could not be read (the replay answers `resync`): logged once per 10 s
/// however many clients ask.
static UNREADABLE: LogThrottle = LogThrottle::new();

/// What the next page of a replay gives.
pub enum Step {
    /// The matching events of one page, in order, as `(offset, frame)` (possibly none).
    Events(Vec<(u64, ByteString)>),
    /// Everything up to where the history stood at the first page was sent.
    Done,
    /// The history no longer reaches back that far, or changed under the replay, or
    /// cannot be read: refetch.
    Resync,
}

/// One `since` replay: the events after `since` up to where the history stood when the
/// replay began (later ones reach the socket live: it subscribed first).
pub struct Replay {
    redis: RedisClient,
    /// Who the socket is: inactive products reach the public as deletes or not at all.
    audience: Audience,
    /// The next offset to read.
    next: u64,
    /// The last offset to send; known once the first page is read.
    end: Option<u64>,
}

impl Replay {
    pub fn new(redis: RedisClient, since: u64, audience: Audience) -> Replay {
        Replay {
            redis,
            audience,
            next: since.saturating_add(1),
            end: None,
        }
    }

    /// Reads the next page and keeps the events that match `topics`.
    pub async fn next(&mut self, topics: &[Topic]) -> Step {
        if self.end.is_some_and(|end| self.next > end) {
            return Step::Done;
        }
        let page = match history_page(&self.redis, self.next, PAGE).await {
            Ok(page) => page,
            Err(error) => return unreadable(&error, self.next),
        };
        let end = match self.end {
            Some(end) => end,
            None => {
                let since = self.next - 1;
                if since > page.current || is_too_old(since, page.oldest, page.current) {
                    return Step::Resync;
                }
                *self.end.insert(page.current)
            }
        };
        self.frames(page, end, topics)
    }

    /// The page's events up to `end` that match `topics`, as frames; `Resync` when the
    /// page does not start where the last one ended (the stream was trimmed past it).
    fn frames(&mut self, page: Page, end: u64, topics: &[Topic]) -> Step {
        let entries: Vec<(u64, String)> = page
            .entries
            .into_iter()
            .take_while(|(offset, _)| *offset <= end)
            .collect();
        match entries.first() {
            Some((first, _)) if *first == self.next => {}
            None if self.next > end => return Step::Done,
            _ => return Step::Resync,
        }
        let mut frames = Vec::new();
        for (offset, json) in entries {
            let event: ProductEvent = match serde_json::from_str(&json) {
                Ok(event) => event,
                Err(error) => return unreadable(&EventError::Json(error), offset),
            };
            // A gap inside the history means events were lost: only a refetch is whole.
            if Topic::of_event(&event).is_empty() {
                return Step::Resync;
            }
            self.next = offset + 1;
            if !keep(&event, topics) {
                continue;
            }
            match visible_to(&event, self.audience) {
                None => {}
                // The stored text is the frame: exactly what was published live.
                Some(Cow::Borrowed(_)) => frames.push((offset, ByteString::from(json))),
                Some(Cow::Owned(hidden)) => match serde_json::to_string(&hidden) {
                    Ok(json) => frames.push((offset, ByteString::from(json))),
                    Err(error) => return unreadable(&EventError::Json(error), offset),
                },
            }
        }
        Step::Events(frames)
    }
}

/// Whether a replayed event goes to a socket with these topics.
fn keep(event: &ProductEvent, topics: &[Topic]) -> bool {
    Topic::of_event(event).iter().any(|t| topics.contains(t))
}

fn unreadable(error: &EventError, offset: u64) -> Step {
    if let Some(suppressed) = UNREADABLE.admit() {
        tracing::warn!(%error, offset, suppressed, "product history unreadable: resync");
    }
    Step::Resync
}

/// How many replays one socket may start: `realtime.replays_per_minute` in any minute.
pub struct Budget {
    per_minute: usize,
    /// When the replays of the last minute started, oldest first.
    started: VecDeque<Instant>,
}

impl Budget {
    pub fn new(per_minute: u32) -> Budget {
        Budget {
            per_minute: per_minute as usize,
            started: VecDeque::new(),
        }
    }

    /// Takes one replay from the budget, if any is left at `now`.
    pub fn take(&mut self, now: Instant) -> bool {
        const MINUTE: Duration = Duration::from_secs(60);
        while self
            .started
            .front()
            .is_some_and(|&t| now.duration_since(t) >= MINUTE)
        {
            self.started.pop_front();
        }
        if self.started.len() >= self.per_minute {
            return false;
        }
        self.started.push_back(now);
        true
    }
}

/// The seam between a replay and the live events queued meanwhile: the offsets just
/// replayed, dropped once when they arrive live. Live events come in offset order, so
/// the set is emptied at the first live event past all of them.
#[derive(Default)]
pub struct Seam {
    replayed: HashSet<u64>,
}

impl Seam {
    /// Notes an event the replay sent.
    pub fn replayed(&mut self, offset: u64) {
        self.replayed.insert(offset);
    }

    /// Whether a live event should still be sent.
    pub fn admit(&mut self, offset: u64) -> bool {
        if self.replayed.remove(&offset) {
            return false;
        }
        if self.replayed.iter().all(|&replayed| replayed < offset) {
            self.replayed.clear();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_so_many_replays_in_any_minute() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut budget = Budget::new(2);
        assert!(budget.take(at(0)));
        assert!(budget.take(at(30)));
        assert!(!budget.take(at(59)), "two in the last minute already");
        assert!(budget.take(at(60)), "the first one is a minute old");
        assert!(!budget.take(at(61)));
        assert!(budget.take(at(90)));
    }

    #[test]
    fn the_seam_drops_each_replayed_offset_once_and_keeps_the_rest() {
        let mut seam = Seam::default();
        for offset in [3, 5] {
            seam.replayed(offset);
        }
        assert!(seam.admit(2), "an earlier event of another topic");
        assert!(!seam.admit(3));
        assert!(seam.admit(4), "not replayed (another topic)");
        assert!(!seam.admit(5));
        assert!(seam.admit(6));
        assert!(
            seam.admit(5),
            "the seam is over: nothing is dropped any more"
        );
    }
}
