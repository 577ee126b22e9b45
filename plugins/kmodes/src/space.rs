//! The search space kmodes suggests (contract 0.5.0): the number of clusters
//! and how the centres start.
//!
//! Owns only the suggestion; the parameters themselves are declared in `info`.

use trainhost_sdk::tuning::{choices, log, TunableParam};
use trainhost_sdk::Task;

pub fn suggest(_task: Task) -> Vec<TunableParam> {
    vec![log("nClusters", 2.0, 32.0), choices("init", &["cao", "huang", "random"])]
}
