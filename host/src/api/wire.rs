//! The JSON bodies the API answers with, as types. The handlers build their
//! answers from these (and the request from `validate::TrainRequest`), and
//! `docs` derives the OpenAPI schemas from the same types, so the document
//! cannot drift from what is sent. Deeper parts that already have a type of
//! their own (a job, a dataset record, a plugin's schema, predictions) derive
//! their schema where they are defined.
//!
//! Owns the envelopes (`{"data": ...}`, lists, errors). It must not decide
//! what is answered: the handlers do.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::config::Limits;
use crate::jobs::JobView;
use crate::runtime::schema::ParamSchema;
use crate::storage::datasets::{DatasetRecord, DatasetSummary};
use crate::training::PredictionSet;

/// A body as JSON. Every type here is plain data (string keys), so this
/// cannot fail; if it ever did, the answer says so instead of panicking.
pub fn to_json<T: Serialize>(body: &T) -> Value {
    serde_json::to_value(body).unwrap_or_else(|e| serde_json::json!({ "error": { "code": "internal", "message": e.to_string() } }))
}

/// `{"data": T}`, one concrete type per answer (the schema names them).
macro_rules! envelope {
    ($(#[$doc:meta])* $name:ident, $inner:ty) => {
        $(#[$doc])*
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            pub data: $inner,
        }
    };
}

envelope!(
    /// A job queued (`POST /train`), or a cancel taken (`POST /jobs/{id}/cancel`).
    JobAcceptedBody,
    JobAccepted
);
envelope!(
    /// One job.
    JobBody,
    JobView
);
envelope!(
    /// A dataset with its column profiles and preview.
    DatasetBody,
    DatasetRecord
);
envelope!(
    /// Every dataset, newest first, as summaries.
    DatasetListBody,
    Vec<DatasetSummary>
);
envelope!(
    /// A dataset deleted.
    DeletedBody,
    Deleted
);
envelope!(
    /// Predictions on the rows given.
    PredictionBody,
    ScoredPredictions
);

/// Predictions, with their score when the table held the model's target column.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoredPredictions {
    #[serde(flatten)]
    pub predictions: PredictionSet,
    /// The host's metrics on the rows that hold a target value; absent when the table has no target column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<super::predictions::PredictionScore>,
}

envelope!(
    /// Jobs side by side (`GET /jobs/compare`).
    ComparisonBody,
    Comparison
);

/// Two or more jobs side by side, in the order asked.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub jobs: Vec<ComparedJob>,
    /// The parameters whose values are not the same in every job
    /// (`selectedModel` first when the plugins differ).
    pub differing_params: Vec<String>,
}

/// One job of a comparison.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparedJob {
    pub job_id: String,
    pub name: Option<String>,
    pub tags: Vec<String>,
    pub status: crate::jobs::JobStatus,
    pub dataset_id: String,
    pub task_type: String,
    pub target_column: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// As in a job: the headline metric on test rows, null otherwise.
    pub score: Option<f64>,
    pub plugin: String,
    /// Every parameter in force: the ones the job set, the plugin's defaults for the rest.
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, Value>,
    /// Which metric `score` is (null until completed).
    pub headline_metric: Option<String>,
    /// `holdout` (test rows) or `train` (null until completed).
    pub evaluated_on: Option<String>,
    /// The host's metrics on the judged rows (a NaN is null).
    #[schema(value_type = BTreeMap<String, Option<f64>>)]
    pub metrics: BTreeMap<String, f64>,
    /// The metrics the plugin reported per epoch, by name, while the job's events are kept.
    pub curves: BTreeMap<String, Vec<CurvePoint>>,
}

/// One point of a per-epoch curve.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CurvePoint {
    pub epoch: u64,
    pub value: f64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobAccepted {
    pub job_id: String,
    /// queued (submitted), running (cancel requested) or cancelled (cancelled before it started).
    pub status: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    pub data: Vec<JobView>,
    /// Jobs matching the filters, on every page.
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
}

/// An enabled plugin, under the name the config gives it, with its limits.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginView {
    pub name: String,
    pub version: String,
    pub description: String,
    pub tasks: Vec<String>,
    pub params: Vec<ParamSchema>,
    pub limits: Limits,
    /// How one job trains in several instances (null: always one instance).
    pub parallel: Option<crate::runtime::parallel::Parallelism>,
}

/// The enabled plugins, and why the others could not be loaded (by name).
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginList {
    pub data: Vec<PluginView>,
    pub unavailable: BTreeMap<String, String>,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// `GET /readyz` when the broker answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// Always `ready`.
    pub status: String,
    /// How many plugins are enabled.
    pub plugins: usize,
}

/// Every error: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code, e.g. `invalid_parameter`, `dataset_not_found`.
    pub code: String,
    /// What is wrong and what to do; a 5xx's ends with the request id in the log.
    pub message: String,
    /// The request field to fix, e.g. `modelConfig.maxDepth`, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The body of `POST /jobs/{id}/predict`: an uploaded table, or rows.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PredictRequest {
    /// A dataset of `POST /datasets` with the columns the model was trained on.
    pub dataset_id: Option<String>,
    /// One object per row, `{"column": value}`: numbers, booleans or text.
    #[schema(value_type = Option<Vec<Object>>)]
    pub rows: Option<Vec<Value>>,
}
