//! The WebSocket protocol: JSON text frames, `type`-tagged.

use serde::{Deserialize, Serialize};

use crate::pubsub::epoch::MAX_EPOCH_LEN;
use crate::pubsub::product_events::ProductChange;
use crate::pubsub::ProductEvent;

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMessage {
    /// `since`: replay the matching events after this offset first; `epoch`: the epoch
    /// that offset came with (`pubsub::epoch`), checked before replaying.
    Subscribe {
        topics: Vec<String>,
        #[serde(default)]
        since: Option<u64>,
        #[serde(default)]
        epoch: Option<String>,
    },
    Unsubscribe {
        topics: Vec<String>,
    },
    Ping,
}

/// What the server answers itself (events are sent as `ProductEvent` JSON).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMessage<'a> {
    /// With `since`, also where the history stands (when Redis answered): its epoch
    /// (absent before any event) and last offset, a position to reconnect from.
    Subscribed {
        topics: &'a [Topic],
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        offset: Option<u64>,
    },
    Unsubscribed {
        topics: &'a [Topic],
    },
    Pong,
    Resync,
    Error {
        code: &'a str,
        message: &'a str,
    },
}

/// A subscription target: `products`, `product:{id}`, `category:{name}`, or
/// `admin:metrics` (this instance's metrics snapshot every second; admins only).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub enum Topic {
    Products,
    Product(i64),
    Category(String),
    AdminMetrics,
}

/// The wire name of the admin metrics topic.
pub const ADMIN_METRICS: &str = "admin:metrics";

impl Topic {
    /// Parses the wire syntax; `None` for anything else.
    pub fn parse(text: &str) -> Option<Topic> {
        if text == "products" {
            return Some(Topic::Products);
        }
        if text == ADMIN_METRICS {
            return Some(Topic::AdminMetrics);
        }
        if let Some(id) = text.strip_prefix("product:") {
            return id.parse().ok().map(Topic::Product);
        }
        match text.strip_prefix("category:") {
            Some(name) if !name.is_empty() => Some(Topic::Category(name.to_string())),
            _ => None,
        }
    }

    /// The topics an event belongs to. An update that moved the product belongs to its
    /// previous category too (a move from A to B is news on both); a delete carries only
    /// the id, so it reaches no category topic.
    pub fn of_event(event: &ProductEvent) -> Vec<Topic> {
        match &event.change {
            ProductChange::Created { product } => vec![
                Topic::Products,
                Topic::Product(product.id),
                Topic::Category(product.category.clone()),
            ],
            ProductChange::Updated {
                product,
                previous_category,
            } => {
                let mut topics = vec![
                    Topic::Products,
                    Topic::Product(product.id),
                    Topic::Category(product.category.clone()),
                ];
                topics.extend(previous_category.clone().map(Topic::Category));
                topics
            }
            ProductChange::Deleted { id, .. } => vec![Topic::Products, Topic::Product(*id)],
            ProductChange::Gap { .. } => Vec::new(),
        }
    }
}

impl From<Topic> for String {
    fn from(topic: Topic) -> String {
        match topic {
            Topic::Products => "products".to_string(),
            Topic::Product(id) => format!("product:{id}"),
            Topic::Category(name) => format!("category:{name}"),
            Topic::AdminMetrics => ADMIN_METRICS.to_string(),
        }
    }
}

/// Refuses an `epoch` without `since` (it qualifies an offset) or longer than any we
/// make.
pub fn check_epoch(epoch: Option<&str>, since: Option<u64>) -> Result<(), String> {
    match (epoch, since) {
        (Some(_), None) => Err("`epoch` goes with `since`".to_string()),
        (Some(epoch), Some(_)) if epoch.len() > MAX_EPOCH_LEN => {
            Err(format!("`epoch` is at most {MAX_EPOCH_LEN} characters"))
        }
        _ => Ok(()),
    }
}

/// Parses every topic, or names the first one that is not valid.
pub fn parse_topics(texts: &[String]) -> Result<Vec<Topic>, String> {
    texts
        .iter()
        .map(|t| Topic::parse(t).ok_or_else(|| format!("Unknown topic: {t}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse_their_three_shapes_and_nothing_else() {
        assert_eq!(Topic::parse("products"), Some(Topic::Products));
        assert_eq!(Topic::parse("product:42"), Some(Topic::Product(42)));
        assert_eq!(
            Topic::parse("category:Books"),
            Some(Topic::Category("Books".into()))
        );
        assert_eq!(Topic::parse("admin:metrics"), Some(Topic::AdminMetrics));
        for bad in [
            "product:x",
            "product:",
            "category:",
            "items",
            "Products",
            "admin:",
        ] {
            assert_eq!(Topic::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn server_messages_have_the_wire_shape() {
        let topics = [Topic::Products, Topic::Product(7)];
        let json = serde_json::to_string(&ServerMessage::Subscribed {
            topics: &topics,
            epoch: None,
            offset: None,
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"type":"subscribed","topics":["products","product:7"]}"#
        );
        let json = serde_json::to_string(&ServerMessage::Subscribed {
            topics: &topics[..1],
            epoch: Some("e1"),
            offset: Some(12),
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"type":"subscribed","topics":["products"],"epoch":"e1","offset":12}"#
        );
        let json = serde_json::to_string(&ServerMessage::Pong).unwrap();
        assert_eq!(json, r#"{"type":"pong"}"#);
    }

    #[test]
    fn client_messages_parse_and_unknown_types_fail() {
        let m: ClientMessage = serde_json::from_str(r#"{"type":"ping"}"#).unwrap();
        assert!(matches!(m, ClientMessage::Ping));
        let m: ClientMessage =
            serde_json::from_str(r#"{"type":"subscribe","topics":["products"]}"#).unwrap();
        assert!(matches!(m, ClientMessage::Subscribe { topics, .. } if topics == ["products"]));
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"shout"}"#).is_err());
        let m: ClientMessage = serde_json::from_str(
            r#"{"type":"subscribe","topics":["products"],"since":3,"epoch":"e1"}"#,
        )
        .unwrap();
        assert!(
            matches!(m, ClientMessage::Subscribe { since: Some(3), epoch: Some(e), .. } if e == "e1")
        );
        let not_a_string = r#"{"type":"subscribe","topics":[],"since":3,"epoch":7}"#;
        assert!(serde_json::from_str::<ClientMessage>(not_a_string).is_err());
    }

    #[test]
    fn an_epoch_needs_since_and_a_sane_length() {
        assert!(check_epoch(None, None).is_ok());
        assert!(check_epoch(None, Some(3)).is_ok());
        assert!(check_epoch(Some("e1"), Some(3)).is_ok());
        assert!(check_epoch(Some(&"e".repeat(MAX_EPOCH_LEN)), Some(3)).is_ok());
        assert!(check_epoch(Some(&"e".repeat(MAX_EPOCH_LEN + 1)), Some(3)).is_err());
        assert!(check_epoch(Some("e1"), None).is_err());
    }
}
