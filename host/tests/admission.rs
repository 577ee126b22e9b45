//! Admission through the real API: every hyperparameter of the bundled
//! plugins has an upper bound, and a setting a worker would refuse is refused
//! at submit with a 422 naming the field (`modelConfig.<name>`), so that no
//! job is queued that can only fail. Values as a hostile or careless client
//! sends them: 2^64, 1e300, zero where a positive number is needed, a
//! criterion of the other task, a count that is not whole. And a job the
//! plugin's own cost estimate says cannot finish inside its limits (the
//! issue's 5,000 trees at depth 10,000 on millions of rows) is refused at
//! submit with the figure, the limit and what to lower.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

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
        // More clusters than rows: known from the dataset's row count, by kmodes' estimate.
        (kmodes(&letters, json!({"nClusters": 6})), "nClusters", "the table has 5"),
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

/// `rows` rows of six numeric features and a noisy two-class label, as
/// Parquet: a few MB (each column takes 1,000 values), so it uploads fast.
fn many_rows(dir: &Path, rows: usize) -> PathBuf {
    use polars::prelude::*;
    let column = |j: usize| -> Vec<f64> { (0..rows).map(|i| ((i.wrapping_mul(2654435761 + 97 * j) >> 7) % 1000) as f64 / 10.0).collect() };
    let x: Vec<Vec<f64>> = (0..6).map(column).collect();
    let label: Vec<&str> = (0..rows).map(|i| if x[0][i] + x[1][i] + x[2][i] / 4.0 > 110.0 { "yes" } else { "no" }).collect();
    let mut columns: Vec<Column> = x.into_iter().enumerate().map(|(j, c)| Column::new(format!("x{j}").into(), c)).collect();
    columns.push(Column::new("label".into(), label));
    let mut frame = DataFrame::new(rows, columns).unwrap();
    let path = dir.join("many_rows.parquet");
    ParquetWriter::new(std::fs::File::create(&path).unwrap()).finish(&mut frame).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_its_estimate_says_cannot_finish_is_refused_at_submit_and_one_that_fits_runs() {
    let dir = temp_dir();
    let server = serve_bundled(dir.path());
    wait_ready(&server.url).await;
    let url = &server.url;
    let dataset = upload(url, &many_rows(dir.path(), 2_000_000)).await;
    assert_eq!(dataset["rows"], 2_000_000, "the row count comes from the dataset record");
    let id = dataset["id"].as_str().unwrap();

    // The job: it held a worker for 30 minutes before its limit stopped it.
    let body = job(id, "random_forest", "classification", Some("label"), json!({"nEstimators": 5000, "maxDepth": 10_000}));
    let (status, answer) = post_json(url, "/train", &body).await;
    let error = &answer["error"];
    assert_eq!((status, error["code"].as_str()), (422, Some("over_plugin_limits")), "{answer}");
    assert_eq!(error["field"], "modelConfig.nEstimators", "{answer}");
    let message = error["message"].as_str().unwrap();
    for part in ["random_forest", "nEstimators = 5000", "maxDepth = 10000", "limits.memory_mib", "2048 MiB", "lower modelConfig.nEstimators"] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
    assert!(error["estimate"].as_f64().unwrap() > 2.0 * error["limit"].as_f64().unwrap(), "{answer}");
    assert_eq!(error["limitName"], "limits.memory_mib");

    // Boosting past its time: 100,000 rounds (of the default 31 leaves).
    let body = job(id, "gbdt", "classification", Some("label"), json!({"nEstimators": 100_000}));
    let (status, answer) = post_json(url, "/train", &body).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("over_plugin_limits")), "{answer}");
    assert_eq!(answer["error"]["limitName"], "limits.time_secs", "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("CPU-seconds"), "{answer}");
    assert_eq!(job_count(url).await, 0, "a refused request queued a job");

    // A forest the estimate says fits, on the same two million rows: taken, and it completes.
    let body = job(id, "random_forest", "classification", Some("label"), json!({"nEstimators": 4, "maxDepth": 6}));
    let job = submit(url, &body).await;
    let record = wait_status(url, &job, &["completed", "failed"], std::time::Duration::from_secs(600)).await;
    assert_eq!(record["status"], "completed", "{record}");
}
