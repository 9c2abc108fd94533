//! The seam between the job queues and the metrics.
//!
//! The queues report through [`QueueStatsSource`], held in `AppState::queues`. Until the
//! job queue is wired in, start-up installs [`NoQueues`], so `queues` is `{}` in the JSON
//! and no `queue_*` series exist: plug the queue in by implementing the trait for its
//! handle and passing it to `AppState` in `startup.rs` (one line), nothing else changes.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// One queue's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueFigures {
    /// Jobs in each state now (e.g. `waiting`, `active`, `delayed`, `failed`): the
    /// gauge `queue_jobs{queue,state}`.
    pub depths: BTreeMap<String, u64>,
    /// Jobs finished per outcome since start-up (e.g. `completed`, `failed`,
    /// `retried`): the counter `queue_job_outcomes_total{queue,outcome}`.
    pub outcomes: BTreeMap<String, u64>,
}

/// Something that can report every queue's figures, by queue name.
pub trait QueueStatsSource: Send + Sync {
    fn queue_stats(&self) -> BoxFuture<'_, BTreeMap<String, QueueFigures>>;
}

/// No job queues in this build yet: reports none.
pub struct NoQueues;

impl QueueStatsSource for NoQueues {
    fn queue_stats(&self) -> BoxFuture<'_, BTreeMap<String, QueueFigures>> {
        Box::pin(std::future::ready(BTreeMap::new()))
    }
}
