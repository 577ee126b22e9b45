//! Several `trainhost` processes against the real Redis (each test under its
//! own key prefix, deleted at the end): sockets on another API node, a worker
//! killed with SIGKILL mid-job, a job that keeps killing its workers, and a
//! cancel from one node stopping a job on another.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// The pid inside a worker id (`host-pid-random`).
fn worker_pid(worker: &str) -> u32 {
    worker.rsplit('-').nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_before_during_and_after_a_job_on_another_api_node_get_every_event_once_in_order() {
    let dir = temp_dir();
    let setup = Setup::redis(dir.path());
    let api_a = Process::serve(&setup, &[]);
    let api_b = Process::serve(&setup, &["--api-only"]);
    wait_ready(&api_a.url).await;
    wait_ready(&api_b.url).await;
    let ds = upload(&api_a.url, &testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();

    let job = submit(&api_a.url, &slow_job(&ds, 10, 100)).await;
    let before = open_ws(&api_b.url, &job).await;
    let before_a = open_ws(&api_a.url, &job).await;
    let before = tokio::spawn(collect(before, Duration::from_secs(30)));
    let before_a = tokio::spawn(collect(before_a, Duration::from_secs(30)));
    // During: once a few epochs are out.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = get_json(&api_b.url, &format!("/jobs/{job}")).await;
        if body["data"]["progress"].as_u64().unwrap_or(0) >= 30 {
            break;
        }
        assert!(Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let during = collect(open_ws(&api_b.url, &job).await, Duration::from_secs(30)).await;
    let before = before.await.unwrap();
    let before_a = before_a.await.unwrap();
    let after = collect(open_ws(&api_b.url, &job).await, Duration::from_secs(5)).await;

    assert_complete_sequence(&before, "complete");
    assert_eq!(before.iter().filter(|e| e["type"] == "progress").count(), 10);
    assert_eq!(before_a, before);
    assert_eq!(during, before);
    assert_eq!(after, before);
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_is_replaced_and_another_worker_finishes_the_job() {
    let dir = temp_dir();
    let mut setup = Setup::redis(dir.path());
    setup.concurrency = 1;
    let api = Process::serve(&setup, &["--api-only"]);
    wait_ready(&api.url).await;
    let ds = upload(&api.url, &testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();
    let mut first = Process::worker(&setup);

    let job = submit(&api.url, &slow_job(&ds, 15, 100)).await;
    let socket = open_ws(&api.url, &job).await;
    let running = wait_status(&api.url, &job, &["running"], Duration::from_secs(10)).await;
    assert_eq!(worker_pid(running["worker"].as_str().unwrap_or_default()), first.pid);
    tokio::time::sleep(Duration::from_millis(400)).await;
    first.kill9();
    let _second = Process::worker(&setup);

    let events = collect(socket, Duration::from_secs(30)).await;
    assert_complete_sequence(&events, "complete");
    let requeued = events.iter().find(|e| e["type"] == "status" && e["status"] == "queued" && e["seq"].as_u64() > Some(1));
    assert!(requeued.unwrap()["message"].as_str().unwrap().contains("stopped responding"), "{events:?}");
    let record = wait_status(&api.url, &job, &["completed"], Duration::from_secs(1)).await;
    assert_eq!(record["attempts"], 2);
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_keeps_killing_its_worker_fails_after_max_attempts_with_a_clear_error() {
    let dir = temp_dir();
    let mut setup = Setup::redis(dir.path());
    setup.concurrency = 1;
    setup.max_attempts = 2;
    setup.dead_after_secs = 1.0;
    let api = Process::serve(&setup, &["--api-only"]);
    wait_ready(&api.url).await;
    let ds = upload(&api.url, &testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();
    let job = submit(&api.url, &slow_job(&ds, 100, 100)).await;
    let socket = open_ws(&api.url, &job).await;
    let mut killed = 0;
    let mut worker = Process::worker(&setup);
    for attempt in 1..=2 {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (_, body) = get_json(&api.url, &format!("/jobs/{job}")).await;
            let record = &body["data"];
            if record["status"] == "running" && record["attempts"] == attempt && record["worker"].as_str().is_some_and(|w| worker_pid(w) == worker.pid) {
                break;
            }
            assert!(Instant::now() < deadline, "attempt {attempt} never started: {body}");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        worker.kill9();
        killed += 1;
        worker = Process::worker(&setup);
    }
    let events = collect(socket, Duration::from_secs(20)).await;
    assert_complete_sequence(&events, "error");
    let message = events.last().unwrap()["message"].as_str().unwrap();
    assert!(message.contains("failed after 2 attempts") && message.contains("stopped responding"), "{message}");
    let record = wait_status(&api.url, &job, &["failed"], Duration::from_secs(1)).await;
    assert_eq!(record["attempts"], 2);
    assert_eq!(killed, 2);
    drop(worker);
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_on_one_node_stops_a_job_running_on_another_within_a_second() {
    let dir = temp_dir();
    let mut setup = Setup::redis(dir.path());
    // Far longer than the second the cancel is given: only the request announced over pub/sub can stop it in time.
    setup.cancel_poll_secs = 30.0;
    let api_a = Process::serve(&setup, &["--api-only"]);
    wait_ready(&api_a.url).await;
    let _worker = Process::worker(&setup);
    let ds = upload(&api_a.url, &testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();
    // The endless loop never polls cancelled(): only the host's hard stop ends it.
    let job = submit(
        &api_a.url,
        &json!({"datasetId": ds, "targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "endless_loop"}}),
    )
    .await;
    wait_status(&api_a.url, &job, &["running"], Duration::from_secs(10)).await;
    let api_b = Process::serve(&setup, &["--api-only"]);
    wait_ready(&api_b.url).await;
    let socket = open_ws(&api_a.url, &job).await;
    let started = Instant::now();
    let (status, body) = post_json(&api_b.url, &format!("/jobs/{job}/cancel"), &json!({})).await;
    assert_eq!(status, 202, "{body}");
    let events = collect(socket, Duration::from_secs(5)).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "cancel took {took:?}");
    assert_complete_sequence(&events, "cancelled");
    wait_status(&api_b.url, &job, &["cancelled"], Duration::from_secs(1)).await;
    setup.cleanup().await;
}
