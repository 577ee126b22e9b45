//! Load benchmark of the service (not part of the tests). Starts `trainhost
//! serve` with the bundled plugins in a CHILD PROCESS (this same binary, with
//! `--server`), so the server has its own runtime and file descriptors, then
//! measures from this process, through HTTP and WebSocket like a client:
//! 1. submit -> first `progress` event, p50/p99 (sequential jobs; includes the
//!    HTTP submit and the socket handshake);
//! 2. trivial-job throughput: `baseline` jobs per second with every event
//!    delivered to a socket watching the job (64 jobs in flight);
//! 3. WebSocket fan-out: K sockets watch one job emitting 40 epochs
//!    `epoch_ms` apart (default 50 ms: 20 events per second per socket). All
//!    K sockets are connected while the job is still queued (the worker slots
//!    are held by blocker jobs, cancelled once every socket is in), so every
//!    measured event is a live one. Lag = receipt time minus the wall
//!    clock stamp the plugin puts in each epoch (`emitted_at_ms`), i.e. from
//!    the moment the plugin reported it, through worker, broker and socket.
//!    Also printed: the server process's CPU time per delivered event.
//!
//! cargo run --release -p trainhost --example loadbench -- [embedded|redis] [jobs] [max_sockets] [epoch_ms]
//! Client and server share the machine's cores, so the figures are a lower
//! bound. (The slow plugin of the fan-out job sleeps between epochs; it used to
//! busy-loop and keep one core busy.)
// A benchmark, not the service: a failed set-up step may stop it with a panic.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn wall_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

async fn submit(client: &reqwest::Client, url: &str, body: &Value) -> String {
    let r: Value = client.post(format!("{url}/train")).json(body).send().await.unwrap().json().await.unwrap();
    r["data"]["jobId"].as_str().unwrap_or_else(|| panic!("{r}")).to_string()
}

async fn ws(url: &str, job: &str) -> Socket {
    let url = format!("{}/ws/{job}", url.replacen("http", "ws", 1));
    let mut tries = 0;
    loop {
        // A small read buffer: tungstenite zeroes the whole buffer (128 KiB by default) before each read.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
        match tokio_tungstenite::connect_async_with_config(&url, Some(config), false).await {
            Ok((socket, _)) => return socket,
            Err(e) if tries < 50 => {
                tries += 1;
                if tries == 1 {
                    eprintln!("connect failed ({e}); retrying");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("connecting {url}: {e}"),
        }
    }
}

fn is_terminal(text: &str) -> bool {
    text.contains(r#""type":"complete""#) || text.contains(r#""type":"error""#) || text.contains(r#""type":"cancelled""#)
}

/// Reads until the terminal event; returns (events, time of the first progress).
async fn drain(mut socket: Socket) -> (usize, Option<Instant>) {
    let mut n = 0;
    let mut first_progress = None;
    while let Some(Ok(msg)) = socket.next().await {
        if let Message::Text(text) = msg {
            n += 1;
            if first_progress.is_none() && text.contains(r#""type":"progress""#) {
                first_progress = Some(Instant::now());
            }
            if is_terminal(&text) {
                break;
            }
        }
    }
    (n, first_progress)
}

/// The `emitted_at_ms` stamp of a progress event, read without a full parse.
fn stamp(text: &str) -> Option<f64> {
    let rest = &text[text.find(r#""emitted_at_ms":"#)? + 16..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn server_main(args: &[String]) {
    let [broker, port, data_dir, prefix] = args else { panic!("--server BROKER PORT DATA_DIR PREFIX") };
    let workspace = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let mut config = trainhost::config::Config::default();
    config.server.bind = format!("127.0.0.1:{port}");
    // Measures event delivery, not sign-in: one trusted client, no accounts.
    config.auth.mode = trainhost::config::AuthMode::None;
    config.storage.data_dir = data_dir.into();
    config.plugin_dir = workspace.join("build/plugins");
    config.plugins = toml::from_str::<toml::Table>(&format!(
        "[[plugins]]\nname = \"baseline\"\npath = {:?}\n[[plugins]]\nname = \"slow\"\npath = {:?}\n",
        workspace.join("build/plugins/baseline.wasm"),
        workspace.join("build/plugins/test_slow.wasm")
    ))
    .unwrap()["plugins"]
        .clone()
        .try_into()
        .unwrap();
    if broker == "redis" {
        config.broker.redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        config.broker.key_prefix = prefix.clone();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async move { trainhost::service::serve(None, config, false).await.unwrap() });
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--server") {
        return server_main(&args[2..]);
    }
    let broker = args.get(1).cloned().unwrap_or_else(|| "embedded".into());
    let jobs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let max_sockets: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let prefix = format!("trainhost-bench-{}", uuid::Uuid::new_v4());
    let server = Command::new(std::env::current_exe().unwrap())
        .args(["--server", &broker, &port.to_string(), dir.path().join("data").to_str().unwrap(), &prefix])
        .stdout(Stdio::null())
        .spawn()
        .expect("starting the server process");
    let epoch_ms: u64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(50);
    let server_pid = server.id();
    let server = KillOnDrop(server);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(client(broker.clone(), jobs, max_sockets, epoch_ms, port, server_pid));
    drop(server);
    if broker == "redis" {
        runtime.block_on(async {
            let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            let b = trainhost::queue::redis::RedisBroker::connect(&url, &prefix).await.unwrap();
            b.delete_all_keys().await.unwrap();
        });
    }
    std::process::exit(0);
}

/// User plus system CPU seconds used so far by process `pid` (Linux only; NaN elsewhere).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return f64::NAN };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap_or(0) + 2..].split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap_or(f64::NAN) + fields[12].parse::<f64>().unwrap_or(f64::NAN);
    // USER_HZ is 100 on every Linux this runs on.
    ticks / 100.0
}

async fn client(broker: String, jobs: usize, max_sockets: usize, epoch_ms: u64, port: u16, server_pid: u32) {
    let workspace = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    while client.get(format!("{url}/readyz")).send().await.map(|r| r.status() != 200).unwrap_or(true) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let workers = trainhost::config::Config::default().worker_count();
    let bytes = std::fs::read(workspace.join("testdata/iris.csv")).unwrap();
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name("iris.csv"));
    let ds: Value = client.post(format!("{url}/datasets")).multipart(form).send().await.unwrap().json().await.unwrap();
    let ds = ds["data"]["id"].as_str().unwrap().to_string();
    let trivial = json!({"datasetId": ds, "targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "baseline"}});
    println!(
        "broker: {broker}; cores: {}; server: separate process on this machine ({workers} worker slots)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // Warm up (compile caches, table cache, connection pools).
    for _ in 0..20 {
        let job = submit(&client, &url, &trivial).await;
        drain(ws(&url, &job).await).await;
    }

    // 1. Submit -> first progress.
    let mut latencies = vec![];
    for _ in 0..200 {
        let t0 = Instant::now();
        let job = submit(&client, &url, &trivial).await;
        let (_, first) = drain(ws(&url, &job).await).await;
        if let Some(first) = first {
            latencies.push(first.duration_since(t0).as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    println!("submit -> first progress: p50 {:.2} ms, p99 {:.2} ms (n={})", percentile(&latencies, 0.5), percentile(&latencies, 0.99), latencies.len());

    // 2. Throughput of trivial jobs with every event delivered.
    let started = Instant::now();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..jobs {
        let permit = in_flight.clone().acquire_owned().await.unwrap();
        let (client, url, body) = (client.clone(), url.clone(), trivial.clone());
        tasks.spawn(async move {
            let job = submit(&client, &url, &body).await;
            let (events, _) = drain(ws(&url, &job).await).await;
            drop(permit);
            events
        });
    }
    let mut events = 0;
    let mut complete = 0;
    while let Some(n) = tasks.join_next().await {
        let n = n.unwrap();
        events += n;
        complete += usize::from(n >= 4);
    }
    let secs = started.elapsed().as_secs_f64();
    println!("throughput: {jobs} trivial jobs in {secs:.2} s = {:.0} jobs/s ({events} events delivered, {complete} jobs with all 4)", jobs as f64 / secs);

    // 3. Fan-out: K sockets on one job emitting 40 epochs, `epoch_ms` apart.
    let mut ks: Vec<usize> = [100, 1000, 2500, 5000, 10_000].into_iter().filter(|&k| k < max_sockets).collect();
    ks.push(max_sockets);
    for k in ks {
        // Hold every worker slot so the watched job stays queued until all sockets are in.
        let blocker = json!({"datasetId": ds, "taskType": "clustering", "modelConfig": {"selectedModel": "slow", "epochs": 10000, "epochMillis": 20}});
        let mut blockers = vec![];
        for _ in 0..workers {
            let id = submit(&client, &url, &blocker).await;
            blockers.push(id);
        }
        let job = submit(
            &client,
            &url,
            &json!({"datasetId": ds, "taskType": "clustering", "modelConfig": {"selectedModel": "slow", "epochs": 40, "epochMillis": epoch_ms}}),
        )
        .await;
        let connect_started = Instant::now();
        let mut sockets = tokio::task::JoinSet::new();
        let connected = Arc::new(tokio::sync::Barrier::new(k + 1));
        let connecting = Arc::new(tokio::sync::Semaphore::new(64));
        for _ in 0..k {
            let (url, job, connected, connecting) = (url.clone(), job.clone(), connected.clone(), connecting.clone());
            sockets.spawn(async move {
                let permit = connecting.acquire_owned().await.unwrap();
                let mut socket = ws(&url, &job).await;
                drop(permit);
                connected.wait().await;
                let mut lags = vec![];
                let mut seqs = vec![];
                let mut terminal = false;
                while let Some(Ok(msg)) = socket.next().await {
                    if let Message::Text(text) = msg {
                        let now = wall_ms();
                        if let Some(t) = stamp(&text) {
                            lags.push(now - t);
                        }
                        let seq_at = text.find(r#""seq":"#).unwrap() + 6;
                        let seq: u64 = text[seq_at..].split(',').next().unwrap().parse().unwrap();
                        seqs.push(seq);
                        if is_terminal(&text) {
                            terminal = true;
                            break;
                        }
                    }
                }
                (lags, seqs, terminal)
            });
        }
        connected.wait().await;
        let connect_secs = connect_started.elapsed().as_secs_f64();
        let cpu_before = cpu_seconds(server_pid);
        for id in &blockers {
            client.post(format!("{url}/jobs/{id}/cancel")).send().await.unwrap();
        }
        let mut lags = vec![];
        let mut complete = 0;
        let mut in_order = true;
        while let Some(a) = sockets.join_next().await {
            let (l, seqs, terminal) = a.unwrap();
            lags.extend(l);
            complete += usize::from(terminal);
            in_order &= seqs.windows(2).all(|w| w[1] == w[0] + 1) && seqs.first() == Some(&1);
        }
        let server_cpu = cpu_seconds(server_pid) - cpu_before;
        lags.sort_by(f64::total_cmp);
        let p99 = percentile(&lags, 0.99);
        println!(
            "fan-out: {k} sockets x {:.0} events/s (connected in {connect_secs:.1} s), {complete} got the whole job{}, {} epochs delivered, lag from emission p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; server CPU {:.1} us per delivered event",
            1000.0 / epoch_ms as f64,
            if in_order { " in order without gaps" } else { " (GAPS OR DISORDER)" },
            lags.len(),
            percentile(&lags, 0.5),
            p99,
            lags.last().copied().unwrap_or(f64::NAN),
            server_cpu * 1e6 / lags.len().max(1) as f64
        );
        if p99 > 100.0 {
            break;
        }
    }
}
