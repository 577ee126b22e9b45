//! How a job's record lives in its Redis hash `P:job:{id}`, both ways: the
//! record read back from the hash's fields, and a transition's writes in the
//! form the Lua `write_record` applies (a JSON list of `[op, field, value]`).
//!
//! Owns the hash's field names and encodings. It must not decide what a
//! transition writes (`jobs::lifecycle` does) or talk to Redis.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Serialize;

use crate::jobs::lifecycle::{ClaimChange, QueueEnd, Transition, Write};
use crate::jobs::{JobRecord, JobSpec, JobStatus};
use crate::queue::{BrokerError, Result};

/// One write of the Lua `write_record`: `[op, field, value]`.
#[derive(Debug, Serialize)]
struct HashWrite<'a>(&'static str, &'static str, Cow<'a, str>);

impl<'a> HashWrite<'a> {
    fn set(field: &'static str, value: impl Into<Cow<'a, str>>) -> Self {
        HashWrite("set", field, value.into())
    }

    fn add(field: &'static str, by: i64) -> Self {
        HashWrite("add", field, by.to_string().into())
    }

    fn del(field: &'static str) -> Self {
        HashWrite("del", field, "".into())
    }

    /// The field becomes the server's time (ms) when the script runs.
    fn stamp(field: &'static str) -> Self {
        HashWrite("stamp", field, "".into())
    }
}

fn to_json(writes: &[HashWrite]) -> String {
    serde_json::to_string(writes).expect("hash writes are plain strings")
}

/// The fields of a new job's hash (`submit`): those of its record that are set.
pub(super) fn new_record(record: &JobRecord) -> String {
    let spec = serde_json::to_string(&record.spec).expect("specs are plain data");
    to_json(&[
        HashWrite::set("spec", spec),
        HashWrite::set("status", record.status.as_str()),
        HashWrite::set("attempts", record.attempts.to_string()),
        HashWrite::set("progress", record.progress.to_string()),
        HashWrite::set("seq", record.last_seq.to_string()),
        HashWrite::set("cancel", if record.cancel_requested { "1" } else { "0" }),
        HashWrite::set("created_at", record.created_at.to_string()),
    ])
}

/// What `transition` writes on the hash: its status and fields, the claim
/// token (`granted` is the new one, for a claim) and the progress its event
/// carries.
pub(super) fn writes(transition: &Transition, granted: Option<&str>) -> String {
    let mut writes = vec![];
    if transition.to != transition.from {
        writes.push(HashWrite::set("status", transition.to.as_str()));
    }
    writes.extend(transition.writes.iter().map(field_write));
    match (transition.claim, granted) {
        (ClaimChange::Grant, Some(token)) => writes.push(HashWrite::set("token", token)),
        (ClaimChange::Release, _) => writes.push(HashWrite::del("token")),
        (ClaimChange::Grant, None) | (ClaimChange::Keep, _) => {}
    }
    if let Some(progress) = transition.event.as_ref().and_then(|e| e.progress_value()) {
        writes.push(HashWrite::set("progress", progress.to_string()));
    }
    to_json(&writes)
}

fn field_write(write: &Write) -> HashWrite<'_> {
    match write {
        Write::CountAttempt => HashWrite::add("attempts", 1),
        Write::UncountAttempt => HashWrite::add("attempts", -1),
        Write::Worker(worker) => HashWrite::set("worker", worker.as_str()),
        Write::ForgetWorker => HashWrite::del("worker"),
        Write::StartedNow => HashWrite::stamp("started_at"),
        Write::FinishedNow => HashWrite::stamp("finished_at"),
        Write::Error(message) => HashWrite::set("error", message.as_str()),
        Write::Results(results) => HashWrite::set("results", serde_json::to_string(results).expect("results are plain data")),
        Write::CancelRequested => HashWrite::set("cancel", "1"),
    }
}

/// The queue end as the Lua `enqueue` names it, or '' for a job not queued.
pub(super) fn queue_end(end: Option<QueueEnd>) -> &'static str {
    match end {
        Some(QueueEnd::Front) => "front",
        Some(QueueEnd::Back) => "back",
        None => "",
    }
}

/// The record of job `id` from its hash's fields; `None` when there is no such job.
pub(super) fn parse(id: &str, f: &HashMap<String, String>) -> Result<Option<JobRecord>> {
    let Some(spec) = f.get("spec") else { return Ok(None) };
    let bad = |what: &str| BrokerError::Backend(format!("job {id}: bad `{what}` field in Redis"));
    let spec: JobSpec = serde_json::from_str(spec).map_err(|_| bad("spec"))?;
    let num = |k: &str| f.get(k).and_then(|v| v.parse::<i64>().ok());
    let status = f.get("status").and_then(|s| JobStatus::parse(s)).ok_or_else(|| bad("status"))?;
    Ok(Some(JobRecord {
        job_id: id.to_string(),
        status,
        spec,
        progress: num("progress").unwrap_or(0).clamp(0, 100) as u8,
        attempts: num("attempts").unwrap_or(0).max(0) as u32,
        results: f.get("results").and_then(|r| serde_json::from_str(r).ok()),
        error: f.get("error").cloned(),
        cancel_requested: num("cancel").unwrap_or(0) != 0,
        worker: f.get("worker").cloned(),
        created_at: num("created_at").unwrap_or(0),
        started_at: num("started_at"),
        finished_at: num("finished_at"),
        last_seq: num("seq").unwrap_or(0).max(0) as u64,
    }))
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::jobs::lifecycle;
    use crate::jobs::{Ending, Event};

    #[test]
    fn a_claim_sets_status_attempt_worker_start_and_token() {
        assert_eq!(
            writes(&lifecycle::claim("j", "w1", 1), Some("t")),
            r#"[["set","status","running"],["add","attempts","1"],["set","worker","w1"],["stamp","started_at",""],["set","token","t"]]"#
        );
    }

    #[test]
    fn an_event_records_its_progress_only() {
        assert_eq!(writes(&lifecycle::emit(Event::progress("j", 1, 2, Default::default())), None), r#"[["set","progress","50"]]"#);
        assert_eq!(writes(&lifecycle::emit(Event::status("j", JobStatus::Running, None, None)), None), "[]");
    }

    #[test]
    fn the_ends_of_a_run_release_the_token() {
        let results = crate::jobs::results::sample("j", 0.5);
        let completed = Ending::Completed { results: results.clone() };
        let stored = serde_json::to_string(&serde_json::to_string(&results).expect("plain data")).expect("plain data");
        assert_eq!(
            writes(&lifecycle::finish("j", &completed), None),
            format!(r#"[["set","status","completed"],["stamp","finished_at",""],["set","results",{stored}],["del","token",""],["set","progress","100"]]"#)
        );
        assert_eq!(
            writes(&lifecycle::requeue_on_shutdown("j"), None),
            r#"[["set","status","queued"],["del","worker",""],["add","attempts","-1"],["del","token",""]]"#
        );
        assert_eq!(
            writes(&lifecycle::reap("j", 2, Some("w"), 2), None),
            r#"[["set","status","failed"],["del","worker",""],["stamp","finished_at",""],["set","error","the job failed after 2 attempts: each time its worker stopped responding while training (last worker: w)"],["del","token",""]]"#
        );
    }

    #[test]
    fn cancelling_writes_the_flag() {
        assert_eq!(
            writes(&lifecycle::cancel_queued("j"), None),
            r#"[["set","status","cancelled"],["set","cancel","1"],["stamp","finished_at",""],["set","error","Training cancelled before it started"]]"#
        );
        assert_eq!(writes(&lifecycle::request_cancel(), None), r#"[["set","cancel","1"]]"#);
    }

    #[test]
    fn a_new_record_reads_back_the_same() {
        let spec = JobSpec {
            dataset_id: "d".into(),
            target_column: Some("y".into()),
            task_type: "classification".into(),
            model_config: Default::default(),
            plugin: "baseline".into(),
            params: Default::default(),
            seed: 3,
            test_fraction: 0.2,
            plugin_validation_fraction: 0.1,
            folds: 0,
            columns: Default::default(),
            owner: None,
            labels: Default::default(),
            max_instances: None,
        };
        let record = lifecycle::submit("j", spec).record;
        let pairs: Vec<(String, String, String)> = serde_json::from_str(&new_record(&record)).unwrap();
        assert!(pairs.iter().all(|(op, _, _)| op == "set"));
        let fields: HashMap<String, String> = pairs.into_iter().map(|(_, field, value)| (field, value)).collect();
        let names = ["spec", "status", "attempts", "progress", "seq", "cancel", "created_at"];
        assert_eq!(fields.len(), names.len());
        assert!(names.iter().all(|n| fields.contains_key(*n)));
        assert_eq!(parse("j", &fields).unwrap(), Some(record));
    }
}
