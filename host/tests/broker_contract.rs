//! One contract, two brokers: the embedded one and Redis (under its own key
//! prefix, deleted at the end) must behave the same.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use trainhost::jobs::{Ending, Event, JobQuery, JobResults, JobSpec, JobStatus};
use trainhost::queue::{embedded::EmbeddedBroker, redis::RedisBroker, Broker, BrokerError, CancelOutcome, ReapPolicy};

use common::{redis_prefix, temp_dir, REDIS};

fn spec(plugin: &str) -> JobSpec {
    JobSpec {
        dataset_id: uuid::Uuid::new_v4().to_string(),
        target_column: Some("y".into()),
        task_type: "classification".into(),
        model_config: serde_json::from_value(json!({"selectedModel": plugin})).unwrap(),
        plugin: plugin.into(),
        params: Default::default(),
        seed: 1,
        test_fraction: 0.2,
        plugin_validation_fraction: 0.1,
        folds: 0,
        columns: Default::default(),
        owner: None,
        labels: Default::default(),
        max_instances: None,
    }
}

/// The results of a completed job, in the shape a worker stores them.
fn results(job_id: &str, accuracy: f64) -> JobResults {
    let metrics = json!({"accuracy": accuracy, "f1_macro": 0.85});
    serde_json::from_value(json!({
        "accuracy": accuracy, "dropped_log_lines": 0, "headline_metric": "accuracy", "log": [], "metrics": metrics,
        "model_path": format!("/jobs/{job_id}/model"), "status": "completed",
        "summary": {"evaluated_on": "holdout", "feature_importances": null, "metrics": {"headline": accuracy, "headline_name": "accuracy", "values": metrics},
            "plugin_metrics": {}, "rows_train": 8, "rows_validation": 2, "skipped_columns": []},
    }))
    .expect("results in the stored shape")
}

fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn contract(broker: Arc<dyn Broker>) {
    let wait = Duration::from_millis(200);
    // Submit: queued, seq 1.
    let a = id();
    let record = broker.submit(&a, spec("baseline")).await.unwrap();
    assert_eq!((record.status, record.last_seq), (JobStatus::Queued, 1));
    assert_eq!(broker.queue_depth().await.unwrap(), 1);

    // Live subscription taken before the claim sees every later event in order.
    let mut live = broker.subscribe(&a).await.unwrap();
    let claim = broker.claim("w1", wait).await.unwrap().expect("a queued job is claimed");
    assert_eq!(claim.job_id(), a);
    assert_eq!(claim.job.status, JobStatus::Running);
    assert_eq!(claim.job.attempts, 1);
    assert!(broker.claim("w2", Duration::from_millis(50)).await.unwrap().is_none(), "one job, one claim");

    let seq = broker.emit(&claim, Event::progress(&a, 1, 2, Default::default())).await.unwrap();
    assert_eq!(seq, 3);
    broker.finish(&claim, Ending::Failed("boom".into())).await.unwrap();
    let done = broker.get(&a).await.unwrap().unwrap();
    assert_eq!((done.status, done.error.as_deref(), done.last_seq), (JobStatus::Failed, Some("boom"), 4));
    // A finished claim is stale: nothing more is written.
    assert!(matches!(broker.emit(&claim, Event::progress(&a, 2, 2, Default::default())).await, Err(BrokerError::Stale(_))));
    assert!(matches!(broker.finish(&claim, Ending::Failed("late".into())).await, Err(BrokerError::Stale(_))));

    let stored = broker.events_after(&a, 0).await.unwrap();
    let seqs: Vec<u64> = stored.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert!(stored[3].terminal && stored[3].json.contains(r#""type":"error""#));
    assert_eq!(broker.events_after(&a, 2).await.unwrap().len(), 2);
    let mut got = vec![];
    while got.len() < 3 {
        let e = tokio::time::timeout(Duration::from_secs(2), live.receiver.recv()).await.expect("live events arrive").unwrap();
        got.push(e.seq);
    }
    assert_eq!(got, [2, 3, 4]);

    // Cancel: queued -> cancelled at once; running -> flag; ended -> reported.
    let b = id();
    broker.submit(&b, spec("baseline")).await.unwrap();
    assert_eq!(broker.cancel(&b).await.unwrap(), CancelOutcome::Cancelled);
    assert_eq!(broker.get(&b).await.unwrap().unwrap().status, JobStatus::Cancelled);
    assert!(broker.claim("w1", Duration::from_millis(50)).await.unwrap().is_none(), "a cancelled job is never claimed");
    assert_eq!(broker.cancel(&b).await.unwrap(), CancelOutcome::AlreadyEnded(JobStatus::Cancelled));
    let c = id();
    broker.submit(&c, spec("other")).await.unwrap();
    let claim_c = broker.claim("w1", wait).await.unwrap().unwrap();
    assert!(!broker.cancel_requested(&c).await.unwrap());
    let mut requests = broker.cancel_requests();
    assert_eq!(broker.cancel(&c).await.unwrap(), CancelOutcome::Requested);
    assert!(broker.cancel_requested(&c).await.unwrap());
    // The request is announced (Redis: over pub/sub), so the worker need not wait for its next read of the flag.
    let announced = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if requests.recv().await.unwrap() == c {
                break;
            }
        }
    });
    announced.await.expect("the cancel request of a running job is announced");
    broker.finish(&claim_c, Ending::Cancelled("Training cancelled".into())).await.unwrap();
    assert!(matches!(broker.cancel("00000000-0000-0000-0000-000000000000").await, Err(BrokerError::NotFound(_))));

    // Graceful re-queue does not count the attempt; the job is claimed again first.
    let d = id();
    broker.submit(&d, spec("baseline")).await.unwrap();
    let claim_d = broker.claim("w1", wait).await.unwrap().unwrap();
    broker.requeue(&claim_d).await.unwrap();
    assert!(matches!(broker.emit(&claim_d, Event::progress(&d, 1, 1, Default::default())).await, Err(BrokerError::Stale(_))));
    let again = broker.claim("w2", wait).await.unwrap().unwrap();
    assert_eq!((again.job_id(), again.job.attempts), (d.as_str(), 1));

    // Reaper: a silent worker's job is re-queued, and fails after max attempts.
    let policy = ReapPolicy { dead_after: Duration::from_millis(300), max_attempts: 2 };
    broker.heartbeat("w2").await.unwrap();
    assert!(broker.reap(policy).await.unwrap().is_empty(), "a live worker keeps its job");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(broker.reap(policy).await.unwrap(), std::slice::from_ref(&d));
    assert!(matches!(broker.emit(&again, Event::progress(&d, 1, 1, Default::default())).await, Err(BrokerError::Stale(_))), "the dead worker's claim is void");
    let third = broker.claim("w3", wait).await.unwrap().unwrap();
    assert_eq!(third.job.attempts, 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(broker.reap(policy).await.unwrap(), std::slice::from_ref(&d));
    let failed = broker.get(&d).await.unwrap().unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert!(failed.error.unwrap().contains("after 2 attempts"));

    // Listing: newest first, filtered, paged.
    let page = broker.list(&JobQuery { limit: 2, ..Default::default() }).await.unwrap();
    assert_eq!(page.total, 4);
    assert_eq!(page.jobs.len(), 2);
    assert_eq!(page.jobs[0].job_id, d);
    let failed = broker.list(&JobQuery { status: Some(JobStatus::Failed), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(failed.total, 2);
    let other = broker.list(&JobQuery { plugin: Some("other".into()), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(other.jobs[0].job_id, c);

    // FIFO order across many jobs.
    let ids: Vec<String> = (0..5).map(|_| id()).collect();
    for i in &ids {
        broker.submit(i, spec("baseline")).await.unwrap();
    }
    // Where each waits: 1 is taken next; a job not in the queue has no place.
    for (n, i) in ids.iter().enumerate() {
        assert_eq!(broker.queue_position(i).await.unwrap(), Some(n as u64 + 1), "job {n}");
    }
    assert_eq!(broker.queue_position(&d).await.unwrap(), None, "a failed job is in no queue");
    for i in &ids {
        let claim = broker.claim("w4", wait).await.unwrap().unwrap();
        assert_eq!(broker.queue_position(i).await.unwrap(), None, "a claimed job left the queue");
        assert_eq!(claim.job_id(), i);
        broker.finish(&claim, Ending::Completed { results: results(i, 1.0) }).await.unwrap();
    }
}

#[tokio::test]
async fn embedded_broker_keeps_the_contract() {
    let dir = temp_dir();
    contract(Arc::new(EmbeddedBroker::open(dir.path()).unwrap())).await;
}

#[tokio::test]
async fn embedded_broker_survives_a_restart() {
    let dir = temp_dir();
    let (queued, running) = (id(), id());
    {
        let broker = EmbeddedBroker::open(dir.path()).unwrap();
        assert!(EmbeddedBroker::open(dir.path()).is_err(), "one process per data dir");
        broker.submit(&running, spec("baseline")).await.unwrap();
        broker.submit(&queued, spec("baseline")).await.unwrap();
        broker.claim("w", Duration::from_millis(100)).await.unwrap().unwrap();
    }
    let broker = EmbeddedBroker::open(dir.path()).unwrap();
    let first = broker.claim("w", Duration::from_millis(100)).await.unwrap().unwrap();
    let second = broker.claim("w", Duration::from_millis(100)).await.unwrap().unwrap();
    let mut claimed = [first.job_id().to_string(), second.job_id().to_string()];
    claimed.sort();
    let mut expected = [queued, running.clone()];
    expected.sort();
    assert_eq!(claimed, expected);
    let events = broker.events_after(&running, 0).await.unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4], "queued, running, re-queued after restart, running again");
}

#[tokio::test]
async fn redis_broker_keeps_the_contract() {
    let prefix = redis_prefix();
    let broker = Arc::new(RedisBroker::connect(REDIS, &prefix).await.expect("Redis at 127.0.0.1:6379 (scripts/test starts it)"));
    contract(broker.clone()).await;
    assert!(broker.delete_all_keys().await.unwrap() > 0);
}

/// Redis drops a job's event stream a week after the job ends; a client that
/// asks later still learns how it ended, from the record, in the same shape.
#[tokio::test]
async fn redis_rebuilds_the_terminal_event_once_the_stream_expired() {
    let prefix = redis_prefix();
    let broker = RedisBroker::connect(REDIS, &prefix).await.expect("Redis at 127.0.0.1:6379 (scripts/test starts it)");
    let mut raw = redis::Client::open(REDIS).unwrap().get_multiplexed_async_connection().await.unwrap();

    let (done, cancelled) = (id(), id());
    broker.submit(&done, spec("baseline")).await.unwrap();
    let claim = broker.claim("w", Duration::from_millis(200)).await.unwrap().unwrap();
    broker.emit(&claim, Event::progress(&done, 1, 1, Default::default())).await.unwrap();
    broker.finish(&claim, Ending::Completed { results: results(&done, 0.9) }).await.unwrap();
    broker.submit(&cancelled, spec("baseline")).await.unwrap();
    assert_eq!(broker.cancel(&cancelled).await.unwrap(), CancelOutcome::Cancelled);

    for job in [&done, &cancelled] {
        let original = broker.events_after(job, 0).await.unwrap().pop().unwrap();
        assert!(original.terminal);
        let deleted: u64 = redis::cmd("DEL").arg(format!("{prefix}:events:{job}")).query_async(&mut raw).await.unwrap();
        assert_eq!(deleted, 1, "the stream existed");
        let rebuilt = broker.events_after(job, 0).await.unwrap();
        assert_eq!(rebuilt.len(), 1);
        assert_eq!((rebuilt[0].seq, rebuilt[0].terminal), (original.seq, true));
        assert_eq!(rebuilt[0].json.as_str(), original.json.as_str(), "the same text as the event first sent");
        assert!(broker.events_after(job, original.seq).await.unwrap().is_empty(), "nothing after the terminal event");
    }
    let record = broker.get(&cancelled).await.unwrap().unwrap();
    assert_eq!(record.error.as_deref(), Some(trainhost::jobs::CANCELLED_BEFORE_START));
    assert!(matches!(broker.events_after(&id(), 0).await, Err(BrokerError::NotFound(_))));
    assert!(broker.delete_all_keys().await.unwrap() > 0);
}
