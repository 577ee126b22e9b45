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
    /// Scratch: the features `build` takes from their columns.
    loose: Vec<u32>,
    len: usize,
    max_slots: usize,
}

impl HistPool {
    pub fn new(n_features: usize, num_leaves: usize) -> HistPool {
        let len = n_features * STRIDE;
        let fit = POOL_BYTES / (len * std::mem::size_of::<QBin>()).max(1);
        HistPool { slots: Vec::new(), free: Vec::new(), ordered: Vec::new(), loose: Vec::new(), len, max_slots: num_leaves.min(fit).max(3) }
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
    /// so the inner loops only read them sequentially and add. Features whose
    /// whole quad is listed and kept side by side (`Binned::quads`) are added
    /// a quad at a time from one word a row; the others go four at a time
    /// from their columns, so one read of a row's index and gradient serves
    /// four bins either way. `in_order` says `rows` is 0..n, where the bins
    /// are read sequentially too.
    #[allow(clippy::too_many_arguments)]
    pub fn build(&mut self, slot: usize, binned: &Binned, features: &[u32], rows: &[u32], gh: &[[f32; 2]], scale: &Scale, in_order: bool) {
        let HistPool { slots, ordered: g, loose, .. } = self;
        let hist = &mut slots[slot];
        g.clear();
        g.extend(rows.iter().map(|&r| scale.pair(gh[r as usize])));
        loose.clear();
        let mut i = 0;
        while i < features.len() {
            let f = features[i] as usize;
            // Ascending and distinct: f + 3 four places on means f..f+4 are all listed.
            if f.is_multiple_of(4) && f / 4 < binned.n_quads() && features.get(i + 3) == Some(&(f as u32 + 3)) {
                let h: &mut [QBin; 4 * STRIDE] = (&mut hist[f * STRIDE..(f + 4) * STRIDE]).try_into().expect("four features' bins");
                h.fill(QBin::default());
                match in_order {
                    true => accumulate_quad_in_order(h, binned.quad(f / 4), g),
                    false => accumulate_quad_gathered(h, binned.quad(f / 4), rows, g),
                }
                i += 4;
            } else {
                loose.push(features[i]);
                i += 1;
            }
        }
        build_from_columns(hist, binned, loose, rows, g, in_order);
    }
}

/// `build` of features from their own columns.
fn build_from_columns(hist: &mut [QBin], binned: &Binned, features: &[u32], rows: &[u32], g: &[QBin], in_order: bool) {
    // Groups of at most four, as even as possible (9 features: 3+3+3, not 4+4+1).
    let size = features.len().div_ceil(features.len().div_ceil(4).max(1)).max(1);
    for group in features.chunks(size) {
        let mut cols: [&[u8]; 4] = [&[]; 4];
        for (c, &f) in cols.iter_mut().zip(group) {
            let f = f as usize;
            hist[f * STRIDE..(f + 1) * STRIDE].fill(QBin::default());
            *c = binned.col(f);
        }
        let hs = some(hist, group);
        match (hs, in_order) {
            (Group::Four(mut h), true) => accumulate_in_order(&mut h, cols, g),
            (Group::Four(mut h), false) => accumulate_gathered(&mut h, cols, rows, g),
            (Group::Three(mut h), true) => accumulate_in_order(&mut h, cols, g),
            (Group::Three(mut h), false) => accumulate_gathered(&mut h, cols, rows, g),
            (Group::Two(mut h), true) => accumulate_in_order(&mut h, cols, g),
            (Group::Two(mut h), false) => accumulate_gathered(&mut h, cols, rows, g),
            (Group::One(mut h), true) => accumulate_in_order(&mut h, cols, g),
            (Group::One(mut h), false) => accumulate_gathered(&mut h, cols, rows, g),
        }
    }
}

/// Where a row's quad adds in its four features' histograms laid end to end:
/// every index is below 4 × STRIDE by construction, so no bounds check is left.
#[inline(always)]
fn quad_slots(b: u32) -> [usize; 4] {
    [(b & 0xff) as usize, STRIDE + ((b >> 8) & 0xff) as usize, 2 * STRIDE + ((b >> 16) & 0xff) as usize, 3 * STRIDE + (b >> 24) as usize]
}

// Two rows a turn, as below: half the interruption checks at the back edge.
fn accumulate_quad_in_order(h: &mut [QBin; 4 * STRIDE], quad: &[u32], g: &[QBin]) {
    let quad = &quad[..g.len()];
    let (mut quads, mut grads) = (quad.chunks_exact(2), g.chunks_exact(2));
    for (b, p) in (&mut quads).zip(&mut grads) {
        quad_slots(b[0]).into_iter().for_each(|s| add(&mut h[s], &p[0]));
        quad_slots(b[1]).into_iter().for_each(|s| add(&mut h[s], &p[1]));
    }
    for (&b, p) in quads.remainder().iter().zip(grads.remainder()) {
        quad_slots(b).into_iter().for_each(|s| add(&mut h[s], p));
    }
}

fn accumulate_quad_gathered(h: &mut [QBin; 4 * STRIDE], quad: &[u32], rows: &[u32], g: &[QBin]) {
    let (mut row_pairs, mut grads) = (rows.chunks_exact(2), g.chunks_exact(2));
    for (r, p) in (&mut row_pairs).zip(&mut grads) {
        let (b0, b1) = (quad[r[0] as usize], quad[r[1] as usize]);
        quad_slots(b0).into_iter().for_each(|s| add(&mut h[s], &p[0]));
        quad_slots(b1).into_iter().for_each(|s| add(&mut h[s], &p[1]));
    }
    for (&r, p) in row_pairs.remainder().iter().zip(grads.remainder()) {
        quad_slots(quad[r as usize]).into_iter().for_each(|s| add(&mut h[s], p));
    }
}

type H<'h> = &'h mut [QBin; STRIDE];

enum Group<'h> {
    One([H<'h>; 1]),
    Two([H<'h>; 2]),
    Three([H<'h>; 3]),
    Four([H<'h>; 4]),
}

/// The histograms of 1 to 4 distinct features (ascending) as separate
/// borrows, without allocating.
fn some<'h>(hist: &'h mut [QBin], f: &[u32]) -> Group<'h> {
    let arr = |x: &'h mut [QBin]| -> H<'h> { x.try_into().expect("STRIDE bins") };
    let mut parts: [Option<H<'h>>; 4] = [None, None, None, None];
    let mut rest = hist;
    let mut at = 0usize;
    for (slot, &feature) in parts.iter_mut().zip(f) {
        let (_, tail) = rest.split_at_mut(feature as usize * STRIDE - at);
        let (x, tail) = tail.split_at_mut(STRIDE);
        *slot = Some(arr(x));
        rest = tail;
        at = (feature as usize + 1) * STRIDE;
    }
    match parts {
        [Some(a), Some(b), Some(c), Some(d)] => Group::Four([a, b, c, d]),
        [Some(a), Some(b), Some(c), None] => Group::Three([a, b, c]),
        [Some(a), Some(b), None, None] => Group::Two([a, b]),
        [Some(a), ..] => Group::One([a]),
        _ => unreachable!("a group has at least one feature"),
    }
}

#[inline(always)]
fn add(e: &mut QBin, p: &QBin) {
    e.add(*p);
}

// Two rows per iteration: WASM engines check for interruption at every loop
// back-edge, and Cranelift does not unroll, so this halves that overhead.
fn accumulate_in_order<const N: usize>(h: &mut [H; N], cols: [&[u8]; 4], g: &[QBin]) {
    let n = g.len();
    let cols: [&[u8]; N] = std::array::from_fn(|k| &cols[k][..n]);
    let pairs = n / 2;
    for j in 0..pairs {
        let (i0, i1) = (2 * j, 2 * j + 1);
        let (p0, p1) = (&g[i0], &g[i1]);
        for k in 0..N {
            add(&mut h[k][cols[k][i0] as usize], p0);
            add(&mut h[k][cols[k][i1] as usize], p1);
        }
    }
    if n % 2 == 1 {
        for k in 0..N {
            add(&mut h[k][cols[k][n - 1] as usize], &g[n - 1]);
        }
    }
}

fn accumulate_gathered<const N: usize>(h: &mut [H; N], cols: [&[u8]; 4], rows: &[u32], g: &[QBin]) {
    let len = cols[0].len();
    let cols: [&[u8]; N] = std::array::from_fn(|k| &cols[k][..len]);
    let mut row_pairs = rows.chunks_exact(2);
    let mut g_pairs = g.chunks_exact(2);
    for (r, p) in (&mut row_pairs).zip(&mut g_pairs) {
        let (r0, r1) = (r[0] as usize, r[1] as usize);
        for k in 0..N {
            add(&mut h[k][cols[k][r0] as usize], &p[0]);
            add(&mut h[k][cols[k][r1] as usize], &p[1]);
        }
    }
    for (&r, p) in row_pairs.remainder().iter().zip(g_pairs.remainder()) {
        for k in 0..N {
            add(&mut h[k][cols[k][r as usize] as usize], p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::FeatureBins;
    use crate::tree::quantise::exponent_bound;

    /// Eleven features (two whole quads and three more), random bins and gradients.
    fn table(rows: usize, seed: u64) -> (Binned, Vec<[f32; 2]>) {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        let features = vec![FeatureBins::Numeric { edges: vec![] }; 11];
        let bins: Vec<u8> = (0..11 * rows).map(|i| if i % 3 == 0 { (next() % 7) as u8 } else { next() as u8 }).collect();
        let gh = (0..rows).map(|_| [next() as f32 / u32::MAX as f32 - 0.5, next() as f32 / u32::MAX as f32]).collect();
        (Binned { rows, bins, features, quads: vec![] }, gh)
    }

    #[test]
    fn quads_side_by_side_give_the_histograms_the_columns_give() {
        let (columns, gh) = table(701, 7);
        let quads = Binned { rows: columns.rows, bins: columns.bins.clone(), features: columns.features.clone(), quads: vec![] }.with_quads();
        assert_eq!(quads.n_quads(), 2);
        let scale = Scale::new(exponent_bound(gh.iter().map(|p| p[0])), exponent_bound(gh.iter().map(|p| p[1])), gh.len());
        let all: Vec<u32> = (0..columns.rows as u32).collect();
        let some: Vec<u32> = all.iter().copied().filter(|r| r % 3 != 1).collect();
        let listed: [&[u32]; 3] = [&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], &[0, 1, 2, 3, 5, 6, 7, 8, 10], &[4, 5, 6, 7]];
        for features in listed {
            for (rows, in_order) in [(&all, true), (&all, false), (&some, false)] {
                let histograms = |binned: &Binned| {
                    let mut pool = HistPool::new(11, 3);
                    let slot = pool.acquire().expect("a slot");
                    pool.build(slot, binned, features, rows, &gh, &scale, in_order);
                    features.iter().flat_map(|&f| pool.feature(slot, f as usize, STRIDE).iter().map(|b| (b.g(), b.h())).collect::<Vec<_>>()).collect::<Vec<_>>()
                };
                let from_columns = histograms(&columns);
                assert!(from_columns.iter().any(|&(g, h)| g != 0 && h != 0));
                assert_eq!(histograms(&quads), from_columns, "features {features:?}, {} rows, in order {in_order}", rows.len());
            }
        }
    }
}
