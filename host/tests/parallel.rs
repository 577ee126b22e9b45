//! One job trained by several instances of a plugin (contract 0.4.0), through
//! the real binary: random_forest's and gbdt's models are the same bytes for
//! 1, 2 and 4 instances; an instance that traps, runs out of the job's memory or time,
//! calls out of order or leaves early fails the job once with that cause
//! while the others wait in a collective call; a cancel ends such a job
//! within a second; a plugin without the capability runs as one instance;
//! and a job of K instances holds K worker slots, never more than there are.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Two worker slots; `team` with a job memory of 64 MiB and 4 s of time.
fn config(dir: &Path) -> PathBuf {
    let path = dir.join("trainhost.toml");
    let text = format!(
        r#"[server]
bind = "127.0.0.1:0"
[storage]
data_dir = {data:?}
[workers]
concurrency = 2
heartbeat_secs = 0.2
[default_limits]
memory_mib = 256
time_secs = 30.0
[[plugins]]
name = "team"
path = {team:?}
limits = {{ memory_mib = 64, time_secs = 4.0 }}
[[plugins]]
name = "slow"
path = {slow:?}
[[plugins]]
name = "baseline"
path = {baseline:?}
[[plugins]]
name = "random_forest"
path = {forest:?}
[[plugins]]
name = "gbdt"
path = {gbdt:?}
"#,
        data = dir.join("data"),
        team = plugin_file("test_team"),
        slow = plugin_file("test_slow"),
        baseline = plugin_file("baseline"),
        forest = plugin_file("random_forest"),
        gbdt = plugin_file("gbdt"),
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn serve(dir: &Path) -> (Process, String) {
    let server = Process::start(&config(dir), &["serve"], &[], LISTENING);
    wait_ready(&server.url).await;
    let dataset = upload(&server.url, &testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();
    (server, dataset)
}

fn team_job(dataset: &str, misbehave: &str) -> Value {
    json!({"datasetId": dataset, "taskType": "clustering", "modelConfig": {"selectedModel": "team", "misbehave": misbehave}})
}

/// Runs a team job whose last instance misbehaves; returns its failure message.
async fn failure(url: &str, dataset: &str, misbehave: &str) -> String {
    let job = submit(url, &team_job(dataset, misbehave)).await;
    let record = wait_status(url, &job, &["completed", "failed", "cancelled"], Duration::from_secs(30)).await;
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["attempts"], 1, "{record}");
    let message = record["error"].as_str().unwrap().to_string();
    // The first cause only: not the error the waiting instance was released with.
    assert!(!message.contains("of this job failed"), "{message}");
    message
}

/// The model files `trainhost train` writes for 1, 2 and 4 instances.
fn models_by_instances(plugin: &str, data: &str, target: &str, task: &str, params: &[&str]) -> Vec<Vec<u8>> {
    let dir = temp_dir();
    let config = config(dir.path());
    let mut models = Vec::new();
    for instances in ["1", "2", "4"] {
        let out_file = dir.path().join(format!("{plugin}-{instances}.bin"));
        let mut command = trainhost_command(&config);
        command.args(["train", "--plugin", plugin, "--data", testdata(data).to_str().unwrap(), "--target", target, "--task", task]);
        for p in params {
            command.args(["--param", p]);
        }
        let output = command.args(["--seed", "7", "--instances", instances, "--out", out_file.to_str().unwrap()]).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(stdout.contains(&format!("trained by {instances} instances")), instances != "1", "{stdout}");
        models.push(std::fs::read(&out_file).unwrap());
    }
    models
}

#[test]
fn random_forest_grows_the_same_model_bytes_in_1_2_and_4_instances() {
    let models = models_by_instances("random_forest", "breast_cancer.csv", "diagnosis", "classification", &["nEstimators=25"]);
    assert!(models[0].len() > 10_000, "a forest of 25 trees");
    assert!(models[1] == models[0], "2 instances grew another model than 1");
    assert!(models[2] == models[0], "4 instances grew another model than 1");
}

#[test]
fn gbdt_boosts_the_same_model_bytes_on_1_2_and_4_shards() {
    // Missing numbers, categorical island and sex, bagging and feature sampling.
    let params = ["nEstimators=30", "minDataInLeaf=5", "baggingFraction=0.8", "baggingFreq=1", "featureFraction=0.7"];
    let models = models_by_instances("gbdt", "penguins.csv", "species", "classification", &params);
    assert!(models[0].len() > 5_000, "90 trees");
    assert!(models[1] == models[0], "2 shards boosted another model than 1");
    assert!(models[2] == models[0], "4 shards boosted another model than 1");
    let models = models_by_instances("gbdt", "diabetes.csv", "progression", "regression", &["nEstimators=20", "objective=regression_l1"]);
    assert!(models[1] == models[0] && models[2] == models[0], "an L1 regression's refitted leaves differ by shards");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_add_up_their_shards_and_a_plugin_without_the_capability_runs_alone() {
    let dir = temp_dir();
    let (server, dataset) = serve(dir.path()).await;
    let url = &server.url;
    let job = submit(url, &team_job(&dataset, "none")).await;
    let record = wait_status(url, &job, &["completed", "failed"], Duration::from_secs(30)).await;
    assert_eq!(record["status"], "completed", "{record}");
    let results = &record["results"];
    // Two free slots, a plugin maximum of 8, no cap in the config: 2 instances.
    assert_eq!(results["summary"]["instances"], 2, "{results}");
    let plugin = &results["summary"]["plugin_metrics"];
    assert_eq!((plugin["instances"].as_f64(), plugin["rank_sum"].as_f64(), plugin["shares_gathered"].as_f64()), (Some(2.0), Some(1.0), Some(2.0)), "{plugin}");
    // Each instance got a shard; together every training row once.
    assert_eq!(plugin["rows_seen"].as_f64(), results["summary"]["rows_train"].as_f64(), "{results}");
    // What the calls cost: a sum (1 float, 2 integers), a gather (8 bytes) and a
    // broadcast ("2 instances") from each of the two: 3 calls, 2 x 43 bytes.
    let cost = &results["summary"]["collectives"];
    assert_eq!((cost["calls"].as_u64(), cost["bytes"].as_u64()), (Some(3), Some(86)), "{cost}");
    assert!(cost["wait_seconds"].as_f64().is_some_and(|s| (0.0..30.0).contains(&s)), "{cost}");

    let alone = submit(url, &baseline_job(&dataset)).await;
    let record = wait_status(url, &alone, &["completed", "failed"], Duration::from_secs(30)).await;
    assert_eq!(record["status"], "completed", "{record}");
    assert!(record["results"]["summary"].get("instances").is_none(), "one instance is not marked: {record}");
    assert!(record["results"]["summary"].get("collectives").is_none(), "one instance makes no collective calls: {record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_instance_fails_the_job_once_with_its_cause_while_the_others_wait() {
    let dir = temp_dir();
    let (server, dataset) = serve(dir.path()).await;
    let url = &server.url;
    let trap = failure(url, &dataset, "trap").await;
    assert!(trap.contains("crashed") && trap.contains("instance 1 panics on purpose"), "{trap}");
    let memory = failure(url, &dataset, "memory").await;
    assert!(memory.contains("memory limit of 64 MiB"), "{memory}");
    let started = Instant::now();
    let time = failure(url, &dataset, "loop").await;
    assert!(time.contains("time limit of 4 s"), "{time}");
    assert!(started.elapsed() < Duration::from_secs(8), "the time limit took {:?}", started.elapsed());
    let mismatch = failure(url, &dataset, "mismatch").await;
    assert!(mismatch.contains("instances disagree") && mismatch.contains("call #1") && mismatch.contains("sum") && mismatch.contains("gather"), "{mismatch}");
    let leave = failure(url, &dataset, "leave").await;
    assert!(leave.contains("instance 1 returned from train without making collective call #1 (sum)"), "{leave}");
    // The worker is whole again: the next job completes.
    let job = submit(url, &team_job(&dataset, "none")).await;
    assert_eq!(wait_status(url, &job, &["completed", "failed"], Duration::from_secs(30)).await["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_during_a_collective_ends_the_job_within_a_second() {
    let dir = temp_dir();
    let (server, dataset) = serve(dir.path()).await;
    let url = &server.url;
    let job = submit(url, &team_job(&dataset, "loop")).await;
    wait_status(url, &job, &["running"], Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let (status, body) = post_json(url, &format!("/jobs/{job}/cancel"), &json!({})).await;
    assert_eq!(status, 202, "{body}");
    let record = wait_status(url, &job, &["cancelled", "failed", "completed"], Duration::from_secs(3)).await;
    assert_eq!(record["status"], "cancelled", "{record}");
    assert!(started.elapsed() < Duration::from_secs(1), "cancel took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_of_two_instances_holds_both_slots_so_the_next_job_waits() {
    let dir = temp_dir();
    let (server, dataset) = serve(dir.path()).await;
    let url = &server.url;
    // Spins in one instance until its 4 s are up, holding both slots.
    let wide = submit(url, &team_job(&dataset, "loop")).await;
    wait_status(url, &wide, &["running"], Duration::from_secs(10)).await;
    let next = submit(url, &slow_job(&dataset, 1, 10)).await;
    let deadline = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < deadline {
        let (_, body) = get_json(url, &format!("/jobs/{next}")).await;
        assert_eq!(body["data"]["status"], "queued", "a third slot was used: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(wait_status(url, &wide, &["failed"], Duration::from_secs(10)).await["status"], "failed");
    assert_eq!(wait_status(url, &next, &["completed"], Duration::from_secs(10)).await["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_asking_for_one_instance_trains_in_one_and_so_do_sweep_trials_run_side_by_side() {
    let dir = temp_dir();
    let (server, dataset) = serve(dir.path()).await;
    let url = &server.url;
    let mut refused = team_job(&dataset, "none");
    refused["maxInstances"] = json!(0);
    let (status, body) = post_json(url, "/jobs", &refused).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("maxInstances")), "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("1 to 1024")), "{body}");

    // `loop` spins in the last of two or more instances: capped at one, the job trains alone and completes.
    let mut narrow = team_job(&dataset, "loop");
    narrow["maxInstances"] = json!(1);
    let narrow = submit(url, &narrow).await;
    let record = wait_status(url, &narrow, &["completed", "failed"], Duration::from_secs(10)).await;
    assert_eq!(record["status"], "completed", "{record}");
    assert!(record["results"]["summary"].get("instances").is_none(), "{record}");
    assert_eq!(record["results"]["summary"]["plugin_metrics"]["instances"].as_f64(), Some(1.0), "{record}");

    // Two trials at once: one instance each, on the two slots.
    let sweep = json!({"datasetId": dataset, "taskType": "clustering", "metric": "silhouette", "strategy": "random", "trials": 2,
        "parallelTrials": 2, "seed": 1, "space": [{"selectedModel": "team", "misbehave": "none"}]});
    let (status, body) = post_json(url, "/sweeps", &sweep).await;
    assert_eq!(status, 202, "{body}");
    let id = body["data"]["sweepId"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let trials = loop {
        let (_, body) = get_json(url, &format!("/sweeps/{id}")).await;
        if matches!(body["data"]["status"].as_str(), Some("completed" | "failed" | "cancelled")) {
            break body["data"]["trials"].as_array().unwrap().clone();
        }
        assert!(Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(trials.len(), 2, "{trials:?}");
    for trial in &trials {
        let (_, job) = get_json(url, &format!("/jobs/{}", trial["jobId"].as_str().unwrap())).await;
        let summary = &job["data"]["results"]["summary"];
        assert_eq!(job["data"]["status"], "completed", "{job}");
        assert!(summary.get("instances").is_none(), "a trial beside another trains in one instance: {summary}");
        assert_eq!(summary["plugin_metrics"]["instances"].as_f64(), Some(1.0), "{summary}");
    }
}

/// `trainhost train ... | head -1`: once the reader has gone, the command ends
/// by SIGPIPE (as `head`'s other writers do) with one instance or two, rather
/// than panicking in a print or leaving an instance waiting in a collective.
#[test]
fn a_train_whose_reader_has_gone_ends_by_sigpipe_with_one_instance_or_two() {
    use std::io::BufRead;
    use std::os::unix::process::ExitStatusExt;
    let dir = temp_dir();
    let config = config(dir.path());
    for instances in ["1", "2"] {
        let out_file = dir.path().join(format!("gone-{instances}.bin"));
        let mut command = trainhost_command(&config);
        command.args(["train", "--plugin", "gbdt", "--data", testdata("penguins.csv").to_str().unwrap(), "--target", "species", "--task", "classification"]);
        command.args(["--param", "nEstimators=400", "--instances", instances, "--out", out_file.to_str().unwrap()]);
        let mut child = command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let mut progress = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        progress.read_line(&mut first).unwrap();
        drop(progress);
        drop(child.stdout.take());
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{instances} instance(s): still running 60 s after its reader went away (first line: {first})");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(status.signal(), Some(libc::SIGPIPE), "{instances} instance(s): {status:?} (first line: {first})");
    }
}
