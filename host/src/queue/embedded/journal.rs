//! The embedded broker's journal: `broker/journal.jsonl` in the data dir, one
//! JSON line per change (a snapshot of a job's record, or one of its events),
//! replayed and compacted at start, then appended to.
//!
//! Durability: each change is written to the OS before it is acknowledged or
//! published (nothing is lost when the process is killed), and fsynced by a
//! group-commit thread shortly after (see `spawn_syncer` for the window a power
//! cut can lose). The data dir is locked: one process uses it at a time.
//!
//! Compaction drops nothing itself: the broker hands it the jobs as they are
//! to be kept (the events of jobs finished long ago already dropped).
//!
//! Owns the file format, replay, compaction and fsync. It must not decide
//! job transitions (`jobs::lifecycle`) or keep the broker's queue.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;

use serde::{Deserialize, Serialize};

use crate::jobs::{JobRecord, StoredEvent};

/// One line of the journal. Written from borrowed data (nothing is copied);
/// an `Op` lives only while its line is read or written, so its size is moot.
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
#[allow(clippy::large_enum_variant)]
enum Op<'a> {
    Job { record: Cow<'a, JobRecord> },
    Event { id: Cow<'a, str>, json: Cow<'a, str> },
}

/// A job as the journal holds it.
pub(super) struct Replayed {
    pub record: JobRecord,
    pub events: Vec<StoredEvent>,
}

/// The lock on a data dir's broker: held as long as the journal is open.
pub(super) struct DirLock {
    _file: File,
}

/// The open journal, appended to.
pub(super) struct Journal {
    dir: PathBuf,
    writer: BufWriter<File>,
    /// Wakes the group-commit thread after a flush (see `spawn_syncer`).
    dirty: SyncSender<()>,
    _lock: DirLock,
}

pub(super) fn path(dir: &Path) -> PathBuf {
    dir.join("journal.jsonl")
}

/// The jobs of the journal in `dir`, in creation order; none if it does not exist yet.
pub(super) fn replay(dir: &Path) -> Vec<Replayed> {
    let mut jobs: HashMap<String, Replayed> = HashMap::new();
    let mut order = Vec::new();
    if let Ok(file) = File::open(path(dir)) {
        for line in BufReader::new(file).lines() {
            let Ok(line) = line else { break };
            // A torn last line (the process died mid-write) is skipped.
            match serde_json::from_str::<Op>(&line) {
                Ok(Op::Job { record }) => replay_record(&mut jobs, &mut order, record.into_owned()),
                Ok(Op::Event { id, json }) => replay_event(&mut jobs, &id, json.into_owned()),
                Err(_) => continue,
            }
        }
    }
    let mut replayed: Vec<Replayed> = order.iter().filter_map(|id| jobs.remove(id)).collect();
    replayed.sort_by_key(|job| job.record.created_at);
    replayed
}

fn replay_record(jobs: &mut HashMap<String, Replayed>, order: &mut Vec<String>, record: JobRecord) {
    match jobs.get_mut(&record.job_id) {
        Some(job) => job.record = merge(record, &job.record),
        None => {
            order.push(record.job_id.clone());
            jobs.insert(record.job_id.clone(), Replayed { record, events: vec![] });
        }
    }
}

/// An event is kept only in seq order: it carries the job's seq and progress.
fn replay_event(jobs: &mut HashMap<String, Replayed>, id: &str, json: String) {
    let (Some(job), Some(event)) = (jobs.get_mut(id), StoredEvent::parse_owned(json)) else { return };
    if event.seq != job.events.len() as u64 + 1 {
        return;
    }
    if let Some(progress) = progress_of(&event.json) {
        job.record.progress = progress;
    }
    job.record.last_seq = event.seq;
    job.events.push(event);
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

impl Journal {
    /// Compacts the journal of `dir` to one snapshot per job plus its events
    /// (written aside, fsynced, then renamed over it) and opens it for appending.
    pub(super) fn compact<'a>(dir: &Path, lock: DirLock, jobs: impl Iterator<Item = (&'a JobRecord, &'a [StoredEvent])>) -> anyhow::Result<Journal> {
        let (writer, dirty) = write_compacted(dir, jobs)?;
        Ok(Journal { dir: dir.to_path_buf(), writer, dirty, _lock: lock })
    }

    /// Compacts the open journal to `jobs` (the broker's whole state, which
    /// already holds every line buffered here), then appends to the new file.
    pub(super) fn rewrite<'a>(&mut self, jobs: impl Iterator<Item = (&'a JobRecord, &'a [StoredEvent])>) -> anyhow::Result<()> {
        let (writer, dirty) = write_compacted(&self.dir, jobs)?;
        // The old writer's buffer went to the old file, which the rename unlinked.
        self.writer = writer;
        self.dirty = dirty;
        Ok(())
    }

    /// Appends a snapshot of the record (buffered until `flush`).
    pub(super) fn record(&mut self, record: &JobRecord) {
        let line = serde_json::to_string(&Op::Job { record: Cow::Borrowed(record) }).expect("journal entries are plain data");
        self.append(&line);
    }

    /// Appends one event of job `id` (buffered until `flush`).
    pub(super) fn event(&mut self, id: &str, event: &StoredEvent) {
        let line = event_line(id, event);
        self.append(&line);
    }

    /// Hands the buffered lines to the OS (one write), then asks for an fsync.
    pub(super) fn flush(&mut self) {
        if let Err(e) = self.writer.flush() {
            tracing::error!(error = %e, "flushing the broker journal");
        }
        // Full: a sync is already pending and will cover these lines too.
        let _ = self.dirty.try_send(());
    }

    fn append(&mut self, line: &str) {
        if let Err(e) = writeln!(self.writer, "{line}") {
            tracing::error!(error = %e, "writing the broker journal");
        }
    }
}

/// Writes one snapshot per job plus its events aside, fsyncs, renames it over
/// the journal, and opens that for appending (with its fsync thread).
fn write_compacted<'a>(dir: &Path, jobs: impl Iterator<Item = (&'a JobRecord, &'a [StoredEvent])>) -> anyhow::Result<(BufWriter<File>, SyncSender<()>)> {
    let tmp = dir.join("journal.jsonl.tmp");
    {
        let mut out = BufWriter::new(File::create(&tmp)?);
        for (record, events) in jobs {
            writeln!(out, "{}", serde_json::to_string(&Op::Job { record: Cow::Borrowed(record) })?)?;
            for event in events {
                writeln!(out, "{}", event_line(&record.job_id, event))?;
            }
        }
        out.flush()?;
        out.get_ref().sync_all()?;
    }
    std::fs::rename(&tmp, path(dir))?;
    let writer = BufWriter::new(OpenOptions::new().append(true).open(path(dir))?);
    let dirty = spawn_syncer(writer.get_ref().try_clone()?)?;
    Ok((writer, dirty))
}

fn event_line(id: &str, event: &StoredEvent) -> String {
    serde_json::to_string(&Op::Event { id: Cow::Borrowed(id), json: Cow::Borrowed(event.json.as_str()) }).expect("journal entries are plain data")
}

/// Group commit: a thread that fsyncs the journal whenever lines were written
/// since its last fsync, so everything written while one fsync runs is made
/// durable by the next one. Writers never wait for it: every change reaches the
/// OS (a `write`) before it is acknowledged or published, so a killed process
/// (kill -9) loses nothing; a power cut or kernel crash can lose the changes of
/// the last fsync interval or two (an fsync takes ~4 ms on the test VM).
fn spawn_syncer(file: File) -> std::io::Result<SyncSender<()>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::Builder::new().name("journal-fsync".into()).spawn(move || {
        // Ends when the journal (the sender) is dropped.
        while rx.recv().is_ok() {
            if let Err(e) = file.sync_data() {
                tracing::error!(error = %e, "fsync of the broker journal");
            }
        }
    })?;
    Ok(tx)
}

/// Locks the data dir's broker: a second process gets an error saying why.
#[cfg(unix)]
pub(super) fn lock_dir(dir: &Path) -> anyhow::Result<DirLock> {
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("lock"))?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(_) => {
            anyhow::bail!("another trainhost process is using the embedded broker in {}; run one process per data dir, or use Redis for several", dir.display())
        }
    }
}

#[cfg(not(unix))]
pub(super) fn lock_dir(dir: &Path) -> anyhow::Result<DirLock> {
    Ok(DirLock { _file: OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("lock"))? })
}
