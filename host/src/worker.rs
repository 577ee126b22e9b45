//! The worker pool: claims jobs from the broker, trains them on blocking
//! threads (at most `workers.concurrency` trainings at once; storing the model
//! and reporting the end happen after the slot is released), turns plugin epochs into
//! `progress` events, heartbeats, watches the cancel flag, stores the model,
//! and reports how the job ended. A stopping pool finishes its jobs within the
//! grace period, then stops the rest and puts them back on the queue.
//!
//! Owns the life of a claimed job. It must not decide HTTP responses or
//! validate requests (the API did), and it never writes a job record except
//! through the broker with its claim token.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use polars::prelude::DataFrame;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use crate::contract::Task;
use crate::jobs::{Ending, Event};
use crate::metrics::METRICS;
use crate::queue::{Broker, BrokerError, Claim, ReapPolicy};
use crate::runtime::{CallReport, CancelToken, Epoch, ProgressSink, RunError, SharedRegistry};
use crate::storage::{datasets, Storage};
use crate::training::{self, PreparedTable, TrainFailure, TrainSpec};

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub concurrency: usize,
    pub heartbeat: Duration,
    pub reap: ReapPolicy,
    pub shutdown_grace: Duration,
    /// How often a running job's cancel flag is read.
    pub cancel_poll: Duration,
}

impl WorkerSettings {
    pub fn from_config(config: &crate::config::Config) -> WorkerSettings {
        let w = &config.workers;
        WorkerSettings {
            concurrency: config.worker_count(),
            heartbeat: Duration::from_secs_f64(w.heartbeat_secs.max(0.05)),
            reap: ReapPolicy { dead_after: Duration::from_secs_f64(w.dead_after_secs.max(0.1)), max_attempts: w.max_attempts.max(1) },
            shutdown_grace: Duration::from_secs_f64(w.shutdown_grace_secs.max(0.0)),
            cancel_poll: Duration::from_millis(200),
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
}

impl Worker {
    pub fn new(broker: Arc<dyn Broker>, storage: Arc<dyn Storage>, registry: SharedRegistry, settings: WorkerSettings) -> Arc<Worker> {
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "host".into());
        let id = format!("{host}-{}-{}", std::process::id(), &uuid::Uuid::new_v4().to_string()[..8]);
        Arc::new(Worker { id, broker, storage, registry, settings, data: Arc::default() })
    }

    /// Runs until `shutdown` turns true, then drains as described above.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.id, concurrency = self.settings.concurrency, "worker started");
        let force_stop = Arc::new(AtomicBool::new(false));
        let background = {
            let me = self.clone();
            tokio::spawn(async move { me.heartbeat_and_reap().await })
        };
        let slots = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
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
            force_stop.store(true, Ordering::SeqCst);
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
    async fn run_job(&self, claim: Claim, force_stop: Arc<AtomicBool>, slot: OwnedSemaphorePermit) {
        METRICS.jobs_started.inc();
        let started = std::time::Instant::now();
        let ending = match self.train(&claim, &force_stop, slot).await {
            Ok(Some(ending)) => ending,
            Ok(None) => return,
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
            Ending::Completed { .. } => METRICS.jobs_completed.inc(),
            Ending::Failed(_) => METRICS.jobs_failed.inc(),
            Ending::Cancelled(_) => METRICS.jobs_cancelled.inc(),
        }
        METRICS.train_seconds.add(started.elapsed().as_secs_f64());
        tracing::info!(status = ending.status().as_str(), ms = started.elapsed().as_millis() as u64, "job ended");
        if let Err(e) = self.broker.finish(&claim, ending).await {
            tracing::warn!(error = %e, "could not record the end of the job");
        }
    }

    /// `Ok(Some)`: how it ended; `Err`: it must not be finished by this worker.
    async fn train(&self, claim: &Claim, force_stop: &Arc<AtomicBool>, slot: OwnedSemaphorePermit) -> Result<Option<Ending>, Stop> {
        let job = &claim.job;
        let spec = &job.spec;
        // The job keeps this plugin to its end, whatever a reload swaps in meanwhile.
        let registry = self.registry.current();
        let Some(plugin) = registry.get(&spec.plugin).cloned() else {
            let why = if registry.is_disabled(&spec.plugin) {
                "is disabled in the config of".to_string()
            } else if let Some(reason) = registry.failures().get(&spec.plugin) {
                format!("could not be loaded ({reason}) on")
            } else {
                "is not enabled on".to_string()
            };
            return Ok(Some(Ending::Failed(format!("plugin `{}` {why} worker {}", spec.plugin, self.id))));
        };
        let Some(task) = Task::parse(&spec.task_type) else {
            return Ok(Some(Ending::Failed(format!("unknown task `{}`", spec.task_type))));
        };
        let table = match self.table(&spec.dataset_id).await {
            Ok(table) => table,
            Err(message) => return Ok(Some(Ending::Failed(message))),
        };
        let train_spec = TrainSpec {
            task,
            target: spec.target_column.clone(),
            params: spec.params.clone(),
            seed: spec.seed,
            validation_fraction: spec.validation_fraction,
            evaluation_column: None,
        };
        let cancel = CancelToken::default();
        let (tx, mut epochs) = mpsc::unbounded_channel();
        let training = {
            let cancel = cancel.clone();
            let plugin = plugin.clone();
            let span = tracing::Span::current();
            let (data, dataset_id) = (self.data.clone(), spec.dataset_id.clone());
            tokio::task::spawn_blocking(move || {
                // The slot is freed as soon as the plugin is done, not once its
                // progress events have reached the broker: those wait on I/O.
                let _slot = slot;
                let _span = span.enter();
                let params = training::validate(&plugin, &train_spec)?;
                let prepared = data.prepared(&dataset_id, &table, &train_spec)?;
                training::train_prepared(&plugin, &prepared, &table, &train_spec, params, cancel, Box::new(ChannelSink(tx)))
            })
        };
        let requeue = Arc::new(AtomicBool::new(false));
        let stale = Arc::new(AtomicBool::new(false));
        let watcher = {
            let broker = self.broker.clone();
            let id = claim.job_id().to_string();
            let (cancel, force_stop, requeue) = (cancel.clone(), force_stop.clone(), requeue.clone());
            let poll = self.settings.cancel_poll;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(poll).await;
                    if force_stop.load(Ordering::SeqCst) {
                        requeue.store(true, Ordering::SeqCst);
                        cancel.cancel();
                        return;
                    }
                    if broker.cancel_requested(&id).await.unwrap_or(false) {
                        cancel.cancel();
                        return;
                    }
                }
            })
        };
        while let Some(epoch) = epochs.recv().await {
            let metrics: BTreeMap<String, f64> = epoch.metrics.into_iter().collect();
            match self.broker.emit(claim, Event::progress(claim.job_id(), epoch.epoch, epoch.total, metrics)).await {
                Ok(_) => {}
                Err(BrokerError::Stale(_)) => {
                    stale.store(true, Ordering::SeqCst);
                    cancel.cancel();
                }
                Err(e) => tracing::warn!(error = %e, "progress event lost"),
            }
        }
        let result = training.await;
        watcher.abort();
        if stale.load(Ordering::SeqCst) {
            return Err(Stop::Stale);
        }
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => return Ok(Some(Ending::Failed(format!("the training thread failed: {e}")))),
        };
        match outcome {
            Ok(outcome) => {
                let key = datasets::model_key(claim.job_id()).map_err(|_| Stop::Stale)?;
                if let Err(e) = self.storage.put(&key, outcome.artifact.to_bytes().into()).await {
                    return Ok(Some(Ending::Failed(format!("storing the model failed: {e}"))));
                }
                let summary = &outcome.summary;
                let model_path = format!("/jobs/{}/model", claim.job_id());
                let metrics = serde_json::to_value(&summary.metrics.values).unwrap_or_default();
                let headline = summary.metrics.headline;
                let results = serde_json::json!({
                    "status": "completed",
                    "accuracy": headline.is_finite().then_some(headline),
                    "headline_metric": summary.metrics.headline_name,
                    "metrics": metrics,
                    "model_path": model_path,
                    "summary": summary,
                    "log": plugin_log(&outcome.report),
                    "dropped_log_lines": outcome.report.dropped_log_lines,
                });
                Ok(Some(Ending::Completed { results, headline, metrics, model_path }))
            }
            Err(TrainFailure::Run(RunError::Cancelled)) if requeue.load(Ordering::SeqCst) => Err(Stop::Requeue),
            Err(TrainFailure::Run(RunError::Cancelled)) => Ok(Some(Ending::Cancelled("Training cancelled".into()))),
            Err(e) => Ok(Some(Ending::Failed(e.to_string()))),
        }
    }

    async fn table(&self, dataset_id: &str) -> Result<Arc<DataFrame>, String> {
        if let Some(table) = self.data.tables.get(&dataset_id.to_string()) {
            return Ok(table);
        }
        let missing = || format!("dataset {dataset_id} no longer exists");
        let record = datasets::get(&self.storage, dataset_id).await.map_err(|e| e.to_string())?.ok_or_else(missing)?;
        let key = datasets::data_key(&record).map_err(|e| e.to_string())?;
        let path = self.storage.local_copy(&key).await.map_err(|e| e.to_string())?.ok_or_else(missing)?;
        let table = tokio::task::spawn_blocking(move || crate::data::read_table(&path))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("dataset {dataset_id}: {e}"))?;
        let table = Arc::new(table);
        self.data.tables.put(dataset_id.to_string(), table.clone());
        Ok(table)
    }
}

/// The plugin's `log()` lines (capped by its `log_kib` limit), kept with the
/// results: they often say what the plugin did with the data.
fn plugin_log(report: &CallReport) -> Vec<serde_json::Value> {
    report.log.iter().map(|(level, message)| serde_json::json!({ "level": level, "message": message })).collect()
}

enum Stop {
    Requeue,
    Stale,
}

struct ChannelSink(mpsc::UnboundedSender<Epoch>);

impl ProgressSink for ChannelSink {
    fn epoch(&mut self, epoch: Epoch) {
        let _ = self.0.send(epoch);
    }
}

/// The last few tables read, and their encodings: datasets never change once
/// uploaded, and an encoding depends only on the table, the target and the
/// task, so the next jobs on the same data skip reading and encoding it.
#[derive(Default)]
struct DataCache {
    tables: Recent<String, Arc<DataFrame>>,
    prepared: Recent<(String, Option<String>, Task), Arc<PreparedTable>>,
}

impl DataCache {
    /// Larger encoded tables are not kept: encoding is cheap next to training them.
    const MAX_CACHED_CELLS: usize = 8 << 20;

    fn prepared(&self, dataset_id: &str, table: &DataFrame, spec: &TrainSpec) -> Result<Arc<PreparedTable>, TrainFailure> {
        // The worker never passes an evaluation column, so it is not part of the key.
        debug_assert!(spec.evaluation_column.is_none());
        let key = (dataset_id.to_string(), spec.target.clone(), spec.task);
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

    fn spec(target: &str, task: Task) -> TrainSpec {
        TrainSpec { task, target: Some(target.into()), params: Default::default(), seed: 1, validation_fraction: 0.2, evaluation_column: None }
    }

    #[test]
    fn prepared_tables_are_reused_only_for_the_same_dataset_target_and_task() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/penguins.csv");
        let table = crate::data::read_table(&path).unwrap();
        let cache = DataCache::default();
        let species = cache.prepared("d1", &table, &spec("species", Task::Classification)).unwrap();
        let again = cache.prepared("d1", &table, &spec("species", Task::Classification)).unwrap();
        assert!(Arc::ptr_eq(&species, &again), "the second job reuses the encoding");
        let island = cache.prepared("d1", &table, &spec("island", Task::Classification)).unwrap();
        assert_eq!((species.encoding.target_name(), island.encoding.target_name()), ("species", "island"));
        let mass = cache.prepared("d1", &table, &spec("body_mass_g", Task::Regression)).unwrap();
        assert!(mass.encoded.target_values().is_some() && species.encoded.target_codes().is_some());
        let other_dataset = cache.prepared("d2", &table, &spec("species", Task::Classification)).unwrap();
        assert!(!Arc::ptr_eq(&species, &other_dataset));
    }
}
