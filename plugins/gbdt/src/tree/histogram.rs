//! Gradient histograms: per leaf, per feature, the sums of gradients and
//! hessians of its rows in each bin (256 slots a feature, so a bin byte
//! indexes without a bounds check), in fixed point (`quantise`). A pool of buffers reused across nodes
//! and trees; when a budget caps how many leaves keep one, the least
//! promising leaf gives its buffer up and is rebuilt from rows if split.
//!
//! Owns the buffers and the accumulation loops; must not scan for splits.

use crate::data::Binned;

pub const STRIDE: usize = 256;
/// Memory the pool may hold, whatever numLeaves asks.
const POOL_BYTES: usize = 768 << 20;

use super::bin::QBin;
use super::quantise::Scale;

pub struct HistPool {
    /// One feature-major histogram set per slot.
    slots: Vec<Vec<QBin>>,
    free: Vec<usize>,
    /// Scratch: the gradients of a leaf's rows gathered in row order.
    ordered: Vec<QBin>,
    /// Scratch: the histograms of a group of features that are not consecutive.
    block: Vec<[QBin; STRIDE]>,
    len: usize,
    max_slots: usize,
}

impl HistPool {
    pub fn new(n_features: usize, num_leaves: usize) -> HistPool {
        let len = n_features * STRIDE;
        let fit = POOL_BYTES / (len * std::mem::size_of::<QBin>()).max(1);
        HistPool { slots: Vec::new(), free: Vec::new(), ordered: Vec::new(), block: Vec::new(), len, max_slots: num_leaves.min(fit).max(3) }
    }

    /// Every slot back in the free list (start of a tree).
    pub fn release_all(&mut self) {
        self.free.clear();
        self.free.extend((0..self.slots.len()).rev());
    }

    /// A free slot, allocated on first use; None once the budget is spent.
    pub fn acquire(&mut self) -> Option<usize> {
        if let Some(s) = self.free.pop() {
            return Some(s);
        }
        if self.slots.len() >= self.max_slots {
            return None;
        }
        self.slots.push(vec![QBin::default(); self.len]);
        Some(self.slots.len() - 1)
    }

    pub fn release(&mut self, slot: usize) {
        self.free.push(slot);
    }

    /// One feature's bins of a slot.
    pub fn feature(&self, slot: usize, f: usize, n_bins: usize) -> &[QBin] {
        &self.slots[slot][f * STRIDE..f * STRIDE + n_bins]
    }

    /// The listed features' bins of a slot, flattened (gradient, hessian, ...)
    /// for the instances of a job to add up.
    pub fn export(&self, slot: usize, features: &[u32], n_bins: &[usize], out: &mut Vec<i64>) {
        out.clear();
        for &f in features {
            out.extend(self.feature(slot, f as usize, n_bins[f as usize]).iter().flat_map(|b| [b.g(), b.h()]));
        }
    }

    /// Replaces the listed features' bins of a slot by `from` (as `export` lays them out).
    pub fn import(&mut self, slot: usize, features: &[u32], n_bins: &[usize], from: &[i64]) {
        let mut pairs = from.chunks_exact(2);
        for &f in features {
            let start = f as usize * STRIDE;
            for (b, p) in self.slots[slot][start..start + n_bins[f as usize]].iter_mut().zip(&mut pairs) {
                *b = QBin::new(p[0], p[1]);
            }
        }
    }

    /// `big -= small` over the listed features: the larger child's histogram
    /// from its parent's (held in `big`) and its sibling's.
    pub fn subtract(&mut self, big: usize, small: usize, features: &[u32]) {
        let small_hist = std::mem::take(&mut self.slots[small]);
        let big_hist = &mut self.slots[big];
        for &f in features {
            let range = f as usize * STRIDE..(f as usize + 1) * STRIDE;
            for (b, s) in big_hist[range.clone()].iter_mut().zip(&small_hist[range]) {
                b.sub(*s);
            }
        }
        self.slots[small] = small_hist;
    }

    /// Accumulates `rows` into `slot` for the listed features. The rows'
    /// gradients are first gathered, in `scale`'s fixed point, in row order,
    /// so the inner loops only read them sequentially and add; features go
    /// four at a time so one read of a row's index and gradient serves four
    /// bins. `in_order` says `rows` is 0..n, where the bins are read
    /// sequentially too.
    #[allow(clippy::too_many_arguments)]
    pub fn build(&mut self, slot: usize, binned: &Binned, features: &[u32], rows: &[u32], gh: &[[f32; 2]], scale: &Scale, in_order: bool) {
        let hist = &mut self.slots[slot];
        let g = &mut self.ordered;
        gather_in_units(g, rows, gh, scale);
        // Groups of at most four, as even as possible (9 features: 3+3+3, not 4+4+1).
        let size = features.len().div_ceil(features.len().div_ceil(4).max(1)).max(1);
        for group in features.chunks(size) {
            let mut cols: [&[u8]; 4] = [&[]; 4];
            cols.iter_mut().zip(group).for_each(|(c, &f)| *c = binned.col(f as usize));
            accumulate_group(hist, &mut self.block, group, cols, rows, g, in_order);
        }
    }
}

/// `out` = the gradients of `rows` in `scale`'s units, in row order. Four
/// rows a turn, as in the partition: the loop is short enough that the
/// interruption check on each WASM back-edge counts.
fn gather_in_units(out: &mut Vec<QBin>, rows: &[u32], gh: &[[f32; 2]], scale: &Scale) {
    out.clear();
    out.resize(rows.len(), QBin::default());
    let mut quads = rows.chunks_exact(4);
    let mut outs = out.chunks_exact_mut(4);
    for (q, o) in (&mut quads).zip(&mut outs) {
        o.iter_mut().zip(q).for_each(|(o, &r)| *o = scale.pair(gh[r as usize]));
    }
    for (&r, o) in quads.remainder().iter().zip(outs.into_remainder()) {
        *o = scale.pair(gh[r as usize]);
    }
}

/// One group's histograms side by side, so that each bin's address is one
/// base and a constant offset per feature: the gathered loop holds one
/// histogram base where it held four (under Cranelift it still reloads that
/// base and the four column bases from the stack; jitdump, 2026-12-08).
type Block<const N: usize> = [[QBin; STRIDE]; N];

/// Accumulates one group of 1 to 4 features (ascending). Consecutive ones
/// (every group when all features are used) are accumulated in place, as
/// one block of the slot; any other group in `block`, then copied to its
/// features' places (16 KB at most, against a pass over the leaf's rows).
#[allow(clippy::too_many_arguments)]
fn accumulate_group(hist: &mut [QBin], block: &mut Vec<[QBin; STRIDE]>, group: &[u32], cols: [&[u8]; 4], rows: &[u32], g: &[QBin], in_order: bool) {
    let first = group[0] as usize;
    let consecutive = group.windows(2).all(|w| w[1] == w[0] + 1);
    let place: &mut [[QBin; STRIDE]] = if consecutive {
        hist[first * STRIDE..(first + group.len()) * STRIDE].as_chunks_mut::<STRIDE>().0
    } else {
        block.resize(group.len(), [QBin::default(); STRIDE]);
        &mut block[..group.len()]
    };
    place.iter_mut().for_each(|h| h.fill(QBin::default()));
    match place.len() {
        1 => accumulate::<1>(place.try_into().expect("one histogram"), cols, rows, g, in_order),
        2 => accumulate::<2>(place.try_into().expect("two histograms"), cols, rows, g, in_order),
        3 => accumulate::<3>(place.try_into().expect("three histograms"), cols, rows, g, in_order),
        _ => accumulate::<4>(place.try_into().expect("four histograms"), cols, rows, g, in_order),
    }
    if !consecutive {
        for (h, &f) in block.iter().zip(group) {
            hist[f as usize * STRIDE..(f as usize + 1) * STRIDE].copy_from_slice(h);
        }
    }
}

fn accumulate<const N: usize>(h: &mut Block<N>, cols: [&[u8]; 4], rows: &[u32], g: &[QBin], in_order: bool) {
    if in_order {
        accumulate_in_order(h, cols, g);
    } else {
        accumulate_gathered(h, cols, rows, g);
    }
}

#[inline(always)]
fn add(e: &mut QBin, p: &QBin) {
    e.add(*p);
}

// Two rows per iteration: WASM engines check for interruption at every loop
// back-edge, and Cranelift does not unroll, so this halves that overhead.
fn accumulate_in_order<const N: usize>(h: &mut Block<N>, cols: [&[u8]; 4], g: &[QBin]) {
    let n = g.len();
    let cols: [&[u8]; N] = std::array::from_fn(|k| &cols[k][..n]);
    let pairs = n / 2;
    for j in 0..pairs {
        let (i0, i1) = (2 * j, 2 * j + 1);
        let (p0, p1) = (&g[i0], &g[i1]);
        for (k, col) in cols.iter().enumerate() {
            add(&mut h[k][col[i0] as usize], p0);
            add(&mut h[k][col[i1] as usize], p1);
        }
    }
    if n % 2 == 1 {
        for (k, col) in cols.iter().enumerate() {
            add(&mut h[k][col[n - 1] as usize], &g[n - 1]);
        }
    }
}

fn accumulate_gathered<const N: usize>(h: &mut Block<N>, cols: [&[u8]; 4], rows: &[u32], g: &[QBin]) {
    let len = cols[0].len();
    let cols: [&[u8]; N] = std::array::from_fn(|k| &cols[k][..len]);
    let mut row_pairs = rows.chunks_exact(2);
    let mut g_pairs = g.chunks_exact(2);
    for (r, p) in (&mut row_pairs).zip(&mut g_pairs) {
        let (r0, r1) = (r[0] as usize, r[1] as usize);
        for (k, col) in cols.iter().enumerate() {
            add(&mut h[k][col[r0] as usize], &p[0]);
            add(&mut h[k][col[r1] as usize], &p[1]);
        }
    }
    for (&r, p) in row_pairs.remainder().iter().zip(g_pairs.remainder()) {
        for (k, col) in cols.iter().enumerate() {
            add(&mut h[k][col[r as usize] as usize], p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::FeatureBins;

    /// Every feature list (consecutive runs, gaps, one feature) and both
    /// passes give the histogram a row-by-row sum gives.
    #[test]
    fn every_group_shape_sums_as_row_by_row() {
        let (rows, n_features) = (37usize, 9usize);
        let bins: Vec<u8> = (0..rows * n_features).map(|i| (i * 7919 % 13) as u8).collect();
        let features = (0..n_features).map(|_| FeatureBins::Numeric { edges: vec![0.0; 12] }).collect();
        let binned = Binned { rows, bins, features };
        let gh: Vec<[f32; 2]> = (0..rows).map(|r| [r as f32 - 18.0, 1.0 + (r % 3) as f32]).collect();
        let scale = Scale::new(6, 2, rows);
        let lists: [&[u32]; 4] = [&[0, 1, 2, 3, 4, 5, 6, 7, 8], &[0, 2, 3, 5, 8], &[4], &[1, 2, 6, 7, 8]];
        let leaf: Vec<u32> = (0..rows as u32).filter(|r| r % 3 != 1).collect();
        let all: Vec<u32> = (0..rows as u32).collect();
        for features in lists {
            for (rows_of, in_order) in [(&all, true), (&leaf, false)] {
                let mut pool = HistPool::new(n_features, 3);
                let slot = pool.acquire().expect("a slot");
                pool.build(slot, &binned, features, rows_of, &gh, &scale, in_order);
                for &f in features {
                    let mut want = vec![(0i64, 0i64); 13];
                    for &r in rows_of.iter() {
                        let q = scale.pair(gh[r as usize]);
                        let b = binned.col(f as usize)[r as usize] as usize;
                        want[b] = (want[b].0 + q.g(), want[b].1 + q.h());
                    }
                    let got: Vec<(i64, i64)> = pool.feature(slot, f as usize, 13).iter().map(|q| (q.g(), q.h())).collect();
                    assert_eq!(got, want, "features {features:?}, feature {f}, in order {in_order}");
                }
            }
        }
    }
}
