//! Cross-validation (`"folds": K`) through the training API: the folds'
//! metrics are exactly those of K separate fits on the same folds, made here
//! through the plugin API with the rows of `split::folds` (the one fold
//! assignment); the rows the host judges the final model on reach no fold
//! (the `recorder` refuses a table holding a row marked `forbidden`); a class
//! too small for the folds is refused, naming it. Needs `scripts/build-plugins`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use polars::prelude::*;
use serde_json::{json, Value};
use trainhost::contract::{self, Task};
use trainhost::data::split::{self, SplitFractions};
use trainhost::data::{self as hostdata};
use trainhost::runtime::{CancelToken, Discard, Limits, LoadedPlugin, Runtime};
use trainhost::training::{self, PreparedTable, TrainSpec};

use common::{plugin_file, testdata};

fn runtime() -> &'static Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache"))).expect("engine"))
}

fn load(name: &str) -> LoadedPlugin {
    let limits = Limits { memory_mib: 512, time_secs: 60.0, model_mib: 32, log_kib: 64, max_instances: 0 };
    runtime().load(&plugin_file(name), None, limits).unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

fn spec(task: Task, target: &str, params: Value, folds: usize) -> TrainSpec {
    TrainSpec {
        task,
        target: Some(target.into()),
        params: params.as_object().cloned().unwrap_or_default(),
        seed: 11,
        fractions: SplitFractions::DEFAULT,
        evaluation_column: None,
        columns: Default::default(),
        folds,
    }
}

/// The metrics of fold after fold, fitted one by one through the plugin API on
/// the rows `split::folds` deals out of the training part `split::split` leaves.
fn separate_fits(plugin: &LoadedPlugin, table: &DataFrame, spec: &TrainSpec) -> Vec<BTreeMap<String, f64>> {
    let params = training::validate(plugin, spec).unwrap();
    let PreparedTable { encoding, encoded } = PreparedTable::new(table, spec).unwrap();
    let labels = encoded.target_codes().filter(|_| spec.task == Task::Classification);
    let parts = split::split(encoded.rows, encoded.target_codes(), spec.fractions, spec.seed);
    let folds = split::folds(&parts.train, labels, spec.folds, spec.seed);
    assert_eq!(folds.len(), spec.folds);
    folds
        .iter()
        .map(|held_out| {
            let train_rows: Vec<usize> = parts.train.iter().copied().filter(|r| !held_out.contains(r)).collect();
            let held = encoded.take(held_out);
            let request = contract::TrainRequest {
                task: spec.task,
                train: encoding.to_contract(&encoded.take(&train_rows)),
                validation: Some(encoding.to_contract(&held)),
                params: params.clone(),
                seed: spec.seed,
            };
            let trained = plugin.train(&request, CancelToken::default(), Box::new(Discard)).0.unwrap();
            let predictions = plugin.predict(&trained.model.model, &encoding.to_contract(&held).features).unwrap();
            match predictions {
                contract::Predictions::Classes(p) => {
                    let classes = encoding.class_labels().unwrap().len();
                    let probabilities = p.probabilities.as_deref().filter(|_| p.n_classes as usize == classes);
                    hostdata::metrics::classification(held.target_codes().unwrap(), &p.labels, probabilities, classes).values
                }
                contract::Predictions::Values(v) => hostdata::metrics::regression(held.target_values().unwrap(), &v).values,
                contract::Predictions::Clusters(_) => panic!("no clusters here"),
            }
        })
        .collect()
}

fn assert_folds_match_separate_fits(plugin: &str, spec: &TrainSpec) {
    let plugin = load(plugin);
    let table = hostdata::read_table(&testdata("penguins.csv")).unwrap();
    let outcome = training::train(&plugin, &table, spec, CancelToken::default(), Box::new(Discard)).unwrap();
    let cv = outcome.cross_validation.expect("folds were asked for");
    let separate = separate_fits(&plugin, &table, spec);
    assert_eq!(cv.folds, spec.folds);
    assert!(!cv.metrics.is_empty());
    for (name, scores) in &cv.metrics {
        let expected: Vec<f64> = separate.iter().map(|m| m[name]).collect();
        assert_eq!(scores.values, expected, "{name}: the folds' values are the separate fits' exactly");
        let mean = expected.iter().sum::<f64>() / expected.len() as f64;
        let std = (expected.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / expected.len() as f64).sqrt();
        assert!((scores.mean - mean).abs() < 1e-12 && (scores.std - std).abs() < 1e-12, "{name}: {scores:?}");
    }
    // Then the final fit, judged on the holdout as without folds.
    let plain = training::train(&plugin, &table, &TrainSpec { folds: 0, ..spec.clone() }, CancelToken::default(), Box::new(Discard)).unwrap();
    assert!(plain.cross_validation.is_none());
    assert_eq!(outcome.summary.metrics.values, plain.summary.metrics.values, "the final model is the one trained without folds");
    assert_eq!(outcome.artifact.model, plain.artifact.model);
}

#[test]
fn classification_folds_match_five_separate_fits() {
    let spec = spec(Task::Classification, "species", json!({"nEstimators": 15, "maxDepth": 6}), 5);
    assert_folds_match_separate_fits("random_forest", &spec);
}

#[test]
fn regression_folds_match_three_separate_fits_with_the_fold_as_validation() {
    // gbdt stops early on its validation table: here each fold's held-out rows.
    let spec = spec(Task::Regression, "body_mass_g", json!({"nEstimators": 60, "earlyStoppingRounds": 5}), 3);
    assert_folds_match_separate_fits("gbdt", &spec);
}

/// 300 rows, every one unique in `x`; class `c` has 30 rows; `forbidden` marks `marked`.
fn marked_table(marked: &[usize]) -> DataFrame {
    let rows = 300;
    df!(
        "x" => (0..rows).map(|i| i as f64 * 0.25).collect::<Vec<_>>(),
        "forbidden" => (0..rows).map(|i| f64::from(u8::from(marked.contains(&i)))).collect::<Vec<_>>(),
        "class" => (0..rows).map(|i| ["a", "a", "a", "a", "a", "a", "b", "b", "b", "c"][i % 10]).collect::<Vec<_>>(),
    )
    .unwrap()
}

#[test]
fn the_judged_rows_reach_no_fold() {
    let recorder = load("test_recorder");
    let spec = spec(Task::Classification, "class", json!({}), 5);
    let prepared = PreparedTable::new(&marked_table(&[]), &spec).unwrap();
    let parts = split::split(prepared.encoded.rows, prepared.encoded.target_codes(), spec.fractions, spec.seed);
    assert_eq!(parts.test.len(), 60);
    let run = |marked: &[usize]| training::train(&recorder, &marked_table(marked), &spec, CancelToken::default(), Box::new(Discard));
    // Every test row marked: the recorder refuses any table holding one, so
    // this run completing means no fold's training or validation table, nor
    // the final fit's, held a judged row.
    let outcome = run(&parts.test).unwrap_or_else(|e| panic!("a judged row reached the plugin: {e}"));
    let cv = outcome.cross_validation.unwrap();
    assert_eq!((cv.folds, cv.metrics["accuracy"].values.len()), (5, 5));
    // The recorder predicts class 1 for a row it saw: no judged row was one.
    let matrix = outcome.summary.metrics.confusion_matrix.as_ref().unwrap();
    assert_eq!(matrix.iter().map(|row| row[1]).sum::<u64>(), 0);
    // The mark works: one training row marked (in every fit's tables, as a
    // fold's training or held-out row, and in the final fit's) fails the run.
    let error = run(&parts.train[..1]).err().expect("a marked training row is refused").to_string();
    assert!(error.contains("marked `forbidden`"), "{error}");
}

#[test]
fn a_class_too_small_for_the_folds_is_named() {
    let recorder = load("test_recorder");
    // Class `c` of 30 rows keeps 21 in the training part.
    let error = training::train(&recorder, &marked_table(&[]), &spec(Task::Classification, "class", json!({}), 20), CancelToken::default(), Box::new(Discard));
    assert!(error.is_ok(), "20 folds fit 21 rows");
    let tiny =
        df!("x" => [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0], "class" => ["a", "a", "a", "a", "a", "a", "a", "a", "a", "b", "b", "b"])
            .unwrap();
    let error = training::train(&recorder, &tiny, &spec(Task::Classification, "class", json!({}), 3), CancelToken::default(), Box::new(Discard))
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("class `b` has 1"), "{error}");
    assert!(error.contains("too few to cross-validate: ask for 0 folds"), "{error}");
}

// --- through `trainhost serve`: the request field, its refusals, the events and the results

/// A penguins job of `plugin` with `folds`, as the API takes it.
fn folds_job(dataset: &str, plugin: Value, folds: Value) -> Value {
    json!({"datasetId": dataset, "targetColumn": "species", "taskType": "classification", "modelConfig": plugin, "folds": folds})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_validated_job_tells_its_folds_and_keeps_their_scores() {
    let dir = common::temp_dir();
    let (server, ds) = common::serve_with_penguins(dir.path()).await;
    let url = &server.url;
    let job = common::submit(url, &folds_job(&ds, json!({"selectedModel": "random_forest", "nEstimators": 8}), json!(3))).await;
    let events = common::collect(common::open_ws(url, &job).await, std::time::Duration::from_secs(60)).await;
    common::assert_complete_sequence(&events, "complete");
    let phases: Vec<&str> = events.iter().filter(|e| e["type"] == "status" && e["status"] == "running").filter_map(|e| e["message"].as_str()).collect();
    assert_eq!(phases, ["fold 1 of 3", "fold 2 of 3", "fold 3 of 3", "refit on the whole training part", "storing the model"], "{events:?}");
    let progress: Vec<&Value> = events.iter().filter(|e| e["type"] == "progress").collect();
    for fold in 1..=3 {
        let epochs: Vec<u64> = progress.iter().filter(|e| e["fold"] == fold).map(|e| e["epoch"].as_u64().unwrap()).collect();
        assert!(!epochs.is_empty() && epochs.windows(2).all(|w| w[0] < w[1]), "fold {fold}'s epochs: {epochs:?}");
    }
    assert!(progress.iter().any(|e| e["fold"].is_null()), "the final fit's epochs carry no fold");
    let percents: Vec<u64> = progress.iter().map(|e| e["progress"].as_u64().unwrap()).collect();
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "progress only grows over the folds: {percents:?}");

    let record = common::wait_status(url, &job, &["completed"], std::time::Duration::from_secs(5)).await;
    let cv = &record["results"]["crossValidation"];
    assert_eq!(cv["folds"], 3, "{record}");
    let accuracy = &cv["metrics"]["accuracy"];
    let values: Vec<f64> = accuracy["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(values.len(), 3);
    assert!((accuracy["mean"].as_f64().unwrap() - values.iter().sum::<f64>() / 3.0).abs() < 1e-12);
    assert!(values.iter().all(|v| (0.5..=1.0).contains(v)), "a forest separates penguins: {values:?}");
    assert!(record["results"]["accuracy"].as_f64().is_some(), "and the final model is judged on the holdout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folds_out_of_range_or_too_many_for_a_class_are_refused() {
    let dir = common::temp_dir();
    let (server, ds) = common::serve_with_penguins(dir.path()).await;
    let url = &server.url;
    let forest = json!({"selectedModel": "random_forest"});
    for (route, folds) in [("/train", json!(1)), ("/api/jobs", json!(21)), ("/train", json!(-2)), ("/api/jobs", json!("five")), ("/train", json!(2.5))] {
        let (status, body) = common::post_json(url, route, &folds_job(&ds, forest.clone(), folds.clone())).await;
        assert_eq!((status, body["error"]["field"].as_str()), (400, Some("folds")), "{route} {folds}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("from 2 to 20"), "{body}");
    }
    let clustering = json!({"datasetId": ds, "taskType": "clustering", "modelConfig": {"selectedModel": "kmodes"}, "folds": 3});
    let (status, body) = common::post_json(url, "/train", &clustering).await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("folds")), "{body}");

    // Class `rare` has 4 rows: 1 held out for the test, 1 for validation, 2 to train on.
    let csv = dir.path().join("rare.csv");
    let mut text = String::from("x,y,label\n");
    for i in 0..40 {
        text.push_str(&format!(
            "{i},{},{}\n",
            (i * 7) % 13,
            if i < 4 {
                "rare"
            } else if i % 2 == 0 {
                "even"
            } else {
                "odd"
            }
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let rare = common::upload(url, &csv).await["id"].as_str().unwrap().to_string();
    let job = |folds: u32| json!({"datasetId": rare, "targetColumn": "label", "taskType": "classification", "modelConfig": {"selectedModel": "baseline"}, "folds": folds});
    let (status, body) = common::post_json(url, "/train", &job(3)).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("folds")), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("class `rare` has 2") && message.contains("at most 2 folds"), "{message}");
    let (status, body) = common::post_json(url, "/train", &job(2)).await;
    assert_eq!(status, 202, "two folds fit: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_lands_within_a_fold() {
    let dir = common::temp_dir();
    let (server, ds) = common::serve_with_penguins(dir.path()).await;
    let url = &server.url;
    let job = common::submit(url, &folds_job(&ds, json!({"selectedModel": "slow", "epochs": 100, "epochMillis": 50}), json!(5))).await;
    let mut socket = common::open_ws(url, &job).await;
    // Wait for fold 1's first epoch.
    loop {
        use futures::StreamExt;
        let message = tokio::time::timeout(std::time::Duration::from_secs(20), socket.next()).await.expect("an event in time").unwrap().unwrap();
        let event: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        if event["type"] == "progress" {
            assert_eq!(event["fold"], 1, "{event}");
            break;
        }
    }
    let started = std::time::Instant::now();
    let (status, body) = common::post_json(url, &format!("/jobs/{job}/cancel"), &json!({})).await;
    assert_eq!(status, 202, "{body}");
    let events = common::collect(socket, std::time::Duration::from_secs(5)).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "cancel took {:?}", started.elapsed());
    assert_eq!(events.last().unwrap()["type"], "cancelled", "{events:?}");
    assert!(!events.iter().any(|e| e["fold"] == 2), "no second fold started: {events:?}");
}
