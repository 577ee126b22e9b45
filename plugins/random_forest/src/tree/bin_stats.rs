//! The statistics of one feature's bins at one node (`BinStats`: the
//! non-empty bins, ascending, each with its samples, weight and class
//! weights or weighted target sum), built from the node's gathered rows: by a
//! dense histogram, or, for small nodes, by sorting the node's bytes; or from
//! presorted keys. (`histogram` builds them from a node's all-feature
//! histograms.)
//!
//! Owns these builders and their scratch buffers; must not look for splits
//! or touch the tree's rows (it reads a node's gathered copy only).

use super::rows::{packed_class1, packed_samples, packed_weight};

/// Below `bins / SPARSE_RATIO` samples a node sorts its bytes instead of
/// clearing and scanning a whole histogram: deep trees have many tiny nodes.
pub const SPARSE_RATIO: usize = 4;

/// Non-empty bins of one feature at one node, ascending, with their statistics
/// (`width` per bin, as the split search's vectors).
#[derive(Default)]
pub struct BinStats {
    pub bins: Vec<u8>,
    pub stats: Vec<f64>,
}

impl BinStats {
    pub fn clear(&mut self) {
        self.bins.clear();
        self.stats.clear();
    }

    /// Fills the statistics of feature column `col` over the node's rows `idx`
    /// (`acc` adding a row by its position in the node): sorted bytes for a
    /// small node, else a dense histogram.
    #[inline(always)]
    pub fn collect<A: Acc>(&mut self, acc: &A, col: &[u8], idx: &[u32], width: usize, n_bins: usize, buffers: &mut BinBuffers) {
        self.clear();
        if idx.len() * SPARSE_RATIO < n_bins {
            sparse(acc, col, idx, width, &mut buffers.keys, self);
        } else {
            dense(acc, col, idx, width, n_bins, &mut buffers.dense, self);
        }
    }

    /// The statistics from keys sorted by bin (`bin << 24 | position`): runs
    /// of equal bins summed by `add`.
    #[inline(always)]
    pub fn fill_from_keys(&mut self, keys: &[u32], width: usize, add: impl Fn(&mut [f64], usize)) {
        self.clear();
        for &k in keys {
            let b = (k >> 24) as u8;
            if self.bins.last() != Some(&b) {
                self.bins.push(b);
                self.stats.resize(self.stats.len() + width, 0.0);
            }
            let base = self.stats.len() - width;
            add(&mut self.stats[base..], (k & 0xFF_FFFF) as usize);
        }
    }

    /// Two classes, packed: (samples, weight, class 1's weight) per bin.
    pub fn collect_packed(&mut self, col: &[u8], idx: &[u32], pk: &[u64], n_bins: usize, buffers: &mut BinBuffers) {
        self.clear();
        dense_packed(col, idx, pk, n_bins, &mut buffers.packed, self);
    }
}

/// Scratch reused from node to node by the builders.
pub struct BinBuffers {
    /// A dense histogram of `width` statistics for each of up to 256 bins.
    pub dense: Vec<f64>,
    /// A dense two-class packed histogram.
    pub packed: Vec<u64>,
    /// Sorted `bin << 24 | position` keys of a small node.
    pub keys: Vec<u32>,
}

impl BinBuffers {
    pub fn new(width: usize) -> BinBuffers {
        BinBuffers { dense: vec![0.0; 256 * width], packed: vec![0; 256], keys: Vec::new() }
    }
}

/// Adds one sample (by its position in the node) to a bin's statistics.
pub trait Acc {
    fn add(&self, s: &mut [f64], i: usize);
}

/// Classification: [samples, weight, class weights...].
pub struct ClassAcc<'t> {
    pub w: &'t [f64],
    pub y: &'t [u32],
}

impl Acc for ClassAcc<'_> {
    #[inline(always)]
    fn add(&self, s: &mut [f64], i: usize) {
        s[0] += 1.0;
        s[1] += self.w[i];
        s[2 + self.y[i] as usize] += self.w[i];
    }
}

/// Regression, or two classes scanned like one: [samples, weight, weighted sum].
pub struct ValueAcc<'t> {
    pub w: &'t [f64],
    pub wy: &'t [f64],
}

impl Acc for ValueAcc<'_> {
    #[inline(always)]
    fn add(&self, s: &mut [f64], i: usize) {
        s[0] += 1.0;
        s[1] += self.w[i];
        s[2] += self.wy[i];
    }
}

/// Histogram over all bins, then the non-empty ones. Four rows per iteration:
/// fewer loop back-edges, which is where wasmtime's epoch checks go.
#[inline(never)]
fn dense<A: Acc>(acc: &A, col: &[u8], idx: &[u32], width: usize, n_bins: usize, hist: &mut [f64], e: &mut BinStats) {
    let hist = &mut hist[..n_bins * width];
    hist.fill(0.0);
    let mut chunks = idx.chunks_exact(4);
    let mut j = 0;
    for c in &mut chunks {
        for (k, &i) in c.iter().enumerate() {
            let b = col[i as usize] as usize * width;
            acc.add(&mut hist[b..b + width], j + k);
        }
        j += 4;
    }
    for (k, &i) in chunks.remainder().iter().enumerate() {
        let b = col[i as usize] as usize * width;
        acc.add(&mut hist[b..b + width], j + k);
    }
    for (b, s) in hist.chunks_exact(width).enumerate() {
        if s[0] > 0.0 {
            e.bins.push(b as u8);
            e.stats.extend_from_slice(s);
        }
    }
}

/// `dense` for two classes on packed statistics: one u64 addition per sample.
#[inline(never)]
fn dense_packed(col: &[u8], idx: &[u32], pk: &[u64], n_bins: usize, hist: &mut [u64], e: &mut BinStats) {
    let hist = &mut hist[..n_bins];
    hist.fill(0);
    let mut chunks = idx.chunks_exact(4);
    let mut j = 0;
    for c in &mut chunks {
        hist[col[c[0] as usize] as usize] += pk[j];
        hist[col[c[1] as usize] as usize] += pk[j + 1];
        hist[col[c[2] as usize] as usize] += pk[j + 2];
        hist[col[c[3] as usize] as usize] += pk[j + 3];
        j += 4;
    }
    for (k, &i) in chunks.remainder().iter().enumerate() {
        hist[col[i as usize] as usize] += pk[j + k];
    }
    // Branch-free compaction of the non-empty bins.
    e.bins.resize(n_bins + 1, 0);
    e.stats.resize(3 * n_bins + 3, 0.0);
    let mut m = 0;
    {
        let (bins, stats) = (&mut e.bins[..], &mut e.stats[..]);
        for (b, &h) in hist.iter().enumerate() {
            bins[m] = b as u8;
            stats[3 * m] = packed_samples(h);
            stats[3 * m + 1] = packed_weight(h);
            stats[3 * m + 2] = packed_class1(h);
            m += usize::from(h != 0);
        }
    }
    e.bins.truncate(m);
    e.stats.truncate(3 * m);
}

/// For small nodes: sort (bin, position) keys and sum runs of equal bins.
#[inline(never)]
fn sparse<A: Acc>(acc: &A, col: &[u8], idx: &[u32], width: usize, keys: &mut Vec<u32>, e: &mut BinStats) {
    sort_keys(col, idx, keys);
    e.fill_from_keys(keys, width, |s, j| acc.add(s, j));
}

/// `bin << 24 | position` of each sample, sorted: samples grouped by bin.
pub fn sort_keys(col: &[u8], idx: &[u32], keys: &mut Vec<u32>) {
    keys.clear();
    keys.extend(idx.iter().enumerate().map(|(j, &i)| (col[i as usize] as u32) << 24 | j as u32));
    keys.sort_unstable();
}
