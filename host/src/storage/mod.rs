//! Where datasets and model files live: a `Storage` trait with a local
//! directory implementation (`local`, the default: `storage.data_dir/store`)
//! and an object store (`object`, when `storage.url` is set: S3 or an
//! S3-compatible server shared by several machines, or `file://` and
//! `memory://`), plus the dataset records kept there.
//!
//! Owns keys and bytes. Keys are built only from validated parts (`Key`), so a
//! dataset id or an uploaded file name is never used as a path unchecked. It
//! must not parse tables beyond profiling an upload, nor know about jobs.

pub mod cleanup;
pub mod datasets;
pub mod local;
pub mod local_copies;
pub mod object;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid storage key `{0}`")]
    BadKey(String),
    #[error("storage: {0}")]
    Io(String),
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        StorageError::Io(e.to_string())
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// What `Storage::stat` tells of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub bytes: u64,
    /// When it was last written.
    pub modified: std::time::SystemTime,
}

/// A storage key: `/`-separated segments of `[A-Za-z0-9._-]`, none starting with a dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(String);

impl Key {
    pub fn new(parts: &[&str]) -> Result<Key> {
        let joined = parts.join("/");
        if parts.is_empty() || !parts.iter().all(|p| valid_segment(p)) {
            return Err(StorageError::BadKey(joined));
        }
        Ok(Key(joined))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as a path under `root`; safe because every segment was checked.
    pub fn under(&self, root: &Path) -> PathBuf {
        self.0.split('/').fold(root.to_path_buf(), |p, s| p.join(s))
    }
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && !s.starts_with('.') && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

#[async_trait]
pub trait Storage: Send + Sync + 'static {
    async fn put(&self, key: &Key, bytes: Bytes) -> Result<()>;
    /// Moves (or uploads) a local file to `key`; the file is consumed.
    async fn put_file(&self, key: &Key, file: &Path) -> Result<()>;
    async fn get(&self, key: &Key) -> Result<Option<Bytes>>;
    /// A local file with the key's content, for polars (object stores download it to a cache).
    async fn local_copy(&self, key: &Key) -> Result<Option<PathBuf>>;
    /// Deletes the key and everything under it as a prefix.
    async fn delete_prefix(&self, prefix: &Key) -> Result<()>;
    /// The first-level names under `prefix`.
    async fn list(&self, prefix: &Key) -> Result<Vec<String>>;
    /// The size and age of the object at `key`; `None` when there is none
    /// (or the store cannot tell, which the default says).
    async fn stat(&self, _key: &Key) -> Result<Option<Stat>> {
        Ok(None)
    }
    fn describe(&self) -> String;
}

/// The storage the config asks for: `storage.url` if set (checked by one
/// listing, so a wrong URL, endpoint or credentials stop the process here),
/// else the local directory `storage.data_dir/store`.
pub async fn open(config: &Config) -> anyhow::Result<Arc<dyn Storage>> {
    let url = config.storage.url.trim();
    if url.is_empty() {
        let root = config.storage.data_dir.join("store");
        let storage = local::LocalStorage::new(root.clone()).map_err(|e| anyhow::anyhow!("storage.data_dir: creating {}: {e}", root.display()))?;
        return Ok(Arc::new(storage));
    }
    match object::ObjectStorage::open(url, config.storage.data_dir.join("cache")).await {
        Ok(storage) => Ok(Arc::new(storage.with_cache_limit(config.storage.cache_mib.saturating_mul(1 << 20), object::KEEP_RECENT_COPIES))),
        Err(why) => anyhow::bail!("storage.url `{url}`: {why}"),
    }
}
