//! The loader: one actor per instance that runs every L1 miss and refresh.
//!
//! Single-flight: concurrent loads of one key share one flight (one L2 read, at most
//! one database query); a load that has seen an invalidation the running flight has not
//! starts a new flight instead of joining it. Across instances a short Redis lock lets
//! one request per key go to PostgreSQL while the others wait briefly for its L2 fill.
//! Flights run as spawned tasks and report back with `Landed`, so the actor never
//! blocks.

use std::collections::hash_map::Entry as Slot;
use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::actor::{CacheActor, Refreshed};
use super::entry::Entry;
use super::fetch::fetch;
use super::service::Shared;
use super::stats::Counters;
use super::{warm, CacheError, CacheKey, Source, Tier};

/// Loads queued before senders wait.
const MAILBOX: usize = 4096;

/// What a load found.
#[derive(Debug, Clone)]
pub enum Outcome {
    Found { entry: Arc<Entry>, tier: Tier },
    NotFound,
}

pub type LoadResult = Result<Outcome, CacheError>;

/// Load a key through L2 and PostgreSQL (`epoch`: the invalidation epoch the caller saw).
#[derive(Message)]
#[rtype(result = "Result<Outcome, CacheError>")]
pub struct Load {
    pub source: Source,
    pub epoch: u64,
}

/// Refresh a stale key in the background and hand the result to `reply_to`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Refresh {
    pub source: Source,
    pub epoch: u64,
    pub reply_to: Addr<CacheActor>,
}

/// A flight has finished (sent by the flight's own task).
#[derive(Message)]
#[rtype(result = "()")]
struct Landed {
    key: CacheKey,
    flight: u64,
    result: LoadResult,
}

struct Flight {
    id: u64,
    epoch: u64,
    source: Source,
    refresh: bool,
    waiters: Vec<oneshot::Sender<LoadResult>>,
    refreshers: Vec<Addr<CacheActor>>,
}

pub struct Loader {
    shared: Arc<Shared>,
    next_flight: u64,
    flights: HashMap<CacheKey, Flight>,
    /// Flights replaced by a newer one after an invalidation, still owed to their
    /// waiters.
    superseded: HashMap<u64, Flight>,
}

impl Loader {
    pub fn new(shared: Arc<Shared>) -> Loader {
        Loader {
            shared,
            next_flight: 0,
            flights: HashMap::new(),
            superseded: HashMap::new(),
        }
    }

    /// Joins the key's flight when it is recent enough, or starts one.
    fn flight_for(
        &mut self,
        source: Source,
        seen_epoch: u64,
        refresh: bool,
        ctx: &mut Context<Self>,
    ) -> &mut Flight {
        let key = source.key();
        match self.flights.entry(key.clone()) {
            Slot::Occupied(slot) if slot.get().epoch >= seen_epoch => {
                if !refresh {
                    Counters::bump(&self.shared.counters.coalesced);
                }
                slot.into_mut()
            }
            slot => {
                self.next_flight += 1;
                let (id, epoch) = (self.next_flight, self.shared.epoch());
                let flight = Flight {
                    id,
                    epoch,
                    source: source.clone(),
                    refresh,
                    waiters: Vec::new(),
                    refreshers: Vec::new(),
                };
                let (shared, me) = (self.shared.clone(), ctx.address());
                actix_rt::spawn(async move {
                    let result = fetch(&shared, &source, epoch, refresh).await;
                    // The actor only goes away with the system; nothing to deliver then.
                    let _ = me
                        .send(Landed {
                            key,
                            flight: id,
                            result,
                        })
                        .await;
                });
                match slot {
                    Slot::Occupied(mut older) => {
                        let old = older.insert(flight);
                        self.superseded.insert(old.id, old);
                        older.into_mut()
                    }
                    Slot::Vacant(empty) => empty.insert(flight),
                }
            }
        }
    }
}

impl Actor for Loader {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
    }
}

impl Handler<Load> for Loader {
    type Result = ResponseFuture<LoadResult>;

    fn handle(&mut self, msg: Load, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.flight_for(msg.source, msg.epoch, false, ctx)
            .waiters
            .push(tx);
        Box::pin(async move { rx.await.unwrap_or(Err(CacheError::ActorGone)) })
    }
}

impl Handler<Refresh> for Loader {
    type Result = ();

    fn handle(&mut self, msg: Refresh, ctx: &mut Self::Context) {
        self.flight_for(msg.source, msg.epoch, true, ctx)
            .refreshers
            .push(msg.reply_to);
    }
}

impl Handler<Landed> for Loader {
    type Result = ();

    fn handle(&mut self, msg: Landed, ctx: &mut Self::Context) {
        let flight = match self.flights.get(&msg.key) {
            Some(f) if f.id == msg.flight => self.flights.remove(&msg.key),
            _ => self.superseded.remove(&msg.flight),
        };
        let Some(flight) = flight else { return };
        let fresh = match &msg.result {
            Ok(Outcome::Found { entry, tier }) if *tier != Tier::Stale => Some(entry.clone()),
            _ => None,
        };
        let gone = matches!(msg.result, Ok(Outcome::NotFound));
        for reply_to in flight.refreshers {
            let _ = reply_to.try_send(Refreshed {
                key: msg.key.clone(),
                entry: fresh.clone(),
                gone,
                epoch: flight.epoch,
            });
        }
        for waiter in flight.waiters {
            let _ = waiter.send(msg.result.clone());
        }
        let served_stale_l2 = matches!(
            &msg.result,
            Ok(Outcome::Found {
                tier: Tier::Stale,
                ..
            })
        );
        if served_stale_l2 && !flight.refresh && !self.flights.contains_key(&msg.key) {
            // Waiters got the stale L2 entry; now one refresh replaces it.
            self.flight_for(flight.source, flight.epoch, true, ctx);
        }
    }
}

/// Preload the `count` most popular products (or, with no popularity yet, the most
/// recently updated) into L2 and every worker's L1; answers how many were loaded.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Warm {
    pub count: u32,
}

impl Handler<Warm> for Loader {
    type Result = ResponseFuture<usize>;

    fn handle(&mut self, msg: Warm, _: &mut Self::Context) -> Self::Result {
        let shared = self.shared.clone();
        Box::pin(async move { warm::warm(shared, msg.count).await })
    }
}
