//! random_forest: Breiman's random forest for classification (gini, entropy)
//! and regression (squared error), grown on quantile histograms.
//!
//! Numeric features are cut once into at most `maxBins` quantile bins (one
//! byte per value); each split examines `maxFeatures` features drawn afresh at
//! that node. Missing values have a bin of their own that every split sends
//! left or right, whichever scores better (a learned default direction).
//! Categorical features are split natively: their levels are ordered by mean
//! target (regression) or by a class's share (classification) and the best
//! prefix of that order goes left (Fisher 1958; the method LightGBM uses).
//! See README.md for the model layout and measured figures.

mod data;
mod estimate;
mod forest;
mod model;
pub mod parallel;
mod params;
mod rng;
#[cfg(feature = "tuning")]
pub mod space;
mod tables;
mod tree;

pub use trainhost_sdk::*;

pub fn info() -> PluginInfo {
    PluginInfo {
        name: "random_forest".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Random forest on quantile histograms: native missing values and categorical splits, \
                      out-of-bag score, feature importances"
            .into(),
        tasks: vec![Task::Classification, Task::Regression],
        params: params::schema(),
    }
}

pub fn train(request: &TrainRequest, progress: &mut dyn Progress) -> Result<TrainedModel, TrainError> {
    // Inside the host (contract 0.4.0) the job's instances; natively, alone.
    forest::train(request, progress, &*trainhost_sdk::team::host())
}

pub fn predict(model: &[u8], features: &Table) -> Result<Predictions, PredictError> {
    let model = model::Model::from_bytes(model).map_err(PredictError::InvalidModel)?;
    model.predict(features).map_err(PredictError::InvalidData)
}

/// `train` as one of `team`'s instances (tests drive a team of threads with it).
pub fn train_in(request: &TrainRequest, progress: &mut dyn Progress, team: &dyn trainhost_sdk::team::Team) -> Result<TrainedModel, TrainError> {
    forest::train(request, progress, team)
}

/// The class labels a classification model's predicted codes index (empty for regression).
pub fn class_labels(model: &[u8]) -> Result<Vec<String>, String> {
    model::Model::from_bytes(model).map(|m| m.classes)
}

/// The fit with its importance table, as contract 0.2.0 returns it.
pub fn train_with_tables(request: &TrainRequest, progress: &mut dyn Progress) -> Result<Trained, TrainError> {
    let trained = train(request, progress)?;
    let model = model::Model::from_bytes(&trained.model).map_err(|e| TrainError::Failed(format!("the forest just grown does not read back: {e}")))?;
    let table = tables::importances(&model, trained.feature_importances.as_deref().unwrap_or_default());
    Ok(Trained { model: trained, tables: vec![table] })
}

pub use estimate::estimate;

#[cfg(feature = "tuning")]
export_trainer!(describe: info, train_with_tables: train_with_tables, predict: predict, estimate: estimate, parallelism: parallel::describe, tuning: space::suggest);
#[cfg(all(feature = "parallel", not(feature = "tuning")))]
export_trainer!(describe: info, train_with_tables: train_with_tables, predict: predict, estimate: estimate, parallelism: parallel::describe);
#[cfg(not(feature = "parallel"))]
export_trainer!(describe: info, train_with_tables: train_with_tables, predict: predict, estimate: estimate);
