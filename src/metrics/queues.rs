//! The seam between the job queues and the metrics.
//!
//! The queues report through [`QueueStatsSource`], held in `AppState::queues`: the job
//! scheduler's handle in the service, [`NoQueues`] where there are none (unit tests).

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

/// The job queues report what `GET /admin/queues` shows: the jobs in each state now, and
/// the jobs finished in the last minute (the queue keeps no all-time outcome counters, and
/// its completed set is trimmed, so every figure here is a gauge). A queue Redis cannot
/// answer for is left out rather than shown as empty.
impl QueueStatsSource for crate::jobs::Jobs {
    fn queue_stats(&self) -> BoxFuture<'_, BTreeMap<String, QueueFigures>> {
        Box::pin(async move {
            let Ok(all) = self.stats().await else {
                return BTreeMap::new();
            };
            all.into_iter()
                .map(|q| {
                    let depths = [
                        ("waiting", q.waiting),
                        ("active", q.active),
                        ("delayed", q.delayed),
                        ("completed", q.completed),
                        ("failed", q.failed),
                        ("processed_last_minute", q.processed_per_minute),
                    ]
                    .into_iter()
                    .map(|(state, n)| (state.to_string(), n))
                    .collect();
                    let figures = QueueFigures {
                        depths,
                        outcomes: BTreeMap::new(),
                    };
                    (q.name, figures)
                })
                .collect()
        })
    }
}
