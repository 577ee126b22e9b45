//! The check's sample tables: one informative numeric column, one noise
//! column and a categorical column, each with missing values, with a class
//! and a numeric target; and a table to predict on whose categorical column
//! also holds a level the training rows never had.
//!
//! Owns only the sample data; it must not judge anything.

use polars::prelude::*;

use crate::contract::Task;

/// Rows of the training sample.
pub const ROWS: usize = 200;
/// Rows of the table predicted on.
pub const PREDICT_ROWS: usize = 60;
/// The categorical column's levels in the training rows.
pub const LEVELS: [&str; 3] = ["red", "green", "blue"];
/// A level the prediction table has and the training rows do not.
pub const UNSEEN_LEVEL: &str = "purple";

/// The target column of `task`'s sample (None: clustering has none).
pub fn target(task: Task) -> Option<&'static str> {
    match task {
        Task::Classification => Some("class"),
        Task::Regression => Some("value"),
        Task::Clustering => None,
    }
}

/// Rows `from..from + rows`: every 17th `x` and every 23rd `colour` missing;
/// `levels` are cycled through for the colour.
fn table(from: usize, rows: usize, levels: &[&str]) -> PolarsResult<DataFrame> {
    let range = from..from + rows;
    let signal: Vec<f64> = range.clone().map(|i| (i as f64 * 0.37).sin() * 10.0).collect();
    let x: Vec<Option<f64>> = range.clone().zip(&signal).map(|(i, v)| (i % 17 != 5).then_some(*v)).collect();
    let noise: Vec<f64> = range.clone().map(|i| ((i * 7919) % 101) as f64).collect();
    let colour: Vec<Option<&str>> = range.clone().map(|i| (i % 23 != 7).then(|| levels[i % levels.len()])).collect();
    let class: Vec<&str> = signal.iter().map(|v| if *v > 0.0 { "high" } else { "low" }).collect();
    let value: Vec<f64> = signal.iter().zip(&noise).map(|(a, b)| 3.0 * a + 0.01 * b).collect();
    df!("x" => x, "noise" => noise, "colour" => colour, "class" => class, "value" => value)
}

/// The training sample for `task`: its target, and no other task's.
pub fn training_table(task: Task) -> PolarsResult<DataFrame> {
    let table = table(0, ROWS, &LEVELS)?;
    match task {
        Task::Classification => table.drop("value"),
        Task::Regression => table.drop("class"),
        Task::Clustering => table.drop("class")?.drop("value"),
    }
}

/// Rows the model never saw, without targets, with the unseen level and missing values.
pub fn prediction_table() -> PolarsResult<DataFrame> {
    let mut levels = LEVELS.to_vec();
    levels.push(UNSEEN_LEVEL);
    table(ROWS, PREDICT_ROWS, &levels)?.drop("class")?.drop("value")
}
