//! Checks a training request before anything is stored or queued, in two
//! steps. First the body is parsed into a `TrainRequest`: a field of the wrong
//! type is refused, naming it. Then its meaning is checked: the plugin
//! (unknown, disabled, failed to load), the task and the parameters (by
//! `training`'s own check, the one a worker repeats), the dataset and the
//! target column, then the parameters the client set by the plugin's own
//! check on the dataset's columns (`training::precheck_params`), and last the
//! plugin's cost estimate on the dataset's shape against its limits
//! (`training::admission`, which counts every fit of a cross-validation).
//! Each failure names the field and what to fix.
//!
//! Owns the request's wire shape and these answers. It must not queue or
//! store anything: it returns the `JobSpec` for the broker.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::auth::Caller;
use super::{ApiError, AppState, ErrorCode};
use crate::contract::{Param, Task};
use crate::data::split::{self, FractionError, SplitFractions};
use crate::data::{ColumnChoices, ColumnKind, ColumnProfile, Encoding};
use crate::jobs::{JobSpec, LabelError, RunLabels};
use crate::runtime::{LoadedPlugin, ParamError, PluginRegistry};
use crate::storage::datasets::{self, DatasetRecord};
use crate::training::{self, admission, crossval, TrainFailure};

const DEFAULT_SEED: u64 = 42;
const SELECTED_MODEL: &str = "modelConfig.selectedModel";

/// The body of `POST /train` and `POST /api/jobs`, as sent. Every field may
/// be absent or null here: which are required is a question of meaning
/// (`datasetId`, `taskType` and `modelConfig.selectedModel` always;
/// `targetColumn` unless clustering). Its OpenAPI schema is derived from it.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainRequest {
    /// From `POST /datasets`.
    #[schema(required = true, nullable = false)]
    pub dataset_id: Option<String>,
    /// Required for classification and regression (numeric for regression).
    pub target_column: Option<String>,
    #[schema(required = true, nullable = false, value_type = TaskName)]
    pub task_type: Option<String>,
    #[schema(required = true, nullable = false)]
    pub model_config: Option<ModelConfig>,
    /// Default 42.
    #[schema(minimum = 0)]
    pub seed: Option<u64>,
    /// Share of rows held out for the final metrics; the plugin never sees them.
    #[schema(minimum = 0.0, maximum = 0.9)]
    pub test_fraction: Option<f64>,
    /// The older contract's name for `testFraction`, with the same meaning.
    #[schema(minimum = 0.0, maximum = 0.9)]
    pub validation_fraction: Option<f64>,
    /// Share of rows handed to the plugin as its validation table.
    #[schema(minimum = 0.0, maximum = 0.9)]
    pub plugin_validation_fraction: Option<f64>,
    /// Cross-validation before the final fit: K fits on stratified folds of the
    /// training part (the test rows stay outside every fold), their metrics as
    /// mean, standard deviation and per-fold values in `results.crossValidation`.
    /// 0 or absent: none; else 2 to 20. Not for clustering.
    #[schema(minimum = 0, maximum = 20)]
    pub folds: Option<u64>,
    /// Columns the model must not learn from.
    pub exclude_columns: Option<Vec<String>>,
    /// Columns to read as `numeric` or `categorical` rather than as inferred.
    pub column_kinds: Option<BTreeMap<String, String>>,
    /// A name for the run, shown in the history (at most 100 characters).
    #[schema(max_length = 100)]
    pub name: Option<String>,
    /// Tags to filter the history by (`GET /jobs?tag=`): at most 10, each 1 to 32
    /// letters, digits, `-`, `_`, `.` or `:`.
    #[schema(max_items = 10)]
    pub tags: Option<Vec<String>>,
    /// The most instances of the plugin the job may train in at once (1 to
    /// 1024; absent: as many as the worker's free slots, the plugin and the
    /// config allow). The model is the same bytes however many it gets.
    #[schema(minimum = 1, maximum = 1024)]
    pub max_instances: Option<u64>,
}

/// `modelConfig`: the plugin to train with, and its parameters.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelConfig {
    /// A plugin of `GET /plugins`.
    #[schema(required = true, nullable = false)]
    pub selected_model: Option<String>,
    /// Every other key: the hyperparameters, checked against the plugin's
    /// schema (`GET /plugins`: type, bounds, choices).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
}

/// The words `taskType` takes (`Task::parse`'s), for the request's schema.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum TaskName {
    Classification,
    Regression,
    Clustering,
}

impl TrainRequest {
    /// Parses a body, refusing what is not a JSON object and any field of the wrong type.
    pub fn parse(body: &[u8]) -> Result<TrainRequest, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("the body is not valid JSON: {e}")))?;
        if !value.is_object() {
            let message = "the body must be a JSON object with datasetId, targetColumn, taskType and modelConfig";
            return Err(ApiError::new(ErrorCode::InvalidBody, message));
        }
        serde_path_to_error::deserialize(value).map_err(|e| wrong_type(&e.path().to_string()))
    }

    /// The split this request asks for, or the answer naming the field to fix.
    pub fn fractions(&self) -> Result<SplitFractions, ApiError> {
        fractions_of(self)
    }
}

/// The answer for a field whose value has the wrong type, by its path.
fn wrong_type(path: &str) -> ApiError {
    match path {
        "seed" => ApiError::new(ErrorCode::InvalidNumber, "`seed` must be a non-negative integer").field(path),
        FOLDS => folds_range_error(),
        TEST_FRACTION | LEGACY_TEST_FRACTION | PLUGIN_VALIDATION_FRACTION => fraction_range_error(path),
        EXCLUDE_COLUMNS => ApiError::new(ErrorCode::InvalidField, "`excludeColumns` must be a list of column names").field(path),
        p if p == COLUMN_KINDS || p.starts_with("columnKinds.") => {
            ApiError::new(ErrorCode::InvalidField, "`columnKinds` must map column names to \"numeric\" or \"categorical\"").field(COLUMN_KINDS)
        }
        "modelConfig" => ApiError::new(ErrorCode::InvalidField, "`modelConfig` must be an object").field(path),
        p if p == TAGS || p.starts_with("tags[") => ApiError::new(ErrorCode::InvalidField, "`tags` must be a list of short words").field(TAGS),
        SELECTED_MODEL => ApiError::new(ErrorCode::InvalidField, "`selectedModel` must be a string").field(path),
        _ => ApiError::new(ErrorCode::InvalidField, format!("`{path}` must be a string")).field(path),
    }
}

const TEST_FRACTION: &str = "testFraction";
const FOLDS: &str = "folds";
const TAGS: &str = "tags";
const EXCLUDE_COLUMNS: &str = "excludeColumns";
const COLUMN_KINDS: &str = "columnKinds";
const LEGACY_TEST_FRACTION: &str = "validationFraction";
const PLUGIN_VALIDATION_FRACTION: &str = "pluginValidationFraction";

fn fraction_range_error(field: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidNumber, format!("`{field}` must be a number from 0 to 0.9")).field(field)
}

fn folds_range_error() -> ApiError {
    let message = format!("`folds` must be 0 (no cross-validation) or a whole number from {} to {}", split::MIN_FOLDS, split::MAX_FOLDS);
    ApiError::new(ErrorCode::InvalidField, message).field(FOLDS)
}

/// The folds a request asks for (0: none), in range and for a task that is split.
fn folds_of(request: &TrainRequest, task: Task) -> Result<usize, ApiError> {
    let folds = request.folds.unwrap_or(0);
    let folds = usize::try_from(folds).ok().filter(|&k| split::folds_in_range(k)).ok_or_else(folds_range_error)?;
    if folds > 0 && task == Task::Clustering {
        let message = "`folds` cross-validates classification and regression; clustering is not split (it is scored on every row): leave `folds` out";
        return Err(ApiError::new(ErrorCode::InvalidField, message).field(FOLDS));
    }
    Ok(folds)
}

/// The request's `maxInstances`, or the answer naming it.
fn max_instances_of(request: &TrainRequest) -> Result<Option<u32>, ApiError> {
    let Some(n) = request.max_instances else { return Ok(None) };
    match u32::try_from(n) {
        Ok(k @ 1..=MAX_INSTANCES) => Ok(Some(k)),
        _ => Err(ApiError::new(ErrorCode::InvalidNumber, format!("`maxInstances` {n}: give 1 to {MAX_INSTANCES}, or leave it out to use the free slots"))
            .field("maxInstances")),
    }
}

/// The largest `maxInstances` a request may give.
const MAX_INSTANCES: u32 = 1024;

/// Whether the dataset's training part fills `folds` folds, as far as its
/// profile tells (`crossval::FoldError`'s words; the worker checks the real rows).
/// Classification needs every class's counts, which the profile of a category
/// column gives when its levels fit in the list it keeps.
fn check_fold_rows(folds: usize, task: Task, dataset: &DatasetRecord, target: Option<&str>, fractions: SplitFractions) -> Result<(), ApiError> {
    let Some(profile) = target.and_then(|t| dataset.columns.iter().find(|c| c.name == t)).filter(|_| folds > 0) else { return Ok(()) };
    let refuse = |e: crossval::FoldError| ApiError::new(ErrorCode::InvalidNumber, e.to_string()).field(FOLDS);
    match task {
        Task::Regression => {
            let rows = split::training_rows_of_class(dataset.rows.saturating_sub(profile.missing), fractions);
            if rows < folds {
                return Err(refuse(crossval::FoldError::TooFewRows { folds, rows }));
            }
        }
        Task::Classification => {
            let levels = profile.stats.as_ref().map(|s| s.top_levels.as_slice()).unwrap_or_default();
            let known = profile.distinct.saturating_sub(usize::from(profile.missing > 0));
            if !levels.is_empty() && levels.len() == known {
                let rows = levels.iter().map(|(name, n)| (name.as_str(), split::training_rows_of_class(*n as usize, fractions)));
                crossval::check_class_rows(folds, rows).map_err(refuse)?;
            }
        }
        Task::Clustering => {}
    }
    Ok(())
}

/// The split a request asks for. `testFraction` and its older name
/// `validationFraction` may both be given only with the same value. Each error
/// names the field the client sent.
fn fractions_of(request: &TrainRequest) -> Result<SplitFractions, ApiError> {
    let (test, test_field) = match (request.test_fraction, request.validation_fraction) {
        (Some(test), Some(legacy)) if test != legacy => {
            let message =
                format!("`{LEGACY_TEST_FRACTION}` is the older name of `{TEST_FRACTION}` (the share held out for the final metrics); give one of them");
            return Err(ApiError::new(ErrorCode::InvalidNumber, message).field(LEGACY_TEST_FRACTION));
        }
        (Some(test), _) => (Some(test), TEST_FRACTION),
        (None, legacy) => (legacy, LEGACY_TEST_FRACTION),
    };
    SplitFractions::requested(test, request.plugin_validation_fraction).check().map_err(|e| match e {
        FractionError::Test => fraction_range_error(test_field),
        FractionError::PluginValidation => fraction_range_error(PLUGIN_VALIDATION_FRACTION),
        FractionError::TooMuchHeldOut(sum) => {
            let message = format!(
                "`{test_field}` and `{PLUGIN_VALIDATION_FRACTION}` add up to {sum}, but together they may hold out at most 0.9 of the rows; lower one of them"
            );
            ApiError::new(ErrorCode::InvalidNumber, message).field(PLUGIN_VALIDATION_FRACTION)
        }
    })
}

/// A string field's value, with a blank string taken as not given.
fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|text| !text.trim().is_empty())
}

fn missing(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::MissingField, message).field(field)
}

/// The job a training request asks for, once the body parses and makes sense.
pub async fn train_request(state: &AppState, caller: &Caller, body: &[u8]) -> Result<JobSpec, ApiError> {
    let request = TrainRequest::parse(body)?;
    let task = task_of(&request)?;
    let config = request.model_config.as_ref().ok_or_else(|| missing("modelConfig", "`modelConfig` is required, with at least `selectedModel`"))?;
    let plugin_name = given(&config.selected_model)
        .ok_or_else(|| missing(SELECTED_MODEL, "`modelConfig.selectedModel` is required: the plugin to train with (see GET /plugins)"))?;
    let registry = state.registry.current();
    let plugin = registry.get(plugin_name).ok_or_else(|| unknown_plugin(&registry, plugin_name))?;
    let params = check_plugin_request(plugin, plugin_name, task, &config.params)?;

    let seed = request.seed.unwrap_or(DEFAULT_SEED);
    let fractions = fractions_of(&request)?;
    let folds = folds_of(&request, task)?;
    let labels = labels_of(&request)?;
    let max_instances = max_instances_of(&request)?;

    let dataset_id = given(&request.dataset_id).ok_or_else(|| missing("datasetId", "`datasetId` is required: upload a table with POST /datasets first"))?;
    // Another member's dataset is answered as a missing one.
    let dataset = datasets::get(&state.storage, dataset_id).await?.filter(|d| caller.may_see(d.owner.as_deref())).ok_or_else(|| {
        let message = format!("no dataset `{dataset_id}`; upload one with POST /datasets or list them with GET /datasets");
        ApiError::new(ErrorCode::DatasetNotFound, message).field("datasetId")
    })?;
    let target = target_of(task, given(&request.target_column), &dataset, state.config.current().limits.max_classes)?;
    let columns = column_choices(&request, &dataset, target.as_deref())?;
    check_fold_rows(folds, task, &dataset, target.as_deref(), fractions)?;
    // Defaults are the plugin's own and valid for every task it does: only
    // parameters the client chose need the plugin's look.
    if !config.params.is_empty() {
        precheck(plugin, task, params.clone(), &dataset, target.as_deref(), &columns).await?;
    }
    admit_cost(plugin, task, params, &dataset, target.as_deref(), &columns, fractions, folds).await?;

    let mut model_config = config.params.clone();
    model_config.insert("selectedModel".into(), Value::from(plugin_name));
    Ok(JobSpec {
        dataset_id: dataset_id.to_string(),
        target_column: target,
        task_type: task.as_str().to_string(),
        model_config,
        plugin: plugin_name.to_string(),
        params: config.params.clone(),
        seed,
        test_fraction: fractions.test,
        plugin_validation_fraction: fractions.plugin_validation,
        folds,
        columns,
        owner: None,
        labels,
        max_instances,
    })
}

/// The run's name and tags (`RunLabels::checked`), or the answer naming the field to fix.
fn labels_of(request: &TrainRequest) -> Result<RunLabels, ApiError> {
    RunLabels::checked(request.name.as_deref(), request.tags.as_deref().unwrap_or_default()).map_err(|e| {
        let field = if e == LabelError::Name { "name" } else { TAGS };
        ApiError::new(ErrorCode::InvalidField, e.to_string()).field(field)
    })
}

fn task_of(request: &TrainRequest) -> Result<Task, ApiError> {
    let text = given(&request.task_type).ok_or_else(|| missing("taskType", "`taskType` is required: classification, regression or clustering"))?;
    Task::parse(text).ok_or_else(|| {
        let message = format!("taskType `{text}` is not a task; use classification, regression or clustering");
        ApiError::new(ErrorCode::InvalidTask, message).field("taskType")
    })
}

/// The task and the parameters, by the check training itself runs; the
/// parameters validated, with defaults filled in.
fn check_plugin_request(plugin: &LoadedPlugin, plugin_name: &str, task: Task, params: &Map<String, Value>) -> Result<Vec<Param>, ApiError> {
    match training::check_plugin_request(plugin, task, params) {
        Ok(params) => Ok(params),
        // Named as the request named it: the registry's name, not the plugin's own.
        Err(TrainFailure::UnsupportedTask { task, supported, .. }) => {
            let message = format!("plugin `{plugin_name}` does not do {task}; it does: {supported}");
            Err(ApiError::new(ErrorCode::UnsupportedTask, message).field("taskType"))
        }
        Err(TrainFailure::Param(e)) => Err(invalid_parameter(&e)),
        Err(other) => Err(ApiError::internal(other)),
    }
}

fn invalid_parameter(e: &ParamError) -> ApiError {
    let field = format!("modelConfig.{}", e.name);
    ApiError::new(ErrorCode::InvalidParameter, format!("{field}: {}", e.reason)).field(field)
}

/// The plugin's own look at the parameters, on the dataset's columns with no
/// rows (`training::precheck_params`), on a blocking thread: it runs wasm.
async fn precheck(
    plugin: &Arc<LoadedPlugin>,
    task: Task,
    params: Vec<Param>,
    dataset: &DatasetRecord,
    target: Option<&str>,
    columns: &ColumnChoices,
) -> Result<(), ApiError> {
    let plugin = Arc::clone(plugin);
    let features = Encoding::features_of_profile(&dataset.columns, target, columns);
    match tokio::task::spawn_blocking(move || training::precheck_params(&plugin, task, params, &features)).await {
        Ok(Err(e)) => Err(invalid_parameter(&e)),
        // A precheck that could not run decides nothing: the worker's run does.
        Ok(Ok(())) | Err(_) => Ok(()),
    }
}

/// The plugin's estimate of the job on the dataset's real shape, against its
/// limits (`training::admission`), on a blocking thread: it runs wasm. Every
/// job is asked, defaults included: a default may not fit a large table.
#[allow(clippy::too_many_arguments)]
async fn admit_cost(
    plugin: &Arc<LoadedPlugin>,
    task: Task,
    params: Vec<Param>,
    dataset: &DatasetRecord,
    target: Option<&str>,
    columns: &ColumnChoices,
    fractions: SplitFractions,
    folds: usize,
) -> Result<(), ApiError> {
    let distinct = |name: &str| dataset.columns.iter().find(|c| c.name == name).map_or(0, |c| c.distinct);
    let features: Vec<(ColumnKind, usize)> =
        Encoding::features_of_profile(&dataset.columns, target, columns).into_iter().map(|(name, kind)| (kind, distinct(&name))).collect();
    let target_profile = target.and_then(|t| dataset.columns.iter().find(|c| c.name == t));
    let facts = admission::ShapeFacts {
        task,
        rows: dataset.rows,
        target_missing: target_profile.map_or(0, |c| c.missing),
        fractions,
        features: &features,
        classes: match (task, target_profile) {
            (Task::Classification, Some(c)) => c.distinct.saturating_sub(usize::from(c.missing > 0)),
            _ => 0,
        },
    };
    let shape = admission::table_shape(&facts);
    let plugin = Arc::clone(plugin);
    match tokio::task::spawn_blocking(move || admission::admit_folds(&plugin, task, &params, &shape, folds)).await {
        Ok(Err(admission::Refusal::Param(e))) => Err(invalid_parameter(&e)),
        Ok(Err(admission::Refusal::OverLimit(over))) => Err(over_limit(&over)),
        // An estimate that could not run decides nothing: the worker's run does.
        Ok(Ok(_)) | Err(_) => Ok(()),
    }
}

fn over_limit(over: &admission::OverLimit) -> ApiError {
    let mut details = Map::new();
    let (unit, limit_key) = match over.resource {
        admission::Resource::Memory => ("bytes", "memory_mib"),
        admission::Resource::Time => ("cpu_seconds", "time_secs"),
    };
    details.insert("estimate".into(), Value::from(over.estimate));
    details.insert("limit".into(), Value::from(over.limit));
    details.insert("unit".into(), Value::from(unit));
    details.insert("limitName".into(), Value::from(format!("limits.{limit_key}")));
    ApiError { details: Some(details), ..ApiError::new(ErrorCode::OverPluginLimits, over.message()).field(over.field()) }
}

/// The target column: none for clustering, else a column of the dataset that fits the task.
fn target_of(task: Task, column: Option<&str>, dataset: &DatasetRecord, max_classes: usize) -> Result<Option<String>, ApiError> {
    if task == Task::Clustering {
        return Ok(None);
    }
    let column = column.ok_or_else(|| missing("targetColumn", format!("`targetColumn` is required for {}", task.as_str())))?;
    let profile = column_profile(dataset, column, "targetColumn")?;
    let invalid = |message: String| Err(ApiError::new(ErrorCode::InvalidTarget, message).field("targetColumn"));
    if task == Task::Regression && profile.kind != ColumnKind::Numeric {
        let kind = format!("{:?}", profile.kind).to_lowercase();
        return invalid(format!("column `{column}` is {kind}, not numeric: regression needs a numeric target; choose classification or another column"));
    }
    // n_unique counts a missing value as one more value.
    let values = profile.distinct.saturating_sub(usize::from(profile.missing > 0));
    if values < 2 {
        let what = if task == Task::Regression { "has the same value in every row" } else { "has only one class" };
        return invalid(format!("column `{column}` {what}: there is nothing to learn; choose another target column"));
    }
    if task == Task::Classification && values > max_classes {
        let hint = if profile.kind == ColumnKind::Numeric { "it holds numbers: choose regression" } else { "choose another target column" };
        return invalid(format!(
            "column `{column}` has {values} distinct values, more than the {max_classes} classes this server accepts for classification (limits.max_classes); {hint}"
        ));
    }
    Ok(Some(column.to_string()))
}

/// The profile of a column the request names in `field`, or why there is none.
fn column_profile<'a>(dataset: &'a DatasetRecord, column: &str, field: &str) -> Result<&'a ColumnProfile, ApiError> {
    dataset.columns.iter().find(|c| c.name == column).ok_or_else(|| {
        let names: Vec<&str> = dataset.columns.iter().map(|c| c.name.as_str()).collect();
        let message = format!("column `{column}` is not in dataset `{}`; its columns are: {}", dataset.id, names.join(", "));
        ApiError::new(ErrorCode::UnknownColumn, message).field(field)
    })
}

/// `excludeColumns` and `columnKinds`, checked against the dataset: every
/// column named exists, the target is not left out, a column is not both left
/// out and given a kind, and only numbers (or booleans and dates) are read as numbers.
fn column_choices(request: &TrainRequest, dataset: &DatasetRecord, target: Option<&str>) -> Result<ColumnChoices, ApiError> {
    let exclude = request.exclude_columns.clone().unwrap_or_default();
    for column in &exclude {
        column_profile(dataset, column, EXCLUDE_COLUMNS)?;
        if Some(column.as_str()) == target {
            let message = format!("`{column}` is the target column; it cannot also be left out");
            return Err(ApiError::new(ErrorCode::InvalidColumns, message).field(EXCLUDE_COLUMNS));
        }
    }
    let mut kinds = BTreeMap::new();
    for (column, kind) in request.column_kinds.iter().flatten() {
        let profile = column_profile(dataset, column, COLUMN_KINDS)?;
        let refuse = |message: String| Err(ApiError::new(ErrorCode::InvalidColumns, message).field(COLUMN_KINDS));
        if exclude.contains(column) {
            return refuse(format!("`{column}` is in excludeColumns and in columnKinds; keep it in one of them"));
        }
        let kind = match kind.as_str() {
            "numeric" => ColumnKind::Numeric,
            "categorical" => ColumnKind::Categorical,
            other => return refuse(format!("columnKinds.{column}: `{other}` is not a kind; use \"numeric\" or \"categorical\"")),
        };
        let readable_as_numbers = matches!(profile.kind, ColumnKind::Numeric | ColumnKind::Boolean | ColumnKind::Datetime);
        if kind == ColumnKind::Numeric && !readable_as_numbers {
            return refuse(format!("columnKinds.{column}: the column holds text ({}), which cannot be read as numbers; use \"categorical\"", profile.dtype));
        }
        kinds.insert(column.clone(), kind);
    }
    Ok(ColumnChoices { exclude_columns: exclude, column_kinds: kinds })
}

fn unknown_plugin(registry: &PluginRegistry, name: &str) -> ApiError {
    let error = if registry.is_disabled(name) {
        let message = format!("plugin `{name}` is disabled in this server's config; choose an enabled one (GET /plugins)");
        ApiError::new(ErrorCode::PluginDisabled, message)
    } else if let Some(reason) = registry.failures().get(name) {
        ApiError::new(ErrorCode::PluginUnavailable, format!("plugin `{name}` could not be loaded: {reason}"))
    } else {
        let enabled: Vec<&str> = registry.iter().map(|(n, _)| n.as_str()).collect();
        ApiError::new(ErrorCode::UnknownPlugin, format!("no plugin `{name}`; enabled plugins: {}", enabled.join(", ")))
    };
    error.field(SELECTED_MODEL)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refusal(body: Value) -> ApiError {
        TrainRequest::parse(body.to_string().as_bytes()).expect_err("refused")
    }

    #[test]
    fn a_full_request_parses_with_its_free_parameters() {
        let body = json!({"datasetId": "d", "targetColumn": "species", "taskType": "classification",
            "modelConfig": {"selectedModel": "baseline", "maxDepth": 3, "criterion": "gini"}, "seed": 7, "validationFraction": 0, "other": true});
        let request = TrainRequest::parse(body.to_string().as_bytes()).unwrap();
        let config = request.model_config.unwrap();
        assert_eq!(config.selected_model.as_deref(), Some("baseline"));
        assert_eq!(Value::Object(config.params), json!({"maxDepth": 3, "criterion": "gini"}));
        assert_eq!((request.seed, request.validation_fraction), (Some(7), Some(0.0)));
        let empty = TrainRequest::parse(br#"{"seed": null, "modelConfig": null}"#).unwrap();
        assert_eq!((empty.seed, empty.model_config, empty.dataset_id), (None, None, None));
    }

    #[test]
    fn a_wrong_type_names_its_field_with_the_status_it_always_had() {
        let cases = [
            (json!({"datasetId": 5}), "datasetId", 400, "`datasetId` must be a string"),
            (json!({"targetColumn": ["a"]}), "targetColumn", 400, "`targetColumn` must be a string"),
            (json!({"taskType": true}), "taskType", 400, "`taskType` must be a string"),
            (json!({"modelConfig": "baseline"}), "modelConfig", 400, "`modelConfig` must be an object"),
            (json!({"modelConfig": {"selectedModel": 1}}), "modelConfig.selectedModel", 400, "`selectedModel` must be a string"),
            (json!({"seed": -1}), "seed", 422, "non-negative integer"),
            (json!({"seed": 1.5}), "seed", 422, "non-negative integer"),
            (json!({"validationFraction": "half"}), "validationFraction", 422, "from 0 to 0.9"),
            (json!({"testFraction": "half"}), "testFraction", 422, "from 0 to 0.9"),
            (json!({"pluginValidationFraction": true}), "pluginValidationFraction", 422, "from 0 to 0.9"),
            (json!({"folds": "five"}), "folds", 400, "from 2 to 20"),
            (json!({"folds": -1}), "folds", 400, "from 2 to 20"),
            (json!({"folds": 2.5}), "folds", 400, "from 2 to 20"),
        ];
        for (body, field, status, hint) in cases {
            let error = refusal(body.clone());
            assert_eq!(error.code.as_str(), "invalid_field", "{body}");
            assert_eq!(error.field.as_deref(), Some(field), "{body}");
            assert_eq!(error.status().as_u16(), status, "{body}");
            assert!(error.message.contains(hint), "{body}: {}", error.message);
        }
    }

    fn fractions(body: Value) -> Result<SplitFractions, ApiError> {
        fractions_of(&TrainRequest::parse(body.to_string().as_bytes()).unwrap())
    }

    #[test]
    fn the_older_validation_fraction_sets_the_test_share() {
        assert_eq!(fractions(json!({})).unwrap(), SplitFractions::DEFAULT);
        assert_eq!(fractions(json!({"validationFraction": 0.3})).unwrap(), SplitFractions { test: 0.3, plugin_validation: 0.1 });
        assert_eq!(fractions(json!({"testFraction": 0.3, "validationFraction": 0.3})).unwrap().test, 0.3);
        assert_eq!(fractions(json!({"testFraction": 0, "pluginValidationFraction": 0})).unwrap(), SplitFractions::test_only(0.0));
        // The largest share the older contract accepted still is, with no validation table.
        assert_eq!(fractions(json!({"validationFraction": 0.9})).unwrap(), SplitFractions::test_only(0.9));
    }

    #[test]
    fn out_of_range_fractions_name_the_field_the_client_sent() {
        let cases = [
            (json!({"validationFraction": 0.95}), "validationFraction", "from 0 to 0.9"),
            (json!({"testFraction": -0.1}), "testFraction", "from 0 to 0.9"),
            (json!({"pluginValidationFraction": 1.5}), "pluginValidationFraction", "from 0 to 0.9"),
            (json!({"testFraction": 0.5, "pluginValidationFraction": 0.5}), "pluginValidationFraction", "at most 0.9"),
            (json!({"validationFraction": 0.7, "pluginValidationFraction": 0.3}), "pluginValidationFraction", "`validationFraction` and"),
            (json!({"testFraction": 0.2, "validationFraction": 0.3}), "validationFraction", "older name of `testFraction`"),
        ];
        for (body, field, hint) in cases {
            let error = fractions(body.clone()).expect_err("refused");
            assert_eq!(error.field.as_deref(), Some(field), "{body}");
            assert_eq!(error.status().as_u16(), 422, "{body}");
            assert!(error.message.contains(hint), "{body}: {}", error.message);
        }
    }

    #[test]
    fn folds_are_off_or_from_2_to_20_and_not_for_clustering() {
        let folds = |body: Value, task: Task| folds_of(&TrainRequest::parse(body.to_string().as_bytes()).unwrap(), task);
        assert_eq!(folds(json!({}), Task::Classification).unwrap(), 0);
        assert_eq!(folds(json!({"folds": 0}), Task::Clustering).unwrap(), 0);
        assert_eq!(folds(json!({"folds": 2}), Task::Regression).unwrap(), 2);
        assert_eq!(folds(json!({"folds": 20}), Task::Classification).unwrap(), 20);
        for k in [1, 21, 1_000_000_000_000u64] {
            let error = folds(json!({ "folds": k }), Task::Classification).expect_err("refused");
            assert_eq!((error.status().as_u16(), error.field.as_deref()), (400, Some("folds")), "{k}");
            assert!(error.message.contains("from 2 to 20"), "{}", error.message);
        }
        let error = folds(json!({"folds": 5}), Task::Clustering).expect_err("refused");
        assert_eq!((error.status().as_u16(), error.field.as_deref()), (400, Some("folds")));
        assert!(error.message.contains("clustering"), "{}", error.message);
    }

    #[test]
    fn not_json_and_not_an_object_are_told_apart() {
        assert_eq!(TrainRequest::parse(b"{not json").unwrap_err().code, ErrorCode::InvalidJson);
        for body in [json!([]), json!(["d", null, "classification"]), json!("text"), Value::Null] {
            let error = refusal(body);
            assert_eq!((error.code, error.field), (ErrorCode::InvalidBody, None));
        }
    }

    #[test]
    fn the_schema_names_exactly_the_tasks_the_request_takes() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(TaskName::schema()).unwrap();
        let names: Vec<&str> = schema["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(names, ["classification", "regression", "clustering"]);
        assert!(names.iter().all(|n| Task::parse(n).is_some_and(|t| t.as_str() == *n)));
    }

    #[test]
    fn blank_strings_count_as_not_given() {
        assert_eq!(given(&Some("  ".into())), None);
        assert_eq!(given(&Some(" x ".into())), Some(" x "));
        assert_eq!(given(&None), None);
    }
}
