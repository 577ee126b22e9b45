//! Sweeps on the real service with real plugins: a grid over random_forest
//! ends with every trial terminal once and the best trial's model usable;
//! ASHA prunes clearly bad settings, cancelling their jobs within a second of
//! the decision; a sweep whose every trial fails ends failed saying why; the
//! request's faults are refused naming the field; a member sees only their
//! own sweeps; and a sweep survives kill -9 of the process that drives it
//! (embedded: a restart; Redis: another node takes over).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// The kit's config, plus `panicky`: the plugin that panics in every training run.
fn config_with_failing_plugin(setup: &Setup) -> std::path::PathBuf {
    let path = setup.config_path();
    let mut text = std::fs::read_to_string(&path).expect("the config was just written");
    text.push_str(&format!("[[plugins]]\nname = \"panicky\"\npath = {:?}\n", plugin_file("test_panic")));
    std::fs::write(&path, text).expect("writing the config");
    path
}

fn serve(setup: &Setup) -> Process {
    Process::start(&config_with_failing_plugin(setup), &["serve"], &setup.env, LISTENING)
}

async fn start(setup: &Setup) -> (Process, String) {
    let server = serve(setup);
    wait_ready(&server.url).await;
    let dataset = upload(&server.url, &testdata("penguins.csv")).await;
    (server, dataset["id"].as_str().expect("an uploaded dataset has an id").to_string())
}

fn sweep_body(dataset: &str, strategy: &str, space: Value) -> Value {
    json!({"datasetId": dataset, "targetColumn": "species", "taskType": "classification", "metric": "accuracy",
        "strategy": strategy, "seed": 1, "space": space})
}

async fn start_sweep(url: &str, body: &Value) -> String {
    let (status, answer) = post_json(url, "/sweeps", body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["data"]["status"], "queued", "{answer}");
    answer["data"]["sweepId"].as_str().expect("a sweep id").to_string()
}

/// Polls until the sweep has ended; its record.
async fn wait_ended(url: &str, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = get_json(url, &format!("/sweeps/{id}")).await;
        assert_eq!(status, 200, "{body}");
        if matches!(body["data"]["status"].as_str(), Some("completed" | "failed" | "cancelled")) {
            return body["data"].clone();
        }
        assert!(Instant::now() < deadline, "sweep {id} has not ended: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every event of the sweep's socket, replayed from seq 1 to its last.
async fn sweep_events(url: &str, id: &str) -> Vec<Value> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let address = format!("{}/ws/sweeps/{id}", url.replacen("http", "ws", 1));
    let mut request = address.into_client_request().expect("a WebSocket URL");
    request.headers_mut().insert("authorization", format!("Bearer {ADMIN_TOKEN}").parse().expect("header text"));
    let socket = tokio_tungstenite::connect_async(request).await.expect("opening the sweep's socket").0;
    collect(socket, Duration::from_secs(20)).await
}

/// The events are numbered 1..n in order, the last ends the sweep, and each
/// trial ended exactly once; the trials' ends as the events tell them.
fn assert_each_trial_ended_once(events: &[Value], record: &Value) -> HashMap<u64, String> {
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().expect("a seq")).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "{events:?}");
    let last = events.last().expect("events");
    assert_eq!((last["type"].as_str(), &last["status"]), (Some("sweep"), &record["status"]), "{last}");
    let mut ends: HashMap<u64, String> = HashMap::new();
    for e in events.iter().filter(|e| e["type"] == "trial") {
        let what = e["event"].as_str().expect("a trial event says what");
        if matches!(what, "completed" | "failed" | "cancelled" | "pruned") {
            let trial = e["trial"].as_u64().expect("a trial index");
            assert!(ends.insert(trial, what.to_string()).is_none(), "trial {trial} ended twice: {events:?}");
        }
    }
    let trials = record["trials"].as_array().expect("trials");
    assert_eq!(ends.len(), trials.len(), "every trial ends once: {ends:?} {record}");
    for t in trials {
        assert_eq!(ends[&t["index"].as_u64().expect("index")], t["status"].as_str().expect("status"), "{t}");
    }
    ends
}

#[tokio::test]
async fn a_grid_over_random_forest_finishes_with_its_best_trial_as_the_model() {
    let dir = temp_dir();
    let (server, dataset) = start(&Setup::embedded(dir.path())).await;
    let space = json!([{"selectedModel": "random_forest", "nEstimators": 10, "maxDepth": {"values": [1, 3, 0]}, "maxSamples": {"min": 0.5, "max": 1.0}}]);
    let id = start_sweep(&server.url, &sweep_body(&dataset, "grid", space)).await;
    let record = wait_ended(&server.url, &id, Duration::from_secs(120)).await;
    assert_eq!(record["status"], "completed", "{record}");
    let trials = record["trials"].as_array().expect("as the test set it up");
    // 3 depths x 3 points of the range.
    assert_eq!(trials.len(), 9, "{record}");
    let mut seen = std::collections::HashSet::new();
    for t in trials {
        assert_eq!(t["status"], "completed", "{t}");
        assert!(seen.insert(format!("{}", t["params"])), "each grid point once: {t}");
        let (_, job) = get_json(&server.url, &format!("/jobs/{}", t["jobId"].as_str().expect("as the test set it up"))).await;
        assert_eq!(job["data"]["status"], "completed");
        // The trial's score is its job's accuracy on the judged rows.
        assert_eq!(job["data"]["results"]["metrics"]["accuracy"], t["score"], "{t}");
        assert_eq!(job["data"]["modelConfig"]["maxDepth"], t["params"]["maxDepth"]);
    }
    let best_score = trials.iter().map(|t| t["score"].as_f64().expect("as the test set it up")).fold(f64::MIN, f64::max);
    assert_eq!(record["best"]["score"].as_f64(), Some(best_score), "{record}");
    assert_eq!(record["leaderboard"][0], record["best"]);
    // Depth 1 is clearly worse on penguins than unlimited depth.
    let by_depth =
        |d: i64| trials.iter().filter(|t| t["params"]["maxDepth"] == d).map(|t| t["score"].as_f64().expect("as the test set it up")).fold(f64::MIN, f64::max);
    assert!(by_depth(0) > by_depth(1), "depth 0 {} vs depth 1 {}", by_depth(0), by_depth(1));

    let best = record["best"]["jobId"].as_str().expect("as the test set it up");
    let (status, predicted) = post_json(&server.url, &format!("/jobs/{best}/predict"), &json!({"datasetId": dataset})).await;
    assert_eq!(status, 200, "{predicted}");
    assert_eq!(predicted["data"]["rows"], 344);
    let (status, model) = get_bytes(&server.url, &format!("/sweeps/{id}/model")).await;
    let (_, job_model) = get_bytes(&server.url, &format!("/jobs/{best}/model")).await;
    assert_eq!((status, model.len()), (200, job_model.len()));

    let events = sweep_events(&server.url, &id).await;
    assert_each_trial_ended_once(&events, &record);
    assert!(events.iter().any(|e| e["type"] == "leaderboard"), "{events:?}");
    let (_, list) = get_json(&server.url, "/sweeps").await;
    assert_eq!(list["data"][0]["sweepId"], id.as_str());
}

#[tokio::test]
async fn the_next_trial_is_submitted_as_soon_as_one_ends_not_at_the_next_tick() {
    let dir = temp_dir();
    let (server, dataset) = start(&Setup::embedded(dir.path())).await;
    let space = json!([{"selectedModel": "random_forest", "nEstimators": 5, "maxDepth": {"values": [1, 2, 3, 4, 5, 6, 7, 8, 0]}}]);
    let mut body = sweep_body(&dataset, "grid", space);
    body["parallelTrials"] = json!(1);
    let id = start_sweep(&server.url, &body).await;
    let record = wait_ended(&server.url, &id, Duration::from_secs(120)).await;
    assert_eq!(record["status"], "completed", "{record}");
    let mut times = vec![];
    for t in record["trials"].as_array().expect("as the test set it up") {
        let (_, job) = get_json(&server.url, &format!("/jobs/{}", t["jobId"].as_str().expect("as the test set it up"))).await;
        let at = |field: &str| job["data"][field].as_i64().unwrap_or_else(|| panic!("{field} of {job}"));
        times.push((at("createdAt"), at("completedAt")));
    }
    // One trial at a time: each job is created after the one before it ended.
    // The driver acts on the job's end event; a poll every tick (200 ms) would
    // leave gaps of 100 ms in the middle.
    let mut gaps: Vec<i64> = times.windows(2).map(|w| w[1].0 - w[0].1).collect();
    assert!(gaps.iter().all(|&g| g >= 0), "{gaps:?}");
    gaps.sort_unstable();
    eprintln!("gaps between a trial's end and the next trial's job, ms: {gaps:?}");
    assert!(gaps[gaps.len() / 2] < 60, "the median gap between a trial's end and the next trial's job is {} ms: {gaps:?}", gaps[gaps.len() / 2]);
}

/// A table where depth matters: `y` is `a` when x1 + x2 > 1 and x3 > 0.5
/// differ (an XOR no single split can tell), 15,000 rows: a tree takes long
/// enough that a trial is still running when its first rung is decided.
fn xor_table(dir: &std::path::Path) -> std::path::PathBuf {
    let mut state: u64 = 7;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut text = String::from("x1,x2,x3,x4,x5,y\n");
    for _ in 0..15_000 {
        let x: Vec<f64> = (0..5).map(|_| next()).collect();
        let y = if (x[0] + x[1] > 1.0) != (x[2] > 0.5) { "a" } else { "b" };
        text.push_str(&format!("{:.3},{:.3},{:.3},{:.3},{:.3},{y}\n", x[0], x[1], x[2], x[3], x[4]));
    }
    let path = dir.join("xor.csv");
    std::fs::write(&path, text).expect("writing the table");
    path
}

#[tokio::test]
async fn asha_prunes_clearly_bad_settings_within_a_second_of_the_rung() {
    let dir = temp_dir();
    let server = serve(&Setup::embedded(dir.path()));
    wait_ready(&server.url).await;
    let dataset = upload(&server.url, &xor_table(dir.path())).await["id"].as_str().expect("as the test set it up").to_string();
    // Depth 1 cannot learn an XOR (about half right); unlimited depth can. One
    // trial at a time, so that every rung decision sees the trials before it.
    let space = json!([{"selectedModel": "random_forest", "nEstimators": 2000, "maxDepth": {"values": [1, 0]}}]);
    let mut body = sweep_body(&dataset, "asha", space);
    body["targetColumn"] = json!("y");
    body["trials"] = json!(6);
    body["parallelTrials"] = json!(1);
    body["minEpochs"] = json!(50);
    let id = start_sweep(&server.url, &body).await;
    let record = wait_ended(&server.url, &id, Duration::from_secs(400)).await;
    assert_eq!(record["status"], "completed", "{record}");
    assert_eq!(record["rungs"], json!([50, 150, 450, 1350]), "{record}");
    let trials = record["trials"].as_array().expect("as the test set it up");
    let depths: Vec<i64> = trials.iter().map(|t| t["params"]["maxDepth"].as_i64().expect("as the test set it up")).collect();
    assert!(depths.contains(&0) && depths.contains(&1), "the seed draws both settings: {depths:?}");
    let pruned: Vec<&Value> = trials.iter().filter(|t| t["status"] == "pruned").collect();
    assert!(!pruned.is_empty(), "{record}");
    for t in &pruned {
        assert_eq!(t["params"]["maxDepth"], 1, "only the bad setting is pruned: {t}");
        assert!(t["message"].as_str().expect("as the test set it up").contains("pruned at epoch"), "{t}");
    }
    assert_eq!(record["best"]["params"]["maxDepth"], 0, "{record}");

    let events = sweep_events(&server.url, &id).await;
    assert_each_trial_ended_once(&events, &record);
    for t in &pruned {
        let job_id = t["jobId"].as_str().expect("as the test set it up");
        let decided =
            events.iter().find(|e| e["event"] == "pruned" && e["jobId"] == job_id).expect("a pruned event")["at"].as_i64().expect("as the test set it up");
        let (_, job) = get_json(&server.url, &format!("/jobs/{job_id}")).await;
        assert_eq!(job["data"]["status"], "cancelled", "{job}");
        let ended = job["data"]["completedAt"].as_i64().expect("an ended job has its end time");
        assert!(ended - decided < 1000, "cancelled {} ms after the rung decision", ended - decided);
        // Cut off: it did not grow all its trees.
        assert!(t["epoch"].as_u64().expect("as the test set it up") < 2000, "{t}");
    }
}

#[tokio::test]
async fn a_sweep_whose_every_trial_fails_ends_failed_with_the_reason() {
    let dir = temp_dir();
    let (server, dataset) = start(&Setup::embedded(dir.path())).await;
    let mut body = sweep_body(&dataset, "random", json!([{"selectedModel": "panicky"}]));
    body["trials"] = json!(3);
    let id = start_sweep(&server.url, &body).await;
    let record = wait_ended(&server.url, &id, Duration::from_secs(60)).await;
    assert_eq!(record["status"], "failed", "{record}");
    let message = record["message"].as_str().expect("as the test set it up");
    assert!(message.contains("3 failed") && message.contains("the first failure"), "{message}");
    assert!(record["best"].is_null());
    assert!(record["trials"].as_array().expect("as the test set it up").iter().all(|t| t["status"] == "failed" && t["message"].is_string()), "{record}");
    let events = sweep_events(&server.url, &id).await;
    assert_each_trial_ended_once(&events, &record);
}

#[tokio::test]
async fn faulty_requests_are_refused_naming_the_field_and_others_sweeps_are_hidden() {
    let dir = temp_dir();
    let (server, dataset) = start(&Setup::embedded(dir.path())).await;
    let rf = |extra: Value| {
        let mut entry = json!({"selectedModel": "random_forest"});
        entry.as_object_mut().expect("as the test set it up").extend(extra.as_object().expect("as the test set it up").clone());
        let mut body = sweep_body(&dataset, "random", json!([entry]));
        body["trials"] = json!(2);
        body
    };
    let mut no_bounds = rf(json!({}));
    no_bounds.as_object_mut().expect("as the test set it up").remove("trials");
    let mut bad_metric = rf(json!({}));
    bad_metric["metric"] = json!("rmse");
    let mut bad_strategy = rf(json!({}));
    bad_strategy["strategy"] = json!("bayes");
    let mut no_space = rf(json!({}));
    no_space.as_object_mut().expect("as the test set it up").remove("space");
    let mut too_many = rf(json!({}));
    too_many["trials"] = json!(1001);
    let mut bad_dataset = rf(json!({}));
    bad_dataset["datasetId"] = json!(uuid::Uuid::new_v4().to_string());
    let cases = [
        (
            json!({"datasetId": dataset, "targetColumn": "species", "taskType": "classification", "trials": 2, "space": [{"selectedModel": "nope"}]}),
            422,
            "space[0].selectedModel",
            "unknown_plugin",
        ),
        (rf(json!({"nTrees": 5})), 422, "space[0].nTrees", "invalid_parameter"),
        (rf(json!({"nEstimators": {"min": 0, "max": 10}})), 422, "space[0].nEstimators", "invalid_parameter"),
        (rf(json!({"maxSamples": {"min": 0.5, "max": 3}})), 422, "space[0].maxSamples", "invalid_parameter"),
        (rf(json!({"criterion": {"values": ["gini", "bogus"]}})), 422, "space[0].criterion", "invalid_parameter"),
        (bad_metric, 400, "metric", "invalid_field"),
        (no_bounds, 400, "trials", "missing_field"),
        (bad_strategy, 400, "strategy", "invalid_field"),
        (no_space, 400, "space", "missing_field"),
        (bad_dataset, 404, "datasetId", "dataset_not_found"),
        (json!({"taskType": "classification", "trials": "many"}), 400, "trials", "invalid_field"),
        (too_many, 400, "trials", "invalid_field"),
    ];
    for (body, status, field, code) in cases {
        let (got, answer) = post_json(&server.url, "/sweeps", &body).await;
        assert_eq!((got, answer["error"]["field"].as_str(), answer["error"]["code"].as_str()), (status, Some(field), Some(code)), "{body}: {answer}");
    }
    let (_, none) = get_json(&server.url, "/sweeps").await;
    assert_eq!(none["data"], json!([]), "no refused request left a sweep");

    // `auto`: every enabled plugin that does the task, each over the space it suggests.
    let auto = json!({"datasetId": dataset, "targetColumn": "species", "taskType": "classification", "strategy": "auto", "trials": 1, "parallelTrials": 1});
    let (status, answer) = post_json(&server.url, "/api/sweeps", &auto).await;
    assert_eq!(status, 202, "{answer}");
    let auto_id = answer["data"]["sweepId"].as_str().expect("a sweep id").to_string();
    let (_, auto) = get_json(&server.url, &format!("/api/sweeps/{auto_id}")).await;
    let plugins: Vec<&str> = auto["data"]["plugins"].as_array().expect("plugins").iter().filter_map(Value::as_str).collect();
    assert!(plugins.contains(&"random_forest") && plugins.contains(&"baseline") && !plugins.contains(&"kmodes"), "{auto}");
    let forest = auto["data"]["spaces"].as_array().expect("spaces").iter().find(|s| s["plugin"] == "random_forest").expect("the forest's space").clone();
    assert!(forest["params"].as_array().expect("params").iter().any(|p| p[0] == "nEstimators"), "{forest}");
    wait_ended(&server.url, &auto_id, Duration::from_secs(60)).await;

    let id = start_sweep(&server.url, &rf(json!({"nEstimators": 5}))).await;
    let bob = add_user(&server.url, "bob", "member").await;
    let (status, answer) = get_json_as(&server.url, &bob, &format!("/sweeps/{id}")).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("sweep_not_found")), "{answer}");
    let (_, list) = get_json_as(&server.url, &bob, "/sweeps").await;
    assert_eq!(list["data"], json!([]));
    let (status, _) = post_json_as(&server.url, &bob, &format!("/sweeps/{id}/cancel"), &json!({})).await;
    assert_eq!(status, 404);
    wait_ended(&server.url, &id, Duration::from_secs(60)).await;
    let (status, answer) = post_json(&server.url, &format!("/sweeps/{id}/cancel"), &json!({})).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (409, Some("sweep_finished")), "{answer}");
}

#[tokio::test]
async fn a_cancelled_sweep_cancels_its_trials() {
    let dir = temp_dir();
    let (server, dataset) = start(&Setup::embedded(dir.path())).await;
    let space = json!([{"selectedModel": "random_forest", "nEstimators": 4000, "maxDepth": {"values": [0, 6]}}]);
    let mut body = sweep_body(&dataset, "random", space);
    body["trials"] = json!(10);
    let id = start_sweep(&server.url, &body).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (status, answer) = post_json(&server.url, &format!("/sweeps/{id}/cancel"), &json!({})).await;
    assert_eq!(status, 202, "{answer}");
    let record = wait_ended(&server.url, &id, Duration::from_secs(30)).await;
    assert_eq!(record["status"], "cancelled", "{record}");
    assert!(record["trials"].as_array().expect("as the test set it up").len() < 10, "{record}");
    let events = sweep_events(&server.url, &id).await;
    assert_each_trial_ended_once(&events, &record);
}

#[tokio::test]
async fn a_time_budget_ends_the_sweep_and_cancels_what_still_runs() {
    let dir = temp_dir();
    let (server, dataset) = start(&Setup::embedded(dir.path())).await;
    let space = json!([{"selectedModel": "random_forest", "nEstimators": {"values": [10, 5000]}}]);
    let mut body = sweep_body(&dataset, "random", space);
    body["budgetSeconds"] = json!(3);
    let started = Instant::now();
    let id = start_sweep(&server.url, &body).await;
    let record = wait_ended(&server.url, &id, Duration::from_secs(60)).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(3) && took < Duration::from_secs(15), "{took:?}");
    let message = record["message"].as_str().expect("a message");
    assert!(message.contains("time budget of 3 s ran out"), "{record}");
    let trials = record["trials"].as_array().expect("trials");
    assert!(trials.iter().all(|t| t["status"] != "running" && t["status"] != "queued"), "{record}");
    let events = sweep_events(&server.url, &id).await;
    assert_each_trial_ended_once(&events, &record);
}

/// Starts a sweep of six slow-ish trials, two at a time, and waits until at
/// least one trial has ended and another is running.
async fn sweep_under_way(url: &str, dataset: &str) -> String {
    // 5000 trees (the most the plugin takes): on a quiet machine 800 trees on
    // penguins trained in 0.2 s and the whole sweep ended before a poll saw it run.
    let space = json!([{"selectedModel": "random_forest", "nEstimators": 5000, "maxDepth": {"values": [0, 4]}}]);
    let mut body = sweep_body(dataset, "random", space);
    body["trials"] = json!(6);
    body["parallelTrials"] = json!(2);
    let id = start_sweep(url, &body).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, body) = get_json(url, &format!("/sweeps/{id}")).await;
        let trials = body["data"]["trials"].as_array().cloned().unwrap_or_default();
        let ended = trials.iter().filter(|t| t["status"] == "completed").count();
        if (1..5).contains(&ended) && trials.iter().any(|t| t["status"] == "running") {
            return id;
        }
        assert!(Instant::now() < deadline, "the sweep never got under way: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every trial of the ended sweep is terminal once, with six distinct jobs that ended as their trials say.
async fn assert_finished_exactly_once(url: &str, id: &str) {
    let record = wait_ended(url, id, Duration::from_secs(240)).await;
    assert_eq!(record["status"], "completed", "{record}");
    let trials = record["trials"].as_array().expect("as the test set it up");
    assert_eq!(trials.len(), 6, "{record}");
    let jobs: std::collections::HashSet<&str> = trials.iter().map(|t| t["jobId"].as_str().expect("as the test set it up")).collect();
    assert_eq!(jobs.len(), 6);
    for t in trials {
        assert_eq!(t["status"], "completed", "{t}");
        let (_, job) = get_json(url, &format!("/jobs/{}", t["jobId"].as_str().expect("as the test set it up"))).await;
        assert_eq!(job["data"]["status"], "completed", "{job}");
    }
    let (_, jobs) = get_json(url, "/jobs?limit=100").await;
    assert_eq!(jobs["total"], 6, "no trial was submitted twice: {jobs}");
    let events = sweep_events(url, id).await;
    assert_each_trial_ended_once(&events, &record);
}

#[tokio::test]
async fn an_embedded_sweep_survives_kill_9_of_its_process() {
    let dir = temp_dir();
    let setup = Setup::embedded(dir.path());
    let (mut server, dataset) = start(&setup).await;
    let id = sweep_under_way(&server.url, &dataset).await;
    server.kill9();
    let restarted = serve(&setup);
    wait_ready(&restarted.url).await;
    assert_finished_exactly_once(&restarted.url, &id).await;
}

#[tokio::test]
async fn a_redis_sweep_is_taken_over_by_another_node_when_its_driver_is_killed() {
    let dir = temp_dir();
    let setup = Setup::redis(dir.path());
    let (mut first, dataset) = start(&setup).await;
    let second = serve(&setup);
    wait_ready(&second.url).await;
    let id = sweep_under_way(&first.url, &dataset).await;
    first.kill9();
    assert_finished_exactly_once(&second.url, &id).await;
    setup.cleanup().await;
}
