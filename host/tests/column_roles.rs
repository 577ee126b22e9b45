//! Column roles through the real API: a row index on a table sorted by its
//! target is left out by default (the dataset says so before training, the
//! job records it) and the default job scores exactly what a model trained
//! without that column scores; `excludeColumns` and `columnKinds` change
//! what a model learns from; and the targets nothing can be learnt from, or
//! that are numbers mistaken for labels, are refused before anything is queued.
//! Needs `scripts/build-plugins`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use common::{post_json, submit, temp_dir, upload, wait_ready, wait_status, Process, Setup};

const ROWS: usize = 400;

/// A table like diamonds: `rownames` numbers the rows, the rows are sorted by
/// `price`, `price` depends on `carat` and `cut` plus noise, `shop` is one
/// value throughout, and `grade` has 400 distinct numbers. With
/// `with_index = false` the same table without `rownames`.
fn write_sorted_table(dir: &Path, with_index: bool) -> PathBuf {
    let mut rng = fastrand::Rng::with_seed(5);
    let cuts = ["Fair", "Good", "Ideal"];
    let mut rows: Vec<(f64, &str, f64)> = (0..ROWS)
        .map(|_| {
            let carat = 0.2 + rng.f64() * 2.0;
            let cut = cuts[rng.usize(..3)];
            let bonus = match cut {
                "Fair" => 0.0,
                "Good" => 400.0,
                _ => 900.0,
            };
            (carat, cut, (3000.0 * carat + bonus + rng.f64() * 1500.0).round())
        })
        .collect();
    rows.sort_by(|a, b| a.2.total_cmp(&b.2));
    let mut text = String::from(if with_index { "rownames,carat,cut,shop,grade,price\n" } else { "carat,cut,shop,grade,price\n" });
    for (i, (carat, cut, price)) in rows.iter().enumerate() {
        let index = if with_index { format!("{},", i + 1) } else { String::new() };
        text.push_str(&format!("{index}{carat:.3},{cut},main,{},{price}\n", (i * 7919) % 100_003));
    }
    let path = dir.join(if with_index { "sorted.csv" } else { "sorted_no_index.csv" });
    std::fs::write(&path, text).unwrap();
    path
}

fn forest_job(dataset: &str, extra: Value) -> Value {
    let mut job = json!({"datasetId": dataset, "targetColumn": "price", "taskType": "regression", "seed": 3,
        "modelConfig": {"selectedModel": "random_forest", "nEstimators": 15}});
    for (key, value) in extra.as_object().unwrap() {
        job[key] = value.clone();
    }
    job
}

async fn results(url: &str, job: &Value) -> Value {
    let id = submit(url, job).await;
    let done = wait_status(url, &id, &["completed", "failed"], Duration::from_secs(120)).await;
    assert_eq!(done["status"], "completed", "{done}");
    done["results"].clone()
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array().unwrap().iter().map(|c| c[key].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_row_index_is_left_out_by_default_and_the_user_can_bring_it_back() {
    let dir = temp_dir();
    let server = Process::serve(&Setup::embedded(dir.path()), &[]);
    wait_ready(&server.url).await;
    let url = server.url.as_str();
    let dataset = upload(url, &write_sorted_table(dir.path(), true)).await;
    let id = dataset["id"].as_str().unwrap();

    // The dataset says, before any training, what a job will leave out and why.
    let notes: Vec<(String, Option<String>)> = dataset["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().into(), c["excludedByDefault"].as_str().map(String::from)))
        .collect();
    let note = |name: &str| notes.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert!(note("rownames").unwrap().starts_with("row index"), "{notes:?}");
    assert!(note("shop").unwrap().starts_with("constant"), "{notes:?}");
    assert_eq!((note("carat"), note("cut"), note("grade")), (None, None, None), "{notes:?}");

    let default = results(url, &forest_job(id, json!({}))).await;
    let summary = &default["summary"];
    assert_eq!(names(&summary["feature_columns"], "name"), ["carat", "cut", "grade"], "{summary}");
    assert!(names(&summary["skipped_columns"], "name").contains(&"rownames".to_string()), "{summary}");

    // The same table without the column, same seed: the same model, so the same scores.
    let without = upload(url, &write_sorted_table(dir.path(), false)).await;
    let plain = results(url, &forest_job(without["id"].as_str().unwrap(), json!({}))).await;
    assert_eq!(default["metrics"], plain["metrics"], "the default job must score what a model without the index scores");

    // Given a kind, the index is used, and it leaks the sorted target: a higher R².
    let leaking = results(url, &forest_job(id, json!({"columnKinds": {"rownames": "numeric"}}))).await;
    assert!(names(&leaking["summary"]["feature_columns"], "name").contains(&"rownames".to_string()));
    let (leak_r2, honest_r2) = (leaking["metrics"]["r2"].as_f64().unwrap(), default["metrics"]["r2"].as_f64().unwrap());
    assert!(leak_r2 > honest_r2, "with the index R² {leak_r2}, without {honest_r2}");

    // Dropped on request, and a number read as a category.
    let chosen = results(url, &forest_job(id, json!({"excludeColumns": ["grade"], "columnKinds": {"carat": "categorical"}}))).await;
    let kinds: Vec<(String, String)> = chosen["summary"]["feature_columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().into(), c["kind"].as_str().unwrap().into()))
        .collect();
    assert_eq!(kinds, [("carat".into(), "categorical".into()), ("cut".into(), "categorical".into())]);
    let skipped = &chosen["summary"]["skipped_columns"];
    let grade = skipped.as_array().unwrap().iter().find(|c| c["name"] == "grade").unwrap();
    assert_eq!(grade["reason"], "left out by the request (excludeColumns)");
}

#[tokio::test]
async fn column_choices_and_targets_that_cannot_work_are_refused_before_queueing() {
    let dir = temp_dir();
    let server = Process::serve(&Setup::embedded(dir.path()), &[]);
    wait_ready(&server.url).await;
    let url = server.url.as_str();
    let dataset = upload(url, &write_sorted_table(dir.path(), true)).await;
    let id = dataset["id"].as_str().unwrap();
    let classify = |target: &str| json!({"datasetId": id, "targetColumn": target, "taskType": "classification", "modelConfig": {"selectedModel": "baseline"}});

    let cases = [
        (forest_job(id, json!({"excludeColumns": ["colour"]})), 422, "unknown_column", "excludeColumns", "its columns are: rownames, carat"),
        (forest_job(id, json!({"excludeColumns": ["price"]})), 422, "invalid_columns", "excludeColumns", "is the target column"),
        (forest_job(id, json!({"excludeColumns": "grade"})), 400, "invalid_field", "excludeColumns", "list of column names"),
        (forest_job(id, json!({"columnKinds": {"cut": "numeric"}})), 422, "invalid_columns", "columnKinds", "cannot be read as numbers"),
        (forest_job(id, json!({"columnKinds": {"cut": "ordinal"}})), 422, "invalid_columns", "columnKinds", "not a kind"),
        (forest_job(id, json!({"columnKinds": {"cut": 3}})), 400, "invalid_field", "columnKinds", "\"numeric\" or \"categorical\""),
        (forest_job(id, json!({"excludeColumns": ["cut"], "columnKinds": {"cut": "categorical"}})), 422, "invalid_columns", "columnKinds", "keep it in one"),
        (classify("shop"), 422, "invalid_target", "targetColumn", "has only one class"),
        (classify("grade"), 422, "invalid_target", "targetColumn", "400 distinct values, more than the 100 classes"),
        (classify("price"), 422, "invalid_target", "targetColumn", "choose regression"),
    ];
    for (body, status, code, field, hint) in cases {
        let (got, answer) = post_json(url, "/train", &body).await;
        assert_eq!(got, status, "{body}: {answer}");
        let error = &answer["error"];
        assert_eq!((error["code"].as_str(), error["field"].as_str()), (Some(code), Some(field)), "{body}: {answer}");
        assert!(error["message"].as_str().unwrap().contains(hint), "{body}: {answer}");
    }
    // Nothing was queued by any of them.
    let (_, jobs) = common::get_json(url, "/jobs").await;
    assert_eq!(jobs["data"].as_array().map(Vec::len), Some(0), "{jobs}");
    // The same numbers as a regression target are fine.
    let job = json!({"datasetId": id, "targetColumn": "grade", "taskType": "regression", "modelConfig": {"selectedModel": "baseline"}});
    assert_eq!(post_json(url, "/train", &job).await.0, 202);
}
