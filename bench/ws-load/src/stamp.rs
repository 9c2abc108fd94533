//! The send time an update carries to every client, in the product's description.
//!
//! The writer and the clients run in this one process, so the stamp is microseconds
//! since the run's own monotonic epoch: no clock is compared across processes.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::args::Protocol;

/// One update as the clients recognise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// 0, 1, 2, ... in the order the updates were sent.
    pub seq: u32,
    /// When the HTTP write was sent, in µs since the run's epoch.
    pub sent_us: u64,
}

impl Stamp {
    /// The description that carries the stamp; `tag` keeps other writers' events apart.
    pub fn description(&self, tag: &str) -> String {
        format!("{tag} seq={} t_us={}", self.seq, self.sent_us)
    }

    /// The stamp in a description this run wrote, else `None`.
    pub fn parse(tag: &str, description: &str) -> Option<Stamp> {
        let rest = description.strip_prefix(tag)?.strip_prefix(" seq=")?;
        let (seq, sent) = rest.split_once(" t_us=")?;
        Some(Stamp {
            seq: seq.parse().ok()?,
            sent_us: sent.parse().ok()?,
        })
    }
}

/// The parts of a server frame the clients look at; everything else is skipped.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    offset: Option<u64>,
    #[serde(borrow)]
    product: Option<ProductPart<'a>>,
}

#[derive(Deserialize)]
struct ProductPart<'a> {
    #[serde(borrow)]
    description: Option<Cow<'a, str>>,
}

/// A product event of this run: its stamp and its offset.
#[derive(Debug, PartialEq, Eq)]
pub struct Delivery {
    pub stamp: Stamp,
    pub offset: Option<u64>,
}

/// What one text frame from the server is.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    Subscribed,
    /// A Socket.IO (Engine.IO) ping: the client must answer `3`.
    Ping,
    /// The server says events were lost (e.g. one it could not publish): refetch.
    Resync,
    /// An `error` frame, with its text.
    Error(String),
    Delivery(Delivery),
    Other,
}

/// Classifies one text frame (a frame that is not JSON counts as `Other`).
pub fn classify(protocol: Protocol, tag: &str, text: &str) -> Received {
    let frame = match protocol {
        Protocol::CatalogCache => serde_json::from_str::<Frame>(text).ok(),
        Protocol::Socketio if text == "2" => return Received::Ping,
        Protocol::Socketio => socketio_payload(text),
    };
    let Some(frame) = frame else {
        return Received::Other;
    };
    match frame.kind.as_ref() {
        "subscribed" => Received::Subscribed,
        "resync" => Received::Resync,
        "error" => Received::Error(text.to_string()),
        _ => frame
            .product
            .and_then(|p| p.description)
            .and_then(|d| Stamp::parse(tag, &d))
            .map_or(Received::Other, |stamp| {
                Received::Delivery(Delivery {
                    stamp,
                    offset: frame.offset,
                })
            }),
    }
}

/// The message inside a Socket.IO packet: an event `42["name",{...}]` carries it as its
/// argument, an acknowledgement `43<id>[{...}]` as its first value.
fn socketio_payload(text: &str) -> Option<Frame<'_>> {
    if let Some(event) = text.strip_prefix("42") {
        return serde_json::from_str::<(IgnoredAny, Frame)>(event)
            .ok()
            .map(|(_, frame)| frame);
    }
    let ack = text.strip_prefix("43")?;
    let values = ack.trim_start_matches(|c: char| c.is_ascii_digit());
    serde_json::from_str::<(Frame,)>(values)
        .ok()
        .map(|(frame,)| frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_survives_its_description_and_other_tags_do_not_match() {
        let stamp = Stamp {
            seq: 7,
            sent_us: 123_456,
        };
        let text = stamp.description("run-a");
        assert_eq!(Stamp::parse("run-a", &text), Some(stamp));
        assert_eq!(Stamp::parse("run-b", &text), None);
        assert_eq!(Stamp::parse("run-a", "run-a seq=x t_us=1"), None);
    }

    #[test]
    fn socketio_packets_are_unwrapped() {
        let io = Protocol::Socketio;
        assert_eq!(classify(io, "t", "2"), Received::Ping);
        assert_eq!(
            classify(
                io,
                "t",
                r#"430[{"type":"subscribed","topics":["products"]}]"#
            ),
            Received::Subscribed
        );
        let event = r#"42["product.updated",{"type":"product.updated","product":{"description":"t seq=1 t_us=5"},"offset":3}]"#;
        assert!(matches!(
            classify(io, "t", event),
            Received::Delivery(Delivery {
                stamp: Stamp { seq: 1, sent_us: 5 },
                offset: Some(3)
            })
        ));
        assert_eq!(classify(io, "t", r#"0{"sid":"x"}"#), Received::Other);
        assert_eq!(
            classify(Protocol::CatalogCache, "t", "2"),
            Received::Other,
            "not a ping in catalog-cache's protocol"
        );
    }

    #[test]
    fn frames_are_classified() {
        assert_eq!(
            classify(
                Protocol::CatalogCache,
                "t",
                r#"{"type":"subscribed","topics":["products"]}"#
            ),
            Received::Subscribed
        );
        let event = r#"{"type":"product.updated","product":{"id":3,"description":"t seq=2 t_us=99","price":1.5},"ts":"2026-01-01T00:00:00.000Z","v":1,"offset":41}"#;
        assert_eq!(
            classify(Protocol::CatalogCache, "t", event),
            Received::Delivery(Delivery {
                stamp: Stamp {
                    seq: 2,
                    sent_us: 99
                },
                offset: Some(41)
            })
        );
        assert_eq!(
            classify(Protocol::CatalogCache, "other", event),
            Received::Other
        );
        assert!(matches!(
            classify(
                Protocol::CatalogCache,
                "t",
                r#"{"type":"error","code":"bad_topic","message":"x"}"#
            ),
            Received::Error(_)
        ));
        assert_eq!(
            classify(Protocol::CatalogCache, "t", r#"{"type":"resync"}"#),
            Received::Resync
        );
        assert_eq!(
            classify(Protocol::CatalogCache, "t", "not json"),
            Received::Other
        );
    }
}
