//! The clustering's cost estimate, which the host asks for at submit
//! (contract 0.3.0) to refuse a job that could not finish inside its limits,
//! and to refuse at once what `train` would refuse only after reading every
//! row: more clusters than rows.
//!
//! Owns the cost model only: runs × passes × rows × clusters × attributes for
//! the time, the request, the encoded rows and the per-cluster frequency
//! tables for the memory. The constants were measured on the WASM build under
//! the host (host/tests/estimates.rs holds the estimate against measured
//! runs). It must not train or touch rows.

use crate::engine::Init;
use crate::Config;
use trainhost_sdk::{invalid, Cost, Param, TableShape, Task, TrainError};

/// CPU nanoseconds per (row, cluster, attribute) compared in one pass.
const NS_PER_DISTANCE_TERM: f64 = 10.0;
/// Passes a run is expected to take before no row moves (bounded by maxIter);
/// Hartigan's refinement adds a few.
const EXPECTED_PASSES: f64 = 8.0;
const REFINE_PASSES: f64 = 3.0;
/// The plugin's memory before any table: code, stack and the allocator's first pages.
const BASE_BYTES: f64 = 1048576.0;
/// Per row: its assignment, its best run's copy, and the bookkeeping of a pass.
const BYTES_PER_ROW: f64 = 24.0;

/// What `train` with `params` costs on a table of `shape`, or the parameter it refuses.
pub fn estimate(task: Task, params: &[Param], shape: &TableShape) -> Result<Option<Cost>, TrainError> {
    if task != Task::Clustering {
        return Ok(None);
    }
    let config = Config::from_params(params)?;
    // The host drops no row for clustering and does not split it: these are the rows `train` gets.
    if shape.rows > 0 && (config.k as u64) > shape.rows {
        return Err(invalid("nClusters", &format!("{} clusters need at least as many rows; the table has {}", config.k, shape.rows)));
    }
    let numeric = f64::from(shape.numeric_columns);
    let categorical = shape.categorical_levels.len() as f64;
    let prototypes = match config.algorithm {
        Some(crate::data::Algorithm::KPrototypes) => true,
        Some(crate::data::Algorithm::KModes) => false,
        None => shape.numeric_columns > 0,
    };
    let runs = if config.init == Init::Cao && !prototypes { 1.0 } else { config.n_init as f64 };
    let passes = (config.max_iter as f64).min(EXPECTED_PASSES) + if config.refine { REFINE_PASSES } else { 0.0 };
    let rows = shape.rows as f64;
    let k = config.k as f64;
    let attributes = (numeric + categorical).max(1.0);
    let ns = runs * passes * rows * k * attributes * NS_PER_DISTANCE_TERM;
    // Frequency tables: 4 bytes per cluster and value (one more value per attribute, for missing).
    let slots = shape.categorical_levels.iter().map(|&l| f64::from(l) + 1.0).sum::<f64>();
    let encoded = rows * (categorical * 4.0 + if prototypes { numeric * 8.0 } else { numeric * 4.0 });
    let memory = BASE_BYTES + shape.request_bytes(task) as f64 + encoded + rows * BYTES_PER_ROW + k * slots * 4.0 * 2.0;
    Ok(Some(Cost { peak_memory_bytes: memory as u64, cpu_seconds: ns * 1e-9, driven_by: vec!["nClusters".into(), "nInit".into(), "maxIter".into()] }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainhost_sdk::{schema, ParamValue};

    fn params(pairs: &[(&str, i64)]) -> Vec<Param> {
        pairs.iter().fold(schema::defaults(&crate::info().params), |p, (name, v)| schema::with(p, name, ParamValue::Int(*v)))
    }

    fn shape(rows: u64) -> TableShape {
        TableShape { rows, validation_rows: 0, numeric_columns: 2, categorical_levels: vec![4, 10], classes: 0 }
    }

    #[test]
    fn more_clusters_than_rows_is_refused_naming_n_clusters() {
        match estimate(Task::Clustering, &params(&[("nClusters", 50)]), &shape(20)) {
            Err(TrainError::InvalidParameter(e)) => assert!(e.name == "nClusters" && e.reason.contains("20"), "{e:?}"),
            other => panic!("{other:?}"),
        }
        assert!(estimate(Task::Clustering, &params(&[("nClusters", 20)]), &shape(20)).unwrap().is_some());
    }

    #[test]
    fn cost_grows_with_clusters_runs_and_rows() {
        let cost = |k, runs, rows| estimate(Task::Clustering, &params(&[("nClusters", k), ("nInit", runs)]), &shape(rows)).unwrap().unwrap();
        assert!(cost(16, 10, 10_000).cpu_seconds > 1.9 * cost(8, 10, 10_000).cpu_seconds);
        assert!(cost(8, 20, 10_000).cpu_seconds > 1.9 * cost(8, 10, 10_000).cpu_seconds);
        assert!(cost(8, 10, 100_000).peak_memory_bytes > cost(8, 10, 10_000).peak_memory_bytes);
    }
}
