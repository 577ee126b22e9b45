//! Split search at one node: the best split found so far, the criterion's
//! gain, and the scans over one feature's `BinStats` on statistic vectors
//! (numeric thresholds with the missing values tried on both sides, and
//! categorical prefixes). The scans on three scalars are `scalar_scan`'s.
//!
//! Owns the search's scratch sums and its result; must not touch the node's
//! rows, the histograms or the tree.

use super::bin_stats::BinStats;
use super::scalar_scan::ScanKind;
use super::{goes_left, numeric_bits, set_bit, BinSet};
use crate::data::MISSING_BIN;
use crate::params::Criterion;

/// The best split so far at a node.
pub struct Best {
    pub score: f64,
    pub feature: usize,
    /// The bins going left, when the split is categorical.
    bits: BinSet,
    pub thr: u8,
    /// Some(missing goes left) when the split is numeric.
    numeric: Option<bool>,
    /// Statistics of the left child.
    pub left: Vec<f64>,
}

pub struct SplitSearch {
    pub criterion: Criterion,
    pub kind: ScanKind,
    pub min_leaf: f64,
    /// Statistics per bin: [samples, weight, class weights... | weighted target sum].
    pub width: usize,
    left: Vec<f64>,
    right: Vec<f64>,
    order: Vec<usize>,
    keys: Vec<f64>,
    pub best: Best,
}

impl SplitSearch {
    pub fn new(criterion: Criterion, min_samples_leaf: usize, width: usize) -> SplitSearch {
        SplitSearch {
            criterion,
            kind: match criterion {
                Criterion::Gini => ScanKind::Gini2,
                Criterion::Entropy => ScanKind::Entropy2,
                Criterion::SquaredError => ScanKind::Squared,
            },
            min_leaf: min_samples_leaf as f64,
            width,
            left: vec![0.0; width],
            right: vec![0.0; width],
            order: Vec::new(),
            keys: Vec::new(),
            best: Best { score: f64::NEG_INFINITY, feature: 0, bits: [0; 4], thr: 0, numeric: None, left: vec![0.0; width] },
        }
    }

    /// Forgets the previous node's best split.
    pub fn reset(&mut self) {
        self.best.score = f64::NEG_INFINITY;
    }

    pub fn found(&self) -> bool {
        self.best.score > f64::NEG_INFINITY
    }

    /// The criterion's proxy for one side: higher is purer. The weighted
    /// impurity decrease of a split is side(L) + side(R) - side(parent).
    #[inline(always)]
    pub fn side(&self, s: &[f64]) -> f64 {
        match self.criterion {
            Criterion::Gini => s[2..].iter().map(|c| c * c).sum::<f64>() / s[1],
            Criterion::Entropy => {
                let w = s[1];
                s[2..].iter().filter(|&&c| c > 0.0).map(|&c| c * c.ln()).sum::<f64>() - w * w.ln()
            }
            Criterion::SquaredError => s[2] * s[2] / s[1],
        }
    }

    /// Sets `right = totals - left` and returns the split's score if it beats the best.
    #[inline(always)]
    fn evaluate(&mut self, totals: &[f64]) -> Option<f64> {
        for ((r, t), l) in self.right.iter_mut().zip(totals).zip(&self.left) {
            *r = t - l;
        }
        if self.left[0] < self.min_leaf || self.right[0] < self.min_leaf {
            return None;
        }
        let score = self.side(&self.left) + self.side(&self.right);
        (score > self.best.score).then_some(score)
    }

    fn record(&mut self, score: f64, feature: usize, bits: BinSet, thr: u8) {
        self.best.score = score;
        self.best.feature = feature;
        self.best.bits = bits;
        self.best.thr = thr;
        self.best.numeric = None;
        self.best.left.copy_from_slice(&self.left);
    }

    /// Numeric splits are frequent improvements: their bin set is built once, at the end.
    #[inline(always)]
    fn record_numeric(&mut self, score: f64, feature: usize, thr: u8, missing_left: bool) {
        self.best.score = score;
        self.best.feature = feature;
        self.best.thr = thr;
        self.best.numeric = Some(missing_left);
        self.best.left.copy_from_slice(&self.left);
    }

    /// Records a scalar scan's best split (left statistics `l` as
    /// (samples, weight, sum)), if it found one, widened to this search's vectors.
    pub(super) fn record_scalar(&mut self, feature: usize, score: f64, found: Option<(u8, bool, [f64; 3])>) {
        if let Some((thr, missing_left, l)) = found {
            match self.width {
                // Two classes: the sum is class 1's weight.
                4 => self.left.copy_from_slice(&[l[0], l[1], l[1] - l[2], l[2]]),
                _ => self.left.copy_from_slice(&l),
            }
            self.record_numeric(score, feature, thr, missing_left);
        }
    }

    /// The best split's bin set.
    pub fn best_bits(&self) -> BinSet {
        match self.best.numeric {
            Some(missing_left) => numeric_bits(self.best.thr, missing_left),
            None => self.best.bits,
        }
    }

    #[inline(always)]
    fn add_bin(&mut self, e: &BinStats, j: usize) {
        let s = &e.stats[j * self.width..(j + 1) * self.width];
        self.left.iter_mut().zip(s).for_each(|(l, v)| *l += v);
    }

    /// Thresholds between consecutive present bins; the missing bin is tried
    /// on both sides, and alone against all values.
    #[inline(never)]
    pub fn numeric(&mut self, f: usize, e: &BinStats, totals: &[f64]) {
        let m = e.bins.len();
        let has_missing = e.bins[0] == MISSING_BIN;
        let first = usize::from(has_missing);
        self.left.fill(0.0);
        for j in first..m {
            self.add_bin(e, j);
            if j + 1 == m {
                if has_missing {
                    if let Some(score) = self.evaluate(totals) {
                        self.record_numeric(score, f, 255, false);
                    }
                }
                break;
            }
            let thr = super::midpoint_bin(e.bins[j], e.bins[j + 1]);
            if let Some(score) = self.evaluate(totals) {
                let missing_left = !has_missing && self.left[0] >= self.right[0];
                self.record_numeric(score, f, thr, missing_left);
            }
            if has_missing {
                self.add_bin(e, 0);
                if let Some(score) = self.evaluate(totals) {
                    self.record_numeric(score, f, thr, true);
                }
                self.left.iter_mut().zip(&e.stats[..self.width]).for_each(|(l, v)| *l -= v);
            }
        }
    }

    /// Categories (missing being one) sorted by mean target, or by the share of
    /// one class, then every prefix of that order is a candidate left set. For
    /// regression and two classes this finds the best partition exactly
    /// (Fisher 1958; Breiman et al. 1984); with more classes each class's order
    /// is tried, as a heuristic.
    pub fn categorical(&mut self, f: usize, n_bins: usize, e: &BinStats, totals: &[f64], n_classes: usize) {
        let orders: std::ops::Range<usize> = match n_classes {
            0 => 0..1,
            2 => 1..2,
            k => 0..k,
        };
        for class in orders {
            if n_classes > 2 && totals[2 + class] == 0.0 {
                continue;
            }
            let col = if n_classes == 0 { 2 } else { 2 + class };
            self.order_bins(e, col);
            self.left.fill(0.0);
            for pos in 0..e.bins.len() - 1 {
                self.add_bin(e, self.order[pos]);
                if let Some(score) = self.evaluate(totals) {
                    let bits = self.category_bits(e, pos, n_bins);
                    self.record(score, f, bits, 0);
                }
            }
        }
    }

    /// `order`: the present bins by their share of statistic `col` in their weight.
    fn order_bins(&mut self, e: &BinStats, col: usize) {
        self.keys.clear();
        self.keys.extend((0..e.bins.len()).map(|j| e.stats[j * self.width + col] / e.stats[j * self.width + 1]));
        self.order.clear();
        self.order.extend(0..e.bins.len());
        let keys = &self.keys;
        self.order.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]).then(a.cmp(&b)));
    }

    /// Left set of a categorical split: the first `pos + 1` ordered bins, plus,
    /// on the missing side, every bin absent from this node (unseen here).
    fn category_bits(&self, e: &BinStats, pos: usize, n_bins: usize) -> BinSet {
        let mut bits = [0u64; 4];
        self.order[..=pos].iter().for_each(|&j| set_bit(&mut bits, e.bins[j] as usize));
        let missing_left = if e.bins[0] == MISSING_BIN { goes_left(&bits, MISSING_BIN) } else { self.left[0] >= self.right[0] };
        if missing_left {
            let mut present = [0u64; 4];
            e.bins.iter().for_each(|&b| set_bit(&mut present, b as usize));
            for b in 0..n_bins {
                if !goes_left(&present, b as u8) {
                    set_bit(&mut bits, b);
                }
            }
        }
        bits
    }
}
