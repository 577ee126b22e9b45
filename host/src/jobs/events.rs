//! The events of one job, numbered by `seq` from 1, in the older contract's
//! shapes: `status`, `progress`, `complete`, `error`, `cancelled`.
//!
//! `type` is always the first field and `seq` the second, so a broker can set
//! the seq inside the serialized text (the Redis Lua script does) without
//! re-encoding the rest.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::JobStatus;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    Status {
        seq: u64,
        #[serde(rename = "jobId")]
        job_id: String,
        status: JobStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    Progress {
        seq: u64,
        #[serde(rename = "jobId")]
        job_id: String,
        progress: u8,
        epoch: u32,
        total_epochs: u32,
        metrics: BTreeMap<String, f64>,
        message: String,
        /// In a cross-validation, the fold (from 1) these epochs belong to;
        /// absent for the final fit and for jobs without folds.
        #[serde(skip_serializing_if = "Option::is_none")]
        fold: Option<u32>,
    },
    Complete {
        seq: u64,
        #[serde(rename = "jobId")]
        job_id: String,
        progress: u8,
        results: Results,
        message: String,
    },
    Error {
        seq: u64,
        #[serde(rename = "jobId")]
        job_id: String,
        message: String,
    },
    Cancelled {
        seq: u64,
        #[serde(rename = "jobId")]
        job_id: String,
        message: String,
    },
}

/// `results` of a `complete` event, in the older contract's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Results {
    pub status: &'static str,
    /// The task's headline score: accuracy, R², or silhouette.
    pub accuracy: Option<f64>,
    pub metrics: Value,
    pub model_path: String,
}

/// One plugin call of a run of several (a cross-validation's folds, then the final fit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    /// From 1.
    pub step: u32,
    pub steps: u32,
    /// What the status event says: "fold 2 of 5", "refit on the whole training part".
    pub label: String,
}

/// The message of the `status` event a worker sends once the holdout is
/// scored and it starts storing the model; the job page shows this phase.
pub const STORING_MODEL: &str = "storing the model";

/// The placeholder a broker replaces with the real seq (first occurrence only).
pub const SEQ_PLACEHOLDER: &str = "\"seq\":0,";

impl Event {
    pub fn status(job_id: &str, status: JobStatus, attempt: Option<u32>, message: Option<String>) -> Event {
        Event::Status { seq: 0, job_id: job_id.into(), status, attempt, message }
    }

    /// The job is still running: the holdout is scored, the model is being stored.
    pub fn storing_model(job_id: &str) -> Event {
        Event::status(job_id, JobStatus::Running, None, Some(STORING_MODEL.into()))
    }

    pub fn progress(job_id: &str, epoch: u32, total: u32, metrics: BTreeMap<String, f64>) -> Event {
        let total = total.max(1);
        let progress = ((epoch.min(total) as f64 / total as f64) * 100.0).round().min(99.0) as u8;
        let mut message = format!("Epoch {epoch}/{total}");
        let shown: Vec<String> = metrics.iter().map(|(k, v)| format!("{k}: {v:.4}")).collect();
        if !shown.is_empty() {
            message = format!("{message} - {}", shown.join(", "));
        }
        Event::Progress { seq: 0, job_id: job_id.into(), progress, epoch, total_epochs: total, metrics, message, fold: None }
    }

    /// The job is running plugin call `phase.step` of `phase.steps` (a fold, or the final fit).
    pub fn phase(job_id: &str, phase: &Phase) -> Event {
        Event::status(job_id, JobStatus::Running, None, Some(phase.label.clone()))
    }

    /// A `progress` event of one phase of several: its progress spread over the
    /// whole run, its message led by the phase, and its fold named (every
    /// phase but the last, the final fit, is a fold).
    pub fn in_phase(mut self, phase: &Phase) -> Event {
        if let Event::Progress { progress, epoch, total_epochs, message, fold, .. } = &mut self {
            let steps = f64::from(phase.steps.max(1));
            let done = f64::from(phase.step.saturating_sub(1)) + f64::from((*epoch).min(*total_epochs)) / f64::from((*total_epochs).max(1));
            *progress = (done / steps * 100.0).round().min(99.0) as u8;
            *message = format!("{} - {message}", phase.label);
            *fold = (phase.step < phase.steps).then_some(phase.step);
        }
        self
    }

    pub fn complete(job_id: &str, headline: f64, metrics: Value, model_path: &str) -> Event {
        Event::Complete {
            seq: 0,
            job_id: job_id.into(),
            progress: 100,
            results: Results { status: "completed", accuracy: headline.is_finite().then_some(headline), metrics, model_path: model_path.into() },
            message: "Training completed successfully!".into(),
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self, Event::Complete { .. } | Event::Error { .. } | Event::Cancelled { .. })
    }

    pub fn with_seq(mut self, new: u64) -> Event {
        match &mut self {
            Event::Status { seq, .. } | Event::Progress { seq, .. } | Event::Complete { seq, .. } | Event::Error { seq, .. } | Event::Cancelled { seq, .. } => {
                *seq = new
            }
        }
        self
    }

    /// The JSON text with `"seq":0` as a placeholder for the broker to fill.
    pub fn template(&self) -> String {
        let text = serde_json::to_string(&self.clone().with_seq(0)).expect("events are plain data");
        debug_assert!(text.contains(SEQ_PLACEHOLDER));
        text
    }

    /// Progress to record on the job when this event is emitted.
    pub fn progress_value(&self) -> Option<u8> {
        match self {
            Event::Progress { progress, .. } | Event::Complete { progress, .. } => Some(*progress),
            _ => None,
        }
    }
}

/// Fills in the seq of a template (the Rust twin of the Lua `string.gsub`).
pub fn fill_seq(template: &str, seq: u64) -> String {
    template.replacen(SEQ_PLACEHOLDER, &format!("\"seq\":{seq},"), 1)
}

/// An event as stored and delivered: its seq and its final JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: u64,
    pub terminal: bool,
    pub json: EventText,
}

/// The final JSON text of an event: serialised once, then shared (reference
/// counted, never copied) by the journal, the replay and every socket sending it.
#[derive(Clone, PartialEq, Eq)]
pub struct EventText(Bytes);

impl EventText {
    pub fn as_str(&self) -> &str {
        // Only ever built from a `String` or a `&str`.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The text as shared bytes (a reference count, not a copy).
    pub fn bytes(&self) -> Bytes {
        self.0.clone()
    }
}

impl From<String> for EventText {
    fn from(text: String) -> Self {
        EventText(Bytes::from(text))
    }
}

impl From<&str> for EventText {
    fn from(text: &str) -> Self {
        EventText(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl std::ops::Deref for EventText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for EventText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for EventText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    seq: u64,
}

impl StoredEvent {
    /// `event` with its seq filled in.
    pub fn new(event: &Event, seq: u64) -> StoredEvent {
        StoredEvent { seq, terminal: event.is_terminal(), json: fill_seq(&event.template(), seq).into() }
    }

    pub fn parse(json: &str) -> Option<StoredEvent> {
        let head: Head = serde_json::from_str(json).ok()?;
        let terminal = matches!(head.kind.as_ref(), "complete" | "error" | "cancelled");
        Some(StoredEvent { seq: head.seq, terminal, json: EventText::from(json) })
    }

    /// Like `parse`, keeping the given text without copying it.
    pub fn parse_owned(json: String) -> Option<StoredEvent> {
        let head: Head = serde_json::from_str(&json).ok()?;
        let terminal = matches!(head.kind.as_ref(), "complete" | "error" | "cancelled");
        let seq = head.seq;
        Some(StoredEvent { seq, terminal, json: EventText::from(json) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_the_older_contract() {
        let mut metrics = BTreeMap::new();
        metrics.insert("accuracy".to_string(), 0.85);
        let e = Event::progress("j", 5, 10, metrics);
        let text = fill_seq(&e.template(), 7);
        assert_eq!(
            text,
            r#"{"type":"progress","seq":7,"jobId":"j","progress":50,"epoch":5,"total_epochs":10,"metrics":{"accuracy":0.85},"message":"Epoch 5/10 - accuracy: 0.8500"}"#
        );
        let c = fill_seq(&Event::complete("j", 0.87, serde_json::json!({}), "/jobs/j/model").template(), 9);
        assert_eq!(
            c,
            r#"{"type":"complete","seq":9,"jobId":"j","progress":100,"results":{"status":"completed","accuracy":0.87,"metrics":{},"model_path":"/jobs/j/model"},"message":"Training completed successfully!"}"#
        );
        let parsed = StoredEvent::parse(&c).unwrap();
        assert_eq!((parsed.seq, parsed.terminal), (9, true));
        let s = fill_seq(&Event::status("j", JobStatus::Queued, None, None).template(), 1);
        assert_eq!(s, r#"{"type":"status","seq":1,"jobId":"j","status":"queued"}"#);
    }

    #[test]
    fn a_fold_names_itself_and_spreads_its_progress_over_the_run() {
        let second = Phase { step: 2, steps: 5, label: "fold 2 of 4".into() };
        let text = fill_seq(&Event::progress("j", 5, 10, BTreeMap::new()).in_phase(&second).template(), 3);
        assert_eq!(
            text,
            r#"{"type":"progress","seq":3,"jobId":"j","progress":30,"epoch":5,"total_epochs":10,"metrics":{},"message":"fold 2 of 4 - Epoch 5/10","fold":2}"#
        );
        let refit = Phase { step: 5, steps: 5, label: "refit".into() };
        let Event::Progress { progress, fold, .. } = Event::progress("j", 10, 10, BTreeMap::new()).in_phase(&refit) else { panic!("progress") };
        assert_eq!((progress, fold), (99, None));
        let status = fill_seq(&Event::phase("j", &second).template(), 4);
        assert_eq!(status, r#"{"type":"status","seq":4,"jobId":"j","status":"running","message":"fold 2 of 4"}"#);
    }
}
