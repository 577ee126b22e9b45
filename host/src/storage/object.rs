//! Storage in an object store (`object_store`): S3 or an S3-compatible server
//! (MinIO, Ceph, R2...) shared by several machines, or `file://` and `memory://`
//! for a single process and tests.
//!
//! Every key lives under the URL's path prefix. Polars reads local files, so
//! `local_copy` downloads an object once into `storage.data_dir/cache/` and
//! reuses it while the object's size and ETag are unchanged; the copies are
//! kept under `storage.cache_mib` (see `local_copies`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::local_copies;
use super::{Key, Result, Stat, Storage, StorageError};

/// Files larger than this are uploaded in parts of this size (S3 wants at
/// least 5 MiB per part and at most 10,000 parts: up to ~80 GB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one upload in flight at once; with the part being filled, memory
/// held by one upload stays under `(PARTS_IN_FLIGHT + 1) * PART_SIZE`.
const PARTS_IN_FLIGHT: usize = 2;
/// How long the startup check may wait for the store to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
/// Downloads of the same key wait for each other (striped locks).
const LOCK_STRIPES: usize = 16;
/// A local copy handed out this recently is never deleted to trim the cache:
/// the job it was handed to may not have opened it yet.
pub const KEEP_RECENT_COPIES: Duration = Duration::from_secs(600);

pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    /// The URL without credentials, for messages.
    label: String,
    cache: PathBuf,
    /// Bytes of local copies kept before the least recently used go.
    cache_limit: u64,
    keep_recent: Duration,
    downloads: Vec<tokio::sync::Mutex<()>>,
    trimming: tokio::sync::Mutex<()>,
}

impl ObjectStorage {
    /// Opens the store `url` names (`s3://bucket/prefix`, `file:///abs/dir`,
    /// `memory://`) and checks that it answers. S3 settings come from the
    /// standard `AWS_*` environment variables (`AWS_ENDPOINT_URL`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ALLOW_HTTP`...). The error says what is wrong with the URL or the
    /// store; the caller names the setting.
    pub async fn open(url: &str, cache: PathBuf) -> std::result::Result<ObjectStorage, String> {
        let env = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        let (store, label) = store_for_url(url, env)?;
        let storage = ObjectStorage::from_store(store, label, cache);
        storage.probe().await?;
        Ok(storage)
    }

    /// Storage over an already built store (all keys at its root), caching
    /// downloads under `cache` without a bound. `label` names the store in messages.
    pub fn from_store(store: Arc<dyn ObjectStore>, label: impl Into<String>, cache: PathBuf) -> ObjectStorage {
        ObjectStorage {
            store,
            label: label.into(),
            cache,
            cache_limit: u64::MAX,
            keep_recent: KEEP_RECENT_COPIES,
            downloads: (0..LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            trimming: tokio::sync::Mutex::new(()),
        }
    }

    /// Keeps the local copies under `bytes`, never deleting one handed out
    /// within `keep_recent`.
    pub fn with_cache_limit(mut self, bytes: u64, keep_recent: Duration) -> ObjectStorage {
        self.cache_limit = bytes;
        self.keep_recent = keep_recent;
        self
    }

    /// One listing, so that a wrong endpoint, bucket or credentials stop the
    /// process at startup instead of failing the first upload.
    async fn probe(&self) -> std::result::Result<(), String> {
        match tokio::time::timeout(PROBE_TIMEOUT, self.store.list_with_delimiter(None)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("the store cannot be listed: {e}")),
            Err(_) => Err(format!("the store did not answer within {} s (check AWS_ENDPOINT_URL and the network)", PROBE_TIMEOUT.as_secs())),
        }
    }

    fn path(key: &Key) -> Result<ObjectPath> {
        ObjectPath::parse(key.as_str()).map_err(|_| StorageError::BadKey(key.as_str().to_string()))
    }

    fn error(&self, action: &str, key: &Key, e: object_store::Error) -> StorageError {
        StorageError::Io(format!("{action} `{}` in {}: {e}", key.as_str(), self.label))
    }

    /// The cached copy of `key` and the file beside it that holds the stamp
    /// (ETag) of the object it was copied from. Keys never start with a dot,
    /// so neither name can be another key's.
    fn cache_paths(&self, key: &Key) -> (PathBuf, PathBuf) {
        let file = key.under(&self.cache);
        let stamp = local_copies::stamp_path(&file);
        (file, stamp)
    }

    /// The lock of one local copy (by its path, which the trimming also knows).
    fn copy_lock(&self, copy: &Path) -> &tokio::sync::Mutex<()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        copy.hash(&mut hasher);
        &self.downloads[hasher.finish() as usize % LOCK_STRIPES]
    }

    /// Deletes the least recently used copies until the cache fits its bound
    /// (one trim at a time; a copy handed out again meanwhile stays).
    async fn trim_cache(&self) {
        if self.cache_limit == u64::MAX {
            return;
        }
        let Ok(_trimming) = self.trimming.try_lock() else { return };
        let root = self.cache.clone();
        let copies = tokio::task::spawn_blocking(move || local_copies::list(&root)).await.unwrap_or_default();
        for copy in local_copies::to_evict(copies, self.cache_limit, self.keep_recent, SystemTime::now()) {
            let _guard = self.copy_lock(&copy.path).lock().await;
            let last_used = tokio::fs::metadata(&copy.path).await.and_then(|m| m.modified()).ok();
            if last_used != Some(copy.last_used) {
                continue;
            }
            // The stamp goes first: a copy without its stamp is never handed out.
            let _ = tokio::fs::remove_file(local_copies::stamp_path(&copy.path)).await;
            if tokio::fs::remove_file(&copy.path).await.is_ok() {
                tracing::info!(path = %copy.path.display(), bytes = copy.bytes, "local copy deleted to keep the cache under storage.cache_mib");
            }
        }
    }

    async fn forget_cached(&self, key: &Key) {
        let (file, stamp) = self.cache_paths(key);
        let _ = tokio::fs::remove_file(&file).await;
        let _ = tokio::fs::remove_file(&stamp).await;
    }

    /// Keeps an uploaded file as the cached copy of `key` (it is what a later
    /// `local_copy` would download); deletes it when that is not possible.
    async fn keep_as_cached(&self, key: &Key, file: &Path, size: u64, e_tag: Option<String>) {
        let kept = async {
            let e_tag = e_tag.ok_or_else(|| std::io::Error::other("no ETag"))?;
            let (dest, stamp_path) = self.cache_paths(key);
            let _guard = self.copy_lock(&dest).lock().await;
            if let Some(parent) = dest.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            let _ = tokio::fs::remove_file(&stamp_path).await;
            tokio::fs::rename(file, &dest).await?;
            crate::files::write_atomically_async(stamp_path, stamp(size, &e_tag)).await
        }
        .await;
        if kept.is_err() {
            let _ = tokio::fs::remove_file(file).await;
        }
        self.trim_cache().await;
    }

    async fn upload_in_parts(&self, path: &ObjectPath, mut file: tokio::fs::File) -> std::result::Result<object_store::PutResult, UploadError> {
        let upload = self.store.put_multipart(path).await.map_err(UploadError::Store)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut buf = vec![0u8; 1024 * 1024];
        let streamed = async {
            loop {
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(UploadError::Store)?;
                let n = file.read(&mut buf).await.map_err(UploadError::File)?;
                if n == 0 {
                    return Ok(());
                }
                writer.write(&buf[..n]);
            }
        }
        .await;
        match streamed {
            Ok(()) => writer.finish().await.map_err(UploadError::Store),
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }
}

/// The store `url` names, already rooted at the URL's path prefix, and the
/// URL without credentials (for messages). `options` are `AWS_*` settings
/// (names as the environment variables, any case); others are ignored.
pub fn store_for_url(url: &str, options: impl IntoIterator<Item = (String, String)>) -> std::result::Result<(Arc<dyn ObjectStore>, String), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL ({e}); use s3://bucket/prefix, file:///absolute/dir or memory://"))?;
    let label = redacted(&parsed);
    let (store, prefix): (Arc<dyn ObjectStore>, ObjectPath) = match parsed.scheme() {
        "s3" | "s3a" => {
            if parsed.host_str().unwrap_or_default().is_empty() {
                return Err("no bucket: write s3://bucket or s3://bucket/prefix".into());
            }
            let options: Vec<(String, String)> = options.into_iter().filter(|(k, _)| k.to_ascii_uppercase().starts_with("AWS_")).collect();
            check_plain_http(&options)?;
            let builder = options.iter().fold(AmazonS3Builder::new(), |builder, (k, v)| match k.to_ascii_lowercase().parse() {
                Ok(key) => builder.with_config(key, v),
                Err(_) => builder,
            });
            let store = builder.with_url(url).build().map_err(|e| format!("S3 settings: {e}"))?;
            (Arc::new(store), url_prefix(&parsed)?)
        }
        "file" => {
            if parsed.host_str().is_some_and(|h| !h.is_empty()) {
                return Err("a file URL takes an absolute path and no host: file:///absolute/dir".into());
            }
            let dir = parsed.to_file_path().map_err(|()| "a file URL takes an absolute path: file:///absolute/dir".to_string())?;
            std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
            // Rooted at the directory, so that deleting the last object of a
            // folder removes the emptied folders up to it (and no further).
            let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| format!("{}: {e}", dir.display()))?.with_automatic_cleanup(true);
            (Arc::new(store), ObjectPath::default())
        }
        "memory" => {
            if parsed.host_str().is_some_and(|h| !h.is_empty()) {
                return Err("a memory URL takes no host: memory:// or memory:///prefix".into());
            }
            (Arc::new(InMemory::new()), url_prefix(&parsed)?)
        }
        other => return Err(format!("unsupported scheme `{other}:`; use s3://bucket/prefix, file:///absolute/dir or memory://")),
    };
    let store: Arc<dyn ObjectStore> = if prefix.is_root() { store } else { Arc::new(PrefixStore::new(store, prefix)) };
    Ok((store, label))
}

enum UploadError {
    File(std::io::Error),
    Store(object_store::Error),
}

/// What identifies one version of an object: its size and ETag (or, from a
/// store that gives no ETag, its modification time).
fn stamp(size: u64, e_tag: &str) -> String {
    format!("{size} {e_tag}")
}

fn meta_stamp(meta: &ObjectMeta) -> String {
    match &meta.e_tag {
        Some(tag) => stamp(meta.size, tag),
        None => stamp(meta.size, &format!("modified {}", meta.last_modified.timestamp_micros())),
    }
}

/// Records that a local copy was handed out: its modification time orders the trimming.
async fn mark_used(copy: &Path) {
    let copy = copy.to_path_buf();
    let _ = tokio::task::spawn_blocking(move || std::fs::File::options().write(true).open(&copy)?.set_modified(SystemTime::now())).await;
}

/// The URL without user, password, query or fragment.
fn redacted(url: &url::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

fn url_prefix(url: &url::Url) -> std::result::Result<ObjectPath, String> {
    ObjectPath::from_url_path(url.path()).map_err(|e| format!("the path `{}` cannot be a key prefix: {e}", url.path()))
}

/// A plain-http endpoint is refused by the S3 client unless allowed; say so
/// at startup rather than on the first request.
fn check_plain_http(options: &[(String, String)]) -> std::result::Result<(), String> {
    let value = |name: &str| options.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let allowed = value("AWS_ALLOW_HTTP").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    for var in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT"] {
        if let Some(endpoint) = value(var).filter(|v| v.starts_with("http://")) {
            if !allowed {
                return Err(format!("{var} `{endpoint}` is plain http; set AWS_ALLOW_HTTP=true to allow it"));
            }
        }
    }
    Ok(())
}

#[async_trait]
impl Storage for ObjectStorage {
    async fn put(&self, key: &Key, bytes: Bytes) -> Result<()> {
        // An object store's put is atomic: readers see the old object or the new one.
        self.store.put(&Self::path(key)?, PutPayload::from(bytes)).await.map_err(|e| self.error("writing", key, e))?;
        Ok(())
    }

    async fn put_file(&self, key: &Key, file: &Path) -> Result<()> {
        let path = Self::path(key)?;
        let reading = |e: std::io::Error| StorageError::Io(format!("reading {}: {e}", file.display()));
        let mut handle = tokio::fs::File::open(file).await.map_err(reading)?;
        let size = handle.metadata().await.map_err(reading)?.len();
        let result = if size <= PART_SIZE as u64 {
            let mut bytes = Vec::with_capacity(size as usize);
            handle.read_to_end(&mut bytes).await.map_err(reading)?;
            self.store.put(&path, PutPayload::from(bytes)).await.map_err(|e| self.error("uploading", key, e))?
        } else {
            // Streamed part by part: a multi-GB upload is never held in memory.
            match self.upload_in_parts(&path, handle).await {
                Ok(result) => result,
                Err(UploadError::File(e)) => return Err(reading(e)),
                Err(UploadError::Store(e)) => return Err(self.error("uploading", key, e)),
            }
        };
        self.keep_as_cached(key, file, size, result.e_tag).await;
        Ok(())
    }

    async fn get(&self, key: &Key) -> Result<Option<Bytes>> {
        let path = Self::path(key)?;
        let read = async { self.store.get(&path).await?.bytes().await };
        match read.await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("reading", key, e)),
        }
    }

    async fn local_copy(&self, key: &Key) -> Result<Option<PathBuf>> {
        let path = Self::path(key)?;
        let meta = match self.store.head(&path).await {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => {
                self.forget_cached(key).await;
                return Ok(None);
            }
            Err(e) => return Err(self.error("reading", key, e)),
        };
        let wanted = meta_stamp(&meta);
        let (dest, stamp_path) = self.cache_paths(key);
        let guard = self.copy_lock(&dest).lock().await;
        let cached_stamp = tokio::fs::read_to_string(&stamp_path).await.unwrap_or_default();
        let cached_size = tokio::fs::metadata(&dest).await.map(|m| m.len()).ok();
        if cached_stamp == wanted && cached_size == Some(meta.size) {
            mark_used(&dest).await;
            return Ok(Some(dest));
        }

        let parent = dest.parent().expect("a key has at least one segment");
        tokio::fs::create_dir_all(parent).await?;
        let tmp = crate::files::partial_path(&dest);
        let downloaded = async {
            // Pinned to the version just looked at, so the stamp describes the bytes.
            let options = GetOptions { if_match: meta.e_tag.clone(), ..Default::default() };
            let mut stream = self.store.get_opts(&path, options).await.map_err(|e| self.error("downloading", key, e))?.into_stream();
            let mut out = tokio::fs::File::create(&tmp).await?;
            let mut written = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.error("downloading", key, e))?;
                written += chunk.len() as u64;
                out.write_all(&chunk).await?;
            }
            out.flush().await?;
            if written != meta.size {
                return Err(StorageError::Io(format!("downloading `{}` from {}: got {written} of {} bytes", key.as_str(), self.label, meta.size)));
            }
            let _ = tokio::fs::remove_file(&stamp_path).await;
            tokio::fs::rename(&tmp, &dest).await?;
            crate::files::write_atomically_async(stamp_path, wanted).await?;
            Ok(())
        }
        .await;
        if let Err(e) = downloaded {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        mark_used(&dest).await;
        drop(guard);
        self.trim_cache().await;
        Ok(Some(dest))
    }

    async fn delete_prefix(&self, prefix: &Key) -> Result<()> {
        let path = Self::path(prefix)?;
        let locations = self.store.list(Some(&path)).map_ok(|meta| meta.location).boxed();
        self.store.delete_stream(locations).try_collect::<Vec<_>>().await.map_err(|e| self.error("deleting under", prefix, e))?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.error("deleting", prefix, e)),
        }
        // This machine's cached copies go too (other machines drop theirs when
        // `local_copy` finds the object gone).
        let cached = prefix.under(&self.cache);
        match tokio::fs::metadata(&cached).await {
            Ok(m) if m.is_dir() => tokio::fs::remove_dir_all(&cached).await?,
            Ok(_) => self.forget_cached(prefix).await,
            Err(_) => {}
        }
        Ok(())
    }

    async fn list(&self, prefix: &Key) -> Result<Vec<String>> {
        let listing = self.store.list_with_delimiter(Some(&Self::path(prefix)?)).await.map_err(|e| self.error("listing", prefix, e))?;
        let mut names: Vec<String> = listing
            .common_prefixes
            .iter()
            .chain(listing.objects.iter().map(|o| &o.location))
            .filter_map(|p| p.filename())
            .filter(|n| !n.starts_with('.'))
            .map(str::to_string)
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn stat(&self, key: &Key) -> Result<Option<Stat>> {
        match self.store.head(&Self::path(key)?).await {
            Ok(meta) => Ok(Some(Stat { bytes: meta.size, modified: meta.last_modified.into() })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("reading the metadata of", key, e)),
        }
    }

    fn describe(&self) -> String {
        format!("object store {} (local copies in {})", self.label, self.cache.display())
    }
}
