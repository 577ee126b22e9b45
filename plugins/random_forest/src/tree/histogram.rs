//! Histogram subtraction for regression. When most features are examined at
//! every node (regression's default), a node of at least `min_samples`
//! samples carries the histograms of every feature; of its two children only
//! the smaller one's samples are accumulated, the larger one's histograms
//! are the parent's minus the smaller's.
//!
//! Owns the histogram buffers (a pool reused from node to node), their layout
//! and the packing of a bin; must not scan them for splits: `to_bin_stats`
//! hands one feature's bins to the split search.

use super::bin_stats::BinStats;
use super::rows::TreeRows;
use crate::data::Binned;

/// A regression histogram bin: samples (low 32 bits) and weight (high 32
/// bits), integers packed so that one addition counts both, and the weighted
/// target sum. Packed fields subtract exactly: a child's never exceed its parent's.
#[derive(Clone, Copy, Default)]
pub struct HistBin {
    nw: u64,
    wy: f64,
}

/// Every feature's histograms, one after the other.
pub type NodeHistograms = Vec<HistBin>;

pub struct Histograms {
    /// Nodes of at least this many samples carry histograms (usize::MAX: none do).
    min_samples: usize,
    /// Start of each feature's histogram in a node's buffer, and the total length.
    offsets: Vec<usize>,
    pool: Vec<NodeHistograms>,
    /// The accumulated samples' packed (count 1, weight) and weighted targets.
    pk: Vec<u64>,
    wy: Vec<f64>,
}

impl Histograms {
    /// `enabled`: the forest examines most features at every node of a regression.
    pub fn new(binned: &Binned, enabled: bool) -> Histograms {
        let max_bins = binned.n_bins.iter().copied().max().unwrap_or(2);
        // Measured: a histogram pays off from about as many samples as bins.
        let min_samples = if enabled { max_bins.max(1) } else { usize::MAX };
        let offsets = binned
            .n_bins
            .iter()
            .scan(0, |at, &n| {
                let o = *at;
                *at += n;
                Some(o)
            })
            .chain(std::iter::once(binned.n_bins.iter().sum::<usize>()))
            .collect();
        Histograms { min_samples, offsets, pool: Vec::new(), pk: Vec::new(), wy: Vec::new() }
    }

    /// The root's histograms, if it is large enough to carry them.
    pub fn root(&mut self, binned: &Binned, rows: &TreeRows) -> Option<NodeHistograms> {
        (rows.samples.len() >= self.min_samples).then(|| {
            let mut h = self.take();
            gather(&rows.samples, rows, &mut self.pk, &mut self.wy);
            accumulate::<true>(binned, &self.offsets, &rows.samples, &self.pk, &self.wy, &mut h);
            h
        })
    }

    /// The children's histograms from the parent's, the left child's rows
    /// being `start..mid` of the tree's samples and the right one's
    /// `mid..end`: the smaller child's samples are accumulated (into a new
    /// buffer if it carries histograms, else subtracted straight from the
    /// parent's), the larger child keeps the rest.
    #[inline]
    pub fn children(
        &mut self,
        binned: &Binned,
        rows: &TreeRows,
        parent: Option<NodeHistograms>,
        (start, mid, end): (usize, usize, usize),
    ) -> (Option<NodeHistograms>, Option<NodeHistograms>) {
        let Some(mut h) = parent else { return (None, None) };
        let (n_left, n_right) = (mid - start, end - mid);
        if n_left.max(n_right) < self.min_samples {
            self.pool.push(h);
            return (None, None);
        }
        let left_small = n_left <= n_right;
        let small = if left_small { &rows.samples[start..mid] } else { &rows.samples[mid..end] };
        gather(small, rows, &mut self.pk, &mut self.wy);
        let small_hist = if n_left.min(n_right) >= self.min_samples {
            let mut hs = self.take();
            accumulate::<true>(binned, &self.offsets, small, &self.pk, &self.wy, &mut hs);
            subtract(&mut h, &hs);
            Some(hs)
        } else {
            accumulate::<false>(binned, &self.offsets, small, &self.pk, &self.wy, &mut h);
            None
        };
        if left_small {
            (small_hist, Some(h))
        } else {
            (Some(h), small_hist)
        }
    }

    /// Returns a node's buffer to the pool.
    pub fn release(&mut self, h: NodeHistograms) {
        self.pool.push(h);
    }

    /// Feature `f`'s histogram in a node's buffer.
    pub fn feature<'h>(&self, h: &'h [HistBin], f: usize) -> &'h [HistBin] {
        &h[self.offsets[f]..self.offsets[f + 1]]
    }

    /// A cleared buffer.
    fn take(&mut self) -> NodeHistograms {
        let len = self.offsets[self.offsets.len() - 1];
        match self.pool.pop() {
            Some(mut h) => {
                h.fill(HistBin::default());
                h
            }
            None => vec![HistBin::default(); len],
        }
    }
}

/// The samples' packed (count 1, weight) and weighted targets, for `accumulate`.
fn gather(idx: &[u32], rows: &TreeRows, pk: &mut Vec<u64>, wy: &mut Vec<f64>) {
    pk.clear();
    pk.extend(idx.iter().map(|&i| 1 | (rows.w[i as usize] as u64) << 32));
    wy.clear();
    wy.extend(idx.iter().map(|&i| rows.wy[i as usize]));
}

/// Adds (ADD) or subtracts the samples `idx` (packed counts and weighted
/// targets gathered in `pk`, `lwy`) to / from the histograms of every
/// feature. Four rows per iteration, as `bin_stats`' dense histograms.
#[inline(never)]
fn accumulate<const ADD: bool>(binned: &Binned, offsets: &[usize], idx: &[u32], pk: &[u64], lwy: &[f64], h: &mut [HistBin]) {
    #[inline(always)]
    fn one<const ADD: bool>(s: &mut HistBin, pk: u64, wy: f64) {
        if ADD {
            s.nw = s.nw.wrapping_add(pk);
            s.wy += wy;
        } else {
            s.nw = s.nw.wrapping_sub(pk);
            s.wy -= wy;
        }
    }
    for f in 0..binned.features.len() {
        let col = binned.col(f);
        let hf = &mut h[offsets[f]..offsets[f + 1]];
        let mut chunks = idx.chunks_exact(4);
        let mut j = 0;
        for c in &mut chunks {
            for k in 0..4 {
                one::<ADD>(&mut hf[col[c[k] as usize] as usize], pk[j + k], lwy[j + k]);
            }
            j += 4;
        }
        for (k, &i) in chunks.remainder().iter().enumerate() {
            one::<ADD>(&mut hf[col[i as usize] as usize], pk[j + k], lwy[j + k]);
        }
    }
}

/// `h -= small`, bin by bin, four at a time.
fn subtract(h: &mut [HistBin], small: &[HistBin]) {
    let mut a = h.chunks_exact_mut(4);
    let mut b = small.chunks_exact(4);
    for (x, y) in (&mut a).zip(&mut b) {
        for k in 0..4 {
            x[k].nw = x[k].nw.wrapping_sub(y[k].nw);
            x[k].wy -= y[k].wy;
        }
    }
    for (x, y) in a.into_remainder().iter_mut().zip(b.remainder()) {
        x.nw = x.nw.wrapping_sub(y.nw);
        x.wy -= y.wy;
    }
}

/// The non-empty bins of one feature's histogram as (samples, weight,
/// weighted target sum), compacted without branches.
pub fn to_bin_stats(h: &[HistBin], e: &mut BinStats) {
    let n_bins = h.len();
    e.bins.resize(n_bins + 1, 0);
    e.stats.resize(3 * n_bins + 3, 0.0);
    let mut m = 0;
    {
        let (bins, stats) = (&mut e.bins[..], &mut e.stats[..]);
        for (b, s) in h.iter().enumerate() {
            bins[m] = b as u8;
            stats[3 * m] = (s.nw & 0xFFFF_FFFF) as f64;
            stats[3 * m + 1] = (s.nw >> 32) as f64;
            stats[3 * m + 2] = s.wy;
            m += usize::from(s.nw != 0);
        }
    }
    e.bins.truncate(m);
    e.stats.truncate(3 * m);
}
