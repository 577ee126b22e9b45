//! Run routes: re-run a job (`POST /jobs/{id}/rerun`: the same request, a new
//! job) and compare jobs side by side (`GET /jobs/compare?ids=a,b`: the
//! parameters in force and which differ, the metrics, the per-epoch curves).
//!
//! Owns these two answers. It must not decide what a request means (a re-run
//! goes through `validate::train_request` again, as any submit does) nor
//! store anything itself: the broker keeps jobs and their events.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::jobs::{find, queue_spec};
use super::wire::{to_json, ComparedJob, Comparison, ComparisonBody, CurvePoint, JobAccepted, JobAcceptedBody};
use super::{validate, ApiError, ApiResult, AppState, ErrorCode};
use crate::jobs::{JobRecord, JobSpec};

/// How many jobs one comparison takes.
const MAX_COMPARED: usize = 10;

/// `POST /jobs/{id}/rerun`: the job's request submitted again as a new job,
/// checked as a new submit is (the dataset and plugin must still be there;
/// the quota counts it).
pub async fn rerun(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let original = find(&state, &caller, &id).await?;
    let body = serde_json::to_vec(&request_of(&original.spec)).map_err(ApiError::internal)?;
    let mut spec = validate::train_request(&state, &caller, &body).await.map_err(|e| gone_dataset(e, &original))?;
    spec.labels.rerun_of = Some(id.clone());
    let job_id = queue_spec(&state, &caller, spec).await?;
    let message = format!("Re-run of job {id} queued");
    let body = JobAcceptedBody { data: JobAccepted { job_id, status: "queued".into(), message } };
    Ok((StatusCode::ACCEPTED, Json(to_json(&body))).into_response())
}

/// The train request a job was made from, in the API's names.
fn request_of(spec: &JobSpec) -> Value {
    json!({
        "datasetId": spec.dataset_id,
        "targetColumn": spec.target_column,
        "taskType": spec.task_type,
        "modelConfig": spec.model_config,
        "seed": spec.seed,
        "testFraction": spec.test_fraction,
        "pluginValidationFraction": spec.plugin_validation_fraction,
        "folds": spec.folds,
        "excludeColumns": spec.columns.exclude_columns,
        "columnKinds": spec.columns.column_kinds,
        "name": spec.labels.name,
        "tags": spec.labels.tags,
        "maxInstances": spec.max_instances,
    })
}

/// A re-run whose dataset was deleted says so in terms of the job.
fn gone_dataset(e: ApiError, original: &JobRecord) -> ApiError {
    if matches!(e.code, ErrorCode::DatasetNotFound) {
        let message = format!(
            "job {} was trained on dataset `{}`, which no longer exists; upload the table again and train anew",
            original.job_id, original.spec.dataset_id
        );
        return ApiError::new(ErrorCode::DatasetNotFound, message).field("datasetId");
    }
    e
}

#[derive(Deserialize)]
pub struct CompareParams {
    ids: Option<String>,
}

/// `GET /jobs/compare?ids=a,b,...`: two to ten jobs of the caller's, side by side.
pub async fn compare(State(state): State<AppState>, caller: Caller, Query(p): Query<CompareParams>) -> ApiResult<Json<Value>> {
    let ids = compared_ids(p.ids.as_deref().unwrap_or(""))?;
    let registry = state.registry.current();
    let mut jobs = Vec::with_capacity(ids.len());
    for id in &ids {
        let record = find(&state, &caller, id).await.map_err(|e| e.field("ids"))?;
        let events = state.broker.events_after(id, 0).await?;
        let defaults = registry.get(&record.spec.plugin).map(|p| p.schema.params.iter().map(|s| (s.name.clone(), s.default.clone())).collect());
        jobs.push(compared(&record, defaults.unwrap_or_default(), curves(events.iter().map(|e| e.json.as_str()))));
    }
    let differing_params = differing(&jobs);
    Ok(Json(to_json(&ComparisonBody { data: Comparison { jobs, differing_params } })))
}

/// The ids asked for: 2 to `MAX_COMPARED` distinct ones, comma-separated.
fn compared_ids(text: &str) -> ApiResult<Vec<String>> {
    let mut ids: Vec<String> = vec![];
    for id in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }
    if ids.len() < 2 || ids.len() > MAX_COMPARED {
        let message = format!("`ids` must name 2 to {MAX_COMPARED} different jobs, comma-separated; got {}", ids.len());
        return Err(ApiError::new(ErrorCode::InvalidField, message).field("ids"));
    }
    Ok(ids)
}

/// One job as the comparison shows it: every parameter in force (the ones
/// it set, then the plugin's defaults for the rest).
fn compared(record: &JobRecord, defaults: Map<String, Value>, curves: BTreeMap<String, Vec<CurvePoint>>) -> ComparedJob {
    let mut params = defaults;
    params.extend(record.spec.params.clone());
    let results = record.results.as_ref();
    ComparedJob {
        job_id: record.job_id.clone(),
        name: record.spec.labels.name.clone(),
        tags: record.spec.labels.tags.clone(),
        status: record.status,
        dataset_id: record.spec.dataset_id.clone(),
        task_type: record.spec.task_type.clone(),
        target_column: record.spec.target_column.clone(),
        created_at: record.created_at,
        score: results.and_then(crate::jobs::JobResults::score),
        plugin: record.spec.plugin.clone(),
        params,
        headline_metric: results.map(|r| r.headline_metric.clone()),
        evaluated_on: results.map(|r| r.summary.evaluated_on.as_str().to_string()),
        metrics: results.map(|r| r.metrics.clone()).unwrap_or_default(),
        curves,
    }
}

/// The per-epoch metrics of the job's last attempt, from its stored events
/// (`progress`: epoch and metrics), by metric name: the final model's, so a
/// cross-validation's fold epochs (`fold` set) are left out.
fn curves<'a>(events: impl Iterator<Item = &'a str>) -> BTreeMap<String, Vec<CurvePoint>> {
    let mut curves: BTreeMap<String, Vec<CurvePoint>> = BTreeMap::new();
    for event in events.filter_map(|text| serde_json::from_str::<Value>(text).ok()) {
        match event["type"].as_str() {
            // A new attempt (a claim's `running`, which names its attempt) starts its curves
            // again; a phase event such as "storing the model" names none and keeps them.
            Some("status") if event["status"] == "running" && !event["attempt"].is_null() => curves.clear(),
            Some("progress") if event["fold"].is_null() => {
                let Some(epoch) = event["epoch"].as_u64() else { continue };
                for (name, value) in event["metrics"].as_object().into_iter().flatten() {
                    if let Some(value) = value.as_f64() {
                        curves.entry(name.clone()).or_default().push(CurvePoint { epoch, value });
                    }
                }
            }
            _ => {}
        }
    }
    curves
}

/// The parameters (and the plugin) whose values are not the same in every job.
fn differing(jobs: &[ComparedJob]) -> Vec<String> {
    let mut names: BTreeSet<&String> = jobs.iter().flat_map(|j| j.params.keys()).collect();
    names.retain(|name| {
        let first = jobs[0].params.get(*name);
        jobs.iter().any(|j| j.params.get(*name) != first)
    });
    let mut out: Vec<String> = names.into_iter().cloned().collect();
    if jobs.iter().any(|j| j.plugin != jobs[0].plugin) {
        out.insert(0, "selectedModel".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_keep_only_the_last_attempt_and_numbers() {
        let events = [
            r#"{"type":"status","status":"running","attempt":1,"seq":2}"#,
            r#"{"type":"progress","epoch":1,"metrics":{"cost":5.0},"seq":3}"#,
            r#"{"type":"status","status":"running","attempt":2,"seq":4}"#,
            // A cross-validation's fold is not the final model's curve.
            r#"{"type":"progress","epoch":1,"metrics":{"cost":9.0},"fold":1,"seq":5}"#,
            r#"{"type":"progress","epoch":1,"metrics":{"cost":4.0,"accuracy":null},"seq":5}"#,
            r#"{"type":"progress","epoch":2,"metrics":{"cost":3.5},"seq":6}"#,
            // The phase after training keeps the attempt's curves.
            r#"{"type":"status","status":"running","message":"storing the model","seq":7}"#,
        ];
        let curves = curves(events.into_iter());
        assert_eq!(curves.keys().collect::<Vec<_>>(), vec!["cost"]);
        assert_eq!(curves["cost"], vec![CurvePoint { epoch: 1, value: 4.0 }, CurvePoint { epoch: 2, value: 3.5 }]);
    }

    #[test]
    fn ids_must_name_two_to_ten_distinct_jobs() {
        assert_eq!(compared_ids("a, b,a").unwrap(), vec!["a", "b"]);
        assert!(compared_ids("a,a").is_err());
        assert!(compared_ids("x").is_err());
        let eleven: Vec<String> = (0..11).map(|i| i.to_string()).collect();
        assert!(compared_ids(&eleven.join(",")).is_err());
    }
}
