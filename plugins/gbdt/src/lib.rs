//! gbdt: gradient-boosted decision trees as LightGBM grows them: leaf-wise
//! (best leaf first, bounded by `numLeaves` and `maxDepth`) on quantile
//! histograms of at most 255 bins a feature, the larger child's histogram
//! got by subtraction. Binary and softmax log-loss; squared, absolute,
//! Huber, quantile and Poisson regression.
//!
//! Missing values have a bin of their own that every split sends to the
//! side that scores better (a learned default direction). Categorical
//! features split natively: levels ordered by G / (H + catSmooth), the best
//! prefix goes left, with LightGBM's guards against rare levels. Early
//! stopping on the validation table; the model keeps its best round.
//! See README.md for the parameters, the model layout and measured figures.

mod boost;
mod codec;
mod data;
mod estimate;
mod eval;
mod holdout;
mod model;
mod objective;
mod params;
mod predict;
mod result;
mod rng;
#[cfg(feature = "tuning")]
pub mod space;
mod tables;
mod tree;

pub use trainhost_sdk::*;

use boost::Booster;
use holdout::Holdout;
use objective::Objective;
use params::ObjectiveKind;

pub fn info() -> PluginInfo {
    PluginInfo {
        name: "gbdt".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Gradient-boosted trees (LightGBM's method): leaf-wise growth on quantile histograms, native missing values \
                      and categorical splits, early stopping on the validation rows"
            .into(),
        tasks: vec![Task::Classification, Task::Regression],
        params: params::schema(),
    }
}

/// Training without the result table (tests and the native benchmark CLI).
pub fn train(request: &TrainRequest, progress: &mut dyn Progress) -> Result<TrainedModel, TrainError> {
    fit(request, progress).map(|t| t.model)
}

/// Training as contract 0.2.0 returns it: the model and its importance table.
pub fn fit(request: &TrainRequest, progress: &mut dyn Progress) -> Result<Trained, TrainError> {
    if request.task == Task::Clustering {
        return Err(TrainError::InvalidData("gbdt does not do clustering; use classification or regression".into()));
    }
    let settings = params::parse(&Params(&request.params), request.task)?;
    let data = data::prepare(&request.train, request.task, settings.max_bins).map_err(TrainError::InvalidData)?;
    if data.dropped > 0 {
        progress.log(LogLevel::Warn, &format!("{} rows without a target value were left out", data.dropped));
    }
    let kind = settings.objective.unwrap_or(match data.classes.len() {
        0 => ObjectiveKind::L2,
        2 => ObjectiveKind::Binary,
        _ => ObjectiveKind::Multiclass,
    });
    let objective = Objective::new(kind, data.classes.len(), settings.alpha).map_err(|e| invalid("objective", &e))?;
    let weights = class_weights(&data.y, data.classes.len(), settings.balanced);
    let init = objective.init_scores(&data.y, &weights).map_err(TrainError::InvalidData)?;
    let holdout = match &request.validation {
        Some(v) if v.features.rows > 0 && v.target.is_some() => Some(Holdout::new(v, &data, &init)?),
        _ => None,
    };
    if settings.early_stopping_rounds > 0 && holdout.is_none() {
        progress.log(LogLevel::Warn, "earlyStoppingRounds is set but there is no validation table: every round runs");
    }
    let mut booster = Booster::new(&data, &settings, objective, weights, &init, holdout, request.seed);
    let outcome = booster.run(progress)?;
    let (model, importance) = result::finish(booster, outcome, init, progress);
    Ok(Trained { model, tables: vec![tables::importances(&request.train.features, &importance)] })
}

/// Row weights: 1, or for classWeight = balanced rows / (classes × rows of the class).
fn class_weights(y: &[f64], n_classes: usize, balanced: bool) -> Vec<f32> {
    if !balanced || n_classes == 0 {
        return vec![1.0; y.len()];
    }
    let mut counts = vec![0usize; n_classes];
    y.iter().for_each(|&c| counts[c as usize] += 1);
    let per_class: Vec<f32> = counts.iter().map(|&c| if c == 0 { 0.0 } else { (y.len() as f64 / (n_classes * c) as f64) as f32 }).collect();
    y.iter().map(|&c| per_class[c as usize]).collect()
}

pub fn predict(model: &[u8], features: &Table) -> Result<Predictions, PredictError> {
    let model = codec::from_bytes(model).map_err(PredictError::InvalidModel)?;
    model.predict(features).map_err(PredictError::InvalidData)
}

/// The class labels a classification model's predicted codes index (empty for regression).
pub fn class_labels(model: &[u8]) -> Result<Vec<String>, String> {
    codec::from_bytes(model).map(|m| m.classes)
}

pub use estimate::estimate;

#[cfg(feature = "tuning")]
export_trainer!(describe: info, train_with_tables: fit, predict: predict, estimate: estimate, tuning: space::suggest);
#[cfg(not(feature = "tuning"))]
export_trainer!(describe: info, train_with_tables: fit, predict: predict, estimate: estimate);
