//! `trainhost plugin check FILE.wasm`: a conformance suite for a plugin file.
//! One PASS or FAIL line per property, and a non-zero exit on any failure:
//! the contract version, the schema, a train and predict on each supported
//! task on a sample with missing values and an unseen level, determinism,
//! the shape and validity of predictions, the refusal of an out-of-range
//! parameter, cancel, the limits, and the cost estimates (contract 0.3.0).
//!
//! Owns the order of the properties and the verdict; each property lives in
//! its own module. It must not change how jobs run: it calls `training` and
//! `runtime` as a worker does (the one exception, the cancel grace, is
//! `LoadedPlugin::train_with_cancel_grace`, used only here).

mod cancel;
mod estimate;
mod params;
mod predictions;
mod sample;
mod schema;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::contract::Task;
use crate::data::split::SplitFractions;
use crate::runtime::{CancelToken, Epoch, Limits, LoadedPlugin, ProgressSink, Runtime};
use crate::training::{self, TrainOutcome, TrainSpec};

/// A validation table as real jobs hand one, so a plugin that fails on it fails here.
const SMOKE_SPLIT: SplitFractions = SplitFractions { test: 0.25, plugin_validation: 0.1 };
/// A run on the 200-row sample that takes longer than this is a fault in itself.
const SMOKE_TIME_LIMIT_SECS: f64 = 10.0;
/// The seed of every training run of the check.
const SEED: u64 = 1;

/// The verdict so far: each property prints its own line.
#[derive(Default)]
pub struct Verdict {
    failures: usize,
    passes: usize,
}

impl Verdict {
    pub fn pass(&mut self, line: impl std::fmt::Display) {
        self.passes += 1;
        println!("PASS {line}");
    }

    pub fn fail(&mut self, line: impl std::fmt::Display) {
        self.failures += 1;
        println!("FAIL {line}");
    }

    /// `pass` or `fail` by `result`.
    pub fn record(&mut self, result: Result<String, String>) {
        match result {
            Ok(line) => self.pass(line),
            Err(line) => self.fail(line),
        }
    }

    fn finish(self) -> ExitCode {
        if self.failures == 0 {
            println!("ok: the plugin is usable ({} properties passed)", self.passes);
            ExitCode::SUCCESS
        } else {
            println!("the plugin fails {} of {} properties", self.failures, self.failures + self.passes);
            ExitCode::FAILURE
        }
    }
}

pub fn check(runtime: &Arc<Runtime>, file: &Path, config: &Config) -> ExitCode {
    let mut verdict = Verdict::default();
    let limits = Limits { time_secs: config.default_limits.time_secs.min(SMOKE_TIME_LIMIT_SECS), ..config.default_limits };
    let started = Instant::now();
    let plugin = match runtime.load(file, None, limits) {
        Ok(plugin) => plugin,
        Err(err) => {
            verdict.fail(format!("contract: {}: {err}", file.display()));
            return verdict.finish();
        }
    };
    verdict.pass(format!(
        "contract: {} exports {}/trainer@{} (loaded in {:.0} ms{})",
        file.display(),
        crate::contract::PACKAGE,
        plugin.contract.as_str(),
        started.elapsed().as_secs_f64() * 1000.0,
        if plugin.from_cache { ", from the compile cache" } else { "" },
    ));
    super::output::print_schema(plugin.name(), &plugin);
    schema::check(&plugin, &mut verdict);
    let tasks: Vec<Task> = [Task::Classification, Task::Regression, Task::Clustering].into_iter().filter(|t| plugin.schema.supports(*t)).collect();
    if tasks.is_empty() {
        verdict.fail("tasks: the plugin declares no task it can do");
    }
    for (i, task) in tasks.iter().enumerate() {
        task_properties(&plugin, *task, i == 0, &mut verdict);
    }
    verdict.finish()
}

/// Every property of one task; the parameter refusal once, on the first task.
fn task_properties(plugin: &LoadedPlugin, task: Task, first: bool, verdict: &mut Verdict) {
    let label = format!("{} on a {}-row sample with missing values", task.as_str(), sample::ROWS);
    let table = match sample::training_table(task) {
        Ok(table) => table,
        Err(err) => return verdict.fail(format!("{label}: cannot build the sample table: {err}")),
    };
    let spec = spec(task);
    let timing = EpochTimes::from(Instant::now());
    let outcome = match training::train(plugin, &table, &spec, CancelToken::default(), Box::new(timing.clone())) {
        Ok(outcome) => outcome,
        Err(err) => return verdict.fail(format!("{label}: {err}")),
    };
    trained_line(plugin, &label, &outcome, verdict);
    predictions::check(plugin, task, &outcome, verdict);
    determinism(plugin, task, &table, &outcome, verdict);
    if first {
        params::check(plugin, task, &table, verdict);
    }
    cancel::check(plugin, task, &table, timing.first_epoch(), verdict);
    estimate::check(plugin, task, &outcome, SMOKE_TIME_LIMIT_SECS, verdict);
}

fn spec(task: Task) -> TrainSpec {
    TrainSpec {
        task,
        target: sample::target(task).map(str::to_string),
        params: Default::default(),
        seed: SEED,
        fractions: SMOKE_SPLIT,
        evaluation_column: None,
        columns: Default::default(),
        folds: 0,
    }
}

/// The trained line, then the limits line: what the run used of each limit.
fn trained_line(plugin: &LoadedPlugin, label: &str, outcome: &TrainOutcome, verdict: &mut Verdict) {
    let m = &outcome.summary.metrics;
    let report = &outcome.report;
    let capped = if report.dropped_log_lines > 0 { format!(" (log capped: {} lines dropped)", report.dropped_log_lines) } else { String::new() };
    verdict.pass(format!("{label}: {} {:.3}, model {} bytes{capped}", m.headline_name, m.headline, outcome.artifact.model.len()));
    let mib = |bytes: usize| bytes as f64 / f64::from(1u32 << 20);
    let limits = &plugin.limits;
    verdict.pass(format!(
        "{} limits: peak memory {:.1} MiB of {} MiB, {:.0} ms of {} s, model {:.2} MiB of {} MiB",
        label.split(' ').next().unwrap_or_default(),
        mib(report.peak_memory_bytes),
        limits.memory_mib,
        report.duration.as_secs_f64() * 1000.0,
        limits.time_secs,
        mib(outcome.artifact.model.len()),
        limits.model_mib,
    ));
}

/// Trains a second time with the same seed: the model bytes must be the same.
fn determinism(plugin: &LoadedPlugin, task: Task, table: &polars::prelude::DataFrame, first: &TrainOutcome, verdict: &mut Verdict) {
    let name = task.as_str();
    let second = match training::train(plugin, table, &spec(task), CancelToken::default(), Box::new(crate::runtime::Discard)) {
        Ok(outcome) => outcome,
        Err(err) => return verdict.fail(format!("{name} determinism: the second training with seed {SEED} failed: {err}")),
    };
    let (a, b) = (&first.artifact.model, &second.artifact.model);
    if a == b {
        return verdict.pass(format!("{name} determinism: the same seed gives the same model ({} bytes)", a.len()));
    }
    let at = a.iter().zip(b.iter()).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    verdict.fail(format!(
        "{name} determinism: not deterministic: two trainings with seed {SEED} gave different model bytes ({} and {} bytes, first difference at byte {at}); a model must depend only on the data, the parameters and the seed",
        a.len(),
        b.len()
    ));
}

/// Remembers when each epoch was reported, so the cancel check knows how long one epoch takes.
/// The first epoch's time counts from the call, instantiation included: an upper bound.
#[derive(Clone)]
struct EpochTimes {
    started: Instant,
    reports: Arc<std::sync::Mutex<Vec<Instant>>>,
}

impl From<Instant> for EpochTimes {
    fn from(started: Instant) -> Self {
        EpochTimes { started, reports: Default::default() }
    }
}

impl EpochTimes {
    /// How long the first epoch took from the start of training (None: no epoch reported).
    fn first_epoch(&self) -> Option<Duration> {
        self.reports.lock().ok()?.first().map(|at| at.duration_since(self.started))
    }
}

impl ProgressSink for EpochTimes {
    fn epoch(&mut self, _: Epoch) {
        if let Ok(mut times) = self.reports.lock() {
            times.push(Instant::now());
        }
    }
}

/// The sample as one training table, every parameter at its default, as the
/// plugin receives it: for the probes that call the plugin directly.
fn raw_request(plugin: &LoadedPlugin, task: Task, table: &polars::prelude::DataFrame) -> Result<crate::contract::TrainRequest, String> {
    let prepared = training::PreparedTable::new(table, &spec(task)).map_err(|e| e.to_string())?;
    let params = crate::runtime::schema::validate(&plugin.schema, &Default::default()).map_err(|e| e.to_string())?;
    Ok(crate::contract::TrainRequest { task, train: prepared.encoding.to_contract(&prepared.encoded), validation: None, params, seed: SEED })
}
