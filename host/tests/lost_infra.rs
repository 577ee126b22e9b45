//! Lost infrastructure: a Redis of its own (a free port, a temp dir) that
//! restarts empty or goes away, a crash's leftovers in the data dir, old
//! events in the embedded journal, a cancel while a large table loads, and a
//! dataset deleted under its jobs.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::*;
use serde_json::{json, Value};
use trainhost::jobs::lifecycle::{DATASET_DELETED_BEFORE_START, DATASET_DELETED_WHILE_RUNNING};
use trainhost::jobs::{Ending, JobSpec, JobStatus};
use trainhost::queue::embedded::EmbeddedBroker;
use trainhost::queue::redis::{Persistence, RedisBroker};
use trainhost::queue::Broker;

const LOST: &str = "the broker lost this job's record (Redis restarted without persistence)";

/// A `redis-server` of this test only, without persistence, killed when dropped.
struct OwnRedis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl OwnRedis {
    fn start(dir: &Path) -> OwnRedis {
        std::fs::create_dir_all(dir).expect("the Redis dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let mut redis = OwnRedis { child: spawn_redis(port, dir), port, dir: dir.to_path_buf() };
        redis.wait_up();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, then a fresh server on the same port: without persistence it comes back empty.
    fn restart(&mut self) {
        self.kill();
        self.child = spawn_redis(self.port, &self.dir);
        self.wait_up();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn signal(&self, signal: &str) {
        Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status().expect("kill runs");
    }

    fn wait_up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let pong = Command::new("redis-cli").args(["-p", &self.port.to_string(), "ping"]).output().map(|o| o.stdout).unwrap_or_default();
            if pong.starts_with(b"PONG") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on port {} did not start", self.port);
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.signal("CONT");
        self.kill();
    }
}

fn spawn_redis(port: u16, dir: &Path) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("starting redis-server")
}

/// A deployment on its own Redis.
fn setup_on(redis: &OwnRedis, dir: &Path) -> Setup {
    let mut setup = Setup::redis(dir);
    setup.env.push(("REDIS_URL".into(), redis.url()));
    setup
}

async fn dataset_of(url: &str) -> String {
    upload(url, &testdata("penguins.csv")).await["id"].as_str().expect("an uploaded dataset has an id").to_string()
}

fn message(body: &Value) -> String {
    body["error"]["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_restarts_empty_is_noticed_and_the_jobs_it_lost_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = OwnRedis::start(&dir.path().join("redis"));
    let setup = setup_on(&redis, dir.path());
    let probe = RedisBroker::connect(&redis.url(), "probe").await.unwrap();
    assert_eq!(probe.persistence().await, Some(Persistence::None), "the service warns about this one at start");
    drop(probe);
    let server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    let ds = dataset_of(&server.url).await;
    let job = submit(&server.url, &baseline_job(&ds)).await;
    wait_status(&server.url, &job, &["completed"], Duration::from_secs(30)).await;

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, ready) = loop {
        let (status, body) = get_json(&server.url, "/readyz").await;
        // A first 503 may be the reconnect itself ("broken pipe"): wait for the one that says why.
        if (status == 503 && message(&body).contains("Redis lost its data")) || Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, 503, "{ready}");
    assert!(message(&ready).contains("Redis lost its data"), "{ready}");

    let (status, body) = get_json(&server.url, &format!("/jobs/{job}")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("job_not_found")), "{body}");
    assert!(message(&body).contains(LOST), "{body}");
    let (status, body) = get_json(&server.url, &format!("/jobs/{}", uuid::Uuid::new_v4())).await;
    assert!(status == 404 && !message(&body).contains("lost"), "an id never seen is just unknown: {body}");
    let ws_url = format!("{}/ws/{job}?access_token={ADMIN_TOKEN}", server.url.replacen("http", "ws", 1));
    match tokio_tungstenite::connect_async(ws_url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 404);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).to_string();
            assert!(body.contains(LOST), "{body}");
        }
        other => panic!("the socket of a lost job must be refused: {:?}", other.map(|_| ())),
    }
    // New jobs run on the emptied Redis (the worker's blocking connection was made again).
    let ds = dataset_of(&server.url).await;
    let again = submit(&server.url, &baseline_job(&ds)).await;
    wait_status(&server.url, &again, &["completed"], Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_fail_within_the_broker_timeout_while_redis_is_down_or_frozen() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = OwnRedis::start(&dir.path().join("redis"));
    let setup = setup_on(&redis, dir.path());
    let server = Process::serve(&setup, &["--api-only"]);
    wait_ready(&server.url).await;
    let ds = dataset_of(&server.url).await;
    let job = submit(&server.url, &baseline_job(&ds)).await;

    let (url, job_path, cancel_path) = (server.url.clone(), format!("/jobs/{job}"), format!("/jobs/{job}/cancel"));
    let expect_unavailable = |what: &'static str| {
        let (url, job_path, cancel_path, body) = (url.clone(), job_path.clone(), cancel_path.clone(), baseline_job(&ds));
        async move {
            for name in ["get", "submit", "cancel"] {
                let started = Instant::now();
                let (status, answer) = match name {
                    "get" => get_json(&url, &job_path).await,
                    "submit" => post_json(&url, "/train", &body).await,
                    _ => post_json(&url, &cancel_path, &json!({})).await,
                };
                let took = started.elapsed();
                assert_eq!((status, answer["error"]["code"].as_str()), (503, Some("broker_unavailable")), "{what} {name}: {answer}");
                assert!(took < Duration::from_millis(2600), "{what}: {name} took {took:?}");
            }
        }
    };
    redis.kill();
    expect_unavailable("Redis down").await;
    redis.restart();
    wait_ready(&server.url).await;
    redis.signal("STOP");
    expect_unavailable("Redis frozen").await;
    redis.signal("CONT");
    wait_ready(&server.url).await;
}

/// Sets a file's modification time `ago` in the past.
fn age(path: &Path, ago: Duration) {
    let file = std::fs::OpenOptions::new().write(true).open(path).expect("a planted file");
    file.set_modified(SystemTime::now() - ago).expect("setting its modification time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_removes_the_temporary_and_orphaned_files_a_crash_left() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, ds) = serve_with_penguins(dir.path()).await;
    let job = submit(&server.url, &baseline_job(&ds)).await;
    wait_status(&server.url, &job, &["completed"], Duration::from_secs(30)).await;
    server.kill9();

    let data = dir.path().join("data");
    let store = data.join("store");
    let upload = data.join("uploads").join(format!("upload-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(upload.parent().unwrap()).unwrap();
    std::fs::write(&upload, vec![b'x'; 3 << 20]).unwrap();
    let partial = store.join("models").join(format!("{}{}", trainhost::files::PARTIAL_PREFIX, uuid::Uuid::new_v4()));
    std::fs::write(&partial, vec![b'x'; 1 << 20]).unwrap();
    let orphan_model = store.join("models").join(format!("{}.trainhost", uuid::Uuid::new_v4()));
    std::fs::write(&orphan_model, b"a model whose job is gone").unwrap();
    let orphan_dataset = store.join("datasets").join(uuid::Uuid::new_v4().to_string());
    std::fs::create_dir_all(&orphan_dataset).unwrap();
    std::fs::write(orphan_dataset.join("data.csv"), b"a,b\n1,2\n").unwrap();
    age(&orphan_dataset.join("data.csv"), Duration::from_secs(3600));
    let storing_now = store.join("datasets").join(uuid::Uuid::new_v4().to_string());
    std::fs::create_dir_all(&storing_now).unwrap();
    std::fs::write(storing_now.join("data.csv"), b"a,b\n1,2\n").unwrap();

    let server = Process::serve(&Setup::embedded(dir.path()), &[]);
    wait_ready(&server.url).await;
    assert!(!upload.exists() && !partial.exists(), "temporary files are removed before serving");
    let deadline = Instant::now() + Duration::from_secs(10);
    while (orphan_model.exists() || orphan_dataset.exists()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!orphan_model.exists(), "the model of a job the broker does not have is removed");
    assert!(!orphan_dataset.exists(), "a dataset folder without its record is removed");
    assert!(storing_now.exists(), "a recent folder without a record may be an upload being stored");
    assert!(store.join("models").join(format!("{job}.trainhost")).exists());
    let response = client().get(format!("{}/jobs/{job}/model", server.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let (status, _) = get_json(&server.url, &format!("/datasets/{ds}")).await;
    assert_eq!(status, 200);
}

fn spec(dataset: &str) -> JobSpec {
    JobSpec {
        dataset_id: dataset.into(),
        target_column: Some("y".into()),
        task_type: "classification".into(),
        model_config: serde_json::from_value(json!({"selectedModel": "baseline"})).expect("an object"),
        plugin: "baseline".into(),
        params: Default::default(),
        seed: 1,
        test_fraction: 0.2,
        plugin_validation_fraction: 0.1,
        folds: 0,
        columns: Default::default(),
        owner: None,
        labels: Default::default(),
        max_instances: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_drops_the_events_of_jobs_that_ended_before_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Duration::from_secs(1);
    let (ended, waiting) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
    {
        let broker = EmbeddedBroker::open_with(dir.path(), retention).unwrap();
        broker.submit(&ended, spec("d")).await.unwrap();
        let claim = broker.claim("w", Duration::from_millis(100)).await.unwrap().unwrap();
        broker.finish(&claim, Ending::Failed("boom".into())).await.unwrap();
        broker.submit(&waiting, spec("d")).await.unwrap();
        assert_eq!(broker.sweep(), 0, "nothing ended long enough ago");
        tokio::time::sleep(retention + Duration::from_millis(300)).await;
        assert_eq!(broker.sweep(), 3, "queued, running and the error");
        let journal = std::fs::read_to_string(EmbeddedBroker::journal_path(dir.path())).unwrap();
        let event_lines = journal.lines().filter(|l| l.contains(r#""op":"event""#) && l.contains(&ended)).count();
        assert_eq!(event_lines, 0, "{journal}");
        check_events_rebuilt(&broker, &ended, &waiting).await;
    }
    // Reopened: the same, and a start drops what expired meanwhile too.
    let broker = EmbeddedBroker::open_with(dir.path(), retention).unwrap();
    check_events_rebuilt(&broker, &ended, &waiting).await;
}

async fn check_events_rebuilt(broker: &EmbeddedBroker, ended: &str, waiting: &str) {
    let events = broker.events_after(ended, 0).await.expect("the ended job is known");
    assert_eq!(events.len(), 1, "only the terminal event, rebuilt from the record");
    assert_eq!(events[0].seq, 3);
    assert!(events[0].terminal && events[0].json.contains("boom"), "{}", events[0].json);
    assert!(broker.events_after(ended, 3).await.is_ok_and(|e| e.is_empty()));
    assert_eq!(broker.get(ended).await.ok().flatten().map(|r| r.status), Some(JobStatus::Failed));
    assert_eq!(broker.events_after(waiting, 0).await.map(|e| e.len()).ok(), Some(1), "a queued job keeps its events");
}

/// Overwrites the stored table of `dataset` with `rows` rows of penguins (same columns).
fn enlarge(dir: &Path, dataset: &str, rows: usize) {
    let text = std::fs::read_to_string(testdata("penguins.csv")).expect("penguins.csv");
    let mut lines = text.lines();
    let header = lines.next().expect("a header line");
    let body: Vec<&str> = lines.collect();
    let mut out = String::with_capacity(rows * 60);
    out.push_str(header);
    out.push('\n');
    for i in 0..rows {
        out.push_str(body[i % body.len()]);
        out.push('\n');
    }
    std::fs::write(dir.join("data/store/datasets").join(dataset).join("data.csv"), out).expect("the enlarged table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_lands_within_a_second_while_a_large_table_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (server, ds) = serve_with_penguins(dir.path()).await;
    enlarge(dir.path(), &ds, 300_000);
    let job = submit(&server.url, &slow_job(&ds, 5, 100)).await;
    wait_status(&server.url, &job, &["running"], Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let (status, body) = post_json(&server.url, &format!("/jobs/{job}/cancel"), &json!({})).await;
    assert_eq!((status, body["data"]["status"].as_str()), (202, Some("running")), "{body}");
    let record = wait_status(&server.url, &job, &["cancelled", "completed", "failed"], Duration::from_secs(60)).await;
    let took = started.elapsed();
    assert_eq!(record["status"], "cancelled", "{record}");
    assert!(took < Duration::from_secs(1), "cancel took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_dataset_cancels_its_jobs_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut setup = Setup::embedded(dir.path());
    setup.concurrency = 1;
    let server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    let ds = dataset_of(&server.url).await;
    let other = dataset_of(&server.url).await;
    let running = submit(&server.url, &slow_job(&ds, 100, 100)).await;
    wait_status(&server.url, &running, &["running"], Duration::from_secs(10)).await;
    let queued = submit(&server.url, &slow_job(&ds, 1, 1)).await;
    let unrelated = submit(&server.url, &slow_job(&other, 1, 1)).await;
    let socket = open_ws(&server.url, &queued).await;

    let response = client().delete(format!("{}/datasets/{ds}", server.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let queued_record = wait_status(&server.url, &queued, &["cancelled"], Duration::from_secs(2)).await;
    assert_eq!(queued_record["error"], DATASET_DELETED_BEFORE_START);
    let events = collect(socket, Duration::from_secs(5)).await;
    assert_eq!(events.last().unwrap()["message"], DATASET_DELETED_BEFORE_START, "{events:?}");
    let running_record = wait_status(&server.url, &running, &["cancelled"], Duration::from_secs(2)).await;
    assert_eq!(running_record["error"], DATASET_DELETED_WHILE_RUNNING);
    wait_status(&server.url, &unrelated, &["completed"], Duration::from_secs(20)).await;
}
