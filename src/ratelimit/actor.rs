//! The `RateLimiter` actor: the checks of one worker go to Redis in script runs, or to
//! the fallback.
//!
//! One actor per actix worker, started on that worker's thread, calling Redis over that
//! thread's own connection (`RedisClient::run_local`): a check involves no other thread
//! (measured in docs/PERFORMANCE.md).
//!
//! Group commit: one script run is in flight per actor at a time, and the checks that
//! arrive meanwhile go together in the next run (at most `batch_max`; with 1, each check
//! is its own run, sent at once). A check is sent after the messages already waiting in
//! the mailbox are taken, so checks that arrive in one turn of the event loop share a run
//! even when none is in flight. The script decides
//! them one after another, each request's policies atomically, in one atomic run, so
//! counting stays exact; what is shared is the cost of a script call, which dominates a
//! check (docs/PERFORMANCE.md). An idle worker sends a lone check at once, so latency is
//! one round trip as before. Pending checks are bounded by the requests the worker holds
//! open (each waits for its answer), and the mailbox is bounded.
//!
//! The local fallback is shared by the instance's actors, so the per-instance limit holds
//! while Redis is down; it is touched only then (see `local` for its bound and locking).

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::local::{LocalCheck, LocalLimiter};
use super::policy::Algorithm;
use super::script::{command, decode};
use super::{Decision, LimiterStats};
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

/// Asks whether one request may pass every given policy, using its quota only if so.
/// The answer goes to `reply`; `None` means the fallback let it through unlimited (fail
/// open).
///
/// The request brings its own reply channel rather than awaiting the message's result:
/// an asynchronous handler's result would cost a task spawned per check to carry it
/// (measured in docs/PERFORMANCE.md).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Check {
    pub keys: Vec<CheckKey>,
    pub reply: oneshot::Sender<Option<Decision>>,
}

impl Check {
    /// A check for these policy states, and where its answer will arrive (closed without
    /// an answer only if the actor stopped).
    pub fn new(keys: Vec<CheckKey>) -> (Check, oneshot::Receiver<Option<Decision>>) {
        let (reply, answer) = oneshot::channel();
        (Check { keys, reply }, answer)
    }
}

/// A check waiting for the next script run.
struct Pending {
    keys: Vec<CheckKey>,
    member: String,
    reply: oneshot::Sender<Option<Decision>>,
}

/// Owns the script, the request-member counter, the pending checks and the fallback.
pub struct RateLimiter {
    redis: RedisClient,
    script: Arc<redis::Script>,
    fallback: RateLimitFallback,
    local: LocalLimiter,
    instance: String,
    sequence: u64,
    stats: Arc<LimiterStats>,
    pending: Vec<Pending>,
    /// Script runs awaiting their reply.
    in_flight: usize,
    /// A flush is due once the mailbox is drained.
    flush_due: bool,
    batch_max: usize,
}

impl RateLimiter {
    pub fn new(
        redis: RedisClient,
        fallback: RateLimitFallback,
        stats: Arc<LimiterStats>,
        local: LocalLimiter,
        batch_max: usize,
    ) -> Self {
        RateLimiter {
            redis,
            script: Arc::new(redis::Script::new(super::script::SOURCE)),
            fallback,
            local,
            // Members are `actor-id:sequence`: unique across actors and instances and
            // within one millisecond, unlike the reference design's bare timestamp.
            instance: uuid::Uuid::new_v4().simple().to_string(),
            sequence: 0,
            stats,
            pending: Vec::new(),
            in_flight: 0,
            flush_due: false,
            batch_max: batch_max.max(1),
        }
    }

    /// Sends the pending checks (up to `batch_max`) in one script run, unless one is in
    /// flight; when it lands, the next batch goes. With `batch_max = 1` every check is
    /// sent at once, runs overlapping on the connection (one run per request).
    fn flush(&mut self, ctx: &mut Context<Self>) {
        while !self.pending.is_empty() && (self.batch_max == 1 || self.in_flight == 0) {
            self.send_batch(ctx);
        }
    }

    /// One script run for the oldest pending checks; answers them when it lands.
    fn send_batch(&mut self, ctx: &mut Context<Self>) {
        self.in_flight += 1;
        let take = self.pending.len().min(self.batch_max);
        let batch: Vec<Pending> = self.pending.drain(..take).collect();
        let (requests, replies): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|p| ((p.keys, p.member), p.reply))
            .unzip();
        let call = command(self.script.get_hash(), &requests);
        let (redis, script) = (self.redis.clone(), self.script.clone());
        let run = async move {
            redis
                .run_local(|mut c| async move {
                    match call.query_async(&mut c).await {
                        // Not in Redis's script cache (a restarted or new server): load it
                        // and run the call again, once.
                        Err(e) if e.kind() == redis::ErrorKind::NoScriptError => {
                            script.load_async(&mut c).await?;
                            call.query_async(&mut c).await
                        }
                        other => other,
                    }
                })
                .await
        };
        ctx.spawn(
            run.into_actor(self)
                .map(move |raw: Result<Vec<i64>, RedisError>, act, ctx| {
                    act.in_flight -= 1;
                    let sizes: Vec<usize> = requests.iter().map(|(k, _)| k.len()).collect();
                    let decisions = match raw {
                        Ok(raw) => decode(&raw, &sizes).ok_or_else(|| {
                            RedisError::Command(redis::RedisError::from((
                                redis::ErrorKind::TypeError,
                                "unexpected rate-limit script reply",
                            )))
                        }),
                        Err(e) => Err(e),
                    };
                    match decisions {
                        Ok(all) => {
                            for (decision, reply) in all.into_iter().zip(replies) {
                                act.answer(reply, Some(decision));
                            }
                        }
                        Err(e) => {
                            for ((keys, _), reply) in requests.iter().zip(replies) {
                                let decision = act.fall_back(keys, &e);
                                act.answer(reply, decision);
                            }
                        }
                    }
                    act.flush(ctx);
                }),
        );
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

    fn answer(&self, reply: oneshot::Sender<Option<Decision>>, decision: Option<Decision>) {
        match &decision {
            Some(d) if !d.allowed => self.stats.count(&self.stats.rejected),
            _ => self.stats.count(&self.stats.allowed),
        }
        // The request may be gone (client disconnected): nothing to tell.
        let _ = reply.send(decision);
    }
}

impl Actor for RateLimiter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

impl Handler<Check> for RateLimiter {
    type Result = ();

    fn handle(&mut self, msg: Check, ctx: &mut Self::Context) {
        // Only a sliding-log entry needs a name; GCRA counts without one.
        let member = if msg
            .keys
            .iter()
            .any(|k| k.algorithm == Algorithm::SlidingLog)
        {
            self.sequence += 1;
            format!("{}:{}", self.instance, self.sequence)
        } else {
            String::new()
        };
        self.pending.push(Pending {
            keys: msg.keys,
            member,
            reply: msg.reply,
        });
        // Not at once: after the checks already in the mailbox, so the requests that
        // arrived together go together (actix polls spawned futures after the mailbox).
        if !self.flush_due {
            self.flush_due = true;
            ctx.spawn(actix::fut::ready(()).map(|(), act: &mut Self, ctx| {
                act.flush_due = false;
                act.flush(ctx);
            }));
        }
    }
}
