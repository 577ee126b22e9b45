//! Contract 0.2.0's result tables end to end, and the promise that came with
//! the new version: a plugin built against the released 0.1.0 still loads and
//! trains unchanged. Tables reach `GET /jobs/{id}` as `results.tables` and the
//! CLI's output. Needs the plugins built by `scripts/build-plugins`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use trainhost::contract::{Cell, Task, Version};
use trainhost::data::split::SplitFractions;
use trainhost::runtime::{CancelToken, Discard, Limits, Runtime};
use trainhost::training::{self, TrainSpec};

use common::*;

const LIMITS: Limits = Limits { memory_mib: 256, time_secs: 20.0, model_mib: 8, log_kib: 64, max_instances: 0 };

fn runtime() -> Arc<Runtime> {
    Runtime::new(Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache"))).expect("engine")
}

fn spec(task: Task, target: &str, params: Value) -> TrainSpec {
    TrainSpec {
        task,
        target: Some(target.into()),
        params: params.as_object().cloned().unwrap_or_default(),
        seed: 1,
        fractions: SplitFractions::test_only(0.2),
        evaluation_column: None,
        columns: Default::default(),
        folds: 0,
    }
}

#[test]
fn plugins_of_contracts_0_1_0_and_0_2_0_still_load_and_train_and_0_2_0_and_later_return_tables() {
    let runtime = runtime();
    let penguins = trainhost::data::read_table(&testdata("penguins.csv")).unwrap();
    let old = runtime.load(&plugin_file("test_contract_v010"), None, LIMITS).unwrap();
    assert_eq!(old.contract, Version::V0_1);
    let outcome = training::train(&old, &penguins, &spec(Task::Classification, "species", json!({})), CancelToken::default(), Box::new(Discard)).unwrap();
    assert!(outcome.tables.is_empty());
    assert!(outcome.summary.metrics.values["accuracy"] > 0.3, "the majority class, judged as any plugin");
    assert_eq!(outcome.artifact.header.contract, "0.1.0");

    // A 0.2.0 plugin built without the SDK: its table arrives, as before 0.3.0.
    let v020 = runtime.load(&plugin_file("test_contract_v020"), None, LIMITS).unwrap();
    assert_eq!(v020.contract, Version::V0_2);
    let outcome = training::train(&v020, &penguins, &spec(Task::Classification, "species", json!({})), CancelToken::default(), Box::new(Discard)).unwrap();
    assert_eq!(outcome.tables.len(), 1);
    assert_eq!(outcome.tables[0].name, "fixture");
    assert_eq!(outcome.artifact.header.contract, "0.2.0");

    // The SDK's plugins speak 0.3.0, whose trained models carry the same tables.
    let linear = runtime.load(&plugin_file("linear"), None, LIMITS).unwrap();
    assert_eq!(linear.contract, Version::V0_3);
    let outcome = training::train(&linear, &penguins, &spec(Task::Regression, "body_mass_g", json!({})), CancelToken::default(), Box::new(Discard)).unwrap();
    assert!(outcome.summary.metrics.values["r2"] > 0.8, "{:?}", outcome.summary.metrics.values);
    let [table] = &outcome.tables[..] else { panic!("one table, got {}", outcome.tables.len()) };
    assert_eq!(table.name, "coefficients");
    assert_eq!(table.rows[0][0], Cell::Text("(intercept)".into()));
    assert_eq!(outcome.artifact.header.contract, "0.3.0");
}

/// The test deployment's config, with linear enabled beside the usual plugins.
fn config_with_linear(setup: &Setup) -> PathBuf {
    let path = setup.config_path();
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!("[[plugins]]\nname = \"linear\"\npath = {:?}\n", plugin_file("linear")));
    std::fs::write(&path, text).unwrap();
    path
}

async fn completed_results(url: &str, body: Value) -> Value {
    let job = submit(url, &body).await;
    let data = wait_status(url, &job, &["completed", "failed"], Duration::from_secs(60)).await;
    assert_eq!(data["status"], "completed", "{data}");
    let (status, body) = get_json(url, &format!("/jobs/{job}")).await;
    assert_eq!(status, 200);
    body["data"]["results"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_arrive_in_get_jobs_results() {
    let dir = temp_dir();
    let setup = Setup::embedded(dir.path());
    let config = config_with_linear(&setup);
    let mut server = Process::start(&config, &["serve"], &setup.env, LISTENING);
    wait_ready(&server.url).await;
    let dataset = upload(&server.url, &testdata("penguins.csv")).await;
    let id = dataset["id"].as_str().unwrap();

    let linear = json!({"datasetId": id, "targetColumn": "body_mass_g", "taskType": "regression", "modelConfig": {"selectedModel": "linear"}});
    let results = completed_results(&server.url, linear).await;
    let tables = results["tables"].as_array().unwrap_or_else(|| panic!("no tables in {results}"));
    let coefficients = &tables[0];
    assert_eq!(coefficients["name"], "coefficients");
    assert_eq!(coefficients["columns"].as_array().unwrap()[..7], ["term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high"]);
    let rows = coefficients["rows"].as_array().unwrap();
    assert_eq!(rows[0][0], "(intercept)");
    // Flipper length predicts body mass (beside species and sex): a positive slope, clearly significant.
    let flipper = rows.iter().find(|r| r[0] == "flipper_length_mm").unwrap();
    assert!(flipper[1].as_f64().unwrap() > 0.0 && flipper[4].as_f64().unwrap() < 1e-4, "{flipper}");

    let kmodes = json!({"datasetId": id, "taskType": "clustering", "modelConfig": {"selectedModel": "kmodes", "nClusters": 3}});
    let results = completed_results(&server.url, kmodes).await;
    let clusters = &results["tables"][0];
    assert_eq!(clusters["name"], "clusters");
    let sizes: f64 = clusters["rows"].as_array().unwrap().iter().map(|r| r[1].as_f64().unwrap()).sum();
    assert_eq!(sizes, 344.0);

    // A 0.1.0-era plugin's job has no `tables` key at all: its record is as before.
    let results = completed_results(&server.url, baseline_job(id)).await;
    assert!(results.get("tables").is_none(), "{results}");
    server.terminate();
}

fn cli_config(dir: &Path) -> PathBuf {
    let path = dir.join("trainhost.toml");
    let text = format!("plugin_dir = {:?}\n[storage]\ndata_dir = {:?}\n", plugins_dir(), dir.join("data"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_cli_prints_the_coefficient_table() {
    let dir = temp_dir();
    let data = testdata("diabetes.csv").display().to_string();
    let args = ["train", "--plugin", "linear", "--data", &data, "--target", "progression", "--task", "regression", "--out", "m.bin"];
    let out = trainhost_command(&cli_config(dir.path())).args(args).current_dir(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("(coefficients):"), "{stdout}");
    let header = stdout.lines().find(|l| l.trim_start().starts_with("term")).unwrap();
    assert!(header.contains("std_error") && header.contains("p_value"), "{header}");
    let bmi = stdout.lines().find(|l| l.trim_start().starts_with("bmi ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(bmi.split_whitespace().count() >= 8, "{bmi}");
}
