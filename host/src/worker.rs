//! The worker pool: claims jobs from the broker, trains them on blocking
//! threads (at most `workers.concurrency` trainings at once; storing the model
//! and reporting the end happen after the slot is released), turns plugin epochs into
//! `progress` events, heartbeats, watches the cancel flag, stores the model,
//! and reports how the job ended. A stopping pool finishes its jobs within the
//! grace period, then stops the rest and puts them back on the queue.
//!
//! The cancel flag is watched from the moment a job is claimed: loading the
//! table and storing the model are abandoned when it is set, the plugin is
//! stopped, and encoding (which cannot be interrupted) is abandoned after
//! `ABANDON_AFTER`, its result dropped, so a cancel lands within a second
//! whatever the job is doing. A job cancelled because its dataset was deleted says so.
//!
//! Owns the life of a claimed job. It must not decide HTTP responses or
//! validate requests (the API did), and it never writes a job record except
//! through the broker with its claim token.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use polars::prelude::DataFrame;
use tokio::sync::{broadcast, mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::contract::Task;
use crate::data::ColumnChoices;
use crate::jobs::events::Phase;
use crate::jobs::lifecycle::CancelCause;
use crate::jobs::{Ending, Event, JobResults, JobSpec};
use crate::queue::{Broker, BrokerError, Claim, ReapPolicy};
use crate::runtime::{CancelToken, Epoch, LoadedPlugin, ProgressSink, RunError, SharedRegistry};
use crate::storage::{datasets, Storage};
use crate::telemetry::COUNTERS;
use crate::training::{self, PreparedTable, TrainFailure, TrainOutcome, TrainSpec};

/// How long a cancelled run's training thread may take to return before the
/// job ends without it (it is then encoding, which cannot be interrupted).
const ABANDON_AFTER: Duration = Duration::from_millis(300);

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub concurrency: usize,
    pub heartbeat: Duration,
    pub reap: ReapPolicy,
    pub shutdown_grace: Duration,
    /// How often a running job's cancel flag is read when no cancel was announced.
    pub cancel_poll: Duration,
    /// A dataset past these fails its job before it is decoded.
    pub tables: crate::config::TableLimits,
}

impl WorkerSettings {
    pub fn from_config(config: &crate::config::Config) -> WorkerSettings {
        let w = &config.workers;
        WorkerSettings {
            concurrency: config.worker_count(),
            heartbeat: Duration::from_secs_f64(w.heartbeat_secs.max(0.05)),
            reap: ReapPolicy { dead_after: Duration::from_secs_f64(w.dead_after_secs.max(0.1)), max_attempts: w.max_attempts.max(1) },
            shutdown_grace: Duration::from_secs_f64(w.shutdown_grace_secs.max(0.0)),
            cancel_poll: Duration::from_secs_f64(w.cancel_poll_secs.max(0.01)),
            tables: config.limits,
        }
    }
}

pub struct Worker {
    pub id: String,
    broker: Arc<dyn Broker>,
    storage: Arc<dyn Storage>,
    registry: SharedRegistry,
    settings: WorkerSettings,
    data: Arc<DataCache>,
    /// One per training at once (`concurrency`); a job of K instances holds K.
    slots: Arc<Semaphore>,
}

impl Worker {
    pub fn new(broker: Arc<dyn Broker>, storage: Arc<dyn Storage>, registry: SharedRegistry, settings: WorkerSettings) -> Arc<Worker> {
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "host".into());
        let id = format!("{host}-{}-{}", std::process::id(), &uuid::Uuid::new_v4().to_string()[..8]);
        let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        Arc::new(Worker { id, broker, storage, registry, settings, data: Arc::default(), slots })
    }

    /// Runs until `shutdown` turns true, then drains as described above.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.id, concurrency = self.settings.concurrency, "worker started");
        // Cancelled once the grace period is over: every running job stops and goes back on the queue.
        let force_stop = CancelToken::default();
        let background = {
            let me = self.clone();
            tokio::spawn(async move { me.heartbeat_and_reap().await })
        };
        let slots = self.slots.clone();
        let mut jobs = tokio::task::JoinSet::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                _ = shutdown.changed() => break,
            };
            let claimed = tokio::select! {
                c = self.broker.claim(&self.id, Duration::from_secs(1)) => c,
                _ = shutdown.changed() => break,
            };
            while jobs.try_join_next().is_some() {}
            match claimed {
                Ok(Some(claim)) => {
                    // Widened here, before the next claim takes a slot: the free slots at claim.
                    let permit = self.widen(permit, &claim.job.spec);
                    let me = self.clone();
                    let force = force_stop.clone();
                    let span = tracing::info_span!("job", job_id = %claim.job_id(), attempt = claim.job.attempts);
                    jobs.spawn(
                        async move {
                            me.run_job(claim, force, permit).await;
                        }
                        .instrument(span),
                    );
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a job failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        let running = jobs.len();
        if running > 0 {
            tracing::info!(running, grace_secs = self.settings.shutdown_grace.as_secs_f64(), "stopping: finishing running jobs");
        }
        let drained = tokio::time::timeout(self.settings.shutdown_grace, async { while jobs.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(running = jobs.len(), "grace period over: stopping the remaining jobs and re-queueing them");
            force_stop.cancel();
            while jobs.join_next().await.is_some() {}
        }
        background.abort();
        let _ = self.broker.retire(&self.id).await;
        tracing::info!(worker = %self.id, "worker stopped");
    }

    async fn heartbeat_and_reap(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.settings.heartbeat);
        loop {
            tick.tick().await;
            if let Err(e) = self.broker.heartbeat(&self.id).await {
                tracing::warn!(error = %e, "heartbeat failed");
            }
            match self.broker.reap(self.settings.reap).await {
                Ok(handled) if !handled.is_empty() => tracing::warn!(jobs = ?handled, "reaped the jobs of silent workers"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reaper failed"),
            }
        }
    }

    /// `slot` is held while the plugin trains, and released before its progress
    /// is reported and the model stored: those wait on I/O, not on a core.
    async fn run_job(&self, claim: Claim, force_stop: CancelToken, slot: OwnedSemaphorePermit) {
        COUNTERS.jobs_started.inc();
        let started = std::time::Instant::now();
        let cancel = CancelToken::default();
        let (watcher, requeue) = self.watch_cancel_flag(claim.job_id(), cancel.clone(), force_stop);
        let trained = self.train(&claim, &cancel, &requeue, slot).await;
        watcher.abort();
        let ending = match trained {
            Ok(ending) => ending,
            Err(Stop::Requeue) => {
                match self.broker.requeue(&claim).await {
                    Ok(()) => tracing::info!("re-queued for another worker"),
                    Err(e) => tracing::warn!(error = %e, "re-queue failed (the reaper will)"),
                }
                return;
            }
            Err(Stop::Stale) => {
                tracing::warn!("the claim was taken over (this worker was presumed dead); dropping the attempt");
                return;
            }
        };
        match &ending {
            Ending::Completed { .. } => COUNTERS.jobs_completed.inc(),
            Ending::Failed(_) => COUNTERS.jobs_failed.inc(),
            Ending::Cancelled(_) => COUNTERS.jobs_cancelled.inc(),
        }
        COUNTERS.train_seconds.add(started.elapsed().as_secs_f64());
        tracing::info!(status = ending.status().as_str(), ms = started.elapsed().as_millis() as u64, "job ended");
        if let Err(e) = self.broker.finish(&claim, ending).await {
            tracing::warn!(error = %e, "could not record the end of the job");
        }
    }

    /// `Ok`: how the job ended; `Err`: it must not be finished by this worker.
    /// `cancel` fires when the job is cancelled or the pool stops (`requeue` then set).
    async fn train(&self, claim: &Claim, cancel: &CancelToken, requeue: &AtomicBool, slot: OwnedSemaphorePermit) -> Result<Ending, Stop> {
        let input = match until_cancelled(cancel, self.gather(&claim.job.spec)).await {
            None => return self.stopped(claim, requeue).await,
            Some(Err(message)) => return Ok(Ending::Failed(message)),
            Some(Ok(input)) => input,
        };
        match self.run_watched(claim, cancel, slot, input).await? {
            Run::Trained(outcome) => match until_cancelled(cancel, self.store_model(claim, outcome)).await {
                Some(ending) => Ok(ending),
                None => self.stopped(claim, requeue).await,
            },
            Run::Ended(ending) => Ok(ending),
            Run::Stopped => self.stopped(claim, requeue).await,
        }
    }

    /// How a run the cancel token stopped ends: back on the queue when the
    /// pool is stopping, else cancelled, saying why.
    async fn stopped(&self, claim: &Claim, requeue: &AtomicBool) -> Result<Ending, Stop> {
        if requeue.load(Ordering::SeqCst) {
            return Err(Stop::Requeue);
        }
        let cause = match datasets::get(&self.storage, &claim.job.spec.dataset_id).await {
            Ok(None) => CancelCause::DatasetDeleted,
            Ok(Some(_)) | Err(_) => CancelCause::Requested,
        };
        Ok(Ending::Cancelled(cause.while_running().into()))
    }

    /// Everything the run needs, or why the job cannot run here.
    async fn gather(&self, spec: &JobSpec) -> Result<JobInput, String> {
        let plugin = self.resolve_plugin(&spec.plugin)?;
        let task = Task::parse(&spec.task_type).ok_or_else(|| format!("unknown task `{}`", spec.task_type))?;
        let table = self.table(&spec.dataset_id).await?;
        let train_spec = TrainSpec {
            task,
            target: spec.target_column.clone(),
            params: spec.params.clone(),
            seed: spec.seed,
            fractions: spec.fractions(),
            evaluation_column: None,
            columns: spec.columns.clone(),
            folds: spec.folds,
        };
        Ok(JobInput { plugin, dataset_id: spec.dataset_id.clone(), table, spec: train_spec })
    }

    /// The plugin from the registry as it is now: the job keeps it to its end,
    /// whatever a reload swaps in meanwhile.
    fn resolve_plugin(&self, name: &str) -> Result<Arc<LoadedPlugin>, String> {
        let registry = self.registry.current();
        if let Some(plugin) = registry.get(name) {
            return Ok(plugin.clone());
        }
        let why = if registry.is_disabled(name) {
            "is disabled in the config of".to_string()
        } else if let Some(reason) = registry.failures().get(name) {
            format!("could not be loaded ({reason}) on")
        } else {
            "is not enabled on".to_string()
        };
        Err(format!("plugin `{name}` {why} worker {}", self.id))
    }

    /// Trains on a blocking thread while its epochs are sent as `progress`
    /// events. Once `cancel` fires, the thread gets `ABANDON_AFTER` to return
    /// (the plugin stops at once; encoding cannot be interrupted): after that
    /// the run ends without it, and its slot is freed when it returns.
    async fn run_watched(&self, claim: &Claim, cancel: &CancelToken, slot: OwnedSemaphorePermit, input: JobInput) -> Result<Run, Stop> {
        let (sink, epochs) = mpsc::unbounded_channel();
        let training = self.spawn_training(slot, input, cancel.clone(), ChannelSink(sink));
        let stale = AtomicBool::new(false);
        let abandoned = async {
            cancel.wait().await;
            tokio::time::sleep(ABANDON_AFTER).await;
        };
        let result = tokio::select! {
            result = async {
                self.forward_progress(claim, epochs, cancel, &stale).await;
                training.await
            } => Some(result),
            () = abandoned => None,
        };
        if stale.load(Ordering::SeqCst) {
            return Err(Stop::Stale);
        }
        match result {
            None | Some(Ok(Err(TrainFailure::Run(RunError::Cancelled)))) => Ok(Run::Stopped),
            Some(Ok(Ok(outcome))) => Ok(Run::Trained(outcome)),
            Some(Ok(Err(e))) => Ok(Run::Ended(Ending::Failed(e.to_string()))),
            Some(Err(e)) => Ok(Run::Ended(Ending::Failed(format!("the training thread failed: {e}")))),
        }
    }

    /// The job's one slot, plus as many of the free ones as its plugin can
    /// use in parallel (`LoadedPlugin::instances_for`): a job of K instances holds K slots.
    fn widen(&self, mut slot: OwnedSemaphorePermit, spec: &JobSpec) -> OwnedSemaphorePermit {
        let Some(plugin) = self.registry.current().get(&spec.plugin).cloned() else { return slot };
        let asked = spec.max_instances.map_or(usize::MAX, |k| k.max(1) as usize);
        let mut extra = plugin.instances_for(1 + self.slots.available_permits()).min(asked) - 1;
        while extra > 0 {
            // Another job may take free slots meanwhile: then take fewer.
            if let Ok(more) = self.slots.clone().try_acquire_many_owned(extra as u32) {
                slot.merge(more);
                break;
            }
            extra -= 1;
        }
        slot
    }

    fn spawn_training(
        &self,
        slot: OwnedSemaphorePermit,
        input: JobInput,
        cancel: CancelToken,
        sink: ChannelSink,
    ) -> JoinHandle<Result<TrainOutcome, TrainFailure>> {
        let span = tracing::Span::current();
        let data = self.data.clone();
        let instances = slot.num_permits();
        tracing::debug!(instances, "training");
        tokio::task::spawn_blocking(move || {
            // The slot is freed as soon as the plugin is done, not once its
            // progress events have reached the broker: those wait on I/O.
            let _slot = slot;
            let _span = span.enter();
            let JobInput { plugin, dataset_id, table, spec } = input;
            let params = training::validate(&plugin, &spec)?;
            let prepared = data.prepared(&dataset_id, &table, &spec)?;
            training::train_prepared(&plugin, &prepared, &table, &spec, params, instances, cancel, Box::new(sink))
        })
    }

    /// Cancels the run once the job's cancel flag is set, or the pool is
    /// forced to stop; the returned flag then says the job goes back on the queue.
    /// The flag is read when the broker announces a cancel request for the
    /// job (at once: a pruned trial frees its slot for the next one), and
    /// every `cancel_poll` in case an announcement was lost.
    fn watch_cancel_flag(&self, job_id: &str, cancel: CancelToken, force_stop: CancelToken) -> (JoinHandle<()>, Arc<AtomicBool>) {
        let requeue = Arc::new(AtomicBool::new(false));
        let (broker, job_id, poll, requeued) = (self.broker.clone(), job_id.to_string(), self.settings.cancel_poll, requeue.clone());
        let mut requests = self.broker.cancel_requests();
        let watcher = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(poll) => {}
                    () = announced(&mut requests, &job_id) => {}
                    () = force_stop.wait() => {}
                }
                if force_stop.is_cancelled() {
                    requeued.store(true, Ordering::SeqCst);
                    cancel.cancel();
                    return;
                }
                if broker.cancel_requested(&job_id).await.unwrap_or(false) {
                    cancel.cancel();
                    return;
                }
            }
        });
        (watcher, requeue)
    }

    /// Emits each epoch as a `progress` event, and each phase of a
    /// cross-validation ("fold 2 of 5") as a `status` event, until the plugin
    /// is done. Sets `stale` when the claim was taken over meanwhile: the run is then cancelled.
    async fn forward_progress(&self, claim: &Claim, mut reports: mpsc::UnboundedReceiver<Report>, cancel: &CancelToken, stale: &AtomicBool) {
        let mut phase: Option<Phase> = None;
        while let Some(report) = reports.recv().await {
            let event = match report {
                Report::Epoch(epoch) => {
                    let metrics: BTreeMap<String, f64> = epoch.metrics.into_iter().collect();
                    let event = Event::progress(claim.job_id(), epoch.epoch, epoch.total, metrics);
                    match &phase {
                        Some(phase) => event.in_phase(phase),
                        None => event,
                    }
                }
                Report::Phase(next) => {
                    let event = Event::phase(claim.job_id(), &next);
                    phase = Some(next);
                    event
                }
            };
            match self.broker.emit(claim, event).await {
                Ok(_) => {}
                Err(BrokerError::Stale(_) | BrokerError::Lost(_)) => {
                    stale.store(true, Ordering::SeqCst);
                    cancel.cancel();
                }
                Err(e) => tracing::warn!(error = %e, "progress event lost"),
            }
        }
    }

    /// Stores the model file, then the job completes with results that point to it.
    async fn store_model(&self, claim: &Claim, outcome: TrainOutcome) -> Ending {
        let job_id = claim.job_id();
        // Tell the job page which phase it is in; a lost event only costs that line.
        if let Err(e) = self.broker.emit(claim, Event::storing_model(job_id)).await {
            tracing::warn!(error = %e, "storing-the-model event lost");
        }
        let stored = match datasets::model_key(job_id) {
            Ok(key) => self.storage.put(&key, outcome.artifact.to_bytes().into()).await,
            Err(e) => Err(e),
        };
        match stored {
            Ok(()) => Ending::Completed {
                results: JobResults::new(job_id, outcome.summary, &outcome.tables, &outcome.report).with_cross_validation(outcome.cross_validation),
            },
            Err(e) => Ending::Failed(format!("storing the model failed: {e}")),
        }
    }

    /// The dataset's table, from the cache or from storage.
    async fn table(&self, dataset_id: &str) -> Result<Arc<DataFrame>, String> {
        if let Some(table) = self.data.tables.get(&dataset_id.to_string()) {
            return Ok(table);
        }
        let table = Arc::new(datasets::load_table(&self.storage, dataset_id, self.settings.tables).await.map_err(|e| e.to_string())?);
        self.data.tables.put(dataset_id.to_string(), table.clone());
        Ok(table)
    }
}

/// What a claimed job trains with.
struct JobInput {
    plugin: Arc<LoadedPlugin>,
    dataset_id: String,
    table: Arc<DataFrame>,
    spec: TrainSpec,
}

/// How a plugin run came back, once the worker's own stops are taken out.
// One per job: its size does not matter (see `Ending`).
#[allow(clippy::large_enum_variant)]
enum Run {
    /// A model, to store.
    Trained(TrainOutcome),
    /// No model: the run failed.
    Ended(Ending),
    /// The cancel token stopped it (a cancel, or the pool stopping).
    Stopped,
}

/// Returns once a cancel request for `job_id` may have been announced: its
/// own, or requests missed because the channel lagged. Never returns once
/// the channel is closed (the poll goes on).
async fn announced(requests: &mut broadcast::Receiver<String>, job_id: &str) {
    loop {
        match requests.recv().await {
            Ok(id) if id == job_id => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

/// The output of `work`, or `None` once `cancel` fired first (`work` is then dropped).
async fn until_cancelled<T>(cancel: &CancelToken, work: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        biased;
        () = cancel.wait() => None,
        out = work => Some(out),
    }
}

enum Stop {
    Requeue,
    Stale,
}

/// What the training thread tells the event forwarder.
enum Report {
    Epoch(Epoch),
    Phase(Phase),
}

struct ChannelSink(mpsc::UnboundedSender<Report>);

impl ProgressSink for ChannelSink {
    fn epoch(&mut self, epoch: Epoch) {
        let _ = self.0.send(Report::Epoch(epoch));
    }

    fn phase(&mut self, step: u32, steps: u32, label: &str) {
        let _ = self.0.send(Report::Phase(Phase { step, steps, label: label.to_string() }));
    }
}

/// The last few tables read, and their encodings: datasets never change once
/// uploaded, and an encoding depends only on the table, the target and the
/// task, so the next jobs on the same data skip reading and encoding it.
/// Keyed by everything that decides the encoding: dataset, target, task and the column choices.
/// The split is not cached: each run draws it from its own fractions and seed
/// (`training::train_prepared`), so the key need not name them.
#[derive(Default)]
struct DataCache {
    tables: Recent<String, Arc<DataFrame>>,
    prepared: Recent<(String, Option<String>, Task, ColumnChoices), Arc<PreparedTable>>,
}

impl DataCache {
    /// Larger encoded tables are not kept: encoding is cheap next to training them.
    const MAX_CACHED_CELLS: usize = 8 << 20;

    fn prepared(&self, dataset_id: &str, table: &DataFrame, spec: &TrainSpec) -> Result<Arc<PreparedTable>, TrainFailure> {
        // The worker never passes an evaluation column, so it is not part of the key.
        debug_assert!(spec.evaluation_column.is_none());
        let key = (dataset_id.to_string(), spec.target.clone(), spec.task, spec.columns.clone());
        if let Some(prepared) = self.prepared.get(&key) {
            return Ok(prepared);
        }
        let prepared = Arc::new(PreparedTable::new(table, spec)?);
        if prepared.encoded.rows * table.width() <= Self::MAX_CACHED_CELLS {
            self.prepared.put(key, prepared.clone());
        }
        Ok(prepared)
    }
}

/// The `SIZE` most recently stored entries.
struct Recent<K, V> {
    entries: Mutex<Vec<(K, V)>>,
}

impl<K, V> Default for Recent<K, V> {
    fn default() -> Self {
        Recent { entries: Mutex::new(Vec::new()) }
    }
}

impl<K: PartialEq, V: Clone> Recent<K, V> {
    const SIZE: usize = 4;

    fn get(&self, key: &K) -> Option<V> {
        self.entries.lock().iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    fn put(&self, key: K, value: V) {
        let mut entries = self.entries.lock();
        entries.retain(|(k, _)| k != &key);
        entries.insert(0, (key, value));
        entries.truncate(Self::SIZE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::split::SplitFractions;

    fn spec(target: &str, task: Task) -> TrainSpec {
        TrainSpec {
            task,
            target: Some(target.into()),
            params: Default::default(),
            seed: 1,
            fractions: SplitFractions::DEFAULT,
            evaluation_column: None,
            columns: Default::default(),
            folds: 0,
        }
    }

    #[test]
    fn prepared_tables_are_reused_only_for_the_same_dataset_target_and_task() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/penguins.csv");
        let table = crate::data::read_table(&path).unwrap();
        let cache = DataCache::default();
        let species = cache.prepared("d1", &table, &spec("species", Task::Classification)).unwrap();
        let again = cache.prepared("d1", &table, &spec("species", Task::Classification)).unwrap();
        assert!(Arc::ptr_eq(&species, &again), "the second job reuses the encoding");
        let other_split = TrainSpec { seed: 9, fractions: SplitFractions::test_only(0.5), ..spec("species", Task::Classification) };
        let reused = cache.prepared("d1", &table, &other_split).unwrap();
        assert!(Arc::ptr_eq(&species, &reused), "the prepared table holds every row, whatever the split");
        assert_eq!(reused.encoded.rows, table.height());
        let island = cache.prepared("d1", &table, &spec("island", Task::Classification)).unwrap();
        assert_eq!((species.encoding.target_name(), island.encoding.target_name()), ("species", "island"));
        let mass = cache.prepared("d1", &table, &spec("body_mass_g", Task::Regression)).unwrap();
        assert!(mass.encoded.target_values().is_some() && species.encoded.target_codes().is_some());
        let other_dataset = cache.prepared("d2", &table, &spec("species", Task::Classification)).unwrap();
        assert!(!Arc::ptr_eq(&species, &other_dataset));
    }
}
