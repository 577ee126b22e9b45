//! Growing a tree: the stack of nodes still to grow (depth first), the
//! stopping rules, the random choice of the features a node examines, and
//! applying a split (partitioning the node's rows, its presorted keys and
//! its histograms between the children). Every buffer is the builder's and is
//! reused from node to node and tree to tree: no node allocates.
//!
//! Owns the order in which nodes and features are visited (which the model
//! bytes depend on: the random draws must stay in that order); must not
//! compute statistics or scores itself.

use super::bin_stats::{BinBuffers, BinStats};
use super::context::{DataView, Limits};
use super::feature_scan::{FeatureScan, NodeSource};
use super::histogram::{Histograms, NodeHistograms};
use super::partition::partition_rows;
use super::presort::Presorted;
use super::rows::{NodeRows, TreeRows};
use super::split::SplitSearch;
use super::TrainTree;
use crate::data::{Binned, Target};
use crate::params::{Criterion, Settings};
use crate::rng::Rng;

/// A node waiting to be grown: its rows are `start..end` of the tree's samples.
struct OpenNode {
    start: usize,
    end: usize,
    depth: usize,
    /// Its index in the tree.
    id: usize,
    /// Every feature's histograms over its rows (histogram mode).
    hist: Option<NodeHistograms>,
    /// Its rows' keys are presorted (presorted mode).
    sorted: bool,
}

/// Nodes still to grow, last in first out, with their totals in one flat
/// array (so that pushing a node allocates nothing once it has grown).
struct Frontier {
    nodes: Vec<OpenNode>,
    totals: Vec<f64>,
    width: usize,
}

impl Frontier {
    fn push(&mut self, node: OpenNode, totals: impl IntoIterator<Item = f64>) {
        self.totals.extend(totals);
        self.nodes.push(node);
    }

    /// The last node pushed, its totals copied to `totals`.
    fn pop(&mut self, totals: &mut [f64]) -> Option<OpenNode> {
        let node = self.nodes.pop()?;
        let base = self.totals.len() - self.width;
        totals.copy_from_slice(&self.totals[base..]);
        self.totals.truncate(base);
        Some(node)
    }
}

/// The features in the order the last node drew them: each node draws its
/// own by continuing a Fisher-Yates shuffle from that order, stopped as soon
/// as it has examined enough. Each tree starts again from 0, 1, 2, ...
struct FeatureDraw {
    order: Vec<usize>,
}

impl FeatureDraw {
    /// The `j`th feature of this node's order (`j` counting up from 0).
    fn draw(&mut self, j: usize, rng: &mut Rng) -> usize {
        let pick = j + rng.below(self.order.len() - j);
        self.order.swap(j, pick);
        self.order[j]
    }
}

pub struct Builder<'a> {
    data: DataView<'a>,
    limits: Limits,
    rows: TreeRows,
    node_rows: NodeRows,
    search: SplitSearch,
    stats: BinStats,
    buffers: BinBuffers,
    histograms: Histograms,
    presorted: Presorted,
    frontier: Frontier,
    features: FeatureDraw,
    /// Scratch of the stable partitions.
    spill: Vec<u32>,
    tree: TrainTree,
}

impl<'a> Builder<'a> {
    pub fn new(binned: &'a Binned, target: &'a Target, settings: &'a Settings) -> Builder<'a> {
        let data = DataView::new(binned, target);
        let n_features = data.n_features();
        let limits = Limits::new(settings, n_features);
        let width = data.stats_width();
        // Histogram subtraction and presorting pay off when most features are
        // examined at every node (regression's default).
        let wide_regression = data.n_classes == 0 && 2 * limits.mtry >= n_features;
        Builder {
            rows: TreeRows::new(&data, settings),
            node_rows: NodeRows::default(),
            search: SplitSearch::new(settings.criterion, settings.min_samples_leaf, width),
            stats: BinStats::default(),
            buffers: BinBuffers::new(width),
            histograms: Histograms::new(binned, wide_regression),
            presorted: Presorted::new(wide_regression && binned.rows < 1 << 24),
            frontier: Frontier { nodes: Vec::new(), totals: Vec::new(), width },
            features: FeatureDraw { order: (0..n_features).collect() },
            spill: Vec::new(),
            tree: TrainTree::new(n_features),
            data,
            limits,
        }
    }

    /// Grows a tree on the rows with a positive count (their bootstrap multiplicity).
    /// The tree's buffers are the builder's, reused from tree to tree.
    pub fn grow(&mut self, counts: &[u32], rng: &mut Rng) -> &TrainTree {
        self.rows.load(counts, self.data.target);
        self.presorted.load(&self.rows, self.data.n_features());
        // Every tree starts from the same feature order, so tree t depends only
        // on the seed and t: the instances of a job can grow any share of the trees.
        self.features.order.iter_mut().enumerate().for_each(|(i, f)| *f = i);
        let mut tree = std::mem::replace(&mut self.tree, TrainTree::new(0));
        tree.clear();
        self.push_root(&mut tree);
        let mut totals = vec![0.0; self.frontier.width];
        while let Some(mut node) = self.frontier.pop(&mut totals) {
            tree.depth = tree.depth.max(node.depth);
            if !self.splittable(&node, &totals) || !self.find_split(&mut node, &totals, rng) {
                tree.make_leaf(node.id, &totals, self.data.n_classes);
                if let Some(h) = node.hist.take() {
                    self.histograms.release(h);
                }
                continue;
            }
            self.split(&mut tree, node, &totals);
        }
        self.tree = tree;
        &self.tree
    }

    fn push_root(&mut self, tree: &mut TrainTree) {
        let mut totals = vec![0.0; self.frontier.width];
        self.rows.totals(self.data.target, &self.rows.samples, &mut totals);
        let hist = self.histograms.root(self.data.binned, &self.rows);
        let root = OpenNode { start: 0, end: self.rows.samples.len(), depth: 0, id: tree.push_node(), hist, sorted: false };
        self.frontier.push(root, totals);
    }

    /// The stopping rules: depth, sample counts, and a pure node.
    #[inline(never)]
    fn splittable(&self, node: &OpenNode, totals: &[f64]) -> bool {
        if !self.limits.allows_split(node.end - node.start, node.depth) {
            return false;
        }
        match self.data.target {
            Target::Classes { .. } => totals[2..].iter().filter(|&&c| c > 0.0).count() > 1,
            Target::Values(y) => {
                let rows = &self.rows.samples[node.start..node.end];
                let first = y[rows[0] as usize];
                rows.iter().any(|&i| y[i as usize] != first)
            }
        }
    }

    /// Examines features in random order until `mtry` non-constant ones have
    /// been scanned (constant ones do not count, as in scikit-learn).
    fn find_split(&mut self, node: &mut OpenNode, totals: &[f64], rng: &mut Rng) -> bool {
        self.search.reset();
        let idx = &self.rows.samples[node.start..node.end];
        self.node_rows.gather(&self.data, &self.rows, idx, self.presorted.is_enabled());
        // A split whose children are both pure cannot be beaten, only tied
        // (and ties keep the first): stop looking. Most nodes of a deep tree end this way.
        let perfect = self.perfect_score(idx, totals);
        let good_enough = perfect - 1e-10 * perfect.abs().max(1.0);
        if self.presorted.is_enabled() && node.hist.is_none() && !node.sorted {
            self.presorted.enter(self.data.binned, &self.rows.samples, node.start, node.end);
            node.sorted = true;
        }
        let source = match &node.hist {
            _ if node.sorted => NodeSource::Presorted { presorted: &self.presorted, start: node.start, end: node.end },
            Some(hist) => NodeSource::Histograms { hist, histograms: &self.histograms },
            None => NodeSource::Rows { idx, node_rows: &self.node_rows, packed: self.rows.is_packed() },
        };
        let mut scan = FeatureScan { data: &self.data, source, totals, search: &mut self.search, stats: &mut self.stats, buffers: &mut self.buffers };
        let mut examined = 0;
        for j in 0..self.data.n_features() {
            if examined >= self.limits.mtry || scan.search.best.score >= good_enough {
                break;
            }
            let f = self.features.draw(j, rng);
            examined += usize::from(scan.feature(f));
        }
        self.search.found()
    }

    /// The score of a split whose two children are pure: the best possible.
    fn perfect_score(&self, idx: &[u32], totals: &[f64]) -> f64 {
        let entropy = self.search.criterion == Criterion::Entropy;
        match self.data.target {
            // Pure sides: sum c^2/w = w (gini); sum c ln c - w ln w = 0 (entropy).
            Target::Classes { .. } if entropy => 0.0,
            Target::Classes { .. } if self.rows.is_packed() => totals[1],
            Target::Classes { .. } => self.node_rows.w.iter().sum(),
            // Sides of constant target: s^2/w = sum w y^2.
            Target::Values(_) if self.presorted.is_enabled() => self.presorted.pure_score(idx),
            Target::Values(_) => self.node_rows.wy.iter().zip(&self.node_rows.w).map(|(wy, w)| wy * wy / w).sum(),
        }
    }

    /// Applies the best split: partitions the node's rows (and its presorted
    /// keys and histograms) and pushes its children.
    fn split(&mut self, tree: &mut TrainTree, mut node: OpenNode, totals: &[f64]) {
        let f = self.search.best.feature;
        let bits = self.search.best_bits();
        let (start, end) = (node.start, node.end);
        let mid = start + partition_rows(&mut self.rows.samples[start..end], self.data.col(f), &bits, &mut self.spill);
        let (left_hist, right_hist) = self.histograms.children(self.data.binned, &self.rows, node.hist.take(), (start, mid, end));
        // Children that are leaves whatever their samples need no sorted keys.
        let child_depth = node.depth + 1;
        if node.sorted && (self.limits.allows_split(mid - start, child_depth) || self.limits.allows_split(end - mid, child_depth)) {
            self.presorted.partition((start, end), f, &bits, self.data.n_features(), &mut self.spill);
        }
        let best = &self.search.best;
        let left = tree.make_split(node.id, f, bits, best.thr);
        tree.importance[f] += best.score - self.search.side(totals);
        // Right first so the left child is grown next (depth first, small stack).
        let right_node = OpenNode { start: mid, end, depth: child_depth, id: left + 1, hist: right_hist, sorted: node.sorted };
        self.frontier.push(right_node, totals.iter().zip(&best.left).map(|(t, l)| t - l));
        let left_node = OpenNode { start, end: mid, depth: child_depth, id: left, hist: left_hist, sorted: node.sorted };
        self.frontier.push(left_node, best.left.iter().copied());
    }
}
