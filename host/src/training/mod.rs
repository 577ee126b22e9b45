//! One training run from table to model: validate the request against the
//! plugin's schema, encode and split the table three ways, call the plugin
//! with the training and validation parts, judge its predictions on the test
//! part, and package the model file. With `folds`, cross-validation on the
//! training part comes first (`crossval`).
//!
//! The rule the split serves: the rows the host judges a model on are never
//! handed to the plugin, in `train` or in any other call. The validation part
//! is the plugin's own, for early stopping and progress; it is not judged.
//!
//! Owns the order of those steps and nothing else: reading files is `data`'s,
//! running wasm is `runtime`'s, and queueing, events and storage belong to the
//! service. The CLI and the workers both call `train` and `predict` here.

pub mod admission;
pub mod artifact;
pub mod crossval;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use crate::contract::{self, Task};
use crate::data::metrics::{null_as_nan, Metrics};
use crate::data::split::{self, Split, SplitFractions};
use crate::data::{self, ColumnChoices, DataError, Encoding};
use crate::runtime::parallel::Rows;
use crate::runtime::{CallReport, CancelToken, LoadedPlugin, ParamError, ProgressSink, RunError};
pub use artifact::{ArtifactError, ArtifactHeader, ModelArtifact};

/// Rows sampled for the silhouette: it is quadratic in the sample.
const SILHOUETTE_SAMPLE: usize = 1000;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct TrainSpec {
    pub task: Task,
    pub target: Option<String>,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub seed: u64,
    /// Shares of the rows for the judged test part and the plugin's validation
    /// part (both ignored for clustering, which trains on and is judged on every row).
    pub fractions: SplitFractions,
    /// A label column used only to score clustering (ARI, purity), never shown to the plugin.
    pub evaluation_column: Option<String>,
    /// Columns the user left out or gave a kind (see `data::roles`).
    pub columns: ColumnChoices,
    /// Folds of cross-validation on the training part before the final fit
    /// (0: none; else `split::MIN_FOLDS..=split::MAX_FOLDS`, checked before queueing).
    pub folds: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainFailure {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error("plugin `{plugin}` does not do {task}; it does: {supported}")]
    UnsupportedTask { plugin: String, task: &'static str, supported: String },
    #[error(transparent)]
    Run(#[from] RunError),
}

/// What a run did and how well, as the CLI prints it and a job's results keep
/// it (so it reads back what it wrote: scores may be NaN, written as null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Rows in the plugin's training table.
    pub rows_train: usize,
    /// Rows in the plugin's validation table (`request.validation`), not judged.
    /// In records from before the three-way split, these were also the judged rows.
    pub rows_validation: usize,
    /// Rows the host judged the model on, which the plugin never received (0
    /// when the metrics are on the training rows); absent in records from
    /// before the three-way split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_test: Option<usize>,
    pub evaluated_on: EvaluatedOn,
    pub metrics: Metrics,
    #[serde(deserialize_with = "null_as_nan::map")]
    pub plugin_metrics: BTreeMap<String, f64>,
    #[serde(deserialize_with = "null_as_nan::optional_pairs")]
    pub feature_importances: Option<Vec<(String, f64)>>,
    pub skipped_columns: Vec<data::encode::SkippedColumn>,
    /// The columns the plugin learned from, each with the kind it was given
    /// as (absent in records from before column roles).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_columns: Vec<FeatureColumn>,
    /// The class names the confusion matrix's rows and columns index (classification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_labels: Option<Vec<String>>,
    /// Actual and predicted values of (a sample of) the judged rows (regression), for a plot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<HoldoutSample>,
    /// How many instances of the plugin trained the model together (absent: one).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub instances: usize,
    /// What the instances' collective calls cost (absent: one instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collectives: Option<crate::runtime::CollectiveCost>,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

/// A column a model learned from, and as what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureColumn {
    pub name: String,
    pub kind: data::ColumnKind,
}

/// Which rows the metrics were computed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvaluatedOn {
    /// The test part: rows held out from every plugin call.
    Holdout,
    /// The training rows themselves: there was no test part (clustering, or a test fraction of 0).
    Train,
}

impl EvaluatedOn {
    pub fn as_str(self) -> &'static str {
        match self {
            EvaluatedOn::Holdout => "holdout",
            EvaluatedOn::Train => "train",
        }
    }
}

impl std::fmt::Display for EvaluatedOn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// At most `HoldoutSample::MAX` judged rows, evenly spaced, with their actual and predicted values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutSample {
    #[serde(deserialize_with = "null_as_nan::list")]
    pub actual: Vec<f64>,
    #[serde(deserialize_with = "null_as_nan::list")]
    pub predicted: Vec<f64>,
    /// True when only a sample of the judged rows is given.
    pub sampled: bool,
}

impl HoldoutSample {
    pub const MAX: usize = 1000;

    fn of(actual: &[f64], predicted: &[f64]) -> HoldoutSample {
        let n = actual.len().min(predicted.len());
        let step = n.div_ceil(Self::MAX).max(1);
        let rows = (0..n).step_by(step);
        HoldoutSample { actual: rows.clone().map(|i| actual[i]).collect(), predicted: rows.map(|i| predicted[i]).collect(), sampled: step > 1 }
    }
}

pub struct TrainOutcome {
    pub artifact: ModelArtifact,
    pub summary: TrainSummary,
    /// The folds' scores, when the spec asked for folds.
    pub cross_validation: Option<crate::jobs::results::CrossValidation>,
    /// The plugin's result tables (contract 0.2.0 and later; none from a 0.1.0 plugin), bounded by the runtime.
    pub tables: Vec<contract::ResultTable>,
    pub report: CallReport,
    /// Where the host's own time went, around the plugin's train call.
    pub host_times: HostTimes,
}

/// Wall time of the host's parts of a run (the train call's is `CallReport::duration`):
/// what stays serial however many instances train, so the CLI prints it.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostTimes {
    /// Choosing each column's role and encoding the table (zero when a worker reused it).
    pub prepare: Duration,
    /// The plugin's predictions on the judged rows, and the host's metrics of them.
    pub judge: Duration,
}

/// Checks what can be checked before any work is queued: the task and the
/// parameters. Returns the validated parameters.
pub fn validate(plugin: &LoadedPlugin, spec: &TrainSpec) -> Result<Vec<contract::Param>, TrainFailure> {
    check_plugin_request(plugin, spec.task, &spec.params)
}

/// `validate` for a request that has no table yet (the API's submit path):
/// the plugin does the task, and the parameters fit its schema.
pub fn check_plugin_request(
    plugin: &LoadedPlugin,
    task: Task,
    params: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<contract::Param>, TrainFailure> {
    if !plugin.schema.supports(task) {
        return Err(TrainFailure::UnsupportedTask { plugin: plugin.name().to_string(), task: task.as_str(), supported: plugin.schema.tasks.join(", ") });
    }
    Ok(crate::runtime::schema::validate(&plugin.schema, params)?)
}

/// How long the plugin may take to look at a request's parameters at submit.
const PRECHECK_SECS: f64 = 1.0;

/// The plugin's own check of the parameters, before a job is queued: one
/// `train` call on a table of the dataset's feature columns (`features`, as
/// `Encoding::features_of_profile` tells them) with no rows. The bundled
/// plugins check their parameters before their data, so what they refuse
/// here (a criterion of the other task, a count that must be whole, kmodes'
/// kprototypes on a table without numbers) is what a worker would refuse at
/// once. Only an invalid-parameter answer refuses the request; anything else
/// (the empty table refused, a trap, the time limit) lets it through, and
/// the run on the real rows decides.
pub fn precheck_params(plugin: &LoadedPlugin, task: Task, params: Vec<contract::Param>, features: &[(String, data::ColumnKind)]) -> Result<(), ParamError> {
    let empty = |kind: data::ColumnKind| match kind {
        data::ColumnKind::Numeric | data::ColumnKind::Datetime => contract::ColumnData::Numeric(vec![]),
        _ => contract::ColumnData::Categorical(contract::Categorical { codes: vec![], levels: vec![] }),
    };
    let columns = features.iter().map(|(name, kind)| contract::Column { name: name.clone(), data: empty(*kind) }).collect();
    let target = match task {
        Task::Classification => Some(empty(data::ColumnKind::Categorical)),
        Task::Regression => Some(empty(data::ColumnKind::Numeric)),
        Task::Clustering => None,
    };
    let train = contract::LabelledTable { features: contract::Table { rows: 0, columns }, target };
    let request = contract::TrainRequest { task, train, validation: None, params, seed: 0 };
    match plugin.train_within(&request, PRECHECK_SECS) {
        Err(RunError::InvalidParameter { name, reason }) => Err(ParamError { name, reason }),
        _ => Ok(()),
    }
}

/// A table encoded for one target and task: the part of a run that depends
/// only on the data, so a worker can reuse it for every job on the same
/// dataset, target and task (datasets never change once uploaded).
pub struct PreparedTable {
    pub encoding: Encoding,
    pub encoded: data::EncodedTable,
}

impl PreparedTable {
    pub fn new(table: &DataFrame, spec: &TrainSpec) -> Result<PreparedTable, TrainFailure> {
        // The evaluation column scores the clusters; the plugin must never see it.
        let dropped;
        let features_table = match &spec.evaluation_column {
            Some(column) => {
                dropped = table.drop(column).map_err(|_| DataError::MissingColumn(column.clone()))?;
                &dropped
            }
            None => table,
        };
        let (encoding, encoded) = Encoding::fit_encode(features_table, spec.target.as_deref(), spec.task, &spec.columns)?;
        Ok(PreparedTable { encoding, encoded })
    }

    /// `new`, and the wall time it took (`HostTimes::prepare`).
    fn timed(table: &DataFrame, spec: &TrainSpec) -> Result<(PreparedTable, Duration), TrainFailure> {
        let started = Instant::now();
        Ok((PreparedTable::new(table, spec)?, started.elapsed()))
    }
}

pub fn train(
    plugin: &LoadedPlugin,
    table: &DataFrame,
    spec: &TrainSpec,
    cancel: CancelToken,
    sink: Box<dyn ProgressSink>,
) -> Result<TrainOutcome, TrainFailure> {
    train_on(plugin, table, spec, 1, cancel, sink)
}

/// `train` in up to `instances` instances of the plugin (see `LoadedPlugin::train_on`).
pub fn train_on(
    plugin: &LoadedPlugin,
    table: &DataFrame,
    spec: &TrainSpec,
    instances: usize,
    cancel: CancelToken,
    sink: Box<dyn ProgressSink>,
) -> Result<TrainOutcome, TrainFailure> {
    let params = validate(plugin, spec)?;
    let (prepared, prepare) = PreparedTable::timed(table, spec)?;
    let mut outcome = train_prepared(plugin, &prepared, table, spec, params, instances, cancel, sink)?;
    outcome.host_times.prepare = prepare;
    Ok(outcome)
}

/// `train_on` for a table the caller gives up (the CLI's): once encoded it is
/// dropped, so the host holds the rows once (encoded) rather than twice while
/// the plugin trains. Kept only when an evaluation column is named, which is
/// read from it after training.
pub fn train_owned(
    plugin: &LoadedPlugin,
    table: DataFrame,
    spec: &TrainSpec,
    instances: usize,
    cancel: CancelToken,
    sink: Box<dyn ProgressSink>,
) -> Result<TrainOutcome, TrainFailure> {
    let params = validate(plugin, spec)?;
    let (prepared, prepare) = PreparedTable::timed(&table, spec)?;
    let table = if spec.evaluation_column.is_some() { table } else { DataFrame::empty() };
    let mut outcome = train_prepared(plugin, &prepared, &table, spec, params, instances, cancel, sink)?;
    outcome.host_times.prepare = prepare;
    Ok(outcome)
}

/// `train_on` from an already prepared table; `params` are `validate`'s output.
#[allow(clippy::too_many_arguments)]
pub fn train_prepared(
    plugin: &LoadedPlugin,
    prepared: &PreparedTable,
    table: &DataFrame,
    spec: &TrainSpec,
    params: Vec<contract::Param>,
    instances: usize,
    cancel: CancelToken,
    sink: Box<dyn ProgressSink>,
) -> Result<TrainOutcome, TrainFailure> {
    let PreparedTable { encoding, encoded } = prepared;
    let parts = split_rows(encoded, spec)?;
    let (cross_validation, sink) = match crossval::wanted(spec) {
        Some(folds) => {
            let shared = crossval::SharedSink::new(sink);
            let scores =
                crossval::run(&crossval::Fits { plugin, prepared, spec, params: &params, instances, cancel: &cancel, sink: &shared }, &parts.train, folds)?;
            shared.phase(folds as u32 + 1, folds as u32 + 1, crossval::REFIT);
            (Some(scores), Box::new(shared) as Box<dyn ProgressSink>)
        }
        None => (None, sink),
    };
    // Views by row index: each part is copied once, straight into the plugin's table.
    let train_part = encoded.part(&parts.train);
    let (trained, report, whole) = call_train(plugin, prepared, &parts, spec, &params, instances, cancel, sink);
    let contract::Trained { model: trained, tables } = trained?;
    let judging = Instant::now();

    let (evaluated_on, judged, features) = if parts.test.is_empty() {
        // Judged on the training rows: the table the plugin trained on, not a new copy (shards: copied now).
        let features = whole.map_or_else(|| encoding.part_features(train_part), |request| request.train.features);
        (EvaluatedOn::Train, train_part, features)
    } else {
        drop(whole);
        let test = encoded.part(&parts.test);
        (EvaluatedOn::Holdout, test, encoding.part_features(test))
    };
    // The instances that trained the job (and hold its slots) judge it together.
    let predictions = plugin.predict_on(&trained.model, &features, report.instances.max(1))?;
    drop(features);
    let mut metrics = evaluate(encoding, judged, &predictions, spec.seed)?;
    metrics.baseline = baseline(encoding, train_part, judged);
    if let Some(column) = spec.evaluation_column.as_deref().filter(|_| spec.task == Task::Clustering) {
        add_external_labels(&mut metrics, table, column, &predictions)?;
    }
    let plugin_metrics: BTreeMap<String, f64> = trained.metrics.iter().map(|m| (m.name.clone(), m.value)).collect();
    if let Some(cost) = plugin_metrics.get("cost") {
        metrics.values.insert("cost".into(), *cost);
    }
    let host_times = HostTimes { prepare: Duration::ZERO, judge: judging.elapsed() };
    let feature_importances = trained.feature_importances.as_ref().map(|imp| encoding.features.iter().zip(imp).map(|(f, v)| (f.name.clone(), *v)).collect());
    let header = artifact_header(plugin, spec, encoding, &params, metrics.clone());
    let summary = TrainSummary {
        rows_train: parts.train.len(),
        rows_validation: parts.validation.len(),
        rows_test: Some(parts.test.len()),
        evaluated_on,
        metrics,
        plugin_metrics,
        feature_importances,
        skipped_columns: encoding.skipped.clone(),
        feature_columns: encoding.features.iter().map(|f| FeatureColumn { name: f.name.clone(), kind: f.kind }).collect(),
        class_labels: (spec.task == Task::Classification).then(|| encoding.class_labels().map(<[String]>::to_vec)).flatten(),
        holdout: match (&predictions, judged.target_values()) {
            (contract::Predictions::Values(predicted), Some(actual)) => Some(HoldoutSample::of(&actual, predicted)),
            _ => None,
        },
        instances: report.instances.max(1),
        collectives: report.collectives,
    };
    Ok(TrainOutcome { artifact: ModelArtifact { header, model: trained.model }, summary, cross_validation, tables, report, host_times })
}

/// The plugin's train call on the training and validation parts, never the
/// test part. A plugin that trains on shards gets each instance's share built
/// straight from the encoded table; otherwise the whole request is built,
/// and returned for judging on the training rows when there is no test part.
#[allow(clippy::too_many_arguments)]
fn call_train(
    plugin: &LoadedPlugin,
    prepared: &PreparedTable,
    parts: &Split,
    spec: &TrainSpec,
    params: &[contract::Param],
    instances: usize,
    cancel: CancelToken,
    sink: Box<dyn ProgressSink>,
) -> (Result<contract::Trained, RunError>, CallReport, Option<contract::TrainRequest>) {
    let PreparedTable { encoding, encoded } = prepared;
    let request_for = |rows: std::ops::Range<usize>| contract::TrainRequest {
        task: spec.task,
        train: encoding.part_to_contract(encoded.part(&parts.train[rows])),
        validation: (!parts.validation.is_empty()).then(|| encoding.part_to_contract(encoded.part(&parts.validation))),
        params: params.to_vec(),
        seed: spec.seed,
    };
    let all_rows = parts.train.len();
    match plugin.team_for(all_rows, instances) {
        Some((k, parallelism)) if parallelism.rows == Rows::Shard => {
            let (trained, report) = plugin.train_shards(k, all_rows, &request_for, cancel, sink);
            (trained, report, None)
        }
        _ => {
            let request = request_for(0..all_rows);
            let (trained, report) = plugin.train_on(&request, instances, cancel, sink);
            (trained, report, Some(request))
        }
    }
}

/// The three parts of the table for this run. Clustering is not split: it has
/// no target to hold out for, and its scores (silhouette, and ARI and purity
/// against an evaluation column, which match clusters to rows by position)
/// are computed on every row it trained on, as the summary says (`evaluated_on: train`).
fn split_rows(encoded: &data::EncodedTable, spec: &TrainSpec) -> Result<Split, DataError> {
    let fractions = if spec.task == Task::Clustering { SplitFractions { test: 0.0, plugin_validation: 0.0 } } else { spec.fractions };
    let parts = split::split(encoded.rows, encoded.target_codes(), fractions, spec.seed);
    if parts.train.is_empty() {
        return Err(DataError::Invalid("no rows are left to train on; lower the test and validation fractions".into()));
    }
    Ok(parts)
}

fn artifact_header(plugin: &LoadedPlugin, spec: &TrainSpec, encoding: &Encoding, params: &[contract::Param], metrics: Metrics) -> ArtifactHeader {
    ArtifactHeader {
        format: artifact::FORMAT,
        contract: plugin.contract.as_str().into(),
        plugin: plugin.name().into(),
        plugin_version: plugin.schema.version.clone(),
        plugin_sha256: plugin.sha256.clone(),
        task: spec.task.as_str().into(),
        encoding: encoding.clone(),
        params: params_json(params),
        seed: spec.seed,
        metrics,
    }
}

fn params_json(params: &[contract::Param]) -> serde_json::Map<String, serde_json::Value> {
    params
        .iter()
        .map(|p| {
            let v = match &p.value {
                contract::ParamValue::Int(i) => serde_json::Value::from(*i),
                contract::ParamValue::Float(f) => serde_json::Value::from(*f),
                contract::ParamValue::Boolean(b) => serde_json::Value::from(*b),
                contract::ParamValue::Choice(c) => serde_json::Value::from(c.clone()),
            };
            (p.name.clone(), v)
        })
        .collect()
}

fn mismatch(what: &str) -> RunError {
    RunError::Failed(format!("predict returned {what}, which does not fit the task"))
}

pub(crate) fn evaluate<'a>(
    encoding: &Encoding,
    judged: impl Into<data::TablePart<'a>>,
    predictions: &contract::Predictions,
    seed: u64,
) -> Result<Metrics, RunError> {
    let judged = judged.into();
    match predictions {
        contract::Predictions::Classes(p) => {
            let truth = judged.target_codes().ok_or_else(|| mismatch("class labels"))?;
            let classes = encoding.class_labels().map_or(p.n_classes as usize, <[String]>::len);
            if p.labels.len() != truth.len() {
                return Err(RunError::Failed(format!("predict returned {} labels for {} rows", p.labels.len(), truth.len())));
            }
            let probabilities = p.probabilities.as_deref().filter(|_| p.n_classes as usize == classes);
            Ok(data::metrics::classification(&truth, &p.labels, probabilities, classes))
        }
        contract::Predictions::Values(values) => {
            let truth = judged.target_values().ok_or_else(|| mismatch("numbers"))?;
            if values.len() != truth.len() {
                return Err(RunError::Failed(format!("predict returned {} values for {} rows", values.len(), truth.len())));
            }
            Ok(data::metrics::regression(&truth, values))
        }
        contract::Predictions::Clusters(clusters) => {
            if clusters.len() != judged.rows() {
                return Err(RunError::Failed(format!("predict returned {} cluster ids for {} rows", clusters.len(), judged.rows())));
            }
            Ok(data::metrics::clustering(&judged.to_table(), clusters, SILHOUETTE_SAMPLE, seed))
        }
    }
}

/// What always answering the training part's majority class (or mean) scores on the judged rows.
fn baseline(encoding: &Encoding, train: data::TablePart<'_>, judged: data::TablePart<'_>) -> Option<data::metrics::Baseline> {
    match (train.target_codes(), judged.target_codes(), train.target_values(), judged.target_values()) {
        (Some(train), Some(judged), _, _) => {
            let labels = encoding.class_labels().unwrap_or_default();
            Some(data::metrics::majority_baseline(&train, &judged, labels.len(), labels))
        }
        (_, _, Some(train), Some(judged)) => Some(data::metrics::mean_baseline(&train, &judged)),
        _ => None,
    }
}

/// ARI and purity of clusters against a label column the plugin never saw.
/// Clustering trains on every row in table order, so `clusters[i]` is row `i`.
fn add_external_labels(metrics: &mut Metrics, table: &DataFrame, column: &str, predictions: &contract::Predictions) -> Result<(), DataError> {
    let contract::Predictions::Clusters(clusters) = predictions else { return Ok(()) };
    let labels = Encoding::fit(table, Some(column), Task::Classification, &ColumnChoices::default())?;
    let data::EncodedColumn::Codes(codes) = labels.encode_target(table)? else { return Ok(()) };
    let (found, truth): (Vec<u32>, Vec<u32>) = clusters.iter().zip(&codes).filter(|(_, &label)| label != contract::MISSING_CODE).map(|(&c, &l)| (c, l)).unzip();
    metrics.values.insert("ari".into(), data::metrics::adjusted_rand_index(&found, &truth));
    metrics.values.insert("purity".into(), data::metrics::purity(&found, &truth));
    Ok(())
}

/// Predictions in the user's terms: class names, numbers, or cluster ids.
#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PredictionSet {
    pub task: String,
    pub rows: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// Row-major rows × classes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Vec<Option<f32>>>>)]
    pub probabilities: Option<Vec<Vec<f32>>>,
    /// A value the plugin could not give (NaN) is null.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Option<f64>>>)]
    pub values: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clusters: Option<Vec<u32>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PredictFailure {
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error("this model was trained by plugin `{wanted}`, but `{given}` was given")]
    WrongPlugin { wanted: String, given: String },
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Run(#[from] RunError),
}

pub fn predict(plugin: &LoadedPlugin, artifact: &ModelArtifact, table: &DataFrame) -> Result<PredictionSet, PredictFailure> {
    if artifact.header.plugin != plugin.name() {
        return Err(PredictFailure::WrongPlugin { wanted: artifact.header.plugin.clone(), given: plugin.name().to_string() });
    }
    let encoding = &artifact.header.encoding;
    encoding.check_prediction_table(table)?;
    let encoded = encoding.encode(table, false)?;
    let predictions = plugin.predict(&artifact.model, &encoding.to_contract(&encoded).features)?;
    let mut set = PredictionSet {
        task: artifact.header.task.clone(),
        rows: encoded.rows,
        labels: None,
        classes: None,
        probabilities: None,
        values: None,
        clusters: None,
    };
    match predictions {
        contract::Predictions::Classes(p) => {
            let classes = encoding.class_labels().unwrap_or_default().to_vec();
            let name = |code: u32| classes.get(code as usize).cloned().unwrap_or_else(|| format!("class {code}"));
            set.labels = Some(p.labels.iter().map(|&c| name(c)).collect());
            let k = p.n_classes as usize;
            set.probabilities = p.probabilities.filter(|_| k > 0).map(|probs| probs.chunks(k).map(<[f32]>::to_vec).collect());
            set.classes = Some(classes);
        }
        contract::Predictions::Values(v) => set.values = Some(v),
        contract::Predictions::Clusters(c) => set.clusters = Some(c),
    }
    Ok(set)
}
