//! Admission through the real API: every hyperparameter of the bundled
//! plugins has an upper bound, and a setting a worker would refuse is refused
//! at submit with a 422 naming the field (`modelConfig.<name>`), so that no
//! job is queued that can only fail. Values as a hostile or careless client
//! sends them: 2^64, 1e300, zero where a positive number is needed, a
//! criterion of the other task, a count that is not whole.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};

/// `serve` with every bundled plugin of `build/plugins` (random_forest, kmodes, baseline).
fn serve_bundled(dir: &Path) -> Process {
    let config = dir.join("trainhost.toml");
    let text = format!("plugin_dir = {:?}\n[server]\nbind = \"127.0.0.1:0\"\n[storage]\ndata_dir = {:?}\n", plugins_dir(), dir.join("data"));
    std::fs::write(&config, text).unwrap();
    Process::start(&config, &["serve"], &[], LISTENING)
}

fn job(dataset: &str, plugin: &str, task: &str, target: Option<&str>, params: Value) -> Value {
    let mut config = params.as_object().cloned().unwrap_or_default();
    config.insert("selectedModel".into(), json!(plugin));
    json!({"datasetId": dataset, "targetColumn": target, "taskType": task, "modelConfig": config})
}

async fn job_count(url: &str) -> u64 {
    get_json(url, "/jobs").await.1["total"].as_u64().unwrap()
}

/// Submits `body` and checks the 422 names `field` and says `hint`.
async fn assert_refused(url: &str, body: &Value, field: &str, hint: &str) {
    let (status, answer) = post_json(url, "/train", body).await;
    let error = &answer["error"];
    assert_eq!(status, 422, "{body} -> {answer}");
    assert_eq!(error["code"], "invalid_parameter", "{body} -> {answer}");
    assert_eq!(error["field"], format!("modelConfig.{field}"), "{body} -> {answer}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(hint), "{body}: the message {message:?} lacks {hint:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_numeric_parameter_of_the_bundled_plugins_has_both_bounds() {
    let dir = temp_dir();
    let server = serve_bundled(dir.path());
    wait_ready(&server.url).await;
    let (_, plugins) = get_json(&server.url, "/plugins").await;
    let plugins = plugins["data"].as_array().unwrap();
    let names: Vec<&str> = plugins.iter().filter_map(|p| p["name"].as_str()).collect();
    for name in ["random_forest", "kmodes", "baseline"] {
        assert!(names.contains(&name), "{name} is not served: {names:?}");
    }
    let mut checked = std::collections::BTreeMap::new();
    for plugin in plugins {
        for param in plugin["params"].as_array().unwrap() {
            if ["int", "float", "choice_or_number"].contains(&param["type"].as_str().unwrap()) {
                let (min, max) = (param["min"].as_f64(), param["max"].as_f64());
                assert!(min.is_some() && max.is_some(), "{}.{} lacks a bound: {param}", plugin["name"], param["name"]);
                assert!(max.unwrap() < 1e15, "{}.{}: {param}", plugin["name"], param["name"]);
                *checked.entry(plugin["name"].as_str().unwrap().to_string()).or_insert(0) += 1;
            }
        }
    }
    // random_forest: 7 numbers; kmodes: 4 (baseline has no parameter); every other bundled plugin was checked above.
    assert_eq!((checked.get("random_forest"), checked.get("kmodes")), (Some(&7), Some(&4)), "{checked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_and_worker_only_settings_are_refused_at_submit() {
    let dir = temp_dir();
    let server = serve_bundled(dir.path());
    wait_ready(&server.url).await;
    let url = &server.url;
    let penguins = upload(url, &testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();
    let diabetes = upload(url, &testdata("diabetes.csv")).await["id"].as_str().unwrap().to_string();
    let letters = dir.path().join("letters.csv");
    std::fs::write(&letters, "a,b\nx,p\ny,q\nx,q\ny,p\nx,p\n").unwrap();
    let letters = upload(url, &letters).await["id"].as_str().unwrap().to_string();

    let forest = |params: Value| job(&penguins, "random_forest", "classification", Some("species"), params);
    let regression = |params: Value| job(&diabetes, "random_forest", "regression", Some("progression"), params);
    let kmodes = |dataset: &str, params: Value| job(dataset, "kmodes", "clustering", None, params);
    let cases = [
        // Past the declared bounds (2^64 was accepted and silently made one-leaf trees).
        (forest(json!({"minSamplesSplit": 18_446_744_073_709_551_616.0})), "minSamplesSplit", "between 2 and 1000000000"),
        (forest(json!({"minSamplesSplit": "18446744073709551616"})), "minSamplesSplit", "between 2 and 1000000000"),
        (forest(json!({"minSamplesLeaf": 1e12})), "minSamplesLeaf", "between 1 and 1000000000"),
        (forest(json!({"nEstimators": 1_000_000})), "nEstimators", "between 1 and 5000"),
        (forest(json!({"maxDepth": 1e300})), "maxDepth", "between 0 and 10000"),
        (forest(json!({"maxBins": 100_000})), "maxBins", "between 2 and 255"),
        (forest(json!({"maxFeatures": 1e9})), "maxFeatures", "between"),
        // Zero where the plugin needs more than zero (the schema said min 0).
        (forest(json!({"maxSamples": 0})), "maxSamples", "between 0.000001 and 1"),
        (forest(json!({"maxFeatures": 0})), "maxFeatures", "between 0.000001 and 65535"),
        // What only the plugin knows, found by its own check at submit.
        (forest(json!({"maxFeatures": 2.5})), "maxFeatures", "whole"),
        (forest(json!({"maxFeatures": 50})), "maxFeatures", "only 7"),
        (forest(json!({"criterion": "squared_error"})), "criterion", "regression"),
        (regression(json!({"criterion": "gini"})), "criterion", "classification"),
        (kmodes(&penguins, json!({"nInit": 1000})), "nInit", "between 1 and 100"),
        (kmodes(&penguins, json!({"nClusters": 5000})), "nClusters", "between 2 and 1000"),
        (kmodes(&penguins, json!({"maxIter": 1e9})), "maxIter", "between 1 and 10000"),
        (kmodes(&penguins, json!({"gamma": 1e300})), "gamma", "between 0 and 1000000000000"),
        (kmodes(&penguins, json!({"gamma": "inf"})), "gamma", "between 0 and"),
        (kmodes(&letters, json!({"algorithm": "kprototypes"})), "algorithm", "needs a numeric column"),
    ];
    for (body, field, hint) in &cases {
        assert_refused(url, body, field, hint).await;
    }
    assert_eq!(job_count(url).await, 0, "a refused request queued a job");

    // The same fields within their bounds are taken, and the jobs run.
    let fine = [
        forest(json!({"minSamplesSplit": 1_000_000_000, "nEstimators": 3, "maxFeatures": 7, "criterion": "entropy", "maxSamples": 0.5})),
        regression(json!({"criterion": "squared_error", "nEstimators": 3, "maxFeatures": 0.5})),
        kmodes(&penguins, json!({"nClusters": 3, "nInit": 2, "gamma": 1e12, "algorithm": "kprototypes"})),
        kmodes(&letters, json!({"nClusters": 2, "algorithm": "kmodes"})),
    ];
    for body in &fine {
        let job = submit(url, body).await;
        let record = wait_status(url, &job, &["completed", "failed"], std::time::Duration::from_secs(120)).await;
        assert_eq!(record["status"], "completed", "{body} -> {record}");
    }
    // One split allowed by no row count: legal, and the forest's log says what it does.
    let job = submit(url, &forest(json!({"minSamplesSplit": 1_000_000_000, "nEstimators": 1}))).await;
    let record = wait_status(url, &job, &["completed", "failed"], std::time::Duration::from_secs(60)).await;
    assert!(record["results"].to_string().contains("every tree is a single leaf"), "{record}");
}
