//! The forest's cost estimate, which the host asks for at submit (contract
//! 0.3.0) to refuse a job that could not finish inside its limits.
//!
//! Owns the cost model only: trees × levels × in-bag rows × features drawn
//! per split for the time, the request, the binned matrix, the per-row
//! buffers and the grown forest for the memory. The constants were measured
//! on the WASM build under the host (host/tests/estimates.rs holds the
//! estimate against measured runs). It must not train or touch rows.

use crate::params::{self, Settings};
use trainhost_sdk::{Cost, Param, Params, TableShape, Task, TrainError};

/// CPU nanoseconds per (in-bag row, examined feature, tree level): gathering
/// the row's bin, accumulating it, and the partition's share.
const NS_PER_ROW_FEATURE_LEVEL: f64 = 5.0;
/// Per (row, feature): the quantile binning, once.
const NS_PER_CELL_BINNED: f64 = 60.0;
/// Per (scored row, level, tree): walking a tree for the out-of-bag and validation scores.
const NS_PER_ROW_LEVEL_SCORED: f64 = 3.0;
/// The plugin's memory before any table: code, stack and the allocator's first pages.
const BASE_BYTES: f64 = 1048576.0;
/// Per training row: the tree's row statistics, sample counts and the out-of-bag scores.
const BYTES_PER_ROW: f64 = 40.0;

/// What `train` with `params` costs on a table of `shape`, or the parameter it refuses.
pub fn estimate(task: Task, params: &[Param], shape: &TableShape) -> Result<Option<Cost>, TrainError> {
    if task == Task::Clustering {
        return Ok(None);
    }
    let n_features = shape.features() as usize;
    let settings = params::parse(&Params(params), task, n_features)?;
    let rows = shape.rows as f64;
    let width = if task == Task::Classification { f64::from(shape.classes.max(2)) } else { 1.0 };
    let drawn = if settings.bootstrap { rows * settings.max_samples } else { rows };
    // Distinct rows of a bootstrap draw: 1 - e^-share of them (the sample-count rules count these).
    let distinct = if settings.bootstrap { rows * (1.0 - (-settings.max_samples).exp()) } else { rows };
    let leaves = leaves(&settings, distinct.min(distinct_rows(shape)));
    let levels = levels(&settings, leaves);
    let trees = settings.n_trees as f64;
    let mtry = settings.max_features.resolve(n_features) as f64;
    let scored = (rows - distinct) * f64::from(u8::from(settings.oob_score && settings.bootstrap)) + shape.validation_rows as f64;
    let ns = trees * levels * (drawn * mtry * NS_PER_ROW_FEATURE_LEVEL + scored * NS_PER_ROW_LEVEL_SCORED)
        + (rows + shape.validation_rows as f64) * n_features as f64 * NS_PER_CELL_BINNED;
    // A node: feature (2 bytes), flags (1), threshold (4), child index (4); a leaf adds its values.
    let forest = trees * ((2.0 * leaves - 1.0) * 11.0 + leaves * 4.0 * width);
    // The forest is held while its model bytes are written out.
    let memory = BASE_BYTES
        + shape.request_bytes(task) as f64
        + (rows + shape.validation_rows as f64) * n_features as f64
        + rows * (BYTES_PER_ROW + 8.0 * width)
        + forest * 1.5;
    Ok(Some(Cost { peak_memory_bytes: memory as u64, cpu_seconds: ns * 1e-9, driven_by: vec!["nEstimators".into(), "maxDepth".into()] }))
}

/// Distinct rows the table can hold: without numeric columns, at most one per
/// combination of levels (a table of a few categories splits no further).
fn distinct_rows(shape: &TableShape) -> f64 {
    if shape.numeric_columns > 0 {
        return f64::INFINITY;
    }
    shape.categorical_levels.iter().map(|&l| f64::from(l.max(1))).product()
}

/// Leaves of one tree: a tree grows until its leaves hold too few rows to
/// split or are pure, or reach `maxDepth`. Grown to purity on noisy labels
/// it kept about one leaf per two distinct in-bag rows (measured on the
/// generated table of host/tests/estimates.rs); cleaner labels give fewer.
fn leaves(settings: &Settings, distinct: f64) -> f64 {
    let per_leaf = (settings.min_samples_leaf as f64).max(settings.min_samples_split as f64 / 2.0).max(2.0);
    let by_rows = (distinct / per_leaf).max(1.0);
    let by_depth = 2f64.powf((settings.max_depth.min(1024)) as f64);
    by_rows.min(by_depth)
}

/// Levels whose rows a tree scans: those of a balanced tree with that many leaves.
fn levels(settings: &Settings, leaves: f64) -> f64 {
    (leaves.log2().ceil() + 1.0).min(settings.max_depth as f64 + 1.0).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainhost_sdk::{schema, ParamValue};

    fn params(pairs: &[(&str, i64)]) -> Vec<Param> {
        pairs.iter().fold(schema::defaults(&crate::info().params), |p, (name, v)| schema::with(p, name, ParamValue::Int(*v)))
    }

    fn shape(rows: u64) -> TableShape {
        TableShape { rows, validation_rows: 0, numeric_columns: 8, categorical_levels: vec![], classes: 2 }
    }

    #[test]
    fn the_issues_job_costs_hours_and_a_small_one_seconds() {
        let huge = estimate(Task::Classification, &params(&[("nEstimators", 5000), ("maxDepth", 10_000)]), &shape(2_300_000)).unwrap().unwrap();
        assert!(huge.cpu_seconds > 1800.0 && huge.peak_memory_bytes > 64 << 30, "{huge:?}");
        let small = estimate(Task::Classification, &params(&[("nEstimators", 10)]), &shape(1000)).unwrap().unwrap();
        assert!(small.cpu_seconds < 1.0 && small.peak_memory_bytes < 64 << 20, "{small:?}");
        assert_eq!(huge.driven_by[0], "nEstimators");
    }

    #[test]
    fn cost_grows_with_trees_depth_and_rows() {
        let cost = |trees, depth, rows| estimate(Task::Regression, &params(&[("nEstimators", trees), ("maxDepth", depth)]), &shape(rows)).unwrap().unwrap();
        assert!(cost(200, 8, 10_000).cpu_seconds > 1.9 * cost(100, 8, 10_000).cpu_seconds);
        assert!(cost(100, 12, 100_000).cpu_seconds > cost(100, 6, 100_000).cpu_seconds);
        assert!(cost(100, 8, 100_000).peak_memory_bytes > cost(100, 8, 10_000).peak_memory_bytes);
    }

    #[test]
    fn an_invalid_setting_is_named_as_train_names_it() {
        let p = schema::with(params(&[]), "criterion", ParamValue::Choice("gini".into()));
        match estimate(Task::Regression, &p, &shape(100)) {
            Err(TrainError::InvalidParameter(e)) => assert_eq!(e.name, "criterion"),
            other => panic!("{other:?}"),
        }
    }
}
