//! The `knn` plugin, written in C (plugins/knn over sdk-c/), through the host:
//! quality on real tables (numeric, mixed with missing values, regression),
//! deterministic model bytes, cancel honoured at an epoch, refusals of bad
//! parameters, and the predict time of its blocked scan on a larger table.
//! Also that the C template, made by `trainhost plugin new` (which vendors
//! sdk-c/ and wit/v0.3 into it), builds into a working plugin. Needs the
//! plugins built by `scripts/build-plugins`.
//!
//! Run with `-- --nocapture` to see the figures.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use polars::prelude::*;
use serde_json::{json, Value};
use trainhost::contract::{Task, Version};
use trainhost::data::split::SplitFractions;
use trainhost::runtime::{CancelToken, Discard, Epoch, Limits, LoadedPlugin, ProgressSink, RunError, Runtime};
use trainhost::training::{self, TrainFailure, TrainOutcome, TrainSpec};

use common::*;

const LIMITS: Limits = Limits { memory_mib: 1024, time_secs: 120.0, model_mib: 256, log_kib: 64, max_instances: 0 };

fn knn() -> &'static LoadedPlugin {
    static PLUGIN: OnceLock<LoadedPlugin> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        let runtime: Arc<Runtime> = Runtime::new(Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache"))).expect("engine");
        runtime.load(&plugin_file("knn"), None, LIMITS).expect("build/plugins/knn.wasm (scripts/build-plugins)")
    })
}

fn spec(task: Task, target: &str, params: Value, fractions: SplitFractions) -> TrainSpec {
    TrainSpec {
        task,
        target: Some(target.into()),
        params: params.as_object().cloned().unwrap_or_default(),
        seed: 11,
        fractions,
        evaluation_column: None,
        columns: Default::default(),
        folds: 0,
    }
}

fn train(table: &str, task: Task, target: &str, params: Value) -> TrainOutcome {
    let data = trainhost::data::read_table(&testdata(table)).unwrap();
    let fractions = SplitFractions { test: 0.2, plugin_validation: 0.1 };
    training::train(knn(), &data, &spec(task, target, params, fractions), CancelToken::default(), Box::new(Discard)).unwrap()
}

#[test]
fn knn_speaks_contract_0_3_0_and_classifies_and_regresses_real_tables_well() {
    assert_eq!(knn().contract, Version::V0_3);
    // Held-out figures, 20% of the rows (scikit-learn's KNeighbors on the same
    // preprocessing: scripts/quality_knn.py).
    let penguins = train("penguins.csv", Task::Classification, "species", json!({}));
    let accuracy = penguins.summary.metrics.values["accuracy"];
    assert!(accuracy > 0.95, "penguins (mixed, missing values): accuracy {accuracy}");
    assert!(penguins.summary.plugin_metrics.get("validation_accuracy").is_some_and(|&v| v > 0.9), "{:?}", penguins.summary.plugin_metrics);

    let heart = train("heart_disease.csv", Task::Classification, "diameter narrowing", json!({"nNeighbors": 15, "weights": "distance"}));
    let accuracy = heart.summary.metrics.values["accuracy"];
    assert!(accuracy > 0.75, "heart_disease (mixed, missing values): accuracy {accuracy}");

    let diabetes = train("diabetes.csv", Task::Regression, "progression", json!({"nNeighbors": 10}));
    let r2 = diabetes.summary.metrics.values["r2"];
    assert!(r2 > 0.3, "diabetes: R² {r2}, the mean would be 0");

    let titanic = train("titanic.csv", Task::Classification, "Survived", json!({"metric": "manhattan"}));
    let accuracy = titanic.summary.metrics.values["accuracy"];
    assert!(accuracy > 0.75, "titanic (categorical only): accuracy {accuracy}");
}

#[test]
fn the_same_request_gives_the_same_model_bytes_and_predictions_are_valid() {
    let first = train("iris.csv", Task::Classification, "species", json!({"weights": "distance"}));
    let second = train("iris.csv", Task::Classification, "species", json!({"weights": "distance"}));
    assert_eq!(first.artifact.model, second.artifact.model);
    let iris = trainhost::data::read_table(&testdata("iris.csv")).unwrap();
    let predictions = training::predict(knn(), &first.artifact, &iris).unwrap();
    let probabilities = predictions.probabilities.unwrap();
    assert_eq!(probabilities.len(), 150);
    for row in &probabilities {
        assert_eq!(row.len(), 3);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{row:?}");
    }
}

#[test]
fn a_damaged_model_is_refused_with_a_reason_not_a_trap() {
    let outcome = train("penguins.csv", Task::Classification, "species", json!({}));
    let penguins = trainhost::data::read_table(&testdata("penguins.csv")).unwrap();
    for cut in [0, 3, 20, outcome.artifact.model.len() - 1] {
        let mut damaged = outcome.artifact.clone();
        damaged.model.truncate(cut);
        let err = training::predict(knn(), &damaged, &penguins).expect_err("a truncated model was used");
        assert!(err.to_string().contains("knn model"), "cut at {cut}: {err}");
    }
    let mut flipped = outcome.artifact.clone();
    flipped.model[4] ^= 0xff;
    assert!(training::predict(knn(), &flipped, &penguins).is_err(), "a model of another layout version was used");
}

/// Cancels the job when the first epoch arrives; counts the epochs.
struct CancelAtFirst(CancelToken, Arc<std::sync::atomic::AtomicU32>);

impl ProgressSink for CancelAtFirst {
    fn epoch(&mut self, _: Epoch) {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0.cancel();
    }
}

#[test]
fn cancel_is_honoured_at_the_next_epoch_and_bad_parameters_are_refused() {
    let data = trainhost::data::read_table(&testdata("breast_cancer.csv")).unwrap();
    let cancel = CancelToken::default();
    let seen = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let sink = Box::new(CancelAtFirst(cancel.clone(), seen.clone()));
    let result = training::train(knn(), &data, &spec(Task::Classification, "diagnosis", json!({}), SplitFractions::test_only(0.2)), cancel, sink);
    assert!(matches!(result, Err(TrainFailure::Run(RunError::Cancelled))), "{:?}", result.err());
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1, "the plugin stops at the epoch it was cancelled in");

    for params in [json!({"nNeighbors": 0}), json!({"nNeighbors": 1001}), json!({"weights": "gaussian"}), json!({"categoricalWeight": -1.0})] {
        let spec = spec(Task::Classification, "diagnosis", params.clone(), SplitFractions::test_only(0.2));
        let refused = training::train(knn(), &data, &spec, CancelToken::default(), Box::new(Discard));
        assert!(refused.is_err(), "{params} was accepted");
    }
}

/// CPU time of this thread, in seconds: the sandbox runs the plugin on the calling thread.
fn thread_cpu_secs() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// A numeric table of `rows` x `columns`, two classes separated along the first columns.
fn generated(rows: usize, columns: usize) -> DataFrame {
    let mut state = 42u64;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64) / ((1u64 << 53) as f64)
    };
    let labels: Vec<&str> = (0..rows).map(|r| if r % 2 == 0 { "a" } else { "b" }).collect();
    let mut series = vec![Column::new("label".into(), labels.clone())];
    for c in 0..columns {
        let values: Vec<f64> = labels.iter().map(|&l| next() + if c < 4 && l == "b" { 0.3 } else { 0.0 }).collect();
        series.push(Column::new(format!("x{c}").into(), values));
    }
    DataFrame::new(rows, series).unwrap()
}

#[test]
fn predict_stays_fast_on_a_larger_table() {
    let (rows, columns) = (20_000, 16);
    let data = generated(rows, columns);
    let spec = spec(Task::Classification, "label", json!({}), SplitFractions::test_only(0.2));
    let outcome = training::train(knn(), &data, &spec, CancelToken::default(), Box::new(Discard)).unwrap();
    let queries = data.slice(0, 4_000);
    let started = Instant::now();
    let cpu = thread_cpu_secs();
    let predictions = training::predict(knn(), &outcome.artifact, &queries).unwrap();
    let cpu = thread_cpu_secs() - cpu;
    let elapsed = started.elapsed();
    assert_eq!(predictions.rows, 4_000);
    println!(
        "knn: trained on {} rows x {columns} in {:.3} s; predicted 4,000 rows in {:.3} s wall, {cpu:.3} s CPU ({:.1} µs a row); held-out accuracy {:.3}",
        outcome.summary.rows_train,
        outcome.report.duration.as_secs_f64(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / 4_000.0,
        outcome.summary.metrics.values["accuracy"],
    );
    assert!(outcome.summary.metrics.values["accuracy"] > 0.7, "{:?}", outcome.summary.metrics.values);
    // 4,000 x 16,000 distances: a generous bound that a scan without blocks or early exit still meets on an idle machine only.
    assert!(elapsed.as_secs_f64() < 30.0, "predict took {elapsed:?}");
}

#[test]
fn the_component_is_small_and_compiles_quickly_on_first_load() {
    let file = plugin_file("knn");
    let bytes = std::fs::metadata(&file).unwrap().len();
    let cache = temp_dir();
    let runtime = Runtime::new(Some(cache.path().join("compile-cache"))).expect("engine");
    let started = Instant::now();
    let plugin = runtime.load(&file, None, LIMITS).unwrap();
    let first = started.elapsed();
    let started = Instant::now();
    drop(runtime.load(&file, None, LIMITS).unwrap());
    let cached = started.elapsed();
    println!("knn: component {bytes} bytes; first load (compile) {:.3} s, from the compile cache {:.3} s", first.as_secs_f64(), cached.as_secs_f64());
    assert_eq!(plugin.name(), "knn");
    assert!(bytes < 512 * 1024, "a C plugin without a runtime stays small: {bytes} bytes");
}

/// `trainhost plugin new NAME --lang c` in `dir`: the template with the SDK and
/// the contract vendored from their homes (sdk-c/, wit/v0.3). Returns the project.
fn new_c_project(name: &str, dir: &std::path::Path) -> PathBuf {
    let config = dir.join("trainhost.toml");
    std::fs::write(&config, format!("[storage]\ndata_dir = {:?}\n", dir.join("data"))).unwrap();
    let out = trainhost_command(&config).args(["plugin", "new", name, "--lang", "c"]).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "plugin new --lang c failed: {}", String::from_utf8_lossy(&out.stderr));
    dir.join(name)
}

#[test]
fn the_c_template_builds_into_a_plugin_that_trains_and_predicts() {
    let dir = temp_dir();
    let project = new_c_project("tpl_demo", dir.path());
    let started = Instant::now();
    let status = std::process::Command::new(project.join("build")).current_dir(&project).status().unwrap();
    assert!(status.success(), "the template's build failed");
    let wasm = project.join("tpl_demo.wasm");
    println!("C template: built in {:.2} s, {} bytes", started.elapsed().as_secs_f64(), std::fs::metadata(&wasm).unwrap().len());
    let runtime = Runtime::new(None).expect("engine");
    let plugin = runtime.load(&wasm, None, LIMITS).unwrap();
    assert_eq!(plugin.name(), "tpl_demo");
    let iris = trainhost::data::read_table(&testdata("iris.csv")).unwrap();
    let classify = spec(Task::Classification, "species", json!({"epochs": 200}), SplitFractions::test_only(0.2));
    let outcome = training::train(&plugin, &iris, &classify, CancelToken::default(), Box::new(Discard)).unwrap();
    assert!(outcome.summary.metrics.values["accuracy"] > 0.85, "{:?}", outcome.summary.metrics.values);
    let penguins = trainhost::data::read_table(&testdata("penguins.csv")).unwrap();
    let regress = spec_with(json!({"l2": 0.01, "schedule": "decay"}));
    let outcome = training::train(&plugin, &penguins, &regress, CancelToken::default(), Box::new(Discard)).unwrap();
    assert!(outcome.summary.metrics.values["r2"] > 0.7, "{:?}", outcome.summary.metrics.values);
    let refused = training::train(&plugin, &penguins, &spec_with(json!({"epochs": 0})), CancelToken::default(), Box::new(Discard));
    assert!(refused.is_err(), "epochs = 0 was accepted");
}

fn spec_with(params: Value) -> TrainSpec {
    spec(Task::Regression, "body_mass_g", params, SplitFractions::test_only(0.2))
}
