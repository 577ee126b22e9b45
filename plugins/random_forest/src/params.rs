//! The hyperparameter schema and its translation into validated settings.

use trainhost_sdk::{invalid, schema, ParamSpec, Params, Task, TrainError};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Criterion {
    Gini,
    Entropy,
    SquaredError,
}

/// How the classes weigh in the splits and the leaves (scikit-learn's `class_weight`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClassWeight {
    /// Every row weighs its bootstrap count.
    None,
    /// Each class's rows weigh n / (k × n_c) times their count, n_c being the
    /// class's training rows and k the classes present: every class weighs the same in total.
    Balanced,
}

impl ClassWeight {
    /// The weight of each class code for the training classes `y` of `n_classes` levels; None when unweighted.
    pub fn weights(self, y: &[u32], n_classes: usize) -> Option<Vec<f64>> {
        if self == ClassWeight::None || y.is_empty() {
            return None;
        }
        let mut counts = vec![0usize; n_classes];
        y.iter().filter(|&&c| (c as usize) < n_classes).for_each(|&c| counts[c as usize] += 1);
        let present = counts.iter().filter(|&&c| c > 0).count().max(1) as f64;
        let n = counts.iter().sum::<usize>() as f64;
        Some(counts.iter().map(|&c| if c == 0 { 1.0 } else { n / (present * c as f64) }).collect())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxFeatures {
    Sqrt,
    Log2,
    All,
    Fraction(f64),
    Count(usize),
}

impl MaxFeatures {
    /// Features examined per split, as scikit-learn computes it.
    pub fn resolve(self, n_features: usize) -> usize {
        let p = n_features as f64;
        let k = match self {
            MaxFeatures::Sqrt => p.sqrt() as usize,
            MaxFeatures::Log2 => p.log2() as usize,
            MaxFeatures::All => n_features,
            MaxFeatures::Fraction(f) => (f * p) as usize,
            MaxFeatures::Count(c) => c,
        };
        k.clamp(1, n_features.max(1))
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub n_trees: usize,
    /// usize::MAX when unlimited.
    pub max_depth: usize,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
    pub max_features: MaxFeatures,
    pub criterion: Criterion,
    pub bootstrap: bool,
    pub max_samples: f64,
    pub max_bins: usize,
    pub oob_score: bool,
    pub class_weight: ClassWeight,
}

/// Upper bound of the sample-count parameters: above any table the host
/// accepts (its default cap is 32 million cells), and within a wasm32 `usize`.
/// A value above the table's rows is legal and makes every tree one leaf; the
/// forest says so in its log.
const MAX_SAMPLES_BOUND: i64 = 1_000_000_000;
/// The smallest fraction `maxSamples` and `maxFeatures` take: both must be
/// above 0, which a schema's inclusive bounds can only say this way (a
/// fraction that rounds to nothing still draws one row or feature).
const SMALLEST_FRACTION: f64 = 1e-6;

pub fn schema() -> Vec<ParamSpec> {
    vec![
        schema::int("nEstimators", 100, Some(1), Some(5000), "Number of trees"),
        schema::int("maxDepth", 0, Some(0), Some(10_000), "Maximum depth of a tree; 0 grows until leaves are pure"),
        schema::int("minSamplesSplit", 2, Some(2), Some(MAX_SAMPLES_BOUND), "Fewest (distinct in-bag) samples a node needs to be split"),
        schema::int("minSamplesLeaf", 1, Some(1), Some(MAX_SAMPLES_BOUND), "Fewest (distinct in-bag) samples each child must keep"),
        schema::choice_or_number(
            "maxFeatures",
            "auto",
            &["auto", "sqrt", "log2", "all"],
            SMALLEST_FRACTION,
            65535.0,
            "Features drawn at each split: auto (sqrt for classification, all for regression), sqrt, log2, all, \
             a fraction (<= 1.0) or a whole count (> 1)",
        ),
        schema::choice(
            "criterion",
            "auto",
            &["auto", "gini", "entropy", "squared_error"],
            "Split quality: gini or entropy (classification), squared_error (regression); auto picks gini / squared_error",
        ),
        schema::boolean("bootstrap", true, "Grow each tree on a bootstrap sample (drawn with replacement)"),
        schema::float("maxSamples", 1.0, Some(SMALLEST_FRACTION), Some(1.0), "Bootstrap sample size as a fraction of the training rows"),
        schema::int("maxBins", 255, Some(2), Some(255), "Quantile bins per numeric feature (and most frequent levels kept per categorical one)"),
        schema::boolean("oobScore", true, "Score each tree on the rows it did not see (out-of-bag), reported during training"),
        schema::choice(
            "classWeight",
            "none",
            &["none", "balanced"],
            "Classification: none, or balanced (scikit-learn's class_weight='balanced': each class weighs the same in total, \
             so a rare class is not drowned out by a common one)",
        ),
    ]
}

pub fn parse(params: &Params, task: Task, n_features: usize) -> Result<Settings, TrainError> {
    let max_depth = match params.int("maxDepth")? {
        0 => usize::MAX,
        d if d < 0 => return Err(invalid("maxDepth", "must be 0 (unlimited) or positive")),
        d => d as usize,
    };
    Ok(Settings {
        n_trees: positive(params, "nEstimators", 1)?,
        max_depth,
        min_samples_split: positive(params, "minSamplesSplit", 2)?,
        min_samples_leaf: positive(params, "minSamplesLeaf", 1)?,
        max_features: max_features(params, task, n_features)?,
        criterion: criterion(params.choice("criterion")?, task)?,
        bootstrap: params.boolean("bootstrap")?,
        max_samples: max_samples(params.float("maxSamples")?)?,
        max_bins: positive(params, "maxBins", 2)?.min(255),
        oob_score: params.boolean("oobScore")?,
        class_weight: class_weight(params.choice("classWeight")?, task)?,
    })
}

fn positive(params: &Params, name: &str, min: i64) -> Result<usize, TrainError> {
    let v = params.int(name)?;
    if v < min {
        return Err(invalid(name, &format!("must be at least {min}, got {v}")));
    }
    Ok(v as usize)
}

fn class_weight(name: &str, task: Task) -> Result<ClassWeight, TrainError> {
    match (name, task) {
        ("none", _) => Ok(ClassWeight::None),
        ("balanced", Task::Classification) => Ok(ClassWeight::Balanced),
        ("balanced", _) => Err(invalid("classWeight", "balanced weighs classes: it is for classification; use none")),
        (other, _) => Err(invalid("classWeight", &format!("unknown choice {other:?}; use none or balanced"))),
    }
}

fn max_samples(v: f64) -> Result<f64, TrainError> {
    if !(v > 0.0 && v <= 1.0) {
        return Err(invalid("maxSamples", &format!("must be a fraction in (0, 1], got {v}")));
    }
    Ok(v)
}

fn criterion(name: &str, task: Task) -> Result<Criterion, TrainError> {
    match (name, task) {
        ("auto" | "gini", Task::Classification) => Ok(Criterion::Gini),
        ("entropy", Task::Classification) => Ok(Criterion::Entropy),
        ("auto" | "squared_error", Task::Regression) => Ok(Criterion::SquaredError),
        ("squared_error", _) => Err(invalid("criterion", "squared_error is for regression; use gini or entropy")),
        ("gini" | "entropy", _) => Err(invalid("criterion", "gini and entropy are for classification; use squared_error")),
        (other, _) => Err(invalid("criterion", &format!("unknown criterion {other:?}"))),
    }
}

fn max_features(params: &Params, task: Task, n_features: usize) -> Result<MaxFeatures, TrainError> {
    match params.choice_or_number("maxFeatures")? {
        Ok("auto") if task == Task::Classification => Ok(MaxFeatures::Sqrt),
        Ok("auto" | "all") => Ok(MaxFeatures::All),
        Ok("sqrt") => Ok(MaxFeatures::Sqrt),
        Ok("log2") => Ok(MaxFeatures::Log2),
        Ok(other) => Err(invalid("maxFeatures", &format!("unknown choice {other:?}; use auto, sqrt, log2, all or a number"))),
        Err(v) if v.is_nan() || v <= 0.0 => Err(invalid("maxFeatures", &format!("must be positive, got {v}"))),
        Err(v) if v <= 1.0 => Ok(MaxFeatures::Fraction(v)),
        Err(v) if v.fract() != 0.0 => Err(invalid("maxFeatures", &format!("a count above 1 must be whole, got {v}"))),
        Err(v) if v as usize > n_features => Err(invalid("maxFeatures", &format!("{v} features per split asked, but the table has only {n_features}"))),
        Err(v) => Ok(MaxFeatures::Count(v as usize)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainhost_sdk::{Param, ParamKind, ParamValue};

    /// Every parameter at its default, with `name` set to `value`.
    fn with(name: &str, value: ParamValue) -> Vec<Param> {
        schema()
            .into_iter()
            .map(|spec| {
                let default = match &spec.kind {
                    ParamKind::Int(s) => ParamValue::Int(s.default),
                    ParamKind::Float(s) => ParamValue::Float(s.default),
                    ParamKind::Boolean(b) => ParamValue::Boolean(*b),
                    ParamKind::Choice(s) => ParamValue::Choice(s.default.clone()),
                    ParamKind::ChoiceOrNumber(s) => ParamValue::Choice(s.default.clone()),
                };
                let value = if spec.name == name { value.clone() } else { default };
                Param { name: spec.name, value }
            })
            .collect()
    }

    /// The schema's bounds are what `parse` takes: each end of every numeric
    /// range is accepted (on a table wide enough for the largest feature
    /// count), so the host's check of the bounds at submit is the whole check.
    #[test]
    fn both_ends_of_every_declared_range_parse() {
        for spec in schema() {
            let ends = match &spec.kind {
                ParamKind::Int(s) => vec![ParamValue::Int(s.min.unwrap()), ParamValue::Int(s.max.unwrap())],
                ParamKind::Float(s) => vec![ParamValue::Float(s.min.unwrap()), ParamValue::Float(s.max.unwrap())],
                ParamKind::ChoiceOrNumber(s) => vec![ParamValue::Float(s.min), ParamValue::Float(s.max)],
                _ => continue,
            };
            for value in ends {
                let params = with(&spec.name, value.clone());
                assert!(parse(&Params(&params), Task::Classification, 65_535).is_ok(), "{} = {value:?}", spec.name);
            }
        }
    }

    #[test]
    fn what_the_schema_cannot_say_is_refused_naming_the_parameter() {
        let refused = |name: &str, value: ParamValue, task: Task| match parse(&Params(&with(name, value)), task, 7) {
            Err(TrainError::InvalidParameter(p)) => assert_eq!(p.name, name),
            other => panic!("{name}: {other:?}"),
        };
        refused("maxFeatures", ParamValue::Float(2.5), Task::Classification);
        refused("maxFeatures", ParamValue::Float(8.0), Task::Classification);
        refused("criterion", ParamValue::Choice("squared_error".into()), Task::Classification);
        refused("criterion", ParamValue::Choice("entropy".into()), Task::Regression);
        refused("classWeight", ParamValue::Choice("balanced".into()), Task::Regression);
    }

    #[test]
    fn balanced_weights_are_scikit_learns() {
        // compute_class_weight('balanced', classes=[0, 1, 2], y=[0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2]) = [1, 2, 0.667].
        let y = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2];
        let w = ClassWeight::Balanced.weights(&y, 3).unwrap();
        assert_eq!(&w[..2], &[1.0, 2.0]);
        assert!((w[2] - 2.0 / 3.0).abs() < 1e-12);
        // A level absent from the training rows is not counted among the classes.
        assert_eq!(ClassWeight::Balanced.weights(&[0, 0, 0, 2], 3).unwrap(), vec![2.0 / 3.0, 1.0, 2.0]);
        assert_eq!(ClassWeight::None.weights(&y, 3), None);
    }
}
