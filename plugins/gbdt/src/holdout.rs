//! The validation table the host hands the plugin: binned with the training
//! bins, its raw scores kept up to date tree by tree, and the figures early
//! stopping and progress reports read from it (loss and the task's metric).
//!
//! With several instances each scores only its share of the rows. The
//! figures must still be the same f64s whatever the number of instances,
//! since the validation loss picks the best round, and so the model: the
//! rows are cut into `BLOCKS` blocks by row count alone, each instance sums
//! the rows of its blocks in row order, and every instance adds the blocks'
//! sums in block order. An instance's share is whole blocks, so each block's
//! sum comes from one instance, and the element-wise sum of the host adds
//! nothing but zeros to it: exact.
//!
//! Owns the validation rows and their scores. Must not grow trees or decide
//! when to stop (`boost` does).

use std::ops::Range;

use crate::data::{self, level_map, Prepared};
use crate::eval;
use crate::objective::Objective;
use crate::shard;
use crate::tree::BinTree;
use trainhost_sdk::team::Team;
use trainhost_sdk::{ColumnData, LabelledTable, TrainError, MISSING_CODE};

/// The validation rows' blocks: as many as instances a job may ever have,
/// few enough that a round's exchange (two f64 a block) costs nothing.
const BLOCKS: usize = 64;

pub struct Holdout {
    /// This instance's rows of the validation table.
    binned: data::Binned,
    /// Class code or value; NaN where unknown.
    y: Vec<f64>,
    /// Raw scores, class-major.
    scores: Vec<f64>,
    /// The scores at the best round so far, for the final figures.
    best: Vec<f64>,
    /// This instance's blocks, as row ranges of its own rows.
    blocks: Vec<Range<usize>>,
    /// The index of this instance's first block.
    first_block: usize,
    /// Rows with a known target, over every instance.
    known: usize,
    /// The known targets' squared deviations from their mean (R²'s denominator).
    total_squares: f64,
}

/// Figures of the current scores over every instance's validation rows.
pub struct Scored {
    pub loss: f64,
    /// Accuracy, or R².
    pub metric: Option<f64>,
}

impl Holdout {
    pub fn new(table: &LabelledTable, train: &Prepared, init: &[f64], team: &dyn Team) -> Result<Holdout, TrainError> {
        let bad = |e: String| TrainError::InvalidData(format!("validation table: {e}"));
        let n = table.features.rows as usize;
        // In u64: n × 64 overflows a wasm32 usize above 67M rows.
        let row_of = |block: usize| (n as u64 * block as u64 / BLOCKS as u64) as usize;
        let (k, rank) = (team.size(), team.rank());
        let (first_block, end_block) = (BLOCKS * rank / k, BLOCKS * (rank + 1) / k);
        let mine = row_of(first_block)..row_of(end_block);
        let binned = data::bin_other(&table.features, mine.clone(), &train.names, &train.binned.features).map_err(bad)?;
        let y = targets(table, train, mine.clone()).map_err(bad)?;
        let blocks = (first_block..end_block).map(|b| row_of(b) - mine.start..row_of(b + 1) - mine.start).collect();
        let rows = binned.rows;
        let scores = init.iter().flat_map(|&s| std::iter::repeat_n(s, rows)).collect();
        let mut holdout = Holdout { binned, y, best: Vec::new(), scores, blocks, first_block, known: 0, total_squares: 0.0 };
        holdout.count_known(team).map_err(TrainError::Failed)?;
        Ok(holdout)
    }

    /// How many targets are known over every instance, and for R² their squared deviations.
    fn count_known(&mut self, team: &dyn Team) -> Result<(), String> {
        let y = &self.y;
        let [known, sum] = self.add_up(team, "the validation rows", |rows| {
            let known: Vec<f64> = y[rows].iter().copied().filter(|t| !t.is_nan()).collect();
            [known.len() as f64, known.iter().sum()]
        })?;
        self.known = known as usize;
        let mean = sum / known.max(1.0);
        let [squares, _] = self.add_up(team, "the validation rows", |rows| [y[rows].iter().filter(|t| !t.is_nan()).map(|t| (t - mean).powi(2)).sum(), 0.0])?;
        self.total_squares = squares;
        Ok(())
    }

    /// Two figures summed block by block over every instance's validation
    /// rows: `of(block's rows)` for this instance's blocks, the blocks' sums
    /// added in block order.
    fn add_up(&self, team: &dyn Team, what: &str, of: impl Fn(Range<usize>) -> [f64; 2]) -> Result<[f64; 2], String> {
        let mut per_block = vec![0.0; 2 * BLOCKS];
        for (i, rows) in self.blocks.iter().enumerate() {
            let b = self.first_block + i;
            per_block[2 * b..2 * b + 2].copy_from_slice(&of(rows.clone()));
        }
        let per_block =
            if team.size() == 1 { per_block } else { team.sum(&per_block, &[]).map_err(|e| format!("the job's instances could not agree on {what}: {e}"))?.0 };
        Ok(per_block.chunks_exact(2).fold([0.0, 0.0], |acc, b| [acc[0] + b[0], acc[1] + b[1]]))
    }

    /// Adds one tree of output `class`.
    pub fn add(&mut self, tree: &BinTree, class: usize) {
        let rows = self.binned.rows;
        for (r, s) in self.scores[class * rows..(class + 1) * rows].iter_mut().enumerate() {
            *s += tree.values[tree.leaf_of(&self.binned, r)];
        }
    }

    /// Remembers the current scores as the best round's.
    pub fn keep_best(&mut self) {
        self.best.clone_from(&self.scores);
    }

    /// Goes back to the best round's scores (the model was cut there).
    pub fn restore_best(&mut self) {
        if !self.best.is_empty() {
            std::mem::swap(&mut self.scores, &mut self.best);
        }
    }

    /// The mean loss and the task's headline figure (accuracy, or R²) of the current scores.
    pub fn score(&self, team: &dyn Team, objective: Objective, classification: bool) -> Result<Scored, String> {
        let (scores, y) = (&self.scores, &self.y);
        let [loss, second] = self.add_up(team, "the validation loss", |rows| {
            let (loss, _) = objective.loss_sum(scores, y, rows.clone());
            let second = if classification { eval::hits(objective, scores, y, rows).0 as f64 } else { eval::squared_residuals(objective, scores, y, rows) };
            [loss, second]
        })?;
        let known = self.known as f64;
        let metric = match classification {
            true => (self.known > 0).then(|| second / known),
            false => (self.known >= 2 && self.total_squares > 0.0).then(|| 1.0 - second / self.total_squares),
        };
        Ok(Scored { loss: loss / known.max(1.0), metric })
    }

    /// The area under the ROC curve of binary scores over every instance's
    /// rows, computed on rank 0 (in row order) and shared.
    pub fn auc(&self, team: &dyn Team) -> Result<Option<f64>, String> {
        let pairs = self.scores.iter().zip(&self.y).flat_map(|(&s, &t)| [s, t]).collect();
        let answer = shard::on_all_rows(team, "the validation AUC", pairs, |all| {
            let (scores, y): (Vec<f64>, Vec<f64>) = all.chunks_exact(2).map(|p| (p[0], p[1])).unzip();
            eval::auc(&scores, &y).into_iter().collect()
        })?;
        Ok(answer.first().copied())
    }
}

/// The class codes (in the training classes) or values of `rows` of the table's target.
fn targets(table: &LabelledTable, train: &Prepared, rows: Range<usize>) -> Result<Vec<f64>, String> {
    let whole = table.features.rows as usize;
    let short = "the target and the features differ in length";
    let y: Vec<f64> = match (table.target.as_ref(), train.classes.is_empty()) {
        (Some(ColumnData::Categorical(c)), false) => {
            let map = level_map(&train.classes, &c.levels);
            let codes = c.codes.get(rows).filter(|_| c.codes.len() == whole).ok_or(short)?;
            codes.iter().map(|&k| map.get(k as usize).copied().filter(|&m| m != MISSING_CODE).map_or(f64::NAN, f64::from)).collect()
        }
        (Some(ColumnData::Numeric(v)), true) => {
            v.get(rows).filter(|_| v.len() == whole).ok_or(short)?.iter().map(|&x| if x.is_finite() { x } else { f64::NAN }).collect()
        }
        _ => return Err("its target is not of the training target's kind".into()),
    };
    Ok(y)
}
