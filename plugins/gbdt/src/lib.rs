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
mod shard;
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

/// Training as contract 0.2.0 returns it: the model and its importance
/// table; inside the host (contract 0.4.0), as one of the job's instances.
pub fn fit(request: &TrainRequest, progress: &mut dyn Progress) -> Result<Trained, TrainError> {
    fit_in(request, progress, &*trainhost_sdk::team::host())
}

/// `fit` as one of `team`'s instances, each given a shard of the training
/// rows in table order (tests drive a team of threads with it). Every
/// instance ends with the model one instance grows from all the rows.
pub fn fit_in(request: &TrainRequest, progress: &mut dyn Progress, team: &dyn team::Team) -> Result<Trained, TrainError> {
    if request.task == Task::Clustering {
        return Err(TrainError::InvalidData("gbdt does not do clustering; use classification or regression".into()));
    }
    let settings = params::parse(&Params(&request.params), request.task)?;
    let data = data::prepare(&request.train, request.task, settings.max_bins, team).map_err(TrainError::InvalidData)?;
    if data.dropped > 0 {
        progress.log(LogLevel::Warn, &format!("{} rows without a target value were left out", data.dropped));
    }
    let kind = settings.objective.unwrap_or(match data.classes.len() {
        0 => ObjectiveKind::L2,
        2 => ObjectiveKind::Binary,
        _ => ObjectiveKind::Multiclass,
    });
    let objective = Objective::new(kind, data.classes.len(), settings.alpha).map_err(|e| invalid("objective", &e))?;
    let weights = class_weights(&data, settings.balanced, team).map_err(TrainError::Failed)?;
    let init = init_scores(objective, &data, &weights, team)?;
    let holdout = match &request.validation {
        Some(v) if v.features.rows > 0 && v.target.is_some() => Some(Holdout::new(v, &data, &init, team)?),
        _ => None,
    };
    if settings.early_stopping_rounds > 0 && holdout.is_none() {
        progress.log(LogLevel::Warn, "earlyStoppingRounds is set but there is no validation table: every round runs");
    }
    let start = boost::Start { w: weights, init: &init, holdout };
    let mut booster = Booster::new(&data, &settings, objective, start, request.seed, team);
    let outcome = booster.run(progress)?;
    let (model, importance) = result::finish(booster, outcome, init, progress)?;
    Ok(Trained { model, tables: vec![tables::importances(&request.train.features, &importance)] })
}

/// Row weights: 1, or for classWeight = balanced rows / (classes × rows of
/// the class), counted over every instance's rows.
fn class_weights(data: &data::Prepared, balanced: bool, team: &dyn team::Team) -> Result<Vec<f32>, String> {
    let (y, n_classes) = (&data.y, data.classes.len());
    if !balanced || n_classes == 0 {
        return Ok(vec![1.0; y.len()]);
    }
    let mut counts = vec![0i64; n_classes];
    y.iter().for_each(|&c| counts[c as usize] += 1);
    let counts = shard::add_up(team, "the class counts", counts)?;
    let total = data.rows.total as f64;
    let per_class: Vec<f32> = counts.iter().map(|&c| if c == 0 { 0.0 } else { (total / (n_classes as f64 * c as f64)) as f32 }).collect();
    Ok(y.iter().map(|&c| per_class[c as usize]).collect())
}

/// The objective's starting scores from every instance's rows (rank 0
/// computes them as one instance does). Each instance first checks its own
/// rows, so a target the objective refuses is named by the instance holding it.
fn init_scores(objective: Objective, data: &data::Prepared, w: &[f32], team: &dyn team::Team) -> Result<Vec<f64>, TrainError> {
    let mine = objective.init_scores(&data.y, w).map_err(TrainError::InvalidData)?;
    if team.size() == 1 {
        return Ok(mine);
    }
    let pairs = data.y.iter().zip(w).flat_map(|(&y, &w)| [y, f64::from(w)]).collect();
    let init = shard::on_all_rows(team, "the initial scores", pairs, |all| {
        let (y, w): (Vec<f64>, Vec<f32>) = all.chunks_exact(2).map(|p| (p[0], p[1] as f32)).unzip();
        objective.init_scores(&y, &w).unwrap_or_default()
    })
    .map_err(TrainError::Failed)?;
    if init.len() != mine.len() {
        return Err(TrainError::Failed("the job's instances could not agree on the initial scores".into()));
    }
    Ok(init)
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

/// At most this many instances per job: past it the exchanges per split
/// cost more than the shards' histograms save.
pub const MAX_INSTANCES: u32 = 64;

/// How gbdt trains in parallel: a shard of the rows per instance, the histograms added up.
#[cfg(feature = "parallel")]
pub fn parallelism() -> Option<team::Parallelism> {
    Some(team::Parallelism { rows: team::Rows::Shard, max_instances: MAX_INSTANCES })
}

#[cfg(feature = "tuning")]
export_trainer!(describe: info, train_with_tables: fit, predict: predict, estimate: estimate, parallelism: parallelism, tuning: space::suggest);
#[cfg(all(feature = "parallel", not(feature = "tuning")))]
export_trainer!(describe: info, train_with_tables: fit, predict: predict, estimate: estimate, parallelism: parallelism);
#[cfg(not(feature = "parallel"))]
export_trainer!(describe: info, train_with_tables: fit, predict: predict, estimate: estimate);
