//! Product events as they travel on `{prefix}product:updates` and sit in the history
//! stream `{prefix}product:history`: one typed, versioned envelope.
//!
//! Wire shape:
//! `{"type":"product.updated","product":{...},"ts":"...","v":1,"epoch":"...","offset":N}`.
//! The product is the `Product` domain type, exactly as the HTTP API returns it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Product;

/// The envelope version; bump it when the shape changes incompatibly.
pub const VERSION: u32 = 1;
/// The live channel, inside the prefix.
pub const UPDATES_CHANNEL: &str = "product:updates";
/// The deployment-wide offset counter, inside the prefix.
pub const OFFSET_KEY: &str = "product:offset";
/// The capped history stream, inside the prefix; entry ids are `{offset}-0`.
pub const HISTORY_KEY: &str = "product:history";
/// The history's epoch (`pubsub::epoch`), inside the prefix.
pub const EPOCH_KEY: &str = "product:epoch";

/// Events held for the in-process consumers (the WebSocket hub): a bounded broadcast. A
/// consumer that falls this far behind gets `Lagged` and must resync its clients; memory
/// never grows with a slow consumer.
pub const BROADCAST_CAPACITY: usize = 1024;

/// What happened to a product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ProductChange {
    #[serde(rename = "product.created")]
    Created { product: Product },
    /// `previous_category` (`previousCategory` on the wire) is set when the update moved
    /// the product out of that category, so that category's subscribers hear of it too.
    #[serde(rename = "product.updated")]
    Updated {
        product: Product,
        #[serde(
            rename = "previousCategory",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        previous_category: Option<String>,
    },
    /// `version` is the version the delete removed (absent only in events written before
    /// deletes carried it). `reason` is set only in the copy a public socket gets of an
    /// inactive product's event (`ws::visibility`), never in what is published.
    #[serde(rename = "product.deleted")]
    Deleted {
        id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<DeleteReason>,
    },
    /// `missed` events of this instance were never published (Redis was unreachable):
    /// they took no offset, so this marker is the only trace. Consumers refetch (the
    /// WebSocket hub answers it with `resync`).
    #[serde(rename = "product.gap")]
    Gap { missed: u64 },
}

/// Why a product left a client's view other than by a real delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeleteReason {
    /// It was deactivated: only admins may still see it.
    Inactive,
}

/// One product event with its deployment-wide offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductEvent {
    #[serde(flatten)]
    pub change: ProductChange,
    /// RFC 3339, UTC, milliseconds.
    #[serde(with = "rfc3339")]
    pub ts: DateTime<Utc>,
    pub v: u32,
    /// Which history the offset counts in (`pubsub::epoch`); absent only in events
    /// written before events carried it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// 1, 2, 3, ... across every instance: stamped in Redis by the publish script.
    pub offset: u64,
}

/// An event before Redis gave it an offset.
#[derive(Serialize)]
struct Unstamped<'a> {
    #[serde(flatten)]
    change: &'a ProductChange,
    #[serde(with = "rfc3339")]
    ts: DateTime<Utc>,
    v: u32,
}

impl ProductChange {
    /// The event's JSON without its closing brace, so the publish script can append
    /// `,"epoch":"...","offset":N}` once it knows them. Appending keeps the bytes Rust
    /// produced (decoding and re-encoding in Lua's cjson would reorder fields and could
    /// round prices).
    pub fn unstamped_json(&self, ts: DateTime<Utc>) -> Result<String, serde_json::Error> {
        let mut json = serde_json::to_string(&Unstamped {
            change: self,
            ts,
            v: VERSION,
        })?;
        json.pop();
        Ok(json)
    }
}

mod rfc3339 {
    use super::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&ts.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamped_event_parses_back_with_its_offset() {
        let ts = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678Z")
            .unwrap()
            .with_timezone(&Utc);
        let change = ProductChange::Deleted {
            id: 42,
            version: Some(3),
            reason: None,
        };
        let json = format!(
            "{},\"epoch\":\"e1\",\"offset\":7}}",
            change.unstamped_json(ts).unwrap()
        );
        assert_eq!(
            json,
            r#"{"type":"product.deleted","id":42,"version":3,"ts":"2026-01-02T03:04:05.678Z","v":1,"epoch":"e1","offset":7}"#
        );
        let event: ProductEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(
            event,
            ProductEvent {
                change,
                ts,
                v: 1,
                epoch: Some("e1".into()),
                offset: 7
            }
        );
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            json,
            "the same bytes back"
        );
    }
}
