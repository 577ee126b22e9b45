//! The trained model as stored: a versioned little-endian binary of flat
//! arrays, its loader (which checks every index before anything is
//! predicted), and prediction from it.
//!
//! Layout (integers little-endian, str = u32 byte length + UTF-8):
//! ```text
//! "TGB1" | version u16 = 1 | objective u8 | 0u8
//! n_features u32 | per feature: name str, kind u8 (0 numeric, 1 categorical),
//!                   categorical: n_levels u32, n_levels × str
//! n_classes u32 | n_classes × str     (class labels; 0 for regression)
//! n_outputs u32 | init f64[n_outputs] (starting raw score of each output)
//! n_trees u32   | tree t adds to output t % n_outputs; per tree:
//!     n_nodes u16, n_words u32
//!     feature u16[n_nodes]
//!     flags   u8[n_nodes]   (bit 0: missing goes left, bit 1: categorical split)
//!     thr     f32[n_nodes]  (numeric: left if x <= thr; categorical: the bits
//!                            of the offset of its level bitset in `words`)
//!     left    u16[n_nodes], right u16[n_nodes] (bit 15 set: leaf number, else node)
//!     leaf    f32[n_nodes + 1] (leaf values, shrinkage included)
//!     words   u32[n_words]  (categorical level bitsets: bit set = level goes left)
//! ```
//! A child node always has a larger index than its parent (the loader checks
//! it), so a damaged model can neither loop nor read out of bounds.

use crate::data::FeatureBins;
use crate::objective::Objective;
use crate::tree::{bin_in, BinTree};
use trainhost_sdk::{ClassPredictions, Predictions, Table};

pub const LEAF_BIT: u16 = 0x8000;
pub const MISSING_LEFT: u8 = 1;
pub const CATEGORICAL: u8 = 2;

#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub name: String,
    /// Levels of a categorical feature; None for a numeric one.
    pub levels: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tree {
    pub feature: Vec<u16>,
    pub flags: Vec<u8>,
    pub thr: Vec<f32>,
    pub left: Vec<u16>,
    pub right: Vec<u16>,
    pub leaf: Vec<f32>,
    pub words: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub objective: u8,
    pub classes: Vec<String>,
    pub features: Vec<Feature>,
    pub init: Vec<f64>,
    pub trees: Vec<Tree>,
}

fn child(c: i32) -> u16 {
    if c < 0 {
        LEAF_BIT | (!c) as u16
    } else {
        c as u16
    }
}

impl Tree {
    /// Converts a grown tree's bin splits into value thresholds and level sets.
    pub fn from_grown(t: &BinTree, bins: &[FeatureBins]) -> Tree {
        let mut out = Tree { leaf: t.values.iter().map(|&v| v as f32).collect(), ..Tree::default() };
        for n in &t.nodes {
            let missing = if bin_in(&n.bins, 0) { MISSING_LEFT } else { 0 };
            let (flags, thr) = match &bins[n.feature as usize] {
                FeatureBins::Numeric { edges } => (missing, edges.get(n.threshold as usize - 1).copied().unwrap_or(f32::INFINITY)),
                FeatureBins::Categorical { level_bin, .. } => {
                    let offset = out.words.len();
                    out.words.resize(offset + level_bin.len().div_ceil(32), 0);
                    for (code, &b) in level_bin.iter().enumerate() {
                        if b != 0 && bin_in(&n.bins, b) {
                            out.words[offset + code / 32] |= 1 << (code % 32);
                        }
                    }
                    (CATEGORICAL, f32::from_bits(offset as u32))
                }
            };
            out.feature.push(n.feature as u16);
            out.flags.push(flags);
            out.thr.push(thr);
            out.left.push(child(n.left));
            out.right.push(child(n.right));
        }
        out
    }
}

impl Model {
    pub fn objective(&self) -> Result<Objective, String> {
        let k = self.classes.len();
        Ok(match self.objective {
            0 => Objective::Binary,
            1 => Objective::Multiclass(k),
            2 => Objective::L2,
            3 => Objective::L1,
            4 => Objective::Huber(1.0),
            5 => Objective::Quantile(0.5),
            6 => Objective::Poisson,
            o => return Err(format!("unknown objective code {o}")),
        })
    }

    pub fn predict(&self, table: &Table) -> Result<Predictions, String> {
        let rows = table.rows as usize;
        let objective = self.objective()?;
        let raw = crate::predict::raw_scores(self, table)?;
        let k = self.init.len();
        if self.classes.is_empty() {
            let mut values = raw;
            values.iter_mut().for_each(|v| {
                let mut one = [*v];
                objective.transform(&mut one);
                *v = one[0];
            });
            return Ok(Predictions::Values(values));
        }
        let n_classes = self.classes.len();
        let mut probabilities = Vec::with_capacity(rows * n_classes);
        let mut labels = Vec::with_capacity(rows);
        let mut row = vec![0.0; k];
        let mut probs = vec![0.0; n_classes];
        for r in 0..rows {
            (0..k).for_each(|c| row[c] = raw[c * rows + r]);
            objective.transform(&mut row);
            if k == 1 {
                probs[0] = 1.0 - row[0];
                probs[1] = row[0];
            } else {
                probs.copy_from_slice(&row);
            }
            labels.push((0..probs.len()).fold(0, |b, i| if probs[i] > probs[b] { i } else { b }) as u32);
            probabilities.extend(probs.iter().map(|&p| p as f32));
        }
        Ok(Predictions::Classes(ClassPredictions { labels, probabilities: Some(probabilities), n_classes: n_classes as u32 }))
    }
}
