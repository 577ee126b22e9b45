//! Load benchmark of the service (not part of the tests). Starts `trainhost
//! serve` in this process with the bundled plugins, then measures, through
//! HTTP and WebSocket like a client:
//! 1. submit -> first `progress` event, p50/p99 (sequential jobs; includes the socket handshake);
//! 2. trivial-job throughput: `baseline` jobs per second with every event delivered;
//! 3. WebSocket fan-out: sockets watching one job, p99 of delivery lag behind the
//!    first socket to receive each event, for growing numbers of sockets.
//!
//! cargo run --release -p trainhost --example loadbench -- [embedded|redis] [jobs] [max_sockets]
//! (client and server share the machine, so the figures are a lower bound.)

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn submit(client: &reqwest::Client, url: &str, body: &Value) -> String {
    let r: Value = client.post(format!("{url}/train")).json(body).send().await.unwrap().json().await.unwrap();
    r["data"]["jobId"].as_str().unwrap_or_else(|| panic!("{r}")).to_string()
}

async fn ws(url: &str, job: &str) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    tokio_tungstenite::connect_async(format!("{}/ws/{job}", url.replacen("http", "ws", 1))).await.unwrap().0
}

/// Reads until the terminal event; returns (events, time of the first progress).
async fn drain(
    mut socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> (usize, Option<Instant>) {
    let mut n = 0;
    let mut first_progress = None;
    while let Some(Ok(msg)) = socket.next().await {
        if let Message::Text(text) = msg {
            n += 1;
            if first_progress.is_none() && text.contains(r#""type":"progress""#) {
                first_progress = Some(Instant::now());
            }
            if text.contains(r#""type":"complete""#) || text.contains(r#""type":"error""#) || text.contains(r#""type":"cancelled""#) {
                break;
            }
        }
    }
    (n, first_progress)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let broker = args.get(1).cloned().unwrap_or_else(|| "embedded".into());
    let jobs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let max_sockets: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let workspace = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let prefix = format!("trainhost-bench-{}", uuid::Uuid::new_v4());
    let mut config = trainhost::config::Config::default();
    config.server.bind = format!("127.0.0.1:{port}");
    config.storage.data_dir = dir.path().join("data");
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
    let server_config = config.clone();
    tokio::spawn(async move { trainhost::service::serve(server_config, false).await.unwrap() });
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    while client.get(format!("{url}/readyz")).send().await.map(|r| r.status() != 200).unwrap_or(true) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bytes = std::fs::read(workspace.join("testdata/iris.csv")).unwrap();
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name("iris.csv"));
    let ds: Value = client.post(format!("{url}/datasets")).multipart(form).send().await.unwrap().json().await.unwrap();
    let ds = ds["data"]["id"].as_str().unwrap().to_string();
    let trivial = json!({"datasetId": ds, "targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "baseline"}});
    println!("broker: {broker}; cores: {}", std::thread::available_parallelism().map_or(0, |n| n.get()));

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
    while let Some(n) = tasks.join_next().await {
        events += n.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!("throughput: {jobs} trivial jobs in {secs:.2} s = {:.0} jobs/s ({events} events delivered)", jobs as f64 / secs);

    // 3. Fan-out: K sockets on one job emitting 40 epochs, 50 ms apart.
    let mut k = 100;
    while k <= max_sockets {
        let job = submit(&client, &url, &json!({"datasetId": ds, "taskType": "clustering", "modelConfig": {"selectedModel": "slow", "epochs": 40, "epochMillis": 50}})).await;
        let mut sockets = tokio::task::JoinSet::new();
        for _ in 0..k {
            let socket = ws(&url, &job).await;
            sockets.spawn(async move {
                let mut socket = socket;
                let mut arrivals = vec![];
                while let Some(Ok(msg)) = socket.next().await {
                    if let Message::Text(text) = msg {
                        let v: Value = serde_json::from_str(&text).unwrap();
                        arrivals.push((v["seq"].as_u64().unwrap(), Instant::now()));
                        if v["type"] != "progress" && v["type"] != "status" {
                            break;
                        }
                    }
                }
                arrivals
            });
        }
        let mut all: Vec<Vec<(u64, Instant)>> = vec![];
        while let Some(a) = sockets.join_next().await {
            all.push(a.unwrap());
        }
        let mut first: std::collections::HashMap<u64, Instant> = std::collections::HashMap::new();
        for a in &all {
            for (seq, t) in a {
                first.entry(*seq).and_modify(|f| *f = (*f).min(*t)).or_insert(*t);
            }
        }
        // Only live events count (replayed ones arrive at connect time).
        let mut lags: Vec<f64> = all.iter().flatten().filter(|(seq, _)| *seq > 3).map(|(seq, t)| t.duration_since(first[seq]).as_secs_f64() * 1000.0).collect();
        lags.sort_by(f64::total_cmp);
        let complete = all.iter().filter(|a| a.last().is_some()).count();
        let p99 = percentile(&lags, 0.99);
        println!("fan-out: {k} sockets, {complete} got the whole job, delivery lag p50 {:.1} ms, p99 {:.1} ms", percentile(&lags, 0.5), p99);
        if p99 > 100.0 {
            break;
        }
        k = if k < 1000 { k * 10 } else { k + 2500 };
    }
    if broker == "redis" {
        let b = trainhost::queue::redis::RedisBroker::connect(&config.broker.redis_url, &prefix).await.unwrap();
        b.delete_all_keys().await.unwrap();
    }
    std::process::exit(0);
}
