//! Cross-validation (`"folds": K`): before the final fit, K fits on the folds
//! of the training part (`split::folds`), each handed its fold's held-out rows
//! as the validation table (so early stopping works) and scored by the host on
//! them, summed up as `CrossValidation` (mean, standard deviation, per-fold values).
//!
//! The rule of the split holds here too: the folds are drawn from the training
//! part alone, so the test rows the host judges the final model on reach no
//! fold, as training rows or as validation rows.
//!
//! Owns the fold loop, its checks and its progress phases. It must not split
//! the table (`data::split` does), store or report anything (the worker does),
//! or fit the final model (`training::train_prepared` does, after this).

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{evaluate, PreparedTable, TrainFailure, TrainSpec};
use crate::contract::{self, Task};
use crate::data::split;
use crate::data::DataError;
use crate::jobs::results::CrossValidation;
use crate::runtime::{CancelToken, Epoch, LoadedPlugin, ProgressSink, RunError};

/// The label of the last phase, the final fit after the folds.
pub const REFIT: &str = "refit on the whole training part";

/// The label of fold `n` of `k`'s phase, as status events and the job page show it.
pub fn fold_label(n: usize, k: usize) -> String {
    format!("fold {n} of {k}")
}

/// The folds `spec` asks for, if it asks for cross-validation at all.
/// Clustering is not split (it has no held-out rows to score a fold on).
pub fn wanted(spec: &TrainSpec) -> Option<usize> {
    (spec.folds >= split::MIN_FOLDS && spec.task != Task::Clustering).then_some(spec.folds)
}

/// Why the training part cannot be cut into the folds asked for; the API
/// gives the same words at submit when the dataset's profile tells.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FoldError {
    #[error("{folds} folds need at least {folds} training rows of every class, but class `{class}` has {rows}; {}", fewer(*rows))]
    ClassTooSmall { folds: usize, class: String, rows: usize },
    #[error("{folds} folds need at least {folds} training rows, but the training part has {rows}; {}", fewer(*rows))]
    TooFewRows { folds: usize, rows: usize },
}

/// What to ask for instead when `rows` is the most folds the data fills.
fn fewer(rows: usize) -> String {
    if rows >= split::MIN_FOLDS {
        format!("ask for at most {rows} folds, or 0 for none")
    } else {
        "that is too few to cross-validate: ask for 0 folds (none)".to_string()
    }
}

/// Whether classes of these training-row counts (by name) fill `folds` folds;
/// the smallest class that does not is named.
pub fn check_class_rows<'a>(folds: usize, classes: impl IntoIterator<Item = (&'a str, usize)>) -> Result<(), FoldError> {
    let smallest = classes.into_iter().filter(|(_, rows)| *rows > 0).min_by_key(|(_, rows)| *rows);
    match smallest {
        Some((class, rows)) if rows < folds => Err(FoldError::ClassTooSmall { folds, class: class.to_string(), rows }),
        _ => Ok(()),
    }
}

/// One sink shared by every plugin call of a run: each call owns a box of it.
#[derive(Clone)]
pub struct SharedSink(Arc<Mutex<Box<dyn ProgressSink>>>);

impl SharedSink {
    pub fn new(sink: Box<dyn ProgressSink>) -> SharedSink {
        SharedSink(Arc::new(Mutex::new(sink)))
    }

    /// Announces call `step` of `steps` (see `ProgressSink::phase`).
    pub fn phase(&self, step: u32, steps: u32, label: &str) {
        self.0.lock().phase(step, steps, label);
    }
}

impl ProgressSink for SharedSink {
    fn epoch(&mut self, epoch: Epoch) {
        self.0.lock().epoch(epoch);
    }

    fn log(&mut self, level: &str, message: &str) {
        self.0.lock().log(level, message);
    }

    fn phase(&mut self, step: u32, steps: u32, label: &str) {
        SharedSink::phase(self, step, steps, label);
    }
}

/// What every fit of a run shares.
pub struct Fits<'a> {
    pub plugin: &'a LoadedPlugin,
    pub prepared: &'a PreparedTable,
    pub spec: &'a TrainSpec,
    /// `training::validate`'s output.
    pub params: &'a [contract::Param],
    pub instances: usize,
    pub cancel: &'a CancelToken,
    pub sink: &'a SharedSink,
}

/// `k` fits on the folds of `train_rows` (the training part), fold by fold,
/// announced as phases 1 to `k` of `k + 1` (the final fit is the last). A
/// cancel is honoured between folds and, through the plugin, within one.
pub fn run(fits: &Fits, train_rows: &[usize], k: usize) -> Result<CrossValidation, TrainFailure> {
    let encoded = &fits.prepared.encoded;
    let labels = encoded.target_codes().filter(|_| fits.spec.task == Task::Classification);
    check_rows(fits, train_rows, labels, k)?;
    let folds = split::folds(train_rows, labels, k, fits.spec.seed);
    let mut per_fold = Vec::with_capacity(k);
    for (i, held_out) in folds.iter().enumerate() {
        if fits.cancel.is_cancelled() {
            return Err(RunError::Cancelled.into());
        }
        fits.sink.phase(i as u32 + 1, k as u32 + 1, &fold_label(i + 1, k));
        per_fold.push(fit_fold(fits, &without(train_rows, held_out), held_out)?);
    }
    Ok(CrossValidation::of(&per_fold))
}

/// The training part's rows outside `held_out` (both in table order).
fn without(rows: &[usize], held_out: &[usize]) -> Vec<usize> {
    rows.iter().copied().filter(|r| held_out.binary_search(r).is_err()).collect()
}

fn check_rows(fits: &Fits, train_rows: &[usize], labels: Option<&[u32]>, k: usize) -> Result<(), DataError> {
    let refuse = |e: FoldError| DataError::Invalid(e.to_string());
    let Some(labels) = labels else {
        return if train_rows.len() < k { Err(refuse(FoldError::TooFewRows { folds: k, rows: train_rows.len() })) } else { Ok(()) };
    };
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for &row in train_rows {
        *counts.entry(labels[row]).or_default() += 1;
    }
    let names = fits.prepared.encoding.class_labels().unwrap_or_default();
    let named: Vec<(String, usize)> =
        counts.iter().map(|(&code, &n)| (names.get(code as usize).cloned().unwrap_or_else(|| format!("class {code}")), n)).collect();
    check_class_rows(k, named.iter().map(|(name, n)| (name.as_str(), *n))).map_err(refuse)
}

/// One fold: the plugin trains on `train_rows` with `held_out` as its
/// validation table; the host scores its predictions on `held_out`.
fn fit_fold(fits: &Fits, train_rows: &[usize], held_out: &[usize]) -> Result<BTreeMap<String, f64>, TrainFailure> {
    let PreparedTable { encoding, encoded } = fits.prepared;
    let held_out = encoded.take(held_out);
    let request = contract::TrainRequest {
        task: fits.spec.task,
        train: encoding.to_contract(&encoded.take(train_rows)),
        validation: Some(encoding.to_contract(&held_out)),
        params: fits.params.to_vec(),
        seed: fits.spec.seed,
    };
    let (trained, report) = fits.plugin.train_on(&request, fits.instances, fits.cancel.clone(), Box::new(fits.sink.clone()));
    let trained = trained?;
    // The validation table is the held-out fold: its features are what is scored.
    let features = request.validation.map(|v| v.features).unwrap_or_else(|| encoding.to_contract(&held_out).features);
    let predictions = fits.plugin.predict_on(&trained.model.model, &features, report.instances.max(1))?;
    Ok(evaluate(encoding, &held_out, &predictions, fits.spec.seed)?.values)
}
