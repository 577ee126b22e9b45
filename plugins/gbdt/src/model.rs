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

use crate::data::{level_map, FeatureBins};
use crate::objective::Objective;
use crate::tree::{bin_in, BinTree};
use trainhost_sdk::{ClassPredictions, ColumnData, Predictions, Table, MISSING_CODE};

const LEAF_BIT: u16 = 0x8000;
const MISSING_LEFT: u8 = 1;
const CATEGORICAL: u8 = 2;

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

    /// The nodes packed one record each, for prediction: one bounds check
    /// and one cache line per visited node instead of six arrays.
    fn packed(&self) -> Vec<Packed> {
        (0..self.feature.len())
            .map(|i| Packed { thr: self.thr[i], feature: self.feature[i], flags: self.flags[i], left: self.left[i], right: self.right[i] })
            .collect()
    }

    /// The value of the leaf a row falls in. `x` is the row's features as
    /// f32, categorical codes (renumbered to the training levels) as bits.
    #[inline]
    fn value(&self, nodes: &[Packed], x: &[f32], n_levels: &[u32]) -> f32 {
        if nodes.is_empty() {
            return self.leaf[0];
        }
        let mut i = 0usize;
        loop {
            let n = &nodes[i];
            let v = x[n.feature as usize];
            let left = if n.flags & CATEGORICAL == 0 {
                v <= n.thr || (v.is_nan() && n.flags & MISSING_LEFT != 0)
            } else {
                let code = v.to_bits();
                code < n_levels[n.feature as usize] && (self.words[(n.thr.to_bits() + code / 32) as usize] >> (code % 32)) & 1 == 1
            };
            let next = if left { n.left } else { n.right };
            if next & LEAF_BIT != 0 {
                return self.leaf[(next & !LEAF_BIT) as usize];
            }
            i = next as usize;
        }
    }
}

/// One node as prediction reads it.
struct Packed {
    thr: f32,
    feature: u16,
    flags: u8,
    left: u16,
    right: u16,
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

    /// Raw scores (class-major) of every row: the starting scores plus every
    /// tree. Row by row over row-major features, so a row's values stay in
    /// cache while every tree reads them.
    fn raw(&self, table: &Table) -> Result<Vec<f64>, String> {
        let rows = table.rows as usize;
        let x = self.rows(table)?;
        let width = self.features.len().max(1);
        let n_levels: Vec<u32> = self.features.iter().map(|f| f.levels.as_ref().map_or(0, |l| l.len() as u32)).collect();
        let k = self.init.len();
        let mut raw = vec![0.0f64; rows * k];
        let mut sums = vec![0.0f64; k];
        let packed: Vec<Vec<Packed>> = self.trees.iter().map(Tree::packed).collect();
        for r in 0..rows {
            let row = &x[r * width..(r + 1) * width];
            sums.copy_from_slice(&self.init);
            for (t, (tree, nodes)) in self.trees.iter().zip(&packed).enumerate() {
                sums[t % k] += f64::from(tree.value(nodes, row, &n_levels));
            }
            (0..k).for_each(|c| raw[c * rows + r] = sums[c]);
        }
        Ok(raw)
    }

    pub fn predict(&self, table: &Table) -> Result<Predictions, String> {
        let rows = table.rows as usize;
        let objective = self.objective()?;
        let raw = self.raw(table)?;
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
        for r in 0..rows {
            (0..k).for_each(|c| row[c] = raw[c * rows + r]);
            objective.transform(&mut row);
            let probs: Vec<f64> = if k == 1 { vec![1.0 - row[0], row[0]] } else { row.clone() };
            labels.push((0..probs.len()).fold(0, |b, i| if probs[i] > probs[b] { i } else { b }) as u32);
            probabilities.extend(probs.iter().map(|&p| p as f32));
        }
        Ok(Predictions::Classes(ClassPredictions { labels, probabilities: Some(probabilities), n_classes: n_classes as u32 }))
    }

    /// The table's columns for this model's features, matched by name, as one
    /// row-major f32 matrix (categorical codes renumbered to the training
    /// levels by name, stored as bits).
    fn rows(&self, table: &Table) -> Result<Vec<f32>, String> {
        let rows = table.rows as usize;
        let width = self.features.len().max(1);
        let mut x = vec![0f32; rows * width];
        for (f, feature) in self.features.iter().enumerate() {
            let column = table
                .columns
                .iter()
                .find(|c| c.name == feature.name)
                .ok_or_else(|| format!("column {:?} is missing; the model was trained on it", feature.name))?;
            if column.data.len() != rows {
                return Err(format!("column {:?} has {} values but the table {rows} rows", column.name, column.data.len()));
            }
            let cells = x.iter_mut().skip(f).step_by(width);
            match (&column.data, &feature.levels) {
                (ColumnData::Numeric(v), None) => cells.zip(v).for_each(|(o, &v)| *o = v as f32),
                (ColumnData::Categorical(c), Some(levels)) => {
                    let map = level_map(levels, &c.levels);
                    for (o, &code) in cells.zip(&c.codes) {
                        *o = f32::from_bits(map.get(code as usize).copied().unwrap_or(MISSING_CODE));
                    }
                }
                (ColumnData::Numeric(_), Some(_)) => return Err(format!("column {:?} is numeric but was categorical in training", feature.name)),
                (ColumnData::Categorical(_), None) => return Err(format!("column {:?} is categorical but was numeric in training", feature.name)),
            }
        }
        Ok(x)
    }
}
