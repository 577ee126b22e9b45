//! The hyperparameter schema and its translation into validated settings.
//!
//! Penalty strengths keep scikit-learn's meaning for the estimator each fit
//! corresponds to (see `Settings::objective_doc`), so a user can carry a value
//! over from scikit-learn unchanged. Must not touch the data.

use trainhost_sdk::{invalid, schema, ParamSpec, Params, Task, TrainError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Squared error: OLS, ridge, lasso, elastic net.
    Gaussian,
    /// Logistic loss: binary or multinomial.
    Logistic,
    /// Poisson deviance with a log link.
    Poisson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Penalty {
    None,
    L2,
    L1,
    ElasticNet,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub family: Family,
    pub penalty: Penalty,
    /// Weight of the whole penalty, already in this plugin's internal scale:
    /// the objective is `mean weighted loss + lambda * (l1_ratio |w|_1 + (1 - l1_ratio) |w|^2 / 2)`.
    pub lambda: f64,
    pub l1_ratio: f64,
    pub fit_intercept: bool,
    pub max_iter: usize,
    pub tol: f64,
    pub balanced: bool,
}

pub fn schema() -> Vec<ParamSpec> {
    vec![
        schema::choice(
            "model",
            "auto",
            &["auto", "logistic", "linear", "poisson"],
            "auto: logistic for classification, linear for regression; poisson: log-link count regression",
        ),
        schema::choice(
            "penalty",
            "none",
            &["none", "l2", "l1", "elasticnet"],
            "none (statsmodels-style diagnostics), l2 (ridge), l1 (lasso) or elasticnet; poisson takes none or l2",
        ),
        schema::float(
            "c",
            1.0,
            Some(1e-8),
            Some(1e8),
            "logistic only: inverse penalty strength, scikit-learn's LogisticRegression C (the loss summed over rows)",
        ),
        schema::float(
            "alpha",
            1.0,
            Some(0.0),
            Some(1e8),
            "linear and poisson only: penalty strength as scikit-learn's Ridge alpha (l2), Lasso/ElasticNet alpha (l1, elasticnet) \
             and PoissonRegressor alpha",
        ),
        schema::float("l1Ratio", 0.5, Some(0.0), Some(1.0), "elasticnet only: share of the L1 term (scikit-learn's l1_ratio)"),
        schema::boolean("fitIntercept", true, "Fit an unpenalised intercept"),
        schema::int("maxIter", 100, Some(1), Some(100_000), "Most solver iterations (Newton steps, or coordinate-descent sweeps for L1)"),
        schema::float("tol", 1e-8, Some(1e-14), Some(1.0), "Stop when no coefficient moves by more than tol × (1 + its size)"),
        schema::choice(
            "classWeight",
            "none",
            &["none", "balanced"],
            "classification: balanced weighs each class by rows / (classes × its rows), as scikit-learn",
        ),
    ]
}

pub fn parse(params: &Params, task: Task, n_rows: usize) -> Result<Settings, TrainError> {
    let family = family(params.choice("model")?, task)?;
    let penalty = match params.choice("penalty")? {
        "none" => Penalty::None,
        "l2" => Penalty::L2,
        "l1" => Penalty::L1,
        "elasticnet" => Penalty::ElasticNet,
        other => return Err(invalid("penalty", &format!("unknown penalty {other:?}"))),
    };
    if family == Family::Poisson && matches!(penalty, Penalty::L1 | Penalty::ElasticNet) {
        return Err(invalid("penalty", "poisson takes none or l2 (as scikit-learn's PoissonRegressor)"));
    }
    let l1_ratio = match penalty {
        Penalty::None | Penalty::L2 => 0.0,
        Penalty::L1 => 1.0,
        Penalty::ElasticNet => bounded(params.float("l1Ratio")?, "l1Ratio", 0.0, 1.0)?,
    };
    let balanced = params.choice("classWeight")? == "balanced";
    if balanced && task != Task::Classification {
        return Err(invalid("classWeight", "balanced weights classes; it is for classification only"));
    }
    let max_iter = params.int("maxIter")?;
    if max_iter < 1 {
        return Err(invalid("maxIter", &format!("must be at least 1, got {max_iter}")));
    }
    Ok(Settings {
        family,
        penalty,
        lambda: lambda(params, family, penalty, n_rows)?,
        l1_ratio,
        fit_intercept: params.boolean("fitIntercept")?,
        max_iter: max_iter as usize,
        tol: bounded(params.float("tol")?, "tol", 1e-14, 1.0)?,
        balanced,
    })
}

fn family(model: &str, task: Task) -> Result<Family, TrainError> {
    match (model, task) {
        ("auto" | "logistic", Task::Classification) => Ok(Family::Logistic),
        ("auto" | "linear", Task::Regression) => Ok(Family::Gaussian),
        ("poisson", Task::Regression) => Ok(Family::Poisson),
        ("linear" | "poisson", Task::Classification) => Err(invalid("model", "classification takes logistic (or auto)")),
        ("logistic", Task::Regression) => Err(invalid("model", "logistic is for classification; use linear or poisson")),
        (_, Task::Clustering) => Err(invalid("model", "linear does not do clustering; use classification or regression")),
        (other, _) => Err(invalid("model", &format!("unknown model {other:?}"))),
    }
}

/// Converts c (scikit-learn's C; parameter names are camelCase) or alpha into the weight of the penalty on the mean loss.
///
/// scikit-learn's objectives, with n rows:
/// - LogisticRegression: `C * sum loss + penalty`, i.e. lambda = 1 / (C n);
/// - Ridge: `|y - Xw|^2 + alpha |w|^2`; divided by 2n it is the mean half-squared
///   error plus `(alpha / n) |w|^2 / 2`: lambda = alpha / n;
/// - Lasso, ElasticNet: `|y - Xw|^2 / (2n) + alpha (...)`: lambda = alpha;
/// - PoissonRegressor: `mean deviance / 2 + alpha |w|^2 / 2`: lambda = alpha.
fn lambda(params: &Params, family: Family, penalty: Penalty, n_rows: usize) -> Result<f64, TrainError> {
    if penalty == Penalty::None {
        return Ok(0.0);
    }
    let n = n_rows.max(1) as f64;
    Ok(match family {
        Family::Logistic => 1.0 / (bounded(params.float("c")?, "c", 1e-8, 1e8)? * n),
        Family::Gaussian if penalty == Penalty::L2 => bounded(params.float("alpha")?, "alpha", 0.0, 1e8)? / n,
        Family::Gaussian | Family::Poisson => bounded(params.float("alpha")?, "alpha", 0.0, 1e8)?,
    })
}

fn bounded(v: f64, name: &str, min: f64, max: f64) -> Result<f64, TrainError> {
    if !(v >= min && v <= max) {
        return Err(invalid(name, &format!("must be between {min} and {max}, got {v}")));
    }
    Ok(v)
}
