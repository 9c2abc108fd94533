//! The scheduler's graceful stop. It runs beside the actor, so the heartbeats go on
//! renewing the leases of the jobs that are finishing: the grace period may outlast a
//! lease, and a lapsed lease would let another instance run the job a second time.

use std::time::Duration;

use actix::prelude::*;

use super::Scheduler;

/// Graceful stop: no new jobs; running ones get the grace period, the rest go back to
/// waiting. Answers how many were returned.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Shutdown;

impl Handler<Shutdown> for Scheduler {
    /// Runs beside the actor, whose heartbeats keep renewing the leases meanwhile.
    type Result = ResponseActFuture<Self, usize>;

    fn handle(&mut self, _: Shutdown, _: &mut Self::Context) -> Self::Result {
        self.stopping = true;
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.settings.shutdown_grace_ms);
        let mut running = Vec::new();
        for (index, queue) in self.queues.iter_mut().enumerate() {
            for (token, r) in &mut queue.running {
                if let Some(task) = r.task.take() {
                    running.push((index, queue.name, r.id.clone(), token.clone(), task));
                }
            }
        }
        let store = self.store.clone();
        let stop = async move {
            let (mut aborted, mut returned) = (Vec::new(), 0);
            for (index, queue, id, token, mut task) in running {
                if tokio::time::timeout_at(deadline, &mut task).await.is_ok() {
                    continue;
                }
                task.abort();
                match store.release(queue, &id, &token).await {
                    Ok(true) => returned += 1,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(queue, job_id = %id, error = %e, "could not return the job; its lease will lapse")
                    }
                }
                aborted.push((index, token));
            }
            (aborted, returned)
        };
        Box::pin(stop.into_actor(self).map(|(aborted, returned), act, _| {
            // Aborted runs send no `Finished`: stop renewing their leases here.
            for (index, token) in &aborted {
                if let Some(queue) = act.queues.get_mut(*index) {
                    queue.running.remove(token);
                }
            }
            tracing::info!(returned, "job scheduler stopped");
            returned
        }))
    }
}
