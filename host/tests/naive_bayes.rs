//! The Python plugin `naive_bayes` (plugins/naive_bayes, built by componentize-py in
//! `scripts/build-plugins`) through the host: trained and judged on real tables
//! (numeric, categorical, mixed with missing values; binary and multiclass), its
//! model bytes the same for the same data, its probabilities calibrated, a level
//! unseen in training and an out-of-range parameter handled.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};
use trainhost::contract::{self, Categorical, Column, ColumnData, Predictions, Task, Version};
use trainhost::data::split::SplitFractions;
use trainhost::runtime::{CancelToken, Discard, Limits, LoadedPlugin, Runtime};
use trainhost::training::{self, TrainSpec};

use common::*;

const LIMITS: Limits = Limits { memory_mib: 512, time_secs: 120.0, model_mib: 8, log_kib: 64, max_instances: 0 };

/// Loaded once for all the tests, with the compile cache in cargo's test scratch
/// dir: the component (CPython inside) takes tens of CPU-seconds to compile, so
/// it is compiled once, not once per test nor per run.
fn plugin() -> &'static (Arc<Runtime>, LoadedPlugin) {
    static PLUGIN: OnceLock<(Arc<Runtime>, LoadedPlugin)> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        let runtime = Runtime::new(Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache"))).expect("engine");
        let plugin = runtime.load(&plugin_file("naive_bayes"), None, LIMITS).unwrap();
        (runtime, plugin)
    })
}

fn spec(target: &str, params: Value, seed: u64) -> TrainSpec {
    TrainSpec {
        task: Task::Classification,
        target: Some(target.into()),
        params: params.as_object().cloned().unwrap_or_default(),
        seed,
        fractions: SplitFractions::test_only(0.25),
        evaluation_column: None,
        columns: Default::default(),
        folds: 0,
    }
}

/// Holdout accuracy and log loss of a default run on a table of testdata/.
fn holdout(plugin: &LoadedPlugin, file: &str, target: &str) -> (f64, f64) {
    let table = trainhost::data::read_table(&testdata(file)).unwrap();
    let outcome = training::train(plugin, &table, &spec(target, json!({}), 3), CancelToken::default(), Box::new(Discard)).unwrap();
    let values = &outcome.summary.metrics.values;
    (values["accuracy"], values["log_loss"])
}

#[test]
fn accuracy_is_that_of_naive_bayes_on_numeric_categorical_and_mixed_tables() {
    let (_runtime, plugin) = plugin();
    assert_eq!(plugin.contract, Version::V0_3);
    assert_eq!(plugin.name(), "naive_bayes");
    // Floors well under what naive Bayes scores on these tables (scikit-learn's
    // GaussianNB/CategoricalNB in 5-fold CV: wine 0.97, breast_cancer 0.94,
    // penguins 0.98, titanic 0.78; see scripts/quality_naive_bayes.py), and well
    // over the majority class (0.40, 0.63, 0.44, 0.68).
    for (file, target, floor) in
        [("wine.csv", "cultivar", 0.9), ("breast_cancer.csv", "diagnosis", 0.88), ("penguins.csv", "species", 0.9), ("titanic.csv", "Survived", 0.74)]
    {
        let (accuracy, log_loss) = holdout(plugin, file, target);
        assert!(accuracy >= floor, "{file}: accuracy {accuracy} under {floor}");
        assert!(log_loss.is_finite() && log_loss < 1.0, "{file}: log loss {log_loss}");
    }
}

#[test]
fn the_same_data_gives_the_same_model_bytes_and_probabilities_sum_to_one() {
    let (_runtime, plugin) = plugin();
    let table = trainhost::data::read_table(&testdata("heart_disease.csv")).unwrap();
    let run = |alpha: f64| {
        let spec = spec("diameter narrowing", json!({"alpha": alpha}), 7);
        training::train(plugin, &table, &spec, CancelToken::default(), Box::new(Discard)).unwrap()
    };
    let (first, second) = (run(1.0), run(1.0));
    assert_eq!(first.artifact.model, second.artifact.model, "same rows and parameters, different model bytes");
    assert_ne!(first.artifact.model, run(5.0).artifact.model, "alpha is not used");
    let [classes] = &first.tables[..] else { panic!("one result table, got {}", first.tables.len()) };
    assert_eq!(classes.name, "classes");

    // heart_disease has missing values in two categorical columns: every row is predicted.
    let predicted = training::predict(plugin, &first.artifact, &table).unwrap();
    let probabilities = predicted.probabilities.unwrap();
    assert_eq!(probabilities.len(), 303);
    for row in &probabilities {
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4 && row.iter().all(|p| (0.0..=1.0).contains(p)), "{row:?}");
    }
}

/// A two-column table: a number and a category, as the host hands them over.
fn table(numbers: Vec<f64>, codes: Vec<u32>, levels: &[&str]) -> contract::Table {
    let levels = levels.iter().map(|l| l.to_string()).collect();
    contract::Table {
        rows: numbers.len() as u32,
        columns: vec![
            Column { name: "x".into(), data: ColumnData::Numeric(numbers) },
            Column { name: "colour".into(), data: ColumnData::Categorical(Categorical { codes, levels }) },
        ],
    }
}

fn request(features: contract::Table, classes: Vec<u32>, alpha: f64) -> contract::TrainRequest {
    let target = ColumnData::Categorical(Categorical { codes: classes, levels: vec!["no".into(), "yes".into()] });
    contract::TrainRequest {
        task: Task::Classification,
        train: contract::LabelledTable { features, target: Some(target) },
        validation: None,
        params: vec![
            contract::Param { name: "alpha".into(), value: contract::ParamValue::Float(alpha) },
            contract::Param { name: "varSmoothing".into(), value: contract::ParamValue::Float(1e-9) },
            contract::Param { name: "fitPriors".into(), value: contract::ParamValue::Boolean(true) },
        ],
        seed: 0,
    }
}

#[test]
fn missing_values_are_skipped_and_an_unseen_level_gets_the_smoothed_share() {
    let (_runtime, plugin) = plugin();
    // Class "yes": large x and red; "no": small x and blue. Missing values in both columns.
    let features = table(vec![1.0, 1.2, f64::NAN, 0.8, 5.0, 5.5, 4.5, f64::NAN], vec![1, 1, 1, u32::MAX, 0, 0, u32::MAX, 0], &["red", "blue"]);
    let (trained, _) = plugin.train(&request(features, vec![0, 0, 0, 0, 1, 1, 1, 1], 1.0), CancelToken::default(), Box::new(Discard));
    let model = trained.unwrap().model.model;
    // Predict with the levels in another order and a level training never had.
    let rows = table(vec![5.2, f64::NAN, f64::NAN, f64::NAN, 1.0], vec![2, 1, 2, 0, u32::MAX], &["green", "blue", "red"]);
    let Predictions::Classes(p) = plugin.predict(&model, &rows).unwrap() else { panic!("not classes") };
    assert_eq!(p.n_classes, 2);
    assert_eq!(p.labels[..3], [1, 0, 1], "x, then the colour matched by its name, decide");
    let probs = p.probabilities.unwrap();
    // Row 3: x missing, colour unseen: both classes had 3 known colours, so the
    // smoothed share is the same and the priors (equal) decide: one half each.
    assert!((probs[6] - 0.5).abs() < 1e-6 && (probs[7] - 0.5).abs() < 1e-6, "{probs:?}");
    // Row 4: the colour missing, a small x alone decides.
    assert_eq!(p.labels[4], 0);
}

#[test]
fn an_out_of_range_parameter_is_refused_by_the_plugin_itself() {
    let (_runtime, plugin) = plugin();
    let features = table(vec![1.0, 2.0], vec![0, 1], &["red", "blue"]);
    let (trained, _) = plugin.train(&request(features, vec![0, 1], -1.0), CancelToken::default(), Box::new(Discard));
    let err = trained.unwrap_err().to_string();
    assert!(err.contains("alpha"), "{err}");
}
