//! Caps on open WebSockets, per client address and in total, checked at the handshake.
//! The address is the rate limiter's identity (`ratelimit::identity`: `X-Forwarded-For`
//! believed only from trusted proxies, read from the right; IPv6 grouped by network).
//!
//! A plain mutex over a map rather than an actor: the check is a few nanoseconds, it must
//! answer the handshake synchronously, and its release runs in `Drop` (a guard owned by
//! the connection's task), which cannot await a mailbox. A `std` mutex, because nothing
//! is held across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::HttpRequest;

use crate::configuration::Settings;
use crate::ratelimit::identity::{BadProxy, TrustedProxies};

/// Why a handshake is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("too many WebSocket connections from this address")]
    PerClient,
    #[error("too many WebSocket connections on this instance")]
    Total,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_client: HashMap<String, usize>,
}

/// The instance's open WebSockets, counted; cheap to clone.
#[derive(Clone)]
pub struct Admission {
    max_total: usize,
    max_per_client: usize,
    proxies: TrustedProxies,
    ipv6_prefix_len: u8,
    counts: Arc<Mutex<Counts>>,
}

/// One admitted connection; dropping it, however the connection ends, frees its place.
pub struct Admitted {
    client: String,
    counts: Arc<Mutex<Counts>>,
}

impl Admission {
    /// From `realtime.max_connections*` and the rate limiter's identity settings.
    pub fn from_settings(settings: &Settings) -> Result<Admission, BadProxy> {
        let mut admission = Admission::new(
            settings.realtime.max_connections,
            settings.realtime.max_connections_per_ip,
        );
        admission.proxies = TrustedProxies::parse(&settings.rate_limit.trusted_proxies)?;
        admission.ipv6_prefix_len = settings.rate_limit.ipv6_prefix_len;
        Ok(admission)
    }

    fn new(max_total: usize, max_per_client: usize) -> Admission {
        Admission {
            max_total,
            max_per_client,
            proxies: TrustedProxies::default(),
            ipv6_prefix_len: 64,
            counts: Arc::default(),
        }
    }

    /// The client a handshake counts under, as the rate limiter names it.
    pub fn client_of(&self, req: &HttpRequest) -> String {
        self.proxies
            .request_identity(req.peer_addr(), req.headers(), self.ipv6_prefix_len)
    }

    /// Takes a place for `client` (its identity, as the rate limiter spells it), or says
    /// which cap is reached. The total is checked first: a full instance is full for all.
    pub fn admit(&self, client: &str) -> Result<Admitted, Refused> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.total >= self.max_total {
            return Err(Refused::Total);
        }
        let held = counts.per_client.get(client).copied().unwrap_or(0);
        if held >= self.max_per_client {
            return Err(Refused::PerClient);
        }
        counts.total += 1;
        counts.per_client.insert(client.to_string(), held + 1);
        Ok(Admitted {
            client: client.to_string(),
            counts: self.counts.clone(),
        })
    }

    /// Open WebSockets on this instance right now.
    pub fn open(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(held) = counts.per_client.get_mut(&self.client) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                counts.per_client.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_per_client_and_in_total_and_a_drop_frees_the_place() {
        let admission = Admission::new(3, 2);
        let a1 = admission.admit("a").unwrap();
        let _a2 = admission.admit("a").unwrap();
        assert_eq!(admission.admit("a").err(), Some(Refused::PerClient));
        let _b1 = admission.admit("b").unwrap();
        assert_eq!(admission.admit("c").err(), Some(Refused::Total));
        assert_eq!(admission.open(), 3);

        drop(a1);
        assert_eq!(admission.open(), 2);
        let _a3 = admission.admit("a").unwrap();
    }

    #[test]
    fn a_client_with_no_connection_left_is_forgotten() {
        let admission = Admission::new(10, 1);
        drop(admission.admit("a").unwrap());
        let counts = admission.counts.lock().unwrap();
        assert!(counts.per_client.is_empty());
        assert_eq!(counts.total, 0);
    }
}
