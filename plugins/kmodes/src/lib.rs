//! The kmodes plugin: K-Modes for categorical tables and K-Prototypes for mixed
//! ones, with the cost, initialisations and iteration of the Python `kmodes`
//! package, so that costs can be compared one to one.
//!
//! Everything here is plain Rust callable natively (tests, benchmarks, the
//! example CLI); `export_trainer!` at the bottom exports them as the component.

pub mod centers;
pub mod csvtable;
pub mod data;
pub mod engine;
mod estimate;
pub mod model;
pub mod parallel;
pub mod rng;
#[cfg(feature = "tuning")]
pub mod space;
pub mod tables;

use centers::Centers;
use data::{Algorithm, Encoded, Schema};
use engine::{Init, Settings};
use model::Model;
use trainhost_sdk::*;

/// Upper bound of `gamma`: a categorical mismatch weighed as a squared
/// numeric distance of 10^12 (numbers in the millions, unscaled) already
/// silences the numeric columns; more says nothing new.
const MAX_GAMMA: f64 = 1e12;

/// Largest k × (distinct values + one per attribute) we accept: the per-cluster
/// frequency tables take 4 bytes per cell (32 M cells = 128 MiB).
const MAX_FREQ_CELLS: usize = 32 << 20;

pub fn info() -> PluginInfo {
    use schema::*;
    PluginInfo {
        name: "kmodes".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "K-Modes (categorical) and K-Prototypes (mixed) clustering, costs as the Python kmodes package".into(),
        tasks: vec![Task::Clustering],
        params: vec![
            int("nClusters", 8, Some(2), Some(1000), "Number of clusters (modes / prototypes) to form."),
            choice(
                "init",
                "cao",
                &["huang", "cao", "random"],
                "Initial centres: Huang (modes drawn by value frequencies, then snapped to rows), \
                 Cao (density and distance, deterministic), or random rows.",
            ),
            int(
                "nInit",
                10,
                Some(1),
                Some(100),
                "Runs from different initial centres; the lowest cost wins. K-Modes with Cao runs once (it is deterministic).",
            ),
            int("maxIter", 100, Some(1), Some(10_000), "Maximum passes over the rows per run."),
            choice(
                "algorithm",
                "auto",
                &["auto", "kmodes", "kprototypes"],
                "auto: K-Modes if every column is categorical, else K-Prototypes. kmodes treats each distinct \
                 value of a numeric column as a category (for codes and flags stored as numbers).",
            ),
            float(
                "gamma",
                0.0,
                Some(0.0),
                Some(MAX_GAMMA),
                "K-Prototypes weight of one categorical mismatch against squared numeric distance; \
                 0 = half the mean standard deviation of the numeric columns (the kmodes package default).",
            ),
            boolean("standardize", false, "K-Prototypes: scale numeric columns to mean 0, standard deviation 1 first."),
            boolean(
                "refine",
                true,
                "After the kmodes package's iteration converges, move single rows while that lowers the exact cost \
                 (Hartigan's rule). Off reproduces the package's algorithm.",
            ),
        ],
    }
}

/// Parameters after validation.
#[derive(Clone, Debug)]
pub struct Config {
    pub k: usize,
    pub init: Init,
    pub n_init: usize,
    pub max_iter: usize,
    pub algorithm: Option<Algorithm>,
    pub gamma: f64,
    pub standardize: bool,
    pub refine: bool,
}

impl Config {
    pub fn from_params(params: &[Param]) -> Result<Config, TrainError> {
        let p = Params(params);
        let bounded = |name: &str, lo: i64, hi: i64| -> Result<usize, TrainError> {
            let v = p.int(name)?;
            if v < lo || v > hi {
                return Err(invalid(name, &format!("{v} is outside {lo}..={hi}")));
            }
            Ok(v as usize)
        };
        let init = match p.choice("init")? {
            "huang" => Init::Huang,
            "cao" => Init::Cao,
            "random" => Init::Random,
            other => return Err(invalid("init", &format!("'{other}' is not one of huang, cao, random"))),
        };
        let algorithm = match p.choice("algorithm")? {
            "auto" => None,
            "kmodes" => Some(Algorithm::KModes),
            "kprototypes" => Some(Algorithm::KPrototypes),
            other => return Err(invalid("algorithm", &format!("'{other}' is not one of auto, kmodes, kprototypes"))),
        };
        let gamma = p.float("gamma")?;
        if !(gamma >= 0.0 && gamma.is_finite()) {
            return Err(invalid("gamma", "must be a finite number ≥ 0 (0 = automatic)"));
        }
        Ok(Config {
            k: bounded("nClusters", 2, 1000)?,
            init,
            n_init: bounded("nInit", 1, 100)?,
            max_iter: bounded("maxIter", 1, 10_000)?,
            algorithm,
            gamma,
            standardize: p.boolean("standardize")?,
            refine: p.boolean("refine")?,
        })
    }
}

pub fn train(request: &TrainRequest, progress: &mut dyn Progress) -> Result<TrainedModel, TrainError> {
    // Inside the host (contract 0.4.0) the job's instances share the restarts; natively, alone.
    train_in(request, progress, &*trainhost_sdk::team::host())
}

/// `train` as one of `team`'s instances (tests drive a team of threads with it).
pub fn train_in(request: &TrainRequest, progress: &mut dyn Progress, team: &dyn trainhost_sdk::team::Team) -> Result<TrainedModel, TrainError> {
    if request.task != Task::Clustering {
        return Err(TrainError::InvalidData("kmodes only does clustering: set the task to clustering".into()));
    }
    let config = Config::from_params(&request.params)?;
    let table = &request.train.features;
    let algorithm = choose_algorithm(&config, table)?;
    let schema = Schema::from_table(table, algorithm, config.standardize).map_err(TrainError::InvalidData)?;
    let cells = config.k.saturating_mul(schema.total_slots());
    if cells > MAX_FREQ_CELLS {
        return Err(TrainError::InvalidData(format!(
            "{} clusters × {} distinct categorical values is too large to count: lower nClusters, \
             or use kprototypes so that numeric columns with many distinct values stay numeric",
            config.k,
            schema.total_slots()
        )));
    }
    let data = Encoded::encode(&schema, table).map_err(TrainError::InvalidData)?;
    if data.n < config.k {
        return Err(invalid("nClusters", &format!("{} clusters need at least as many rows; the table has {}", config.k, data.n)));
    }
    let gamma = match algorithm {
        Algorithm::KModes => 1.0,
        Algorithm::KPrototypes if config.gamma > 0.0 => config.gamma,
        Algorithm::KPrototypes => default_gamma(&data),
    };
    progress.log(LogLevel::Info, &format!("{algorithm:?}: {} rows, {} categorical and {} numeric columns, gamma {gamma}", data.n, data.m, data.p));
    let settings =
        Settings { k: config.k, init: config.init, n_init: config.n_init, max_iter: config.max_iter, seed: request.seed, gamma, refine: config.refine };
    let fit = engine::fit(&data, &settings, progress, team)?;

    let modes = fit.modes.iter().enumerate().map(|(idx, &slot)| slot - data.offsets[idx % data.m.max(1)]).collect();
    let model = Model { algorithm, gamma, k: fit.k, schema, modes, means: fit.means.clone() };
    let mut metrics = vec![
        Metric { name: "cost".into(), value: fit.cost },
        Metric { name: "iterations".into(), value: fit.iterations as f64 },
        Metric { name: "runs".into(), value: fit.runs as f64 },
    ];
    if algorithm == Algorithm::KPrototypes {
        metrics.push(Metric { name: "gamma".into(), value: gamma });
    }
    Ok(TrainedModel { model: model.to_bytes(), metrics, feature_importances: None, cluster_sizes: Some(fit.sizes()) })
}

/// The algorithm for this table. The parameter is checked before the rows,
/// so that the host's check at submit (a table of the dataset's columns with
/// no rows) finds a kprototypes request on a table without numbers.
fn choose_algorithm(config: &Config, table: &Table) -> Result<Algorithm, TrainError> {
    let any_numeric = table.columns.iter().any(|c| matches!(c.data, ColumnData::Numeric(_)));
    if config.algorithm == Some(Algorithm::KPrototypes) && !any_numeric && !table.columns.is_empty() {
        return Err(invalid("algorithm", "kprototypes needs a numeric column; every column is categorical, use kmodes"));
    }
    if table.rows == 0 || table.columns.is_empty() {
        return Err(TrainError::InvalidData("the table is empty: clustering needs rows and feature columns".into()));
    }
    Ok(match config.algorithm {
        Some(algorithm) => algorithm,
        None if any_numeric => Algorithm::KPrototypes,
        None => Algorithm::KModes,
    })
}

/// The `kmodes` package's default: half the mean standard deviation of the numeric
/// columns (population std, of the known values; columns with no known value are
/// left out). Numeric columns that are all constant would give 0 and silence the
/// categorical columns: use 1 then.
fn default_gamma(data: &Encoded) -> f64 {
    let stds: Vec<f64> = (0..data.p).filter(|&j| data.num_known[j] > 0).map(|j| data.col_stds[j]).collect();
    let gamma = 0.5 * stds.iter().sum::<f64>() / stds.len().max(1) as f64;
    if gamma > 0.0 && gamma.is_finite() {
        gamma
    } else {
        1.0
    }
}

pub fn predict(model: &[u8], features: &Table) -> Result<Predictions, PredictError> {
    let model = Model::from_bytes(model).map_err(PredictError::InvalidModel)?;
    let data = Encoded::encode(&model.schema, features).map_err(PredictError::InvalidData)?;
    let modes = model.modes.iter().enumerate().map(|(idx, &level)| level + data.offsets[idx % data.m.max(1)]).collect();
    let mut centers = Centers::new(model.k, data.m, data.p, data.slots(), model.gamma, modes, model.means);
    Ok(Predictions::Clusters((0..data.n).map(|i| centers.nearest(&data, i).0).collect()))
}

/// The fit with its cluster table, as contract 0.2.0 returns it.
pub fn train_with_tables(request: &TrainRequest, progress: &mut dyn Progress) -> Result<Trained, TrainError> {
    let trained = train(request, progress)?;
    let model = Model::from_bytes(&trained.model).map_err(|e| TrainError::Failed(format!("the model just built does not read back: {e}")))?;
    let table = tables::clusters(&model, trained.cluster_sizes.as_deref().unwrap_or_default());
    Ok(Trained { model: trained, tables: vec![table] })
}

pub use estimate::estimate;

#[cfg(feature = "tuning")]
export_trainer!(describe: info, train_with_tables: train_with_tables, predict: predict, estimate: estimate, parallelism: parallel::describe, tuning: space::suggest);
#[cfg(all(feature = "parallel", not(feature = "tuning")))]
export_trainer!(describe: info, train_with_tables: train_with_tables, predict: predict, estimate: estimate, parallelism: parallel::describe);
#[cfg(not(feature = "parallel"))]
export_trainer!(describe: info, train_with_tables: train_with_tables, predict: predict, estimate: estimate);
