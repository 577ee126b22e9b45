//! Leaf-wise growth (LightGBM's best-first): every leaf keeps its best split;
//! the leaf with the largest gain is split next, until `numLeaves` leaves or
//! no split gains. Of two new children only the smaller's histogram is
//! accumulated from rows; the larger's is its parent's minus the smaller's.
//!
//! Owns the per-tree working state (row partition, histogram pool, leaf
//! states), all reused from tree to tree. Must not touch scores or
//! gradients: boosting hands them in and reads the grown tree back.

use super::categorical::best_categorical;
use super::histogram::HistPool;
use super::partition::Partition;
use super::split::{best_numeric, Split, Sums};
use super::BinTree;
use crate::data::Binned;
use crate::params::TreeSettings;

/// What one tree is grown from.
pub struct GrowInput<'a> {
    pub binned: &'a Binned,
    /// This tree's gradient and hessian of every training row.
    pub gh: &'a [[f32; 2]],
    /// The rows of this round's bag (sorted), or None for all rows.
    pub bag: Option<&'a [u32]>,
    /// The features this tree may split on (ascending).
    pub features: &'a [u32],
    pub settings: &'a TreeSettings,
}

#[derive(Clone, Copy)]
struct LeafState {
    depth: usize,
    best: Split,
    slot: Option<usize>,
}

pub struct Grower {
    part: Partition,
    pool: HistPool,
    leaves: Vec<LeafState>,
    n_bins: Vec<usize>,
    categorical: Vec<bool>,
    cat_order: Vec<(f64, u8)>,
}

impl Grower {
    pub fn new(binned: &Binned, settings: &TreeSettings) -> Grower {
        Grower {
            part: Partition::default(),
            pool: HistPool::new(binned.features.len(), settings.num_leaves),
            leaves: Vec::new(),
            n_bins: binned.features.iter().map(|f| f.n_bins()).collect(),
            categorical: binned.features.iter().map(|f| f.is_categorical()).collect(),
            cat_order: Vec::new(),
        }
    }

    /// The rows of a leaf of the tree grown last.
    pub fn leaf_rows(&self, leaf: usize) -> &[u32] {
        self.part.rows(leaf)
    }

    pub fn grow(&mut self, input: &GrowInput) -> BinTree {
        self.part.reset(input.binned.rows, input.bag);
        self.pool.release_all();
        self.leaves.clear();
        let rows = self.part.rows(0);
        let mut root = Sums { g: 0.0, h: 0.0, n: rows.len() as f64 };
        for &r in rows {
            let p = input.gh[r as usize];
            root.g += f64::from(p[0]);
            root.h += f64::from(p[1]);
        }
        let mut tree = BinTree::new(root);
        self.leaves.push(LeafState { depth: 0, best: Split::NONE, slot: None });
        if self.splittable(0, &tree, input.settings) {
            let slot = self.pool.acquire().expect("the pool has at least three slots");
            let rows = self.part.rows(0);
            self.pool.build(slot, input.binned, input.features, rows, input.gh, input.bag.is_none());
            self.leaves[0].slot = Some(slot);
            self.find_best(0, &tree, input);
        }
        while tree.n_leaves() < input.settings.num_leaves {
            let Some(leaf) = self.next_leaf() else { break };
            self.split(leaf, &mut tree, input);
        }
        tree
    }

    /// The leaf whose best split gains most (the first at a tie).
    fn next_leaf(&self) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, l) in self.leaves.iter().enumerate() {
            if l.best.is_some() && best.is_none_or(|b| l.best.gain > self.leaves[b].best.gain) {
                best = Some(i);
            }
        }
        best
    }

    fn splittable(&self, leaf: usize, tree: &BinTree, s: &TreeSettings) -> bool {
        let sums = tree.sums[leaf];
        self.leaves[leaf].depth < s.max_depth && sums.n >= (2.0 * s.min_data_in_leaf).max(2.0) && sums.h >= 2.0 * s.min_sum_hessian
    }

    fn split(&mut self, leaf: usize, tree: &mut BinTree, input: &GrowInput) {
        let best = self.leaves[leaf].best;
        let col = input.binned.col(best.feature as usize);
        let new = tree.n_leaves();
        let went_left = self.part.split(leaf, new, col, &best.bins);
        tree.split(leaf, &best);
        // Exact row counts replace the estimates the split was chosen with.
        tree.sums[leaf].n = went_left as f64;
        tree.sums[new].n = self.part.rows(new).len() as f64;
        let depth = self.leaves[leaf].depth + 1;
        let parent_slot = self.leaves[leaf].slot.take();
        self.leaves[leaf] = LeafState { depth, best: Split::NONE, slot: None };
        self.leaves.push(LeafState { depth, best: Split::NONE, slot: None });
        let ok = [self.splittable(leaf, tree, input.settings), self.splittable(new, tree, input.settings)];
        if !ok[0] && !ok[1] {
            parent_slot.into_iter().for_each(|s| self.pool.release(s));
            return;
        }
        let (small, large) = if went_left <= self.part.rows(new).len() { (leaf, new) } else { (new, leaf) };
        self.histograms(small, large, parent_slot, input);
        for (child, ok) in [(leaf, ok[0]), (new, ok[1])] {
            if ok {
                self.find_best(child, tree, input);
            } else if let Some(s) = self.leaves[child].slot.take() {
                self.pool.release(s);
            }
        }
    }

    /// Gives both children a histogram: the smaller built from its rows, the
    /// larger by subtraction when the parent still has its own.
    fn histograms(&mut self, small: usize, large: usize, parent_slot: Option<usize>, input: &GrowInput) {
        let small_slot = self.slot(usize::MAX);
        let rows = self.part.rows(small);
        self.pool.build(small_slot, input.binned, input.features, rows, input.gh, false);
        self.leaves[small].slot = Some(small_slot);
        let large_slot = match parent_slot {
            Some(p) => {
                self.pool.subtract(p, small_slot, input.features);
                p
            }
            None => {
                let s = self.slot(small);
                let rows = self.part.rows(large);
                self.pool.build(s, input.binned, input.features, rows, input.gh, false);
                s
            }
        };
        self.leaves[large].slot = Some(large_slot);
    }

    /// A free histogram slot, taken from the leaf least likely to be split
    /// soon when the pool's budget is spent.
    fn slot(&mut self, keep: usize) -> usize {
        if let Some(s) = self.pool.acquire() {
            return s;
        }
        let victim = (0..self.leaves.len())
            .filter(|&i| i != keep && self.leaves[i].slot.is_some())
            .min_by(|&a, &b| self.leaves[a].best.gain.total_cmp(&self.leaves[b].best.gain))
            .expect("a full pool has a leaf holding a slot");
        self.leaves[victim].slot.take().expect("the victim holds a slot")
    }

    fn find_best(&mut self, leaf: usize, tree: &BinTree, input: &GrowInput) {
        let Some(slot) = self.leaves[leaf].slot else { return };
        let total = tree.sums[leaf];
        let mut best = Split::NONE;
        for &f in input.features {
            let hist = self.pool.feature(slot, f as usize, self.n_bins[f as usize]);
            if self.categorical[f as usize] {
                best_categorical(hist, total, input.settings, f, &mut self.cat_order, &mut best);
            } else {
                best_numeric(hist, total, input.settings, f, &mut best);
            }
        }
        self.leaves[leaf].best = best;
    }
}
