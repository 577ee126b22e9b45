//! Predicting on a file through the real API, on penguins: a file that holds
//! the target is scored (the figures checked here against the predictions
//! and the file's own column, computed independently), one without it is not;
//! the CSV download has a row id, the input columns as given, the prediction
//! and probabilities rounded to four decimals; an upload made only to
//! predict on is marked so. Needs `scripts/build-plugins`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::{client, get_json, post_json, serve_with_penguins, submit, temp_dir, upload, wait_status};

async fn trained(url: &str, body: &Value) -> String {
    let job = submit(url, body).await;
    let done = wait_status(url, &job, &["completed", "failed"], Duration::from_secs(120)).await;
    assert_eq!(done["status"], "completed", "{done}");
    job
}

/// The penguins table as (header, rows of cells), read here, not by the host.
fn penguins() -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(common::testdata("penguins.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(str::to_string).collect();
    (header, lines.map(|l| l.split(',').map(str::to_string).collect()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_the_target_is_scored_and_the_csv_keeps_ids_and_inputs() {
    let dir = temp_dir();
    let (server, ds) = serve_with_penguins(dir.path()).await;
    let url = &server.url;
    let job = trained(url, &json!({"datasetId": ds, "targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "random_forest", "nEstimators": 20}})).await;

    let (status, answer) = post_json(url, &format!("/jobs/{job}/predict"), &json!({"datasetId": ds})).await;
    assert_eq!(status, 200, "{answer}");
    let data = &answer["data"];
    let (header, rows) = penguins();
    let species = header.iter().position(|h| h == "species").unwrap();
    let labels: Vec<&str> = data["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    let known: Vec<usize> = (0..rows.len()).filter(|&i| !rows[i][species].is_empty()).collect();
    let right = known.iter().filter(|&&i| labels[i] == rows[i][species]).count();
    let score = &data["score"];
    assert_eq!((score["target"].as_str(), score["headlineMetric"].as_str()), (Some("species"), Some("accuracy")));
    assert_eq!((score["rowsScored"].as_u64(), score["rowsWithoutTarget"].as_u64()), (Some(known.len() as u64), Some((rows.len() - known.len()) as u64)));
    let accuracy = score["metrics"]["accuracy"].as_f64().unwrap();
    assert!((accuracy - right as f64 / known.len() as f64).abs() < 1e-12, "{accuracy} vs {right}/{}", known.len());
    assert!(accuracy > 0.9, "the model saw 70% of these rows: {accuracy}");
    assert!(score["metrics"]["roc_auc_ovr_macro"].is_number() && score["metrics"]["log_loss"].is_number(), "{score}");

    // The CSV: row id, the inputs as given, the prediction, rounded probabilities.
    let response = client().post(format!("{url}/jobs/{job}/predict?format=csv")).json(&json!({"datasetId": ds})).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), rows.len() + 1);
    let expected_header = format!("row,{},prediction,p(Adelie),p(Chinstrap),p(Gentoo)", header.join(","));
    assert_eq!(lines[0], expected_header);
    for (i, line) in lines[1..].iter().enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], (i + 1).to_string());
        assert_eq!(cells[1 + species], rows[i][species], "the input columns as given, row {}", i + 1);
        assert_eq!(cells[1 + header.len()], labels[i]);
        let probabilities: Vec<f64> = cells[cells.len() - 3..].iter().map(|p| p.parse().unwrap()).collect();
        assert!(cells[cells.len() - 3..].iter().all(|p| p.split('.').nth(1).is_none_or(|d| d.len() <= 4)), "{line}");
        assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 3e-4, "{line}");
    }
    let (status, body) = post_json(url, &format!("/jobs/{job}/predict?format=xml"), &json!({"datasetId": ds})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("format")));

    // Without the target column there is nothing to score; rows as JSON work the same.
    let (status, answer) = post_json(url, &format!("/jobs/{job}/predict"), &json!({"rows": [{"island": "Biscoe", "bill_length_mm": 48.0, "bill_depth_mm": 15.0, "flipper_length_mm": 220.0, "body_mass_g": 5200.0, "sex": "male", "year": 2008}]})).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["data"].get("score").is_none(), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regression_is_scored_and_a_predict_only_upload_is_marked() {
    let dir = temp_dir();
    let (server, ds) = serve_with_penguins(dir.path()).await;
    let url = &server.url;
    let job = trained(url, &json!({"datasetId": ds, "targetColumn": "body_mass_g", "taskType": "regression", "modelConfig": {"selectedModel": "random_forest", "nEstimators": 20}})).await;

    // Uploaded to predict on: marked so in the record and the list.
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(std::fs::read(common::testdata("penguins.csv")).unwrap()).file_name("new.csv"));
    let response = client().post(format!("{url}/datasets?purpose=predict")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let record: Value = response.json().await.unwrap();
    let predict_set = record["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(record["data"]["predictOnly"], true);
    let (_, list) = get_json(url, "/datasets").await;
    let marked: Vec<(&str, bool)> = list["data"].as_array().unwrap().iter().map(|d| (d["id"].as_str().unwrap(), d["predictOnly"] == true)).collect();
    assert!(marked.contains(&(predict_set.as_str(), true)) && marked.contains(&(ds.as_str(), false)), "{marked:?}");
    let plain = upload(url, &common::testdata("iris.csv")).await;
    assert!(plain.get("predictOnly").is_none(), "{plain}");
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(b"a\n1\n".to_vec()).file_name("x.csv"));
    let response = client().post(format!("{url}/datasets?purpose=later")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 400);

    let (status, answer) = post_json(url, &format!("/jobs/{job}/predict"), &json!({"datasetId": predict_set})).await;
    assert_eq!(status, 200, "{answer}");
    let (header, rows) = penguins();
    let mass = header.iter().position(|h| h == "body_mass_g").unwrap();
    let predicted: Vec<f64> = answer["data"]["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let pairs: Vec<(f64, f64)> = rows.iter().zip(&predicted).filter_map(|(r, &p)| r[mass].parse::<f64>().ok().map(|t| (t, p))).collect();
    let mean = pairs.iter().map(|p| p.0).sum::<f64>() / pairs.len() as f64;
    let sse: f64 = pairs.iter().map(|(t, p)| (t - p) * (t - p)).sum();
    let sst: f64 = pairs.iter().map(|(t, _)| (t - mean) * (t - mean)).sum();
    let score = &answer["data"]["score"];
    assert_eq!((score["headlineMetric"].as_str(), score["rowsScored"].as_u64()), (Some("r2"), Some(pairs.len() as u64)));
    assert!((score["metrics"]["r2"].as_f64().unwrap() - (1.0 - sse / sst)).abs() < 1e-9, "{score}");
    assert!((score["metrics"]["rmse"].as_f64().unwrap() - (sse / pairs.len() as f64).sqrt()).abs() < 1e-6, "{score}");
}
