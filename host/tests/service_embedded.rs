//! `trainhost serve` with the embedded broker, as a new user runs it: the
//! older contract's JSON through a whole `baseline` job, the validation
//! errors, datasets, the service routes, and a kill -9 and restart with jobs
//! queued.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baseline_job_speaks_the_older_contract_end_to_end() {
    let dir = temp_dir();
    let setup = Setup::embedded(dir.path());
    let server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    let url = &server.url;

    let dataset = upload(url, &testdata("penguins.csv")).await;
    let dataset_id = dataset["id"].as_str().unwrap();
    assert_eq!(dataset["rows"], 344);
    assert!(dataset["columns"].as_array().unwrap().iter().any(|c| c["name"] == "species" && c["kind"] == "categorical"));

    // A socket opened before the job exists cannot be; one opened right after submit sees everything.
    let (status, body) = post_json(url, "/train", &baseline_job(dataset_id)).await;
    assert_eq!(status, 202);
    assert_eq!(keys(&body), ["data"]);
    assert_eq!(keys(&body["data"]), ["jobId", "message", "status"]);
    assert_eq!(body["data"]["status"], "queued");
    let job = body["data"]["jobId"].as_str().unwrap().to_string();
    let events = collect(open_ws(url, &job).await, Duration::from_secs(30)).await;
    assert_complete_sequence(&events, "complete");

    assert_eq!(events[0], json!({"type": "status", "seq": 1, "jobId": job, "status": "queued"}));
    assert_eq!(events[1]["type"], "status");
    assert_eq!(events[1]["status"], "running");
    let progress: Vec<&Value> = events.iter().filter(|e| e["type"] == "progress").collect();
    assert!(!progress.is_empty(), "{events:?}");
    for p in &progress {
        assert_eq!(keys(p), ["epoch", "jobId", "message", "metrics", "progress", "seq", "total_epochs", "type"]);
        assert!(p["message"].as_str().unwrap().starts_with(&format!("Epoch {}/{}", p["epoch"], p["total_epochs"])));
    }
    let complete = events.last().unwrap();
    assert_eq!(keys(complete), ["jobId", "message", "progress", "results", "seq", "type"]);
    assert_eq!(complete["progress"], 100);
    assert_eq!(complete["message"], "Training completed successfully!");
    assert_eq!(keys(&complete["results"]), ["accuracy", "metrics", "model_path", "status"]);
    assert_eq!(complete["results"]["status"], "completed");
    let accuracy = complete["results"]["accuracy"].as_f64().unwrap();
    assert!((0.40..0.50).contains(&accuracy), "majority class on penguins: {accuracy}");
    assert_eq!(complete["results"]["model_path"], format!("/jobs/{job}/model"));

    // The same job over GET, in the list, and its model.
    let (status, body) = get_json(url, &format!("/jobs/{job}")).await;
    assert_eq!(status, 200);
    let record = &body["data"];
    assert_eq!(record["status"], "completed");
    assert_eq!(record["progress"], 100);
    assert_eq!(record["datasetId"], dataset_id);
    assert_eq!(record["targetColumn"], "species");
    assert_eq!(record["taskType"], "classification");
    assert_eq!(record["modelConfig"], json!({"selectedModel": "baseline"}));
    assert_eq!(record["attempts"], 1);
    assert_eq!(record["results"]["accuracy"].as_f64().unwrap(), accuracy);

    let (_, list) = get_json(url, "/jobs?status=completed&limit=10").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["data"][0]["jobId"], job);
    let (_, none) = get_json(url, "/jobs?status=failed").await;
    assert_eq!(none["total"], 0);

    let model = client().get(format!("{url}/jobs/{job}/model")).send().await.unwrap();
    assert_eq!(model.status(), 200);
    assert!(model.bytes().await.unwrap().starts_with(b"TRAINHOST-MODEL\n"));

    let (status, predictions) =
        post_json(url, &format!("/jobs/{job}/predict"), &json!({"rows": [{"island": "Biscoe", "bill_length_mm": 40.1, "bill_depth_mm": 18.0, "flipper_length_mm": 190.0, "body_mass_g": 3900.0, "sex": "male", "year": 2008}]})).await;
    assert_eq!(status, 200, "{predictions}");
    assert_eq!(predictions["data"]["labels"], json!(["Adelie"]));
    let (status, predictions) = post_json(url, &format!("/jobs/{job}/predict"), &json!({"datasetId": dataset_id})).await;
    assert_eq!(status, 200);
    assert_eq!(predictions["data"]["rows"], 344);

    // A socket opened after the end replays everything, then closes.
    let again = collect(open_ws(url, &job).await, Duration::from_secs(5)).await;
    assert_eq!(again, events);

    // /api/jobs is the same route.
    let (status, body) = post_json(url, "/api/jobs", &baseline_job(dataset_id)).await;
    assert_eq!(status, 202);
    let second = body["data"]["jobId"].as_str().unwrap();
    wait_status(url, second, &["completed"], Duration::from_secs(30)).await;

    let (_, list) = get_json(url, "/jobs?limit=1&offset=1").await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["jobId"], job, "newest first, so the first job is on the second page");
}

/// The split fields of a request reach the worker, and the results count each part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_splits_its_rows_as_asked_and_counts_each_part() {
    let dir = temp_dir();
    let server = Process::serve(&Setup::embedded(dir.path()), &[]);
    wait_ready(&server.url).await;
    let url = &server.url;
    let dataset = upload(url, &testdata("penguins.csv")).await;
    let ds = dataset["id"].as_str().unwrap();
    let counts = |job: &Value| {
        let summary = &job["results"]["summary"];
        (summary["rows_train"].as_u64(), summary["rows_validation"].as_u64(), summary["rows_test"].as_u64(), summary["evaluated_on"].clone())
    };
    // Penguins: 152 Adelie, 68 Chinstrap, 124 Gentoo; each class split on its own.
    let asked = [
        (json!({"testFraction": 0.25, "pluginValidationFraction": 0.15}), (206, 52, 86)),
        // The older contract's field alone: the same test rows as before, and the default validation share.
        (json!({"validationFraction": 0.2}), (241, 34, 69)),
        (json!({"testFraction": 0.2, "pluginValidationFraction": 0}), (275, 0, 69)),
    ];
    for (fractions, (train, validation, test)) in asked {
        let mut body = baseline_job(ds);
        body.as_object_mut().unwrap().extend(fractions.as_object().unwrap().clone());
        let job = submit(url, &body).await;
        let record = wait_status(url, &job, &["completed"], Duration::from_secs(30)).await;
        assert_eq!(counts(&record), (Some(train), Some(validation), Some(test), json!("holdout")), "{fractions}");
    }
    let mut body = baseline_job(ds);
    body["testFraction"] = json!(0);
    let record = wait_status(url, &submit(url, &body).await, &["completed"], Duration::from_secs(30)).await;
    assert_eq!(counts(&record), (Some(310), Some(34), Some(0), json!("train")), "no test part: the metrics say they are on the training rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_validation_error_is_a_4xx_naming_the_field_and_stores_nothing() {
    let dir = temp_dir();
    let setup = Setup::embedded(dir.path());
    let server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    let url = &server.url;
    let dataset = upload(url, &testdata("penguins.csv")).await;
    let ds = dataset["id"].as_str().unwrap();
    let missing_ds = uuid::Uuid::new_v4().to_string();

    let cases: Vec<(Value, u16, &str, &str, &str)> = vec![
        (
            json!({"datasetId": ds, "targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "xgboost"}}),
            422,
            "unknown_plugin",
            "modelConfig.selectedModel",
            "enabled plugins: baseline",
        ),
        (
            json!({"datasetId": ds, "targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "panic"}}),
            422,
            "plugin_disabled",
            "modelConfig.selectedModel",
            "disabled",
        ),
        (
            json!({"datasetId": ds, "targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "slow", "nEstimators": 5}}),
            422,
            "invalid_parameter",
            "modelConfig.nEstimators",
            "unknown parameter",
        ),
        (
            json!({"datasetId": ds, "taskType": "clustering", "modelConfig": {"selectedModel": "slow", "epochs": 0}}),
            422,
            "invalid_parameter",
            "modelConfig.epochs",
            "epochs",
        ),
        (
            json!({"datasetId": ds, "taskType": "clustering", "modelConfig": {"selectedModel": "slow", "epochs": "many"}}),
            422,
            "invalid_parameter",
            "modelConfig.epochs",
            "epochs",
        ),
        (
            json!({"datasetId": missing_ds, "targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "baseline"}}),
            404,
            "dataset_not_found",
            "datasetId",
            "POST /datasets",
        ),
        (
            json!({"datasetId": "../../etc/passwd", "targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "baseline"}}),
            404,
            "dataset_not_found",
            "datasetId",
            "no dataset",
        ),
        (
            json!({"targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "baseline"}}),
            400,
            "missing_field",
            "datasetId",
            "required",
        ),
        (
            json!({"datasetId": ds, "targetColumn": "colour", "taskType": "classification", "modelConfig": {"selectedModel": "baseline"}}),
            422,
            "unknown_column",
            "targetColumn",
            "species",
        ),
        (
            json!({"datasetId": ds, "taskType": "classification", "modelConfig": {"selectedModel": "baseline"}}),
            400,
            "missing_field",
            "targetColumn",
            "required",
        ),
        (
            json!({"datasetId": ds, "targetColumn": "species", "taskType": "regression", "modelConfig": {"selectedModel": "baseline"}}),
            422,
            "invalid_target",
            "targetColumn",
            "numeric",
        ),
        (json!({"datasetId": ds, "targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "endless_loop"}}), 202, "", "", ""),
        (
            json!({"datasetId": ds, "targetColumn": "species", "taskType": "forecasting", "modelConfig": {"selectedModel": "baseline"}}),
            422,
            "invalid_task",
            "taskType",
            "classification, regression or clustering",
        ),
        (json!({"datasetId": ds, "targetColumn": "species", "taskType": "classification"}), 400, "missing_field", "modelConfig", "selectedModel"),
        (
            json!({"datasetId": ds, "targetColumn": "species", "taskType": "classification", "modelConfig": {}}),
            400,
            "missing_field",
            "modelConfig.selectedModel",
            "GET /plugins",
        ),
        (
            json!({"datasetId": ds, "targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "baseline"}, "testFraction": 0.95}),
            422,
            "invalid_field",
            "testFraction",
            "from 0 to 0.9",
        ),
        (
            json!({"datasetId": ds, "targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "baseline"}, "validationFraction": 0.6, "pluginValidationFraction": 0.4}),
            422,
            "invalid_field",
            "pluginValidationFraction",
            "at most 0.9",
        ),
    ];
    let mut accepted = 0;
    for (body, status, code, field, hint) in &cases {
        let (got, response) = post_json(url, "/train", body).await;
        assert_eq!(got, *status, "{body} -> {response}");
        if *status == 202 {
            accepted += 1;
            continue;
        }
        let error = &response["error"];
        assert_eq!(error["code"], *code, "{body} -> {response}");
        assert_eq!(error["field"], *field, "{body} -> {response}");
        assert!(error["message"].as_str().unwrap().contains(hint), "{body} -> {response}");
    }
    // Not JSON at all.
    let response = client().post(format!("{url}/train")).body("{not json").send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "invalid_json");

    // Only the one valid request became a job.
    let (_, list) = get_json(url, "/jobs").await;
    assert_eq!(list["total"], accepted);

    // Upload errors store nothing either.
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(b"a,b\n1,2\n".to_vec()).file_name("x.exe"));
    let response = client().post(format!("{url}/datasets")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 415);
    let big = vec![b'1'; 2 << 20];
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(big).file_name("big.csv"));
    let response = client().post(format!("{url}/datasets")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "upload_too_large");
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(b"".to_vec()).file_name("empty.csv"));
    let response = client().post(format!("{url}/datasets")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let (_, datasets) = get_json(url, "/datasets").await;
    assert_eq!(datasets["data"].as_array().unwrap().len(), 1);
    let leftovers = std::fs::read_dir(dir.path().join("data/uploads")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "failed uploads leave no temp files");

    // Paths that are not ids never reach storage.
    let (status, _) = get_json(url, "/datasets/..%2F..%2Fetc").await;
    assert_eq!(status, 404);
    let (status, body) = get_json(url, "/jobs/not-a-job").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("job_not_found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datasets_plugins_and_service_routes() {
    let dir = temp_dir();
    let server = Process::serve(&Setup::embedded(dir.path()), &[]);
    wait_ready(&server.url).await;
    let url = &server.url;
    let a = upload(url, &testdata("iris.csv")).await;
    let id = a["id"].as_str().unwrap();
    let (status, body) = get_json(url, &format!("/datasets/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["rows"], 150);
    assert_eq!(body["data"]["preview"].as_array().unwrap().len(), 10);
    let (_, list) = get_json(url, "/datasets").await;
    assert_eq!(list["data"][0]["id"], id);
    let response = client().delete(format!("{url}/datasets/{id}")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let (status, _) = get_json(url, &format!("/datasets/{id}")).await;
    assert_eq!(status, 404);

    let (_, plugins) = get_json(url, "/plugins").await;
    let names: Vec<&str> = plugins["data"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["baseline", "endless_loop", "kmodes", "random_forest", "slow"]);
    let slow = plugins["data"].as_array().unwrap().iter().find(|p| p["name"] == "slow").unwrap();
    assert_eq!(slow["params"][0]["name"], "epochs");

    assert_eq!(get_json(url, "/healthz").await.0, 200);
    let metrics = client().get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("trainhost_queue_depth 0"), "{metrics}");
    assert!(metrics.contains("# TYPE trainhost_jobs_completed_total counter"));
    let (_, doc) = get_json(url, "/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    for route in trainhost::api::docs::ROUTES {
        assert!(doc["paths"][route.path][route.method].is_object(), "{} {}", route.method, route.path);
    }
    let docs = client().get(format!("{url}/docs")).send().await.unwrap().text().await.unwrap();
    assert!(docs.contains("/openapi.json") && !docs.contains("https://"), "the docs page needs no internet");
    let (status, body) = get_json(url, "/nope").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_restart_with_jobs_queued_loses_nothing() {
    let dir = temp_dir();
    let setup = Setup::embedded(dir.path());
    // API only: nothing runs the jobs, so they are all still queued when the process dies.
    let mut server = Process::serve(&setup, &["--api-only"]);
    wait_ready(&server.url).await;
    let dataset = upload(&server.url, &testdata("penguins.csv")).await;
    let ds = dataset["id"].as_str().unwrap();
    let mut jobs = vec![];
    for _ in 0..5 {
        jobs.push(submit(&server.url, &baseline_job(ds)).await);
    }
    jobs.push(submit(&server.url, &slow_job(ds, 3, 50)).await);
    server.kill9();

    let server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    for job in &jobs {
        let events = collect(open_ws(&server.url, job).await, Duration::from_secs(30)).await;
        assert_complete_sequence(&events, "complete");
        assert_eq!(events[0]["status"], "queued");
    }
    let (_, list) = get_json(&server.url, "/jobs?status=completed").await;
    assert_eq!(list["total"], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_is_cancelled_and_a_stopping_server_requeues_nothing_lost() {
    let dir = temp_dir();
    let mut setup = Setup::embedded(dir.path());
    setup.grace_secs = 0.5;
    // Far longer than the second the cancel is given: only the announcement of the request can stop it in time.
    setup.cancel_poll_secs = 30.0;
    let mut server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    let ds = upload(&server.url, &testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();

    let job = submit(&server.url, &slow_job(&ds, 100, 100)).await;
    wait_status(&server.url, &job, &["running"], Duration::from_secs(10)).await;
    let socket = open_ws(&server.url, &job).await;
    let started = std::time::Instant::now();
    let (status, body) = post_json(&server.url, &format!("/jobs/{job}/cancel"), &json!({})).await;
    assert_eq!(status, 202, "{body}");
    let events = collect(socket, Duration::from_secs(5)).await;
    assert!(started.elapsed() < Duration::from_secs(1), "cancel took {:?}", started.elapsed());
    assert_complete_sequence(&events, "cancelled");
    let (status, _) = post_json(&server.url, &format!("/jobs/{job}/cancel"), &json!({})).await;
    assert_eq!(status, 409);

    // SIGTERM with a job running past the grace period: it goes back on the queue...
    let long = submit(&server.url, &slow_job(&ds, 30, 100)).await;
    wait_status(&server.url, &long, &["running"], Duration::from_secs(10)).await;
    assert!(server.terminate().success());
    // ...and the next start runs it to the end.
    let server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    let events = collect(open_ws(&server.url, &long).await, Duration::from_secs(30)).await;
    assert_complete_sequence(&events, "complete");
    assert!(events.iter().any(|e| e["message"].as_str().is_some_and(|m| m.contains("shutting down"))), "{events:?}");
    let record = wait_status(&server.url, &long, &["completed"], Duration::from_secs(1)).await;
    assert_eq!(record["attempts"], 1, "a graceful re-queue does not count as an attempt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugins_log_lines_come_back_with_the_results() {
    let dir = temp_dir();
    let (server, dataset) = serve_with_penguins(dir.path()).await;
    let url = &server.url;
    let job = submit(url, &json!({"datasetId": dataset, "taskType": "clustering", "modelConfig": {"selectedModel": "kmodes", "nClusters": 3}})).await;
    let record = wait_status(url, &job, &["completed", "failed"], Duration::from_secs(60)).await;
    assert_eq!(record["status"], "completed", "{record}");
    let log = record["results"]["log"].as_array().expect("results.log is a list");
    // penguins mixes text and number columns: k-prototypes, on every row.
    assert!(log.iter().any(|line| line["level"] == "info" && line["message"].as_str().unwrap().starts_with("KPrototypes: 344 rows")), "{log:?}");
    assert_eq!(record["results"]["dropped_log_lines"], 0);

    // A plugin that logs nothing gets an empty list.
    let quiet = submit(url, &baseline_job(&dataset)).await;
    let record = wait_status(url, &quiet, &["completed"], Duration::from_secs(30)).await;
    assert_eq!(record["results"]["log"], json!([]));
}

/// A client that stops reading is dropped (it falls more than the buffer
/// behind, or takes nothing for 10 s); a socket reading the same job gets
/// every event, in order, all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_the_others_get_every_event() {
    let dir = temp_dir();
    let (server, dataset) = serve_with_penguins(dir.path()).await;
    let url = &server.url;
    let job = submit(url, &slow_job(&dataset, 3_000, 1)).await;

    let stalled = open_stalled_ws(url, &job).await;
    let events = collect(open_ws(url, &job).await, Duration::from_secs(120)).await;
    assert_complete_sequence(&events, "complete");
    assert_eq!(events.len(), 3_004, "queued, running, 3,000 epochs, storing the model, complete");

    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while slow_clients_dropped(url).await == 0 {
        assert!(std::time::Instant::now() < deadline, "the stalled socket was never dropped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // What it had taken before it stalled: the first events, in order, without the end.
    let taken = collect(stalled, Duration::from_secs(10)).await;
    assert!(taken.len() < events.len(), "{} events", taken.len());
    assert_eq!(taken[..], events[..taken.len()]);
}

/// A socket whose client never reads: a 4 KiB receive buffer and 536-byte
/// segments keep the server's send buffer small, so it fills within a few
/// hundred events.
async fn open_stalled_ws(url: &str, job: &str) -> Socket {
    use std::os::fd::AsRawFd;
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mss: libc::c_int = 536;
    // SAFETY: a valid socket descriptor and a c_int option of the size given.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MAXSEG,
            (&mss as *const libc::c_int).cast(),
            std::mem::size_of_val(&mss) as libc::socklen_t,
        )
    };
    assert_eq!(set, 0, "TCP_MAXSEG: {}", std::io::Error::last_os_error());
    let stream = socket.connect(addr).await.unwrap();
    let request = format!("ws://{addr}/ws/{job}?access_token={ADMIN_TOKEN}");
    tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream)).await.expect("opening the WebSocket").0
}

async fn slow_clients_dropped(url: &str) -> u64 {
    let metrics = client().get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    let line = metrics.lines().find(|l| l.starts_with("trainhost_websocket_slow_dropped_total ")).expect("the counter is exported");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}
