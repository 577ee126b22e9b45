//! The `trainhost` binary as a user runs it: train with progress and holdout
//! metrics, predict from the saved model, list plugins, check plugin files.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

/// A config that enables the built plugins with small limits, in its own data dir.
fn config(dir: &Path) -> PathBuf {
    let path = dir.join("trainhost.toml");
    // 5 s: the log flood fixture writes 40 MB of log lines, which took over 2 s
    // on a loaded 2-core machine and failed as a time-limit hit instead of a cap.
    let text = format!(
        "plugin_dir = {:?}\n[storage]\ndata_dir = {:?}\n[default_limits]\nmemory_mib = 128\ntime_secs = 5.0\nmodel_mib = 8\nlog_kib = 64\n",
        plugins_dir(),
        dir.join("data"),
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn trainhost(dir: &Path, args: &[&str]) -> Output {
    trainhost_command(&config(dir)).args(args).current_dir(dir).output().expect("running trainhost")
}

fn text(output: &Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn data(name: &str) -> String {
    testdata(name).display().to_string()
}

#[test]
fn train_prints_epochs_and_holdout_metrics_then_predict_uses_the_model() {
    let dir = temp_dir();
    let out = trainhost(
        dir.path(),
        &["train", "--plugin", "baseline", "--data", &data("penguins.csv"), "--target", "species", "--task", "classification", "--out", "m.bin"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("epoch 1/1"), "{stderr}");
    assert!(stdout.contains("holdout metrics"), "{stdout}");
    // Penguins: 152 Adelie of 344, so the majority class scores about 0.44 on a stratified holdout.
    let accuracy: f64 = stdout.lines().find_map(|l| l.trim().strip_prefix("accuracy")).and_then(|v| v.trim().parse().ok()).expect("an accuracy line");
    assert!((0.40..0.50).contains(&accuracy), "{accuracy}");
    assert!(stdout.contains("confusion matrix"), "{stdout}");

    let out = trainhost(dir.path(), &["predict", "--model", "m.bin", "--data", &data("penguins.csv")]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("prediction,p_Adelie,p_Chinstrap,p_Gentoo"));
    assert_eq!(lines.clone().count(), 344);
    assert!(lines.all(|l| l.starts_with("Adelie,")));
}

#[test]
fn a_run_carries_its_name_and_tags_into_the_summary() {
    let dir = temp_dir();
    let args = ["train", "--plugin", "baseline", "--data", &data("penguins.csv"), "--target", "species", "--task", "classification"];
    let out = trainhost(dir.path(), &[&args[..], &["--name", "majority", "--tag", "base", "--tag", "penguins", "--tag", "base"]].concat());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.lines().next(), Some("run: majority [base, penguins]"));
    let out = trainhost(dir.path(), &[&args[..], &["--name", "majority", "--tag", "base", "--json"]].concat());
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((summary["name"].as_str(), summary["tags"].clone()), (Some("majority"), serde_json::json!(["base"])));
    assert!(summary["metrics"]["values"]["accuracy"].is_number());
    let out = trainhost(dir.path(), &[&args[..], &["--tag", "two words"]].concat());
    assert!(!out.status.success());
    assert!(text(&out).1.contains("tag `two words`"), "{}", text(&out).1);
}

#[test]
fn bad_requests_get_a_message_that_says_what_to_fix() {
    let dir = temp_dir();
    let cases: [(&[&str], &str); 4] = [
        (&["train", "--plugin", "nope", "--data", "x.csv", "--task", "regression"], "no enabled plugin `nope`"),
        (
            &["train", "--plugin", "baseline", "--data", &data("iris.csv"), "--target", "colour", "--task", "classification"],
            "column `colour` is not in the table",
        ),
        (&["train", "--plugin", "baseline", "--data", &data("iris.csv"), "--target", "species", "--task", "regression"], "choose classification"),
        (&["train", "--plugin", "baseline", "--data", &data("iris.csv"), "--task", "classification", "--param", "k=1"], "unknown parameter"),
    ];
    for (args, expected) in cases {
        let out = trainhost(dir.path(), args);
        let (_, stderr) = text(&out);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(!dir.path().join("model.trainhost").exists(), "a failed run must not leave a model");
}

#[test]
fn plugins_lists_each_schema() {
    let dir = temp_dir();
    let out = trainhost(dir.path(), &["plugins"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("baseline 0.1.0"), "{stdout}");
    assert!(stdout.contains("tasks: classification, regression, clustering"), "{stdout}");
    // Test plugins are never enabled by discovery.
    assert!(!stdout.contains("endless_loop"), "{stdout}");
}

#[test]
fn plugin_check_names_the_exact_fault_of_each_bad_plugin() {
    let dir = temp_dir();
    let cases = [
        ("test_endless_loop", "time limit of 5 s"),
        ("test_memory_bomb", "memory limit of 128 MiB"),
        ("test_panic", "index out of bounds"),
        ("test_escape", "file access denied"),
        ("test_huge_model", "exceeds the model size limit of 8 MiB"),
        ("test_wrong_version", "exports trainhost:plugin/trainer@1.0.0, but this host accepts only trainhost:plugin/trainer@0.1.0 or @0.2.0 or @0.3.0"),
    ];
    for (name, fault) in cases {
        let file = plugin_file(name);
        let out = trainhost(dir.path(), &["plugin", "check", &file.display().to_string()]);
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{name} passed the check: {stdout}");
        assert!(stdout.contains(fault), "{name}: expected `{fault}` in:\n{stdout}\n{stderr}");
    }
    let flood = plugin_file("test_log_flood");
    let out = trainhost(dir.path(), &["plugin", "check", &flood.display().to_string()]);
    assert!(text(&out).0.contains("log capped"), "{}", text(&out).0);

    let good = plugin_file("baseline");
    let out = trainhost(dir.path(), &["plugin", "check", &good.display().to_string()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("PASS classification on a 200-row sample with missing values"), "{stdout}");
    assert!(stdout.contains("ok: the plugin is usable"), "{stdout}");
}

fn holdout_metric(stdout: &str, name: &str) -> f64 {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(name).filter(|rest| rest.starts_with(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{name}` line in:\n{stdout}"))
}

#[test]
fn random_forest_through_the_host_learns_real_tables() {
    let dir = temp_dir();
    // Floors sit below scikit-learn's cross-validated scores (testdata/README.md:
    // penguins 0.994, diabetes R² 0.419) to allow for one 20% holdout's noise.
    let out = trainhost(
        dir.path(),
        &[
            "train",
            "--plugin",
            "random_forest",
            "--data",
            &data("penguins.csv"),
            "--target",
            "species",
            "--task",
            "classification",
            "--param",
            "nEstimators=50",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(holdout_metric(&stdout, "accuracy") >= 0.95, "{stdout}");
    assert!(stderr.contains("epoch 50/50"), "{stderr}");
    assert!(stdout.contains("feature importances"), "{stdout}");

    let out = trainhost(
        dir.path(),
        &["train", "--plugin", "random_forest", "--data", &data("diabetes.csv"), "--target", "progression", "--task", "regression", "--out", "d.bin"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(holdout_metric(&stdout, "r2") >= 0.30, "{stdout}");
    let out = trainhost(dir.path(), &["predict", "--model", "d.bin", "--data", &data("diabetes.csv")]);
    let (stdout, _) = text(&out);
    let predictions: Vec<f64> = stdout.lines().skip(1).map(|l| l.parse().unwrap()).collect();
    assert_eq!(predictions.len(), 442);
    assert!(predictions.iter().all(|p| (25.0..=346.0).contains(p)), "a forest predicts within the training range");
}

#[test]
fn kmodes_through_the_host_clusters_zoo_as_well_as_the_python_package() {
    let dir = temp_dir();
    let out = trainhost(
        dir.path(),
        &[
            "train",
            "--plugin",
            "kmodes",
            "--data",
            &data("zoo.csv"),
            "--task",
            "clustering",
            "--param",
            "nClusters=7",
            "--param",
            "algorithm=kmodes",
            "--evaluate",
            "type",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("cost: "), "progress carries the cost: {stderr}");
    // The `kmodes` package (0.12.2, Cao init, k=7) reaches a cost of 137 on zoo
    // (plugins/kmodes/README.md); the label column `type` is never a feature.
    assert!(holdout_metric(&stdout, "cost") <= 137.0, "{stdout}");
    assert!(holdout_metric(&stdout, "ari") >= 0.5, "{stdout}");
    assert!(holdout_metric(&stdout, "purity") >= 0.8, "{stdout}");
    assert!(stdout.contains("cluster sizes: ["), "{stdout}");
}
