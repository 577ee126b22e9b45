//! Guest-side SDK for trainhost plugins written in Rust.
//!
//! Owns the generated bindings of the `trainhost:plugin` WIT package (version
//! 0.3.0: 0.1.0's types and host, 0.2.0's result tables, plus cost estimates; with the
//! `parallel` feature 0.4.0, which adds `collectives` and `parallel`; with the
//! `tuning` feature 0.5.0, which adds a suggested search space) and small,
//! allocation-free helpers that every plugin needs: typed parameter lookup,
//! column access, and a progress sink that algorithms can call without knowing
//! whether they run inside the host or natively (benchmarks, unit tests).
//!
//! It must not contain any algorithm: plugins own their maths.

#[cfg(not(feature = "parallel"))]
wit_bindgen::generate!({
    path: "../wit/v0.3",
    world: "trainhost:plugin/plugin@0.3.0",
    pub_export_macro: true,
    export_macro_name: "export_plugin",
    default_bindings_module: "trainhost_sdk",
    generate_all,
    additional_derives: [PartialEq],
});

// Contract 0.4.0's world: 0.3.0's trainer and 0.1.0's host at the same
// paths, plus `collectives` and `parallel` (see `team`).
#[cfg(all(feature = "parallel", not(feature = "tuning")))]
wit_bindgen::generate!({
    path: "../wit/v0.4",
    world: "trainhost:plugin/plugin@0.4.0",
    pub_export_macro: true,
    export_macro_name: "export_plugin",
    default_bindings_module: "trainhost_sdk",
    generate_all,
    additional_derives: [PartialEq],
});

// Contract 0.5.0's world: 0.4.0's, plus `tuning` (see `tuning`).
#[cfg(feature = "tuning")]
wit_bindgen::generate!({
    path: "../wit/v0.5",
    world: "trainhost:plugin/plugin@0.5.0",
    pub_export_macro: true,
    export_macro_name: "export_plugin",
    default_bindings_module: "trainhost_sdk",
    generate_all,
    additional_derives: [PartialEq],
});

pub mod team;
#[cfg(feature = "tuning")]
pub mod tuning;

pub use exports::trainhost::plugin0_3_0::trainer::{Guest, Trained};
pub use trainhost::plugin0_1_0::types::*;
pub use trainhost::plugin0_2_0::tables::{Cell, ResultTable};
pub use trainhost::plugin0_3_0::estimates::{Cost, TableShape};

/// Code of a missing value in a categorical column.
pub const MISSING_CODE: u32 = u32::MAX;

/// splitmix64: spreads a seed (even 0 or 1) over all 64 bits. Plugins seed
/// their own generators with it, so a model depends only on the request's seed.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Where an algorithm reports progress. Returning `false` asks it to stop
/// (the job was cancelled).
pub trait Progress {
    fn epoch(&mut self, epoch: u32, total: u32, metrics: &[(&str, f64)]) -> bool;
    fn log(&mut self, _level: LogLevel, _message: &str) {}
}

pub use trainhost::plugin0_1_0::host::{self, LogLevel};

/// Progress sink that forwards to the host's imports; only meaningful inside
/// the component.
pub struct HostProgress;

impl Progress for HostProgress {
    fn epoch(&mut self, epoch: u32, total: u32, metrics: &[(&str, f64)]) -> bool {
        let metrics: Vec<Metric> = metrics.iter().map(|(name, value)| Metric { name: (*name).to_string(), value: *value }).collect();
        trainhost::plugin0_1_0::host::report_epoch(epoch, total, &metrics);
        !trainhost::plugin0_1_0::host::cancelled()
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        trainhost::plugin0_1_0::host::log(level, message);
    }
}

/// Progress sink for native runs: ignores reports, never cancels.
pub struct NoProgress;

impl Progress for NoProgress {
    fn epoch(&mut self, _: u32, _: u32, _: &[(&str, f64)]) -> bool {
        true
    }
}

impl<F: FnMut(u32, u32, &[(&str, f64)]) -> bool> Progress for F {
    fn epoch(&mut self, epoch: u32, total: u32, metrics: &[(&str, f64)]) -> bool {
        self(epoch, total, metrics)
    }
}

/// Typed access to validated parameters. The host has already checked types
/// and bounds against `describe()`, so a mismatch here is a plugin bug, reported
/// as an invalid parameter rather than a trap.
pub struct Params<'a>(pub &'a [Param]);

impl<'a> Params<'a> {
    fn get(&self, name: &str) -> Result<&'a ParamValue, TrainError> {
        self.0.iter().find(|p| p.name == name).map(|p| &p.value).ok_or_else(|| invalid(name, "missing"))
    }

    pub fn int(&self, name: &str) -> Result<i64, TrainError> {
        match self.get(name)? {
            ParamValue::Int(v) => Ok(*v),
            _ => Err(invalid(name, "expected an integer")),
        }
    }

    pub fn float(&self, name: &str) -> Result<f64, TrainError> {
        match self.get(name)? {
            ParamValue::Float(v) => Ok(*v),
            ParamValue::Int(v) => Ok(*v as f64),
            _ => Err(invalid(name, "expected a number")),
        }
    }

    pub fn boolean(&self, name: &str) -> Result<bool, TrainError> {
        match self.get(name)? {
            ParamValue::Boolean(v) => Ok(*v),
            _ => Err(invalid(name, "expected true or false")),
        }
    }

    pub fn choice(&self, name: &str) -> Result<&'a str, TrainError> {
        match self.get(name)? {
            ParamValue::Choice(v) => Ok(v.as_str()),
            _ => Err(invalid(name, "expected one of the listed choices")),
        }
    }

    /// For `choice-or-number` parameters: the choice, or the number.
    pub fn choice_or_number(&self, name: &str) -> Result<Result<&'a str, f64>, TrainError> {
        match self.get(name)? {
            ParamValue::Choice(v) => Ok(Ok(v.as_str())),
            ParamValue::Float(v) => Ok(Err(*v)),
            ParamValue::Int(v) => Ok(Err(*v as f64)),
            ParamValue::Boolean(_) => Err(invalid(name, "expected a choice or a number")),
        }
    }
}

pub fn invalid(name: &str, reason: &str) -> TrainError {
    TrainError::InvalidParameter(InvalidParameter { name: name.to_string(), reason: reason.to_string() })
}

impl Table {
    pub fn column_len(&self) -> usize {
        self.columns.len()
    }
}

impl ColumnData {
    pub fn len(&self) -> usize {
        match self {
            ColumnData::Numeric(v) => v.len(),
            ColumnData::Categorical(c) => c.codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Helpers to declare parameters tersely in `describe()`.
pub mod schema {
    use super::*;

    pub fn int(name: &str, default: i64, min: Option<i64>, max: Option<i64>, help: &str) -> ParamSpec {
        ParamSpec { name: name.into(), help: help.into(), kind: ParamKind::Int(IntSpec { default, min, max }) }
    }

    pub fn float(name: &str, default: f64, min: Option<f64>, max: Option<f64>, help: &str) -> ParamSpec {
        ParamSpec { name: name.into(), help: help.into(), kind: ParamKind::Float(FloatSpec { default, min, max }) }
    }

    pub fn boolean(name: &str, default: bool, help: &str) -> ParamSpec {
        ParamSpec { name: name.into(), help: help.into(), kind: ParamKind::Boolean(default) }
    }

    pub fn choice(name: &str, default: &str, choices: &[&str], help: &str) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            help: help.into(),
            kind: ParamKind::Choice(ChoiceSpec { default: default.into(), choices: choices.iter().map(|c| (*c).to_string()).collect() }),
        }
    }

    /// Every parameter at its default, as the host fills them in (tests, benchmarks, estimates).
    pub fn defaults(specs: &[ParamSpec]) -> Vec<Param> {
        let value = |kind: &ParamKind| match kind {
            ParamKind::Int(s) => ParamValue::Int(s.default),
            ParamKind::Float(s) => ParamValue::Float(s.default),
            ParamKind::Boolean(b) => ParamValue::Boolean(*b),
            ParamKind::Choice(c) => ParamValue::Choice(c.default.clone()),
            ParamKind::ChoiceOrNumber(c) => ParamValue::Choice(c.default.clone()),
        };
        specs.iter().map(|spec| Param { name: spec.name.clone(), value: value(&spec.kind) }).collect()
    }

    /// Refuses, as `invalid-parameter`, a value outside what `specs` declare:
    /// a number past its bounds or not finite, a choice not listed. The host
    /// checks requests against `describe()` first; `export_trainer!` calls this
    /// before `train` too, so a plugin never trains on a value its schema excludes.
    pub fn check(specs: &[ParamSpec], params: &[Param]) -> Result<(), TrainError> {
        let outside = |name: &str, v: f64, min: Option<f64>, max: Option<f64>| {
            let show = |b: Option<f64>| b.map_or_else(|| "unbounded".to_string(), |b| b.to_string());
            if !v.is_finite() || min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m) {
                return Err(invalid(name, &format!("{v} is outside [{}, {}]", show(min), show(max))));
            }
            Ok(())
        };
        for param in params {
            let Some(spec) = specs.iter().find(|s| s.name == param.name) else { continue };
            match (&spec.kind, &param.value) {
                (ParamKind::Int(s), ParamValue::Int(v)) => outside(&param.name, *v as f64, s.min.map(|m| m as f64), s.max.map(|m| m as f64))?,
                (ParamKind::Float(s), ParamValue::Float(v)) => outside(&param.name, *v, s.min, s.max)?,
                (ParamKind::Float(s), ParamValue::Int(v)) => outside(&param.name, *v as f64, s.min, s.max)?,
                (ParamKind::ChoiceOrNumber(s), ParamValue::Float(v)) => outside(&param.name, *v, Some(s.min), Some(s.max))?,
                (ParamKind::ChoiceOrNumber(s), ParamValue::Int(v)) => outside(&param.name, *v as f64, Some(s.min), Some(s.max))?,
                (ParamKind::Choice(ChoiceSpec { choices, .. }) | ParamKind::ChoiceOrNumber(ChoiceOrNumberSpec { choices, .. }), ParamValue::Choice(c))
                    if !choices.contains(c) =>
                {
                    return Err(invalid(&param.name, &format!("`{c}` is not one of {}", choices.join(", "))));
                }
                // A value of the wrong kind is the typed accessor's to refuse (`Params`).
                _ => {}
            }
        }
        Ok(())
    }

    /// `params` with `name` set to `value`.
    pub fn with(mut params: Vec<Param>, name: &str, value: ParamValue) -> Vec<Param> {
        params.iter_mut().filter(|p| p.name == name).for_each(|p| p.value = value.clone());
        params
    }

    pub fn choice_or_number(name: &str, default: &str, choices: &[&str], min: f64, max: f64, help: &str) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            help: help.into(),
            kind: ParamKind::ChoiceOrNumber(ChoiceOrNumberSpec {
                default: default.into(),
                choices: choices.iter().map(|c| (*c).to_string()).collect(),
                min,
                max,
            }),
        }
    }
}

impl ResultTable {
    /// An empty table with its columns; add rows with `push`.
    pub fn new(name: &str, title: &str, columns: &[&str]) -> ResultTable {
        ResultTable { name: name.into(), title: title.into(), columns: columns.iter().map(|c| (*c).to_string()).collect(), rows: Vec::new() }
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len(), "one cell per column");
        self.rows.push(row);
    }
}

impl From<f64> for Cell {
    /// NaN (not applicable) becomes an empty cell.
    fn from(v: f64) -> Cell {
        if v.is_nan() {
            Cell::Empty
        } else {
            Cell::Number(v)
        }
    }
}

impl From<&str> for Cell {
    fn from(v: &str) -> Cell {
        Cell::Text(v.to_string())
    }
}

impl From<String> for Cell {
    fn from(v: String) -> Cell {
        Cell::Text(v)
    }
}

impl TableShape {
    /// Feature columns of both kinds.
    pub fn features(&self) -> u64 {
        u64::from(self.numeric_columns) + self.categorical_levels.len() as u64
    }

    /// Bytes the host's request takes in the plugin's memory (training and
    /// validation tables with their target): 8 per number, 4 per categorical
    /// code, and the level names at a rough 16 bytes each. Every estimate
    /// starts from it: `train` holds the whole request while it runs.
    pub fn request_bytes(&self, task: Task) -> u64 {
        let target = match task {
            Task::Classification => 4,
            Task::Regression => 8,
            Task::Clustering => 0,
        };
        let per_row = u64::from(self.numeric_columns) * 8 + self.categorical_levels.len() as u64 * 4 + target;
        let levels: u64 = self.categorical_levels.iter().map(|&l| u64::from(l)).sum::<u64>() + u64::from(self.classes);
        self.rows.saturating_add(self.validation_rows).saturating_mul(per_row).saturating_add(levels.saturating_mul(16))
    }
}

/// The signature of a plugin's estimate: `None` declares none (see `export_trainer!`).
pub type EstimateFn = fn(Task, &[Param], &TableShape) -> Result<Option<Cost>, TrainError>;

/// The parallelism of a plugin that trains as one instance.
#[cfg(feature = "parallel")]
pub fn no_parallelism() -> Option<team::Parallelism> {
    None
}

/// Emits its items only when the SDK builds contract 0.5.0 (the `tuning`
/// feature), whose world every plugin then exports in full.
#[cfg(feature = "tuning")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_tuning {
    ($($items:tt)*) => { $($items)* };
}

/// Emits its items only when the SDK builds contract 0.5.0: here it does not.
#[cfg(not(feature = "tuning"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_tuning {
    ($($items:tt)*) => {};
}

/// The estimate of a plugin that declares none.
pub fn no_estimate(_: Task, _: &[Param], _: &TableShape) -> Result<Option<Cost>, TrainError> {
    Ok(None)
}

/// Exports a plugin written as plain functions, against contract 0.3.0 (or,
/// with `parallelism: f` where `f() -> Option<team::Parallelism>` and the
/// SDK's `parallel` feature, against 0.4.0, whose trainer is 0.3.0's; or,
/// with `tuning: s` where `s` is a `tuning::SuggestFn` and the SDK's `tuning`
/// feature, against 0.5.0, which adds the suggested search space):
///
/// ```text
/// trainhost_sdk::export_trainer!(describe: info, train: train, predict: predict);
/// trainhost_sdk::export_trainer!(describe: info, train_with_tables: fit, predict: predict, estimate: cost);
/// trainhost_sdk::export_trainer!(describe: info, train_with_tables: fit, predict: predict, estimate: cost, parallelism: split);
/// trainhost_sdk::export_trainer!(describe: info, train_with_tables: fit, predict: predict, estimate: cost, tuning: space);
/// trainhost_sdk::export_trainer!(describe: info, train_with_tables: fit, predict: predict, estimate: cost, parallelism: split, tuning: space);
/// ```
///
/// with `info() -> PluginInfo`, `train(&TrainRequest, &mut dyn Progress) ->
/// Result<TrainedModel, TrainError>` (a model without tables) or
/// `fit(&TrainRequest, &mut dyn Progress) -> Result<Trained, TrainError>` (a
/// model with its result tables), `predict(&[u8], &Table) ->
/// Result<Predictions, PredictError>`, and optionally an `EstimateFn` (without
/// one the plugin declares no estimate, and the host admits its jobs as a
/// 0.2.0 plugin's). Before `train` runs, the request's parameters are checked
/// against `describe()`'s schema (`schema::check`). Under the `tuning` feature a
/// form without `parallelism:` trains as one instance and one without `tuning:`
/// suggests nothing. The exports exist only on wasm32: a
/// native build (tests, benchmarks) cannot carry the component's
/// `ns:pkg/iface@ver#func` symbol names, and calls the functions directly.
#[macro_export]
macro_rules! export_trainer {
    (describe: $describe:path, train: $train:path, predict: $predict:path $(,)?) => {
        $crate::export_trainer!(describe: $describe, train: $train, predict: $predict, estimate: $crate::no_estimate);
    };
    (describe: $describe:path, train: $train:path, predict: $predict:path, estimate: $estimate:path $(,)?) => {
        $crate::export_trainer!(@impl $describe, |request, progress| $train(request, progress).map(|model| $crate::Trained { model, tables: Vec::new() }), $predict, $estimate);
        $crate::__if_tuning! { $crate::export_trainer!(@parallel $crate::no_parallelism); $crate::export_trainer!(@tuning $crate::tuning::no_suggestion); }
    };
    (describe: $describe:path, train_with_tables: $train:path, predict: $predict:path $(,)?) => {
        $crate::export_trainer!(describe: $describe, train_with_tables: $train, predict: $predict, estimate: $crate::no_estimate);
    };
    (describe: $describe:path, train_with_tables: $train:path, predict: $predict:path, estimate: $estimate:path $(,)?) => {
        $crate::export_trainer!(@impl $describe, |request, progress| $train(request, progress), $predict, $estimate);
        $crate::__if_tuning! { $crate::export_trainer!(@parallel $crate::no_parallelism); $crate::export_trainer!(@tuning $crate::tuning::no_suggestion); }
    };
    (describe: $describe:path, train_with_tables: $train:path, predict: $predict:path, parallelism: $parallelism:path $(,)?) => {
        $crate::export_trainer!(describe: $describe, train_with_tables: $train, predict: $predict, estimate: $crate::no_estimate, parallelism: $parallelism);
    };
    (describe: $describe:path, train_with_tables: $train:path, predict: $predict:path, estimate: $estimate:path, parallelism: $parallelism:path $(,)?) => {
        $crate::export_trainer!(@impl $describe, |request, progress| $train(request, progress), $predict, $estimate);
        $crate::export_trainer!(@parallel $parallelism);
        $crate::__if_tuning! { $crate::export_trainer!(@tuning $crate::tuning::no_suggestion); }
    };
    (describe: $describe:path, train_with_tables: $train:path, predict: $predict:path, estimate: $estimate:path, tuning: $tuning:path $(,)?) => {
        $crate::export_trainer!(@impl $describe, |request, progress| $train(request, progress), $predict, $estimate);
        $crate::export_trainer!(@parallel $crate::no_parallelism);
        $crate::export_trainer!(@tuning $tuning);
    };
    (describe: $describe:path, train_with_tables: $train:path, predict: $predict:path, estimate: $estimate:path, parallelism: $parallelism:path, tuning: $tuning:path $(,)?) => {
        $crate::export_trainer!(@impl $describe, |request, progress| $train(request, progress), $predict, $estimate);
        $crate::export_trainer!(@parallel $parallelism);
        $crate::export_trainer!(@tuning $tuning);
    };
    (@parallel $parallelism:path) => {
        #[cfg(target_arch = "wasm32")]
        impl $crate::team::ParallelGuest for TrainerExports {
            fn describe_parallel() -> Option<$crate::team::Parallelism> {
                $parallelism()
            }
        }
    };
    (@tuning $tuning:path) => {
        #[cfg(target_arch = "wasm32")]
        impl $crate::tuning::TuningGuest for TrainerExports {
            fn suggest_space(task: $crate::Task) -> Vec<$crate::tuning::TunableParam> {
                let suggest: $crate::tuning::SuggestFn = $tuning;
                suggest(task)
            }
        }
    };
    (@impl $describe:path, $train:expr, $predict:path, $estimate:path) => {
        #[cfg(target_arch = "wasm32")]
        struct TrainerExports;

        #[cfg(target_arch = "wasm32")]
        impl $crate::Guest for TrainerExports {
            fn describe() -> $crate::PluginInfo {
                $describe()
            }

            fn train(request: $crate::TrainRequest) -> Result<$crate::Trained, $crate::TrainError> {
                $crate::schema::check(&$describe().params, &request.params)?;
                let train: fn(&$crate::TrainRequest, &mut dyn $crate::Progress) -> Result<$crate::Trained, $crate::TrainError> = $train;
                train(&request, &mut $crate::HostProgress)
            }

            fn predict(model: Vec<u8>, features: $crate::Table) -> Result<$crate::Predictions, $crate::PredictError> {
                $predict(&model, &features)
            }

            fn estimate(task: $crate::Task, params: Vec<$crate::Param>, shape: $crate::TableShape) -> Result<Option<$crate::Cost>, $crate::TrainError> {
                let estimate: $crate::EstimateFn = $estimate;
                estimate(task, &params, &shape)
            }
        }

        #[cfg(target_arch = "wasm32")]
        $crate::export_plugin!(TrainerExports);
    };
}

#[cfg(test)]
mod tests {
    use super::schema::*;
    use super::*;

    fn specs() -> Vec<ParamSpec> {
        vec![int("depth", 6, Some(1), Some(64), "d"), float("rate", 0.1, Some(0.0), Some(1.0), "r"), choice("loss", "l2", &["l1", "l2"], "l")]
    }

    fn refused(name: &str, value: ParamValue) -> String {
        match check(&specs(), &with(defaults(&specs()), name, value)) {
            Err(TrainError::InvalidParameter(p)) => format!("{}: {}", p.name, p.reason),
            other => panic!("{name}: expected invalid-parameter, got {other:?}"),
        }
    }

    #[test]
    fn check_passes_the_defaults_and_refuses_what_the_schema_excludes() {
        assert!(check(&specs(), &defaults(&specs())).is_ok());
        assert!(check(&specs(), &with(defaults(&specs()), "depth", ParamValue::Int(64))).is_ok());
        assert_eq!(refused("depth", ParamValue::Int(65)), "depth: 65 is outside [1, 64]");
        assert_eq!(refused("rate", ParamValue::Float(f64::NAN)), "rate: NaN is outside [0, 1]");
        assert_eq!(refused("loss", ParamValue::Choice("huber".into())), "loss: `huber` is not one of l1, l2");
    }
}
