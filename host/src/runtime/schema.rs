//! A plugin's hyperparameter schema, as the API and UI see it, and the
//! validation of a request's parameters against it.
//!
//! Owns the single place where user-supplied parameter values are checked;
//! nothing about any particular plugin's parameters lives here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contract::{self, ParamKind, ParamValue};

/// One parameter as JSON clients see it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ParamSchema {
    pub name: String,
    /// int, float, bool, choice or choice_or_number.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    /// A number, a boolean or a choice, by `type`.
    #[schema(value_type = Value)]
    pub default: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    pub help: String,
    /// What the plugin suggests searching this parameter over, by task
    /// (`"classification"`, ...): `{"min", "max", "scale": "linear"|"log"}`
    /// or `{"values": [...]}`, the shapes of a sweep's space. Absent when the
    /// plugin suggests nothing for it (contract 0.5.0's `tuning`; every older
    /// plugin): a suggested space then uses the declared `min` and `max`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub tunable: BTreeMap<&'static str, Tunable>,
}

/// How a range is sampled: evenly, or evenly in its logarithm.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    Linear,
    Log,
}

/// A plugin's suggested search space for one parameter.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Tunable {
    /// A range within the declared bounds (whole numbers for an int).
    Range { min: f64, max: f64, scale: Scale },
    /// Values to try, each valid for the parameter (JSON as the API takes them).
    Values { values: Vec<Value> },
}

/// A plugin's description as JSON clients see it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PluginSchema {
    pub name: String,
    pub version: String,
    pub description: String,
    #[schema(value_type = Vec<String>)]
    pub tasks: Vec<&'static str>,
    pub params: Vec<ParamSchema>,
}

/// A parameter the request got wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("parameter `{name}`: {reason}")]
pub struct ParamError {
    pub name: String,
    pub reason: String,
}

fn param_error(name: &str, reason: impl Into<String>) -> ParamError {
    ParamError { name: name.to_string(), reason: reason.into() }
}

impl PluginSchema {
    /// Converts `describe()` output, refusing schemas a client could not use.
    pub fn from_info(info: &contract::PluginInfo) -> Result<PluginSchema, String> {
        if info.name.trim().is_empty() {
            return Err("the plugin's name is empty".into());
        }
        let mut seen = std::collections::HashSet::new();
        let params = info
            .params
            .iter()
            .map(|spec| {
                if !seen.insert(spec.name.as_str()) {
                    return Err(format!("parameter `{}` is declared twice", spec.name));
                }
                param_schema(spec)
            })
            .collect::<Result<_, _>>()?;
        Ok(PluginSchema {
            name: info.name.clone(),
            version: info.version.clone(),
            description: info.description.clone(),
            tasks: info.tasks.iter().map(|t| t.as_str()).collect(),
            params,
        })
    }

    pub fn supports(&self, task: contract::Task) -> bool {
        self.tasks.contains(&task.as_str())
    }
}

impl PluginSchema {
    /// Records what the plugin suggests searching for `task` (contract
    /// 0.5.0), refusing a suggestion that names an undeclared parameter or the
    /// same one twice, or that a request could not use (outside the declared
    /// bounds, a value the parameter refuses, a log scale reaching 0).
    pub fn suggest(&mut self, task: contract::Task, suggestions: Vec<(String, Tunable)>) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for (name, tunable) in suggestions {
            let task = task.as_str();
            if !seen.insert(name.clone()) {
                return Err(format!("suggest-space({task}) names `{name}` twice"));
            }
            let param = self
                .params
                .iter_mut()
                .find(|p| p.name == name)
                .ok_or_else(|| format!("suggest-space({task}) names `{name}`, which describe() does not declare"))?;
            check_tunable(param, &tunable).map_err(|why| format!("suggest-space({task}) for `{name}`: {why}"))?;
            param.tunable.insert(task, tunable);
        }
        Ok(())
    }
}

/// The most values one suggestion may list: every client receives the schema.
const MAX_SUGGESTED_VALUES: usize = 256;

fn check_tunable(p: &ParamSchema, tunable: &Tunable) -> Result<(), String> {
    match tunable {
        Tunable::Range { min, max, scale } => {
            if !matches!(p.kind, "int" | "float" | "choice_or_number") {
                return Err(format!("a range suits a number, but the parameter is a {}", p.kind));
            }
            if !(min.is_finite() && max.is_finite() && min <= max) {
                return Err(format!("the range {min}..{max} does not have min <= max"));
            }
            if p.min.is_some_and(|lo| *min < lo) || p.max.is_some_and(|hi| *max > hi) {
                return Err(format!(
                    "the range {min}..{max} leaves the declared bounds {}..{}",
                    p.min.unwrap_or(f64::NEG_INFINITY),
                    p.max.unwrap_or(f64::INFINITY)
                ));
            }
            if *scale == Scale::Log && *min <= 0.0 {
                return Err(format!("a log scale needs a range above 0, got {min}..{max}"));
            }
            if p.kind == "int" && (min.fract() != 0.0 || max.fract() != 0.0) {
                return Err(format!("the parameter is an int, but the range {min}..{max} is not whole numbers"));
            }
            Ok(())
        }
        Tunable::Values { values } => {
            if values.is_empty() || values.len() > MAX_SUGGESTED_VALUES {
                return Err(format!("a list of values needs 1 to {MAX_SUGGESTED_VALUES}, got {}", values.len()));
            }
            values.iter().try_for_each(|v| parse_value(p, v).map(|_| ()).map_err(|e| e.reason))
        }
    }
}

fn is_camel_case(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

fn param_schema(spec: &contract::ParamSpec) -> Result<ParamSchema, String> {
    if !is_camel_case(&spec.name) {
        return Err(format!("parameter name `{}` is not camelCase", spec.name));
    }
    let bad_default = || format!("the default of `{}` is outside its own bounds or choices", spec.name);
    let in_bounds = |v: f64, min: Option<f64>, max: Option<f64>| min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m);
    let mut schema = ParamSchema {
        name: spec.name.clone(),
        kind: "",
        default: Value::Null,
        min: None,
        max: None,
        choices: None,
        help: spec.help.clone(),
        tunable: BTreeMap::new(),
    };
    match &spec.kind {
        ParamKind::Int(s) => {
            (schema.kind, schema.default) = ("int", Value::from(s.default));
            (schema.min, schema.max) = (s.min.map(|v| v as f64), s.max.map(|v| v as f64));
            if !in_bounds(s.default as f64, schema.min, schema.max) {
                return Err(bad_default());
            }
        }
        ParamKind::Float(s) => {
            (schema.kind, schema.default) = ("float", Value::from(s.default));
            (schema.min, schema.max) = (s.min, s.max);
            if !s.default.is_finite() || !in_bounds(s.default, s.min, s.max) {
                return Err(bad_default());
            }
        }
        ParamKind::Boolean(default) => (schema.kind, schema.default) = ("bool", Value::from(*default)),
        ParamKind::Choice(s) => {
            (schema.kind, schema.default) = ("choice", Value::from(s.default.clone()));
            if !s.choices.contains(&s.default) {
                return Err(bad_default());
            }
            schema.choices = Some(s.choices.clone());
        }
        ParamKind::ChoiceOrNumber(s) => {
            (schema.kind, schema.default) = ("choice_or_number", Value::from(s.default.clone()));
            if !s.choices.contains(&s.default) {
                return Err(bad_default());
            }
            (schema.min, schema.max, schema.choices) = (Some(s.min), Some(s.max), Some(s.choices.clone()));
        }
    }
    Ok(schema)
}

/// Checks every given parameter against the schema and fills in defaults.
/// Numbers may arrive as JSON numbers or as strings (CLI `--param k=v`, HTML forms).
pub fn validate(schema: &PluginSchema, given: &serde_json::Map<String, Value>) -> Result<Vec<contract::Param>, ParamError> {
    if let Some(unknown) = given.keys().find(|k| !schema.params.iter().any(|p| &p.name == *k)) {
        let known: Vec<&str> = schema.params.iter().map(|p| p.name.as_str()).collect();
        return Err(param_error(
            unknown,
            format!("unknown parameter for plugin `{}`; it takes: {}", schema.name, if known.is_empty() { "none".to_string() } else { known.join(", ") }),
        ));
    }
    schema
        .params
        .iter()
        .map(|p| {
            let value = match given.get(&p.name) {
                None | Some(Value::Null) => default_value(p),
                Some(v) => parse_value(p, v)?,
            };
            Ok(contract::Param { name: p.name.clone(), value })
        })
        .collect()
}

/// The largest magnitude an f64 holds with every whole number below it.
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0;

fn default_value(p: &ParamSchema) -> ParamValue {
    match (&p.default, p.kind) {
        (Value::Bool(b), _) => ParamValue::Boolean(*b),
        (Value::String(s), _) => ParamValue::Choice(s.clone()),
        (v, "int") => ParamValue::Int(v.as_i64().unwrap_or_default()),
        (v, _) => ParamValue::Float(v.as_f64().unwrap_or_default()),
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

fn check_bounds(p: &ParamSchema, v: f64) -> Result<(), ParamError> {
    let range = || match (p.min, p.max) {
        (Some(lo), Some(hi)) => format!("between {lo} and {hi}"),
        (Some(lo), None) => format!("at least {lo}"),
        (None, Some(hi)) => format!("at most {hi}"),
        (None, None) => String::new(),
    };
    if p.min.is_some_and(|m| v < m) || p.max.is_some_and(|m| v > m) || !v.is_finite() {
        return Err(param_error(&p.name, format!("must be {}, got {v}", range())));
    }
    Ok(())
}

fn parse_value(p: &ParamSchema, v: &Value) -> Result<ParamValue, ParamError> {
    let choices = p.choices.as_deref().unwrap_or_default();
    let choice = |s: &str| choices.iter().find(|c| c.eq_ignore_ascii_case(s.trim())).cloned();
    match p.kind {
        "int" => {
            let n = as_number(v).ok_or_else(|| param_error(&p.name, format!("must be a whole number, got {v}")))?;
            if n.fract() != 0.0 {
                return Err(param_error(&p.name, format!("must be a whole number, got {n}")));
            }
            check_bounds(p, n)?;
            // Past 2^53 a JSON number is no longer one whole number (and past
            // 2^63 `as i64` would quietly saturate): refused whatever the bounds.
            if n.abs() > MAX_EXACT_INT {
                return Err(param_error(&p.name, format!("{n} is too large: a whole number here is at most 2^53 in magnitude")));
            }
            Ok(ParamValue::Int(n as i64))
        }
        "float" => {
            let n = as_number(v).ok_or_else(|| param_error(&p.name, format!("must be a number, got {v}")))?;
            check_bounds(p, n)?;
            Ok(ParamValue::Float(n))
        }
        "bool" => match v {
            Value::Bool(b) => Ok(ParamValue::Boolean(*b)),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(ParamValue::Boolean(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(ParamValue::Boolean(false)),
            _ => Err(param_error(&p.name, format!("must be true or false, got {v}"))),
        },
        "choice" => {
            v.as_str().and_then(choice).map(ParamValue::Choice).ok_or_else(|| param_error(&p.name, format!("must be one of {}, got {v}", choices.join(", "))))
        }
        _ => {
            if let Some(c) = v.as_str().and_then(choice) {
                return Ok(ParamValue::Choice(c));
            }
            let n = as_number(v).ok_or_else(|| param_error(&p.name, format!("must be one of {} or a number, got {v}", choices.join(", "))))?;
            check_bounds(p, n)?;
            Ok(ParamValue::Float(n))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::*;
    use serde_json::json;

    fn schema() -> PluginSchema {
        let info = PluginInfo {
            name: "forest".into(),
            version: "1".into(),
            description: "d".into(),
            tasks: vec![Task::Classification],
            params: vec![
                ParamSpec { name: "nEstimators".into(), help: "trees".into(), kind: ParamKind::Int(IntSpec { default: 100, min: Some(1), max: Some(1000) }) },
                ParamSpec { name: "bootstrap".into(), help: "b".into(), kind: ParamKind::Boolean(true) },
                ParamSpec {
                    name: "maxFeatures".into(),
                    help: "m".into(),
                    kind: ParamKind::ChoiceOrNumber(ChoiceOrNumberSpec {
                        default: "sqrt".into(),
                        choices: vec!["sqrt".into(), "log2".into()],
                        min: 0.0,
                        max: 1e6,
                    }),
                },
            ],
        };
        PluginSchema::from_info(&info).unwrap()
    }

    fn given(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn defaults_fill_in_and_strings_parse() {
        let params = validate(&schema(), &given(json!({"nEstimators": "20", "maxFeatures": 0.5}))).unwrap();
        assert_eq!(params[0].value, ParamValue::Int(20));
        assert_eq!(params[1].value, ParamValue::Boolean(true));
        assert_eq!(params[2].value, ParamValue::Float(0.5));
    }

    #[test]
    fn out_of_range_names_the_bounds() {
        let err = validate(&schema(), &given(json!({"nEstimators": 0}))).unwrap_err();
        assert_eq!(err.name, "nEstimators");
        assert!(err.reason.contains("between 1 and 1000"), "{}", err.reason);
    }

    #[test]
    fn unknown_parameter_lists_the_known_ones() {
        let err = validate(&schema(), &given(json!({"trees": 5}))).unwrap_err();
        assert_eq!(err.name, "trees");
        assert!(err.reason.contains("nEstimators, bootstrap, maxFeatures"), "{}", err.reason);
    }

    #[test]
    fn a_whole_number_past_two_to_the_53_is_refused_even_without_a_bound() {
        let info = PluginInfo {
            name: "x".into(),
            version: "1".into(),
            description: String::new(),
            tasks: vec![],
            params: vec![ParamSpec { name: "k".into(), help: String::new(), kind: ParamKind::Int(IntSpec { default: 1, min: Some(1), max: None }) }],
        };
        let schema = PluginSchema::from_info(&info).unwrap();
        assert_eq!(validate(&schema, &given(json!({"k": 9_007_199_254_740_992u64}))).unwrap()[0].value, ParamValue::Int(1 << 53));
        for huge in [json!(18_446_744_073_709_551_615u64), json!(1e300), json!("18446744073709551616")] {
            let err = validate(&schema, &given(json!({ "k": huge }))).unwrap_err();
            assert!(err.reason.contains("too large"), "{huge}: {}", err.reason);
        }
    }

    #[test]
    fn wrong_types_are_refused() {
        assert!(validate(&schema(), &given(json!({"nEstimators": 2.5}))).is_err());
        assert!(validate(&schema(), &given(json!({"bootstrap": "yes"}))).is_err());
        assert!(validate(&schema(), &given(json!({"maxFeatures": "half"}))).is_err());
    }

    fn range(min: f64, max: f64, scale: Scale) -> Tunable {
        Tunable::Range { min, max, scale }
    }

    #[test]
    fn suggestions_within_the_bounds_are_kept_by_task() {
        let mut schema = schema();
        let space = vec![
            ("nEstimators".to_string(), range(10.0, 500.0, Scale::Log)),
            ("maxFeatures".to_string(), Tunable::Values { values: vec![json!("sqrt"), json!(0.5)] }),
        ];
        schema.suggest(Task::Classification, space).unwrap();
        assert_eq!(schema.params[0].tunable["classification"], range(10.0, 500.0, Scale::Log));
        assert!(!schema.params[0].tunable.contains_key("regression"));
        assert!(schema.params[1].tunable.is_empty(), "a parameter the plugin does not name has no suggestion");
        let wire = serde_json::to_value(&schema.params).unwrap();
        assert_eq!(wire[0]["tunable"], json!({"classification": {"min": 10.0, "max": 500.0, "scale": "log"}}));
        assert_eq!(wire[2]["tunable"], json!({"classification": {"values": ["sqrt", 0.5]}}));
        assert!(wire[1].get("tunable").is_none(), "absent, not empty, where nothing is suggested");
    }

    #[test]
    fn suggestions_a_request_could_not_use_are_refused_naming_the_parameter() {
        let cases = [
            ("trees", range(1.0, 5.0, Scale::Linear), "does not declare"),
            ("nEstimators", range(1.0, 5000.0, Scale::Linear), "leaves the declared bounds"),
            ("nEstimators", range(50.0, 10.0, Scale::Linear), "min <= max"),
            ("nEstimators", range(1.5, 10.0, Scale::Linear), "not whole numbers"),
            ("maxFeatures", range(0.0, 1.0, Scale::Log), "log scale needs a range above 0"),
            ("bootstrap", range(0.0, 1.0, Scale::Linear), "a range suits a number"),
            ("bootstrap", Tunable::Values { values: vec![json!(true), json!("maybe")] }, "true or false"),
            ("nEstimators", Tunable::Values { values: vec![] }, "1 to 256"),
            ("nEstimators", Tunable::Values { values: vec![Value::Null] }, "whole number"),
        ];
        for (name, tunable, why) in cases {
            let err = schema().suggest(Task::Regression, vec![(name.to_string(), tunable.clone())]).unwrap_err();
            assert!(err.contains(&format!("`{name}`")) && err.contains(why), "{tunable:?}: {err}");
        }
        let twice = vec![("nEstimators".to_string(), range(1.0, 5.0, Scale::Linear)), ("nEstimators".to_string(), range(1.0, 9.0, Scale::Linear))];
        assert!(schema().suggest(Task::Regression, twice).unwrap_err().contains("twice"));
    }

    #[test]
    fn a_schema_whose_default_breaks_its_bounds_is_refused() {
        let info = PluginInfo {
            name: "x".into(),
            version: "1".into(),
            description: String::new(),
            tasks: vec![],
            params: vec![ParamSpec { name: "k".into(), help: String::new(), kind: ParamKind::Int(IntSpec { default: 0, min: Some(1), max: None }) }],
        };
        assert!(PluginSchema::from_info(&info).unwrap_err().contains("default"));
    }
}
