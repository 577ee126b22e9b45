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
    len: usize,
    max_slots: usize,
}

impl HistPool {
    pub fn new(n_features: usize, num_leaves: usize) -> HistPool {
        let len = n_features * STRIDE;
        let fit = POOL_BYTES / (len * std::mem::size_of::<QBin>()).max(1);
        HistPool { slots: Vec::new(), free: Vec::new(), ordered: Vec::new(), len, max_slots: num_leaves.min(fit).max(3) }
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
            for (c, &f) in cols.iter_mut().zip(group) {
                let f = f as usize;
                hist[f * STRIDE..(f + 1) * STRIDE].fill(QBin::default());
                *c = binned.col(f);
            }
            match some(hist, group) {
                Group::One(mut h) => accumulate(&mut h, cols, rows, g, in_order),
                Group::Two(mut h) => accumulate(&mut h, cols, rows, g, in_order),
                Group::Three(mut h) => accumulate(&mut h, cols, rows, g, in_order),
                Group::Four(mut h) => accumulate(&mut h, cols, rows, g, in_order),
                Group::RunOfTwo(h) => accumulate(h, cols, rows, g, in_order),
                Group::RunOfThree(h) => accumulate(h, cols, rows, g, in_order),
                Group::RunOfFour(h) => accumulate(h, cols, rows, g, in_order),
            }
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

type H<'h> = &'h mut [QBin; STRIDE];

/// The histograms of one group of features. A run of consecutive features
/// (every group when all features are used) is one block: each bin's address
/// is then one base and a constant offset per feature, which leaves the
/// gathered loop enough registers under Cranelift that nothing spills.
enum Group<'h> {
    One([H<'h>; 1]),
    Two([H<'h>; 2]),
    Three([H<'h>; 3]),
    Four([H<'h>; 4]),
    RunOfTwo(&'h mut [[QBin; STRIDE]; 2]),
    RunOfThree(&'h mut [[QBin; STRIDE]; 3]),
    RunOfFour(&'h mut [[QBin; STRIDE]; 4]),
}

/// The histograms of 1 to 4 distinct features (ascending) as separate
/// borrows, or as one block when they are consecutive, without allocating.
fn some<'h>(hist: &'h mut [QBin], f: &[u32]) -> Group<'h> {
    let first = f[0] as usize;
    if f.len() > 1 && f.windows(2).all(|w| w[1] == w[0] + 1) {
        let (block, _) = hist[first * STRIDE..(first + f.len()) * STRIDE].as_chunks_mut::<STRIDE>();
        return match block.len() {
            2 => Group::RunOfTwo(block.try_into().expect("two histograms")),
            3 => Group::RunOfThree(block.try_into().expect("three histograms")),
            _ => Group::RunOfFour(block.try_into().expect("four histograms")),
        };
    }
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

/// N features' histograms, however they are held.
trait Bins<const N: usize> {
    fn bin(&mut self, feature: usize, bin: u8) -> &mut QBin;
}

impl<const N: usize> Bins<N> for [H<'_>; N] {
    #[inline(always)]
    fn bin(&mut self, feature: usize, bin: u8) -> &mut QBin {
        &mut self[feature][bin as usize]
    }
}

impl<const N: usize> Bins<N> for [[QBin; STRIDE]; N] {
    #[inline(always)]
    fn bin(&mut self, feature: usize, bin: u8) -> &mut QBin {
        &mut self[feature][bin as usize]
    }
}

fn accumulate<const N: usize>(h: &mut impl Bins<N>, cols: [&[u8]; 4], rows: &[u32], g: &[QBin], in_order: bool) {
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
fn accumulate_in_order<const N: usize>(h: &mut impl Bins<N>, cols: [&[u8]; 4], g: &[QBin]) {
    let n = g.len();
    let cols: [&[u8]; N] = std::array::from_fn(|k| &cols[k][..n]);
    let pairs = n / 2;
    for j in 0..pairs {
        let (i0, i1) = (2 * j, 2 * j + 1);
        let (p0, p1) = (&g[i0], &g[i1]);
        for (k, col) in cols.iter().enumerate() {
            add(h.bin(k, col[i0]), p0);
            add(h.bin(k, col[i1]), p1);
        }
    }
    if n % 2 == 1 {
        for (k, col) in cols.iter().enumerate() {
            add(h.bin(k, col[n - 1]), &g[n - 1]);
        }
    }
}

fn accumulate_gathered<const N: usize>(h: &mut impl Bins<N>, cols: [&[u8]; 4], rows: &[u32], g: &[QBin]) {
    let len = cols[0].len();
    let cols: [&[u8]; N] = std::array::from_fn(|k| &cols[k][..len]);
    let mut row_pairs = rows.chunks_exact(2);
    let mut g_pairs = g.chunks_exact(2);
    for (r, p) in (&mut row_pairs).zip(&mut g_pairs) {
        let (r0, r1) = (r[0] as usize, r[1] as usize);
        for (k, col) in cols.iter().enumerate() {
            add(h.bin(k, col[r0]), &p[0]);
            add(h.bin(k, col[r1]), &p[1]);
        }
    }
    for (&r, p) in row_pairs.remainder().iter().zip(g_pairs.remainder()) {
        for (k, col) in cols.iter().enumerate() {
            add(h.bin(k, col[r as usize]), p);
        }
    }
}
