//! The embedded broker: everything in this process's memory, every change
//! appended to a log file in the data dir (`broker/journal.jsonl`), replayed
//! and compacted at start. A restart loses nothing: queued jobs stay queued,
//! and jobs that were running when the process died are queued again.
//!
//! Durability: each change is written to the OS before it is acknowledged or
//! published (nothing is lost when the process is killed), and fsynced by a
//! group-commit thread shortly after (see `spawn_syncer` for the window a power
//! cut can lose).
//!
//! Only one process may use a data dir's broker at a time (the journal is
//! locked); several processes need the Redis broker.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::{Broker, BrokerError, CancelOutcome, Claim, Hub, ReapPolicy, Result, Subscription};
use crate::jobs::{now_ms, Ending, Event, JobPage, JobQuery, JobRecord, JobSpec, JobStatus, StoredEvent, CANCELLED_BEFORE_START};

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
    journal: BufWriter<File>,
    /// Wakes the group-commit thread after a flush (see `spawn_syncer`).
    dirty: std::sync::mpsc::SyncSender<()>,
}

pub struct EmbeddedBroker {
    state: Mutex<State>,
    notify: Notify,
    hub: Arc<Hub>,
    _lock: File,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Op<'a> {
    Job { record: JobRecord },
    Event { id: Cow<'a, str>, json: Cow<'a, str> },
}

impl EmbeddedBroker {
    pub fn open(dir: &Path) -> anyhow::Result<EmbeddedBroker> {
        std::fs::create_dir_all(dir)?;
        let lock = lock_dir(dir)?;
        let path = dir.join("journal.jsonl");
        let mut jobs: HashMap<String, Entry> = HashMap::new();
        let mut order = Vec::new();
        if let Ok(file) = File::open(&path) {
            for line in BufReader::new(file).lines() {
                let Ok(line) = line else { break };
                // A torn last line (the process died mid-write) is skipped.
                let Ok(op) = serde_json::from_str::<Op>(&line) else { continue };
                match op {
                    Op::Job { record } => match jobs.get_mut(&record.job_id) {
                        Some(entry) => entry.record = merge(record, &entry.record),
                        None => {
                            order.push(record.job_id.clone());
                            jobs.insert(record.job_id.clone(), Entry { record, events: vec![], token: None });
                        }
                    },
                    Op::Event { id, json } => {
                        if let (Some(entry), Some(event)) = (jobs.get_mut(id.as_ref()), StoredEvent::parse_owned(json.into_owned())) {
                            if event.seq == entry.events.len() as u64 + 1 {
                                if let Some(p) = progress_of(&event.json) {
                                    entry.record.progress = p;
                                }
                                entry.record.last_seq = event.seq;
                                entry.events.push(event);
                            }
                        }
                    }
                }
            }
        }
        order.sort_by_key(|id| jobs[id].record.created_at);
        // Jobs that were running when the process stopped go back on the queue.
        let mut requeued = vec![];
        for id in &order {
            let entry = jobs.get_mut(id).unwrap();
            if entry.record.status == JobStatus::Running {
                entry.record.status = JobStatus::Queued;
                entry.record.worker = None;
                requeued.push(id.clone());
            }
        }
        let queue: VecDeque<String> = order.iter().filter(|id| jobs[*id].record.status == JobStatus::Queued).cloned().collect();
        // Compact: one snapshot per job plus its events, then carry on appending.
        let tmp = dir.join("journal.jsonl.tmp");
        {
            let mut out = BufWriter::new(File::create(&tmp)?);
            for id in &order {
                let entry = &jobs[id];
                writeln!(out, "{}", serde_json::to_string(&Op::Job { record: entry.record.clone() })?)?;
                for e in &entry.events {
                    writeln!(out, "{}", serde_json::to_string(&Op::Event { id: Cow::Borrowed(id), json: Cow::Borrowed(e.json.as_str()) })?)?;
                }
            }
            out.flush()?;
            out.get_ref().sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        let journal = BufWriter::new(OpenOptions::new().append(true).open(&path)?);
        let dirty = spawn_syncer(journal.get_ref().try_clone()?)?;
        let broker = EmbeddedBroker {
            state: Mutex::new(State { jobs, order, queue, heartbeats: HashMap::new(), journal, dirty }),
            notify: Notify::new(),
            hub: Hub::new(),
            _lock: lock,
        };
        {
            let mut state = broker.state.lock();
            for id in requeued {
                broker.emit_locked(&mut state, &id, Event::status(&id, JobStatus::Queued, None, Some("re-queued: the process restarted while it ran".into())));
            }
            let _ = state.journal.flush();
        }
        if !broker.state.lock().queue.is_empty() {
            broker.notify.notify_one();
        }
        Ok(broker)
    }

    fn write(state: &mut State, op: &Op) {
        let line = serde_json::to_string(op).expect("journal entries are plain data");
        if let Err(e) = writeln!(state.journal, "{line}") {
            tracing::error!(error = %e, "writing the broker journal");
        }
    }

    fn snapshot(state: &mut State, id: &str) {
        let record = state.jobs[id].record.clone();
        Self::write(state, &Op::Job { record });
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
        Self::write(state, &Op::Event { id: Cow::Borrowed(id), json: Cow::Borrowed(stored.json.as_str()) });
        self.hub.publish(id, stored);
        seq
    }

    fn check<'a>(state: &'a mut State, claim: &Claim) -> Result<&'a mut Entry> {
        let entry = state.jobs.get_mut(claim.job_id()).ok_or_else(|| BrokerError::NotFound(claim.job_id().into()))?;
        if entry.token.as_deref() != Some(claim.token.as_str()) || entry.record.status != JobStatus::Running {
            return Err(BrokerError::Stale(claim.job_id().into()));
        }
        Ok(entry)
    }

    /// Hands the buffered lines to the OS (one write), then asks for an fsync.
    fn flush(state: &mut State) {
        if let Err(e) = state.journal.flush() {
            tracing::error!(error = %e, "flushing the broker journal");
        }
        // Full: a sync is already pending and will cover these lines too.
        let _ = state.dirty.try_send(());
    }
}

/// Group commit: a thread that fsyncs the journal whenever lines were written
/// since its last fsync, so everything written while one fsync runs is made
/// durable by the next one. Writers never wait for it: every change reaches the
/// OS (a `write`) before it is acknowledged or published, so a killed process
/// (kill -9) loses nothing; a power cut or kernel crash can lose the changes of
/// the last fsync interval or two (an fsync takes ~4 ms on the test VM).
fn spawn_syncer(file: File) -> std::io::Result<std::sync::mpsc::SyncSender<()>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::Builder::new().name("journal-fsync".into()).spawn(move || {
        // Ends when the broker (the sender) is dropped.
        while rx.recv().is_ok() {
            if let Err(e) = file.sync_data() {
                tracing::error!(error = %e, "fsync of the broker journal");
            }
        }
    })?;
    Ok(tx)
}

/// The progress a stored event carries, if any.
fn progress_of(json: &str) -> Option<u8> {
    #[derive(Deserialize)]
    struct P {
        progress: Option<u8>,
    }
    serde_json::from_str::<P>(json).ok()?.progress
}

/// A later snapshot wins, but progress and seq come from the events.
fn merge(mut newer: JobRecord, older: &JobRecord) -> JobRecord {
    newer.last_seq = older.last_seq;
    newer.progress = older.progress.max(newer.progress);
    newer
}

#[cfg(unix)]
fn lock_dir(dir: &Path) -> anyhow::Result<File> {
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("lock"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(_) => {
            anyhow::bail!("another trainhost process is using the embedded broker in {}; run one process per data dir, or use Redis for several", dir.display())
        }
    }
}

#[cfg(not(unix))]
fn lock_dir(dir: &Path) -> anyhow::Result<File> {
    Ok(OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("lock"))?)
}

#[async_trait]
impl Broker for EmbeddedBroker {
    async fn submit(&self, job_id: &str, spec: JobSpec) -> Result<JobRecord> {
        let record = JobRecord::new(job_id.to_string(), spec);
        {
            let mut state = self.state.lock();
            state.jobs.insert(job_id.to_string(), Entry { record: record.clone(), events: vec![], token: None });
            state.order.push(job_id.to_string());
            Self::snapshot(&mut state, job_id);
            self.emit_locked(&mut state, job_id, Event::status(job_id, JobStatus::Queued, None, None));
            state.queue.push_back(job_id.to_string());
            Self::flush(&mut state);
        }
        self.notify.notify_one();
        Ok(JobRecord { last_seq: 1, ..record })
    }

    async fn get(&self, job_id: &str) -> Result<Option<JobRecord>> {
        Ok(self.state.lock().jobs.get(job_id).map(|e| e.record.clone()))
    }

    async fn list(&self, query: &JobQuery) -> Result<JobPage> {
        let state = self.state.lock();
        let matching: Vec<&JobRecord> = state.order.iter().rev().map(|id| &state.jobs[id].record).filter(|r| query.matches(r)).collect();
        let total = matching.len();
        let jobs = matching.into_iter().skip(query.offset).take(query.limit).cloned().collect();
        Ok(JobPage { jobs, total })
    }

    async fn claim(&self, worker: &str, wait: Duration) -> Result<Option<Claim>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.notify.notified();
            {
                let mut state = self.state.lock();
                state.heartbeats.insert(worker.to_string(), Instant::now());
                while let Some(id) = state.queue.pop_front() {
                    let Some(entry) = state.jobs.get_mut(&id) else { continue };
                    if entry.record.status != JobStatus::Queued {
                        continue;
                    }
                    let token = uuid::Uuid::new_v4().to_string();
                    entry.token = Some(token.clone());
                    entry.record.status = JobStatus::Running;
                    entry.record.attempts += 1;
                    entry.record.worker = Some(worker.to_string());
                    entry.record.started_at = Some(now_ms());
                    let attempt = entry.record.attempts;
                    Self::snapshot(&mut state, &id);
                    self.emit_locked(&mut state, &id, Event::status(&id, JobStatus::Running, Some(attempt), None));
                    Self::flush(&mut state);
                    let more = !state.queue.is_empty();
                    let job = state.jobs[&id].record.clone();
                    drop(state);
                    if more {
                        self.notify.notify_one();
                    }
                    return Ok(Some(Claim { job, token, worker: worker.to_string() }));
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(None);
            }
        }
    }

    async fn emit(&self, claim: &Claim, event: Event) -> Result<u64> {
        let mut state = self.state.lock();
        Self::check(&mut state, claim)?;
        let seq = self.emit_locked(&mut state, claim.job_id(), event);
        Self::flush(&mut state);
        Ok(seq)
    }

    async fn finish(&self, claim: &Claim, ending: Ending) -> Result<()> {
        let mut state = self.state.lock();
        let entry = Self::check(&mut state, claim)?;
        entry.token = None;
        entry.record.status = ending.status();
        entry.record.finished_at = Some(now_ms());
        match &ending {
            Ending::Completed { results, .. } => {
                entry.record.results = Some(results.clone());
                entry.record.progress = 100;
            }
            Ending::Failed(m) | Ending::Cancelled(m) => entry.record.error = Some(m.clone()),
        }
        Self::snapshot(&mut state, claim.job_id());
        self.emit_locked(&mut state, claim.job_id(), ending.event(claim.job_id()));
        Self::flush(&mut state);
        Ok(())
    }

    async fn requeue(&self, claim: &Claim) -> Result<()> {
        {
            let mut state = self.state.lock();
            let entry = Self::check(&mut state, claim)?;
            entry.token = None;
            entry.record.status = JobStatus::Queued;
            entry.record.worker = None;
            entry.record.attempts = entry.record.attempts.saturating_sub(1);
            Self::snapshot(&mut state, claim.job_id());
            self.emit_locked(
                &mut state,
                claim.job_id(),
                Event::status(claim.job_id(), JobStatus::Queued, None, Some("re-queued: its worker is shutting down".into())),
            );
            state.queue.push_front(claim.job_id().to_string());
            Self::flush(&mut state);
        }
        self.notify.notify_one();
        Ok(())
    }

    async fn cancel(&self, job_id: &str) -> Result<CancelOutcome> {
        let mut state = self.state.lock();
        let entry = state.jobs.get_mut(job_id).ok_or_else(|| BrokerError::NotFound(job_id.into()))?;
        let outcome = match entry.record.status {
            JobStatus::Queued => {
                entry.record.status = JobStatus::Cancelled;
                entry.record.cancel_requested = true;
                entry.record.finished_at = Some(now_ms());
                entry.record.error = Some(CANCELLED_BEFORE_START.into());
                state.queue.retain(|id| id != job_id);
                Self::snapshot(&mut state, job_id);
                self.emit_locked(&mut state, job_id, Event::Cancelled { seq: 0, job_id: job_id.into(), message: CANCELLED_BEFORE_START.into() });
                CancelOutcome::Cancelled
            }
            JobStatus::Running => {
                entry.record.cancel_requested = true;
                Self::snapshot(&mut state, job_id);
                CancelOutcome::Requested
            }
            status => CancelOutcome::AlreadyEnded(status),
        };
        Self::flush(&mut state);
        Ok(outcome)
    }

    async fn cancel_requested(&self, job_id: &str) -> Result<bool> {
        Ok(self.state.lock().jobs.get(job_id).is_some_and(|e| e.record.cancel_requested))
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
        let now = Instant::now();
        let dead = |state: &State, worker: &Option<String>| {
            worker.as_ref().is_none_or(|w| state.heartbeats.get(w).is_none_or(|t| now.duration_since(*t) > policy.dead_after))
        };
        let stale: Vec<String> = state
            .order
            .iter()
            .filter(|id| {
                let r = &state.jobs[*id].record;
                r.status == JobStatus::Running && dead(&state, &r.worker)
            })
            .cloned()
            .collect();
        for id in &stale {
            let entry = state.jobs.get_mut(id).unwrap();
            let worker = entry.record.worker.take().unwrap_or_default();
            entry.token = None;
            if entry.record.attempts >= policy.max_attempts {
                let message = format!(
                    "the job failed after {} attempts: each time its worker stopped responding while training (last worker: {worker})",
                    entry.record.attempts
                );
                entry.record.status = JobStatus::Failed;
                entry.record.error = Some(message.clone());
                entry.record.finished_at = Some(now_ms());
                Self::snapshot(&mut state, id);
                self.emit_locked(&mut state, id, Event::Error { seq: 0, job_id: id.clone(), message });
            } else {
                entry.record.status = JobStatus::Queued;
                let attempts = entry.record.attempts;
                Self::snapshot(&mut state, id);
                let message = format!("re-queued: worker {worker} stopped responding (attempt {attempts} of {})", policy.max_attempts);
                self.emit_locked(&mut state, id, Event::status(id, JobStatus::Queued, None, Some(message)));
                state.queue.push_front(id.clone());
            }
        }
        Self::flush(&mut state);
        drop(state);
        if !stale.is_empty() {
            self.notify.notify_one();
        }
        Ok(stale)
    }

    async fn events_after(&self, job_id: &str, after: u64) -> Result<Vec<StoredEvent>> {
        let state = self.state.lock();
        let entry = state.jobs.get(job_id).ok_or_else(|| BrokerError::NotFound(job_id.into()))?;
        Ok(entry.events.iter().skip(after as usize).cloned().collect())
    }

    async fn subscribe(&self, job_id: &str) -> Result<Subscription> {
        Ok(self.hub.subscribe(job_id))
    }

    async fn queue_depth(&self) -> Result<u64> {
        Ok(self.state.lock().queue.len() as u64)
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }

    fn shared(&self) -> bool {
        false
    }
}

impl EmbeddedBroker {
    pub fn journal_path(dir: &Path) -> PathBuf {
        dir.join("journal.jsonl")
    }
}
