//! The prediction property: predict on rows the model never saw, with
//! missing values and a categorical level unseen in training, and check what
//! comes back: the task's kind of prediction, one per row, finite numbers,
//! class codes within the classes, probabilities in [0, 1] summing to 1.
//!
//! Owns only those checks on the plugin's raw answer (before the host turns
//! codes into names, which would hide a code out of range).

use crate::contract::{ClassPredictions, Predictions, Task};
use crate::runtime::LoadedPlugin;
use crate::training::TrainOutcome;

use super::{sample, Verdict};

/// How far a row's probabilities may sum from 1 (they are f32).
const SUM_TOLERANCE: f64 = 1e-3;

pub fn check(plugin: &LoadedPlugin, task: Task, outcome: &TrainOutcome, verdict: &mut Verdict) {
    let label = format!("{} predict on {} new rows with missing values and an unseen level `{}`", task.as_str(), sample::PREDICT_ROWS, sample::UNSEEN_LEVEL);
    let encoding = &outcome.artifact.header.encoding;
    let encoded = match sample::prediction_table().map_err(|e| e.to_string()).and_then(|t| encoding.encode(&t, false).map_err(|e| e.to_string())) {
        Ok(encoded) => encoded,
        Err(err) => return verdict.fail(format!("{label}: cannot build the table: {err}")),
    };
    let predictions = match plugin.predict(&outcome.artifact.model, &encoding.to_contract(&encoded).features) {
        Ok(predictions) => predictions,
        Err(err) => return verdict.fail(format!("{label}: {err}")),
    };
    let classes = encoding.class_labels().map_or(0, <[String]>::len);
    match shape(task, &predictions, encoded.rows, classes) {
        Ok(what) => verdict.pass(format!("{label}: {what}")),
        Err(why) => verdict.fail(format!("{label}: bad predictions: {why}")),
    }
}

/// What is right about the predictions, or the first thing wrong with them.
fn shape(task: Task, predictions: &Predictions, rows: usize, classes: usize) -> Result<String, String> {
    let count = |n: usize| if n == rows { Ok(()) } else { Err(format!("{n} predictions for {rows} rows; there must be one per row")) };
    match (task, predictions) {
        (Task::Classification, Predictions::Classes(p)) => {
            count(p.labels.len())?;
            classes_shape(p, rows, classes)
        }
        (Task::Regression, Predictions::Values(v)) => {
            count(v.len())?;
            match v.iter().position(|x| !x.is_finite()) {
                Some(at) => Err(format!("row {at}'s prediction is {}, not a finite number", v[at])),
                None => Ok(format!("one finite number per row ({rows})")),
            }
        }
        (Task::Clustering, Predictions::Clusters(c)) => {
            count(c.len())?;
            Ok(format!("one cluster per row ({rows}), {} distinct", c.iter().collect::<std::collections::BTreeSet<_>>().len()))
        }
        (_, other) => Err(format!("{} answered with {}", task.as_str(), kind(other))),
    }
}

fn kind(predictions: &Predictions) -> &'static str {
    match predictions {
        Predictions::Classes(_) => "classes",
        Predictions::Values(_) => "values",
        Predictions::Clusters(_) => "clusters",
    }
}

fn classes_shape(p: &ClassPredictions, rows: usize, classes: usize) -> Result<String, String> {
    let k = p.n_classes as usize;
    if k != classes {
        return Err(format!("n-classes is {k}, but the training target has {classes} classes"));
    }
    if let Some(at) = p.labels.iter().position(|&c| c as usize >= k) {
        return Err(format!("row {at}'s class code {} is not below n-classes {k}", p.labels[at]));
    }
    let Some(probabilities) = &p.probabilities else {
        return Ok(format!("one class per row ({rows}), no probabilities"));
    };
    if probabilities.len() != rows * k {
        return Err(format!("{} probabilities for {rows} rows of {k} classes; there must be rows × n-classes", probabilities.len()));
    }
    for (row, chunk) in probabilities.chunks(k.max(1)).enumerate() {
        if let Some(p) = chunk.iter().find(|p| !(0.0..=1.0).contains(*p)) {
            return Err(format!("row {row} has probability {p}, outside [0, 1]"));
        }
        let sum: f64 = chunk.iter().map(|p| f64::from(*p)).sum();
        if (sum - 1.0).abs() > SUM_TOLERANCE {
            return Err(format!("row {row}'s probabilities sum to {sum:.4}, not 1"));
        }
    }
    Ok(format!("one class per row ({rows}), probabilities in [0, 1] summing to 1"))
}
