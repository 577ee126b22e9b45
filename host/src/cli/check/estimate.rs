//! The estimate property: whether the plugin declares a cost estimate
//! (contract 0.3.0) for the sample's table, set beside what the run measured.
//! A failing estimate is a fault: the host would call it at every submit.
//!
//! Owns only that comparison; it must not judge the estimate's accuracy (a
//! 200-row sample says little about the tables estimates are for).

use crate::contract::{TableShape, Task};
use crate::runtime::LoadedPlugin;
use crate::training::{self, TrainOutcome};

use super::Verdict;

pub fn check(plugin: &LoadedPlugin, task: Task, outcome: &TrainOutcome, time_secs: f64, verdict: &mut Verdict) {
    let summary = &outcome.summary;
    let numeric = summary.feature_columns.iter().filter(|c| matches!(c.kind, crate::data::ColumnKind::Numeric | crate::data::ColumnKind::Datetime)).count();
    let categorical = summary.feature_columns.len() - numeric;
    let shape = TableShape {
        rows: summary.rows_train as u64,
        validation_rows: summary.rows_validation as u64,
        numeric_columns: numeric as u32,
        categorical_levels: vec![super::sample::LEVELS.len() as u32; categorical],
        classes: summary.class_labels.as_ref().map_or(0, |c| c.len() as u32),
    };
    let params = match training::check_plugin_request(plugin, task, &Default::default()) {
        Ok(params) => params,
        Err(err) => return verdict.fail(format!("{} estimate: {err}", task.as_str())),
    };
    match plugin.estimate(task, &params, &shape, time_secs) {
        Ok(Some(cost)) => {
            let mib = |bytes: f64| bytes / f64::from(1u32 << 20);
            verdict.pass(format!(
                "{} estimate: declares a cost estimate for {}: peak memory {:.1} MiB (measured {:.1} MiB), {:.3} CPU-seconds (measured {:.3} s wall), driven by {}",
                task.as_str(),
                task.as_str(),
                mib(cost.peak_memory_bytes as f64),
                mib(outcome.report.peak_memory_bytes as f64),
                cost.cpu_seconds,
                outcome.report.duration.as_secs_f64(),
                if cost.driven_by.is_empty() { "no parameter".to_string() } else { cost.driven_by.join(", ") },
            ));
        }
        Ok(None) => {
            let why = if plugin.contract == crate::contract::Version::V0_3 { "" } else { " (contract versions before 0.3.0 have none)" };
            verdict.pass(format!("{} estimate: declares no cost estimate for {}{why}: its jobs are admitted without one", task.as_str(), task.as_str()));
        }
        Err(err) => verdict.fail(format!("{} estimate: {err}", task.as_str())),
    }
}
