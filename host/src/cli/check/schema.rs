//! The schema property: what `describe()` returns, parameter by parameter:
//! min <= max, every default within its bounds (and finite), choices
//! non-empty with the default among them; and a numeric parameter whose
//! default and both bounds are 0 is refused as degenerate. That last shape
//! is what a schema corrupted between the plugin's code and the host looks
//! like (wit-bindgen's C++ generator sends defaults and bounds as 0 in
//! [0, 0]); a real parameter that can only be 0 is no parameter.
//!
//! Owns only these checks of the raw schema; loading refuses some of the
//! same faults first (runtime::schema), and this must not replace that.

use crate::contract::{ParamKind, ParamSpec};
use crate::runtime::LoadedPlugin;

use super::Verdict;

pub fn check(plugin: &LoadedPlugin, verdict: &mut Verdict) {
    let info = match plugin.describe() {
        Ok(info) => info,
        Err(err) => return verdict.fail(format!("schema: describe() failed: {err}")),
    };
    let faults: Vec<String> = info.params.iter().filter_map(|spec| fault(spec).map(|why| format!("`{}`: {why}", spec.name))).collect();
    if faults.is_empty() {
        let n = info.params.len();
        verdict.pass(format!(
            "schema: {n} parameter{}, every default within its bounds, every choice list non-empty and holding its default",
            if n == 1 { "" } else { "s" }
        ));
    }
    for fault in faults {
        verdict.fail(format!("schema: {fault}"));
    }
}

/// What is wrong with one parameter's declaration, if anything.
fn fault(spec: &ParamSpec) -> Option<String> {
    match &spec.kind {
        ParamKind::Int(s) => numeric(s.default as f64, s.min.map(|v| v as f64), s.max.map(|v| v as f64)),
        ParamKind::Float(s) => numeric(s.default, s.min, s.max),
        ParamKind::Boolean(_) => None,
        ParamKind::Choice(s) => choices(&s.default, &s.choices),
        ParamKind::ChoiceOrNumber(s) => choices(&s.default, &s.choices).or_else(|| bounds(Some(s.min), Some(s.max))).or_else(|| degenerate(0.0, s.min, s.max)),
    }
}

fn numeric(default: f64, min: Option<f64>, max: Option<f64>) -> Option<String> {
    if !default.is_finite() {
        return Some(format!("default {default} is not a finite number"));
    }
    if let Some(why) = bounds(min, max) {
        return Some(why);
    }
    if min.is_some_and(|m| default < m) || max.is_some_and(|m| default > m) {
        return Some(format!("default {default} lies outside its bounds [{}, {}]", show(min), show(max)));
    }
    degenerate(default, min?, max?)
}

fn bounds(min: Option<f64>, max: Option<f64>) -> Option<String> {
    if let Some(b) = [min, max].into_iter().flatten().find(|b| b.is_nan()) {
        return Some(format!("bound {b} is not a number"));
    }
    match (min, max) {
        (Some(lo), Some(hi)) if lo > hi => Some(format!("min {lo} is above max {hi}")),
        _ => None,
    }
}

fn degenerate(default: f64, min: f64, max: f64) -> Option<String> {
    (default == 0.0 && min == 0.0 && max == 0.0).then(|| {
        "degenerate bounds [0, 0] with default 0: a schema corrupted in transit? (wit-bindgen's C++ generator sends defaults and bounds as 0)".to_string()
    })
}

fn choices(default: &str, choices: &[String]) -> Option<String> {
    if choices.is_empty() {
        return Some("no choices".into());
    }
    (!choices.iter().any(|c| c == default)).then(|| format!("default `{default}` is not among its choices ({})", choices.join(", ")))
}

fn show(bound: Option<f64>) -> String {
    bound.map_or_else(|| "none".into(), |b| b.to_string())
}
