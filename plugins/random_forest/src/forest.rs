//! The forest: one bootstrap sample and one tree at a time, scored on the
//! rows each tree did not see (out-of-bag) and on the validation table as it grows.

use crate::data::{self, level_map, Binned, Prepared, Target};
use crate::model::{Feature, Model, Tree};
use crate::params::{self, Settings};
use crate::rng::Rng;
use crate::tree::{Builder, TrainTree};
use trainhost_sdk::team::Team;
use trainhost_sdk::{ColumnData, LabelledTable, LogLevel, Params, Progress, Task, TrainError, TrainedModel, MISSING_CODE};

/// At most this many progress events per job, however many trees.
const MAX_REPORTS: usize = 200;
/// With a team, each report first adds up every rank's running predictions
/// (a sum over every scored row), so there are fewer.
const MAX_TEAM_REPORTS: usize = 25;

/// Grows the forest. With a team of K instances, each grows the trees t
/// with t % K == its rank (tree t drawn from the seed and t alone), and rank
/// 0 gathers them in tree order: the model is the one a single instance grows.
pub fn train(request: &crate::TrainRequest, progress: &mut dyn Progress, team: &dyn Team) -> Result<TrainedModel, TrainError> {
    if request.task == Task::Clustering {
        return Err(TrainError::InvalidData("random_forest does not do clustering; use classification or regression".into()));
    }
    let n_features = request.train.features.columns.len();
    let settings = params::parse(&Params(&request.params), request.task, n_features)?;
    let data = data::prepare(&request.train, request.task, settings.max_bins).map_err(TrainError::InvalidData)?;
    if data.dropped > 0 {
        progress.log(LogLevel::Warn, &format!("{} rows without a target value were left out", data.dropped));
    }
    warn_if_no_split(&settings, data.binned.rows, progress);
    log_class_weights(&settings, &data.target, progress);
    let mut holdout = match &request.validation {
        Some(v) if v.features.rows > 0 && v.target.is_some() => Some(Holdout::new(v, &data)?),
        _ => None,
    };
    let mut oob = (settings.oob_score && settings.bootstrap).then(|| Scorer::new(truth_of(&data.target)));
    let mut grown = grow_forest(&data, &settings, request.seed, &mut oob, &mut holdout, progress, team)?;
    if team.size() > 1 {
        crate::parallel::combine(team, &data, &settings, &mut grown)?;
    }
    Ok(finish(&data, &settings, grown, oob, holdout))
}

/// With `classWeight` balanced, the log says what each class weighs.
fn log_class_weights(settings: &Settings, target: &Target, progress: &mut dyn Progress) {
    let Target::Classes { y, levels } = target else { return };
    if let Some(weights) = settings.class_weight.weights(y, levels.len()) {
        let each: Vec<String> = levels.iter().zip(&weights).map(|(level, w)| format!("{level} {w:.4}")).collect();
        progress.log(LogLevel::Info, &format!("classWeight balanced: each row of a class weighs {}", each.join(", ")));
    }
}

/// Sample counts above the table's rows are legal (their bounds are the
/// schema's), but they leave every tree a single leaf: the log says so.
fn warn_if_no_split(settings: &Settings, rows: usize, progress: &mut dyn Progress) {
    if settings.min_samples_split > rows || settings.min_samples_leaf.saturating_mul(2) > rows {
        let message = format!(
            "minSamplesSplit {} and minSamplesLeaf {} allow no split of {rows} rows: every tree is a single leaf (the majority class or the mean)",
            settings.min_samples_split, settings.min_samples_leaf
        );
        progress.log(LogLevel::Warn, &message);
    }
}

pub(crate) struct Grown {
    pub trees: Vec<Tree>,
    pub importance: Vec<f64>,
    /// Each tree's normalised importances, kept only when the trees of a
    /// team are combined (rank 0 adds them up in tree order).
    pub per_tree: Vec<Vec<f64>>,
    pub depth_sum: usize,
    pub leaves_sum: usize,
}

fn grow_forest(
    data: &Prepared,
    settings: &Settings,
    seed: u64,
    oob: &mut Option<Scorer>,
    holdout: &mut Option<Holdout>,
    progress: &mut dyn Progress,
    team: &dyn Team,
) -> Result<Grown, TrainError> {
    let regression = matches!(data.target, Target::Values(_));
    let width = data.target.n_classes().max(1);
    let n_trees = settings.n_trees;
    let (size, rank) = (team.size(), team.rank());
    // A round: every rank grows its next tree (round r holds trees r·K .. r·K + K − 1).
    let rounds = n_trees.div_ceil(size);
    let per_report = rounds.div_ceil(if size > 1 { MAX_TEAM_REPORTS } else { MAX_REPORTS });
    let mut builder = Builder::new(&data.binned, &data.target, settings);
    let mut counts = vec![0u32; data.binned.rows];
    let mut out = Grown { trees: Vec::with_capacity(n_trees), importance: vec![0.0; data.names.len()], per_tree: Vec::new(), depth_sum: 0, leaves_sum: 0 };
    for round in 0..rounds {
        let t = round * size + rank;
        if t < n_trees {
            grow_tree(&mut builder, &mut counts, data, settings, Rng::for_tree(seed, t), oob, holdout, &mut out, size);
        }
        let last = round + 1 == rounds;
        if (round + 1) % per_report == 0 || last {
            let metrics = match (size > 1, last) {
                (false, _) => running_metrics(regression, oob, holdout),
                (true, false) => team_metrics(team, regression, width, oob, holdout)?,
                // The last report adds the scorers themselves up: the whole forest's, kept for the model's metrics.
                (true, true) => {
                    merge_scorers(team, width, oob, holdout)?;
                    running_metrics(regression, oob, holdout)
                }
            };
            let named: Vec<(&str, f64)> = metrics.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            let done = ((round + 1) * size).min(n_trees);
            if !progress.epoch(done as u32, n_trees as u32, &named) {
                return Err(TrainError::Cancelled);
            }
        }
    }
    Ok(out)
}

/// Grows one tree on its bootstrap sample and scores it on the rows it did
/// not see and on the validation rows.
#[allow(clippy::too_many_arguments)]
fn grow_tree(
    builder: &mut Builder,
    counts: &mut [u32],
    data: &Prepared,
    settings: &Settings,
    mut rng: Rng,
    oob: &mut Option<Scorer>,
    holdout: &mut Option<Holdout>,
    out: &mut Grown,
    team_size: usize,
) {
    let regression = matches!(data.target, Target::Values(_));
    let width = data.target.n_classes().max(1);
    draw_sample(counts, settings, &mut rng);
    let tree = builder.grow(counts, &mut rng);
    if team_size > 1 {
        out.per_tree.push(normalised(&tree.importance));
    } else {
        add_importance(&mut out.importance, &tree.importance);
    }
    if let Some(oob) = oob.as_mut() {
        score_rows(oob, tree, &data.binned, width, |r| counts[r] == 0);
    }
    if let Some(h) = holdout.as_mut() {
        score_rows(&mut h.scorer, tree, &h.binned, width, |_| true);
    }
    out.depth_sum += tree.depth;
    out.leaves_sum += tree.n_leaves();
    out.trees.push(Tree::from_grown(tree, &data.binned.features, regression));
}

/// The whole team's running scores: every rank's predictions so far added up
/// on copies (the scorers themselves are added up once, at the last report),
/// so the progress a team reports is that of the forest grown so far, as one instance's is.
fn team_metrics(team: &dyn Team, regression: bool, width: usize, oob: &Option<Scorer>, holdout: &Option<Holdout>) -> Result<Vec<(String, f64)>, TrainError> {
    let mut oob = oob.clone();
    let mut validation = holdout.as_ref().map(|h| h.scorer.clone());
    merge_all(team, width, [oob.as_mut(), validation.as_mut()])?;
    Ok(named_scores(regression, oob.as_ref(), validation.as_ref()))
}

/// Adds every rank's out-of-bag and validation predictions up in place (floats
/// in rank order, votes exactly): each rank then holds the whole forest's.
fn merge_scorers(team: &dyn Team, width: usize, oob: &mut Option<Scorer>, holdout: &mut Option<Holdout>) -> Result<(), TrainError> {
    merge_all(team, width, [oob.as_mut(), holdout.as_mut().map(|h| &mut h.scorer)])
}

fn merge_all(team: &dyn Team, width: usize, scorers: [Option<&mut Scorer>; 2]) -> Result<(), TrainError> {
    for scorer in scorers.into_iter().flatten() {
        scorer.merge(team, width).map_err(|why| TrainError::Failed(format!("adding up the instances' scores: {why}")))?;
    }
    Ok(())
}

/// Bootstrap multiplicities (with replacement, `maxSamples` × rows draws), or one each.
fn draw_sample(counts: &mut [u32], settings: &Settings, rng: &mut Rng) {
    if !settings.bootstrap {
        counts.fill(1);
        return;
    }
    counts.fill(0);
    let n = counts.len();
    let draws = ((settings.max_samples * n as f64).round() as usize).max(1);
    for _ in 0..draws {
        counts[rng.below(n)] += 1;
    }
}

/// Each tree's importances are normalised before averaging, as scikit-learn does,
/// so a deep tree does not outweigh a shallow one.
fn add_importance(total: &mut [f64], tree: &[f64]) {
    let sum: f64 = tree.iter().map(|v| v.max(0.0)).sum();
    if sum > 0.0 {
        total.iter_mut().zip(tree).for_each(|(t, v)| *t += v.max(0.0) / sum);
    }
}

/// One tree's share of `add_importance` (all zero for a tree without a split).
pub(crate) fn normalised(tree: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; tree.len()];
    add_importance(&mut out, tree);
    out
}

fn score_rows(scorer: &mut Scorer, tree: &TrainTree, binned: &Binned, width: usize, take: impl Fn(usize) -> bool) {
    for r in 0..binned.rows {
        if take(r) {
            let at = tree.leaf_of(binned, r);
            scorer.add(r, &tree.values[at..at + width]);
        }
    }
}

fn running_metrics(regression: bool, oob: &Option<Scorer>, holdout: &Option<Holdout>) -> Vec<(String, f64)> {
    named_scores(regression, oob.as_ref(), holdout.as_ref().map(|h| &h.scorer))
}

fn named_scores(regression: bool, oob: Option<&Scorer>, validation: Option<&Scorer>) -> Vec<(String, f64)> {
    let kind = if regression { "r2" } else { "accuracy" };
    let mut out = Vec::new();
    if let Some(score) = oob.and_then(Scorer::score) {
        out.push((format!("oob_{kind}"), score));
    }
    if let Some(score) = validation.and_then(Scorer::score) {
        out.push((format!("validation_{kind}"), score));
    }
    out
}

/// The model's feature list and classes.
pub(crate) fn header(data: &Prepared) -> (Vec<Feature>, Vec<String>) {
    let features = data
        .names
        .iter()
        .zip(&data.binned.features)
        .map(|(name, fb)| Feature {
            name: name.clone(),
            levels: match fb {
                data::FeatureBins::Categorical { levels, .. } => Some(levels.clone()),
                data::FeatureBins::Numeric { .. } => None,
            },
        })
        .collect();
    let classes = match &data.target {
        Target::Classes { levels, .. } => levels.clone(),
        Target::Values(_) => Vec::new(),
    };
    (features, classes)
}

fn finish(data: &Prepared, settings: &Settings, grown: Grown, oob: Option<Scorer>, holdout: Option<Holdout>) -> TrainedModel {
    let regression = matches!(data.target, Target::Values(_));
    let (features, classes) = header(data);
    let n = settings.n_trees as f64;
    let mut metrics: Vec<(String, f64)> = running_metrics(regression, &oob, &holdout);
    metrics.push(("trees".into(), n));
    metrics.push(("mean_depth".into(), grown.depth_sum as f64 / n));
    metrics.push(("mean_leaves".into(), grown.leaves_sum as f64 / n));
    let total: f64 = grown.importance.iter().sum();
    let importances = grown.importance.iter().map(|v| if total > 0.0 { v / total } else { 0.0 }).collect();
    let model = Model { classes, features, trees: grown.trees };
    TrainedModel {
        model: model.to_bytes(),
        metrics: metrics.into_iter().map(|(name, value)| trainhost_sdk::Metric { name, value }).collect(),
        feature_importances: Some(importances),
        cluster_sizes: None,
    }
}

/// The known answers of rows to score (MISSING_CODE / NaN where unknown).
#[derive(Clone)]
enum Truth {
    Classes(Vec<u32>),
    Values(Vec<f64>),
}

fn truth_of(target: &Target) -> Truth {
    match target {
        Target::Classes { y, .. } => Truth::Classes(y.clone()),
        Target::Values(y) => Truth::Values(y.clone()),
    }
}

/// Running forest predictions for a set of rows, and their score.
#[derive(Clone)]
pub(crate) struct Scorer {
    truth: Truth,
    width: usize,
    sums: Vec<f64>,
    votes: Vec<u32>,
}

impl Scorer {
    fn new(truth: Truth) -> Scorer {
        let (rows, width) = match &truth {
            Truth::Classes(y) => (y.len(), 0),
            Truth::Values(y) => (y.len(), 1),
        };
        Scorer { truth, width, sums: Vec::new(), votes: vec![0; rows] }.sized(rows)
    }

    fn sized(mut self, rows: usize) -> Scorer {
        self.sums = vec![0.0; rows * self.width.max(1)];
        self
    }

    fn add(&mut self, row: usize, values: &[f32]) {
        if self.width == 0 {
            // Classification: the width is known at the first leaf.
            self.width = values.len();
            self.sums = vec![0.0; self.votes.len() * self.width];
        }
        let w = self.width;
        self.sums[row * w..(row + 1) * w].iter_mut().zip(values).for_each(|(s, &v)| *s += v as f64);
        self.votes[row] += 1;
    }

    /// Adds every instance's predictions up (floats in rank order, votes
    /// exactly), so each rank holds the whole forest's. `width`: the classes
    /// (or 1), for a rank that has not scored a row yet.
    pub(crate) fn merge(&mut self, team: &dyn Team, width: usize) -> Result<(), String> {
        if self.width == 0 {
            self.width = width;
            self.sums = vec![0.0; self.votes.len() * width];
        }
        let votes: Vec<i64> = self.votes.iter().map(|&v| i64::from(v)).collect();
        let (sums, votes) = team.sum(&self.sums, &votes)?;
        self.sums = sums;
        self.votes = votes.into_iter().map(|v| v as u32).collect();
        Ok(())
    }

    /// Accuracy or R² over the rows predicted at least once.
    fn score(&self) -> Option<f64> {
        let w = self.width.max(1);
        match &self.truth {
            Truth::Classes(y) => {
                let (mut right, mut seen) = (0usize, 0usize);
                for (r, &truth) in y.iter().enumerate() {
                    if self.votes[r] == 0 || truth == MISSING_CODE {
                        continue;
                    }
                    seen += 1;
                    let row = &self.sums[r * w..(r + 1) * w];
                    let best = (0..w).fold(0, |b, i| if row[i] > row[b] { i } else { b });
                    right += usize::from(best as u32 == truth);
                }
                (seen > 0).then(|| right as f64 / seen as f64)
            }
            Truth::Values(y) => {
                let rows: Vec<(f64, f64)> =
                    (0..y.len()).filter(|&r| self.votes[r] > 0 && y[r].is_finite()).map(|r| (y[r], self.sums[r] / self.votes[r] as f64)).collect();
                r2(&rows)
            }
        }
    }
}

fn r2(rows: &[(f64, f64)]) -> Option<f64> {
    if rows.len() < 2 {
        return None;
    }
    let mean = rows.iter().map(|r| r.0).sum::<f64>() / rows.len() as f64;
    let total: f64 = rows.iter().map(|r| (r.0 - mean).powi(2)).sum();
    let residual: f64 = rows.iter().map(|r| (r.0 - r.1).powi(2)).sum();
    (total > 0.0).then(|| 1.0 - residual / total)
}

/// The validation table, binned like the training one.
struct Holdout {
    binned: Binned,
    pub(crate) scorer: Scorer,
}

impl Holdout {
    fn new(table: &LabelledTable, data: &Prepared) -> Result<Holdout, TrainError> {
        let bad = |e: String| TrainError::InvalidData(format!("validation table: {e}"));
        let binned = data::bin_other(&table.features, &data.names, &data.binned.features).map_err(bad)?;
        let truth = match (table.target.as_ref(), &data.target) {
            (Some(ColumnData::Categorical(c)), Target::Classes { levels, .. }) => {
                let map = level_map(levels, &c.levels);
                Truth::Classes(c.codes.iter().map(|&k| map.get(k as usize).copied().unwrap_or(MISSING_CODE)).collect())
            }
            (Some(ColumnData::Numeric(v)), Target::Values(_)) => Truth::Values(v.clone()),
            _ => return Err(bad("its target is not of the training target's kind".into())),
        };
        if truth_len(&truth) != binned.rows {
            return Err(bad("the target and the features differ in length".into()));
        }
        Ok(Holdout { binned, scorer: Scorer::new(truth) })
    }
}

fn truth_len(t: &Truth) -> usize {
    match t {
        Truth::Classes(y) => y.len(),
        Truth::Values(y) => y.len(),
    }
}
