//! The linear models' cost estimate, which the host asks for at submit
//! (contract 0.3.0) to refuse a job that could not finish inside its limits.
//!
//! Owns the cost model only: Newton iterations × (a gradient pass over every
//! row + a Hessian over at most `HESSIAN_ROWS` rows + a Cholesky) for the
//! time, the request, the dense design matrix and the per-row vectors for the
//! memory; a linear fit instead streams its rows into moments (the Gram
//! matrix, then one residual pass) and holds only the validation design. The constants were measured on the WASM build under the host
//! (host/tests/estimates.rs holds the estimate against measured runs). It
//! must not fit or touch rows.

use crate::params::{self, Family, Penalty};
use trainhost_sdk::{Cost, Param, Params, TableShape, Task, TrainError};

/// CPU nanoseconds per multiply-add of the passes over the design.
const NS_PER_FLOP: f64 = 2.0;
/// Newton steps a non-quadratic fit is expected to take (bounded by maxIter),
/// each with about two more passes for the line search.
const EXPECTED_ITERATIONS: f64 = 10.0;
const PASSES_PER_ITERATION: f64 = 3.0;
/// Coordinate-descent sweeps per Newton step with an L1 term.
const SWEEPS_PER_ITERATION: f64 = 50.0;
const HESSIAN_ROWS: f64 = 32_768.0;
/// The plugin's memory before any table: code, stack and the allocator's first pages.
const BASE_BYTES: f64 = 1048576.0;
/// Per row and class: linear predictor, probabilities, residuals, weights (f64 each).
const BYTES_PER_ROW_CLASS: f64 = 32.0;

/// What `train` with `params` costs on a table of `shape`, or the parameter it refuses.
pub fn estimate(task: Task, params: &[Param], shape: &TableShape) -> Result<Option<Cost>, TrainError> {
    if task == Task::Clustering {
        return Ok(None);
    }
    let settings = params::parse(&Params(params), task, shape.rows as usize)?;
    let rows = shape.rows as f64;
    let all_rows = rows + shape.validation_rows as f64;
    // The design: intercept, one column per number, one per level (the reference dropped or not).
    let width = 1.0 + f64::from(shape.numeric_columns) + shape.categorical_levels.iter().map(|&l| f64::from(l)).sum::<f64>();
    let classes = if task == Task::Classification && shape.classes > 2 { f64::from(shape.classes) } else { 1.0 };
    let d = width * classes;
    let l1 = matches!(settings.penalty, Penalty::L1 | Penalty::ElasticNet);
    let inner = if l1 { (settings.max_iter as f64).min(SWEEPS_PER_ITERATION) * d * d } else { d * d * d / 3.0 };
    let (flops, design_rows) = if settings.family == Family::Gaussian {
        // Moments: the Gram's upper triangle and the residual pass, each
        // encoding the rows again; the training design is never held.
        (rows * width * width / 2.0 + 2.0 * rows * width + inner + d * d * d + all_rows * width, all_rows - rows)
    } else {
        let iterations = (settings.max_iter as f64).min(EXPECTED_ITERATIONS);
        let per_iteration = PASSES_PER_ITERATION * rows * d + rows.min(HESSIAN_ROWS) * d * width + inner;
        // Diagnostics: one Hessian over every row, and its inverse.
        (iterations * per_iteration + rows * d * width + d * d * d + all_rows * width, all_rows)
    };
    let memory = BASE_BYTES + shape.request_bytes(task) as f64 + design_rows * width * 8.0 + all_rows * classes * BYTES_PER_ROW_CLASS + 4.0 * d * d * 8.0;
    Ok(Some(Cost { peak_memory_bytes: memory as u64, cpu_seconds: flops * NS_PER_FLOP * 1e-9, driven_by: vec!["maxIter".into()] }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainhost_sdk::{schema, ParamValue};

    fn shape(rows: u64, levels: Vec<u32>) -> TableShape {
        TableShape { rows, validation_rows: 0, numeric_columns: 10, categorical_levels: levels, classes: 2 }
    }

    #[test]
    fn cost_grows_with_rows_and_the_design_width() {
        let p = schema::defaults(&crate::info().params);
        let cost = |rows, levels| estimate(Task::Classification, &p, &shape(rows, levels)).unwrap().unwrap();
        assert!(cost(1_000_000, vec![]).cpu_seconds > 5.0 * cost(100_000, vec![]).cpu_seconds);
        assert!(cost(100_000, vec![1000]).peak_memory_bytes > 10 * cost(100_000, vec![]).peak_memory_bytes);
        assert!(cost(100_000, vec![1000]).cpu_seconds > 100.0 * cost(100_000, vec![]).cpu_seconds);
    }

    #[test]
    fn a_linear_fit_holds_no_training_design() {
        let p = schema::defaults(&crate::info().params);
        let cost = |task| estimate(task, &p, &shape(1_000_000, vec![])).unwrap().unwrap();
        let (linear, logistic) = (cost(Task::Regression), cost(Task::Classification));
        assert!(logistic.peak_memory_bytes as f64 - linear.peak_memory_bytes as f64 > 0.9 * 1e6 * 11.0 * 8.0);
        assert!(linear.cpu_seconds < logistic.cpu_seconds);
    }

    #[test]
    fn an_invalid_setting_is_named_as_train_names_it() {
        let p = schema::with(schema::defaults(&crate::info().params), "classWeight", ParamValue::Choice("balanced".into()));
        match estimate(Task::Regression, &p, &shape(100, vec![])) {
            Err(TrainError::InvalidParameter(e)) => assert_eq!(e.name, "classWeight"),
            other => panic!("{other:?}"),
        }
    }
}
