//! What a crash leaves behind, removed at start: temporary uploads (the
//! upload dir) and partial writes (names starting with
//! [`crate::files::PARTIAL_PREFIX`]) under the data dir, dataset folders
//! whose record is gone, and model files the caller finds orphaned.
//!
//! Several processes of one machine may share a data dir (with Redis): each
//! holds a shared lock on `data_dir/processes.lock` for its life. The first
//! one to start alone (it gets the lock exclusively) removes every temporary
//! file; one that starts beside others removes only those untouched for
//! `STALE_AFTER`, as another process may be writing the rest.
//!
//! Owns that walk and those rules. It must not decide which jobs still exist
//! (the caller, which has the broker, says which models are orphans).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{datasets, Key, Storage};

/// A temporary file untouched this long is no one's, even with other processes running.
pub const STALE_AFTER: Duration = Duration::from_secs(3600);
/// A dataset folder without its record is left alone this long: an upload may be storing it.
pub const ORPHAN_DATASET_AFTER: Duration = Duration::from_secs(600);

/// This process's share of the data dir: held for the process's life.
pub struct DataDirUse {
    _lock: File,
}

/// What was removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub files: usize,
    pub bytes: u64,
}

impl Removed {
    pub fn add(&mut self, bytes: u64) {
        self.files += 1;
        self.bytes += bytes;
    }
}

/// Takes this process's share of `data_dir` and removes the temporary files
/// no other process may be writing (see the module doc). Logs what went.
pub fn at_start(data_dir: &Path, upload_dir: &Path) -> std::io::Result<(DataDirUse, Removed)> {
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(data_dir.join("processes.lock"))?;
    let alone = lock.try_lock().is_ok();
    let older_than = if alone { Duration::ZERO } else { STALE_AFTER };
    let removed = remove_temporary_files(data_dir, upload_dir, older_than, SystemTime::now());
    if alone {
        lock.unlock()?;
    }
    lock.lock_shared()?;
    if removed.files > 0 {
        tracing::warn!(files = removed.files, bytes = removed.bytes, "removed temporary files left by an earlier crash");
    }
    Ok((DataDirUse { _lock: lock }, removed))
}

/// Removes the files of `upload_dir` and the partial files under `data_dir`
/// last written more than `older_than` before `now`.
pub fn remove_temporary_files(data_dir: &Path, upload_dir: &Path, older_than: Duration, now: SystemTime) -> Removed {
    let mut removed = Removed::default();
    let stale = |meta: &std::fs::Metadata| meta.modified().ok().and_then(|m| now.duration_since(m).ok()).is_some_and(|age| age >= older_than);
    let mut dirs = vec![data_dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let (path, Ok(meta)) = (entry.path(), entry.metadata()) else { continue };
            if meta.is_dir() {
                dirs.push(path);
                continue;
            }
            let temporary = dir == upload_dir || entry.file_name().to_string_lossy().starts_with(crate::files::PARTIAL_PREFIX);
            if temporary && stale(&meta) && remove_file(&path) {
                removed.add(meta.len());
            }
        }
    }
    removed
}

fn remove_file(path: &PathBuf) -> bool {
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::info!(file = %path.display(), "removed a temporary file");
            true
        }
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot remove a temporary file");
            false
        }
    }
}

/// Removes the dataset folders without a record (an upload or a delete cut
/// short) whose files are all older than `ORPHAN_DATASET_AFTER`.
pub async fn remove_orphan_datasets(storage: &Arc<dyn Storage>) -> super::Result<Removed> {
    let mut removed = Removed::default();
    let now = SystemTime::now();
    for id in storage.list(&Key::new(&["datasets"])?).await? {
        if !crate::ids::is_valid_id(&id) || datasets::get(storage, &id).await.is_ok_and(|r| r.is_some()) {
            continue;
        }
        let folder = Key::new(&["datasets", &id])?;
        let mut bytes = 0;
        let mut all_old = true;
        for name in storage.list(&folder).await? {
            match storage.stat(&Key::new(&["datasets", &id, &name])?).await? {
                Some(stat) if now.duration_since(stat.modified).is_ok_and(|age| age >= ORPHAN_DATASET_AFTER) => bytes += stat.bytes,
                _ => all_old = false,
            }
        }
        if all_old {
            storage.delete_prefix(&folder).await?;
            tracing::warn!(dataset = %id, bytes, "removed the files of a dataset whose record is gone");
            removed.add(bytes);
        }
    }
    Ok(removed)
}

/// The job ids of the stored model files.
pub async fn model_files(storage: &Arc<dyn Storage>) -> super::Result<Vec<String>> {
    let names = storage.list(&Key::new(&["models"])?).await?;
    Ok(names.iter().filter_map(|n| n.strip_suffix(".trainhost")).filter(|id| crate::ids::is_valid_id(id)).map(str::to_string).collect())
}

/// Removes the model file of job `job_id`; returns its size.
pub async fn remove_model(storage: &Arc<dyn Storage>, job_id: &str) -> super::Result<u64> {
    let key = datasets::model_key(job_id)?;
    let bytes = storage.stat(&key).await?.map_or(0, |s| s.bytes);
    storage.delete_prefix(&key).await?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_files_go_and_the_rest_stays() {
        let dir = tempfile::tempdir().unwrap();
        let (data, uploads) = (dir.path().to_path_buf(), dir.path().join("uploads"));
        std::fs::create_dir_all(data.join("store/models")).unwrap();
        std::fs::create_dir_all(&uploads).unwrap();
        std::fs::write(uploads.join("upload-1"), vec![0u8; 100]).unwrap();
        std::fs::write(data.join("store/models/.partial-x"), vec![0u8; 10]).unwrap();
        std::fs::write(data.join("store/models/j.trainhost"), b"model").unwrap();
        let now = SystemTime::now();
        assert_eq!(remove_temporary_files(&data, &uploads, STALE_AFTER, now), Removed::default(), "fresh files stay while others may write them");
        assert_eq!(remove_temporary_files(&data, &uploads, Duration::ZERO, now), Removed { files: 2, bytes: 110 });
        assert!(data.join("store/models/j.trainhost").exists());
    }
}
