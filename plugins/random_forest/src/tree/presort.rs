//! Presorted mode for small regression nodes: when most features are examined
//! at every node, a node without histograms sorts, once, each feature's
//! `bin << 24 | position` keys by bin, in that feature's stripe of `keys`
//! at the node's range of the tree's samples; every later split partitions
//! the stripes stably, so no node below sorts again and a threshold scan runs
//! straight over the keys.
//!
//! Owns the keys and the per-row and per-position statistics they are read
//! with; must not scan them (the split search does) nor touch the tree's
//! sample order (`partition` and `grow` do).

use super::partition::{spill_of, stable_partition};
use super::rows::TreeRows;
use super::{goes_left, BinSet};
use crate::data::Binned;

/// Below this many samples a node sorts its keys instead of counting them.
const COUNTING_SORT_MIN: usize = 64;

pub struct Presorted {
    enabled: bool,
    /// Feature f's keys at `f * stride + position`, `stride` being the tree's in-bag samples.
    keys: Vec<u32>,
    stride: usize,
    /// (weight, weighted target) per row.
    wwy: Vec<[f64; 2]>,
    /// Keys hold a position in the tree's samples as it was when their
    /// subtree entered the mode, not a row: `pos_wwy` is that position's
    /// (weight, weighted target), so a scan reads a few KB, not a whole column's rows.
    pos_wwy: Vec<[f64; 2]>,
    /// (weighted target)² / weight per row: a node's best possible score is their sum.
    pure: Vec<f64>,
    /// Per position: 1 if it goes left at the split being applied.
    goes_left: Vec<u8>,
}

impl Presorted {
    /// `enabled`: the forest examines most features at every node of a
    /// regression, with fewer rows than a key's 24 bits of position.
    pub fn new(enabled: bool) -> Presorted {
        Presorted { enabled, keys: Vec::new(), stride: 0, wwy: Vec::new(), pos_wwy: Vec::new(), pure: Vec::new(), goes_left: Vec::new() }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Sizes the buffers for a tree's rows (after `TreeRows::load`).
    pub fn load(&mut self, rows: &TreeRows, n_features: usize) {
        if !self.enabled {
            return;
        }
        let n = rows.samples.len();
        self.stride = n;
        self.wwy.clear();
        self.wwy.extend(rows.w.iter().zip(&rows.wy).map(|(&w, &wy)| [w, wy]));
        self.keys.resize(n * n_features, 0);
        self.pure.clear();
        self.pure.extend(self.wwy.iter().map(|&[w, wy]| wy * wy / w));
        self.pos_wwy.resize(n, [0.0; 2]);
        self.goes_left.resize(n, 0);
    }

    /// The score of a split whose children are pure, for the rows `idx`.
    pub fn pure_score(&self, idx: &[u32]) -> f64 {
        idx.iter().map(|&i| self.pure[i as usize]).sum()
    }

    /// Feature `f`'s sorted keys of the node at `start..end`.
    pub fn keys(&self, f: usize, start: usize, end: usize) -> &[u32] {
        &self.keys[f * self.stride + start..f * self.stride + end]
    }

    /// (weight, weighted target) of the positions the keys hold.
    pub fn pos_wwy(&self) -> &[[f64; 2]] {
        &self.pos_wwy
    }

    /// Enters presorted mode at the node `start..end` of the tree's samples:
    /// records its positions' statistics and sorts every feature's keys.
    pub fn enter(&mut self, binned: &Binned, samples: &[u32], start: usize, end: usize) {
        let idx = &samples[start..end];
        for (p, &i) in self.pos_wwy[start..end].iter_mut().zip(idx) {
            *p = self.wwy[i as usize];
        }
        let mut counts = [0u32; 257];
        for f in 0..binned.features.len() {
            let col = binned.col(f);
            let keys = &mut self.keys[f * self.stride + start..f * self.stride + end];
            if idx.len() < COUNTING_SORT_MIN {
                keys.iter_mut().zip(idx).zip(start as u32..).for_each(|((k, &i), p)| *k = (col[i as usize] as u32) << 24 | p);
                keys.sort_unstable();
            } else {
                counting_sort(col, idx, start as u32, &mut counts, keys);
            }
        }
    }

    /// Splits every feature's keys of the node `start..end` stably into the
    /// children's (left ones first), as `partition_rows` split the rows.
    #[inline(never)]
    pub fn partition(&mut self, (start, end): (usize, usize), split_feature: usize, bits: &BinSet, n_features: usize, spill: &mut Vec<u32>) {
        let n = self.stride;
        // The split feature's keys carry every sample's bin and position.
        for &key in &self.keys[split_feature * n + start..split_feature * n + end] {
            self.goes_left[(key & 0xFF_FFFF) as usize] = goes_left(bits, (key >> 24) as u8) as u8;
        }
        let flags = &self.goes_left;
        let spill = spill_of(spill, end - start);
        for f in 0..n_features {
            let keys = &mut self.keys[f * n + start..f * n + end];
            stable_partition(keys, spill, |key| flags[(key & 0xFF_FFFF) as usize] as usize);
        }
    }
}

/// Counting sort by bin of the keys `bin << 24 | position` of the rows `idx`
/// (positions from `first`): `idx` is ascending, so this is the same order as
/// sorting the keys.
fn counting_sort(col: &[u8], idx: &[u32], first: u32, counts: &mut [u32; 257], keys: &mut [u32]) {
    counts.fill(0);
    idx.iter().for_each(|&i| counts[col[i as usize] as usize + 1] += 1);
    for b in 1..257 {
        counts[b] += counts[b - 1];
    }
    for (&i, p) in idx.iter().zip(first..) {
        let b = col[i as usize] as usize;
        keys[counts[b] as usize] = (b as u32) << 24 | p;
        counts[b] += 1;
    }
}
