//! Mending a gap: live events wait while the history after the last delivered offset is
//! read, then the missed events go out in order, then the waiting ones the replay did not
//! already deliver.

use actix::{ActorFutureExt, AsyncContext, Context, WrapFuture};

use super::Hub;
use crate::pubsub::{history_after, EventError, History, ProductEvent};
use crate::ws::continuity::Step;

impl Hub {
    /// One live event, in order: delivered, or held behind a history read it started.
    pub(super) fn live(&mut self, event: ProductEvent, ctx: &mut Context<Self>) {
        match self.continuity.step(event.epoch.as_deref(), event.offset) {
            Step::Next => self.fan_out(&event),
            Step::Gap { after } if !self.clients.is_empty() => {
                tracing::warn!(
                    after,
                    offset = event.offset,
                    "product events missed: replaying"
                );
                self.mend(after, vec![event], ctx);
            }
            Step::Gap { .. } => self.fan_out(&event),
            Step::Reset => {
                tracing::warn!(offset = event.offset, "product history restarted: resync");
                self.resync_all();
                self.fan_out(&event);
            }
        }
    }

    /// Reads the history after `after`, holding live events (starting with `held`) until
    /// it answers.
    pub(super) fn mend(&mut self, after: u64, held: Vec<ProductEvent>, ctx: &mut Context<Self>) {
        self.held = Some(held);
        let generation = self.generation;
        let redis = self.redis.clone();
        let read = async move { history_after(&redis, after).await }
            .into_actor(self)
            .map(move |history, hub, ctx| {
                if hub.generation == generation {
                    hub.mended(after, history, ctx);
                }
            });
        ctx.spawn(read);
    }

    /// Delivers the missed events (or `resync` when they are gone), then the held ones
    /// the replay did not already deliver.
    fn mended(
        &mut self,
        after: u64,
        history: Result<History, EventError>,
        ctx: &mut Context<Self>,
    ) {
        // The replay delivers (after, replayed]; a held event in that range is a copy.
        let mut replayed = after;
        match history {
            // A history of another epoch: Redis restarted empty and its counter already
            // passed ours, so these are not the events missed.
            Ok(History::Events(events))
                if events
                    .iter()
                    .any(|e| self.continuity.other_epoch(e.epoch.as_deref())) =>
            {
                self.resync_all();
            }
            Ok(History::Events(events)) => {
                for event in &events {
                    self.fan_out(event);
                    replayed = replayed.max(event.offset);
                }
            }
            Ok(History::TooOld) => self.resync_all(),
            Err(error) => {
                tracing::warn!(%error, "product history unreadable: resync");
                self.resync_all();
            }
        }
        for event in self.held.take().unwrap_or_default() {
            if let Some(waiting) = self.held.as_mut() {
                // Another gap started a read: the remaining events wait for it too.
                waiting.push(event);
            } else if !(after < event.offset && event.offset <= replayed) {
                self.live(event, ctx);
            }
        }
    }
}
