//! Redis pub/sub between instances: cache invalidations on `{prefix}cache:invalidate`
//! (below) and product events on `{prefix}product:updates` (`product_events`, published
//! with their offset, epoch and history by `product_history`). One subscriber per instance
//! listens to both.
//!
//! Invalidations:
//! Only invalidations travel, never fills. Each event names its origin instance and a
//! sequence number (1, 2, 3, ... per origin, checked by receivers in `sequence`); an
//! instance ignores its own events (it applied them before publishing).

pub mod epoch;
pub mod event_order;
pub mod product_events;
pub mod product_history;
pub mod publisher;
pub mod sequence;
pub mod subscriber;

use serde::{Deserialize, Serialize};

use crate::cache::Target;

pub use product_events::ProductEvent;
pub use product_history::{history_after, history_page, EventError, History, Page, ProductEvents};
pub use publisher::Publisher;
pub use subscriber::{Ping, Subscriber};

/// The channel name, inside the prefix.
pub const CHANNEL: &str = "cache:invalidate";

/// One invalidation, as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub origin: String,
    pub seq: u64,
    pub targets: Vec<Target>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_json() {
        let event = Event {
            origin: "a".into(),
            seq: 7,
            targets: vec![
                Target::Key("products:1".into()),
                Target::Tag("products:list".into()),
                Target::Pattern("products:list:*".into()),
                Target::All,
            ],
        };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"origin":"a","seq":7,"targets":[{"key":"products:1"},{"tag":"products:list"},{"pattern":"products:list:*"},"all"]}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
    }
}
