//! The `RateLimiter` actor: one Lua script round trip per check, or the fallback.
//!
//! One actor per actix worker, started on that worker's thread, calling Redis over that
//! thread's own connection (`RedisClient::run_local`): a check involves no other thread
//! (measured in docs/PERFORMANCE.md). The Redis call runs as an actor future that does not
//! hold the actor, so checks overlap. The mailbox is bounded, and `Addr::send` waits for
//! room, so a flood slows callers rather than growing a queue.
//!
//! The local fallback is shared by the instance's actors, so the per-instance limit holds
//! while Redis is down; it is touched only then (see `local` for its bound and locking).

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

use super::local::{LocalCheck, LocalLimiter};
use super::policy::Algorithm;
use super::{Decision, LimiterStats, PolicyState};
use crate::configuration::RateLimitFallback;
use crate::redis_client::{RedisClient, RedisError};

const MAILBOX_CAPACITY: usize = 4096;

/// One policy state to check: its full key, limit, window and algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckKey {
    pub key: String,
    pub limit: u32,
    pub window_ms: u64,
    pub algorithm: Algorithm,
}

/// Asks whether one request may pass every given policy, using its quota only if so;
/// `None` means the fallback let it through unlimited (fail open).
#[derive(Debug, Message)]
#[rtype(result = "Option<Decision>")]
pub struct Check {
    pub keys: Vec<CheckKey>,
}

/// Owns the script, the request-member counter and the local fallback.
pub struct RateLimiter {
    redis: RedisClient,
    script: Arc<redis::Script>,
    fallback: RateLimitFallback,
    local: LocalLimiter,
    instance: String,
    sequence: u64,
    stats: Arc<LimiterStats>,
}

impl RateLimiter {
    pub fn new(
        redis: RedisClient,
        fallback: RateLimitFallback,
        stats: Arc<LimiterStats>,
        local: LocalLimiter,
    ) -> Self {
        RateLimiter {
            redis,
            script: Arc::new(redis::Script::new(include_str!("script.lua"))),
            fallback,
            local,
            // Members are `actor-id:sequence`: unique across actors and instances and
            // within one millisecond, unlike the reference design's bare timestamp.
            instance: uuid::Uuid::new_v4().simple().to_string(),
            sequence: 0,
            stats,
        }
    }

    fn fall_back(&mut self, keys: &[CheckKey], error: &RedisError) -> Option<Decision> {
        self.stats.count(&self.stats.fallbacks);
        tracing::warn!(error = %error, fallback = ?self.fallback, "rate limiter cannot reach redis");
        match self.fallback {
            RateLimitFallback::FailOpen => None,
            RateLimitFallback::Local => {
                let checks: Vec<LocalCheck<'_>> = keys
                    .iter()
                    .map(|k| LocalCheck {
                        key: &k.key,
                        limit: k.limit,
                        window_ms: k.window_ms,
                        algorithm: k.algorithm,
                    })
                    .collect();
                Some(self.local.check(&checks, Instant::now()))
            }
        }
    }

    fn record(&self, decision: &Option<Decision>) {
        match decision {
            Some(d) if !d.allowed => self.stats.count(&self.stats.rejected),
            _ => self.stats.count(&self.stats.allowed),
        }
    }
}

impl Actor for RateLimiter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

/// Parses the script's `{allowed, remaining, reset_ms, ...}`.
fn decode(raw: &[i64], policies: usize) -> Option<Decision> {
    let (allowed, rest) = raw.split_first()?;
    if rest.len() != policies * 2 {
        return None;
    }
    let states = rest
        .chunks_exact(2)
        .map(|pair| PolicyState {
            remaining: pair[0].max(0) as u64,
            reset_ms: pair[1].max(0) as u64,
        })
        .collect();
    Some(Decision {
        allowed: *allowed == 1,
        states,
    })
}

impl Handler<Check> for RateLimiter {
    type Result = ResponseActFuture<Self, Option<Decision>>;

    fn handle(&mut self, msg: Check, _ctx: &mut Self::Context) -> Self::Result {
        self.sequence += 1;
        let member = format!("{}:{}", self.instance, self.sequence);
        let redis = self.redis.clone();
        let script = self.script.clone();
        // Shared, not cloned: the Redis call and the fallback both read them.
        let keys: Arc<[CheckKey]> = msg.keys.into();
        let ask = keys.clone();
        let call = async move {
            let raw: Result<Vec<i64>, RedisError> = redis
                .run_local(|mut c| async move {
                    let mut invocation = script.prepare_invoke();
                    for k in ask.iter() {
                        invocation.key(&k.key);
                    }
                    invocation.arg(member);
                    for k in ask.iter() {
                        let algorithm = match k.algorithm {
                            Algorithm::SlidingLog => "l",
                            Algorithm::Gcra => "g",
                        };
                        invocation.arg(algorithm).arg(k.limit).arg(k.window_ms);
                    }
                    invocation.invoke_async(&mut c).await
                })
                .await;
            raw
        };
        Box::pin(call.into_actor(self).map(move |raw, act, _| {
            let decision = match raw {
                Ok(raw) => match decode(&raw, keys.len()) {
                    Some(d) => Some(d),
                    None => {
                        let e = RedisError::Command(redis::RedisError::from((
                            redis::ErrorKind::TypeError,
                            "unexpected rate-limit script reply",
                        )));
                        act.fall_back(&keys, &e)
                    }
                },
                Err(e) => act.fall_back(&keys, &e),
            };
            act.record(&decision);
            decision
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_replies_decode_per_policy() {
        let d = decode(&[1, 9, 1000, 0, 250], 2).unwrap();
        assert!(d.allowed);
        assert_eq!(
            d.states[1],
            PolicyState {
                remaining: 0,
                reset_ms: 250
            }
        );
        assert!(decode(&[0, 1], 1).is_none());
        assert!(decode(&[], 0).is_none());
    }
}
