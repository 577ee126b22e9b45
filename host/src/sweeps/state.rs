//! Where sweeps live: their records and seq-numbered events, beside the
//! broker's jobs, so that a sweep survives the restart of any process. One
//! trait, `SweepStore`; the embedded store keeps them in this process's memory
//! and appends every change to `broker/sweeps.jsonl` in the data dir (written
//! to the OS before it is acknowledged or published, replayed and compacted at
//! start, and compacted again whenever what was appended since outgrows what
//! it holds: every change writes the whole record, so a sweep of many trials
//! would otherwise grow it by the square of their number), like the embedded
//! broker's journal.
//!
//! A driver holds a sweep's lease while it drives it (`lease`): with the
//! embedded store only this process exists, so the lease is always its own.
//!
//! Owns the sweeps' persistence and live delivery. It must not decide what a
//! sweep does next (`driver`).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::events::SweepEvent;
use super::SweepRecord;
use crate::jobs::StoredEvent;
use crate::queue::{BrokerError, Hub, Subscription};

pub type Result<T, E = BrokerError> = std::result::Result<T, E>;

/// The sweeps of a broker.
#[async_trait]
pub trait SweepStore: Send + Sync + 'static {
    /// Stores a new sweep with its first event.
    async fn create(&self, record: &SweepRecord, event: SweepEvent) -> Result<()>;
    async fn get(&self, id: &str) -> Result<Option<SweepRecord>>;
    /// Newest first; only `owner`'s when given.
    async fn list(&self, owner: Option<&str>) -> Result<Vec<SweepRecord>>;
    /// The ids of the sweeps that have not ended (for drivers to take up).
    async fn unfinished(&self) -> Result<Vec<String>>;
    /// Replaces the record (keeping a cancel asked meanwhile) and appends
    /// `events`, numbered after its last seq; returns the record as stored.
    /// Refused (`Stale`) unless `holder` holds the sweep's lease.
    async fn save(&self, record: &SweepRecord, events: Vec<SweepEvent>, holder: &str) -> Result<SweepRecord>;
    /// Sets the cancel flag the driver reads; the record as it now is.
    async fn request_cancel(&self, id: &str) -> Result<Option<SweepRecord>>;
    /// Stored events with seq > `after`, in order.
    async fn events_after(&self, id: &str, after: u64) -> Result<Vec<StoredEvent>>;
    /// Live events of a sweep from now on (subscribe BEFORE replaying).
    async fn subscribe(&self, id: &str) -> Result<Subscription>;
    /// Takes or renews the lease on driving sweep `id` for `ttl`; false when
    /// another holder has it.
    async fn lease(&self, id: &str, holder: &str, ttl: Duration) -> Result<bool>;
    /// Gives the lease back (the sweep ended, or the process stops).
    async fn release(&self, id: &str, holder: &str) -> Result<()>;
}

/// One line of `sweeps.jsonl`.
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
#[allow(clippy::large_enum_variant)]
enum Line {
    /// The record as it now is, with the events appended in the same change:
    /// one line, so that a kill -9 keeps both or neither.
    Sweep { record: SweepRecord, events: Vec<EventLine> },
}

/// A stored event in the journal.
#[derive(Serialize, Deserialize)]
struct EventLine {
    seq: u64,
    terminal: bool,
    json: String,
}

impl From<&StoredEvent> for EventLine {
    fn from(e: &StoredEvent) -> EventLine {
        EventLine { seq: e.seq, terminal: e.terminal, json: e.json.to_string() }
    }
}

struct Entry {
    record: SweepRecord,
    events: Vec<StoredEvent>,
}

struct Inner {
    sweeps: HashMap<String, Entry>,
    writer: BufWriter<File>,
    dir: PathBuf,
    /// Bytes appended since the journal was last compacted, and its size then.
    appended: u64,
    compacted: u64,
}

/// The journal is compacted once the bytes appended since it last was pass
/// both this and `COMPACT_RATIO` times its compacted size.
const COMPACT_AFTER: u64 = 32 << 20;
const COMPACT_RATIO: u64 = 4;

/// Sweeps in memory, journaled to `sweeps.jsonl`.
pub struct EmbeddedSweeps {
    inner: Mutex<Inner>,
    hub: Arc<Hub>,
}

/// The journal's path in a broker dir.
pub fn journal_path(dir: &Path) -> PathBuf {
    dir.join("sweeps.jsonl")
}

impl EmbeddedSweeps {
    /// Replays and compacts the journal in `dir` (the embedded broker's, which
    /// that broker has locked for this process).
    pub fn open(dir: &Path) -> anyhow::Result<EmbeddedSweeps> {
        std::fs::create_dir_all(dir)?;
        let sweeps = replay(&journal_path(dir));
        let (writer, compacted) = compact(dir, &sweeps)?;
        let inner = Inner { sweeps, writer, dir: dir.to_path_buf(), appended: 0, compacted };
        Ok(EmbeddedSweeps { inner: Mutex::new(inner), hub: Hub::new() })
    }
}

/// Writes one line per sweep aside, fsyncs, renames it over the journal, and
/// opens that for appending; returns the writer and the journal's size.
fn compact(dir: &Path, sweeps: &HashMap<String, Entry>) -> std::io::Result<(BufWriter<File>, u64)> {
    let temp = dir.join("sweeps.jsonl.tmp");
    {
        let mut out = BufWriter::new(File::create(&temp)?);
        for entry in sweeps.values() {
            write_entry(&mut out, entry)?;
        }
        out.flush()?;
        out.get_ref().sync_all()?;
    }
    std::fs::rename(&temp, journal_path(dir))?;
    let size = std::fs::metadata(journal_path(dir))?.len();
    Ok((BufWriter::new(OpenOptions::new().append(true).open(journal_path(dir))?), size))
}

fn write_entry(out: &mut impl Write, entry: &Entry) -> std::io::Result<()> {
    let line = Line::Sweep { record: entry.record.clone(), events: entry.events.iter().map(EventLine::from).collect() };
    writeln!(out, "{}", serde_json::to_string(&line)?)
}

fn replay(path: &Path) -> HashMap<String, Entry> {
    let mut sweeps: HashMap<String, Entry> = HashMap::new();
    let Ok(file) = File::open(path) else { return sweeps };
    for line in BufReader::new(file).lines() {
        let Ok(line) = line else { break };
        // A torn last line (the process died mid-write) is skipped.
        match serde_json::from_str::<Line>(&line) {
            Ok(Line::Sweep { record, events }) => {
                let entry = sweeps.entry(record.sweep_id.clone()).or_insert_with(|| Entry { record: record.clone(), events: vec![] });
                for e in events {
                    if e.seq == entry.events.len() as u64 + 1 {
                        entry.events.push(StoredEvent { seq: e.seq, terminal: e.terminal, json: e.json.into() });
                    }
                }
                entry.record = SweepRecord { last_seq: entry.events.len() as u64, ..record };
            }
            Err(_) => continue,
        }
    }
    sweeps
}

impl Inner {
    fn write(&mut self, line: &Line) {
        let written = serde_json::to_string(line).map_err(std::io::Error::from).and_then(|text| {
            self.appended += text.len() as u64 + 1;
            writeln!(self.writer, "{text}")
        });
        if let Err(e) = written {
            tracing::error!(error = %e, "writing the sweeps journal failed");
        }
    }

    /// Compacts the journal when the appended lines outgrew it (see `COMPACT_AFTER`).
    /// On failure the journal stays as it was, still complete, and is appended to.
    fn compact_when_due(&mut self) {
        if self.appended < COMPACT_AFTER || self.appended < COMPACT_RATIO * self.compacted {
            return;
        }
        self.flush();
        match compact(&self.dir, &self.sweeps) {
            Ok((writer, size)) => {
                tracing::debug!(appended = self.appended, size, "compacted the sweeps journal");
                (self.writer, self.appended, self.compacted) = (writer, 0, size);
            }
            Err(e) => {
                tracing::error!(error = %e, "compacting the sweeps journal failed");
                self.appended = 0;
            }
        }
    }

    fn flush(&mut self) {
        if let Err(e) = self.writer.flush() {
            tracing::error!(error = %e, "writing the sweeps journal failed");
        }
    }

    /// Appends the events to sweep `id` and journals the change (record and
    /// events on one line); returns the events numbered and the record.
    fn append(&mut self, id: &str, events: Vec<SweepEvent>) -> Option<(Vec<StoredEvent>, SweepRecord)> {
        let entry = self.sweeps.get_mut(id)?;
        let mut stored = vec![];
        for event in events {
            let seq = entry.record.last_seq + 1;
            entry.record.last_seq = seq;
            let s = event.stored(seq);
            entry.events.push(s.clone());
            stored.push(s);
        }
        let record = entry.record.clone();
        self.write(&Line::Sweep { record: record.clone(), events: stored.iter().map(EventLine::from).collect() });
        self.flush();
        self.compact_when_due();
        Some((stored, record))
    }
}

#[async_trait]
impl SweepStore for EmbeddedSweeps {
    async fn create(&self, record: &SweepRecord, event: SweepEvent) -> Result<()> {
        let mut inner = self.inner.lock();
        inner.sweeps.insert(record.sweep_id.clone(), Entry { record: SweepRecord { last_seq: 0, ..record.clone() }, events: vec![] });
        let (stored, _) = inner.append(&record.sweep_id, vec![event]).ok_or_else(|| BrokerError::NotFound(record.sweep_id.clone()))?;
        drop(inner);
        for s in stored {
            self.hub.publish(&record.sweep_id, s);
        }
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<SweepRecord>> {
        Ok(self.inner.lock().sweeps.get(id).map(|e| e.record.clone()))
    }

    async fn list(&self, owner: Option<&str>) -> Result<Vec<SweepRecord>> {
        let inner = self.inner.lock();
        let mut all: Vec<SweepRecord> = inner.sweeps.values().map(|e| &e.record).filter(|r| owner.is_none() || r.owner.as_deref() == owner).cloned().collect();
        all.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        Ok(all)
    }

    async fn unfinished(&self) -> Result<Vec<String>> {
        Ok(self.inner.lock().sweeps.values().filter(|e| !e.record.status.is_terminal()).map(|e| e.record.sweep_id.clone()).collect())
    }

    async fn save(&self, record: &SweepRecord, events: Vec<SweepEvent>, _holder: &str) -> Result<SweepRecord> {
        let mut inner = self.inner.lock();
        let entry = inner.sweeps.get_mut(&record.sweep_id).ok_or_else(|| BrokerError::NotFound(record.sweep_id.clone()))?;
        let cancel = entry.record.cancel_requested || record.cancel_requested;
        entry.record = SweepRecord { cancel_requested: cancel, last_seq: entry.record.last_seq, ..record.clone() };
        let (stored, saved) = inner.append(&record.sweep_id, events).ok_or_else(|| BrokerError::NotFound(record.sweep_id.clone()))?;
        drop(inner);
        for s in stored {
            self.hub.publish(&record.sweep_id, s);
        }
        Ok(saved)
    }

    async fn request_cancel(&self, id: &str) -> Result<Option<SweepRecord>> {
        let mut inner = self.inner.lock();
        let Some(entry) = inner.sweeps.get_mut(id) else { return Ok(None) };
        entry.record.cancel_requested = true;
        Ok(inner.append(id, vec![]).map(|(_, record)| record))
    }

    async fn events_after(&self, id: &str, after: u64) -> Result<Vec<StoredEvent>> {
        let inner = self.inner.lock();
        let entry = inner.sweeps.get(id).ok_or_else(|| BrokerError::NotFound(id.into()))?;
        Ok(entry.events.iter().skip(after as usize).cloned().collect())
    }

    async fn subscribe(&self, id: &str) -> Result<Subscription> {
        Ok(self.hub.subscribe(id))
    }

    async fn lease(&self, _id: &str, _holder: &str, _ttl: Duration) -> Result<bool> {
        Ok(true)
    }

    async fn release(&self, _id: &str, _holder: &str) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweeps::strategy::Strategy;
    use crate::sweeps::{SweepSpec, SweepStatus};

    fn record(id: &str) -> SweepRecord {
        let base: crate::jobs::JobSpec = serde_json::from_value(serde_json::json!({
            "datasetId": "d", "targetColumn": "y", "taskType": "classification", "modelConfig": {"selectedModel": "p"},
            "plugin": "p", "params": {}, "seed": 1, "validationFraction": 0.2}))
        .unwrap();
        let spec = SweepSpec {
            metric: "accuracy".into(),
            higher_is_better: true,
            strategy: Strategy::Random,
            trials: Some(2),
            budget_seconds: None,
            parallel_trials: 1,
            eta: 3,
            min_epochs: None,
            seed: 1,
            folds: 0,
            spaces: vec![],
            base,
        };
        SweepRecord {
            sweep_id: id.into(),
            owner: None,
            status: SweepStatus::Queued,
            spec,
            trials: vec![],
            rungs: None,
            message: None,
            cancel_requested: false,
            created_at: 1,
            started_at: None,
            finished_at: None,
            last_seq: 0,
        }
    }

    #[tokio::test]
    async fn records_and_events_come_back_after_a_reopen_and_a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedSweeps::open(dir.path()).unwrap();
        let mut r = record("s1");
        store.create(&r, SweepEvent::status(&r)).await.unwrap();
        store.request_cancel("s1").await.unwrap();
        r.status = SweepStatus::Running;
        // A save from a copy read before the cancel keeps the cancel.
        let saved = store.save(&r, vec![SweepEvent::status(&r), SweepEvent::leaderboard(&r)], "me").await.unwrap();
        assert!(saved.cancel_requested);
        assert_eq!(saved.last_seq, 3);
        drop(store);
        // A torn last line: the process died while writing it.
        let mut text = std::fs::read_to_string(journal_path(dir.path())).unwrap();
        text.push_str("{\"op\":\"sweep\",\"record\":{\"sweepId\":\"s1\"");
        std::fs::write(journal_path(dir.path()), text).unwrap();
        let store = EmbeddedSweeps::open(dir.path()).unwrap();
        let back = store.get("s1").await.unwrap().unwrap();
        assert_eq!((back.status, back.cancel_requested, back.last_seq), (SweepStatus::Running, true, 3));
        let events = store.events_after("s1", 1).await.unwrap();
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
        assert!(events[1].json.starts_with("{\"type\":\"leaderboard\",\"seq\":3,"), "{}", events[1].json);
    }

    #[tokio::test]
    async fn a_long_sweep_keeps_its_journal_bounded_and_its_last_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedSweeps::open(dir.path()).unwrap();
        let mut r = record("big");
        store.create(&r, SweepEvent::status(&r)).await.unwrap();
        // Every save writes the whole record: 300 saves of a 256 KiB record append 75 MiB.
        let line = 256 << 10;
        for i in 0..300 {
            r.message = Some(format!("{i:06}{}", "x".repeat(line)));
            store.save(&r, vec![], "me").await.unwrap();
        }
        let size = std::fs::metadata(journal_path(dir.path())).unwrap().len();
        assert!(size < COMPACT_AFTER + 2 * line as u64, "journal of {size} bytes");
        drop(store);
        let back = EmbeddedSweeps::open(dir.path()).unwrap().get("big").await.unwrap().unwrap();
        assert!(back.message.unwrap().starts_with("000299"));
        assert_eq!(back.last_seq, 1);
    }
}
