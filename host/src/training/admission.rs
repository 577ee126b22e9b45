//! Admission by cost: before a job is queued, the plugin's own estimate
//! (contract 0.3.0's `estimate`) of what `train` would cost on the dataset's
//! real shape is held against the plugin's memory and time limits, so a job
//! that could not finish inside them is refused at submit instead of holding
//! a worker until its limit kills it.
//!
//! A cross-validated job (`"folds": K`) makes K+1 fits one after another in
//! one worker slot: its time estimate is the sum of K fits on a fold's share of
//! the training part and the final fit on all of it, held against the limit as
//! one job; its memory is the largest of them (they never run at once).
//!
//! Owns the table's shape as the host knows it before reading a row, the
//! comparison with the limits (with the slack below) and the refusal's words.
//! It must not read data or run anything but the plugin's `estimate`; the API
//! maps its answer to HTTP.

use crate::contract::{self, Cost, TableShape, Task};
use crate::data::split::SplitFractions;
use crate::data::ColumnKind;
use crate::runtime::{LoadedPlugin, ParamError, RunError};

/// An estimate is an expectation, not a bound, and the machine may be faster
/// than the one the author calibrated on: a job is refused only when its
/// estimate is past the limit by more than these factors. The bundled
/// plugins' estimates are within 2x (memory) and 2.5x (CPU) of measured runs
/// (host/tests/estimates.rs), so a job that fits is not refused by their error.
pub const MEMORY_SLACK: f64 = 2.0;
pub const TIME_SLACK: f64 = 3.0;

/// How long the plugin may take to estimate: it must not hold a submit.
const ESTIMATE_SECS: f64 = 1.0;

/// What the host knows of a dataset at submit, for one job.
pub struct ShapeFacts<'a> {
    pub task: Task,
    /// Rows of the dataset, and how many of them miss the target (dropped before training).
    pub rows: usize,
    pub target_missing: usize,
    pub fractions: SplitFractions,
    /// The feature columns the job would use: their kind and distinct values.
    pub features: &'a [(ColumnKind, usize)],
    /// Classes of the target (classification), else 0.
    pub classes: usize,
}

/// The shape of the tables the plugin would receive: the split's shares as
/// `data::split` takes them (clustering is not split).
pub fn table_shape(facts: &ShapeFacts) -> TableShape {
    let rows = facts.rows.saturating_sub(facts.target_missing) as f64;
    let (test, validation) = match facts.task {
        Task::Clustering => (0.0, 0.0),
        _ => (facts.fractions.test, facts.fractions.plugin_validation),
    };
    let validation_rows = (rows * validation).round();
    let train_rows = (rows - (rows * test).round() - validation_rows).max(0.0);
    let numeric = facts.features.iter().filter(|(kind, _)| matches!(kind, ColumnKind::Numeric | ColumnKind::Datetime)).count();
    let categorical_levels =
        facts.features.iter().filter(|(kind, _)| !matches!(kind, ColumnKind::Numeric | ColumnKind::Datetime)).map(|(_, levels)| to_u32(*levels)).collect();
    TableShape {
        rows: train_rows as u64,
        validation_rows: validation_rows as u64,
        numeric_columns: to_u32(numeric),
        categorical_levels,
        classes: to_u32(facts.classes),
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Which of the plugin's limits an estimate is past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Memory,
    Time,
}

/// A job whose estimate is past one of the plugin's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct OverLimit {
    pub plugin: String,
    pub resource: Resource,
    /// Bytes (memory) or CPU-seconds (time).
    pub estimate: f64,
    /// The limit in the same unit.
    pub limit: f64,
    /// The parameters to lower, strongest first, with the values asked for.
    pub lower: Vec<(String, String)>,
    pub rows: u64,
    pub features: u64,
    /// Fits the job makes: 1, or K+1 with K folds.
    pub fits: usize,
}

impl OverLimit {
    /// The request field a refusal points at: the first parameter to lower, or the dataset.
    pub fn field(&self) -> String {
        if self.fits > 1 && self.resource == Resource::Time {
            return "folds".to_string();
        }
        self.lower.first().map_or_else(|| "datasetId".to_string(), |(name, _)| format!("modelConfig.{name}"))
    }

    /// Every figure in words: the estimate, the limit, the slack, what to lower.
    pub fn message(&self) -> String {
        let (estimate, limit, key, slack) = match self.resource {
            Resource::Memory => (format!("a peak of {} of plugin memory", mib(self.estimate)), mib(self.limit), "memory_mib", MEMORY_SLACK),
            Resource::Time if self.fits > 1 => (
                format!("{:.0} CPU-seconds for its {} fits ({} folds, then the final fit)", self.estimate, self.fits, self.fits - 1),
                format!("{:.0} s", self.limit),
                "time_secs",
                TIME_SLACK,
            ),
            Resource::Time => (format!("{:.0} CPU-seconds", self.estimate), format!("{:.0} s", self.limit), "time_secs", TIME_SLACK),
        };
        let what = if self.resource == Resource::Memory { "memory" } else { "time" };
        let settings: Vec<String> = self.lower.iter().map(|(name, value)| format!("{name} = {value}")).collect();
        let settings = if settings.is_empty() { String::new() } else { format!(" with {}", settings.join(", ")) };
        let lower: Vec<String> = self.lower.iter().map(|(name, _)| format!("modelConfig.{name}")).collect();
        let mut advice =
            if lower.is_empty() { "train on fewer rows or columns".to_string() } else { format!("lower {}, or train on fewer rows", lower.join(" or ")) };
        if self.fits > 1 && self.resource == Resource::Time {
            advice = format!("ask for fewer folds (or 0), {advice}");
        }
        format!(
            "plugin `{}` estimates this job{settings} on {} training rows x {} features at {estimate}, past its {what} limit of {limit} \
             (limits.{key} in the config; jobs are refused past {slack}x the limit): {advice}",
            self.plugin, self.rows, self.features
        )
    }
}

fn mib(bytes: f64) -> String {
    format!("{:.0} MiB", bytes / f64::from(1u32 << 20))
}

/// Why a job is refused at submit by its estimate.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The estimate refused a parameter, as `train` would.
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error("{}", .0.message())]
    OverLimit(OverLimit),
}

/// The plugin's estimate for `params` on `shape`, held against its limits.
/// `Ok(None)`: it declares none (contracts before 0.3.0, or none for these
/// parameters). An estimate that fails otherwise (a trap, its time limit)
/// decides nothing, as the precheck: the run on the real rows does.
pub fn admit(plugin: &LoadedPlugin, task: Task, params: &[contract::Param], shape: &TableShape) -> Result<Option<Cost>, Refusal> {
    admit_folds(plugin, task, params, shape, 0)
}

/// `admit` for a job that cross-validates on `folds` folds first (0: none):
/// the cost of all its fits together (see the module's comment).
pub fn admit_folds(plugin: &LoadedPlugin, task: Task, params: &[contract::Param], shape: &TableShape, folds: usize) -> Result<Option<Cost>, Refusal> {
    let Some(mut cost) = estimate(plugin, task, params, shape)? else { return Ok(None) };
    let fits = if folds >= 2 { folds + 1 } else { 1 };
    if fits > 1 {
        // A fold's fit trains on (K-1)/K of the training part and validates on the rest.
        let Some(fold) = estimate(plugin, task, params, &fold_shape(shape, folds))? else { return Ok(None) };
        cost.cpu_seconds += folds as f64 * fold.cpu_seconds;
        cost.peak_memory_bytes = cost.peak_memory_bytes.max(fold.peak_memory_bytes);
    }
    let over = |resource, estimate: f64, limit: f64| OverLimit {
        plugin: plugin.name().to_string(),
        resource,
        estimate,
        limit,
        lower: cost.driven_by.iter().map(|name| (name.clone(), value_of(params, name))).collect(),
        rows: shape.rows,
        features: u64::from(shape.numeric_columns) + shape.categorical_levels.len() as u64,
        fits,
    };
    let memory_limit = plugin.limits.memory_bytes() as f64;
    if cost.peak_memory_bytes as f64 > memory_limit * MEMORY_SLACK {
        return Err(Refusal::OverLimit(over(Resource::Memory, cost.peak_memory_bytes as f64, memory_limit)));
    }
    // A NaN estimate compares false: it decides nothing.
    if cost.cpu_seconds > plugin.limits.time_secs * TIME_SLACK {
        return Err(Refusal::OverLimit(over(Resource::Time, cost.cpu_seconds, plugin.limits.time_secs)));
    }
    Ok(Some(cost))
}

/// The plugin's estimate, or `None` when it makes none or could not make one.
fn estimate(plugin: &LoadedPlugin, task: Task, params: &[contract::Param], shape: &TableShape) -> Result<Option<Cost>, Refusal> {
    match plugin.estimate(task, params, shape, ESTIMATE_SECS) {
        Ok(cost) => Ok(cost),
        Err(RunError::InvalidParameter { name, reason }) => Err(ParamError { name, reason }.into()),
        Err(_) => Ok(None),
    }
}

/// The tables one fold's fit gets out of a training part of `shape`: all but
/// a `1/folds` share to train on, that share as its validation table.
pub fn fold_shape(shape: &TableShape, folds: usize) -> TableShape {
    let held_out = (shape.rows as f64 / folds.max(1) as f64).round() as u64;
    TableShape { rows: shape.rows - held_out.min(shape.rows), validation_rows: held_out, ..shape.clone() }
}

/// A parameter's value as the request gave it (or its default), for the message.
fn value_of(params: &[contract::Param], name: &str) -> String {
    match params.iter().find(|p| p.name == name).map(|p| &p.value) {
        Some(contract::ParamValue::Int(v)) => v.to_string(),
        Some(contract::ParamValue::Float(v)) => v.to_string(),
        Some(contract::ParamValue::Boolean(v)) => v.to_string(),
        Some(contract::ParamValue::Choice(v)) => v.clone(),
        None => "?".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_takes_the_split_and_the_missing_targets_off() {
        let features = [(ColumnKind::Numeric, 900), (ColumnKind::Categorical, 7), (ColumnKind::Datetime, 50), (ColumnKind::Boolean, 2)];
        let facts = ShapeFacts {
            task: Task::Classification,
            rows: 1100,
            target_missing: 100,
            fractions: SplitFractions { test: 0.2, plugin_validation: 0.1 },
            features: &features,
            classes: 3,
        };
        let shape = table_shape(&facts);
        assert_eq!((shape.rows, shape.validation_rows), (700, 100));
        assert_eq!(shape.numeric_columns, 2);
        assert_eq!(shape.categorical_levels, vec![7, 2]);
        assert_eq!(shape.classes, 3);
        let clustering = table_shape(&ShapeFacts { task: Task::Clustering, target_missing: 0, ..facts });
        assert_eq!((clustering.rows, clustering.validation_rows), (1100, 0));
    }

    #[test]
    fn a_refusal_names_the_figure_the_limit_and_what_to_lower() {
        let over = OverLimit {
            plugin: "random_forest".into(),
            resource: Resource::Time,
            estimate: 123_456.0,
            limit: 600.0,
            lower: vec![("nEstimators".into(), "5000".into()), ("maxDepth".into(), "10000".into())],
            rows: 2_000_000,
            features: 8,
            fits: 1,
        };
        let message = over.message();
        for part in ["123456 CPU-seconds", "600 s", "limits.time_secs", "nEstimators = 5000", "modelConfig.maxDepth", "2000000 training rows"] {
            assert!(message.contains(part), "{part} in {message}");
        }
        assert_eq!(over.field(), "modelConfig.nEstimators");
        let memory =
            OverLimit { resource: Resource::Memory, estimate: 3.0 * f64::from(1u32 << 30), limit: f64::from(1u32 << 30), lower: vec![], ..over.clone() };
        assert!(
            memory.message().contains("3072 MiB") && memory.message().contains("1024 MiB") && memory.message().contains("fewer rows"),
            "{}",
            memory.message()
        );
        assert_eq!(memory.field(), "datasetId");
        let folded = OverLimit { fits: 6, ..over.clone() };
        assert!(folded.message().contains("123456 CPU-seconds for its 6 fits (5 folds, then the final fit)"), "{}", folded.message());
        assert!(folded.message().contains("ask for fewer folds"), "{}", folded.message());
        assert_eq!(folded.field(), "folds");
    }

    #[test]
    fn a_fold_trains_on_all_but_its_share_and_validates_on_it() {
        let shape = TableShape { rows: 700, validation_rows: 100, numeric_columns: 3, categorical_levels: vec![4], classes: 2 };
        let fold = fold_shape(&shape, 5);
        assert_eq!((fold.rows, fold.validation_rows, fold.numeric_columns, fold.classes), (560, 140, 3, 2));
    }
}
