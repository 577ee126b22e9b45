//! Writing a file so that no reader ever sees half of it: the bytes go to a
//! temporary file beside the destination, which is then renamed over it (a
//! rename within one directory is atomic). Every such temporary file's name
//! starts with [`PARTIAL_PREFIX`], so leftovers of a crash can be recognised.
//!
//! Owns the temporary names and the write-then-rename. It must not decide
//! where files live (that is `storage`'s and `config`'s).

use std::path::{Path, PathBuf};

/// The name prefix of every temporary file written here.
pub const PARTIAL_PREFIX: &str = ".partial-";

/// A fresh temporary path beside `dest`, in the same directory (so the
/// rename that follows stays atomic).
pub fn partial_path(dest: &Path) -> PathBuf {
    dest.with_file_name(format!("{PARTIAL_PREFIX}{}", uuid::Uuid::new_v4()))
}

/// Writes `bytes` to `path` atomically, creating its directory if needed.
/// On failure the temporary file is removed and `path` is left as it was.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = partial_path(path);
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// [`write_atomically`] on a blocking thread, for async callers.
pub async fn write_atomically_async(path: PathBuf, bytes: impl AsRef<[u8]> + Send + 'static) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || write_atomically(&path, bytes.as_ref())).await.map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_whole_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub/model.bin");
        write_atomically(&path, b"first").expect("first write");
        write_atomically(&path, b"second").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read back"), b"second");
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("parent")).expect("list").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("model.bin")]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("kept");
        write_atomically(&path, b"old").expect("write");
        // A directory in the way of the rename: the write must fail cleanly.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir_all(blocked.join("child")).expect("dir");
        assert!(write_atomically(&blocked, b"new").is_err());
        assert_eq!(std::fs::read(&path).expect("read"), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 2, "no temporary file left behind");
    }
}
