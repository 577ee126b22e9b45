//! Helpers of the service tests: start the real `trainhost` binary on a free
//! port with its own config (and its own Redis key prefix), talk HTTP and
//! WebSocket to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;

pub const REDIS: &str = "redis://127.0.0.1:6379";

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn testdata(name: &str) -> PathBuf {
    workspace().join("testdata").join(name)
}

/// Settings of one test deployment.
#[derive(Clone)]
pub struct Setup {
    pub dir: PathBuf,
    /// Some(prefix): the Redis broker under that key prefix; None: embedded.
    pub redis_prefix: Option<String>,
    pub concurrency: usize,
    pub dead_after_secs: f64,
    pub max_attempts: u32,
    pub grace_secs: f64,
    /// Extra environment of the started processes.
    pub env: Vec<(String, String)>,
}

impl Setup {
    pub fn embedded(dir: &Path) -> Setup {
        Setup { dir: dir.to_path_buf(), redis_prefix: None, concurrency: 2, dead_after_secs: 1.5, max_attempts: 3, grace_secs: 5.0, env: vec![] }
    }

    pub fn redis(dir: &Path) -> Setup {
        Setup { redis_prefix: Some(format!("trainhost-test-{}", uuid::Uuid::new_v4())), ..Setup::embedded(dir) }
    }

    pub fn config_path(&self) -> PathBuf {
        let path = self.dir.join("trainhost.toml");
        let plugins = workspace().join("build/plugins");
        let broker = match &self.redis_prefix {
            Some(prefix) => format!("redis_url = {REDIS:?}\nkey_prefix = {prefix:?}\n"),
            None => String::new(),
        };
        let text = format!(
            r#"[server]
bind = "127.0.0.1:0"
upload_limit_mib = 1
[broker]
{broker}
[storage]
data_dir = {data:?}
[workers]
concurrency = {concurrency}
heartbeat_secs = 0.2
dead_after_secs = {dead}
max_attempts = {attempts}
shutdown_grace_secs = {grace}
[default_limits]
memory_mib = 256
time_secs = 30.0
[[plugins]]
name = "baseline"
path = {baseline:?}
[[plugins]]
name = "slow"
path = {slow:?}
[[plugins]]
name = "endless_loop"
path = {endless:?}
limits = {{ time_secs = 3.0 }}
[[plugins]]
name = "panic"
path = {panic:?}
enabled = false
[[plugins]]
name = "kmodes"
path = {kmodes:?}
"#,
            data = self.dir.join("data"),
            concurrency = self.concurrency,
            dead = self.dead_after_secs,
            attempts = self.max_attempts,
            grace = self.grace_secs,
            baseline = plugins.join("baseline.wasm"),
            slow = plugins.join("test_slow.wasm"),
            endless = plugins.join("test_endless_loop.wasm"),
            panic = plugins.join("test_panic.wasm"),
            kmodes = plugins.join("kmodes.wasm"),
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Deletes this test's Redis keys (and only them).
    pub async fn cleanup(&self) {
        if let Some(prefix) = &self.redis_prefix {
            let broker = trainhost::queue::redis::RedisBroker::connect(REDIS, prefix).await.unwrap();
            broker.delete_all_keys().await.unwrap();
        }
    }
}

/// A running `trainhost` process, killed (SIGKILL) when dropped.
pub struct Process {
    pub child: Child,
    pub url: String,
    pub pid: u32,
}

impl Process {
    pub fn serve(setup: &Setup, extra: &[&str]) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_trainhost"))
            .arg("--config")
            .arg(setup.config_path())
            .arg("serve")
            .args(extra)
            .env("TRAINHOST_LOG", "info")
            .envs(setup.env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting trainhost serve");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines.next().expect("trainhost serve exited before listening").unwrap();
            if let Some(rest) = line.strip_prefix("trainhost listening on ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let pid = child.id();
        Process { child, url, pid }
    }

    pub fn worker(setup: &Setup) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_trainhost"))
            .arg("--config")
            .arg(setup.config_path())
            .arg("worker")
            .env("TRAINHOST_LOG", "info")
            .envs(setup.env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting trainhost worker");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().expect("worker exited at start").unwrap();
        assert!(first.starts_with("trainhost worker"), "{first}");
        std::thread::spawn(move || for _ in lines {});
        let pid = child.id();
        Process { child, url: String::new(), pid }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe_kill(self.pid, "TERM");
        self.child.wait().unwrap()
    }
}

fn unsafe_kill(pid: u32, signal: &str) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

pub async fn upload(url: &str, file: &Path) -> Value {
    let bytes = std::fs::read(file).unwrap();
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name(name));
    let response = client().post(format!("{url}/datasets")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["data"].clone()
}

pub async fn post_json(url: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = client().post(format!("{url}{path}")).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn get_json(url: &str, path: &str) -> (u16, Value) {
    let response = client().get(format!("{url}{path}")).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn submit(url: &str, body: &Value) -> String {
    let (status, response) = post_json(url, "/train", body).await;
    assert_eq!(status, 202, "{response}");
    response["data"]["jobId"].as_str().unwrap().to_string()
}

pub fn baseline_job(dataset: &str) -> Value {
    serde_json::json!({"datasetId": dataset, "targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "baseline"}})
}

pub fn slow_job(dataset: &str, epochs: u32, millis: u32) -> Value {
    serde_json::json!({"datasetId": dataset, "taskType": "clustering", "modelConfig": {"selectedModel": "slow", "epochs": epochs, "epochMillis": millis}})
}

pub async fn wait_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = client().get(format!("{url}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never became ready");
}

/// `serve` on the embedded broker in `dir`, ready, with penguins.csv uploaded
/// (its dataset id returned).
pub async fn serve_with_penguins(dir: &Path) -> (Process, String) {
    let server = Process::serve(&Setup::embedded(dir), &[]);
    wait_ready(&server.url).await;
    let dataset = upload(&server.url, &testdata("penguins.csv")).await;
    (server, dataset["id"].as_str().expect("an uploaded dataset has an id").to_string())
}

/// Polls until the job is in one of `statuses`.
pub async fn wait_status(url: &str, job: &str, statuses: &[&str], within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (_, body) = get_json(url, &format!("/jobs/{job}")).await;
        let status = body["data"]["status"].as_str().unwrap_or("").to_string();
        if statuses.contains(&status.as_str()) {
            return body["data"].clone();
        }
        assert!(Instant::now() < deadline, "job {job} still {status}, wanted {statuses:?}: {body}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn open_ws(url: &str, job: &str) -> Socket {
    let ws_url = format!("{}/ws/{job}", url.replacen("http", "ws", 1));
    tokio_tungstenite::connect_async(ws_url).await.expect("opening the WebSocket").0
}

/// Every text message until the server closes the socket.
pub async fn collect(mut socket: Socket, within: Duration) -> Vec<Value> {
    let mut events = vec![];
    let result = tokio::time::timeout(within, async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(tokio_tungstenite::tungstenite::Message::Text(text)) => events.push(serde_json::from_str::<Value>(&text).unwrap()),
                Ok(tokio_tungstenite::tungstenite::Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(result.is_ok(), "the socket did not close in time; got {events:?}");
    events
}

/// Each event exactly once, seq 1..n in order, ending with one terminal event.
pub fn assert_complete_sequence(events: &[Value], terminal: &str) {
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().expect("every event has a seq")).collect();
    let expected: Vec<u64> = (1..=events.len() as u64).collect();
    assert_eq!(seqs, expected, "events: {events:?}");
    assert_eq!(events.last().unwrap()["type"], terminal, "events: {events:?}");
    let terminals = events.iter().filter(|e| matches!(e["type"].as_str(), Some("complete" | "error" | "cancelled"))).count();
    assert_eq!(terminals, 1);
}

pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}
