//! linear: generalised linear models with statistical diagnostics.
//!
//! Logistic regression (binary and multinomial), linear regression (OLS,
//! ridge, lasso, elastic net) and Poisson regression, fitted by Newton's
//! method (proximal Newton with coordinate descent when there is an L1 term;
//! on large tables L-BFGS started from Newton on a sample of rows)
//! on a design this plugin builds itself: numeric columns imputed and
//! standardised, categorical ones one-hot. Unpenalised fits come with the
//! inference statsmodels reports. See README.md for the objectives and the
//! measured figures.

mod design;
mod diagnostics;
mod estimate;
mod family;
mod fit;
mod kernels;
mod linalg;
mod model;
mod moments;
mod params;
mod quasi_newton;
mod solver;
mod stats;
mod tables;

pub use diagnostics::Coefficient;
pub use trainhost_sdk::*;

pub fn info() -> PluginInfo {
    PluginInfo {
        name: "linear".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Linear, logistic and Poisson regression with ridge, lasso and elastic-net penalties; \
                      coefficient table with standard errors and p-values for unpenalised fits"
            .into(),
        tasks: vec![Task::Classification, Task::Regression],
        params: params::schema(),
    }
}

/// A fit with everything a caller may show: the contract's model, the
/// coefficient table and the warnings (also sent to the log).
pub struct Fitted {
    pub model: TrainedModel,
    pub coefficients: Vec<Coefficient>,
    pub warnings: Vec<String>,
    pub penalised: bool,
}

pub fn fit(request: &TrainRequest, progress: &mut dyn Progress) -> Result<Fitted, TrainError> {
    let trained = fit::train(request, progress)?;
    let metrics = trained.metrics.iter().map(|(name, value)| Metric { name: name.clone(), value: *value }).collect();
    let model = TrainedModel { model: trained.model.to_bytes(), metrics, feature_importances: None, cluster_sizes: None };
    Ok(Fitted { model, coefficients: trained.summary.coefficients, warnings: trained.warnings, penalised: trained.penalised })
}

/// The fit with its coefficient table, as contract 0.2.0 returns it.
pub fn train(request: &TrainRequest, progress: &mut dyn Progress) -> Result<Trained, TrainError> {
    let fitted = fit(request, progress)?;
    let table = tables::coefficients(&fitted.coefficients, fitted.penalised);
    Ok(Trained { model: fitted.model, tables: vec![table] })
}

pub fn predict(model: &[u8], features: &Table) -> Result<Predictions, PredictError> {
    let model = model::Model::from_bytes(model).map_err(PredictError::InvalidModel)?;
    model.predict(features).map_err(PredictError::InvalidData)
}

pub use estimate::estimate;

export_trainer!(describe: info, train_with_tables: train, predict: predict, estimate: estimate);
