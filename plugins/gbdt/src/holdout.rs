//! The validation table the host hands the plugin: binned with the training
//! bins, its raw scores kept up to date tree by tree, and the figures early
//! stopping and progress reports read from it (loss and the task's metric).

use crate::data::{self, level_map, Prepared};
use crate::eval;
use crate::objective::Objective;
use crate::tree::BinTree;
use trainhost_sdk::{ColumnData, LabelledTable, TrainError, MISSING_CODE};

pub struct Holdout {
    binned: data::Binned,
    /// Class code or value; NaN where unknown.
    y: Vec<f64>,
    /// Raw scores, class-major.
    scores: Vec<f64>,
    /// The scores at the best round so far, for the final figures.
    best: Vec<f64>,
}

impl Holdout {
    pub fn new(table: &LabelledTable, train: &Prepared, init: &[f64]) -> Result<Holdout, TrainError> {
        let bad = |e: String| TrainError::InvalidData(format!("validation table: {e}"));
        let binned = data::bin_other(&table.features, &train.names, &train.binned.features).map_err(bad)?;
        let y: Vec<f64> = match (table.target.as_ref(), train.classes.is_empty()) {
            (Some(ColumnData::Categorical(c)), false) => {
                let map = level_map(&train.classes, &c.levels);
                c.codes.iter().map(|&k| map.get(k as usize).copied().filter(|&m| m != MISSING_CODE).map_or(f64::NAN, f64::from)).collect()
            }
            (Some(ColumnData::Numeric(v)), true) => v.iter().map(|&x| if x.is_finite() { x } else { f64::NAN }).collect(),
            _ => return Err(bad("its target is not of the training target's kind".into())),
        };
        if y.len() != binned.rows {
            return Err(bad("the target and the features differ in length".into()));
        }
        let rows = binned.rows;
        let scores = init.iter().flat_map(|&s| std::iter::repeat_n(s, rows)).collect();
        Ok(Holdout { binned, y, best: Vec::new(), scores })
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

    pub fn loss(&self, objective: Objective) -> f64 {
        objective.loss(&self.scores, &self.y)
    }

    /// The task's headline figure: accuracy, or R².
    pub fn metric(&self, objective: Objective, classification: bool) -> Option<f64> {
        if classification {
            eval::accuracy(objective, &self.scores, &self.y)
        } else {
            eval::r2(objective, &self.scores, &self.y)
        }
    }

    pub fn auc(&self) -> Option<f64> {
        eval::auc(&self.scores, &self.y)
    }
}
