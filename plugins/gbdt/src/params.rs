//! The hyperparameter schema (LightGBM's names in camelCase, its defaults and
//! meanings) and its translation into validated settings.
//!
//! Owns only the parameters; what they do lives in `boost` and `tree`.

use trainhost_sdk::{invalid, schema, ParamSpec, Params, Task, TrainError};

/// The loss boosted, with LightGBM's objective names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ObjectiveKind {
    Binary,
    Multiclass,
    L2,
    L1,
    Huber,
    Quantile,
    Poisson,
}

const OBJECTIVES: &[&str] = &["auto", "binary", "multiclass", "regression", "regression_l1", "huber", "quantile", "poisson"];

/// How a categorical feature is split (LightGBM's safeguards against rare levels).
#[derive(Debug, Clone, Copy)]
pub struct CatSettings {
    /// Most levels a split may send left.
    pub max_threshold: usize,
    /// Levels seen fewer times than this are left out of the ordering; also
    /// the prior added to each level's hessian when ordering them.
    pub smooth: f64,
    /// Extra L2 regularisation on categorical splits.
    pub l2: f64,
    /// Fewest rows a group of levels must hold before a cut after it is tried.
    pub min_data_per_group: f64,
    /// At most this many levels: one-vs-rest splits instead of an ordering.
    pub max_to_onehot: usize,
}

/// What one tree's growth is bounded by.
#[derive(Debug, Clone, Copy)]
pub struct TreeSettings {
    pub num_leaves: usize,
    /// usize::MAX when unlimited.
    pub max_depth: usize,
    pub min_data_in_leaf: f64,
    pub min_sum_hessian: f64,
    pub lambda_l1: f64,
    pub lambda_l2: f64,
    pub min_gain_to_split: f64,
    pub cat: CatSettings,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub n_rounds: usize,
    pub learning_rate: f64,
    pub tree: TreeSettings,
    pub feature_fraction: f64,
    pub bagging_fraction: f64,
    pub bagging_freq: usize,
    pub max_bins: usize,
    /// None: chosen from the task and the number of classes.
    pub objective: Option<ObjectiveKind>,
    /// Huber's delta, or the quantile's level.
    pub alpha: f64,
    /// 0: off.
    pub early_stopping_rounds: usize,
    pub balanced: bool,
}

pub fn schema() -> Vec<ParamSpec> {
    let mut out = vec![
        schema::int("nEstimators", 100, Some(1), Some(100_000), "Boosting rounds (one tree per round, one per class for multiclass)"),
        schema::float("learningRate", 0.1, Some(1e-6), Some(1.0), "Shrinkage applied to every tree's leaf values"),
        schema::int("numLeaves", 31, Some(2), Some(4096), "Most leaves a tree may have (trees grow leaf-wise: best leaf first)"),
        schema::int("maxDepth", 0, Some(0), Some(64), "Deepest a leaf may be; 0 = no limit"),
        schema::int("minDataInLeaf", 20, Some(0), Some(10_000_000), "Fewest training rows in a leaf"),
        schema::float("minSumHessianInLeaf", 1e-3, Some(0.0), Some(1e9), "Smallest sum of hessians in a leaf"),
        schema::float("lambdaL1", 0.0, Some(0.0), Some(1e6), "L1 regularisation of leaf values"),
        schema::float("lambdaL2", 0.0, Some(0.0), Some(1e6), "L2 regularisation of leaf values"),
        schema::float("minGainToSplit", 0.0, Some(0.0), Some(1e9), "Smallest gain for a split to be made"),
        schema::float("featureFraction", 1.0, Some(1e-6), Some(1.0), "Share of the features each tree may use, drawn per tree"),
        schema::float("baggingFraction", 1.0, Some(1e-6), Some(1.0), "Share of the rows each tree is grown on (needs baggingFreq > 0)"),
        schema::int("baggingFreq", 0, Some(0), Some(100_000), "Draw a new row sample every this many rounds; 0 = no bagging"),
        schema::int("maxBins", 255, Some(2), Some(255), "Quantile bins per numeric feature (and most frequent levels kept per categorical one)"),
        schema::choice(
            "objective",
            "auto",
            OBJECTIVES,
            "Loss: auto (binary or multiclass log-loss for classification, squared error for regression), binary, multiclass, \
             regression (squared error), regression_l1, huber, quantile, poisson",
        ),
        schema::float("alpha", 0.9, Some(1e-9), Some(1e9), "Huber's delta, or the quantile's level (in (0, 1)) for objective = quantile"),
        schema::int("earlyStoppingRounds", 0, Some(0), Some(100_000), "Stop when the validation loss has not improved for this many rounds; 0 = off"),
        schema::choice("classWeight", "none", &["none", "balanced"], "balanced weighs each class inversely to its frequency"),
    ];
    out.extend(cat_schema());
    out
}

fn cat_schema() -> Vec<ParamSpec> {
    vec![
        schema::int("maxCatThreshold", 32, Some(1), Some(255), "Most levels of a categorical feature one split may send left"),
        schema::float("catSmooth", 10.0, Some(0.0), Some(1e6), "Levels with fewer rows are not ordered; prior added to a level's hessian when ordering"),
        schema::float("catL2", 10.0, Some(0.0), Some(1e6), "Extra L2 regularisation on categorical splits"),
        schema::int("minDataPerGroup", 100, Some(1), Some(10_000_000), "Fewest rows per group of levels on each side of a categorical split"),
        schema::int("maxCatToOnehot", 4, Some(1), Some(255), "Up to this many levels a categorical split is one level against the rest"),
    ]
}

pub fn parse(params: &Params, task: Task) -> Result<Settings, TrainError> {
    let max_depth = match params.int("maxDepth")? {
        0 => usize::MAX,
        d => at_least(d, 1, "maxDepth")?,
    };
    let tree = TreeSettings {
        num_leaves: at_least(params.int("numLeaves")?, 2, "numLeaves")?,
        max_depth,
        min_data_in_leaf: at_least(params.int("minDataInLeaf")?, 0, "minDataInLeaf")? as f64,
        min_sum_hessian: non_negative(params, "minSumHessianInLeaf")?,
        lambda_l1: non_negative(params, "lambdaL1")?,
        lambda_l2: non_negative(params, "lambdaL2")?,
        min_gain_to_split: non_negative(params, "minGainToSplit")?,
        cat: CatSettings {
            max_threshold: at_least(params.int("maxCatThreshold")?, 1, "maxCatThreshold")?,
            smooth: non_negative(params, "catSmooth")?,
            l2: non_negative(params, "catL2")?,
            min_data_per_group: at_least(params.int("minDataPerGroup")?, 1, "minDataPerGroup")? as f64,
            max_to_onehot: at_least(params.int("maxCatToOnehot")?, 1, "maxCatToOnehot")?,
        },
    };
    let objective = objective(params.choice("objective")?, task)?;
    let alpha = params.float("alpha")?;
    if objective == Some(ObjectiveKind::Quantile) && !(alpha > 0.0 && alpha < 1.0) {
        return Err(invalid("alpha", &format!("the quantile's level must be in (0, 1), got {alpha}")));
    }
    Ok(Settings {
        n_rounds: at_least(params.int("nEstimators")?, 1, "nEstimators")?,
        learning_rate: fraction(params, "learningRate")?,
        tree,
        feature_fraction: fraction(params, "featureFraction")?,
        bagging_fraction: fraction(params, "baggingFraction")?,
        bagging_freq: at_least(params.int("baggingFreq")?, 0, "baggingFreq")?,
        max_bins: at_least(params.int("maxBins")?, 2, "maxBins")?.min(255),
        objective,
        alpha,
        early_stopping_rounds: at_least(params.int("earlyStoppingRounds")?, 0, "earlyStoppingRounds")?,
        balanced: params.choice("classWeight")? == "balanced",
    })
}

fn at_least(v: i64, min: i64, name: &str) -> Result<usize, TrainError> {
    if v < min {
        return Err(invalid(name, &format!("must be at least {min}, got {v}")));
    }
    Ok(v as usize)
}

fn non_negative(params: &Params, name: &str) -> Result<f64, TrainError> {
    let v = params.float(name)?;
    if !(v >= 0.0 && v.is_finite()) {
        return Err(invalid(name, &format!("must be a finite number >= 0, got {v}")));
    }
    Ok(v)
}

fn fraction(params: &Params, name: &str) -> Result<f64, TrainError> {
    let v = params.float(name)?;
    if !(v > 0.0 && v <= 1.0) {
        return Err(invalid(name, &format!("must be in (0, 1], got {v}")));
    }
    Ok(v)
}

fn objective(name: &str, task: Task) -> Result<Option<ObjectiveKind>, TrainError> {
    let kind = match name {
        "auto" => return Ok(None),
        "binary" => ObjectiveKind::Binary,
        "multiclass" => ObjectiveKind::Multiclass,
        "regression" => ObjectiveKind::L2,
        "regression_l1" => ObjectiveKind::L1,
        "huber" => ObjectiveKind::Huber,
        "quantile" => ObjectiveKind::Quantile,
        "poisson" => ObjectiveKind::Poisson,
        other => return Err(invalid("objective", &format!("unknown objective {other:?}; use one of {}", OBJECTIVES.join(", ")))),
    };
    let classifies = matches!(kind, ObjectiveKind::Binary | ObjectiveKind::Multiclass);
    match task {
        Task::Classification if !classifies => Err(invalid("objective", &format!("{name} is a regression objective; use binary or multiclass"))),
        Task::Regression if classifies => Err(invalid("objective", &format!("{name} is a classification objective"))),
        _ => Ok(Some(kind)),
    }
}
