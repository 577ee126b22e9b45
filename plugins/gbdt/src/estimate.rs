//! Boosting's cost estimate, which the host asks for at submit (contract
//! 0.3.0) to refuse a job that could not finish inside its limits.
//!
//! Owns the cost model only: rounds × trees per round × (histogram rows ×
//! features + leaves × bins) for the time, the request, the binned matrix,
//! the per-row gradient state and the histogram pool for the memory. The
//! constants were measured on the WASM build under the host
//! (host/tests/estimates.rs holds the estimate against measured runs). It
//! must not train or touch rows.

use crate::params::{self, Settings};
use trainhost_sdk::{Cost, Param, Params, TableShape, Task, TrainError};

/// CPU nanoseconds per (row, feature) accumulated into a histogram.
const NS_PER_HISTOGRAM_CELL: f64 = 1.0;
/// Per (row, tree): gradients, the partition down the tree, the score update.
const NS_PER_ROW_TREE: f64 = 20.0;
/// Per (leaf, feature, bin) scanned for the best split.
const NS_PER_BIN_SCANNED: f64 = 1.0;
/// Per (row, feature): the quantile binning, once.
const NS_PER_CELL_BINNED: f64 = 60.0;
/// The plugin's memory before any table: code, stack and the allocator's first pages.
const BASE_BYTES: f64 = 1048576.0;
/// Per row and class: scores (f64), gradient pair (2 × f32), plus weights, bag flags and the partition's indices.
const BYTES_PER_ROW_CLASS: f64 = 16.0;
const BYTES_PER_ROW: f64 = 24.0;
/// One histogram slot per leaf and feature: 256 bins of 16 bytes; the pool holds at most 768 MiB (`tree::histogram`).
const HISTOGRAM_BYTES_PER_FEATURE: f64 = 256.0 * 16.0;
const POOL_BYTES: f64 = 768.0 * 1048576.0;
/// Levels a categorical feature can carry in one binned feature (more become several).
const LEVELS_PER_FEATURE: u32 = 255;

/// What `train` with `params` costs on a table of `shape`, or the parameter it refuses.
pub fn estimate(task: Task, params: &[Param], shape: &TableShape) -> Result<Option<Cost>, TrainError> {
    if task == Task::Clustering {
        return Ok(None);
    }
    let settings = params::parse(&Params(params), task)?;
    let features = f64::from(shape.numeric_columns) + shape.categorical_levels.iter().map(|&l| f64::from(l.div_ceil(LEVELS_PER_FEATURE).max(1))).sum::<f64>();
    let rows = shape.rows as f64;
    let all_rows = rows + shape.validation_rows as f64;
    let width = if task == Task::Classification && shape.classes > 2 { f64::from(shape.classes) } else { 1.0 };
    let trees = settings.n_rounds as f64 * width;
    let bagged = if settings.bagging_freq > 0 { rows * settings.bagging_fraction } else { rows };
    let leaves = leaves(&settings, bagged);
    let used = (features * settings.feature_fraction).ceil().max(1.0);
    // Leaf-wise growth with subtraction builds the smaller child's histogram at each split.
    let histogram_rows = bagged * (1.0 + 0.5 * leaves.log2());
    // A categorical feature has a bin per level (and one for missing), a numeric one up to maxBins.
    let bins = f64::from(shape.numeric_columns) * settings.max_bins as f64
        + shape
            .categorical_levels
            .iter()
            .map(|&l| f64::from(l.saturating_add(1)).min(settings.max_bins as f64 * f64::from(l.div_ceil(LEVELS_PER_FEATURE).max(1))))
            .sum::<f64>();
    let scanned = bins * used / features.max(1.0);
    let per_tree = histogram_rows * used * NS_PER_HISTOGRAM_CELL + all_rows * NS_PER_ROW_TREE + leaves * scanned * NS_PER_BIN_SCANNED;
    let ns = trees * per_tree + all_rows * features * NS_PER_CELL_BINNED;
    // Leaves that cannot split give their slot back: about half the leaves hold one at once (measured).
    let pool = (0.5 * leaves * features * HISTOGRAM_BYTES_PER_FEATURE).min(POOL_BYTES.max(3.0 * features * HISTOGRAM_BYTES_PER_FEATURE));
    let model = trees * (2.0 * leaves) * 16.0;
    let memory =
        BASE_BYTES + shape.request_bytes(task) as f64 + all_rows * features + all_rows * (BYTES_PER_ROW + BYTES_PER_ROW_CLASS * width) + pool + model * 3.0;
    Ok(Some(Cost { peak_memory_bytes: memory as u64, cpu_seconds: ns * 1e-9, driven_by: vec!["nEstimators".into(), "numLeaves".into()] }))
}

/// Leaves of one tree: `numLeaves`, unless `maxDepth` or `minDataInLeaf` allows fewer.
fn leaves(settings: &Settings, rows: f64) -> f64 {
    let by_depth = 2f64.powf(settings.tree.max_depth.min(64) as f64);
    let by_rows = (rows / settings.tree.min_data_in_leaf.max(1.0)).max(1.0);
    (settings.tree.num_leaves as f64).min(by_depth).min(by_rows).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainhost_sdk::{schema, ParamValue};

    fn params(pairs: &[(&str, i64)]) -> Vec<Param> {
        pairs.iter().fold(schema::defaults(&crate::info().params), |p, (name, v)| schema::with(p, name, ParamValue::Int(*v)))
    }

    fn shape(rows: u64, classes: u32) -> TableShape {
        TableShape { rows, validation_rows: 0, numeric_columns: 28, categorical_levels: vec![300], classes }
    }

    #[test]
    fn cost_grows_with_rounds_leaves_rows_and_classes() {
        let cost = |rounds, leaves, rows, classes| {
            estimate(Task::Classification, &params(&[("nEstimators", rounds), ("numLeaves", leaves)]), &shape(rows, classes)).unwrap().unwrap()
        };
        let base = cost(100, 31, 100_000, 2);
        assert!(cost(200, 31, 100_000, 2).cpu_seconds > 1.8 * base.cpu_seconds);
        assert!(cost(100, 255, 100_000, 2).cpu_seconds > base.cpu_seconds);
        assert!(cost(100, 31, 100_000, 10).cpu_seconds > 5.0 * base.cpu_seconds);
        assert!(cost(100, 31, 1_000_000, 2).peak_memory_bytes > 5 * base.peak_memory_bytes);
        // The histogram pool: half of 4096 leaves of 29 features hold 232 MiB of histograms.
        assert!(cost(100, 4096, 100_000, 2).peak_memory_bytes > base.peak_memory_bytes + (200 << 20));
    }

    #[test]
    fn an_invalid_setting_is_named_as_train_names_it() {
        let p = schema::with(params(&[]), "objective", ParamValue::Choice("poisson".into()));
        match estimate(Task::Classification, &p, &shape(100, 2)) {
            Err(TrainError::InvalidParameter(e)) => assert_eq!(e.name, "objective"),
            other => panic!("{other:?}"),
        }
    }
}
