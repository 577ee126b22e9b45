//! The rule the three-way split serves, proved with the `recorder` test plugin
//! (which remembers every row it was handed in `train` and tells, per row it
//! predicts, whether it saw it): none of the rows the host judges a model on
//! ever reached the plugin, and the three parts have the sizes the fractions ask.
//! Every plugin goes through the same split. Needs `scripts/build-plugins`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use polars::prelude::*;
use trainhost::contract::Task;
use trainhost::data::split::SplitFractions;
use trainhost::runtime::{CancelToken, Discard, Limits, LoadedPlugin, Runtime};
use trainhost::training::{self, EvaluatedOn, TrainOutcome, TrainSpec};

use common::plugin_file;

/// Rows of the test table: 600 of class `a`, 300 of `b`, 100 of `c`.
const ROWS: usize = 1000;

fn runtime() -> &'static Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache"))).expect("engine"))
}

fn load(name: &str) -> LoadedPlugin {
    let limits = Limits { memory_mib: 256, time_secs: 30.0, model_mib: 8, log_kib: 64, max_instances: 0 };
    runtime().load(&plugin_file(name), None, limits).unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

/// A table whose rows all differ in their features (`x` is unique), so the
/// recorder tells each row apart.
fn table() -> DataFrame {
    let class: Vec<&str> = (0..ROWS).map(|i| ["a", "a", "a", "a", "a", "a", "b", "b", "b", "c"][i % 10]).collect();
    let group: Vec<&str> = (0..ROWS).map(|i| ["north", "south", "east", "west"][i % 4]).collect();
    df!(
        "x" => (0..ROWS).map(|i| i as f64 * 0.5).collect::<Vec<_>>(),
        "group" => group,
        "amount" => (0..ROWS).map(|i| ((i * 37) % 101) as f64).collect::<Vec<_>>(),
        "class" => class,
    )
    .unwrap()
}

fn spec(task: Task, target: Option<&str>, fractions: SplitFractions) -> TrainSpec {
    TrainSpec {
        task,
        target: target.map(str::to_string),
        params: Default::default(),
        seed: 17,
        fractions,
        evaluation_column: None,
        columns: Default::default(),
        folds: 0,
    }
}

fn train(plugin: &LoadedPlugin, spec: &TrainSpec) -> TrainOutcome {
    training::train(plugin, &table(), spec, CancelToken::default(), Box::new(Discard)).unwrap_or_else(|e| panic!("{}: {e}", plugin.name()))
}

/// The recorder's own count of what it was handed, and that the two tables were disjoint.
fn assert_the_plugin_was_handed_the_reported_parts(outcome: &TrainOutcome) {
    let summary = &outcome.summary;
    assert_eq!(summary.plugin_metrics["train_rows"], summary.rows_train as f64);
    assert_eq!(summary.plugin_metrics["validation_rows"], summary.rows_validation as f64);
    assert_eq!(summary.plugin_metrics["validation_rows_also_in_train"], 0.0);
    assert_eq!(summary.rows_train + summary.rows_validation + summary.rows_test.unwrap(), ROWS);
}

#[test]
fn no_judged_row_reached_the_plugin_in_classification() {
    let recorder = load("test_recorder");
    let outcome = train(&recorder, &spec(Task::Classification, Some("class"), SplitFractions::DEFAULT));
    let summary = &outcome.summary;
    assert_eq!(summary.evaluated_on, EvaluatedOn::Holdout);
    // Stratified: 20% and 10% of each class, which here add up exactly.
    assert_eq!((summary.rows_train, summary.rows_validation, summary.rows_test), (700, 100, Some(200)));
    assert_the_plugin_was_handed_the_reported_parts(&outcome);
    // The recorder predicts class 1 for a row it saw, 0 for one it did not:
    // column 1 of the host's confusion matrix counts the judged rows it saw.
    let matrix = summary.metrics.confusion_matrix.as_ref().unwrap();
    assert_eq!(matrix.iter().map(|row| row[1]).sum::<u64>(), 0, "judged rows the plugin saw: {matrix:?}");
    assert_eq!(matrix.iter().flatten().sum::<u64>(), 200, "every test row was judged");
    let per_class: Vec<u64> = matrix.iter().map(|row| row.iter().sum()).collect();
    assert_eq!(per_class, [120, 60, 20], "the test part keeps the class proportions");
}

#[test]
fn no_judged_row_reached_the_plugin_in_regression() {
    let recorder = load("test_recorder");
    let fractions = SplitFractions { test: 0.25, plugin_validation: 0.15 };
    let outcome = train(&recorder, &spec(Task::Regression, Some("amount"), fractions));
    let summary = &outcome.summary;
    assert_eq!((summary.rows_train, summary.rows_validation, summary.rows_test), (600, 150, Some(250)));
    assert_the_plugin_was_handed_the_reported_parts(&outcome);
    // Predictions on the judged rows: 1.0 for a row the plugin saw, 0.0 otherwise.
    let judged = summary.holdout.as_ref().unwrap();
    assert!(!judged.sampled);
    assert_eq!(judged.predicted.len(), 250);
    assert!(judged.predicted.iter().all(|&seen| seen == 0.0), "{:?}", judged.predicted);
    // And over the whole table, the plugin saw exactly the training and validation rows.
    let everything = training::predict(&recorder, &outcome.artifact, &table()).unwrap();
    let seen = everything.values.unwrap().iter().filter(|&&v| v == 1.0).count();
    assert_eq!(seen, 750);
}

#[test]
fn no_validation_share_means_no_validation_table() {
    let recorder = load("test_recorder");
    let outcome = train(&recorder, &spec(Task::Classification, Some("class"), SplitFractions::test_only(0.2)));
    assert_eq!((outcome.summary.rows_train, outcome.summary.rows_validation, outcome.summary.rows_test), (800, 0, Some(200)));
    assert_the_plugin_was_handed_the_reported_parts(&outcome);
    let matrix = outcome.summary.metrics.confusion_matrix.as_ref().unwrap();
    assert_eq!(matrix.iter().map(|row| row[1]).sum::<u64>(), 0);
}

#[test]
fn with_no_test_share_the_metrics_say_they_are_on_the_training_rows() {
    let recorder = load("test_recorder");
    let outcome = train(&recorder, &spec(Task::Classification, Some("class"), SplitFractions { test: 0.0, plugin_validation: 0.1 }));
    let summary = &outcome.summary;
    assert_eq!(summary.evaluated_on, EvaluatedOn::Train);
    assert_eq!((summary.rows_train, summary.rows_validation, summary.rows_test), (900, 100, Some(0)));
    let matrix = summary.metrics.confusion_matrix.as_ref().unwrap();
    assert_eq!(matrix.iter().flatten().sum::<u64>(), 900, "judged on the training rows");
    // The recorder does tell a row it saw: here every judged row is one.
    assert_eq!(matrix.iter().map(|row| row[1]).sum::<u64>(), 900);
}

#[test]
fn clustering_trains_on_and_is_judged_on_every_row() {
    let recorder = load("test_recorder");
    let outcome = train(&recorder, &spec(Task::Clustering, None, SplitFractions::DEFAULT));
    let summary = &outcome.summary;
    assert_eq!(summary.evaluated_on, EvaluatedOn::Train);
    assert_eq!((summary.rows_train, summary.rows_validation, summary.rows_test), (ROWS, 0, Some(0)));
    assert_the_plugin_was_handed_the_reported_parts(&outcome);
}

#[test]
fn every_plugin_gets_the_same_split() {
    let classification = spec(Task::Classification, Some("class"), SplitFractions::DEFAULT);
    let recorded = train(&load("test_recorder"), &classification).summary;
    for name in ["baseline", "random_forest"] {
        let summary = train(&load(name), &classification).summary;
        assert_eq!(
            (summary.rows_train, summary.rows_validation, summary.rows_test),
            (recorded.rows_train, recorded.rows_validation, recorded.rows_test),
            "{name}"
        );
        assert_eq!(summary.metrics.confusion_matrix.unwrap().iter().flatten().sum::<u64>(), 200, "{name}");
    }
    let clustering = spec(Task::Clustering, None, SplitFractions::DEFAULT);
    let recorded = train(&load("test_recorder"), &clustering).summary;
    let kmodes = train(&load("kmodes"), &clustering).summary;
    assert_eq!((kmodes.rows_train, kmodes.rows_validation, kmodes.rows_test), (recorded.rows_train, recorded.rows_validation, recorded.rows_test));
}

/// `rows` rows of two numbers, a category and a class that depends on them.
fn wide_table(rows: usize) -> DataFrame {
    let x: Vec<f64> = (0..rows).map(|i| ((i * 7919) % 1000) as f64 / 100.0).collect();
    let y: Vec<f64> = (0..rows).map(|i| ((i * 104_729) % 997) as f64 / 99.7).collect();
    let group: Vec<&str> = (0..rows).map(|i| ["north", "south", "east"][(i * 31) % 3]).collect();
    let class: Vec<&str> = x.iter().zip(&y).map(|(a, b)| if a + b > 10.0 { "high" } else { "low" }).collect();
    df!("x" => x, "y" => y, "group" => group, "class" => class).unwrap()
}

/// A job trained by two instances is judged by two as well, each predicting
/// half of the judged rows: the scores, the holdout sample and the model file
/// (whose header holds the metrics) are those of one instance judging all.
#[test]
fn judged_rows_predicted_by_two_instances_score_as_one_instance_does() {
    let table = wide_table(25_000);
    // 90% judged: 22,500 rows, enough for two predicting instances.
    let fractions = SplitFractions { test: 0.9, plugin_validation: 0.02 };
    let cases = [
        ("random_forest", Task::Classification, Some("class"), vec![("nEstimators", "5")]),
        ("gbdt", Task::Regression, Some("y"), vec![("nEstimators", "5")]),
        ("kmodes", Task::Clustering, None, vec![("nClusters", "3"), ("nInit", "2")]),
    ];
    for (name, task, target, params) in cases {
        let plugin = load(name);
        let mut spec = spec(task, target, fractions);
        spec.params = params.into_iter().map(|(k, v)| (k.to_string(), serde_json::Value::String(v.into()))).collect();
        let by = |instances| training::train_on(&plugin, &table, &spec, instances, CancelToken::default(), Box::new(Discard)).unwrap();
        let (one, two) = (by(1), by(2));
        let judged = if task == Task::Clustering { 25_000 } else { two.summary.rows_test.unwrap() };
        assert_eq!(plugin.predicting_instances(judged, two.summary.instances), 2, "{name}: {judged} judged rows");
        assert_eq!(two.summary.instances, 2, "{name}");
        assert_eq!(one.summary.metrics, two.summary.metrics, "{name}");
        assert_eq!(one.summary.holdout, two.summary.holdout, "{name}");
        assert!(one.artifact.to_bytes() == two.artifact.to_bytes(), "{name}: another model file");
    }
}
