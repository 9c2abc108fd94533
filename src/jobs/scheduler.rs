//! The scheduler actor, one per instance: it owns this instance's side of every queue.
//!
//! - Workers: for each queue it takes up to `concurrency` jobs (polling every
//!   `poll_interval_ms`, at once after an enqueue here or a job finishing, and again while
//!   batches come back full) and runs each as a task of its own.
//! - Leases: every `heartbeat_interval_ms` it renews the leases of its running jobs (until
//!   each ends, through a graceful stop too) and returns jobs whose lease lapsed (their
//!   instance died) to waiting.
//! - Cron: every `cron_check_interval_ms` it enqueues the schedules' due ticks, once per
//!   tick across instances; a tick that failed (Redis down) is tried again next check.
//! - Outbox: every `outbox_interval_ms`, and when a write nudges it, it relays outbox rows.
//! - Shutdown: it stops taking jobs, gives running ones `shutdown_grace_ms`, and returns
//!   the rest to waiting.
//!
//! Handlers reach it through [`Jobs`] by messages; Redis work runs in futures that hold
//! a clone of the store, so a slow Redis never blocks the actor's mailbox.

mod shutdown;

pub use shutdown::Shutdown;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::cron::Schedule;
use super::job::{FailedJob, JobOptions, QueueStats, TakenJob};
use super::queue::{JobAction, QueueStore};
use super::worker::{self, Runner};
use super::{outbox, queue_settings, JobsError, QUEUES};
use crate::configuration::{JobsSettings, QueueSettings};
use crate::db::DbPool;

/// One queue as this instance runs it.
struct QueueRuntime {
    name: &'static str,
    settings: QueueSettings,
    /// Lease token → the run it belongs to. By token, not job id: a job whose lease
    /// lapsed can be taken again here while its first run goes on, and the first run's
    /// end must not end the second's renewals.
    running: HashMap<String, Running>,
    /// A take is in flight.
    fetching: bool,
}

struct Running {
    id: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// One cron schedule and how far it has been handled.
struct CronState {
    schedule: Schedule,
    /// Ticks up to here are enqueued (by this instance or another).
    done_until: DateTime<Utc>,
    busy: bool,
}

/// The actor; start it with [`Jobs::start`].
pub struct Scheduler {
    store: QueueStore,
    runner: Arc<Runner>,
    db: DbPool,
    settings: Arc<JobsSettings>,
    worker_id: Arc<str>,
    queues: Vec<QueueRuntime>,
    schedules: Vec<CronState>,
    relaying: bool,
    relay_again: bool,
    stopping: bool,
}

/// A cheap, cloneable handle on the instance's scheduler.
#[derive(Clone)]
pub struct Jobs {
    addr: Addr<Scheduler>,
    settings: Arc<JobsSettings>,
}

impl Jobs {
    /// Starts the scheduler on the current arbiter.
    pub fn start(
        store: QueueStore,
        runner: Runner,
        db: DbPool,
        settings: JobsSettings,
        worker_id: Arc<str>,
    ) -> anyhow::Result<Jobs> {
        let schedules = settings
            .schedules
            .iter()
            .map(|s| Schedule::parse(s).map_err(|e| anyhow::anyhow!(e)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let now = Utc::now();
        let queues = QUEUES
            .iter()
            .filter_map(|&name| {
                queue_settings(&settings, name).map(|s| QueueRuntime {
                    name,
                    settings: s.clone(),
                    running: HashMap::new(),
                    fetching: false,
                })
            })
            .collect();
        let settings = Arc::new(settings);
        let scheduler = Scheduler {
            store,
            runner: Arc::new(runner),
            db,
            settings: settings.clone(),
            worker_id,
            queues,
            schedules: schedules
                .into_iter()
                .map(|schedule| CronState {
                    schedule,
                    done_until: now,
                    busy: false,
                })
                .collect(),
            relaying: false,
            relay_again: false,
            stopping: false,
        };
        let addr = scheduler.start();
        Ok(Jobs { addr, settings })
    }

    /// The queue's default options (attempts, backoff, keep), or `UnknownQueue`.
    pub fn options(&self, queue: &str) -> Result<JobOptions, JobsError> {
        queue_settings(&self.settings, queue)
            .map(JobOptions::from_queue)
            .ok_or_else(|| JobsError::UnknownQueue(queue.to_string()))
    }

    /// Adds a job; answers its id.
    pub async fn enqueue(
        &self,
        queue: &str,
        payload: serde_json::Value,
        options: JobOptions,
    ) -> Result<String, JobsError> {
        self.addr
            .send(Enqueue {
                queue: queue.to_string(),
                payload,
                options,
            })
            .await?
    }

    /// Counts per queue.
    pub async fn stats(&self) -> Result<Vec<QueueStats>, JobsError> {
        self.addr.send(Stats).await?
    }

    /// The newest `limit` failed jobs of a queue.
    pub async fn failed(&self, queue: &str, limit: u32) -> Result<Vec<FailedJob>, JobsError> {
        self.addr
            .send(Failed {
                queue: queue.to_string(),
                limit,
            })
            .await?
    }

    /// Moves a failed job back to waiting.
    pub async fn retry(&self, queue: &str, id: &str) -> Result<(), JobsError> {
        let action = self.addr.send(Retry(job_ref(queue, id))).await??;
        action_result(action, queue, id)
    }

    /// Removes a job that is not running.
    pub async fn remove(&self, queue: &str, id: &str) -> Result<(), JobsError> {
        let action = self.addr.send(Remove(job_ref(queue, id))).await??;
        action_result(action, queue, id)
    }

    /// Asks the relay to look at the outbox now (after a write).
    pub fn nudge_outbox(&self) {
        self.addr.do_send(NudgeOutbox);
    }

    /// Stops taking jobs, lets running ones finish within the grace period and returns
    /// the rest to waiting; answers how many were returned.
    pub async fn shutdown(&self) -> usize {
        match self.addr.send(Shutdown).await {
            Ok(returned) => returned,
            Err(e) => {
                tracing::warn!(error = %e, "the job scheduler did not answer the shutdown");
                0
            }
        }
    }
}

fn job_ref(queue: &str, id: &str) -> JobRef {
    JobRef {
        queue: queue.to_string(),
        id: id.to_string(),
    }
}

fn action_result(action: JobAction, queue: &str, id: &str) -> Result<(), JobsError> {
    match action {
        JobAction::Done => Ok(()),
        JobAction::NoSuchJob => Err(JobsError::UnknownJob {
            queue: queue.to_string(),
            id: id.to_string(),
        }),
        JobAction::WrongState => Err(JobsError::WrongState(id.to_string())),
    }
}

impl Actor for Scheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let ms = Duration::from_millis;
        ctx.run_interval(ms(self.settings.poll_interval_ms), |act, ctx| {
            for index in 0..act.queues.len() {
                act.fetch(index, ctx);
            }
        });
        ctx.run_interval(ms(self.settings.heartbeat_interval_ms), |act, ctx| {
            act.heartbeat(ctx);
        });
        ctx.run_interval(ms(self.settings.cron_check_interval_ms), |act, ctx| {
            act.check_cron(ctx);
        });
        ctx.run_interval(ms(self.settings.outbox_interval_ms), |act, ctx| {
            act.relay(ctx);
        });
    }
}

impl Scheduler {
    fn lease(&self) -> Duration {
        Duration::from_millis(self.settings.stalled_after_ms)
    }

    fn index_of(&self, queue: &str) -> Option<usize> {
        self.queues.iter().position(|q| q.name == queue)
    }

    /// Takes as many jobs as the queue has free slots, unless a take is in flight.
    fn fetch(&mut self, index: usize, ctx: &mut Context<Self>) {
        let lease = self.lease();
        let Some(queue) = self.queues.get_mut(index) else {
            return;
        };
        let concurrency = queue.settings.concurrency as usize;
        let free = concurrency.saturating_sub(queue.running.len());
        if self.stopping || queue.fetching || free == 0 {
            return;
        }
        queue.fetching = true;
        let (store, name, worker) = (self.store.clone(), queue.name, self.worker_id.clone());
        let take = async move { store.take(name, free, lease, &worker).await };
        ctx.spawn(take.into_actor(self).map(move |taken, act, ctx| {
            if let Some(queue) = act.queues.get_mut(index) {
                queue.fetching = false;
            }
            match taken {
                Ok(jobs) => {
                    let full = jobs.len() == free;
                    for job in jobs {
                        act.start_job(index, job, ctx);
                    }
                    if full {
                        act.fetch(index, ctx);
                    }
                }
                Err(e) => tracing::debug!(queue = name, error = %e, "taking jobs failed"),
            }
        }));
    }

    /// Runs a taken job as a task; it reports back with `Finished`.
    fn start_job(&mut self, index: usize, job: TakenJob, ctx: &mut Context<Self>) {
        let Some(queue) = self.queues.get_mut(index) else {
            return;
        };
        let (store, runner, name, me) = (
            self.store.clone(),
            self.runner.clone(),
            queue.name,
            ctx.address(),
        );
        let (id, token) = (job.id.clone(), job.token.clone());
        let limit = Duration::from_millis(queue.settings.timeout_ms);
        let task = actix_rt::spawn(async move {
            let outcome = runner.run_within(name, &job, limit).await;
            worker::finish(&store, name, &job, outcome).await;
            me.do_send(Finished {
                index,
                token: job.token,
            });
        });
        queue.running.insert(
            token,
            Running {
                id,
                task: Some(task),
            },
        );
    }

    /// Renews this instance's leases and recovers every queue's stalled jobs. While
    /// stopping it still renews (running jobs have the grace period, which may outlast
    /// a lease) but leaves recovery to the instances that stay.
    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        let (lease, recover) = (self.lease(), !self.stopping);
        for queue in &self.queues {
            let store = self.store.clone();
            let name = queue.name;
            let held: Vec<(String, String)> = queue
                .running
                .iter()
                .map(|(token, r)| (r.id.clone(), token.clone()))
                .collect();
            let beat = async move {
                if !held.is_empty() {
                    if let Err(e) = store.extend(name, &held, lease).await {
                        tracing::warn!(queue = name, error = %e, "could not renew job leases");
                    }
                }
                if !recover {
                    return Ok(Vec::new());
                }
                store.recover_stalled(name).await
            };
            ctx.spawn(beat.into_actor(self).map(move |recovered, act, ctx| {
                if let Ok(ids) = recovered {
                    if !ids.is_empty() {
                        tracing::warn!(queue = name, ?ids, "stalled jobs returned to waiting");
                        if let Some(index) = act.index_of(name) {
                            act.fetch(index, ctx);
                        }
                    }
                }
            }));
        }
    }

    /// Enqueues every schedule's ticks that came due since it was last handled.
    fn check_cron(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        let now = Utc::now();
        for index in 0..self.schedules.len() {
            let state = &mut self.schedules[index];
            if state.busy {
                continue;
            }
            let ticks = state.schedule.ticks(state.done_until, now);
            if ticks.is_empty() {
                state.done_until = now;
                continue;
            }
            state.busy = true;
            let schedule = state.schedule.clone();
            let (store, settings) = (self.store.clone(), self.settings.clone());
            let enqueue = async move {
                let mut done = None;
                for tick in ticks {
                    let Some(queue) = queue_settings(&settings, &schedule.queue) else {
                        break;
                    };
                    let id = schedule.tick_id(tick);
                    let options = JobOptions::from_queue(queue).with_id(id.clone());
                    match store
                        .enqueue_tick(&schedule.queue, &schedule.payload, &options, &id)
                        .await
                    {
                        Ok(mine) => {
                            if mine {
                                tracing::info!(schedule = %schedule.name, job_id = %id, "cron tick enqueued");
                            }
                            done = Some(tick);
                        }
                        Err(e) => {
                            tracing::warn!(schedule = %schedule.name, error = %e, "cron tick not enqueued yet; retrying");
                            return (done, false);
                        }
                    }
                }
                (done, true)
            };
            ctx.spawn(enqueue.into_actor(self).map(move |(done, all), act, ctx| {
                if let Some(state) = act.schedules.get_mut(index) {
                    state.busy = false;
                    if all {
                        state.done_until = state.done_until.max(done.unwrap_or(now)).max(now);
                    } else if let Some(done) = done {
                        state.done_until = done;
                    }
                    let queue = state.schedule.queue.clone();
                    if let Some(q) = act.index_of(&queue) {
                        act.fetch(q, ctx);
                    }
                }
            }));
        }
    }

    /// Relays outbox batches until the outbox is empty (one relay at a time here).
    fn relay(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        if self.relaying {
            self.relay_again = true;
            return;
        }
        self.relaying = true;
        self.relay_again = false;
        let (db, store, settings) = (self.db.clone(), self.store.clone(), self.settings.clone());
        let batch = async move { outbox::relay_batch(&db, &store, &settings).await };
        ctx.spawn(batch.into_actor(self).map(|moved, act, ctx| {
            act.relaying = false;
            match moved {
                Ok(n) => {
                    if n > 0 {
                        tracing::debug!(moved = n, "outbox rows relayed");
                        for index in 0..act.queues.len() {
                            act.fetch(index, ctx);
                        }
                    }
                    if n as i64 == outbox::BATCH || act.relay_again {
                        act.relay(ctx);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "outbox relay failed; rows wait"),
            }
        }));
    }
}

/// Adds a job to a queue; answers its id.
#[derive(Message)]
#[rtype(result = "Result<String, JobsError>")]
pub struct Enqueue {
    pub queue: String,
    pub payload: serde_json::Value,
    pub options: JobOptions,
}

impl Handler<Enqueue> for Scheduler {
    type Result = ResponseActFuture<Self, Result<String, JobsError>>;

    fn handle(&mut self, msg: Enqueue, _: &mut Self::Context) -> Self::Result {
        let store = self.store.clone();
        let known = queue_settings(&self.settings, &msg.queue).is_some();
        let add = async move {
            if !known {
                return Err(JobsError::UnknownQueue(msg.queue));
            }
            let (id, _) = store
                .enqueue(&msg.queue, &msg.payload, &msg.options)
                .await?;
            Ok((msg.queue, id))
        };
        Box::pin(add.into_actor(self).map(|added, act, ctx| {
            let (queue, id) = added?;
            if let Some(index) = act.index_of(&queue) {
                act.fetch(index, ctx);
            }
            Ok(id)
        }))
    }
}

/// Counts of every queue this instance knows (one script run per queue).
#[derive(Message)]
#[rtype(result = "Result<Vec<QueueStats>, JobsError>")]
pub struct Stats;

impl Handler<Stats> for Scheduler {
    type Result = ResponseFuture<Result<Vec<QueueStats>, JobsError>>;

    fn handle(&mut self, _: Stats, _: &mut Self::Context) -> Self::Result {
        let store = self.store.clone();
        let names: Vec<&'static str> = self.queues.iter().map(|q| q.name).collect();
        Box::pin(async move {
            let all = names.iter().map(|name| store.stats(name));
            futures_util::future::join_all(all)
                .await
                .into_iter()
                .collect()
        })
    }
}

/// The newest failed jobs of one queue.
#[derive(Message)]
#[rtype(result = "Result<Vec<FailedJob>, JobsError>")]
pub struct Failed {
    pub queue: String,
    pub limit: u32,
}

impl Handler<Failed> for Scheduler {
    type Result = ResponseFuture<Result<Vec<FailedJob>, JobsError>>;

    fn handle(&mut self, msg: Failed, _: &mut Self::Context) -> Self::Result {
        let store = self.store.clone();
        let known = self.index_of(&msg.queue).is_some();
        Box::pin(async move {
            if !known {
                return Err(JobsError::UnknownQueue(msg.queue));
            }
            store.failed(&msg.queue, msg.limit).await
        })
    }
}

/// A job named by queue and id.
pub struct JobRef {
    pub queue: String,
    pub id: String,
}

/// Moves a failed job back to waiting.
#[derive(Message)]
#[rtype(result = "Result<JobAction, JobsError>")]
pub struct Retry(pub JobRef);

impl Handler<Retry> for Scheduler {
    type Result = ResponseActFuture<Self, Result<JobAction, JobsError>>;

    fn handle(&mut self, Retry(job): Retry, _: &mut Self::Context) -> Self::Result {
        let store = self.store.clone();
        let index = self.index_of(&job.queue);
        let retry = async move {
            if index.is_none() {
                return Err(JobsError::UnknownQueue(job.queue));
            }
            store.retry(&job.queue, &job.id).await
        };
        Box::pin(retry.into_actor(self).map(move |action, act, ctx| {
            if let (Ok(JobAction::Done), Some(index)) = (&action, index) {
                act.fetch(index, ctx);
            }
            action
        }))
    }
}

/// Removes a job that is not running.
#[derive(Message)]
#[rtype(result = "Result<JobAction, JobsError>")]
pub struct Remove(pub JobRef);

impl Handler<Remove> for Scheduler {
    type Result = ResponseFuture<Result<JobAction, JobsError>>;

    fn handle(&mut self, Remove(job): Remove, _: &mut Self::Context) -> Self::Result {
        let store = self.store.clone();
        let known = self.index_of(&job.queue).is_some();
        Box::pin(async move {
            if !known {
                return Err(JobsError::UnknownQueue(job.queue));
            }
            store.remove(&job.queue, &job.id).await
        })
    }
}

/// A product write committed an outbox row: relay now rather than at the next interval.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NudgeOutbox;

impl Handler<NudgeOutbox> for Scheduler {
    type Result = ();

    fn handle(&mut self, _: NudgeOutbox, ctx: &mut Self::Context) {
        self.relay(ctx);
    }
}

/// A job run ended (its outcome is recorded): free its slot and take more.
#[derive(Message)]
#[rtype(result = "()")]
struct Finished {
    index: usize,
    /// The run's lease token.
    token: String,
}

impl Handler<Finished> for Scheduler {
    type Result = ();

    fn handle(&mut self, msg: Finished, ctx: &mut Self::Context) {
        if let Some(queue) = self.queues.get_mut(msg.index) {
            queue.running.remove(&msg.token);
        }
        self.fetch(msg.index, ctx);
    }
}
