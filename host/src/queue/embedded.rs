//! The embedded broker: everything in this process's memory, every change
//! appended to a journal in the data dir (`broker/journal.jsonl`, see
//! `journal`), replayed and compacted at start. A restart loses nothing:
//! queued jobs stay queued, and jobs that were running when the process died
//! are queued again.
//!
//! The events of a job that ended longer ago than the retention (a week by
//! default, `storage.event_retention_days`) are dropped, at start and by a
//! periodic sweep that compacts the journal again; the record stays, and a
//! late client gets its terminal event rebuilt from it, as with Redis.
//!
//! Only one process may use a data dir's broker at a time (the journal is
//! locked); several processes need the Redis broker.
//!
//! Owns the jobs, queue and worker heartbeats of this process, and applies the
//! transitions `jobs::lifecycle` decides, under one lock. It must not decide a
//! transition itself, nor know the journal's file format.

pub mod accounts;
mod journal;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::{Broker, BrokerError, CancelOutcome, Claim, Hub, ReapPolicy, Result, Subscription};
use crate::jobs::lifecycle::{self, CancelCause, ClaimChange, QueueEnd, Transition};
use crate::jobs::{now_ms, Ending, Event, JobPage, JobQuery, JobRecord, JobSpec, JobStatus, StoredEvent};
use journal::{Journal, Replayed};

struct Entry {
    record: JobRecord,
    events: Vec<StoredEvent>,
    token: Option<String>,
}

struct State {
    jobs: HashMap<String, Entry>,
    /// Job ids in submission order.
    order: Vec<String>,
    queue: VecDeque<String>,
    heartbeats: HashMap<String, Instant>,
    journal: Journal,
    /// How long the events of an ended job are kept.
    retention: Duration,
}

/// How long ended jobs' events are kept unless the config says otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

pub struct EmbeddedBroker {
    state: Mutex<State>,
    notify: Notify,
    hub: Arc<Hub>,
}

impl EmbeddedBroker {
    pub fn open(dir: &Path) -> anyhow::Result<EmbeddedBroker> {
        EmbeddedBroker::open_with(dir, DEFAULT_RETENTION)
    }

    /// Opens the journal in `dir`, keeping ended jobs' events for `retention`.
    pub fn open_with(dir: &Path, retention: Duration) -> anyhow::Result<EmbeddedBroker> {
        std::fs::create_dir_all(dir)?;
        let lock = journal::lock_dir(dir)?;
        let mut jobs = journal::replay(dir);
        let recovered = recover_running(&mut jobs);
        let now = now_ms();
        let dropped = jobs.iter_mut().filter(|job| expired(&job.record, retention, now)).map(|job| std::mem::take(&mut job.events).len()).sum::<usize>();
        if dropped > 0 {
            tracing::info!(events = dropped, retention_secs = retention.as_secs(), "dropped the events of jobs that ended before the retention");
        }
        let journal = Journal::compact(dir, lock, jobs.iter().map(|job| (&job.record, job.events.as_slice())))?;
        let broker = EmbeddedBroker { state: Mutex::new(State::new(jobs, journal, retention)), notify: Notify::new(), hub: Hub::new() };
        broker.emit_recovered(recovered);
        Ok(broker)
    }

    /// Drops the events of the jobs that ended longer ago than the retention
    /// and, if there were any, compacts the journal. Returns how many were dropped.
    pub fn sweep(&self) -> usize {
        let mut state = self.state.lock();
        let (retention, now) = (state.retention, now_ms());
        let dropped: usize =
            state.jobs.values_mut().filter(|e| !e.events.is_empty() && expired(&e.record, retention, now)).map(|e| std::mem::take(&mut e.events).len()).sum();
        if dropped == 0 {
            return 0;
        }
        let State { jobs, order, journal, .. } = &mut *state;
        let kept = order.iter().filter_map(|id| jobs.get(id)).map(|e| (&e.record, e.events.as_slice()));
        match journal.rewrite(kept) {
            Ok(()) => tracing::info!(events = dropped, "dropped the events of jobs that ended before the retention; journal compacted"),
            Err(e) => tracing::error!(error = %format!("{e:#}"), "compacting the broker journal failed (it keeps growing until the next start)"),
        }
        dropped
    }

    /// Sweeps (see `sweep`) a few times per retention period, at most hourly,
    /// until the broker is dropped.
    pub fn sweep_periodically(broker: &Arc<EmbeddedBroker>) {
        let every = {
            let state = broker.state.lock();
            (state.retention / 4).clamp(Duration::from_millis(200), Duration::from_secs(3600))
        };
        let weak: Weak<EmbeddedBroker> = Arc::downgrade(broker);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(broker) = weak.upgrade() else { return };
                // The rewrite is file I/O under the broker's lock: off the async threads.
                let _ = tokio::task::spawn_blocking(move || broker.sweep()).await;
            }
        });
    }

    pub fn journal_path(dir: &Path) -> PathBuf {
        journal::path(dir)
    }

    /// Emits the `status: queued` events of the jobs a restart re-queued, and wakes a claimer.
    fn emit_recovered(&self, recovered: Vec<(String, Event)>) {
        let mut state = self.state.lock();
        for (id, event) in recovered {
            self.emit_locked(&mut state, &id, event);
        }
        state.journal.flush();
        if !state.queue.is_empty() {
            self.notify.notify_one();
        }
    }

    /// Appends an event, persists it and delivers it live. Returns its seq.
    fn emit_locked(&self, state: &mut State, id: &str, event: Event) -> u64 {
        let entry = state.jobs.get_mut(id).expect("emit on a known job");
        let seq = entry.record.last_seq + 1;
        entry.record.last_seq = seq;
        if let Some(p) = event.progress_value() {
            entry.record.progress = p;
        }
        let stored = StoredEvent::new(&event, seq);
        entry.events.push(stored.clone());
        // Written to the OS before anyone sees it: a kill -9 cannot lose a published event.
        state.journal.event(id, &stored);
        self.hub.publish(id, stored);
        seq
    }

    /// Makes `transition` (already permitted) on job `id`: record, claim
    /// token (`granted` is the new one), snapshot, queue and event. Returns
    /// the seq of the event, if it emits one. The caller flushes the journal.
    fn apply(&self, state: &mut State, id: &str, transition: Transition, granted: Option<&str>) -> Option<u64> {
        let entry = state.jobs.get_mut(id)?;
        transition.apply(&mut entry.record, now_ms());
        match transition.claim {
            ClaimChange::Grant => entry.token = granted.map(str::to_string),
            ClaimChange::Release => entry.token = None,
            ClaimChange::Keep => {}
        }
        if transition.changes_record() {
            state.journal.record(&entry.record);
        }
        if transition.leaves_queue() {
            state.leave_queue(id);
        }
        let seq = transition.event.map(|event| self.emit_locked(state, id, event));
        match transition.enqueue {
            Some(QueueEnd::Front) => state.queue.push_front(id.to_string()),
            Some(QueueEnd::Back) => state.queue.push_back(id.to_string()),
            None => {}
        }
        seq
    }

    /// Makes a transition a worker asks for under `claim`: refused as stale
    /// unless the claim is still the job's current one.
    fn apply_claimed(&self, claim: &Claim, transition: Transition) -> Result<Option<u64>> {
        let mut state = self.state.lock();
        let entry = state.jobs.get(claim.job_id()).ok_or_else(|| BrokerError::NotFound(claim.job_id().into()))?;
        let holds_claim = entry.token.as_deref() == Some(claim.token.as_str());
        transition.permits(entry.record.status, holds_claim).map_err(|_| BrokerError::Stale(claim.job_id().into()))?;
        let seq = self.apply(&mut state, claim.job_id(), transition, None);
        state.journal.flush();
        Ok(seq)
    }

    /// Gives the first claimable job of the queue to `worker`, skipping ids
    /// whose job is no longer queued.
    fn claim_queued(&self, state: &mut State, worker: &str) -> Option<Claim> {
        while let Some(id) = state.queue.front().cloned() {
            let Some(entry) = state.jobs.get(&id) else {
                state.queue.pop_front();
                continue;
            };
            let transition = lifecycle::claim(&id, worker, entry.record.attempts + 1);
            if transition.permits(entry.record.status, false).is_err() {
                state.queue.pop_front();
                continue;
            }
            let token = uuid::Uuid::new_v4().to_string();
            self.apply(state, &id, transition, Some(&token));
            state.journal.flush();
            let job = state.jobs.get(&id)?.record.clone();
            return Some(Claim { job, token, worker: worker.to_string() });
        }
        None
    }
}

impl State {
    fn new(jobs: Vec<Replayed>, journal: Journal, retention: Duration) -> State {
        let order: Vec<String> = jobs.iter().map(|job| job.record.job_id.clone()).collect();
        let queue = jobs.iter().filter(|job| job.record.status == JobStatus::Queued).map(|job| job.record.job_id.clone()).collect();
        let jobs = jobs.into_iter().map(|job| (job.record.job_id.clone(), Entry { record: job.record, events: job.events, token: None })).collect();
        State { jobs, order, queue, heartbeats: HashMap::new(), journal, retention }
    }

    /// Takes `id` off the queue: at the front when it was just claimed.
    fn leave_queue(&mut self, id: &str) {
        if self.queue.front().is_some_and(|first| first == id) {
            self.queue.pop_front();
        } else {
            self.queue.retain(|queued| queued != id);
        }
    }

    /// Running jobs whose worker has not been heard from within `dead_after`, in submission order.
    fn runs_of_silent_workers(&self, dead_after: Duration) -> Vec<String> {
        let now = Instant::now();
        let silent = |worker: &Option<String>| worker.as_ref().is_none_or(|w| self.heartbeats.get(w).is_none_or(|beat| now.duration_since(*beat) > dead_after));
        let running = |id: &&String| self.jobs.get(*id).is_some_and(|e| e.record.status == JobStatus::Running && silent(&e.record.worker));
        self.order.iter().filter(running).cloned().collect()
    }
}

/// Whether `record` ended longer than `retention` before `now` (Unix ms).
fn expired(record: &JobRecord, retention: Duration, now: i64) -> bool {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    record.status.is_terminal() && record.finished_at.is_some_and(|at| now.saturating_sub(at) > retention_ms)
}

/// Jobs that were running when the process stopped go back to queued; returns
/// the event each of them emits once the journal is open again.
fn recover_running(jobs: &mut [Replayed]) -> Vec<(String, Event)> {
    let now = now_ms();
    let mut recovered = vec![];
    for job in jobs.iter_mut() {
        let transition = lifecycle::recover_after_restart(&job.record.job_id);
        if transition.permits(job.record.status, false).is_ok() {
            transition.apply(&mut job.record, now);
            recovered.extend(transition.event.map(|event| (job.record.job_id.clone(), event)));
        }
    }
    recovered
}

#[async_trait]
impl Broker for EmbeddedBroker {
    async fn submit(&self, job_id: &str, spec: JobSpec) -> Result<JobRecord> {
        let submission = lifecycle::submit(job_id, spec);
        let record = submission.record.clone();
        {
            let mut state = self.state.lock();
            state.jobs.insert(job_id.to_string(), Entry { record: submission.record, events: vec![], token: None });
            state.order.push(job_id.to_string());
            state.journal.record(&record);
            let seq = self.emit_locked(&mut state, job_id, submission.event);
            debug_assert_eq!(seq, 1);
            match submission.enqueue {
                QueueEnd::Front => state.queue.push_front(job_id.to_string()),
                QueueEnd::Back => state.queue.push_back(job_id.to_string()),
            }
            state.journal.flush();
        }
        self.notify.notify_one();
        Ok(JobRecord { last_seq: 1, ..record })
    }

    async fn get(&self, job_id: &str) -> Result<Option<JobRecord>> {
        Ok(self.state.lock().jobs.get(job_id).map(|e| e.record.clone()))
    }

    async fn list(&self, query: &JobQuery) -> Result<JobPage> {
        let state = self.state.lock();
        let matching: Vec<&JobRecord> = state.order.iter().rev().filter_map(|id| state.jobs.get(id)).map(|e| &e.record).filter(|r| query.matches(r)).collect();
        let total = matching.len();
        let jobs = matching.into_iter().skip(query.offset).take(query.limit).cloned().collect();
        Ok(JobPage { jobs, total })
    }

    async fn claim(&self, worker: &str, wait: Duration) -> Result<Option<Claim>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.notify.notified();
            let (claim, more) = {
                let mut state = self.state.lock();
                state.heartbeats.insert(worker.to_string(), Instant::now());
                (self.claim_queued(&mut state, worker), !state.queue.is_empty())
            };
            if let Some(claim) = claim {
                if more {
                    self.notify.notify_one();
                }
                return Ok(Some(claim));
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(None);
            }
        }
    }

    async fn emit(&self, claim: &Claim, event: Event) -> Result<u64> {
        let seq = self.apply_claimed(claim, lifecycle::emit(event))?;
        // An emit transition always carries its event, so it always has a seq.
        seq.ok_or_else(|| BrokerError::Backend("an emitted event got no seq".into()))
    }

    async fn finish(&self, claim: &Claim, ending: Ending) -> Result<()> {
        self.apply_claimed(claim, lifecycle::finish(claim.job_id(), &ending))?;
        Ok(())
    }

    async fn requeue(&self, claim: &Claim) -> Result<()> {
        self.apply_claimed(claim, lifecycle::requeue_on_shutdown(claim.job_id()))?;
        self.notify.notify_one();
        Ok(())
    }

    async fn cancel_for(&self, job_id: &str, cause: CancelCause) -> Result<CancelOutcome> {
        let mut state = self.state.lock();
        let status = state.jobs.get(job_id).ok_or_else(|| BrokerError::NotFound(job_id.into()))?.record.status;
        let Some(transition) = lifecycle::cancel_for(job_id, status, cause) else { return Ok(CancelOutcome::AlreadyEnded(status)) };
        let outcome = if transition.to == JobStatus::Cancelled { CancelOutcome::Cancelled } else { CancelOutcome::Requested };
        self.apply(&mut state, job_id, transition, None);
        state.journal.flush();
        drop(state);
        if outcome == CancelOutcome::Requested {
            self.hub.announce_cancel(job_id);
        }
        Ok(outcome)
    }

    async fn cancel_requested(&self, job_id: &str) -> Result<bool> {
        Ok(self.state.lock().jobs.get(job_id).is_some_and(|e| e.record.cancel_requested))
    }

    fn cancel_requests(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.hub.cancel_requests()
    }

    async fn heartbeat(&self, worker: &str) -> Result<()> {
        self.state.lock().heartbeats.insert(worker.to_string(), Instant::now());
        Ok(())
    }

    async fn retire(&self, worker: &str) -> Result<()> {
        self.state.lock().heartbeats.remove(worker);
        Ok(())
    }

    async fn reap(&self, policy: ReapPolicy) -> Result<Vec<String>> {
        let mut state = self.state.lock();
        let silent = state.runs_of_silent_workers(policy.dead_after);
        for id in &silent {
            let Some(record) = state.jobs.get(id).map(|e| &e.record) else { continue };
            let transition = lifecycle::reap(id, record.attempts, record.worker.as_deref(), policy.max_attempts);
            self.apply(&mut state, id, transition, None);
        }
        state.journal.flush();
        drop(state);
        if !silent.is_empty() {
            self.notify.notify_one();
        }
        Ok(silent)
    }

    async fn events_after(&self, job_id: &str, after: u64) -> Result<Vec<StoredEvent>> {
        let state = self.state.lock();
        let entry = state.jobs.get(job_id).ok_or_else(|| BrokerError::NotFound(job_id.into()))?;
        if entry.events.is_empty() {
            // Dropped after the retention: the record still tells how the job ended.
            return Ok(entry.record.terminal_event().filter(|e| e.seq > after).into_iter().collect());
        }
        Ok(entry.events.iter().skip(after as usize).cloned().collect())
    }

    async fn subscribe(&self, job_id: &str) -> Result<Subscription> {
        Ok(self.hub.subscribe(job_id))
    }

    async fn queue_depth(&self) -> Result<u64> {
        Ok(self.state.lock().queue.len() as u64)
    }

    async fn queue_position(&self, job_id: &str) -> Result<Option<u64>> {
        Ok(self.state.lock().queue.iter().position(|id| id == job_id).map(|i| i as u64 + 1))
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }

    fn shared(&self) -> bool {
        false
    }
}
