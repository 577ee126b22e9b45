//! Config reload on SIGHUP: plugins added, disabled and removed without a
//! restart, running jobs keep their plugin, queued jobs of a plugin that went
//! away fail clearly, a broken config file changes nothing, and settings that
//! need a restart are reported. Against the real binary, like the service tests.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use trainhost::config::PluginEntry;
use trainhost::runtime::{Limits, PluginRegistry, Runtime};

fn plugin(name: &str, file: &str, enabled: bool) -> String {
    format!("[[plugins]]\nname = {name:?}\npath = {:?}\nenabled = {enabled}\n", plugins_dir().join(file))
}

/// The config file `path` (rewritten in place on every call) with data in
/// `data` and the given plugins.
fn write_config(path: &Path, data: &Path, redis_prefix: Option<&str>, concurrency: usize, plugins: &[String]) {
    let broker = redis_prefix.map(|p| format!("redis_url = {REDIS:?}\nkey_prefix = {p:?}\n")).unwrap_or_default();
    let text = format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[broker]\n{broker}[storage]\ndata_dir = {:?}\n[workers]\nconcurrency = {concurrency}\nheartbeat_secs = 0.2\n\
         [default_limits]\nmemory_mib = 256\ntime_secs = 60.0\n{}",
        data,
        plugins.concat()
    );
    // Written beside, then renamed: a reload never reads half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// `trainhost --config CONFIG <args>`, once it printed `ready` (serve: the URL).
fn start(config: &Path, args: &[&str], ready: &str) -> Process {
    Process::start(config, args, &[], ready)
}

fn sighup(process: &Process) {
    process.signal(libc::SIGHUP);
}

async fn plugin_names(url: &str) -> Vec<String> {
    let (status, body) = get_json(url, "/plugins").await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
}

/// Polls GET /plugins until it lists something other than `before`.
async fn wait_plugins_change(url: &str, before: &[&str], within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let names = plugin_names(url).await;
        if names != before {
            return names;
        }
        assert!(Instant::now() < deadline, "GET /plugins still lists {before:?} after {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn kmodes_job(dataset: &str) -> Value {
    json!({"datasetId": dataset, "taskType": "clustering", "modelConfig": {"selectedModel": "kmodes", "nClusters": 3}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_adds_and_disables_plugins_and_a_broken_config_changes_nothing() {
    let dir = temp_dir();
    let (config, data) = (dir.path().join("trainhost.toml"), dir.path().join("data"));
    write_config(&config, &data, None, 2, &[plugin("baseline", "baseline.wasm", true)]);
    let mut server = start(&config, &["serve"], LISTENING);
    let log = server.log.clone();
    wait_ready(&server.url).await;
    let url = server.url.clone();
    assert_eq!(plugin_names(&url).await, ["baseline"]);
    let ds = upload(&url, &testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();

    write_config(&config, &data, None, 2, &[plugin("baseline", "baseline.wasm", false), plugin("kmodes", "kmodes.wasm", true)]);
    sighup(&server);
    assert_eq!(wait_plugins_change(&url, &["baseline"], Duration::from_secs(60)).await, ["kmodes"]);

    let (status, body) = post_json(&url, "/train", &baseline_job(&ds)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "plugin_disabled", "{body}");
    assert_eq!(body["error"]["field"], "modelConfig.selectedModel");
    let job = submit(&url, &kmodes_job(&ds)).await;
    let record = wait_status(&url, &job, &["completed", "failed"], Duration::from_secs(60)).await;
    assert_eq!(record["status"], "completed", "{record}");

    // A file that no longer parses: logged, and the previous plugins still serve.
    std::fs::write(&config, "[[plugins]]\nname = \"kmodes\"\npath = \n").unwrap();
    sighup(&server);
    log.wait_for("config reload failed", 0, Duration::from_secs(10)).await;
    assert!(server.child.try_wait().unwrap().is_none(), "the server exited on a broken config");
    assert_eq!(get_json(&url, "/healthz").await.0, 200);
    assert_eq!(plugin_names(&url).await, ["kmodes"]);
    assert_eq!(post_json(&url, "/train", &baseline_job(&ds)).await.1["error"]["code"], "plugin_disabled");
    let job = submit(&url, &kmodes_job(&ds)).await;
    assert_eq!(wait_status(&url, &job, &["completed", "failed"], Duration::from_secs(60)).await["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_jobs_keep_their_plugin_and_queued_jobs_of_a_disabled_one_fail() {
    let dir = temp_dir();
    let (config, data) = (dir.path().join("trainhost.toml"), dir.path().join("data"));
    // One slot: the slow job holds it, so the baseline job waits in the queue.
    write_config(&config, &data, None, 1, &[plugin("baseline", "baseline.wasm", true), plugin("slow", "test_slow.wasm", true)]);
    let server = start(&config, &["serve"], LISTENING);
    let log = &server.log;
    wait_ready(&server.url).await;
    let url = server.url.clone();
    let ds = upload(&url, &testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();
    let slow = submit(&url, &slow_job(&ds, 40, 100)).await;
    wait_status(&url, &slow, &["running"], Duration::from_secs(10)).await;
    let queued = submit(&url, &baseline_job(&ds)).await;

    // slow removed, baseline disabled, and a setting that needs a restart.
    write_config(&config, &data, None, 2, &[plugin("baseline", "baseline.wasm", false)]);
    sighup(&server);
    assert!(wait_plugins_change(&url, &["baseline", "slow"], Duration::from_secs(30)).await.is_empty());
    let (_, record) = get_json(&url, &format!("/jobs/{slow}")).await;
    assert_eq!(record["data"]["status"], "running", "the slow job ended before the reload: the test proves nothing");
    log.wait_for("needs a restart", 0, Duration::from_secs(5)).await;
    let restart = log.lines_with("needs a restart");
    assert!(restart.iter().any(|l| l.contains("workers.concurrency")), "{restart:?}");
    assert!(!restart.iter().any(|l| l.contains("server.bind")), "an unchanged setting was reported: {restart:?}");

    let record = wait_status(&url, &slow, &["completed", "failed"], Duration::from_secs(30)).await;
    assert_eq!(record["status"], "completed", "a running job keeps the plugin it started with: {record}");
    let record = wait_status(&url, &queued, &["completed", "failed"], Duration::from_secs(10)).await;
    assert_eq!(record["status"], "failed", "{record}");
    let error = record["error"].as_str().unwrap();
    assert!(error.contains("plugin `baseline` is disabled in the config"), "{error}");
    let (status, body) = post_json(&url, "/train", &slow_job(&ds, 1, 1)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("unknown_plugin")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_reloads_its_plugins_on_sighup() {
    let dir = temp_dir();
    let prefix = redis_prefix();
    // One storage for both processes, each with its own config file.
    let data = dir.path().join("data");
    let (api_config, worker_config) = (dir.path().join("api.toml"), dir.path().join("worker.toml"));
    let both = [plugin("baseline", "baseline.wasm", true), plugin("slow", "test_slow.wasm", true)];
    write_config(&api_config, &data, Some(&prefix), 1, &both);
    let api = start(&api_config, &["serve", "--api-only"], LISTENING);
    wait_ready(&api.url).await;
    write_config(&worker_config, &data, Some(&prefix), 1, &both[1..]);
    let worker = start(&worker_config, &["worker"], WORKER_STARTED);
    let log = worker.log.clone();
    let url = api.url.clone();
    let ds = upload(&url, &testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();

    let job = submit(&url, &baseline_job(&ds)).await;
    let record = wait_status(&url, &job, &["completed", "failed"], Duration::from_secs(30)).await;
    assert_eq!(record["status"], "failed");
    assert!(record["error"].as_str().unwrap().contains("plugin `baseline` is not enabled on worker"), "{record}");

    write_config(&worker_config, &data, Some(&prefix), 1, &both);
    sighup(&worker);
    log.wait_for("config reloaded", 0, Duration::from_secs(30)).await;
    let job = submit(&url, &baseline_job(&ds)).await;
    let record = wait_status(&url, &job, &["completed", "failed"], Duration::from_secs(30)).await;
    assert_eq!(record["status"], "completed", "{record}");

    drop((api, worker));
    delete_redis_keys(&prefix).await;
}

#[test]
fn a_reload_reuses_unchanged_plugins_and_loads_changed_ones() {
    let runtime = Runtime::new(None).unwrap();
    let dir = temp_dir();
    let file = dir.path().join("p.wasm");
    std::fs::copy(plugin_file("baseline"), &file).unwrap();
    let entry = |limits: Limits, pin: Option<&str>| PluginEntry { name: "p".into(), path: file.clone(), sha256: pin.map(str::to_string), limits };
    let limits = Limits::default();
    let first = PluginRegistry::load(&runtime, &[entry(limits, None)]);
    let loaded = first.get("p").unwrap().clone();

    let same = PluginRegistry::reload(&runtime, &[entry(limits, None)], &first);
    assert!(Arc::ptr_eq(same.get("p").unwrap(), &loaded), "unchanged: the loaded plugin is reused");
    let pinned = PluginRegistry::reload(&runtime, &[entry(limits, Some(&loaded.sha256.to_uppercase()))], &first);
    assert!(Arc::ptr_eq(pinned.get("p").unwrap(), &loaded), "a matching pin does not force a load");

    let smaller = Limits { memory_mib: 64, ..limits };
    let changed = PluginRegistry::reload(&runtime, &[entry(smaller, None)], &first);
    let reloaded = changed.get("p").unwrap();
    assert!(!Arc::ptr_eq(reloaded, &loaded));
    assert_eq!(reloaded.limits.memory_mib, 64);

    let wrong_pin = PluginRegistry::reload(&runtime, &[entry(limits, Some(&"0".repeat(64)))], &first);
    assert!(wrong_pin.get("p").is_none(), "a pin that no longer matches is checked even for a loaded plugin");
    assert!(wrong_pin.failures()["p"].contains("sha256"), "{:?}", wrong_pin.failures());

    std::fs::copy(plugin_file("kmodes"), &file).unwrap();
    let replaced = PluginRegistry::reload(&runtime, &[entry(limits, None)], &first);
    assert_ne!(replaced.get("p").unwrap().sha256, loaded.sha256, "a new file at the same path is loaded");
    assert_eq!(replaced.get("p").unwrap().name(), "kmodes");

    assert!(PluginRegistry::reload(&runtime, &[], &first).iter().next().is_none(), "removed");

    // A file that is not there yet (a fresh clone before its first build) says how to make it.
    std::fs::remove_file(&file).unwrap();
    let missing = PluginRegistry::reload(&runtime, &[entry(limits, None)], &first);
    assert!(missing.get("p").is_none());
    assert!(missing.failures()["p"].contains("does not exist") && missing.failures()["p"].contains("scripts/build-plugins"), "{:?}", missing.failures());
}

/// A `[quotas]` (and `[auth]`) section, written after the plugins.
fn account_sections(active_jobs: u64, auth_mode: &str) -> String {
    format!("[quotas]\nactive_jobs = {active_jobs}\n[auth]\nmode = {auth_mode:?}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_new_quotas_and_auth_mode_to_the_next_requests() {
    let dir = temp_dir();
    let (config, data) = (dir.path().join("trainhost.toml"), dir.path().join("data"));
    let slow = plugin("slow", "test_slow.wasm", true);
    write_config(&config, &data, None, 1, &[slow.clone(), account_sections(1, "tokens")]);
    let server = start(&config, &["serve"], LISTENING);
    let log = server.log.clone();
    wait_ready(&server.url).await;
    let url = server.url.clone();
    let alice = add_user(&url, "alice", "member").await;
    let ds = upload_as(&url, &alice, &testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();
    submit_as(&url, &alice, &slow_job(&ds, 200, 100)).await;
    let (status, body) = post_json_as(&url, &alice, "/train", &slow_job(&ds, 1, 1)).await;
    assert_eq!((status, body["error"]["quota"].as_str(), body["error"]["limit"].as_u64()), (429, Some("active_jobs"), Some(1)), "{body}");

    write_config(&config, &data, None, 1, &[slow.clone(), account_sections(2, "tokens")]);
    sighup(&server);
    log.wait_for("applied to the requests from now on", 0, Duration::from_secs(30)).await;
    let applied = log.lines_with("applied to the requests from now on");
    assert!(applied.iter().any(|l| l.contains("quotas.active_jobs") && l.contains("1 -> 2")), "{applied:?}");
    submit_as(&url, &alice, &slow_job(&ds, 200, 100)).await;
    let (status, body) = post_json_as(&url, &alice, "/train", &slow_job(&ds, 1, 1)).await;
    assert_eq!((status, body["error"]["limit"].as_u64()), (429, Some(2)), "the next submit is judged by the new limit: {body}");

    // auth.mode applies too: "none" opens the API, "tokens" closes it again.
    let anonymous = || async { anonymous_client().get(format!("{url}/jobs")).send().await.unwrap().status().as_u16() };
    assert_eq!(anonymous().await, 401);
    write_config(&config, &data, None, 1, &[slow.clone(), account_sections(2, "none")]);
    sighup(&server);
    let seen = log.wait_for("auth.mode", 0, Duration::from_secs(30)).await;
    assert_eq!(anonymous().await, 200, "auth.mode = none applied on reload");
    write_config(&config, &data, None, 1, &[slow, account_sections(2, "tokens")]);
    sighup(&server);
    log.wait_for("auth.mode", seen, Duration::from_secs(30)).await;
    assert_eq!(anonymous().await, 401, "auth.mode = tokens applied on reload");
}
