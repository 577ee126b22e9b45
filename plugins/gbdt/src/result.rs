//! What training hands back: the model cut at its best round when early
//! stopping is on, the final figures (best iteration, rounds run, losses and
//! the task's metric at the kept round), gain importances, and a log line
//! saying why training stopped.

use crate::boost::{Booster, Outcome, Stop};
use crate::codec;
use crate::data::FeatureBins;
use crate::model::{Feature, Model};
use trainhost_sdk::{LogLevel, Metric, Progress, TrainError, TrainedModel};

/// The model, its figures and the importances per training column.
pub fn finish(mut b: Booster, out: Outcome, init: Vec<f64>, progress: &mut dyn Progress) -> Result<(TrainedModel, Importance), TrainError> {
    let k = b.objective.n_outputs();
    // With early stopping on, the model is the best round's (LightGBM's best_iteration).
    let keep_best = b.settings.early_stopping_rounds > 0 && b.holdout.is_some();
    let kept = if keep_best { out.best_round } else { out.rounds_run };
    b.trees.truncate(kept * k);
    b.gains.truncate(kept * k);
    if keep_best {
        if let Some(h) = b.holdout.as_mut() {
            h.restore_best();
        }
    }
    progress.log(LogLevel::Info, &stop_line(&b, &out, kept));
    let mut metrics = vec![
        ("best_iteration".to_string(), out.best_round as f64),
        ("rounds_run".to_string(), out.rounds_run as f64),
        ("rounds_kept".to_string(), kept as f64),
        ("trees".to_string(), b.trees.len() as f64),
    ];
    if let Some(f) = kept.checked_sub(1).and_then(|i| b.history.get(i)) {
        metrics.push(("train_loss".into(), f.train_loss));
        if let Some(v) = f.validation_loss {
            metrics.push(("validation_loss".into(), v));
        }
        if let Some(m) = f.validation_metric {
            metrics.push((if b.classification { "validation_accuracy" } else { "validation_r2" }.into(), m));
        }
    }
    if let (Some(h), 1, true) = (b.holdout.as_ref(), k, b.classification) {
        h.auc(b.team).map_err(TrainError::Failed)?.into_iter().for_each(|a| metrics.push(("validation_auc".into(), a)));
    }
    let importance = importance(&b);
    let model = Model { objective: b.objective.code(), classes: b.data.classes.clone(), features: features(&b), init, trees: std::mem::take(&mut b.trees) };
    let trained = TrainedModel {
        model: codec::to_bytes(&model),
        metrics: metrics.into_iter().map(|(name, value)| Metric { name, value }).collect(),
        feature_importances: Some(gain_shares(&importance.gain)),
        cluster_sizes: None,
    };
    Ok((trained, importance))
}

fn stop_line(b: &Booster, out: &Outcome, kept: usize) -> String {
    let n = b.settings.n_rounds;
    let why = match out.stop {
        Stop::AllRounds => format!("ran all {n} rounds"),
        Stop::EarlyStopping => format!(
            "early stopping after round {}: the validation loss has not improved for {} rounds since round {}",
            out.rounds_run, b.settings.early_stopping_rounds, out.best_round
        ),
        Stop::NoSplit => format!("stopped after round {} of {n}: no split improves the loss any more", out.rounds_run),
    };
    format!("{why}; the model keeps {kept} rounds ({} objective)", b.objective.name())
}

/// Per training column, over the kept trees' splits (a wide categorical
/// column's features summed back to it): gain, split count, cover.
pub struct Importance {
    pub gain: Vec<f64>,
    pub splits: Vec<u64>,
    pub cover: Vec<f64>,
}

fn importance(b: &Booster) -> Importance {
    let n = b.data.columns.len();
    let mut out = Importance { gain: vec![0.0; n], splits: vec![0; n], cover: vec![0.0; n] };
    for &(f, gain, cover) in b.gains.iter().flatten() {
        let c = b.data.column_of[f as usize];
        out.gain[c] += gain.max(0.0);
        out.splits[c] += 1;
        out.cover[c] += cover;
    }
    out
}

/// The gain shares, summing to 1 (all zero when no tree split).
fn gain_shares(gain: &[f64]) -> Vec<f64> {
    let sum: f64 = gain.iter().sum();
    gain.iter().map(|&g| if sum > 0.0 { g / sum } else { 0.0 }).collect()
}

fn features(b: &Booster) -> Vec<Feature> {
    b.data
        .names
        .iter()
        .zip(&b.data.binned.features)
        .map(|(name, fb)| Feature {
            name: name.clone(),
            levels: match fb {
                FeatureBins::Categorical { levels, .. } => Some(levels.clone()),
                FeatureBins::Numeric { .. } => None,
            },
        })
        .collect()
}
