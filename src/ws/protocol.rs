//! The WebSocket protocol: JSON text frames, `type`-tagged.

use serde::{Deserialize, Serialize};

use crate::domain::product::category;
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

/// The longest topic name a client may send, in bytes: a socket holds at most
/// `realtime.max_topics_per_connection` of them, so this bounds what its topics cost.
pub const MAX_TOPIC_BYTES: usize = 128;

/// Why a topic name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicError {
    /// Not one of the topic shapes: `bad_topic`.
    Unknown(String),
    /// The right shape with a value no product can have, or too long: `invalid_topic`.
    Invalid(String),
}

impl TopicError {
    /// The `error` frame's code.
    pub fn code(&self) -> &'static str {
        match self {
            TopicError::Unknown(_) => "bad_topic",
            TopicError::Invalid(_) => "invalid_topic",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            TopicError::Unknown(message) | TopicError::Invalid(message) => message,
        }
    }
}

impl Topic {
    /// Parses the wire syntax; `None` for anything else (see `Topic::check` for the
    /// reason).
    pub fn parse(text: &str) -> Option<Topic> {
        Topic::check(text).ok()
    }

    /// Parses the wire syntax: at most `MAX_TOPIC_BYTES`, and a category named as a
    /// product's category may be (`domain::product::category`, trimmed like one).
    pub fn check(text: &str) -> Result<Topic, TopicError> {
        if text.len() > MAX_TOPIC_BYTES {
            return Err(TopicError::Invalid(format!(
                "Topics are at most {MAX_TOPIC_BYTES} bytes"
            )));
        }
        if text == "products" {
            return Ok(Topic::Products);
        }
        if text == ADMIN_METRICS {
            return Ok(Topic::AdminMetrics);
        }
        if let Some(id) = text.strip_prefix("product:") {
            return id
                .parse()
                .map(Topic::Product)
                .map_err(|_| TopicError::Unknown(format!("Unknown topic: {text}")));
        }
        match text.strip_prefix("category:") {
            Some(name) => match category(name) {
                Ok(name) => Ok(Topic::Category(name.to_string())),
                Err(reason) => Err(TopicError::Invalid(format!("The category {reason}"))),
            },
            None => Err(TopicError::Unknown(format!("Unknown topic: {text}"))),
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

/// Parses every topic, or says why the first one that is not valid was refused.
pub fn parse_topics(texts: &[String]) -> Result<Vec<Topic>, TopicError> {
    texts.iter().map(|t| Topic::check(t)).collect()
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
    fn a_category_topic_follows_the_products_category_rule_and_names_are_bounded() {
        assert_eq!(
            Topic::check("category: Books "),
            Ok(Topic::Category("Books".into())),
            "trimmed as a product's category is"
        );
        let invalid = |t: &str| Topic::check(t).unwrap_err().code();
        assert_eq!(invalid("category:"), "invalid_topic");
        assert_eq!(invalid("category:   "), "invalid_topic");
        assert_eq!(invalid("category:a\u{0}b"), "invalid_topic");
        assert_eq!(
            invalid(&format!("category:{}", "x".repeat(101))),
            "invalid_topic"
        );
        // 100 characters are a valid category, but not within 128 bytes.
        assert_eq!(
            invalid(&format!("category:{}", "é".repeat(100))),
            "invalid_topic"
        );
        let longest = format!("category:{}", "x".repeat(MAX_TOPIC_BYTES - 9 - 19));
        assert!(Topic::check(&longest).is_ok());
        assert_eq!(invalid(&"p".repeat(MAX_TOPIC_BYTES + 1)), "invalid_topic");
        assert_eq!(Topic::check("stuff").unwrap_err().code(), "bad_topic");
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
