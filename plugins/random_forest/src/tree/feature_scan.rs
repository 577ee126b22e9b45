//! Scanning one feature at one node: which statistics the scan reads and
//! which scan runs, by what the node holds: presorted keys, all-feature
//! histograms, or its gathered rows (then small regression nodes, two-class
//! numeric features, and the general class/categorical path differ).
//!
//! Owns the choice of path only; must not choose features, apply splits or
//! change the node's rows.

use super::bin_stats::{sort_keys, BinBuffers, BinStats, ClassAcc, ValueAcc, SPARSE_RATIO};
use super::context::DataView;
use super::histogram::{to_bin_stats, HistBin, Histograms};
use super::presort::Presorted;
use super::rows::{packed_class1, packed_weight, NodeRows};
use super::scalar_scan::ScanKind;
use super::split::SplitSearch;
use crate::data::Target;

/// What a node's scans read.
pub enum NodeSource<'s> {
    /// The node at `start..end` of the tree's samples is in presorted mode.
    Presorted { presorted: &'s Presorted, start: usize, end: usize },
    /// The node carries every feature's histograms.
    Histograms { hist: &'s [HistBin], histograms: &'s Histograms },
    /// The node's rows `idx`, their statistics gathered in `node_rows`.
    Rows { idx: &'s [u32], node_rows: &'s NodeRows, packed: bool },
}

/// One node's feature scans, feeding one split search.
pub struct FeatureScan<'s, 'a> {
    pub data: &'s DataView<'a>,
    pub source: NodeSource<'s>,
    pub totals: &'s [f64],
    pub search: &'s mut SplitSearch,
    pub stats: &'s mut BinStats,
    pub buffers: &'s mut BinBuffers,
}

impl FeatureScan<'_, '_> {
    /// Scans feature `f`; false if it is constant at the node (it does not
    /// count among the features examined).
    pub fn feature(&mut self, f: usize) -> bool {
        match self.source {
            NodeSource::Presorted { presorted, start, end } => self.presorted(f, presorted, start, end),
            NodeSource::Histograms { hist, histograms } => {
                to_bin_stats(histograms.feature(hist, f), self.stats);
                self.bin_stats(f)
            }
            NodeSource::Rows { idx, node_rows, packed } => {
                let numeric = !self.data.is_categorical(f);
                if self.data.n_classes == 0 && numeric && idx.len() * SPARSE_RATIO < self.data.n_bins(f) {
                    let acc = ValueAcc { w: &node_rows.w, wy: &node_rows.wy };
                    self.search.small_node_triples(f, self.data.col(f), idx, &acc, &mut self.buffers.keys, self.totals)
                } else if self.data.n_classes == 2 && numeric {
                    self.two_classes(f, idx, node_rows, packed)
                } else {
                    self.collect(f, idx, node_rows);
                    self.bin_stats(f)
                }
            }
        }
    }

    /// Scans `stats`, the feature's statistics at the node; false if it has
    /// fewer than two bins.
    fn bin_stats(&mut self, f: usize) -> bool {
        if self.stats.bins.len() < 2 {
            return false;
        }
        if self.data.is_categorical(f) {
            self.search.categorical(f, self.data.n_bins(f), self.stats, self.totals, self.data.n_classes);
        } else if self.data.n_classes == 0 {
            self.search.numeric_triples(f, self.stats, self.totals);
        } else {
            self.search.numeric(f, self.stats, self.totals);
        }
        true
    }

    /// A presorted regression node: the scans run over the feature's sorted keys.
    fn presorted(&mut self, f: usize, presorted: &Presorted, start: usize, end: usize) -> bool {
        let keys = presorted.keys(f, start, end);
        let wwy = presorted.pos_wwy();
        if self.data.is_categorical(f) {
            self.stats.fill_from_keys(keys, 3, |s, j| {
                s[0] += 1.0;
                s[1] += wwy[j][0];
                s[2] += wwy[j][1];
            });
            return self.bin_stats(f);
        }
        if self.search.kind == ScanKind::Squared && keys[0] >> 24 != 0 {
            self.search.sorted_squared_error(f, keys, wwy, self.totals)
        } else {
            self.search.sorted_triples(f, keys, |j| (wwy[j][0], wwy[j][1]), self.totals)
        }
    }

    /// A numeric feature with two classes: the scalar scans on
    /// (samples, weight, class 1's weight).
    fn two_classes(&mut self, f: usize, idx: &[u32], node_rows: &NodeRows, packed: bool) -> bool {
        let totals3 = [self.totals[0], self.totals[1], self.totals[3]];
        let col = self.data.col(f);
        let n_bins = self.data.n_bins(f);
        let acc = ValueAcc { w: &node_rows.w, wy: &node_rows.wy };
        if idx.len() * SPARSE_RATIO < n_bins {
            if packed {
                let pk = &node_rows.pk;
                sort_keys(col, idx, &mut self.buffers.keys);
                return self.search.sorted_triples(f, &self.buffers.keys, |j| (packed_weight(pk[j]), packed_class1(pk[j])), &totals3);
            }
            return self.search.small_node_triples(f, col, idx, &acc, &mut self.buffers.keys, &totals3);
        }
        if packed {
            self.stats.collect_packed(col, idx, &node_rows.pk, n_bins, self.buffers);
        } else {
            self.stats.collect(&acc, col, idx, 3, n_bins, self.buffers);
        }
        if self.stats.bins.len() < 2 {
            return false;
        }
        self.search.numeric_triples(f, self.stats, &totals3);
        true
    }

    /// Fills `stats` with the feature's bins over the node's gathered rows.
    fn collect(&mut self, f: usize, idx: &[u32], node_rows: &NodeRows) {
        let (col, n_bins, width) = (self.data.col(f), self.data.n_bins(f), self.search.width);
        match self.data.target {
            Target::Classes { .. } => self.stats.collect(&ClassAcc { w: &node_rows.w, y: &node_rows.y }, col, idx, width, n_bins, self.buffers),
            Target::Values(_) => self.stats.collect(&ValueAcc { w: &node_rows.w, wy: &node_rows.wy }, col, idx, width, n_bins, self.buffers),
        }
    }
}
