//! A sweep's search space: per plugin, each searched parameter as a list of
//! values, a range (`{min, max, scale}`, linear or log) or a fixed value;
//! parsed from the request and checked against the plugin's own schema
//! (`runtime::schema`), then sampled with a seeded RNG or enumerated as a grid.
//!
//! Owns the space's wire shape, its checks and its sampling. It must not
//! decide which trial runs next (`strategy`), nor submit anything (`driver`).

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::contract::Task;
use crate::runtime::schema::{self, ParamSchema, PluginSchema, Tunable};

/// Points a range is cut into when a grid searches it.
pub const GRID_POINTS: usize = 3;

/// How a range is drawn from.
/// How a range is sampled (one home: the plugins' suggestions use it too).
pub use crate::runtime::Scale;

/// One searched parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Dimension {
    /// Always this value.
    Fixed { value: Value },
    /// One of these values.
    Values { values: Vec<Value> },
    /// A number from `min` to `max` (both included); `int` rounds it.
    Range { min: f64, max: f64, scale: Scale, int: bool },
}

/// The space searched for one plugin: its name and its parameters (in the
/// plugin's declared order, so a grid and a seed always give the same trials).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginSpace {
    pub plugin: String,
    pub params: Vec<(String, Dimension)>,
}

/// What is wrong with a space, naming the parameter (the caller adds `space[i].`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{param}: {reason}")]
pub struct SpaceError {
    /// The parameter's name, or `selectedModel`.
    pub param: String,
    pub reason: String,
}

fn space_error(param: &str, reason: impl Into<String>) -> SpaceError {
    SpaceError { param: param.to_string(), reason: reason.into() }
}

impl PluginSpace {
    /// The space `entry` (the request's object, `selectedModel` taken out) asks
    /// for over `schema`'s parameters: every name declared, every value and
    /// range inside the declared bounds.
    pub fn parse(plugin: &str, schema: &PluginSchema, entry: &Map<String, Value>) -> Result<PluginSpace, SpaceError> {
        if let Some(unknown) = entry.keys().find(|k| !schema.params.iter().any(|p| &p.name == *k)) {
            let known: Vec<&str> = schema.params.iter().map(|p| p.name.as_str()).collect();
            return Err(space_error(unknown, format!("plugin `{plugin}` has no such parameter; it takes: {}", known.join(", "))));
        }
        let mut params = vec![];
        for p in &schema.params {
            if let Some(given) = entry.get(&p.name) {
                params.push((p.name.clone(), dimension(p, given)?));
            }
        }
        Ok(PluginSpace { plugin: plugin.to_string(), params })
    }

    /// Draws one setting: a value per searched parameter.
    pub fn sample(&self, rng: &mut impl Rng) -> Map<String, Value> {
        self.params.iter().map(|(name, d)| (name.clone(), d.sample(rng))).collect()
    }

    /// The grid's size: the product of every parameter's grid points.
    pub fn grid_size(&self) -> u64 {
        self.params.iter().map(|(_, d)| d.grid_points().len() as u64).fold(1, u64::saturating_mul)
    }

    /// The `index`-th point of the grid (mixed radix, the last parameter
    /// moving fastest); None past its end.
    pub fn grid_point(&self, index: u64) -> Option<Map<String, Value>> {
        if index >= self.grid_size() {
            return None;
        }
        let mut rest = index;
        let mut point = Map::new();
        for (name, d) in self.params.iter().rev() {
            let points = d.grid_points();
            let n = points.len() as u64;
            point.insert(name.clone(), points[(rest % n) as usize].clone());
            rest /= n;
        }
        Some(self.params.iter().filter_map(|(name, _)| point.remove_entry(name)).collect())
    }

    /// A setting inside the space to check the request with before any trial
    /// runs: every parameter at its first grid point.
    pub fn first_point(&self) -> Map<String, Value> {
        self.params.iter().filter_map(|(name, d)| d.grid_points().first().map(|v| (name.clone(), v.clone()))).collect()
    }
}

/// The space a plugin suggests for `"strategy": "auto"`: every number with
/// both bounds declared as a range over them (log when they span two decades
/// or more and start above zero), clipped to a factor of ten around a positive
/// default so that no trial costs far more than the default does; every
/// choice over its choices. Booleans and unbounded numbers keep their default.
pub fn suggested_space(plugin: &str, schema: &PluginSchema, task: Task) -> PluginSpace {
    // A plugin that suggests a space (contract 0.5.0) is searched over it
    // alone; the others over their declared bounds.
    let suggested: Vec<(String, Dimension)> =
        schema.params.iter().filter_map(|p| p.tunable.get(task.as_str()).map(|t| (p.name.clone(), from_suggestion(p, t)))).collect();
    let params = if suggested.is_empty() {
        schema.params.iter().filter_map(|p| suggested_dimension(p).map(|d| (p.name.clone(), d))).collect()
    } else {
        suggested.into_iter().collect()
    };
    PluginSpace { plugin: plugin.to_string(), params }
}

fn from_suggestion(p: &ParamSchema, t: &Tunable) -> Dimension {
    match t {
        Tunable::Range { min, max, scale } => Dimension::Range { min: *min, max: *max, scale: *scale, int: p.kind == "int" },
        Tunable::Values { values } => Dimension::Values { values: values.clone() },
    }
}

fn suggested_dimension(p: &ParamSchema) -> Option<Dimension> {
    match p.kind {
        "choice" => Some(Dimension::Values { values: p.choices.as_ref()?.iter().map(|c| Value::from(c.as_str())).collect() }),
        "int" | "float" => {
            let (mut min, mut max) = (p.min?, p.max?);
            if let Some(default) = p.default.as_f64().filter(|d| *d > 0.0) {
                (min, max) = (min.max(default / 10.0), max.min(default * 10.0));
            }
            let int = p.kind == "int";
            if int {
                (min, max) = (min.ceil(), max.floor());
            }
            if min >= max {
                return None;
            }
            let scale = if min > 0.0 && max / min >= 100.0 { Scale::Log } else { Scale::Linear };
            Some(Dimension::Range { min, max, scale, int })
        }
        _ => None,
    }
}

/// The dimension `given` asks for parameter `p`.
fn dimension(p: &ParamSchema, given: &Value) -> Result<Dimension, SpaceError> {
    let Value::Object(object) = given else {
        check_value(p, given)?;
        return Ok(Dimension::Fixed { value: given.clone() });
    };
    if let Some(values) = object.get("values") {
        let Value::Array(values) = values else { return Err(space_error(&p.name, "`values` must be a list")) };
        if values.is_empty() || object.len() != 1 {
            return Err(space_error(&p.name, "give `{\"values\": [...]}` with at least one value and nothing else"));
        }
        for v in values {
            check_value(p, v)?;
        }
        return Ok(Dimension::Values { values: values.clone() });
    }
    range(p, object)
}

/// A `{min, max, scale}` range over a numeric parameter, inside its bounds.
fn range(p: &ParamSchema, object: &Map<String, Value>) -> Result<Dimension, SpaceError> {
    let shape = "give a value, `{\"values\": [...]}`, or `{\"min\": a, \"max\": b, \"scale\": \"linear\" | \"log\"}`";
    if object.keys().any(|k| !matches!(k.as_str(), "min" | "max" | "scale")) {
        return Err(space_error(&p.name, shape));
    }
    if !matches!(p.kind, "int" | "float" | "choice_or_number") {
        return Err(space_error(&p.name, format!("a {} parameter takes a value or `values`, not a range", p.kind)));
    }
    let number = |key: &str| object.get(key).and_then(Value::as_f64).filter(|v| v.is_finite());
    let (Some(min), Some(max)) = (number("min"), number("max")) else {
        return Err(space_error(&p.name, format!("a range needs numbers `min` and `max`; {shape}")));
    };
    let scale = match object.get("scale").and_then(Value::as_str) {
        None if object.get("scale").is_none() => Scale::Linear,
        Some("linear") => Scale::Linear,
        Some("log") => Scale::Log,
        _ => return Err(space_error(&p.name, "`scale` must be \"linear\" or \"log\"")),
    };
    if min > max {
        return Err(space_error(&p.name, format!("the range's min {min} is above its max {max}")));
    }
    if scale == Scale::Log && min <= 0.0 {
        return Err(space_error(&p.name, format!("a log range must start above 0, got min {min}")));
    }
    let (lo, hi) = (p.min.unwrap_or(f64::NEG_INFINITY), p.max.unwrap_or(f64::INFINITY));
    if min < lo || max > hi {
        let bounds = format!("{}..{}", p.min.map_or("-inf".into(), |v| v.to_string()), p.max.map_or("inf".into(), |v| v.to_string()));
        return Err(space_error(&p.name, format!("the range {min}..{max} is outside the plugin's bounds {bounds}")));
    }
    let int = p.kind == "int";
    if int && min.ceil() > max.floor() {
        return Err(space_error(&p.name, format!("the range {min}..{max} holds no whole number")));
    }
    Ok(Dimension::Range { min, max, scale, int })
}

/// A single value, by the plugin schema's own check.
fn check_value(p: &ParamSchema, value: &Value) -> Result<(), SpaceError> {
    let one = PluginSchema { name: String::new(), version: String::new(), description: String::new(), tasks: vec![], params: vec![p.clone()] };
    let mut given = Map::new();
    given.insert(p.name.clone(), value.clone());
    schema::validate(&one, &given).map(|_| ()).map_err(|e| space_error(&p.name, e.reason))
}

impl Dimension {
    fn sample(&self, rng: &mut impl Rng) -> Value {
        match self {
            Dimension::Fixed { value } => value.clone(),
            Dimension::Values { values } => values[rng.random_range(0..values.len())].clone(),
            Dimension::Range { min, max, scale, int } => {
                let u: f64 = rng.random();
                number(at(*min, *max, *scale, u), *min, *max, *int)
            }
        }
    }

    /// Where `value` lies on a range, 0 at `min` to 1 at `max` on its scale
    /// (None for other dimensions, or a value that is not a number).
    pub(super) fn unit_of(&self, value: &Value) -> Option<f64> {
        let Dimension::Range { min, max, scale, .. } = *self else { return None };
        let v = value.as_f64()?;
        if max <= min {
            return Some(0.5);
        }
        let u = match scale {
            Scale::Linear => (v - min) / (max - min),
            Scale::Log => (v.max(min).ln() - min.ln()) / (max.ln() - min.ln()),
        };
        Some(u.clamp(0.0, 1.0))
    }

    /// The range's value at `u` (0..=1) on its scale, as the parameter takes it
    /// (the fixed value, or the first one, for other dimensions).
    pub(super) fn value_at(&self, u: f64) -> Value {
        match self {
            Dimension::Range { min, max, scale, int } => number(at(*min, *max, *scale, u.clamp(0.0, 1.0)), *min, *max, *int),
            Dimension::Fixed { value } => value.clone(),
            Dimension::Values { values } => values[0].clone(),
        }
    }

    /// The values a grid takes: the list, the fixed value, or `GRID_POINTS`
    /// evenly spaced on the range's scale (distinct after rounding).
    fn grid_points(&self) -> Vec<Value> {
        match self {
            Dimension::Fixed { value } => vec![value.clone()],
            Dimension::Values { values } => values.clone(),
            Dimension::Range { min, max, scale, int } => {
                let mut points: Vec<Value> = vec![];
                for i in 0..GRID_POINTS {
                    let u = i as f64 / (GRID_POINTS - 1) as f64;
                    let v = number(at(*min, *max, *scale, u), *min, *max, *int);
                    if !points.contains(&v) {
                        points.push(v);
                    }
                }
                points
            }
        }
    }
}

/// The point `u` (0..=1) of the way from `min` to `max` on `scale`.
fn at(min: f64, max: f64, scale: Scale, u: f64) -> f64 {
    match scale {
        Scale::Linear => min + u * (max - min),
        Scale::Log => (min.ln() + u * (max.ln() - min.ln())).exp(),
    }
}

/// `v` as the JSON number the parameter takes, kept inside `min..=max`.
fn number(v: f64, min: f64, max: f64, int: bool) -> Value {
    if int {
        Value::from(v.round().clamp(min.ceil(), max.floor()) as i64)
    } else {
        Value::from(v.clamp(min, max))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use serde_json::json;

    use super::*;

    fn param(name: &str, kind: &'static str, default: Value, min: Option<f64>, max: Option<f64>, choices: Option<Vec<String>>) -> ParamSchema {
        ParamSchema { name: name.into(), kind, default, min, max, choices, help: String::new(), tunable: Default::default() }
    }

    fn forest() -> PluginSchema {
        PluginSchema {
            name: "rf".into(),
            version: "1".into(),
            description: String::new(),
            tasks: vec!["classification"],
            params: vec![
                param("nEstimators", "int", json!(100), Some(1.0), Some(5000.0), None),
                param("maxSamples", "float", json!(1.0), Some(1e-6), Some(1.0), None),
                param("criterion", "choice", json!("auto"), None, None, Some(vec!["auto".into(), "gini".into()])),
                param("bootstrap", "bool", json!(true), None, None, None),
            ],
        }
    }

    fn parse(entry: Value) -> Result<PluginSpace, SpaceError> {
        PluginSpace::parse("rf", &forest(), entry.as_object().unwrap())
    }

    #[test]
    fn values_ranges_and_fixed_values_parse_in_declared_order() {
        let space = parse(json!({"criterion": {"values": ["gini", "auto"]}, "nEstimators": 20, "maxSamples": {"min": 0.3, "max": 1.0}})).unwrap();
        let names: Vec<&str> = space.params.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["nEstimators", "maxSamples", "criterion"]);
        assert_eq!(space.grid_size(), 3 * 2);
        let points: Vec<Map<String, Value>> = (0..6).filter_map(|i| space.grid_point(i)).collect();
        assert_eq!(points.len(), 6);
        assert_eq!(Value::Object(points[0].clone()), json!({"nEstimators": 20, "maxSamples": 0.3, "criterion": "gini"}));
        assert_eq!(Value::Object(points[5].clone()), json!({"nEstimators": 20, "maxSamples": 1.0, "criterion": "auto"}));
        assert!(space.grid_point(6).is_none());
    }

    #[test]
    fn each_fault_names_its_parameter() {
        let cases = [
            (json!({"nTrees": 5}), "nTrees", "no such parameter"),
            (json!({"nEstimators": {"min": 0, "max": 10}}), "nEstimators", "outside the plugin's bounds"),
            (json!({"maxSamples": {"min": 0.5, "max": 2.0}}), "maxSamples", "outside the plugin's bounds"),
            (json!({"nEstimators": {"min": 10, "max": 5}}), "nEstimators", "above its max"),
            (json!({"criterion": {"min": 1, "max": 2}}), "criterion", "not a range"),
            (json!({"criterion": {"values": ["gini", "nope"]}}), "criterion", "nope"),
            (json!({"nEstimators": {"values": []}}), "nEstimators", "at least one value"),
            (json!({"maxSamples": {"min": 0.0, "max": 1.0, "scale": "log"}}), "maxSamples", "above 0"),
            (json!({"maxSamples": {"min": 0.1, "max": 1.0, "scale": "cubic"}}), "maxSamples", "`scale`"),
            (json!({"nEstimators": 0}), "nEstimators", "between 1 and 5000"),
        ];
        for (entry, name, hint) in cases {
            let e = parse(entry.clone()).expect_err("refused");
            assert_eq!(e.param, name, "{entry}");
            assert!(e.reason.contains(hint), "{entry}: {}", e.reason);
        }
    }

    #[test]
    fn samples_stay_inside_the_space_and_repeat_with_the_seed() {
        let space = parse(json!({"nEstimators": {"min": 10, "max": 1000, "scale": "log"}, "maxSamples": {"min": 0.3, "max": 0.6}})).unwrap();
        let draw = |seed| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            (0..200).map(|_| space.sample(&mut rng)).collect::<Vec<_>>()
        };
        let samples = draw(3);
        assert_eq!(samples, draw(3));
        assert_ne!(samples, draw(4));
        for s in &samples {
            let n = s["nEstimators"].as_i64().unwrap();
            let m = s["maxSamples"].as_f64().unwrap();
            assert!((10..=1000).contains(&n) && (0.3..=0.6).contains(&m), "{s:?}");
        }
        // Log scale: about half the draws below the geometric middle (100).
        let below = samples.iter().filter(|s| s["nEstimators"].as_i64().unwrap() < 100).count();
        assert!((60..140).contains(&below), "{below}");
    }

    #[test]
    fn the_suggested_space_stays_near_the_defaults() {
        let space = suggested_space("rf", &forest(), Task::Classification);
        let names: Vec<&str> = space.params.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["nEstimators", "maxSamples", "criterion"]);
        assert_eq!(space.params[0].1, Dimension::Range { min: 10.0, max: 1000.0, scale: Scale::Log, int: true });
        assert_eq!(space.params[1].1, Dimension::Range { min: 0.1, max: 1.0, scale: Scale::Linear, int: false });
    }
}
