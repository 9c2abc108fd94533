//! The breaker's admission as a drop guard: a call the breaker let through always
//! reports back, even when its future is dropped half-way (the client went away, an
//! outer timeout fired, a panic unwound). An unreported half-open probe would otherwise
//! keep the breaker failing every call for good.

use std::time::Instant;

use super::breaker::Admission;
use super::{Inner, RedisError};

/// One admitted call, reported exactly once: by [`Permit::report`], or on drop.
pub(super) struct Permit<'a> {
    inner: &'a Inner,
    admission: Admission,
    reported: bool,
}

impl<'a> Permit<'a> {
    /// Asks the breaker; `CircuitOpen` when it fails the call fast.
    pub(super) fn acquire(inner: &'a Inner) -> Result<Permit<'a>, RedisError> {
        let admission = inner
            .breaker()
            .allow(Instant::now())
            .ok_or(RedisError::CircuitOpen)?;
        Ok(Permit {
            inner,
            admission,
            reported: false,
        })
    }

    /// Tells the breaker how the call went: outages count as failures, anything Redis
    /// answered (even an error reply) as success.
    pub(super) fn report<T>(mut self, result: &Result<T, RedisError>) {
        self.reported = true;
        match result {
            Err(e) if e.is_outage() => self
                .inner
                .breaker()
                .on_failure(self.admission, Instant::now()),
            _ => {
                let recovered = self.inner.breaker().on_success();
                if recovered {
                    self.inner.on_recovered();
                }
            }
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.reported {
            self.inner.breaker().on_abandoned(self.admission);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;

    use tokio::sync::OnceCell;

    use super::*;
    use crate::redis_client::breaker::Breaker;
    use crate::redis_client::Keyspace;

    /// A client that never connects, with a breaker that opens on one failure and is
    /// half-open again at once.
    fn inner() -> Inner {
        Inner {
            id: 0,
            client: redis::Client::open("redis://127.0.0.1:1").unwrap(),
            connection: OnceCell::new(),
            keyspace: Keyspace::new("t:"),
            timeout: Duration::from_millis(50),
            breaker: Mutex::new(Breaker::new(1, Duration::ZERO, Duration::from_secs(60))),
            recoveries: AtomicU64::new(0),
        }
    }

    #[test]
    fn a_probe_dropped_unreported_lets_the_next_call_probe() {
        let inner = inner();
        Permit::acquire(&inner)
            .unwrap()
            .report::<()>(&Err(RedisError::NotConnected));
        let probe = Permit::acquire(&inner).expect("half-open: the probe");
        assert!(Permit::acquire(&inner).is_err(), "one probe at a time");
        drop(probe);
        let next = Permit::acquire(&inner).expect("the slot was freed");
        next.report::<()>(&Ok(()));
        assert_eq!(inner.recoveries.load(Ordering::Relaxed), 1, "closed again");
    }
}
