//! The `Storage` contract, run against every implementation: the local
//! directory, and the object store over `file://`, `memory://` and, when
//! moto is installed (`pip install 'moto[server]'`), a local S3-compatible
//! endpoint (`python3 -m moto.server`). Then the real service with
//! `TRAINHOST_STORAGE_URL=file://...`: a dataset and a model go to the object
//! store, not to the data directory.
#![allow(clippy::unwrap_used)]

mod common;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path as ObjectPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload,
    PutResult,
};
use trainhost::config::Config;
use trainhost::storage::local::LocalStorage;
use trainhost::storage::object::{self, ObjectStorage, PART_SIZE};
use trainhost::storage::{self, Key, Storage, StorageError};

/// An object store that counts the requests the contract cares about.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn ObjectStore>,
    multipart_uploads: AtomicUsize,
    downloads: AtomicUsize,
}

impl Counting {
    fn new(inner: Arc<dyn ObjectStore>) -> Arc<Counting> {
        Arc::new(Counting { inner, multipart_uploads: AtomicUsize::new(0), downloads: AtomicUsize::new(0) })
    }
    fn multipart_uploads(&self) -> usize {
        self.multipart_uploads.load(Ordering::SeqCst)
    }
    fn downloads(&self) -> usize {
        self.downloads.load(Ordering::SeqCst)
    }
}

impl fmt::Display for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for Counting {
    async fn put_opts(&self, location: &ObjectPath, payload: PutPayload, opts: PutOptions) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(&self, location: &ObjectPath, opts: PutMultipartOptions) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.multipart_uploads.fetch_add(1, Ordering::SeqCst);
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(&self, location: &ObjectPath, options: GetOptions) -> object_store::Result<GetResult> {
        if !options.head {
            self.downloads.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(&self, locations: BoxStream<'static, object_store::Result<ObjectPath>>) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&ObjectPath>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&ObjectPath>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(&self, from: &ObjectPath, to: &ObjectPath, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

fn key(parts: &[&str]) -> Key {
    Key::new(parts).unwrap()
}

/// Bytes that differ at every offset (a shifted copy would not compare equal).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Where a backend keeps things that `Key` cannot name (hidden names).
enum Raw {
    Dir(PathBuf),
    Store(Arc<dyn ObjectStore>),
}

impl Raw {
    async fn plant_hidden(&self, parent: &str, name: &str) {
        match self {
            Raw::Dir(root) => {
                std::fs::create_dir_all(root.join(parent)).unwrap();
                std::fs::write(root.join(parent).join(name), b"hidden").unwrap();
            }
            Raw::Store(store) => {
                store.put(&ObjectPath::from(format!("{parent}/{name}")), PutPayload::from_static(b"hidden")).await.unwrap();
            }
        }
    }
}

/// What every `Storage` must do. `counting` is the request counter under an
/// object store (None for the local directory).
async fn contract(storage: &dyn Storage, raw: &Raw, counting: Option<&Counting>, scratch: &Path) {
    let model = key(&["models", "job-1.trainhost"]);

    // Round trip, overwrite, missing.
    storage.put(&model, Bytes::from_static(b"first")).await.unwrap();
    assert_eq!(storage.get(&model).await.unwrap().as_deref(), Some(&b"first"[..]));
    storage.put(&model, Bytes::from_static(b"second, longer")).await.unwrap();
    assert_eq!(storage.get(&model).await.unwrap().as_deref(), Some(&b"second, longer"[..]));
    let missing = key(&["models", "nope.trainhost"]);
    assert_eq!(storage.get(&missing).await.unwrap(), None);
    assert_eq!(storage.local_copy(&missing).await.unwrap(), None);

    // A multi-MiB upload: consumed, content intact, sent in parts.
    let big = pattern(2 * PART_SIZE + 1024 * 1024 + 17, 1);
    let upload = scratch.join("upload-big");
    std::fs::write(&upload, &big).unwrap();
    let big_key = key(&["datasets", "d1", "data.csv"]);
    let uploads_before = counting.map(Counting::multipart_uploads);
    storage.put_file(&big_key, &upload).await.unwrap();
    assert!(!upload.exists(), "put_file consumes the file");
    if let (Some(c), Some(before)) = (counting, uploads_before) {
        assert_eq!(c.multipart_uploads(), before + 1, "a file larger than a part goes up in parts");
    }
    let got = storage.get(&big_key).await.unwrap().expect("uploaded");
    assert!(got.len() == big.len() && got[..] == big[..], "the stored object is the file");

    // A small upload goes in one request.
    let small = pattern(1000, 2);
    let upload = scratch.join("upload-small");
    std::fs::write(&upload, &small).unwrap();
    let small_key = key(&["datasets", "d2", "data.csv"]);
    let uploads_before = counting.map(Counting::multipart_uploads);
    storage.put_file(&small_key, &upload).await.unwrap();
    assert!(!upload.exists());
    assert_eq!(counting.map(Counting::multipart_uploads), uploads_before);
    assert_eq!(storage.get(&small_key).await.unwrap().as_deref(), Some(&small[..]));

    // Local copies: equal content; an uploaded file is already this machine's copy.
    let downloads_before = counting.map(Counting::downloads);
    let path = storage.local_copy(&big_key).await.unwrap().expect("a local copy");
    assert!(std::fs::read(&path).unwrap() == big, "the local copy is the object");
    assert_eq!(counting.map(Counting::downloads), downloads_before, "the uploader's copy is reused, not downloaded");

    // An object written with `put` is downloaded once, then reused while unchanged...
    let meta = key(&["datasets", "d1", "meta.json"]);
    storage.put(&meta, Bytes::from_static(b"{\"v\":1}")).await.unwrap();
    let downloads_before = counting.map(Counting::downloads).unwrap_or(0);
    let first = storage.local_copy(&meta).await.unwrap().unwrap();
    assert_eq!(std::fs::read(&first).unwrap(), b"{\"v\":1}");
    let second = storage.local_copy(&meta).await.unwrap().unwrap();
    assert_eq!(first, second);
    assert_eq!(std::fs::read(&second).unwrap(), b"{\"v\":1}");
    if let Some(c) = counting {
        assert_eq!(c.downloads(), downloads_before + 1, "the second local copy is the cached one");
    }
    // ...and fetched again once it changed.
    storage.put(&meta, Bytes::from_static(b"{\"v\":2, \"more\":true}")).await.unwrap();
    let third = storage.local_copy(&meta).await.unwrap().unwrap();
    assert_eq!(std::fs::read(&third).unwrap(), b"{\"v\":2, \"more\":true}");
    if let Some(c) = counting {
        assert_eq!(c.downloads(), downloads_before + 2);
    }

    // Listing: first-level names, sorted, hidden names skipped.
    storage.put(&key(&["datasets", "d1x", "meta.json"]), Bytes::from_static(b"{}")).await.unwrap();
    storage.put(&key(&["datasets", "a-file.json"]), Bytes::from_static(b"{}")).await.unwrap();
    storage.put(&key(&["datasets", "d0", "deep", "er", "x.bin"]), Bytes::from_static(b"x")).await.unwrap();
    raw.plant_hidden("datasets", ".partial-123").await;
    assert_eq!(storage.list(&key(&["datasets"])).await.unwrap(), ["a-file.json", "d0", "d1", "d1x", "d2"]);
    assert_eq!(storage.list(&key(&["datasets", "d1"])).await.unwrap(), ["data.csv", "meta.json"]);
    assert_eq!(storage.list(&key(&["models"])).await.unwrap(), ["job-1.trainhost"]);
    assert!(storage.list(&key(&["nothing", "here"])).await.unwrap().is_empty());

    // Deleting a prefix removes the tree below it, and only that tree.
    storage.delete_prefix(&key(&["datasets", "d1"])).await.unwrap();
    assert_eq!(storage.get(&big_key).await.unwrap(), None);
    assert_eq!(storage.get(&meta).await.unwrap(), None);
    assert_eq!(storage.local_copy(&big_key).await.unwrap(), None);
    assert_eq!(storage.list(&key(&["datasets", "d1"])).await.unwrap(), Vec::<String>::new());
    assert!(storage.get(&key(&["datasets", "d1x", "meta.json"])).await.unwrap().is_some(), "a sibling sharing the name's start stays");
    storage.delete_prefix(&key(&["datasets", "d0"])).await.unwrap();
    assert_eq!(storage.list(&key(&["datasets"])).await.unwrap(), ["a-file.json", "d1x", "d2"]);
    // A single object is its own prefix; a missing prefix is no error.
    storage.delete_prefix(&model).await.unwrap();
    assert_eq!(storage.get(&model).await.unwrap(), None);
    storage.delete_prefix(&key(&["datasets", "never-was"])).await.unwrap();
    assert!(storage.list(&key(&["models"])).await.unwrap().is_empty());
    assert!(!storage.describe().is_empty());
}

#[test]
fn keys_accept_only_plain_segments() {
    assert_eq!(key(&["datasets", "a-B_0.9", "data.csv"]).as_str(), "datasets/a-B_0.9/data.csv");
    let long = "x".repeat(129);
    let bad: &[&[&str]] = &[&[], &[""], &[".."], &["datasets", ".."], &[".hidden"], &["a/b"], &["a b"], &["a\\b"], &["é"], &[long.as_str()], &["a", ""]];
    for parts in bad {
        assert!(matches!(Key::new(parts), Err(StorageError::BadKey(_))), "{parts:?} was accepted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_directory_keeps_the_contract() {
    let dir = common::temp_dir();
    let root = dir.path().join("store");
    let storage = LocalStorage::new(root.clone()).unwrap();
    contract(&storage, &Raw::Dir(root), None, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_store_on_a_file_url_keeps_the_contract() {
    let dir = common::temp_dir();
    let bucket = dir.path().join("bucket");
    let (store, label) = object::store_for_url(&format!("file://{}", bucket.display()), []).unwrap();
    let counting = Counting::new(store.clone());
    let storage = ObjectStorage::from_store(counting.clone(), label, dir.path().join("cache"));
    contract(&storage, &Raw::Store(store), Some(&counting), dir.path()).await;
    // The objects are files under the URL's directory; emptied folders are gone.
    assert!(bucket.join("datasets/d2/data.csv").is_file());
    assert!(!bucket.join("datasets/d1").exists());
    assert!(!bucket.join("datasets/d0").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_store_in_memory_keeps_the_contract() {
    let dir = common::temp_dir();
    let (store, label) = object::store_for_url("memory://", []).unwrap();
    let counting = Counting::new(store.clone());
    let storage = ObjectStorage::from_store(counting.clone(), label, dir.path().join("cache"));
    contract(&storage, &Raw::Store(store), Some(&counting), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_lives_under_the_url_prefix() {
    let dir = common::temp_dir();
    let bucket = dir.path().join("bucket");
    std::fs::create_dir_all(bucket.join("outside")).unwrap();
    std::fs::write(bucket.join("outside/keep.txt"), b"not ours").unwrap();
    let url = format!("file://{}/deploy/one", bucket.display());
    let storage = ObjectStorage::open(&url, dir.path().join("cache")).await.unwrap();
    storage.put(&key(&["models", "m.trainhost"]), Bytes::from_static(b"model")).await.unwrap();
    assert_eq!(std::fs::read(bucket.join("deploy/one/models/m.trainhost")).unwrap(), b"model");
    storage.delete_prefix(&key(&["models"])).await.unwrap();
    assert!(bucket.join("outside/keep.txt").exists());
    assert!(storage.describe().contains("deploy/one"), "{}", storage.describe());

    // The same prefix in memory: a second prefix of the same store is not visible.
    let (store, _) = object::store_for_url("memory:///a/b", []).unwrap();
    let storage = ObjectStorage::from_store(store.clone(), "memory:///a/b", dir.path().join("cache2"));
    storage.put(&key(&["x"]), Bytes::from_static(b"1")).await.unwrap();
    assert_eq!(storage.list(&key(&["x"])).await.unwrap(), Vec::<String>::new());
    assert_eq!(store.get(&ObjectPath::from("x")).await.unwrap().bytes().await.unwrap(), Bytes::from_static(b"1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_storage_url_fails_at_startup_naming_the_setting() {
    let dir = common::temp_dir();
    let cases = [
        ("ftp://host/x", "unsupported scheme `ftp:`"),
        ("not a url", "not a URL"),
        ("s3://", "no bucket"),
        ("file://somehost/dir", "no host"),
        ("memory://host", "no host"),
    ];
    for (url, why) in cases {
        let mut config = Config::default();
        config.storage.data_dir = dir.path().to_path_buf();
        config.storage.url = url.to_string();
        let err = storage::open(&config).await.err().unwrap_or_else(|| panic!("{url} was accepted")).to_string();
        assert!(err.starts_with(&format!("storage.url `{url}`: ")), "{err}");
        assert!(err.contains(why), "{url}: {err}");
    }
    // Plain http needs AWS_ALLOW_HTTP, said before anything is sent.
    let options = [("AWS_ENDPOINT_URL".to_string(), "http://127.0.0.1:1".to_string())];
    let err = object::store_for_url("s3://bucket", options.clone()).err().unwrap();
    assert!(err.contains("AWS_ALLOW_HTTP=true"), "{err}");
    let options = options.into_iter().chain([("AWS_ALLOW_HTTP".to_string(), "true".to_string())]);
    let (_, label) = object::store_for_url("s3://bucket/p", options).unwrap();
    assert_eq!(label, "s3://bucket/p");

    // Empty: the local directory.
    let mut config = Config::default();
    config.storage.data_dir = dir.path().to_path_buf();
    assert!(storage::open(&config).await.unwrap().describe().contains("local directory"));
}

/// A local S3 endpoint (moto), killed when dropped.
struct Moto {
    child: std::process::Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Printed past the test harness's capture, so a skip is seen in the log.
fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

async fn start_moto() -> Result<Moto, String> {
    let port = common::free_port();
    let child = std::process::Command::new("python3")
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("python3 not found ({e}); it runs moto's S3 server"))?;
    let mut moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = moto.child.try_wait() {
            return Err(format!("`python3 -m moto.server` exited at start ({status}); `pip install 'moto[server]'` to run this test"));
        }
        if let Ok(r) = common::client().get(format!("{}/", moto.endpoint)).send().await {
            if r.status().is_success() {
                return Ok(moto);
            }
        }
        if Instant::now() > deadline {
            return Err("moto_server did not answer within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_store_on_s3_keeps_the_contract() {
    let moto = match start_moto().await {
        Ok(moto) => moto,
        Err(why) => {
            say(&format!("SKIPPED object_store_on_s3_keeps_the_contract: {why}"));
            return;
        }
    };
    let bucket = format!("trainhost-test-{}", uuid::Uuid::new_v4().simple());
    let created = common::client().put(format!("{}/{bucket}", moto.endpoint)).send().await.unwrap();
    assert!(created.status().is_success(), "creating bucket: {}", created.status());
    let options = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let dir = common::temp_dir();
    let (store, label) = object::store_for_url(&format!("s3://{bucket}/deploy"), options.clone()).unwrap();
    let counting = Counting::new(store.clone());
    let storage = ObjectStorage::from_store(counting.clone(), label, dir.path().join("cache"));
    contract(&storage, &Raw::Store(store), Some(&counting), dir.path()).await;

    // Everything was under the prefix: the bucket's root holds only `deploy/`.
    let (root, _) = object::store_for_url(&format!("s3://{bucket}"), options).unwrap();
    let listing = root.list_with_delimiter(None).await.unwrap();
    assert!(listing.objects.is_empty());
    assert_eq!(listing.common_prefixes, [ObjectPath::from("deploy")]);
}

/// The whole service on an object store: upload, train, download the model,
/// predict, delete, with every object in the store's directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_keeps_datasets_and_models_in_the_object_store() {
    use common::*;
    let dir = common::temp_dir();
    let bucket = dir.path().join("bucket");
    let mut setup = Setup::embedded(dir.path());
    setup.env.push(("TRAINHOST_STORAGE_URL".into(), format!("file://{}/trainhost", bucket.display())));
    let server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    let url = &server.url;

    let dataset = upload(url, &testdata("penguins.csv")).await;
    let dataset_id = dataset["id"].as_str().unwrap().to_string();
    let objects = bucket.join("trainhost");
    let stored = std::fs::read(objects.join("datasets").join(&dataset_id).join("data.csv")).unwrap();
    assert_eq!(stored, std::fs::read(testdata("penguins.csv")).unwrap());
    assert!(objects.join("datasets").join(&dataset_id).join("meta.json").is_file());
    let (status, listed) = get_json(url, "/datasets").await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");

    let job = submit(url, &baseline_job(&dataset_id)).await;
    let record = wait_status(url, &job, &["completed", "failed"], Duration::from_secs(60)).await;
    assert_eq!(record["status"], "completed", "{record}");
    let response = client().get(format!("{url}/jobs/{job}/model")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let model = response.bytes().await.unwrap();
    assert!(!model.is_empty());
    assert_eq!(std::fs::read(objects.join("models").join(format!("{job}.trainhost"))).unwrap(), model);

    let (status, predicted) = post_json(url, &format!("/jobs/{job}/predict"), &serde_json::json!({"datasetId": dataset_id})).await;
    assert_eq!(status, 200, "{predicted}");

    // Nothing of it in the data directory's local store.
    let local_store = dir.path().join("data").join("store");
    assert!(!local_store.join("datasets").exists() && !local_store.join("models").exists());

    let response = client().delete(format!("{url}/datasets/{dataset_id}")).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert!(!objects.join("datasets").join(&dataset_id).exists());
    assert!(!dir.path().join("data/cache/datasets").join(&dataset_id).exists(), "this machine's copy goes with it");
}

#[test]
fn a_bad_storage_url_stops_the_server_with_a_clear_message() {
    let dir = common::temp_dir();
    let setup = common::Setup::embedded(dir.path());
    let output = common::trainhost_command(&setup.config_path()).arg("serve").env("TRAINHOST_STORAGE_URL", "s3:/no-bucket").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("storage.url `s3:/no-bucket`: no bucket"), "{stderr}");
}

/// Local copies stay under the cache bound: the least recently handed out
/// goes first, and a deleted copy is downloaded again when asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_copies_are_trimmed_least_recently_used_first() {
    let dir = common::temp_dir();
    let (store, label) = object::store_for_url("memory://", []).unwrap();
    let storage = ObjectStorage::from_store(store, label, dir.path().join("cache")).with_cache_limit(2_500, Duration::ZERO);
    let keys: Vec<Key> = ["a", "b", "c"].iter().map(|name| key(&["datasets", name, "data.csv"])).collect();
    for (i, k) in keys.iter().enumerate() {
        storage.put(k, Bytes::from(vec![b'0' + i as u8; 1_000])).await.unwrap();
    }
    let copy = |i: usize| {
        let (storage, k) = (&storage, keys[i].clone());
        async move {
            let path = storage.local_copy(&k).await.unwrap().expect("the object exists");
            // Modification times order the copies: keep them apart.
            tokio::time::sleep(Duration::from_millis(20)).await;
            path
        }
    };
    let a = copy(0).await;
    let b = copy(1).await;
    copy(0).await; // a is now more recent than b
    let c = copy(2).await;
    assert!(a.exists() && c.exists(), "3,000 bytes over a 2,500 bound: one copy goes");
    assert!(!b.exists(), "the least recently used copy goes");
    assert!(!b.with_file_name(".data.csv.stamp").exists(), "with its stamp");

    let again = copy(1).await;
    assert_eq!(std::fs::read(&again).unwrap(), vec![b'1'; 1_000], "downloaded again");
    assert!(!a.exists() && c.exists(), "now a was the least recently used");

    // Copies handed out recently are never deleted, even over the bound.
    let dir = common::temp_dir();
    let (store, label) = object::store_for_url("memory://", []).unwrap();
    let storage = ObjectStorage::from_store(store, label, dir.path().join("cache")).with_cache_limit(10, Duration::from_secs(3600));
    storage.put(&keys[0], Bytes::from(vec![b'x'; 100])).await.unwrap();
    storage.put(&keys[1], Bytes::from(vec![b'y'; 100])).await.unwrap();
    let first = storage.local_copy(&keys[0]).await.unwrap().unwrap();
    let second = storage.local_copy(&keys[1]).await.unwrap().unwrap();
    assert!(first.exists() && second.exists());
}
