//! Gradient boosting: round after round, gradients of the loss at the
//! current scores, one tree per output grown on them, its shrunk leaf values
//! added to the training and validation scores; early stopping on the
//! validation loss, and one progress report per round (grouped above
//! MAX_REPORTS rounds).
//!
//! Owns the loop and the scores; the trees' growth is `tree`'s, the losses
//! `objective`'s, the result's assembly `result`'s.

use crate::data::Prepared;
use crate::holdout::Holdout;
use crate::model::Tree;
use crate::objective::{weighted_quantile, Objective};
use crate::params::Settings;
use crate::rng::Rng;
use crate::shard;
use crate::tree::{each_row, leaf_output, BinTree, GrowInput, Grower};
use trainhost_sdk::team::Team;
use trainhost_sdk::{Progress, TrainError};

/// At most this many progress events per job, however many rounds.
const MAX_REPORTS: usize = 300;
const BAG_STREAM: u64 = 1;
const FEATURE_STREAM: u64 = 2;

/// Why training stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    AllRounds,
    EarlyStopping,
    NoSplit,
}

/// Figures of one round, known once the next round's gradients are.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub train_loss: f64,
    pub validation_loss: Option<f64>,
    pub validation_metric: Option<f64>,
}

pub struct Booster<'a> {
    pub data: &'a Prepared,
    pub settings: &'a Settings,
    pub objective: Objective,
    pub classification: bool,
    w: Vec<f32>,
    scores: Vec<f64>,
    gh: Vec<[f32; 2]>,
    grower: Grower,
    pub holdout: Option<Holdout>,
    pub trees: Vec<Tree>,
    /// Each tree's splits as (feature, gain, cover), for the importances.
    pub gains: Vec<Vec<(u32, f64, f64)>>,
    pub history: Vec<Figures>,
    seed: u64,
    bag: Option<Vec<u32>>,
    in_bag: Vec<bool>,
    features: Vec<u32>,
    /// The job's instances, each boosting on its shard of the rows (see `shard`).
    pub team: &'a dyn Team,
}

pub struct Outcome {
    pub stop: Stop,
    pub rounds_run: usize,
    /// The round with the lowest validation loss (the last round without validation).
    pub best_round: usize,
}

/// Where boosting starts from: the rows' weights, the initial scores and
/// the validation rows, if any.
pub struct Start<'i> {
    pub w: Vec<f32>,
    pub init: &'i [f64],
    pub holdout: Option<Holdout>,
}

impl<'a> Booster<'a> {
    pub fn new(data: &'a Prepared, settings: &'a Settings, objective: Objective, start: Start, seed: u64, team: &'a dyn Team) -> Booster<'a> {
        let Start { w, init, holdout } = start;
        let n = data.binned.rows;
        let k = objective.n_outputs();
        Booster {
            data,
            settings,
            objective,
            classification: !data.classes.is_empty(),
            w,
            scores: init.iter().flat_map(|&s| std::iter::repeat_n(s, n)).collect(),
            gh: vec![[0.0; 2]; n * k],
            grower: Grower::new(&data.binned, &settings.tree),
            holdout,
            trees: Vec::new(),
            gains: Vec::new(),
            history: Vec::new(),
            seed,
            bag: None,
            in_bag: Vec::new(),
            features: (0..data.binned.features.len() as u32).collect(),
            team,
        }
    }

    pub fn run(&mut self, progress: &mut dyn Progress) -> Result<Outcome, TrainError> {
        let n_rounds = self.settings.n_rounds;
        let every = n_rounds.div_ceil(MAX_REPORTS);
        let patience = self.settings.early_stopping_rounds;
        let mut out = Outcome { stop: Stop::AllRounds, rounds_run: 0, best_round: 0 };
        let mut best_loss = f64::INFINITY;
        let mut reported = 0;
        for r in 0..n_rounds {
            // The loss at the current scores comes with the gradients: it is
            // the training loss of the round just finished, reported now.
            let local_loss = self.objective.gradients(&self.scores, &self.data.y, &self.w, &mut self.gh);
            let train_loss = shard::mean(self.team, local_loss, self.data.y.len(), self.data.rows.total);
            self.history.last_mut().into_iter().for_each(|f| f.train_loss = train_loss);
            if out.rounds_run > reported && out.rounds_run.is_multiple_of(every) {
                self.report(out.rounds_run, out.best_round, progress)?;
                reported = out.rounds_run;
            }
            self.draw_bag(r);
            self.draw_features(r);
            if !self.round()? {
                out.stop = Stop::NoSplit;
                break;
            }
            let figures = self.figures().map_err(TrainError::Failed)?;
            if figures.validation_loss.is_none_or(|l| l < best_loss) {
                best_loss = figures.validation_loss.unwrap_or(f64::INFINITY);
                out.best_round = r + 1;
                if let Some(h) = self.holdout.as_mut() {
                    h.keep_best();
                }
            }
            self.history.push(figures);
            out.rounds_run = r + 1;
            if patience > 0 && self.holdout.is_some() && r + 1 - out.best_round >= patience {
                out.stop = Stop::EarlyStopping;
                break;
            }
        }
        let final_loss = shard::mean(self.team, self.objective.loss(&self.scores, &self.data.y), self.data.y.len(), self.data.rows.total);
        self.history.last_mut().into_iter().for_each(|f| f.train_loss = final_loss);
        if out.rounds_run > reported {
            self.report(out.rounds_run, out.best_round, progress)?;
        }
        Ok(out)
    }

    fn figures(&self) -> Result<Figures, String> {
        let scored = self.holdout.as_ref().map(|h| h.score(self.team, self.objective, self.classification)).transpose()?;
        Ok(Figures {
            train_loss: f64::NAN,
            validation_loss: scored.as_ref().map(|s| s.loss).filter(|l| l.is_finite()),
            validation_metric: scored.and_then(|s| s.metric),
        })
    }

    fn report(&self, round: usize, best_round: usize, progress: &mut dyn Progress) -> Result<(), TrainError> {
        let f = self.history[round - 1];
        let mut metrics: Vec<(&str, f64)> = vec![("train_loss", f.train_loss)];
        if let Some(v) = f.validation_loss {
            metrics.push(("validation_loss", v));
        }
        if let Some(m) = f.validation_metric {
            metrics.push((if self.classification { "validation_accuracy" } else { "validation_r2" }, m));
        }
        if self.holdout.is_some() {
            metrics.push(("best_iteration", best_round as f64));
        }
        if !progress.epoch(round as u32, self.settings.n_rounds as u32, &metrics) {
            return Err(TrainError::Cancelled);
        }
        Ok(())
    }

    /// A new row sample every baggingFreq rounds (LightGBM's bagging), drawn
    /// from the job's rows by their job-wide index, so the bag does not
    /// depend on how the rows are shared among instances; this instance keeps
    /// the drawn rows of its shard.
    fn draw_bag(&mut self, round: usize) {
        let s = self.settings;
        if s.bagging_freq == 0 || s.bagging_fraction >= 1.0 || !round.is_multiple_of(s.bagging_freq) {
            return;
        }
        let (n, shard) = (self.data.binned.rows, self.data.rows);
        let k = ((s.bagging_fraction * shard.total as f64).round() as usize).clamp(1, shard.total);
        let mut bag = self.bag.take().unwrap_or_default();
        Rng::new(self.seed, BAG_STREAM, round).sample_sorted(shard.total, k, &mut bag);
        if shard.total != n {
            let (from, to) = (shard.offset as u32, (shard.offset + n) as u32);
            bag.retain(|&r| (from..to).contains(&r));
            bag.iter_mut().for_each(|r| *r -= from);
        }
        self.in_bag.clear();
        self.in_bag.resize(n, false);
        bag.iter().for_each(|&r| self.in_bag[r as usize] = true);
        self.bag = Some(bag);
    }

    fn draw_features(&mut self, round: usize) {
        let fraction = self.settings.feature_fraction;
        if fraction >= 1.0 {
            return;
        }
        let n = self.data.binned.features.len();
        let k = ((fraction * n as f64).round() as usize).clamp(1, n);
        Rng::new(self.seed, FEATURE_STREAM, round).sample_sorted(n, k, &mut self.features);
    }

    /// Grows this round's trees (one per output) and adds them. False when
    /// no tree found a split: boosting has nothing left to learn.
    fn round(&mut self) -> Result<bool, TrainError> {
        let n = self.data.binned.rows;
        let k = self.objective.n_outputs();
        let mut grown = Vec::with_capacity(k);
        for c in 0..k {
            let input = GrowInput {
                binned: &self.data.binned,
                gh: &self.gh[c * n..(c + 1) * n],
                bag: self.bag.as_deref(),
                features: &self.features,
                settings: &self.settings.tree,
                team: self.team,
                total_rows: self.data.rows.total,
            };
            let mut tree = self.grower.grow(&input).map_err(TrainError::Failed)?;
            self.set_values(&mut tree, c)?;
            if tree.n_leaves() > 1 {
                self.add_to_scores(&tree, c);
            }
            grown.push(tree);
        }
        if grown.iter().all(|t| t.n_leaves() == 1) {
            return Ok(false);
        }
        for (c, tree) in grown.iter().enumerate() {
            if tree.n_leaves() == 1 {
                self.scores[c * n..(c + 1) * n].iter_mut().for_each(|s| *s += tree.values[0]);
            }
            if let Some(h) = self.holdout.as_mut() {
                h.add(tree, c);
            }
            self.trees.push(Tree::from_grown(tree, &self.data.binned.features));
            self.gains.push(tree.nodes.iter().map(|nd| (nd.feature, nd.gain, nd.cover)).collect());
        }
        Ok(true)
    }

    /// Shrunk Newton steps, or for L1 and quantile losses the residuals'
    /// quantile in each leaf (LightGBM re-fits those leaves the same way),
    /// over every instance's rows of the leaf.
    fn set_values(&self, tree: &mut BinTree, class: usize) -> Result<(), TrainError> {
        let s = &self.settings;
        let values = match self.objective.leaf_quantile() {
            None => tree.sums.iter().map(|&sums| leaf_output(sums, s.tree.lambda_l1, s.tree.lambda_l2)).collect(),
            Some(q) => self.leaf_quantiles(tree.n_leaves(), class, q)?,
        };
        for (leaf, v) in values.into_iter().enumerate() {
            tree.values[leaf] = v * s.learning_rate;
        }
        Ok(())
    }

    /// Each leaf's weighted residual quantile. With several instances rank 0
    /// takes every leaf's residuals in job row order (each rank's in row
    /// order, ranks in order: the order one instance sees).
    fn leaf_quantiles(&self, leaves: usize, class: usize, q: f64) -> Result<Vec<f64>, TrainError> {
        let n = self.data.binned.rows;
        let residual = |r: u32| (self.data.y[r as usize] - self.scores[class * n + r as usize], self.w[r as usize]);
        if self.team.size() == 1 {
            return Ok((0..leaves).map(|leaf| weighted_quantile(self.grower.leaf_rows(leaf).iter().map(|&r| residual(r)), q)).collect());
        }
        // Per leaf: its row count, then (residual, weight) pairs.
        let mut mine = Vec::new();
        for leaf in 0..leaves {
            let rows = self.grower.leaf_rows(leaf);
            mine.push(rows.len() as f64);
            for &r in rows {
                let (x, w) = residual(r);
                mine.extend([x, f64::from(w)]);
            }
        }
        let ranks = self.team.size();
        let values = shard::on_all_rows(self.team, "the leaf values", mine, |all| {
            let mut per_leaf: Vec<Vec<(f64, f32)>> = vec![Vec::new(); leaves];
            let mut at = all.as_slice();
            for _ in 0..ranks {
                for leaf in per_leaf.iter_mut() {
                    let Some((&count, rest)) = at.split_first() else { return Vec::new() };
                    let Some(pairs) = rest.get(..2 * count as usize) else { return Vec::new() };
                    leaf.extend(pairs.chunks_exact(2).map(|p| (p[0], p[1] as f32)));
                    at = &rest[2 * count as usize..];
                }
            }
            per_leaf.into_iter().map(|rows| weighted_quantile(rows.into_iter(), q)).collect()
        })
        .map_err(TrainError::Failed)?;
        if values.len() != leaves {
            return Err(TrainError::Failed("the job's instances could not agree on the leaf values".into()));
        }
        Ok(values)
    }

    fn add_to_scores(&mut self, tree: &BinTree, class: usize) {
        let n = self.data.binned.rows;
        let scores = &mut self.scores[class * n..(class + 1) * n];
        for leaf in 0..tree.n_leaves() {
            let v = tree.values[leaf];
            each_row(self.grower.leaf_rows(leaf), |r| scores[r as usize] += v);
        }
        if self.bag.is_some() {
            for (r, s) in scores.iter_mut().enumerate().filter(|(r, _)| !self.in_bag[*r]) {
                *s += tree.values[tree.leaf_of(&self.data.binned, r)];
            }
        }
    }
}
