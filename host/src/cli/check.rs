//! `trainhost plugin check FILE.wasm`: says whether a file is a usable plugin
//! and, if not, exactly why: not a component, wrong contract version, bad
//! schema, or a fault (trap, limit, refusal) during a smoke train and predict;
//! and whether it declares cost estimates (contract 0.3.0), each set beside
//! what the smoke run measured.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use polars::prelude::*;

use crate::config::Config;
use crate::contract::{TableShape, Task};
use crate::data::split::SplitFractions;
use crate::runtime::{CancelToken, Discard, Limits, LoadedPlugin, Runtime};
use crate::training::{self, TrainOutcome, TrainSpec};

/// Rows of the synthetic table used for the smoke run.
const SAMPLE_ROWS: usize = 200;
/// A validation table as real jobs hand one, so a plugin that fails on it fails here.
const SMOKE_SPLIT: SplitFractions = SplitFractions { test: 0.25, plugin_validation: 0.1 };
/// A smoke run on 200 rows that takes longer than this is a fault in itself.
const SMOKE_TIME_LIMIT_SECS: f64 = 10.0;

pub fn check(runtime: &Arc<Runtime>, file: &Path, config: &Config) -> ExitCode {
    let limits = Limits { time_secs: config.default_limits.time_secs.min(SMOKE_TIME_LIMIT_SECS), ..config.default_limits };
    let plugin = match runtime.load(file, None, limits) {
        Ok(plugin) => plugin,
        Err(err) => {
            println!("FAIL {}: {err}", file.display());
            return ExitCode::FAILURE;
        }
    };
    println!("ok: {} exports {}/trainer@{}", file.display(), crate::contract::PACKAGE, plugin.contract.as_str());
    super::output::print_schema(plugin.name(), &plugin);
    let mut healthy = true;
    for task in [Task::Classification, Task::Regression, Task::Clustering] {
        if plugin.schema.supports(task) {
            healthy &= smoke(&plugin, task);
        }
    }
    if healthy {
        println!("ok: the plugin is usable");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A small table with one informative numeric column, one noise column and a
/// categorical column, with a class and a numeric target.
fn sample_table() -> PolarsResult<DataFrame> {
    let x: Vec<f64> = (0..SAMPLE_ROWS).map(|i| (i as f64 * 0.37).sin() * 10.0).collect();
    let noise: Vec<f64> = (0..SAMPLE_ROWS).map(|i| ((i * 7919) % 101) as f64).collect();
    let colour: Vec<&str> = (0..SAMPLE_ROWS).map(|i| ["red", "green", "blue"][i % 3]).collect();
    let class: Vec<&str> = x.iter().map(|v| if *v > 0.0 { "high" } else { "low" }).collect();
    let value: Vec<f64> = x.iter().zip(&noise).map(|(a, b)| 3.0 * a + 0.01 * b).collect();
    df!("x" => x, "noise" => noise, "colour" => colour, "class" => class, "value" => value)
}

fn smoke(plugin: &LoadedPlugin, task: Task) -> bool {
    let label = format!("{} on a {SAMPLE_ROWS}-row sample", task.as_str());
    let table = match sample_table() {
        Ok(t) => t,
        Err(err) => {
            println!("FAIL {label}: cannot build the sample table: {err}");
            return false;
        }
    };
    let (target, table) = match task {
        Task::Classification => (Some("class"), table.drop("value")),
        Task::Regression => (Some("value"), table.drop("class")),
        Task::Clustering => (None, table.drop("class").and_then(|t| t.drop("value"))),
    };
    let Ok(table) = table else {
        println!("FAIL {label}: cannot build the sample table");
        return false;
    };
    let spec = TrainSpec {
        task,
        target: target.map(str::to_string),
        params: Default::default(),
        seed: 1,
        fractions: SMOKE_SPLIT,
        evaluation_column: None,
        columns: Default::default(),
        folds: 0,
    };
    match training::train(plugin, &table, &spec, CancelToken::default(), Box::new(Discard)) {
        Ok(outcome) => {
            let m = &outcome.summary.metrics;
            println!(
                "ok: {label}: {} {:.3}, model {} bytes, peak memory {:.1} MiB, {:.0} ms{}",
                m.headline_name,
                m.headline,
                outcome.artifact.model.len(),
                outcome.report.peak_memory_bytes as f64 / (1 << 20) as f64,
                outcome.report.duration.as_secs_f64() * 1000.0,
                if outcome.report.dropped_log_lines > 0 { format!(" (log capped: {} lines dropped)", outcome.report.dropped_log_lines) } else { String::new() },
            );
            estimate(plugin, task, &outcome)
        }
        Err(err) => {
            println!("FAIL {label}: {err}");
            false
        }
    }
}

/// Whether the plugin declares an estimate for the smoke run's table, and how
/// it compares with what the run measured. A failing estimate is a fault:
/// the host would call it at every submit.
fn estimate(plugin: &LoadedPlugin, task: Task, outcome: &TrainOutcome) -> bool {
    let summary = &outcome.summary;
    let numeric = summary.feature_columns.iter().filter(|c| matches!(c.kind, crate::data::ColumnKind::Numeric | crate::data::ColumnKind::Datetime)).count();
    let categorical = summary.feature_columns.len() - numeric;
    let shape = TableShape {
        rows: summary.rows_train as u64,
        validation_rows: summary.rows_validation as u64,
        numeric_columns: numeric as u32,
        // The sample's one categorical column has three levels.
        categorical_levels: vec![3; categorical],
        classes: summary.class_labels.as_ref().map_or(0, |c| c.len() as u32),
    };
    let params = match training::check_plugin_request(plugin, task, &Default::default()) {
        Ok(params) => params,
        Err(err) => {
            println!("FAIL {} estimate: {err}", task.as_str());
            return false;
        }
    };
    match plugin.estimate(task, &params, &shape, SMOKE_TIME_LIMIT_SECS) {
        Ok(Some(cost)) => {
            let mib = |bytes: f64| bytes / f64::from(1u32 << 20);
            println!(
                "ok: declares a cost estimate for {}: peak memory {:.1} MiB (measured {:.1} MiB), {:.3} CPU-seconds (measured {:.3} s wall), driven by {}",
                task.as_str(),
                mib(cost.peak_memory_bytes as f64),
                mib(outcome.report.peak_memory_bytes as f64),
                cost.cpu_seconds,
                outcome.report.duration.as_secs_f64(),
                if cost.driven_by.is_empty() { "no parameter".to_string() } else { cost.driven_by.join(", ") },
            );
            true
        }
        Ok(None) => {
            let why = if plugin.contract == crate::contract::Version::V0_3 { "" } else { " (contract versions before 0.3.0 have none)" };
            println!("ok: declares no cost estimate for {}{why}: its jobs are admitted without one", task.as_str());
            true
        }
        Err(err) => {
            println!("FAIL {} estimate: {err}", task.as_str());
            false
        }
    }
}
