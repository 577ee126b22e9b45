//! The events of a sweep's socket (`WS /ws/sweeps/{id}`), numbered by `seq`
//! from 1 like a job's: `trial` (queued, started, rung, pruned, completed,
//! failed, cancelled), `leaderboard` (the completed trials, best first, after
//! each change) and `sweep` (running, then completed, failed or cancelled: the
//! last event). `type` is the first field and `seq` the second, as in job events.
//!
//! Owns these shapes. It must not store them (`state`) or decide them (`driver`).

use serde_json::{json, Map, Value};

use super::{best_json, SweepRecord, SweepStatus, Trial};
use crate::jobs::StoredEvent;

/// An event before the store numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepEvent {
    pub kind: &'static str,
    pub body: Map<String, Value>,
    pub terminal: bool,
}

impl SweepEvent {
    fn new(kind: &'static str, sweep_id: &str, body: Value, terminal: bool) -> SweepEvent {
        let mut map = Map::new();
        map.insert("sweepId".into(), Value::from(sweep_id));
        if let Value::Object(fields) = body {
            map.extend(fields);
        }
        map.insert("at".into(), Value::from(crate::ids::now_ms()));
        SweepEvent { kind, body: map, terminal }
    }

    /// A trial changed: `what` is queued, started, rung, pruned, completed, failed or cancelled.
    pub fn trial(sweep_id: &str, what: &str, trial: &Trial) -> SweepEvent {
        let body = json!({"event": what, "trial": trial.index, "jobId": trial.job_id, "plugin": trial.plugin, "params": trial.params,
            "status": trial.status, "epoch": trial.epoch, "score": trial.score, "validationScore": trial.validation_score, "message": trial.message});
        SweepEvent::new("trial", sweep_id, body, false)
    }

    /// A trial reached a rung with `score`.
    pub fn rung(sweep_id: &str, trial: &Trial, epoch: u32, score: f64, kept: bool) -> SweepEvent {
        let body = json!({"event": "rung", "trial": trial.index, "jobId": trial.job_id, "epoch": epoch, "score": score, "kept": kept});
        SweepEvent::new("trial", sweep_id, body, false)
    }

    /// The leaderboard as it is now.
    pub fn leaderboard(record: &SweepRecord) -> SweepEvent {
        let rows: Vec<Value> = record.leaderboard().into_iter().map(best_json).collect();
        SweepEvent::new("leaderboard", &record.sweep_id, json!({"leaderboard": rows}), false)
    }

    /// The sweep's status changed; the last event once it has ended.
    pub fn status(record: &SweepRecord) -> SweepEvent {
        let body = json!({"status": record.status, "message": record.message, "best": record.best().map(best_json)});
        SweepEvent::new("sweep", &record.sweep_id, body, record.status.is_terminal())
    }

    /// The event's text with its seq.
    pub fn stored(&self, seq: u64) -> StoredEvent {
        let rest = Value::Object(self.body.clone()).to_string();
        // `rest` is an object's text: `{...}`; its fields follow type and seq.
        let inner = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')).unwrap_or_default();
        let sep = if inner.is_empty() { "" } else { "," };
        let text = format!("{{\"type\":\"{}\",\"seq\":{seq}{sep}{inner}}}", self.kind);
        StoredEvent { seq, terminal: self.terminal, json: text.into() }
    }
}

/// Whether a stored sweep event ends the sweep (for events read back from a store).
pub fn is_terminal_text(json: &str) -> bool {
    serde_json::from_str::<Value>(json).ok().is_some_and(|v| {
        v["type"] == "sweep"
            && v["status"].as_str().is_some_and(|s| [SweepStatus::Completed, SweepStatus::Failed, SweepStatus::Cancelled].iter().any(|t| t.as_str() == s))
    })
}
