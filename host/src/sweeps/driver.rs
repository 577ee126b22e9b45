//! The loop that drives a sweep: as soon as a live trial's job has news (an
//! epoch event, its end), and at least every `TICK`, it re-reads the sweep's
//! record from the store, follows each live trial's job through the broker
//! (its status and its epoch events), prunes at ASHA's rungs, cancels what
//! the budget or a cancel request ends, submits the next trials up to the
//! sweep's parallelism, and ends the sweep once nothing is left to run.
//!
//! Crash safety: a trial is written to the record (with the job id chosen for
//! it) before its job is submitted, and a trial whose job the broker does not
//! have is submitted on a later tick; a trial is marked terminal once, in the
//! record, from the job's own terminal status. So a driver that dies anywhere
//! and is replaced (this process restarted, or another node taking the lease)
//! submits each trial once and ends each once.
//!
//! Owns these decisions. It must not store anything itself (`state`), nor
//! run training (the workers run trials as they run every job).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::broadcast::error::TryRecvError;

use super::events::SweepEvent;
use super::state::SweepStore;
use super::{asha, strategy, RungScore, SweepRecord, SweepStatus, Trial, TrialStatus};
use crate::accounts::AccountStore;
use crate::config::SharedConfig;
use crate::contract::Task;
use crate::ids::now_ms;
use crate::jobs::{JobRecord, JobStatus, RunLabels};
use crate::queue::{Broker, BrokerError, CancelOutcome, Subscription};
use crate::runtime::SharedRegistry;

/// The longest a driver goes without looking at its sweep: what no job event
/// announces (the budget, a cancel request, an event published while the
/// Redis listener was reconnecting) is seen within this.
pub const TICK: Duration = Duration::from_millis(200);
/// The shortest time between two looks: a burst of epoch events is read in one step.
pub const MIN_STEP: Duration = Duration::from_millis(20);
/// How long a lease holds without renewal: a driver that dies is replaced after this.
pub const LEASE_TTL: Duration = Duration::from_secs(5);
/// How often a process looks for sweeps nobody drives.
pub const ADOPT_EVERY: Duration = Duration::from_secs(2);

/// What a driver works with.
pub struct SweepContext {
    pub broker: Arc<dyn Broker>,
    pub sweeps: Arc<dyn SweepStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub registry: SharedRegistry,
    pub config: SharedConfig,
    /// This process's name as a lease holder.
    pub holder: String,
    /// The sweeps this process drives now.
    driving: Mutex<HashSet<String>>,
}

impl SweepContext {
    pub fn new(
        broker: Arc<dyn Broker>,
        sweeps: Arc<dyn SweepStore>,
        accounts: Arc<dyn AccountStore>,
        registry: SharedRegistry,
        config: SharedConfig,
    ) -> Arc<SweepContext> {
        let holder = format!("{}-{}", std::process::id(), crate::ids::new_id());
        Arc::new(SweepContext { broker, sweeps, accounts, registry, config, holder, driving: Mutex::new(HashSet::new()) })
    }
}

/// Drives sweep `id` from this process in the background, unless it already does.
pub fn spawn(ctx: &Arc<SweepContext>, id: &str) {
    if !ctx.driving.lock().insert(id.to_string()) {
        return;
    }
    let (ctx, id) = (ctx.clone(), id.to_string());
    tokio::spawn(async move {
        let span = tracing::info_span!("sweep", sweep_id = %id);
        let _ = tracing::Instrument::instrument(drive(&ctx, &id), span).await;
        ctx.driving.lock().remove(&id);
    });
}

/// Every `ADOPT_EVERY`, drives each unfinished sweep that nobody holds the
/// lease of (at start: the ones a restart interrupted; later: those of a dead node).
pub fn adopt_periodically(ctx: Arc<SweepContext>) {
    tokio::spawn(async move {
        loop {
            match ctx.sweeps.unfinished().await {
                Ok(ids) => {
                    for id in ids {
                        spawn(&ctx, &id);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "listing the sweeps to drive failed"),
            }
            tokio::time::sleep(ADOPT_EVERY).await;
        }
    });
}

/// The loop: one `step` per wake-up while this process holds the lease.
async fn drive(ctx: &SweepContext, id: &str) {
    let mut watch = Watch::default();
    loop {
        let stepped = tokio::time::Instant::now();
        match ctx.sweeps.lease(id, &ctx.holder, LEASE_TTL).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "renewing the sweep's lease failed");
                tokio::time::sleep(TICK).await;
                continue;
            }
        }
        let record = match ctx.sweeps.get(id).await {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "reading the sweep failed");
                tokio::time::sleep(TICK).await;
                continue;
            }
        };
        if record.status.is_terminal() {
            let _ = ctx.sweeps.release(id, &ctx.holder).await;
            return;
        }
        match step(ctx, record).await {
            Ok(record) => watch.follow(ctx.broker.as_ref(), &record).await,
            Err(e) => tracing::warn!(error = %e, "a sweep step failed; trying again"),
        }
        tokio::time::sleep_until(stepped + MIN_STEP).await;
        watch.news(stepped + TICK).await;
    }
}

/// The event streams of the sweep's live trials, so that a rung score or a
/// trial's end is acted on when it happens rather than at the next tick.
#[derive(Default)]
struct Watch {
    streams: HashMap<String, Subscription>,
}

impl Watch {
    /// Watches exactly the live trials of `record`.
    async fn follow(&mut self, broker: &dyn Broker, record: &SweepRecord) {
        let live: HashSet<&str> = record.trials.iter().filter(|t| !t.status.is_terminal()).map(|t| t.job_id.as_str()).collect();
        self.streams.retain(|job_id, _| live.contains(job_id.as_str()));
        for job_id in live {
            if !self.streams.contains_key(job_id) {
                if let Ok(stream) = broker.subscribe(job_id).await {
                    self.streams.insert(job_id.to_string(), stream);
                }
            }
        }
    }

    /// Returns once any watched job has an event (all waiting ones are taken:
    /// the step reads them from the broker), or at `deadline`.
    async fn news(&mut self, deadline: tokio::time::Instant) {
        if self.streams.is_empty() {
            tokio::time::sleep_until(deadline).await;
            return;
        }
        let any = futures::future::select_all(self.streams.values_mut().map(|s| Box::pin(s.receiver.recv())));
        let _ = tokio::time::timeout_at(deadline, any).await;
        for stream in self.streams.values_mut() {
            // Events and "lagged" alike: drained until nothing waits.
            while !matches!(stream.receiver.try_recv(), Err(TryRecvError::Empty | TryRecvError::Closed)) {}
        }
    }
}

/// One look at the sweep: follow, prune, cancel, submit, end; saves what
/// changed and returns the record as it now is.
async fn step(ctx: &SweepContext, mut record: SweepRecord) -> Result<SweepRecord, BrokerError> {
    let before = record.clone();
    let mut events = vec![];
    if record.status == SweepStatus::Queued {
        record.status = SweepStatus::Running;
        record.started_at = Some(now_ms());
        events.push(SweepEvent::status(&record));
    }
    let stopping = stop_reason(&record);
    for i in 0..record.trials.len() {
        if !record.trials[i].status.is_terminal() {
            follow(ctx, &mut record, i, &mut events).await?;
        }
    }
    if let Some(reason) = &stopping {
        stop_trials(ctx, &mut record, reason, &mut events).await?;
    } else {
        submit_more(ctx, &mut record, &mut events).await?;
    }
    if record.active() == 0 && (stopping.is_some() || !more_to_run(&record)) {
        finish(&mut record, stopping.as_deref());
        events.push(SweepEvent::status(&record));
    }
    if record != before || !events.is_empty() {
        ctx.sweeps.save(&record, events, &ctx.holder).await?;
    }
    Ok(record)
}

/// Why no more trials may run: a cancel, or the time budget spent.
fn stop_reason(record: &SweepRecord) -> Option<String> {
    if record.cancel_requested {
        return Some("the sweep was cancelled".into());
    }
    let (budget, started) = (record.spec.budget_seconds?, record.started_at?);
    (now_ms().saturating_sub(started) >= (budget as i64).saturating_mul(1000)).then(|| format!("the sweep's time budget of {budget} s ran out"))
}

/// Whether the strategy has trials left within the sweep's count.
fn more_to_run(record: &SweepRecord) -> bool {
    let limit = strategy::capacity(record.spec.strategy, &record.spec.spaces).min(record.spec.trials.unwrap_or(u64::MAX));
    (record.trials.len() as u64) < limit
}

/// Ends the sweep: completed with a best trial, else failed saying why (or cancelled).
fn finish(record: &mut SweepRecord, stopped: Option<&str>) {
    record.finished_at = Some(now_ms());
    if record.cancel_requested {
        record.status = SweepStatus::Cancelled;
        record.message = Some("the sweep was cancelled".into());
        return;
    }
    if let Some(best) = record.best() {
        let message = format!("best: trial {} ({}) with {} {}", best.index, best.plugin, record.spec.metric, best.score.unwrap_or(f64::NAN));
        record.message = Some(stopped.map_or(message.clone(), |s| format!("{s}; {message}")));
        record.status = SweepStatus::Completed;
        return;
    }
    let count = |s: TrialStatus| record.trials.iter().filter(|t| t.status == s).count();
    let first_failure = record.trials.iter().find(|t| t.status == TrialStatus::Failed).and_then(|t| t.message.clone());
    let mut message = format!(
        "no trial completed with a {} score: {} failed, {} pruned, {} cancelled, {} completed without a score",
        record.spec.metric,
        count(TrialStatus::Failed),
        count(TrialStatus::Pruned),
        count(TrialStatus::Cancelled),
        count(TrialStatus::Completed)
    );
    if let Some(first) = first_failure {
        message = format!("{message}; the first failure: {first}");
    }
    if let Some(s) = stopped {
        message = format!("{s}; {message}");
    }
    record.status = SweepStatus::Failed;
    record.message = Some(message);
}

/// Submits trials while fewer than the sweep's parallelism are live and the strategy has more.
async fn submit_more(ctx: &SweepContext, record: &mut SweepRecord, events: &mut Vec<SweepEvent>) -> Result<(), BrokerError> {
    while record.active() < record.spec.parallel_trials.max(1) as usize && more_to_run(record) {
        let index = record.trials.len() as u64;
        let Some((which, params)) =
            strategy::trial(record.spec.strategy, &record.spec.spaces, record.spec.seed, index, &record.trials, record.spec.higher_is_better)
        else {
            break;
        };
        let plugin = record.spec.spaces[which].plugin.clone();
        let trial = Trial {
            index,
            job_id: crate::ids::new_id(),
            plugin,
            params,
            status: TrialStatus::Queued,
            score: None,
            tie_break: None,
            validation_score: None,
            rungs: vec![],
            epoch: 0,
            seen_seq: 0,
            message: None,
        };
        events.push(SweepEvent::trial(&record.sweep_id, "queued", &trial));
        record.trials.push(trial);
        // Stored before its job exists: a crash now leaves a trial whose job
        // the next driver submits (`follow`), never a job the sweep forgot.
        let saved = ctx.sweeps.save(record, std::mem::take(events), &ctx.holder).await?;
        record.last_seq = saved.last_seq;
        record.cancel_requested = saved.cancel_requested;
        let at = record.trials.len() - 1;
        if !submit_trial(ctx, record, at, events).await? {
            break;
        }
    }
    Ok(())
}

/// Submits trial `i`'s job (within its owner's quota). False while the quota
/// has no room (tried again next tick); a setting the plugin refuses fails the trial.
async fn submit_trial(ctx: &SweepContext, record: &mut SweepRecord, i: usize, events: &mut Vec<SweepEvent>) -> Result<bool, BrokerError> {
    let trial = &record.trials[i];
    let registry = ctx.registry.current();
    let checked = match registry.get(&trial.plugin) {
        None => Err(format!("plugin `{}` is no longer enabled on this server", trial.plugin)),
        Some(plugin) => crate::runtime::schema::validate(&plugin.schema, &trial.params).map(|_| ()).map_err(|e| e.to_string()),
    };
    if let Err(reason) = checked {
        end_trial(record, i, TrialStatus::Failed, Some(reason), events);
        return Ok(true);
    }
    let mut spec = record.spec.base.clone();
    spec.plugin = trial.plugin.clone();
    spec.params = trial.params.clone();
    spec.model_config = trial.params.clone();
    spec.model_config.insert("selectedModel".into(), Value::from(trial.plugin.as_str()));
    // Trials side by side use the cores one each, as every peer's parallel trials do.
    if record.spec.parallel_trials > 1 {
        spec.max_instances = Some(1);
    }
    spec.labels = RunLabels {
        name: Some(format!("sweep {} trial {}", short(&record.sweep_id), trial.index)),
        tags: vec![format!("sweep:{}", short(&record.sweep_id))],
        rerun_of: None,
    };
    let job_id = trial.job_id.clone();
    if let Some(owner) = spec.owner.clone() {
        if let Some(user) = ctx.accounts.user(&owner).await.map_err(account_error)? {
            let quota = user.quota(&ctx.config.current().quotas);
            if ctx.accounts.reserve_job(&user.name, &job_id, &quota).await.map_err(account_error)?.is_some() {
                return Ok(false);
            }
        }
        if let Err(e) = ctx.broker.submit(&job_id, spec).await {
            let _ = ctx.accounts.release_job(&owner, &job_id).await;
            return Err(e);
        }
    } else {
        ctx.broker.submit(&job_id, spec).await?;
    }
    crate::telemetry::COUNTERS.jobs_submitted.inc();
    tracing::info!(job_id = %job_id, trial = i, "sweep trial queued");
    Ok(true)
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn account_error(e: crate::accounts::AccountError) -> BrokerError {
    match e {
        crate::accounts::AccountError::Broker(e) => e,
        other => BrokerError::Backend(other.to_string()),
    }
}

/// Marks trial `i` terminal (once: a terminal trial is never followed again).
fn end_trial(record: &mut SweepRecord, i: usize, status: TrialStatus, message: Option<String>, events: &mut Vec<SweepEvent>) {
    let trial = &mut record.trials[i];
    trial.status = status;
    trial.message = message;
    events.push(SweepEvent::trial(&record.sweep_id, status.as_str(), &record.trials[i]));
    if status == TrialStatus::Completed {
        events.push(SweepEvent::leaderboard(record));
    }
}

/// Reads trial `i`'s job: its new epoch events (rungs), then its end.
async fn follow(ctx: &SweepContext, record: &mut SweepRecord, i: usize, events: &mut Vec<SweepEvent>) -> Result<(), BrokerError> {
    let job_id = record.trials[i].job_id.clone();
    let Some(job) = ctx.broker.get(&job_id).await? else {
        // Stored but never submitted (a crash, or no quota room): submit it now.
        submit_trial(ctx, record, i, events).await?;
        return Ok(());
    };
    let seen = record.trials[i].seen_seq;
    for stored in ctx.broker.events_after(&job_id, seen).await? {
        record.trials[i].seen_seq = stored.seq;
        let Ok(event) = serde_json::from_str::<Value>(&stored.json) else { continue };
        on_event(ctx, record, i, &event, events).await?;
        if record.trials[i].status.is_terminal() {
            return Ok(());
        }
    }
    if job.status.is_terminal() {
        on_job_end(record, i, &job, events);
    }
    Ok(())
}

/// A job event of trial `i`: its start, or an epoch (a validation score, maybe a rung).
async fn on_event(ctx: &SweepContext, record: &mut SweepRecord, i: usize, event: &Value, events: &mut Vec<SweepEvent>) -> Result<(), BrokerError> {
    match event["type"].as_str() {
        Some("status") if event["status"] == "running" && record.trials[i].status == TrialStatus::Queued => {
            record.trials[i].status = TrialStatus::Running;
            events.push(SweepEvent::trial(&record.sweep_id, "started", &record.trials[i]));
        }
        Some("progress") => {
            let epoch = event["epoch"].as_u64().unwrap_or(0) as u32;
            let total = event["total_epochs"].as_u64().unwrap_or(0) as u32;
            let score = rung_metric(&record.spec.base.task_type).and_then(|name| event["metrics"][name].as_f64());
            let trial = &mut record.trials[i];
            trial.epoch = epoch;
            if trial.status == TrialStatus::Queued {
                trial.status = TrialStatus::Running;
            }
            if let Some(s) = score {
                trial.validation_score = Some(s);
                if record.spec.strategy.prunes() {
                    check_rungs(ctx, record, i, epoch, total, s, events).await?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The validation metric every bundled plugin reports per epoch for a task
/// (higher is better); none for clustering, whose trials are not pruned.
pub fn rung_metric(task: &str) -> Option<&'static str> {
    match Task::parse(task)? {
        Task::Classification => Some("validation_accuracy"),
        Task::Regression => Some("validation_r2"),
        Task::Clustering => None,
    }
}

/// At each rung trial `i` passed with this epoch: keep it or prune it (cancel its job at once).
async fn check_rungs(
    ctx: &SweepContext,
    record: &mut SweepRecord,
    i: usize,
    epoch: u32,
    total: u32,
    score: f64,
    events: &mut Vec<SweepEvent>,
) -> Result<(), BrokerError> {
    let rungs = record.rungs.get_or_insert_with(|| asha::rungs(record.spec.min_epochs, record.spec.eta, total)).clone();
    for rung in rungs.into_iter().filter(|r| *r <= epoch && *r < total) {
        if record.trials[i].rungs.iter().any(|r| r.epoch == rung) {
            continue;
        }
        record.trials[i].rungs.push(RungScore { epoch: rung, score });
        let at_rung: Vec<f64> = record.trials.iter().flat_map(|t| t.rungs.iter().filter(|r| r.epoch == rung).map(|r| r.score)).collect();
        let kept = asha::keeps(score, &at_rung, record.spec.eta);
        events.push(SweepEvent::rung(&record.sweep_id, &record.trials[i], rung, score, kept));
        if !kept {
            let job_id = record.trials[i].job_id.clone();
            match ctx.broker.cancel(&job_id).await {
                // It finished before the decision could stop it: its real end counts.
                Ok(CancelOutcome::AlreadyEnded(_)) => return Ok(()),
                Ok(_) | Err(BrokerError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
            let message = format!(
                "pruned at epoch {rung}: validation score {score:.4} is outside the top 1/{} of the {} trials that reached it",
                record.spec.eta,
                at_rung.len()
            );
            tracing::info!(job_id = %job_id, rung, score, "sweep trial pruned");
            end_trial(record, i, TrialStatus::Pruned, Some(message), events);
            return Ok(());
        }
    }
    Ok(())
}

/// The metric that breaks ties of the classification scores (`Trial::tie_break`).
const LOG_LOSS: &str = "log_loss";

/// Trial `i`'s job ended: its status and, when completed, its score.
fn on_job_end(record: &mut SweepRecord, i: usize, job: &JobRecord, events: &mut Vec<SweepEvent>) {
    match job.status {
        JobStatus::Completed => {
            let metric = |name: &str| job.results.as_ref().and_then(|r| r.metrics.get(name).copied()).filter(|v| v.is_finite());
            let score = metric(&record.spec.metric);
            record.trials[i].score = score;
            if record.spec.base.task_type == Task::Classification.as_str() && record.spec.metric != LOG_LOSS {
                record.trials[i].tie_break = metric(LOG_LOSS);
            }
            let message = score.is_none().then(|| format!("completed without a {} on the judged rows", record.spec.metric));
            end_trial(record, i, TrialStatus::Completed, message, events);
        }
        JobStatus::Failed => end_trial(record, i, TrialStatus::Failed, job.error.clone(), events),
        JobStatus::Cancelled => end_trial(record, i, TrialStatus::Cancelled, job.error.clone().or_else(|| Some("its job was cancelled".into())), events),
        JobStatus::Queued | JobStatus::Running => {}
    }
}

/// Cancels every live trial, for `reason`.
async fn stop_trials(ctx: &SweepContext, record: &mut SweepRecord, reason: &str, events: &mut Vec<SweepEvent>) -> Result<(), BrokerError> {
    for i in 0..record.trials.len() {
        if record.trials[i].status.is_terminal() {
            continue;
        }
        match ctx.broker.cancel(&record.trials[i].job_id).await {
            Ok(_) | Err(BrokerError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        end_trial(record, i, TrialStatus::Cancelled, Some(reason.to_string()), events);
    }
    Ok(())
}
