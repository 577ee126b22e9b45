//! A plugin's suggested search space (contract 0.5.0, the SDK's `tuning`
//! feature): which parameters are worth searching and over what range, as
//! `export_trainer!(..., tuning: f)` with `f(task) -> Vec<TunableParam>`.
//!
//! Owns the guest side of `tuning` and terse constructors; which parameters
//! a plugin suggests belongs to the plugin.

pub use crate::exports::trainhost::plugin0_5_0::tuning::{Guest as TuningGuest, Scale, Span, Suggestion, TunableParam};
use crate::{ParamValue, Task};

/// The signature of a plugin's suggestion (see `export_trainer!`).
pub type SuggestFn = fn(Task) -> Vec<TunableParam>;

/// The suggestion of a plugin that makes none: the host uses the declared bounds.
pub fn no_suggestion(_: Task) -> Vec<TunableParam> {
    Vec::new()
}

/// `name` over `min..=max`, sampled evenly.
pub fn linear(name: &str, min: f64, max: f64) -> TunableParam {
    TunableParam { name: name.into(), suggestion: Suggestion::Span(Span { min, max, scale: Scale::Linear }) }
}

/// `name` over `min..=max` (both above 0), sampled evenly in the logarithm:
/// for rates and sizes whose effect is multiplicative.
pub fn log(name: &str, min: f64, max: f64) -> TunableParam {
    TunableParam { name: name.into(), suggestion: Suggestion::Span(Span { min, max, scale: Scale::Log }) }
}

/// `name` over a list of values (choices, booleans or numbers).
pub fn values(name: &str, values: Vec<ParamValue>) -> TunableParam {
    TunableParam { name: name.into(), suggestion: Suggestion::Values(values) }
}

/// `name` over a list of choices.
pub fn choices(name: &str, choices: &[&str]) -> TunableParam {
    values(name, choices.iter().map(|c| ParamValue::Choice((*c).to_string())).collect())
}
