//! Sweep routes: `POST /sweeps` (checked here, then stored and driven by
//! `sweeps::driver`), `GET /sweeps`, `GET /sweeps/{id}`, `POST
//! /sweeps/{id}/cancel` and `GET /sweeps/{id}/model` (the best trial's model).
//! `WS /ws/sweeps/{id}` is in `ws`.
//!
//! Each setting of a sweep's space is checked as a training request would be
//! (`validate::train_request`: dataset, target, task, plugin, parameters and
//! cost), and the space itself against the plugin's schema (`sweeps::space`).
//! A member sees only their own sweeps, as with jobs. Owns the request's wire
//! shape and these answers. It must not drive a sweep.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::auth::{audit, Caller};
use super::{validate, ApiError, ApiResult, AppState, ErrorCode};
use crate::contract::Task;
use crate::ids::{is_valid_id, new_id, now_ms};
use crate::jobs::JobSpec;
use crate::sweeps::events::SweepEvent;
use crate::sweeps::space::{suggested_space, PluginSpace};
use crate::sweeps::strategy::{Strategy, MAX_TRIALS};
use crate::sweeps::{asha, best_json, driver, metric_direction, metrics_of, trial_json, SweepRecord, SweepSpec, SweepStatus};

/// Most trials live at once, whatever a request asks.
const MAX_PARALLEL: u32 = 64;

/// The body of `POST /sweeps`. Every field may be absent here: which are
/// required is a question of meaning (see `check`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SweepRequest {
    #[schema(required = true, nullable = false)]
    pub dataset_id: Option<String>,
    /// Required for classification and regression.
    pub target_column: Option<String>,
    #[schema(required = true, nullable = false)]
    pub task_type: Option<String>,
    /// The host's metric on the judged rows that ranks trials; default the task's headline.
    pub metric: Option<String>,
    /// grid, random, asha or auto (asha over every enabled plugin's suggested space). Default random.
    pub strategy: Option<String>,
    /// Most trials (a grid's default: all of its points).
    #[schema(minimum = 1)]
    pub trials: Option<u64>,
    /// Wall-clock seconds; when spent, no trial starts and running ones are cancelled.
    #[schema(minimum = 1)]
    pub budget_seconds: Option<u64>,
    /// K-fold cross-validation of every trial (0: the holdout), passed to each trial's job.
    pub folds: Option<u32>,
    pub seed: Option<u64>,
    /// Most trials queued or running at once; default the worker count.
    #[schema(minimum = 1)]
    pub parallel_trials: Option<u32>,
    /// ASHA's reduction factor, 2 to 10 (default 3).
    pub eta: Option<u32>,
    /// ASHA's first rung, in the plugin's epochs (default: from the trials' epoch count).
    pub min_epochs: Option<u32>,
    pub test_fraction: Option<f64>,
    pub plugin_validation_fraction: Option<f64>,
    pub exclude_columns: Option<Vec<String>>,
    pub column_kinds: Option<BTreeMap<String, String>>,
    /// Per plugin: `{"selectedModel": name, param: value | {"values": [...]} | {"min", "max", "scale": "linear" | "log"}}`.
    #[schema(value_type = Vec<Object>)]
    pub space: Option<Vec<Map<String, Value>>>,
}

pub async fn submit(State(state): State<AppState>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    let request = parse(&body)?;
    let spec = check(&state, &caller, &request).await?;
    let sweep_id = new_id();
    let record = SweepRecord {
        sweep_id: sweep_id.clone(),
        owner: caller.name().map(str::to_string),
        status: SweepStatus::Queued,
        spec,
        trials: vec![],
        rungs: None,
        message: None,
        cancel_requested: false,
        created_at: now_ms(),
        started_at: None,
        finished_at: None,
        last_seq: 0,
    };
    state.sweeps.sweeps.create(&record, SweepEvent::status(&record)).await?;
    tracing::info!(sweep_id = %sweep_id, strategy = ?record.spec.strategy, "sweep queued");
    driver::spawn(&state.sweeps, &sweep_id);
    Ok((StatusCode::ACCEPTED, Json(json!({"data": {"sweepId": sweep_id, "status": "queued"}}))).into_response())
}

fn parse(body: &[u8]) -> ApiResult<SweepRequest> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("the body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::new(ErrorCode::InvalidBody, "the body must be a JSON object with datasetId, targetColumn, taskType, strategy and space"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = path.split(['[', '.']).next().unwrap_or(&path).to_string();
        ApiError::new(ErrorCode::InvalidField, format!("`{path}` has the wrong type: {}", e.inner())).field(field)
    })
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidField, message).field(field)
}

/// The sweep a request asks for, once it makes sense.
async fn check(state: &AppState, caller: &Caller, request: &SweepRequest) -> ApiResult<SweepSpec> {
    let task_text = request.task_type.as_deref().filter(|t| !t.trim().is_empty());
    let task_text = task_text
        .ok_or_else(|| ApiError::new(ErrorCode::MissingField, "`taskType` is required: classification, regression or clustering").field("taskType"))?;
    let task = Task::parse(task_text).ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidTask, format!("taskType `{task_text}` is not a task; use classification, regression or clustering")).field("taskType")
    })?;
    let strategy = match request.strategy.as_deref() {
        None | Some("") => Strategy::Random,
        Some(s) => Strategy::parse(s).ok_or_else(|| invalid("strategy", format!("strategy `{s}`: use grid, random, asha or auto")))?,
    };
    let metric = request.metric.clone().unwrap_or_else(|| headline(task).to_string());
    let higher_is_better = metric_direction(task, &metric).ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidField, format!("metric `{metric}` is not one of {}'s: {}", task.as_str(), metrics_of(task))).field("metric")
    })?;
    if strategy != Strategy::Grid && request.trials.is_none() && request.budget_seconds.is_none() {
        return Err(ApiError::new(ErrorCode::MissingField, "give `trials` (how many), `budgetSeconds` (how long), or both").field("trials"));
    }
    match request.trials {
        Some(0) => return Err(invalid("trials", "`trials` must be at least 1")),
        Some(n) if n > MAX_TRIALS => return Err(invalid("trials", format!("`trials` is at most {MAX_TRIALS} a sweep; give fewer, or `budgetSeconds` alone"))),
        _ => {}
    }
    if request.budget_seconds == Some(0) {
        return Err(invalid("budgetSeconds", "`budgetSeconds` must be at least 1"));
    }
    let eta = request.eta.unwrap_or(asha::DEFAULT_ETA);
    if !(2..=10).contains(&eta) {
        return Err(invalid("eta", "`eta` must be from 2 to 10"));
    }
    if request.min_epochs == Some(0) {
        return Err(invalid("minEpochs", "`minEpochs` must be at least 1"));
    }
    let parallel = request.parallel_trials.unwrap_or_else(|| state.config.current().worker_count() as u32);
    if parallel == 0 {
        return Err(invalid("parallelTrials", "`parallelTrials` must be at least 1"));
    }
    let (spaces, base) = spaces(state, caller, request, task, strategy).await?;
    Ok(SweepSpec {
        metric,
        higher_is_better,
        strategy,
        trials: request.trials,
        budget_seconds: request.budget_seconds,
        parallel_trials: parallel.min(MAX_PARALLEL),
        eta,
        min_epochs: request.min_epochs,
        seed: request.seed.unwrap_or(42),
        folds: request.folds.unwrap_or(0),
        spaces,
        base,
    })
}

fn headline(task: Task) -> &'static str {
    match task {
        Task::Classification => "accuracy",
        Task::Regression => "r2",
        Task::Clustering => "silhouette",
    }
}

/// The spaces searched, each checked, and the job every trial starts from.
async fn spaces(state: &AppState, caller: &Caller, request: &SweepRequest, task: Task, strategy: Strategy) -> ApiResult<(Vec<PluginSpace>, JobSpec)> {
    let registry = state.registry.current();
    let mut spaces = vec![];
    if strategy == Strategy::Auto && request.space.as_ref().is_none_or(Vec::is_empty) {
        spaces = registry.iter().filter(|(_, p)| p.schema.supports(task)).map(|(name, p)| suggested_space(name, &p.schema, task)).collect();
        if spaces.is_empty() {
            return Err(ApiError::new(ErrorCode::UnsupportedTask, format!("no enabled plugin does {}", task.as_str())).field("taskType"));
        }
    }
    for (i, entry) in request.space.iter().flatten().enumerate() {
        let field = format!("space[{i}]");
        let name = entry.get("selectedModel").and_then(Value::as_str).filter(|n| !n.trim().is_empty()).ok_or_else(|| {
            ApiError::new(ErrorCode::MissingField, format!("`{field}.selectedModel` is required: the plugin to search (see GET /plugins)"))
                .field(format!("{field}.selectedModel"))
        })?;
        let mut params = entry.clone();
        params.remove("selectedModel");
        let space = match registry.get(name) {
            Some(plugin) => PluginSpace::parse(name, &plugin.schema, &params)
                .map_err(|e| ApiError::new(ErrorCode::InvalidParameter, format!("{field}.{}: {}", e.param, e.reason)).field(format!("{field}.{}", e.param)))?,
            // The train request's own check names why (unknown, disabled, failed to load).
            None => {
                return Err(train_check(state, caller, request, task, name, &Map::new(), &field)
                    .await
                    .err()
                    .unwrap_or_else(|| ApiError::internal("plugin vanished")))
            }
        };
        spaces.push(space);
    }
    if spaces.is_empty() {
        return Err(
            ApiError::new(ErrorCode::MissingField, "`space` is required: a list of {\"selectedModel\": plugin, parameter: values or range}").field("space")
        );
    }
    // `auto` leaves out the plugins this table does not suit; a space the
    // client wrote is refused instead, naming what to fix.
    let auto = strategy == Strategy::Auto && request.space.as_ref().is_none_or(Vec::is_empty);
    let (mut base, mut kept, mut refusal) = (None, vec![], None);
    for (i, space) in spaces.into_iter().enumerate() {
        match train_check(state, caller, request, task, &space.plugin, &space.first_point(), &format!("space[{i}]")).await {
            Ok(spec) => {
                base.get_or_insert(spec);
                kept.push(space);
            }
            Err(e) if auto => {
                refusal.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    match base {
        Some(base) => Ok((kept, base)),
        None => Err(refusal.unwrap_or_else(|| ApiError::internal("no space checked"))),
    }
}

/// One setting of the space as a training request, by the train route's own
/// checks; its errors name the space's fields (`space[i].maxDepth`).
async fn train_check(
    state: &AppState,
    caller: &Caller,
    request: &SweepRequest,
    task: Task,
    plugin: &str,
    params: &Map<String, Value>,
    field: &str,
) -> ApiResult<JobSpec> {
    let mut model_config = params.clone();
    model_config.insert("selectedModel".into(), Value::from(plugin));
    let mut body = json!({
        "datasetId": request.dataset_id, "targetColumn": request.target_column, "taskType": task.as_str(), "modelConfig": model_config,
        "seed": request.seed, "testFraction": request.test_fraction, "pluginValidationFraction": request.plugin_validation_fraction,
        "excludeColumns": request.exclude_columns, "columnKinds": request.column_kinds,
    });
    if let Some(folds) = request.folds.filter(|k| *k > 0) {
        body["folds"] = json!(folds);
    }
    validate::train_request(state, caller, body.to_string().as_bytes()).await.map_err(|mut e| {
        if let Some(f) = e.field.as_deref().and_then(|f| f.strip_prefix("modelConfig.")) {
            let renamed = format!("{field}.{f}");
            e.message = e.message.replace(&format!("modelConfig.{f}"), &renamed);
            e.field = Some(renamed);
        }
        e
    })
}

fn no_sweep(id: &str) -> ApiError {
    ApiError::new(ErrorCode::SweepNotFound, format!("no sweep `{id}`"))
}

/// The sweep `id` as `caller` may see it: another member's answers as a missing one.
pub(super) async fn find(state: &AppState, caller: &Caller, id: &str) -> ApiResult<SweepRecord> {
    if !is_valid_id(id) {
        return Err(no_sweep(id));
    }
    let record = state.sweeps.sweeps.get(id).await?.ok_or_else(|| no_sweep(id))?;
    if !caller.may_see(record.owner.as_deref()) {
        audit(caller.name(), "read_sweep", id, "denied: not the owner (answered as missing)");
        return Err(no_sweep(id));
    }
    Ok(record)
}

/// A sweep as `GET /sweeps/{id}` shows it: every trial, the best, the leaderboard.
fn sweep_json(record: &SweepRecord, full: bool) -> Value {
    let spaces: Vec<&str> = record.spec.spaces.iter().map(|s| s.plugin.as_str()).collect();
    let mut value = json!({
        "sweepId": record.sweep_id, "status": record.status, "message": record.message, "strategy": record.spec.strategy,
        "metric": record.spec.metric, "higherIsBetter": record.spec.higher_is_better, "plugins": spaces,
        "datasetId": record.spec.base.dataset_id, "taskType": record.spec.base.task_type,
        "trialCount": record.trials.len(), "parallelTrials": record.spec.parallel_trials, "eta": record.spec.eta, "rungs": record.rungs,
        "best": record.best().map(best_json), "cancelRequested": record.cancel_requested,
        "createdAt": record.created_at, "startedAt": record.started_at, "finishedAt": record.finished_at,
    });
    if full {
        value["trials"] = record.trials.iter().map(trial_json).collect();
        value["leaderboard"] = record.leaderboard().into_iter().map(best_json).collect();
        value["spaces"] = json!(record.spec.spaces);
    }
    value
}

pub async fn get_sweep(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let record = find(&state, &caller, &id).await?;
    let mut data = sweep_json(&record, true);
    if caller.shows_owner() {
        data["owner"] = json!(record.owner);
    }
    Ok(Json(json!({ "data": data })))
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let owner = caller.owner_filter();
    let all = state.sweeps.sweeps.list(owner.as_deref()).await?;
    let data: Vec<Value> = all.iter().filter(|r| caller.may_see(r.owner.as_deref())).map(|r| sweep_json(r, false)).collect();
    Ok(Json(json!({ "data": data, "total": data.len() })))
}

pub async fn cancel(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let record = find(&state, &caller, &id).await?;
    if record.status.is_terminal() {
        return Err(ApiError::new(ErrorCode::SweepFinished, format!("sweep {id} already ended: {}", record.status.as_str())));
    }
    state.sweeps.sweeps.request_cancel(&id).await?;
    let message = "Cancellation requested; the sweep cancels its trials within a second";
    Ok((StatusCode::ACCEPTED, Json(json!({"data": {"sweepId": id, "status": record.status, "message": message}}))).into_response())
}

/// The best trial's model file, as `GET /jobs/{bestJobId}/model` serves it.
pub async fn model(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let record = find(&state, &caller, &id).await?;
    let best = record
        .best()
        .map(|t| t.job_id.clone())
        .ok_or_else(|| ApiError::new(ErrorCode::ModelNotReady, format!("sweep {id} has no completed trial yet ({})", record.status.as_str())))?;
    super::jobs::model(State(state), caller, Path(best)).await
}
