//! Checks a training request before anything is stored or queued: the body's
//! shape, the plugin (unknown, disabled, failed to load), the task, every
//! parameter against the plugin's `describe()` schema, the dataset and the
//! target column. Each failure names the field and what to fix.

use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::{ApiError, AppState};
use crate::contract::Task;
use crate::data::ColumnKind;
use crate::jobs::JobSpec;
use crate::runtime::PluginRegistry;
use crate::storage::datasets;

const DEFAULT_SEED: u64 = 42;
const DEFAULT_VALIDATION: f64 = 0.2;

fn string_field<'a>(body: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(ApiError::bad_request("invalid_field", format!("`{name}` must be a string")).field(name)),
    }
}

pub async fn train_request(state: &AppState, body: &[u8]) -> Result<JobSpec, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}")))?;
    let Value::Object(body) = value else {
        return Err(ApiError::bad_request("invalid_body", "the body must be a JSON object with datasetId, targetColumn, taskType and modelConfig"));
    };

    let task_text = string_field(&body, "taskType")?
        .ok_or_else(|| ApiError::bad_request("missing_field", "`taskType` is required: classification, regression or clustering").field("taskType"))?;
    let task = Task::parse(task_text).ok_or_else(|| {
        ApiError::unprocessable("invalid_task", format!("taskType `{task_text}` is not a task; use classification, regression or clustering")).field("taskType")
    })?;

    let config = match body.get("modelConfig") {
        Some(Value::Object(c)) => c,
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request("missing_field", "`modelConfig` is required, with at least `selectedModel`").field("modelConfig"))
        }
        Some(_) => return Err(ApiError::bad_request("invalid_field", "`modelConfig` must be an object").field("modelConfig")),
    };
    let plugin_name = string_field(config, "selectedModel").map_err(|e| e.field("modelConfig.selectedModel"))?.ok_or_else(|| {
        ApiError::bad_request("missing_field", "`modelConfig.selectedModel` is required: the plugin to train with (see GET /plugins)")
            .field("modelConfig.selectedModel")
    })?;
    let registry = state.registry.current();
    let plugin = registry.get(plugin_name).ok_or_else(|| unknown_plugin(&registry, plugin_name))?;

    if !plugin.schema.supports(task) {
        return Err(ApiError::unprocessable(
            "unsupported_task",
            format!("plugin `{plugin_name}` does not do {}; it does: {}", task.as_str(), plugin.schema.tasks.join(", ")),
        )
        .field("taskType"));
    }

    let mut params = config.clone();
    params.remove("selectedModel");
    crate::runtime::schema::validate(&plugin.schema, &params)
        .map_err(|e| ApiError::unprocessable("invalid_parameter", format!("modelConfig.{}: {}", e.name, e.reason)).field(format!("modelConfig.{}", e.name)))?;

    let seed = match body.get("seed") {
        None | Some(Value::Null) => DEFAULT_SEED,
        Some(v) => v.as_u64().ok_or_else(|| ApiError::unprocessable("invalid_field", "`seed` must be a non-negative integer").field("seed"))?,
    };
    let validation_fraction = match body.get("validationFraction") {
        None | Some(Value::Null) => DEFAULT_VALIDATION,
        Some(v) => v
            .as_f64()
            .filter(|f| (0.0..=0.9).contains(f))
            .ok_or_else(|| ApiError::unprocessable("invalid_field", "`validationFraction` must be a number from 0 to 0.9").field("validationFraction"))?,
    };

    let dataset_id = string_field(&body, "datasetId")?
        .ok_or_else(|| ApiError::bad_request("missing_field", "`datasetId` is required: upload a table with POST /datasets first").field("datasetId"))?;
    let dataset = datasets::get(&state.storage, dataset_id).await?.ok_or_else(|| {
        ApiError::not_found("dataset_not_found", format!("no dataset `{dataset_id}`; upload one with POST /datasets or list them with GET /datasets"))
            .field("datasetId")
    })?;

    let target = string_field(&body, "targetColumn")?;
    let target = match (task, target) {
        (Task::Clustering, _) => None,
        (_, None) => return Err(ApiError::bad_request("missing_field", format!("`targetColumn` is required for {}", task.as_str())).field("targetColumn")),
        (_, Some(column)) => {
            let Some(profile) = dataset.columns.iter().find(|c| c.name == column) else {
                let names: Vec<&str> = dataset.columns.iter().map(|c| c.name.as_str()).collect();
                return Err(ApiError::unprocessable(
                    "unknown_column",
                    format!("column `{column}` is not in dataset `{dataset_id}`; its columns are: {}", names.join(", ")),
                )
                .field("targetColumn"));
            };
            if task == Task::Regression && profile.kind != ColumnKind::Numeric {
                return Err(ApiError::unprocessable(
                    "invalid_target",
                    format!("column `{column}` is {:?}, not numeric: regression needs a numeric target; choose classification or another column", profile.kind)
                        .to_lowercase(),
                )
                .field("targetColumn"));
            }
            Some(column.to_string())
        }
    };

    Ok(JobSpec {
        dataset_id: dataset_id.to_string(),
        target_column: target,
        task_type: task.as_str().to_string(),
        model_config: config.clone(),
        plugin: plugin_name.to_string(),
        params,
        seed,
        validation_fraction,
    })
}

fn unknown_plugin(registry: &PluginRegistry, name: &str) -> ApiError {
    let field = "modelConfig.selectedModel";
    if registry.is_disabled(name) {
        return ApiError::unprocessable(
            "plugin_disabled",
            format!("plugin `{name}` is disabled in this server's config; choose an enabled one (GET /plugins)"),
        )
        .field(field);
    }
    if let Some(reason) = registry.failures().get(name) {
        return ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "plugin_unavailable", format!("plugin `{name}` could not be loaded: {reason}")).field(field);
    }
    let enabled: Vec<&str> = registry.iter().map(|(n, _)| n.as_str()).collect();
    ApiError::unprocessable("unknown_plugin", format!("no plugin `{name}`; enabled plugins: {}", enabled.join(", "))).field(field)
}
