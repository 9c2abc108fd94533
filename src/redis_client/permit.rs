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
