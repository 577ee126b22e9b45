//! The search space gbdt suggests (contract 0.5.0): the parameters that move
//! a boosted model's score most, over the ranges where good settings lie on
//! ordinary tables. The number of rounds is left out: a sweep's successive
//! halving spends rounds as its budget.
//!
//! Owns only the suggestion; the parameters themselves live in `params`.

use trainhost_sdk::tuning::{linear, log, values, TunableParam};
use trainhost_sdk::{ParamValue, Task};

/// The same space for classification and regression.
pub fn suggest(_task: Task) -> Vec<TunableParam> {
    vec![
        log("learningRate", 0.01, 0.3),
        log("numLeaves", 8.0, 255.0),
        log("minDataInLeaf", 5.0, 100.0),
        linear("featureFraction", 0.5, 1.0),
        values("lambdaL2", [0.0, 0.1, 1.0, 10.0].into_iter().map(ParamValue::Float).collect()),
    ]
}
