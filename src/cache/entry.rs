//! One cached response: the serialized JSON body, its ETag and tags, and until when it is
//! fresh and then servable as stale. The body is kept serialized (`Bytes`) so an L1 hit
//! clones a reference count instead of serializing anything.
//!
//! In Redis an entry is one string: a one-line JSON header, a newline, then the body.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::header::HeaderValue;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A cached response body with its metadata.
#[derive(Debug, Clone)]
pub struct Entry {
    pub body: Bytes,
    pub etag: HeaderValue,
    pub tags: Arc<[String]>,
    pub fresh_until: Instant,
    pub stale_until: Instant,
    /// The L2 generation read before the database query that produced it (0 when
    /// unknown): an invalidation with a newer generation hides it (`generation.rs`).
    pub generation: u64,
}

/// How servable an entry is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    Stale,
    Expired,
}

impl Entry {
    pub fn freshness(&self, now: Instant) -> Freshness {
        if now < self.fresh_until {
            Freshness::Fresh
        } else if now < self.stale_until {
            Freshness::Stale
        } else {
            Freshness::Expired
        }
    }

    /// An entry for tests: body `{}`, the given tags, fresh and then stale for the given
    /// spans from now.
    #[cfg(test)]
    pub fn for_tests(tags: &[&str], fresh: Duration, stale: Duration) -> Entry {
        let now = Instant::now();
        Entry {
            body: Bytes::from_static(b"{}"),
            etag: HeaderValue::from_static("\"e\""),
            tags: tags
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .into(),
            fresh_until: now + fresh,
            stale_until: now + stale,
            generation: 0,
        }
    }

    /// A copy for L1, fresh for at most `l1_ttl` (never longer than it already is).
    pub fn for_l1(&self, now: Instant, l1_ttl: Duration) -> Entry {
        Entry {
            fresh_until: self.fresh_until.min(now + l1_ttl),
            ..self.clone()
        }
    }

    /// Encodes the entry for Redis.
    pub fn encode(&self, now: Instant) -> Vec<u8> {
        let header = Header {
            fresh_until_ms: unix_ms() + millis(self.fresh_until.saturating_duration_since(now)),
            stale_ms: millis(self.stale_until.saturating_duration_since(self.fresh_until)),
            etag: self.etag.to_str().unwrap_or_default().to_string(),
            tags: self.tags.to_vec(),
            generation: self.generation,
        };
        let mut out = serde_json::to_vec(&header).unwrap_or_default();
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }

    /// Decodes what `encode` wrote; `None` for anything else.
    pub fn decode(raw: &[u8], now: Instant) -> Option<Entry> {
        let split = raw.iter().position(|&b| b == b'\n')?;
        let header: Header = serde_json::from_slice(&raw[..split]).ok()?;
        let now_ms = unix_ms();
        let fresh_until = if header.fresh_until_ms >= now_ms {
            now + Duration::from_millis(header.fresh_until_ms - now_ms)
        } else {
            now.checked_sub(Duration::from_millis(now_ms - header.fresh_until_ms))
                .unwrap_or(now)
        };
        Some(Entry {
            body: Bytes::copy_from_slice(&raw[split + 1..]),
            etag: HeaderValue::from_str(&header.etag).ok()?,
            tags: header.tags.into(),
            fresh_until,
            stale_until: fresh_until + Duration::from_millis(header.stale_ms),
            generation: header.generation,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    #[serde(rename = "f")]
    fresh_until_ms: u64,
    #[serde(rename = "s")]
    stale_ms: u64,
    #[serde(rename = "e")]
    etag: String,
    #[serde(rename = "t")]
    tags: Vec<String>,
    /// Read by the L2 read script (`h.g`), which compares it with the markers.
    #[serde(rename = "g", default)]
    generation: u64,
}

/// Milliseconds since the Unix epoch (wall clock: shared between instances).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(millis)
        .unwrap_or(0)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `ttl` spread by up to `percent` either way, so entries written together do not all
/// expire together.
pub fn jittered(ttl: Duration, percent: u8) -> Duration {
    if percent == 0 {
        return ttl;
    }
    let spread = ttl.as_secs_f64() * f64::from(percent) / 100.0;
    let offset = (fastrand::f64() * 2.0 - 1.0) * spread;
    Duration::from_secs_f64((ttl.as_secs_f64() + offset).max(0.001))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_keeps_body_etag_tags_and_times() {
        let now = Instant::now();
        let entry = Entry {
            body: Bytes::from_static(b"{\"a\":\n1}"),
            etag: HeaderValue::from_static("\"p1-v2\""),
            tags: vec!["product:1".to_string()].into(),
            fresh_until: now + Duration::from_secs(10),
            stale_until: now + Duration::from_secs(70),
            generation: 42,
        };
        let back = Entry::decode(&entry.encode(now), now).expect("decodes");
        assert_eq!(back.body, entry.body);
        assert_eq!(back.etag, entry.etag);
        assert_eq!(&*back.tags, &*entry.tags);
        assert_eq!(back.generation, 42);
        let fresh = back.fresh_until.duration_since(now).as_secs_f64();
        assert!((9.0..=10.1).contains(&fresh), "{fresh}");
        assert_eq!(back.stale_until - back.fresh_until, Duration::from_secs(60));
        assert!(Entry::decode(b"garbage", now).is_none());
    }

    #[test]
    fn freshness_follows_the_two_deadlines() {
        let now = Instant::now();
        let entry = Entry {
            body: Bytes::new(),
            etag: HeaderValue::from_static("\"x\""),
            tags: Vec::new().into(),
            fresh_until: now + Duration::from_secs(1),
            stale_until: now + Duration::from_secs(2),
            generation: 0,
        };
        assert_eq!(entry.freshness(now), Freshness::Fresh);
        assert_eq!(
            entry.freshness(now + Duration::from_millis(1500)),
            Freshness::Stale
        );
        assert_eq!(
            entry.freshness(now + Duration::from_secs(2)),
            Freshness::Expired
        );
        let l1 = entry.for_l1(now, Duration::from_millis(100));
        assert_eq!(l1.fresh_until, now + Duration::from_millis(100));
    }

    #[test]
    fn jitter_stays_within_the_spread() {
        let ttl = Duration::from_secs(100);
        for _ in 0..1000 {
            let j = jittered(ttl, 10).as_secs_f64();
            assert!((90.0..=110.0).contains(&j), "{j}");
        }
        assert_eq!(jittered(ttl, 0), ttl);
    }
}
