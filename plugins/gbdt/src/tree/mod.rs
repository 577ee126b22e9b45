//! One regression tree as boosting grows it: splits on bins (a set of bins
//! per node goes left), leaves numbered 0..n in the order they appeared.
//!
//! Children are stored as in LightGBM: an index >= 0 is an internal node, a
//! negative one is `!leaf`. A node is always created after its parent, so
//! children have larger indices. The stored model (`crate::model`) converts
//! bins back to value thresholds and level sets.

mod bin;
mod categorical;
mod grow;
mod histogram;
mod partition;
mod quantise;
mod split;

pub use grow::{GrowInput, Grower};
pub use partition::each_row;
pub use split::{bin_in, leaf_output, BinSet, Sums};

use crate::data::Binned;
use split::Split;

#[derive(Debug, Clone)]
pub struct Node {
    pub feature: u32,
    pub bins: BinSet,
    pub threshold: u8,
    pub left: i32,
    pub right: i32,
    pub gain: f64,
    /// The hessian sum of the training rows the split divides (XGBoost's "cover").
    pub cover: f64,
}

#[derive(Debug, Clone, Default)]
pub struct BinTree {
    pub nodes: Vec<Node>,
    /// Each leaf's value, shrinkage included, once `set_values` has run.
    pub values: Vec<f64>,
    /// Each leaf's sums, from the split that made it.
    pub sums: Vec<Sums>,
    /// The node whose child each leaf is (-1 for the root leaf), and on which side.
    parent: Vec<(i32, bool)>,
}

impl BinTree {
    pub fn new(root: Sums) -> BinTree {
        BinTree { nodes: Vec::new(), values: vec![0.0], sums: vec![root], parent: vec![(-1, false)] }
    }

    pub fn n_leaves(&self) -> usize {
        self.sums.len()
    }

    /// Leaf `leaf` becomes a node whose left child is `leaf` again and right child the new leaf.
    fn split(&mut self, leaf: usize, s: &Split) -> usize {
        let node = self.nodes.len() as i32;
        let new = self.sums.len();
        let (p, was_left) = self.parent[leaf];
        if p >= 0 {
            let parent = &mut self.nodes[p as usize];
            if was_left {
                parent.left = node;
            } else {
                parent.right = node;
            }
        }
        self.nodes.push(Node {
            feature: s.feature,
            bins: s.bins,
            threshold: s.threshold,
            left: !(leaf as i32),
            right: !(new as i32),
            gain: s.gain,
            cover: s.left.h + s.right.h,
        });
        self.sums[leaf] = s.left;
        self.sums.push(s.right);
        self.values.push(0.0);
        self.parent[leaf] = (node, true);
        self.parent.push((node, false));
        new
    }

    /// The leaf row `row` of `binned` falls in.
    #[inline]
    pub fn leaf_of(&self, binned: &Binned, row: usize) -> usize {
        if self.nodes.is_empty() {
            return 0;
        }
        let mut i = 0usize;
        loop {
            let n = &self.nodes[i];
            let b = binned.bins[n.feature as usize * binned.rows + row];
            let next = if bin_in(&n.bins, b) { n.left } else { n.right };
            if next < 0 {
                return !next as usize;
            }
            i = next as usize;
        }
    }
}
