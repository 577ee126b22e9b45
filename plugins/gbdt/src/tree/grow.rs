//! Leaf-wise growth (LightGBM's best-first): every leaf keeps its best split;
//! the leaf with the largest gain is split next, until `numLeaves` leaves or
//! no split gains. Of two new children only the smaller's histogram is
//! accumulated from rows; the larger's is its parent's minus the smaller's.
//!
//! With several instances (contract 0.4.0) each holds a shard of the rows:
//! the row counts and every histogram built from rows are added up over
//! the instances (exact, in fixed point), so every instance grows the tree
//! one instance would grow from all the rows. The root's sums, two counts
//! per split and the histograms built from rows are the only exchanges.
//!
//! Owns the per-tree working state (row partition, histogram pool, leaf
//! states), all reused from tree to tree. Must not touch scores or
//! gradients: boosting hands them in and reads the grown tree back.

use super::bin::Bin;
use super::categorical::best_categorical;
use super::histogram::HistPool;
use super::partition::{each_row, Partition};
use super::quantise::{exponent_bound, Scale, EXPONENT_MAX, EXPONENT_MIN};
use super::split::{best_numeric, Split};
use super::BinTree;
use crate::data::Binned;
use crate::params::TreeSettings;
use crate::shard::add_up;
use trainhost_sdk::team::Team;

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
    /// The job's instances; each holds `binned`'s rows of its shard.
    pub team: &'a dyn Team,
    /// Training rows over all the instances.
    pub total_rows: usize,
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
    /// This tree's units.
    scale: Scale,
    /// Scratch: one feature's bins back in gradient units; a histogram flattened.
    unscaled: Vec<Bin>,
    flat: Vec<i64>,
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
            scale: Scale::default(),
            unscaled: Vec::new(),
            flat: Vec::new(),
        }
    }

    /// The rows of a leaf of the tree grown last.
    pub fn leaf_rows(&self, leaf: usize) -> &[u32] {
        self.part.rows(leaf)
    }

    /// Grows one tree; an error is a failed exchange with the other instances.
    pub fn grow(&mut self, input: &GrowInput) -> Result<BinTree, String> {
        self.part.reset(input.binned.rows, input.bag);
        self.pool.release_all();
        self.leaves.clear();
        self.scale = choose_scale(input)?;
        let rows = self.part.rows(0);
        let (g, h) = sum_in_units(rows, input.gh, &self.scale);
        let root = add_up(input.team, "the root's sums", vec![g, h, rows.len() as i64])?;
        let mut tree = BinTree::new(self.scale.sums(root[0], root[1], root[2]));
        self.leaves.push(LeafState { depth: 0, best: Split::NONE, slot: None });
        if self.splittable(0, &tree, input.settings) {
            let slot = self.pool.acquire().expect("the pool has at least three slots");
            let rows = self.part.rows(0);
            self.pool.build(slot, input.binned, input.features, rows, input.gh, &self.scale, input.bag.is_none());
            self.share(slot, input, &[])?;
            self.leaves[0].slot = Some(slot);
            self.find_best(0, &tree, input);
        }
        while tree.n_leaves() < input.settings.num_leaves {
            let Some(leaf) = self.next_leaf() else { break };
            self.split(leaf, &mut tree, input)?;
        }
        Ok(tree)
    }

    /// A histogram built from this instance's rows becomes the sum of every
    /// instance's; `extra` (this instance's counts) travels in the same call
    /// and comes back summed.
    fn share(&mut self, slot: usize, input: &GrowInput, extra: &[i64]) -> Result<Vec<i64>, String> {
        if input.team.size() == 1 {
            return Ok(extra.to_vec());
        }
        self.pool.export(slot, input.features, &self.n_bins, &mut self.flat);
        self.flat.extend_from_slice(extra);
        let mut total = add_up(input.team, "a histogram", std::mem::take(&mut self.flat))?;
        let summed_extra = total.split_off(total.len() - extra.len());
        self.pool.import(slot, input.features, &self.n_bins, &total);
        self.flat = total;
        Ok(summed_extra)
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

    /// Splits `leaf` by its best split and gives each child that may split
    /// again its histogram and best split.
    ///
    /// The exact row counts of the children (over every instance) replace
    /// the estimates the split was chosen with. When the parent's exact count
    /// and the children's hessians show that at least one child may split
    /// whatever the counts turn out to be, the smaller child by the estimate
    /// is built at once and its counts travel with its histogram: one
    /// exchange a split instead of two. Histograms are exact integer sums, so
    /// which child is built from rows changes only the cost, never the tree.
    fn split(&mut self, leaf: usize, tree: &mut BinTree, input: &GrowInput) -> Result<(), String> {
        let best = self.leaves[leaf].best;
        let parent_rows = tree.sums[leaf].n;
        let col = input.binned.col(best.feature as usize);
        let new = tree.n_leaves();
        let went_left = self.part.split(leaf, new, col, &best.bins);
        tree.split(leaf, &best);
        let local = [went_left as i64, self.part.rows(new).len() as i64];
        let depth = self.leaves[leaf].depth + 1;
        let parent_slot = self.leaves[leaf].slot.take();
        self.leaves[leaf] = LeafState { depth, best: Split::NONE, slot: None };
        self.leaves.push(LeafState { depth, best: Split::NONE, slot: None });
        let s = input.settings;
        let hessians_allow = |c: usize| tree.sums[c].h >= 2.0 * s.min_sum_hessian;
        // Children of fewer than 4 × minDataInLeaf rows may both be too small to split.
        let one_may_split = depth < s.max_depth && parent_rows >= 4.0 * s.min_data_in_leaf.max(1.0) && hessians_allow(leaf) && hessians_allow(new);
        let (counts, built) = if one_may_split {
            let (small, large) = if best.left.n <= best.right.n { (leaf, new) } else { (new, leaf) };
            let counts = self.build_small(small, input, &local)?;
            (counts, Some((small, large)))
        } else {
            (add_up(input.team, "a split's row counts", local.to_vec())?, None)
        };
        tree.sums[leaf].n = counts[0] as f64;
        tree.sums[new].n = counts[1] as f64;
        let ok = [self.splittable(leaf, tree, s), self.splittable(new, tree, s)];
        if !ok[0] && !ok[1] {
            let held = [parent_slot, self.leaves[leaf].slot.take(), self.leaves[new].slot.take()];
            held.into_iter().flatten().for_each(|p| self.pool.release(p));
            return Ok(());
        }
        let (small, large) = match built {
            Some(pair) => pair,
            None => {
                let pair = if counts[0] <= counts[1] { (leaf, new) } else { (new, leaf) };
                self.build_small(pair.0, input, &[])?;
                pair
            }
        };
        self.build_large(small, large, parent_slot, input)?;
        for (child, ok) in [(leaf, ok[0]), (new, ok[1])] {
            if ok {
                self.find_best(child, tree, input);
            } else if let Some(slot) = self.leaves[child].slot.take() {
                self.pool.release(slot);
            }
        }
        Ok(())
    }

    /// Builds the smaller child's histogram from its rows and shares it;
    /// returns `counts` summed over the instances, exchanged with it.
    fn build_small(&mut self, small: usize, input: &GrowInput, counts: &[i64]) -> Result<Vec<i64>, String> {
        let small_slot = self.slot(usize::MAX);
        let rows = self.part.rows(small);
        self.pool.build(small_slot, input.binned, input.features, rows, input.gh, &self.scale, false);
        self.leaves[small].slot = Some(small_slot);
        self.share(small_slot, input, counts)
    }

    /// Gives the larger child a histogram: its parent's minus the smaller's
    /// when the parent still has its own, else built from its rows.
    fn build_large(&mut self, small: usize, large: usize, parent_slot: Option<usize>, input: &GrowInput) -> Result<(), String> {
        let small_slot = self.leaves[small].slot.expect("the smaller child's histogram was built");
        let large_slot = match parent_slot {
            Some(p) => {
                self.pool.subtract(p, small_slot, input.features);
                p
            }
            None => {
                let s = self.slot(small);
                let rows = self.part.rows(large);
                self.pool.build(s, input.binned, input.features, rows, input.gh, &self.scale, false);
                self.share(s, input, &[])?;
                s
            }
        };
        self.leaves[large].slot = Some(large_slot);
        Ok(())
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
            let scale = self.scale;
            self.unscaled.clear();
            self.unscaled.extend(self.pool.feature(slot, f as usize, self.n_bins[f as usize]).iter().map(|&q| scale.bin(q)));
            if self.categorical[f as usize] {
                best_categorical(&self.unscaled, total, input.settings, f, &mut self.cat_order, &mut best);
            } else {
                best_numeric(&self.unscaled, total, input.settings, f, &mut best);
            }
        }
        self.leaves[leaf].best = best;
    }
}

/// The summed gradients and hessians of `rows` in `scale`'s units (wrapping:
/// the scale keeps every true sum in range).
fn sum_in_units(rows: &[u32], gh: &[[f32; 2]], scale: &Scale) -> (i64, i64) {
    let (mut g, mut h) = (0i64, 0i64);
    each_row(rows, |r| {
        let p = scale.pair(gh[r as usize]);
        (g, h) = (g.wrapping_add(p.g()), h.wrapping_add(p.h()));
    });
    (g, h)
}

/// This tree's units, from the largest gradient and hessian over every
/// instance's rows: each instance marks the exponent bound of its own, and
/// the sum of the marks shows the largest.
fn choose_scale(input: &GrowInput) -> Result<Scale, String> {
    let g_exp = exponent_bound(input.gh.iter().map(|p| p[0]));
    let h_exp = exponent_bound(input.gh.iter().map(|p| p[1]));
    if input.team.size() == 1 {
        return Ok(Scale::new(g_exp, h_exp, input.total_rows));
    }
    let width = (EXPONENT_MAX - EXPONENT_MIN + 1) as usize;
    let mut marks = vec![0i64; 2 * width];
    marks[(g_exp - EXPONENT_MIN) as usize] = 1;
    marks[width + (h_exp - EXPONENT_MIN) as usize] = 1;
    let marks = add_up(input.team, "the gradients' range", marks)?;
    let highest = |part: &[i64]| part.iter().rposition(|&m| m > 0).map_or(EXPONENT_MIN, |i| i as i32 + EXPONENT_MIN);
    Ok(Scale::new(highest(&marks[..width]), highest(&marks[width..]), input.total_rows))
}
