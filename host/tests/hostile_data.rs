//! Hostile tables against `trainhost serve` and the CLI: a Parquet bomb (a
//! small file that decodes to a huge table) is refused before it is decoded,
//! a job on a table past the limits fails at once with the figure, previews
//! stay small whatever a cell holds, listing gives summaries, and predict
//! refuses wrong-typed cells and names missing columns.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use polars::prelude::*;
use serde_json::{json, Value};

/// 100 million rows of one integer column in well under 1 MiB: 100 row groups
/// of the same million constant values, so writing it needs 8 MB.
fn parquet_bomb(dir: &Path) -> PathBuf {
    let path = dir.join("bomb.parquet");
    let chunk = df!("x" => vec![7i64; 1_000_000]).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = ParquetWriter::new(file).batched(chunk.schema()).unwrap();
    for _ in 0..100 {
        writer.write_batch(&chunk).unwrap();
    }
    writer.finish().unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < 1 << 20, "the bomb must fit the tests' 1 MiB upload limit: {size} bytes");
    path
}

/// The peak resident memory of a process, in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

async fn upload_file(url: &str, path: &Path) -> (u16, Value) {
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(std::fs::read(path).unwrap()).file_name(name));
    let response = client().post(format!("{url}/datasets")).multipart(form).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

fn stored_datasets(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("data/store/datasets")).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parquet_bomb_is_refused_before_it_is_decoded_and_nothing_is_stored() {
    let dir = temp_dir();
    let bomb = parquet_bomb(dir.path());
    let server = Process::serve(&Setup::embedded(dir.path()), &[]);
    wait_ready(&server.url).await;
    let (status, body) = upload_file(&server.url, &bomb).await;
    assert_eq!(status, 413, "{body}");
    let error = &body["error"];
    assert_eq!((error["code"].as_str(), error["field"].as_str()), (Some("table_too_large"), Some("file")), "{body}");
    let message = error["message"].as_str().unwrap();
    for part in ["limits.max_table_cells", "32000000", "100000000 rows × 1 columns"] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    assert_eq!(get_json(&server.url, "/datasets").await.1["data"], json!([]));
    assert_eq!(stored_datasets(dir.path()), 0);
    let leftovers = std::fs::read_dir(dir.path().join("data/uploads")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "the refused upload leaves no temp file");
    // Decoding it took 3.3 GB; refusing it takes about what the server started with.
    assert!(peak_rss_mib(server.pid) < 600, "peak RSS {} MiB", peak_rss_mib(server.pid));
}

#[test]
fn the_cli_refuses_the_bomb_too() {
    let dir = temp_dir();
    let bomb = parquet_bomb(dir.path());
    let config = dir.path().join("trainhost.toml");
    std::fs::write(&config, format!("plugin_dir = {:?}\n[storage]\ndata_dir = {:?}\n", plugins_dir(), dir.path().join("data"))).unwrap();
    let output = trainhost_command(&config)
        .args(["train", "--plugin", "baseline", "--task", "clustering", "--data"])
        .arg(&bomb)
        .arg("--out")
        .arg(dir.path().join("m.trainhost"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("too large") && stderr.contains("limits.max_table_cells") && stderr.contains("100000000"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_or_prediction_on_a_table_past_the_limits_fails_at_once_with_the_figure() {
    let dir = temp_dir();
    let (server, dataset) = serve_with_penguins(dir.path()).await;
    let job = submit(&server.url, &baseline_job(&dataset)).await;
    assert_eq!(wait_status(&server.url, &job, &["completed", "failed"], Duration::from_secs(60)).await["status"], "completed");
    drop(server);

    // The same data under a server whose limits are lower than when it was uploaded.
    let mut setup = Setup::embedded(dir.path());
    setup.env.push(("TRAINHOST_LIMITS_MAX_TABLE_CELLS".into(), "1000".into()));
    let server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    let failed = submit(&server.url, &baseline_job(&dataset)).await;
    let record = wait_status(&server.url, &failed, &["completed", "failed"], Duration::from_secs(30)).await;
    assert_eq!(record["status"], "failed", "{record}");
    let text = record.to_string();
    assert!(text.contains("limits.max_table_cells") && text.contains("344 rows × 8 columns = 2752 cells"), "{record}");
    let (status, body) = post_json(&server.url, &format!("/jobs/{job}/predict"), &json!({"datasetId": dataset})).await;
    assert_eq!((status, body["error"]["code"].as_str(), body["error"]["field"].as_str()), (413, Some("table_too_large"), Some("datasetId")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_are_capped_and_the_list_gives_summaries() {
    let dir = temp_dir();
    let server = Process::serve(&Setup::embedded(dir.path()), &[]);
    wait_ready(&server.url).await;
    let big_cell = "x".repeat(300_000);
    let csv = dir.path().join("wide.csv");
    std::fs::write(&csv, format!("id,note,value\n1,{big_cell},2.5\n2,short,3.5\n")).unwrap();
    let (status, uploaded) = upload_file(&server.url, &csv).await;
    assert_eq!(status, 201, "{uploaded}");
    let id = uploaded["data"]["id"].as_str().unwrap().to_string();

    let (_, detail) = get_json(&server.url, &format!("/datasets/{id}")).await;
    let note = detail["data"]["preview"][0]["note"].as_str().unwrap();
    assert!(note.len() < 1000 && note.starts_with("xxxx") && note.ends_with("[cut, 300000 characters]"), "{note:.300}");
    assert_eq!(detail["data"]["preview"][1]["note"], "short");
    assert_eq!(detail["data"]["columns"].as_array().unwrap().len(), 3);
    let stored = std::fs::read(dir.path().join(format!("data/store/datasets/{id}/meta.json"))).unwrap();
    assert!(stored.len() < 10_000, "the record is {} bytes", stored.len());

    let (_, list) = get_json(&server.url, "/datasets").await;
    let summary = &list["data"][0];
    // The kit signs in as an admin, whose listings name each dataset's owner.
    assert_eq!(keys(summary), ["columns", "createdAt", "format", "id", "name", "owner", "rows", "sizeBytes"]);
    assert_eq!(summary["owner"], "admin");
    assert_eq!((summary["id"].as_str(), summary["rows"].as_u64(), summary["columns"].as_u64()), (Some(id.as_str()), Some(2), Some(3)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_refuses_wrong_typed_cells_and_names_every_missing_column() {
    let dir = temp_dir();
    let (server, dataset) = serve_with_penguins(dir.path()).await;
    let url = &server.url;
    let job = submit(url, &baseline_job(&dataset)).await;
    assert_eq!(wait_status(url, &job, &["completed", "failed"], Duration::from_secs(60)).await["status"], "completed");
    let predict = format!("/jobs/{job}/predict");
    let row = |bill: Value| json!({"island": "Biscoe", "bill_length_mm": bill, "bill_depth_mm": 17.0, "flipper_length_mm": 200, "body_mass_g": 4000, "sex": "male", "year": 2008});

    let (status, body) = post_json(url, &predict, &json!({"rows": [row(json!(40.1)), row(json!("forty")), row(json!(true))]})).await;
    assert_eq!((status, body["error"]["code"].as_str(), body["error"]["field"].as_str()), (422, Some("invalid_rows"), Some("rows")), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("column `bill_length_mm`") && message.contains("row 2 has \"forty\"") && message.contains("row 3 has \"true\""), "{message}");

    let (status, body) = post_json(url, &predict, &json!({"rows": [{"island": "Biscoe", "sex": "male"}]})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_rows")), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    for column in ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"] {
        assert!(message.contains(&format!("`{column}`")), "{column} missing from: {message}");
    }

    // An uploaded table with a word in a number column.
    let csv = dir.path().join("typo.csv");
    let mut text = std::fs::read_to_string(testdata("penguins.csv")).unwrap();
    text = text.replacen("Adelie,Torgersen,39.1,", "Adelie,Torgersen,oops,", 1);
    std::fs::write(&csv, text).unwrap();
    let typo = upload(url, &csv).await;
    let (status, body) = post_json(url, &predict, &json!({"datasetId": typo["id"]})).await;
    assert_eq!((status, body["error"]["code"].as_str(), body["error"]["field"].as_str()), (422, Some("invalid_table"), Some("datasetId")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("row 1 has \"oops\""), "{body}");

    // The good rows still predict.
    let (status, body) = post_json(url, &predict, &json!({"rows": [row(json!(40.1)), row(Value::Null)]})).await;
    assert_eq!(status, 200, "{body}");
}
