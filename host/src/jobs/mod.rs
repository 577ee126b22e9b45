//! Jobs: the record of one training request, its state machine
//! (queued -> running -> completed | failed | cancelled, decided in
//! `lifecycle`) and the seq-numbered events a job emits, in the exact JSON
//! shapes of the older API contract.
//!
//! Owns these types and their JSON. It must not store anything, talk to a
//! broker or run training: `queue` persists records and events, `worker` runs jobs.

pub mod events;
pub mod lifecycle;
pub mod results;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use events::{Event, EventText, StoredEvent};
pub use lifecycle::CANCELLED_BEFORE_START;
pub use results::{model_path, JobResults, MODEL_ROUTE};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<JobStatus> {
        Some(match text {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "completed" => JobStatus::Completed,
            "failed" => JobStatus::Failed,
            "cancelled" => JobStatus::Cancelled,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled)
    }
}

/// What was asked: validated before it is queued, never changed after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    pub dataset_id: String,
    pub target_column: Option<String>,
    pub task_type: String,
    /// The request's `modelConfig` as given, `selectedModel` included.
    pub model_config: Map<String, Value>,
    /// The plugin's name (`modelConfig.selectedModel`).
    pub plugin: String,
    /// The hyperparameters: `modelConfig` without `selectedModel`.
    pub params: Map<String, Value>,
    pub seed: u64,
    /// Share of rows held out for the final metrics, which the plugin never
    /// sees. Stored under the older contract's name, `validationFraction`,
    /// which has always meant this share: records written before the
    /// three-way split load with the same meaning, and older builds still read new ones.
    #[serde(rename = "validationFraction")]
    pub test_fraction: f64,
    /// Share of rows handed to the plugin as its validation table (early
    /// stopping, progress). Absent from records written before the three-way
    /// split: they run with today's default.
    #[serde(default = "default_plugin_validation_fraction")]
    pub plugin_validation_fraction: f64,
    /// Folds of cross-validation on the training part before the final fit
    /// (0: none; absent then, so older records load and are written unchanged).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub folds: usize,
    /// `excludeColumns` and `columnKinds` as asked (absent when none were: older records load unchanged).
    #[serde(flatten)]
    pub columns: crate::data::ColumnChoices,
    /// The user who submitted it; None for jobs from before accounts (or
    /// `auth.mode = "none"`), which only admins see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The run's name and tags, and what it re-runs (absent when none: older records load unchanged).
    #[serde(flatten)]
    pub labels: RunLabels,
    /// The most plugin instances the job may train in (`maxInstances`); None:
    /// as many as the worker's free slots and the plugin allow. A sweep that
    /// runs trials side by side gives each 1: its parallelism is across trials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<u32>,
}

/// What a user calls a run: never read by training, only by the history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunLabels {
    /// The user's name for the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's tags, to filter the history by (`GET /jobs?tag=`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The job this one re-runs (`POST /jobs/{id}/rerun`), if it is a re-run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_of: Option<String>,
}

/// Longest run name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Most tags on a job.
pub const MAX_TAGS: usize = 10;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 32;

/// Why a run's name or tags are refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LabelError {
    #[error("a run name is at most {MAX_NAME_CHARS} characters on one line")]
    Name,
    #[error("tag `{0}`: a tag is 1 to {MAX_TAG_CHARS} letters, digits, `-`, `_`, `.` or `:`")]
    Tag(String),
    #[error("at most {MAX_TAGS} tags, got {0}")]
    TooManyTags(usize),
}

impl RunLabels {
    /// The labels a user gave, checked: the name trimmed (blank: none), the
    /// tags trimmed with duplicates dropped (order kept). The one rule the API
    /// and the CLI both apply.
    pub fn checked(name: Option<&str>, tags: &[String]) -> Result<RunLabels, LabelError> {
        // Counted as given (before trimming and dropping duplicates), as the API's schema counts them.
        if name.is_some_and(|n| n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control)) {
            return Err(LabelError::Name);
        }
        if tags.len() > MAX_TAGS {
            return Err(LabelError::TooManyTags(tags.len()));
        }
        let name = name.map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
        let mut kept: Vec<String> = vec![];
        for tag in tags.iter().map(|t| t.trim()) {
            let word = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
            if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS || !tag.chars().all(word) {
                return Err(LabelError::Tag(tag.to_string()));
            }
            if !kept.iter().any(|t| t == tag) {
                kept.push(tag.to_string());
            }
        }
        Ok(RunLabels { name, tags: kept, rerun_of: None })
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn default_plugin_validation_fraction() -> f64 {
    crate::data::split::SplitFractions::DEFAULT.plugin_validation
}

impl JobSpec {
    /// The split this job asked for.
    pub fn fractions(&self) -> crate::data::split::SplitFractions {
        crate::data::split::SplitFractions { test: self.test_fraction, plugin_validation: self.plugin_validation_fraction }
    }
}

/// A job as stored by the broker: the spec plus everything that changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    pub job_id: String,
    pub status: JobStatus,
    pub spec: JobSpec,
    /// 0..=100.
    pub progress: u8,
    /// How many times a worker has claimed it.
    pub attempts: u32,
    pub results: Option<JobResults>,
    pub error: Option<String>,
    pub cancel_requested: bool,
    pub worker: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// The seq of the last event emitted.
    pub last_seq: u64,
}

impl JobRecord {
    pub fn new(job_id: String, spec: JobSpec) -> JobRecord {
        JobRecord {
            job_id,
            status: JobStatus::Queued,
            spec,
            progress: 0,
            attempts: 0,
            results: None,
            error: None,
            cancel_requested: false,
            worker: None,
            created_at: now_ms(),
            started_at: None,
            finished_at: None,
            last_seq: 0,
        }
    }

    /// The terminal event of an ended job, rebuilt from its record (with the
    /// seq it was stored under), for a client that asks once the stored
    /// events have expired; `None` while the job has not ended.
    pub fn terminal_event(&self) -> Option<StoredEvent> {
        let id = self.job_id.as_str();
        let event = match self.status {
            JobStatus::Completed => match &self.results {
                Some(results) => results.complete_event(id),
                None => Event::complete(id, f64::NAN, Value::Object(Map::new()), &model_path(id)),
            },
            JobStatus::Failed => Event::Error { seq: 0, job_id: id.into(), message: self.error.clone().unwrap_or_default() },
            JobStatus::Cancelled => Event::Cancelled { seq: 0, job_id: id.into(), message: self.error.clone().unwrap_or_default() },
            JobStatus::Queued | JobStatus::Running => return None,
        };
        Some(StoredEvent::new(&event, self.last_seq))
    }

    /// The job as `GET /jobs/{id}` shows it: the older contract's names.
    pub fn to_api(&self) -> JobView {
        JobView {
            job_id: self.job_id.clone(),
            status: self.status,
            progress: self.progress,
            dataset_id: self.spec.dataset_id.clone(),
            target_column: self.spec.target_column.clone(),
            task_type: self.spec.task_type.clone(),
            model_config: self.spec.model_config.clone(),
            attempts: self.attempts,
            created_at: self.created_at,
            started_at: self.started_at,
            completed_at: self.finished_at,
            results: self.results.clone(),
            error: self.error.clone(),
            cancel_requested: self.cancel_requested,
            worker: self.worker.clone(),
            name: self.spec.labels.name.clone(),
            tags: self.spec.labels.tags.clone(),
            rerun_of: self.spec.labels.rerun_of.clone(),
            score: self.results.as_ref().and_then(JobResults::score),
            queue_position: None,
        }
    }
}

/// A job as the API shows it (`GET /jobs/{id}`, `GET /jobs`), in the older
/// contract's names; its OpenAPI schema is derived from this type.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub job_id: String,
    pub status: JobStatus,
    /// 0 to 100.
    #[schema(minimum = 0, maximum = 100)]
    pub progress: u8,
    pub dataset_id: String,
    /// Absent (null) for clustering.
    pub target_column: Option<String>,
    pub task_type: String,
    /// The request's `modelConfig`: `selectedModel` and the parameters as given.
    #[schema(value_type = Object)]
    pub model_config: Map<String, Value>,
    pub attempts: u32,
    /// Unix milliseconds.
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// Once completed: `status`, `accuracy`, `metrics`, `model_path`, `summary`
    /// (row counts of the split, metrics, importances...), `log`.
    #[schema(value_type = Option<Object>)]
    pub results: Option<JobResults>,
    pub error: Option<String>,
    pub cancel_requested: bool,
    pub worker: Option<String>,
    /// The user's name for the run.
    pub name: Option<String>,
    /// The user's tags.
    pub tags: Vec<String>,
    /// The job this one re-runs, if it is a re-run.
    pub rerun_of: Option<String>,
    /// The headline metric on rows the plugin never saw (`results.accuracy`
    /// when the job was scored on test rows); null otherwise: a score on the
    /// training rows is not comparable, and `GET /jobs?sort=score` puts such jobs last.
    pub score: Option<f64>,
    /// While queued, where it waits (1: taken next); only `GET /jobs/{id}` gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<u64>,
}

/// How a job ended, as the worker reports it.
// One per job, moved a handful of times: boxing the results would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Ending {
    Completed { results: JobResults },
    Failed(String),
    Cancelled(String),
}

impl Ending {
    pub fn status(&self) -> JobStatus {
        match self {
            Ending::Completed { .. } => JobStatus::Completed,
            Ending::Failed(_) => JobStatus::Failed,
            Ending::Cancelled(_) => JobStatus::Cancelled,
        }
    }

    /// The terminal event this ending emits.
    pub fn event(&self, job_id: &str) -> Event {
        match self {
            Ending::Completed { results } => results.complete_event(job_id),
            Ending::Failed(message) => Event::Error { seq: 0, job_id: job_id.into(), message: message.clone() },
            Ending::Cancelled(message) => Event::Cancelled { seq: 0, job_id: job_id.into(), message: message.clone() },
        }
    }
}

/// Filter and page of `GET /jobs`.
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    pub status: Option<JobStatus>,
    pub plugin: Option<String>,
    pub dataset_id: Option<String>,
    /// Only this user's jobs (a member's listing); None: everyone's.
    pub owner: Option<String>,
    /// Only jobs carrying this tag.
    pub tag: Option<String>,
    pub offset: usize,
    pub limit: usize,
}

impl JobQuery {
    pub fn matches(&self, record: &JobRecord) -> bool {
        self.status.is_none_or(|s| s == record.status)
            && self.plugin.as_ref().is_none_or(|p| *p == record.spec.plugin)
            && self.dataset_id.as_ref().is_none_or(|d| *d == record.spec.dataset_id)
            && self.owner.as_ref().is_none_or(|o| Some(o) == record.spec.owner.as_ref())
            && self.tag.as_ref().is_none_or(|t| record.spec.labels.tags.contains(t))
    }
}

#[derive(Debug, Clone)]
pub struct JobPage {
    pub jobs: Vec<JobRecord>,
    pub total: usize,
}

pub use crate::ids::{is_valid_id, new_id as new_job_id, now_ms};

#[cfg(test)]
mod tests {
    use super::*;

    /// A spec as builds before the three-way split stored it.
    const OLD_SPEC: &str = r#"{"datasetId":"d","targetColumn":"y","taskType":"classification","modelConfig":{"selectedModel":"baseline"},"plugin":"baseline","params":{},"seed":7,"validationFraction":0.3}"#;

    #[test]
    fn labels_are_trimmed_deduplicated_and_bounded() {
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let labels = RunLabels::checked(Some("  deep trees "), &tags(&["a", " b:1 ", "a"])).unwrap();
        assert_eq!((labels.name.as_deref(), labels.tags), (Some("deep trees"), tags(&["a", "b:1"])));
        assert_eq!(RunLabels::checked(Some("  "), &[]).unwrap().name, None);
        assert_eq!(RunLabels::checked(None, &tags(&["has space"])), Err(LabelError::Tag("has space".into())));
        assert_eq!(RunLabels::checked(None, &tags(&[""])), Err(LabelError::Tag(String::new())));
        assert_eq!(RunLabels::checked(Some(&"x".repeat(101)), &[]), Err(LabelError::Name));
        assert_eq!(RunLabels::checked(Some("two\nlines"), &[]), Err(LabelError::Name));
        let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert_eq!(RunLabels::checked(None, &eleven), Err(LabelError::TooManyTags(11)));
    }

    #[test]
    fn a_spec_from_before_the_three_way_split_keeps_its_test_share() {
        let spec: JobSpec = serde_json::from_str(OLD_SPEC).unwrap();
        assert_eq!(spec.labels, RunLabels::default());
        assert_eq!(spec.fractions(), crate::data::split::SplitFractions { test: 0.3, plugin_validation: 0.1 });
        let written = serde_json::to_value(&spec).unwrap();
        assert_eq!((written["validationFraction"].as_f64(), written["pluginValidationFraction"].as_f64()), (Some(0.3), Some(0.1)));
        assert_eq!(spec.folds, 0, "no cross-validation");
        assert!(written.get("folds").is_none(), "and none written");
        let folded = JobSpec { folds: 5, ..spec };
        let written = serde_json::to_value(&folded).unwrap();
        assert_eq!(written["folds"].as_u64(), Some(5));
        assert_eq!(serde_json::from_value::<JobSpec>(written).unwrap(), folded);
    }
}
