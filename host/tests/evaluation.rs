//! The host's evaluation of every plugin, through the real API: a binary job
//! on breast_cancer gets ROC AUC, average precision, the threshold curve, the
//! per-class table and the majority-class baseline, all on the judged rows and
//! consistent with one another; a regression job gets the mean baseline. The
//! figures themselves are checked against scikit-learn in `data::metrics` and
//! `data::ranking`. Needs `scripts/build-plugins`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::{submit, temp_dir, testdata, upload, wait_ready, wait_status, Process, Setup};

async fn completed(url: &str, job: Value) -> Value {
    let id = submit(url, &job).await;
    let done = wait_status(url, &id, &["completed", "failed"], Duration::from_secs(120)).await;
    assert_eq!(done["status"], "completed", "{done}");
    done["results"].clone()
}

#[tokio::test]
async fn a_binary_job_is_judged_by_ranking_metrics_per_class_scores_and_a_baseline() {
    let dir = temp_dir();
    let server = Process::serve(&Setup::embedded(dir.path()), &[]);
    wait_ready(&server.url).await;
    let url = server.url.as_str();
    let dataset = upload(url, &testdata("breast_cancer.csv")).await;
    let id = dataset["id"].as_str().unwrap();
    let job = json!({"datasetId": id, "targetColumn": "diagnosis", "taskType": "classification",
        "modelConfig": {"selectedModel": "random_forest", "nEstimators": 30}});
    let results = completed(url, job).await;
    let (metrics, summary) = (&results["metrics"], &results["summary"]);
    let judged = summary["rows_test"].as_u64().unwrap();
    let auc = metrics["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.95 && auc <= 1.0, "{metrics}");
    assert!(metrics["average_precision"].as_f64().unwrap() > 0.95, "{metrics}");

    let detail = &summary["metrics"];
    let per_class = detail["per_class"].as_array().unwrap();
    let supports: Vec<u64> = per_class.iter().map(|c| c["support"].as_u64().unwrap()).collect();
    assert_eq!(supports.iter().sum::<u64>(), judged);
    let curve = &detail["curve"];
    assert_eq!((curve["positives"].as_u64(), curve["negatives"].as_u64()), (Some(supports[1]), Some(supports[0])));
    // At the lowest threshold every row is called positive.
    assert_eq!(curve["true_positives"].as_array().unwrap().last().unwrap().as_u64(), Some(supports[1]));
    // Macro recall is the mean of the table's recalls.
    let mean_recall = per_class.iter().map(|c| c["recall"].as_f64().unwrap()).sum::<f64>() / 2.0;
    assert!((mean_recall - metrics["recall"].as_f64().unwrap()).abs() < 1e-12);
    // The split is stratified, so the training part's majority is the judged rows' too.
    let baseline = &detail["baseline"];
    let majority = *supports.iter().max().unwrap() as f64 / judged as f64;
    assert!((baseline["values"]["accuracy"].as_f64().unwrap() - majority).abs() < 1e-12, "{baseline}");
    assert!(metrics["accuracy"].as_f64().unwrap() > majority + 0.2, "the forest beats always answering the majority");
}

#[tokio::test]
async fn a_regression_job_is_read_against_always_answering_the_mean() {
    let dir = temp_dir();
    let server = Process::serve(&Setup::embedded(dir.path()), &[]);
    wait_ready(&server.url).await;
    let url = server.url.as_str();
    let dataset = upload(url, &testdata("diabetes.csv")).await;
    let job = json!({"datasetId": dataset["id"], "targetColumn": "progression", "taskType": "regression",
        "modelConfig": {"selectedModel": "random_forest", "nEstimators": 30}});
    let results = completed(url, job).await;
    let baseline = &results["summary"]["metrics"]["baseline"];
    assert!(baseline["rule"].as_str().unwrap().contains("the training part's mean"), "{baseline}");
    let (base_r2, base_rmse) = (baseline["values"]["r2"].as_f64().unwrap(), baseline["values"]["rmse"].as_f64().unwrap());
    assert!(base_r2 <= 0.0 && base_r2 > -0.1, "the mean of other rows scores about 0: {base_r2}");
    assert!(results["metrics"]["rmse"].as_f64().unwrap() < base_rmse, "{results}");
}
