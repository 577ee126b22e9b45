//! Job routes: submit (`POST /train`, `POST /api/jobs`), get, list, cancel,
//! model download, predict.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{audit, Caller};
use super::predictions;
use super::wire::{to_json, JobAccepted, JobAcceptedBody, PredictRequest, PredictionBody, ScoredPredictions};
use super::{validate, ApiError, ApiResult, AppState, ErrorCode};
use crate::accounts::User;
use crate::data::DataError;
use crate::jobs::{is_valid_id, new_job_id, JobQuery, JobRecord, JobSpec, JobStatus};
use crate::queue::CancelOutcome;
use crate::storage::datasets::{self, LoadError};
use crate::telemetry::COUNTERS;
use crate::training::{ModelArtifact, PredictFailure};

pub async fn submit(State(state): State<AppState>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    let spec = validate::train_request(&state, &caller, &body).await?;
    let job_id = queue_spec(&state, &caller, spec).await?;
    let body = JobAcceptedBody { data: JobAccepted { job_id, status: "queued".into(), message: "Training job queued".into() } };
    Ok((StatusCode::ACCEPTED, Json(to_json(&body))).into_response())
}

/// Queues a validated job as the caller's (within their quota); its new id.
pub(super) async fn queue_spec(state: &AppState, caller: &Caller, mut spec: JobSpec) -> ApiResult<String> {
    spec.owner = caller.name().map(str::to_string);
    let job_id = new_job_id();
    let record = match &caller.user {
        None => state.broker.submit(&job_id, spec).await?,
        Some(user) => submit_within_quota(state, user, &job_id, spec).await?,
    };
    COUNTERS.jobs_submitted.inc();
    tracing::info!(job_id = %job_id, plugin = %record.spec.plugin, "job queued");
    Ok(job_id)
}

/// Takes a quota slot for the job (atomically, on either broker), then
/// submits it; the slot is given back if the submit fails.
async fn submit_within_quota(state: &AppState, user: &User, job_id: &str, spec: JobSpec) -> ApiResult<JobRecord> {
    if let Some(hit) = state.accounts.reserve_job(&user.name, job_id, &user.quota(&state.config.current().quotas)).await? {
        audit(Some(&user.name), "submit", job_id, &format!("quota_exceeded: {}", hit.quota));
        return Err(ApiError::quota(&hit));
    }
    match state.broker.submit(job_id, spec).await {
        Ok(record) => Ok(record),
        Err(e) => {
            let _ = state.accounts.release_job(&user.name, job_id).await;
            Err(e.into())
        }
    }
}

fn no_job(id: &str) -> ApiError {
    ApiError::new(ErrorCode::JobNotFound, format!("no job `{id}`"))
}

/// The job `id` as `caller` may see it: another member's job answers
/// exactly as a missing one does.
pub(super) async fn find(state: &AppState, caller: &Caller, id: &str) -> ApiResult<JobRecord> {
    if !is_valid_id(id) {
        return Err(no_job(id));
    }
    let job = state.broker.get(id).await?.ok_or_else(|| no_job(id))?;
    if !caller.may_see(job.spec.owner.as_deref()) {
        audit(caller.name(), "read_job", id, "denied: not the owner (answered as missing)");
        return Err(no_job(id));
    }
    Ok(job)
}

/// The job as the caller is shown it: with its owner for an admin.
fn job_json(caller: &Caller, job: &JobRecord) -> Value {
    let mut value = to_json(&job.to_api());
    if caller.shows_owner() {
        value["owner"] = json!(job.spec.owner);
    }
    value
}

pub async fn get_job(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let job = find(&state, &caller, &id).await?;
    let mut data = job_json(&caller, &job);
    if job.status == JobStatus::Queued {
        if let Some(position) = state.broker.queue_position(&id).await? {
            data["queuePosition"] = json!(position);
        }
    }
    Ok(Json(json!({ "data": data })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    status: Option<String>,
    plugin: Option<String>,
    dataset_id: Option<String>,
    tag: Option<String>,
    sort: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// The order of `GET /jobs`.
#[derive(Clone, Copy, PartialEq)]
enum Sort {
    /// Newest first.
    Created,
    /// Best score first (every headline is higher-is-better); jobs with no
    /// score (not completed, or scored on the training rows) after, newest first.
    Score,
}

fn sort_of(text: Option<&str>) -> ApiResult<Sort> {
    match text {
        None | Some("") | Some("created") => Ok(Sort::Created),
        Some("score") => Ok(Sort::Score),
        Some(other) => Err(ApiError::new(ErrorCode::InvalidField, format!("sort `{other}`: use created (newest first) or score (best first)")).field("sort")),
    }
}

pub async fn list(State(state): State<AppState>, caller: Caller, Query(p): Query<ListParams>) -> ApiResult<Json<Value>> {
    let status = match p.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(JobStatus::parse(s).ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidField, format!("status `{s}`: use queued, running, completed, failed or cancelled")).field("status")
        })?),
    };
    let sort = sort_of(p.sort.as_deref())?;
    let limit = p.limit.unwrap_or(50).clamp(1, 500);
    let offset = p.offset.unwrap_or(0);
    let tag = p.tag.filter(|t| !t.trim().is_empty()).map(|t| t.trim().to_string());
    let mut query = JobQuery { status, plugin: p.plugin, dataset_id: p.dataset_id, owner: caller.owner_filter(), tag, offset, limit };
    let page = if sort == Sort::Score {
        // A score is in the results: the whole filtered list is ranked, then paged.
        query.offset = 0;
        query.limit = usize::MAX;
        let mut all = state.broker.list(&query).await?;
        all.jobs.sort_by(by_score);
        crate::jobs::JobPage { jobs: all.jobs.into_iter().skip(offset).take(limit).collect(), total: all.total }
    } else {
        state.broker.list(&query).await?
    };
    let jobs: Vec<Value> = page.jobs.iter().map(|job| job_json(&caller, job)).collect();
    Ok(Json(json!({ "data": jobs, "total": page.total, "limit": limit, "offset": offset })))
}

/// Best score first, unscored last; a stable sort keeps ties newest first.
fn by_score(a: &JobRecord, b: &JobRecord) -> std::cmp::Ordering {
    let score = |j: &JobRecord| j.results.as_ref().and_then(crate::jobs::JobResults::score);
    match (score(a), score(b)) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

pub async fn cancel(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    find(&state, &caller, &id).await?;
    let (status, message) = match state.broker.cancel(&id).await? {
        CancelOutcome::Cancelled => ("cancelled", "The job was cancelled before it started"),
        CancelOutcome::Requested => ("running", "Cancellation requested; the job stops within a second"),
        CancelOutcome::AlreadyEnded(status) => return Err(ApiError::new(ErrorCode::JobFinished, format!("job {id} already ended: {}", status.as_str()))),
    };
    let body = JobAcceptedBody { data: JobAccepted { job_id: id, status: status.into(), message: message.into() } };
    Ok((StatusCode::ACCEPTED, Json(to_json(&body))).into_response())
}

async fn artifact_bytes(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Bytes> {
    let job = find(state, caller, id).await?;
    if job.status != JobStatus::Completed {
        let message = format!("job {id} is {}; a model exists once it has completed", job.status.as_str());
        return Err(ApiError::new(ErrorCode::ModelNotReady, message));
    }
    state
        .storage
        .get(&datasets::model_key(id)?)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::ModelNotFound, format!("the model of job {id} is no longer stored")))
}

pub async fn model(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let bytes = artifact_bytes(&state, &caller, &id).await?;
    let disposition = format!("attachment; filename=\"{id}.trainhost\"");
    Ok(([(header::CONTENT_TYPE, "application/octet-stream".to_string()), (header::CONTENT_DISPOSITION, disposition)], bytes).into_response())
}

#[derive(Deserialize)]
pub struct PredictParams {
    format: Option<String>,
}

/// Body: `{"datasetId": "..."}` (an uploaded table) or `{"rows": [{"column": value, ...}, ...]}`.
/// `?format=csv` answers the CSV download instead of JSON.
pub async fn predict(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<PredictParams>,
    body: Bytes,
) -> ApiResult<Response> {
    let as_csv = match q.format.as_deref() {
        None | Some("") | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(ApiError::new(ErrorCode::InvalidField, format!("format `{other}`: use json or csv")).field("format")),
    };
    let request = predict_request(&body)?;
    let bytes = artifact_bytes(&state, &caller, &id).await?;
    let artifact = ModelArtifact::from_bytes(&bytes).map_err(ApiError::internal)?;
    let plugin = state.registry.current().get(&artifact.header.plugin).cloned().ok_or_else(|| {
        ApiError::new(ErrorCode::PluginUnavailable, format!("the model needs plugin `{}`, which is not enabled on this server", artifact.header.plugin))
    })?;
    let (table, source) = if let Some(dataset_id) = &request.dataset_id {
        super::datasets::visible(&state, &caller, dataset_id).await.map_err(|e| e.field("datasetId"))?;
        (datasets::load_table(&state.storage, dataset_id, state.config.current().limits).await.map_err(dataset_error)?, TableSource::Dataset)
    } else if let Some(rows) = &request.rows {
        (rows_to_table(rows).map_err(|e| ApiError::new(ErrorCode::InvalidRows, e).field("rows"))?, TableSource::Rows)
    } else {
        return Err(ApiError::new(ErrorCode::MissingField, "give `datasetId` (an uploaded table) or `rows` (a list of objects)").field("rows"));
    };
    let answer = tokio::task::spawn_blocking(move || -> Result<Answer, PredictFailure> {
        let set = crate::training::predict(&plugin, &artifact, &table)?;
        Ok(if as_csv {
            Answer::Csv(predictions::csv(&table, &set))
        } else {
            let score = predictions::score(&artifact.header.encoding, &table, &set);
            Answer::Json(Box::new(ScoredPredictions { predictions: set, score }))
        })
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| predict_error(e, source))?;
    Ok(match answer {
        Answer::Csv(text) => {
            let disposition = format!("attachment; filename=\"predictions-{id}.csv\"");
            ([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)], text).into_response()
        }
        Answer::Json(data) => Json(to_json(&PredictionBody { data: *data })).into_response(),
    })
}

/// A prediction as answered: JSON (with the score) or the CSV download.
enum Answer {
    Json(Box<ScoredPredictions>),
    Csv(String),
}

/// The body as `wire::PredictRequest`: not JSON, not an object, or a field
/// of the wrong type is refused, naming it.
fn predict_request(body: &[u8]) -> ApiResult<PredictRequest> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("the body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::new(ErrorCode::InvalidBody, "the body must be a JSON object with `datasetId` or `rows`"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let what = if field == "rows" { "a list of objects" } else { "a string" };
        ApiError::new(ErrorCode::InvalidField, format!("`{field}` must be {what}")).field(field)
    })
}

/// Where the rows to predict on came from: the field a table's fault is told against.
#[derive(Clone, Copy)]
enum TableSource {
    Dataset,
    Rows,
}

/// A table that does not fit the model (missing columns, wrong-typed cells)
/// is the request's fault, told against its field; anything else is the prediction's.
fn predict_error(e: PredictFailure, source: TableSource) -> ApiError {
    match (e, source) {
        (PredictFailure::Data(e @ (DataError::MissingColumns(_) | DataError::WrongTypes(_))), TableSource::Rows) => {
            ApiError::new(ErrorCode::InvalidRows, e.to_string()).field("rows")
        }
        (PredictFailure::Data(e @ (DataError::MissingColumns(_) | DataError::WrongTypes(_))), TableSource::Dataset) => {
            ApiError::new(ErrorCode::InvalidTable, e.to_string()).field("datasetId")
        }
        (e, _) => ApiError::new(ErrorCode::PredictFailed, e.to_string()),
    }
}

/// The answer when the dataset to predict on cannot be loaded.
fn dataset_error(e: LoadError) -> ApiError {
    match e {
        LoadError::NotFound(id) => ApiError::new(ErrorCode::DatasetNotFound, format!("no dataset `{id}`")).field("datasetId"),
        LoadError::NoData(id) => ApiError::new(ErrorCode::DatasetNotFound, format!("dataset `{id}` has no data")).field("datasetId"),
        LoadError::Unreadable { source: source @ DataError::TooLarge { .. }, .. } => {
            ApiError::new(ErrorCode::TableTooLarge, source.to_string()).field("datasetId")
        }
        LoadError::Unreadable { source, .. } => ApiError::new(ErrorCode::InvalidTable, source.to_string()).field("datasetId"),
        LoadError::ReaderFailed { .. } | LoadError::Storage(_) => ApiError::internal(e),
    }
}

/// Builds a table from JSON rows: a column of numbers becomes f64, of booleans bool, anything else text.
fn rows_to_table(rows: &[Value]) -> Result<polars::prelude::DataFrame, String> {
    use polars::prelude::*;
    if rows.is_empty() {
        return Err("`rows` is empty".into());
    }
    let mut names: Vec<String> = vec![];
    for row in rows {
        let Value::Object(obj) = row else { return Err("each row must be an object of column: value".into()) };
        for k in obj.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let columns: Vec<Column> = names
        .iter()
        .map(|name| {
            let values: Vec<&Value> = rows.iter().map(|r| r.get(name).unwrap_or(&Value::Null)).collect();
            let present = || values.iter().filter(|v| !v.is_null());
            if present().all(|v| v.is_number()) {
                Column::new(name.into(), values.iter().map(|v| v.as_f64()).collect::<Vec<Option<f64>>>())
            } else if present().all(|v| v.is_boolean()) {
                Column::new(name.into(), values.iter().map(|v| v.as_bool()).collect::<Vec<Option<bool>>>())
            } else {
                let text: Vec<Option<String>> = values
                    .iter()
                    .map(|v| match v {
                        Value::Null => None,
                        Value::String(s) => Some(s.clone()),
                        other => Some(other.to_string()),
                    })
                    .collect();
                Column::new(name.into(), text)
            }
        })
        .collect();
    DataFrame::new(rows.len(), columns).map_err(|e| e.to_string())
}
