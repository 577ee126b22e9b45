//! The bound on `storage.data_dir/cache/`, where the object store's datasets
//! are copied for polars to read. The least recently used copies go first (a
//! copy's modification time is reset each time it is handed out), and a copy
//! used within the last `keep_recent` is never chosen: a job may be about to
//! open it.
//!
//! Owns the walk and the choice of what to delete. It deletes nothing itself:
//! the object storage does, under the lock its downloads take.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// One local copy of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Copy {
    pub path: PathBuf,
    pub bytes: u64,
    pub last_used: SystemTime,
}

/// The copies under `root`. Stamps and partial downloads (names starting with
/// a dot) are not copies; a directory that cannot be read is skipped.
pub fn list(root: &Path) -> Vec<Copy> {
    let mut copies = vec![];
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                dirs.push(entry.path());
            } else if let Ok(last_used) = meta.modified() {
                copies.push(Copy { path: entry.path(), bytes: meta.len(), last_used });
            }
        }
    }
    copies
}

/// The copies to delete, least recently used first, so that the others fit
/// in `limit` bytes; copies used since `now - keep_recent` are spared even
/// when that leaves the cache over its bound.
pub fn to_evict(mut copies: Vec<Copy>, limit: u64, keep_recent: Duration, now: SystemTime) -> Vec<Copy> {
    let mut total: u64 = copies.iter().map(|c| c.bytes).sum();
    copies.sort_by_key(|c| c.last_used);
    let mut evict = vec![];
    for copy in copies {
        if total <= limit {
            break;
        }
        let recent = now.duration_since(copy.last_used).map_or(true, |age| age < keep_recent);
        if !recent {
            total -= copy.bytes;
            evict.push(copy);
        }
    }
    evict
}

/// The file beside a copy that holds the stamp of the object it came from.
pub fn stamp_path(copy: &Path) -> PathBuf {
    let name = copy.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    copy.with_file_name(format!(".{name}.stamp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(name: &str, bytes: u64, used_secs_ago: u64, now: SystemTime) -> Copy {
        Copy { path: PathBuf::from(name), bytes, last_used: now - Duration::from_secs(used_secs_ago) }
    }

    fn names(copies: &[Copy]) -> Vec<&str> {
        copies.iter().map(|c| c.path.to_str().unwrap()).collect()
    }

    #[test]
    fn the_least_recently_used_go_until_the_rest_fits() {
        let now = SystemTime::now();
        let copies = vec![copy("new", 400, 10, now), copy("oldest", 300, 300, now), copy("old", 500, 200, now)];
        assert_eq!(names(&to_evict(copies.clone(), 1200, Duration::ZERO, now)), Vec::<&str>::new(), "1,200 bytes fit");
        assert_eq!(names(&to_evict(copies.clone(), 1000, Duration::ZERO, now)), ["oldest"]);
        assert_eq!(names(&to_evict(copies.clone(), 500, Duration::ZERO, now)), ["oldest", "old"]);
        assert_eq!(names(&to_evict(copies, 0, Duration::ZERO, now)), ["oldest", "old", "new"]);
    }

    #[test]
    fn copies_used_recently_are_spared_even_over_the_bound() {
        let now = SystemTime::now();
        let copies = vec![copy("a", 400, 10, now), copy("b", 300, 300, now), copy("c", 500, 100, now)];
        assert_eq!(names(&to_evict(copies.clone(), 0, Duration::from_secs(150), now)), ["b"]);
        assert_eq!(names(&to_evict(copies, 0, Duration::from_secs(3600), now)), Vec::<&str>::new());
    }

    #[test]
    fn the_walk_finds_copies_in_subfolders_and_skips_stamps_and_partials() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("datasets/d1")).unwrap();
        std::fs::write(dir.path().join("datasets/d1/data.csv"), b"a,b\n1,2\n").unwrap();
        std::fs::write(stamp_path(&dir.path().join("datasets/d1/data.csv")), b"8 etag").unwrap();
        std::fs::write(dir.path().join("datasets/d1/.partial-x"), b"half").unwrap();
        let found = list(dir.path());
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].path.clone(), found[0].bytes), (dir.path().join("datasets/d1/data.csv"), 8));
        assert!(list(&dir.path().join("missing")).is_empty());
    }
}
