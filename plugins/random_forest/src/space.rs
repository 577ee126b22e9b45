//! The search space random_forest suggests (contract 0.5.0): tree count,
//! depth, leaf size, the features drawn per split and the bootstrap share.
//!
//! Owns only the suggestion; the parameters themselves live in `params`.

use trainhost_sdk::tuning::{choices, linear, log, values, TunableParam};
use trainhost_sdk::{ParamValue, Task};

pub fn suggest(task: Task) -> Vec<TunableParam> {
    let mut space = vec![
        log("nEstimators", 50.0, 500.0),
        values("maxDepth", [0, 8, 16, 32].into_iter().map(ParamValue::Int).collect()),
        log("minSamplesLeaf", 1.0, 50.0),
        linear("maxSamples", 0.3, 1.0),
    ];
    // Classification forests do best with few features per split, regression ones with many.
    let features = match task {
        Task::Regression => vec![ParamValue::Choice("all".into()), ParamValue::Float(0.6), ParamValue::Float(0.33), ParamValue::Choice("sqrt".into())],
        _ => vec![ParamValue::Choice("sqrt".into()), ParamValue::Choice("log2".into()), ParamValue::Float(0.5)],
    };
    space.push(values("maxFeatures", features));
    if task == Task::Classification {
        space.push(choices("criterion", &["gini", "entropy"]));
    }
    space
}
