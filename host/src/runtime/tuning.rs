//! A plugin's suggested search space (contract 0.5.0's `tuning` export):
//! asked once per supported task when the plugin loads, turned into the
//! schema's `tunable` entries.
//!
//! Owns the call into the plugin and the translation of its answer. It must
//! not judge the answer against the parameters (`schema::PluginSchema::suggest`
//! does) nor decide how a sweep samples a space (the sweeps module does).

use std::time::Instant;

use super::sandbox::{CancelToken, Discard, PluginState, StopWhen};
use super::schema::{Scale, Tunable};
use super::{LoadedPlugin, RunError};
use crate::contract::v0_5::exports::trainhost::plugin0_5_0::tuning as wit;
use crate::contract::{self, ParamValue, TUNING_VERSION};

/// The most parameters one answer may name (a plugin declares fewer).
const MAX_TUNABLE: usize = 1024;

/// The plugin's answer to `suggest-space(task)`, if it exports `tuning`; an
/// empty list when it does not (it says nothing).
pub fn ask(plugin: &LoadedPlugin, task: contract::Task) -> Result<Vec<(String, Tunable)>, RunError> {
    let export = format!("{}/tuning@{TUNING_VERSION}", contract::PACKAGE);
    if plugin.instance_pre().component().get_export_index(None, &export).is_none() {
        return Ok(Vec::new());
    }
    let limits = &plugin.limits;
    let started = Instant::now();
    let state = PluginState::new(limits, StopWhen::new(started, limits.time_secs, CancelToken::default()), Box::new(Discard));
    let (answer, _) = plugin.run_in(state, started, |store| {
        let pre = plugin.instance_pre();
        let instance = pre.instantiate(&mut *store)?;
        let guest = wit::GuestIndices::new(pre)?.load(&mut *store, &instance)?;
        guest.call_suggest_space(store, task)
    });
    let answer = answer?;
    if answer.len() > MAX_TUNABLE {
        return Err(RunError::Failed(format!("suggest-space names {} parameters; at most {MAX_TUNABLE}", answer.len())));
    }
    Ok(answer.into_iter().map(|p| (p.name, tunable(p.suggestion))).collect())
}

/// The schema's form of one suggestion: values as the API's JSON takes them.
fn tunable(suggestion: wit::Suggestion) -> Tunable {
    match suggestion {
        wit::Suggestion::Span(span) => Tunable::Range {
            min: span.min,
            max: span.max,
            scale: match span.scale {
                wit::Scale::Linear => Scale::Linear,
                wit::Scale::Log => Scale::Log,
            },
        },
        wit::Suggestion::Values(values) => Tunable::Values {
            values: values
                .into_iter()
                .map(|v| match v {
                    ParamValue::Int(n) => serde_json::Value::from(n),
                    // NaN and infinities become null, which the parameter's check refuses.
                    ParamValue::Float(x) => serde_json::Value::from(x),
                    ParamValue::Boolean(b) => serde_json::Value::from(b),
                    ParamValue::Choice(c) => serde_json::Value::from(c),
                })
                .collect(),
        },
    }
}

impl LoadedPlugin {
    /// Adds the plugin's suggestions for each task it supports to its schema.
    pub(super) fn ask_suggestions(&mut self) -> Result<(), super::LoadError> {
        let tasks: Vec<contract::Task> =
            [contract::Task::Classification, contract::Task::Regression, contract::Task::Clustering].into_iter().filter(|t| self.schema.supports(*t)).collect();
        for task in tasks {
            let answer = ask(self, task).map_err(|e| super::LoadError::Suggest(format!("for {}: {e}", task.as_str())))?;
            self.schema.suggest(task, answer).map_err(super::LoadError::Schema)?;
        }
        Ok(())
    }
}
