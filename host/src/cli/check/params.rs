//! The parameter property: a value above the declared maximum of the first
//! bounded numeric parameter, sent to the plugin directly (the host's own
//! validation would refuse it first), must come back as `invalid-parameter`.
//! The host validates every request, but a plugin that trusts its inputs
//! blindly breaks the day a bound in its schema and its code disagree.
//!
//! Owns only that probe; it must not test the host's validation (runtime::schema's tests do).

use polars::prelude::DataFrame;

use crate::contract::{ParamValue, Task};
use crate::runtime::{CancelToken, Discard, LoadedPlugin, RunError};

use super::Verdict;

pub fn check(plugin: &LoadedPlugin, task: Task, table: &DataFrame, verdict: &mut Verdict) {
    let Some(bounded) = plugin.schema.params.iter().find(|p| matches!(p.kind, "int" | "float" | "choice_or_number") && p.max.is_some()) else {
        return verdict.pass("out-of-range parameter: no numeric parameter declares a maximum, so there is none to send".to_string());
    };
    let max = bounded.max.unwrap_or_default();
    let above = if max.abs() < 1e15 { max + 1.0 } else { max * 2.0 };
    let value = if bounded.kind == "int" { ParamValue::Int(above as i64) } else { ParamValue::Float(above) };
    let label = format!("out-of-range parameter: `{}` = {above} (its maximum is {max})", bounded.name);
    let request = super::raw_request(plugin, task, table).map(|mut request| {
        for param in request.params.iter_mut().filter(|p| p.name == bounded.name) {
            param.value = value.clone();
        }
        request
    });
    let request = match request {
        Ok(request) => request,
        Err(err) => return verdict.fail(format!("{label}: cannot build the request: {err}")),
    };
    match plugin.train(&request, CancelToken::default(), Box::new(Discard)).0 {
        Err(RunError::InvalidParameter { name, reason }) => verdict.pass(format!("{label}: refused as invalid-parameter (`{name}`: {reason})")),
        Ok(_) => verdict.fail(format!("{label}: accepted and trained a model; it must be refused as invalid-parameter")),
        Err(other) => verdict.fail(format!("{label}: refused, but not as invalid-parameter: {other}")),
    }
}
