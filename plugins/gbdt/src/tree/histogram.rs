//! Gradient histograms: per leaf, per feature, the sums of gradients and
//! hessians of its rows in each bin (256 slots a feature, so a bin byte
//! indexes without a bounds check). A pool of buffers reused across nodes
//! and trees; when a budget caps how many leaves keep one, the least
//! promising leaf gives its buffer up and is rebuilt from rows if split.
//!
//! Owns the buffers and the accumulation loops; must not scan for splits.

use crate::data::Binned;

pub const STRIDE: usize = 256;
/// Memory the pool may hold, whatever numLeaves asks.
const POOL_BYTES: usize = 768 << 20;

pub type Bin = [f64; 2];

pub struct HistPool {
    /// One feature-major histogram set per slot.
    slots: Vec<Vec<Bin>>,
    free: Vec<usize>,
    /// Scratch: the gradients of a leaf's rows gathered in row order.
    ordered: Vec<Bin>,
    len: usize,
    max_slots: usize,
}

impl HistPool {
    pub fn new(n_features: usize, num_leaves: usize) -> HistPool {
        let len = n_features * STRIDE;
        let fit = POOL_BYTES / (len * std::mem::size_of::<Bin>()).max(1);
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
        self.slots.push(vec![[0.0; 2]; self.len]);
        Some(self.slots.len() - 1)
    }

    pub fn release(&mut self, slot: usize) {
        self.free.push(slot);
    }

    /// One feature's bins of a slot.
    pub fn feature(&self, slot: usize, f: usize, n_bins: usize) -> &[Bin] {
        &self.slots[slot][f * STRIDE..f * STRIDE + n_bins]
    }

    /// `big -= small` over the listed features: the larger child's histogram
    /// from its parent's (held in `big`) and its sibling's.
    pub fn subtract(&mut self, big: usize, small: usize, features: &[u32]) {
        let small_hist = std::mem::take(&mut self.slots[small]);
        let big_hist = &mut self.slots[big];
        for &f in features {
            let range = f as usize * STRIDE..(f as usize + 1) * STRIDE;
            for (b, s) in big_hist[range.clone()].iter_mut().zip(&small_hist[range]) {
                b[0] -= s[0];
                b[1] -= s[1];
            }
        }
        self.slots[small] = small_hist;
    }

    /// Accumulates `rows` into `slot` for the listed features. The rows'
    /// gradients are first gathered, widened to f64, in row order, so the
    /// inner loops only read them sequentially and add; features go four at
    /// a time so one read of a row's index and gradient serves four bins.
    /// `in_order` says `rows` is 0..n, where the bins are read sequentially too.
    pub fn build(&mut self, slot: usize, binned: &Binned, features: &[u32], rows: &[u32], gh: &[[f32; 2]], in_order: bool) {
        let hist = &mut self.slots[slot];
        let g = &mut self.ordered;
        g.clear();
        g.extend(rows.iter().map(|&r| {
            let p = gh[r as usize];
            [f64::from(p[0]), f64::from(p[1])]
        }));
        for group in features.chunks(4) {
            let mut cols: [&[u8]; 4] = [&[]; 4];
            for (c, &f) in cols.iter_mut().zip(group) {
                let f = f as usize;
                hist[f * STRIDE..(f + 1) * STRIDE].fill([0.0; 2]);
                *c = binned.col(f);
            }
            if group.len() == 4 {
                let mut hs = four(hist, group);
                if in_order {
                    accumulate4_in_order(&mut hs, cols, g);
                } else {
                    accumulate4_gathered(&mut hs, cols, rows, g);
                }
            } else {
                for (&f, col) in group.iter().zip(cols) {
                    let f = f as usize;
                    let h: &mut [Bin; STRIDE] = (&mut hist[f * STRIDE..(f + 1) * STRIDE]).try_into().expect("STRIDE bins");
                    if in_order {
                        col[..g.len()].iter().zip(g.iter()).for_each(|(&b, p)| add(&mut h[b as usize], p));
                    } else {
                        rows.iter().zip(g.iter()).for_each(|(&r, p)| add(&mut h[col[r as usize] as usize], p));
                    }
                }
            }
        }
    }
}

/// The histograms of four distinct features (ascending) as separate borrows.
fn four<'h>(hist: &'h mut [Bin], f: &[u32]) -> [&'h mut [Bin; STRIDE]; 4] {
    let (a, rest) = hist[f[0] as usize * STRIDE..].split_at_mut(STRIDE);
    let (b, rest) = rest[(f[1] - f[0] - 1) as usize * STRIDE..].split_at_mut(STRIDE);
    let (c, rest) = rest[(f[2] - f[1] - 1) as usize * STRIDE..].split_at_mut(STRIDE);
    let d = &mut rest[(f[3] - f[2] - 1) as usize * STRIDE..][..STRIDE];
    let arr = |x: &'h mut [Bin]| -> &'h mut [Bin; STRIDE] { x.try_into().expect("STRIDE bins") };
    [arr(a), arr(b), arr(c), arr(d)]
}

#[inline(always)]
fn add(e: &mut Bin, p: &Bin) {
    e[0] += p[0];
    e[1] += p[1];
}

fn accumulate4_in_order(h: &mut [&mut [Bin; STRIDE]; 4], cols: [&[u8]; 4], g: &[Bin]) {
    let n = g.len();
    let (c0, c1, c2, c3) = (&cols[0][..n], &cols[1][..n], &cols[2][..n], &cols[3][..n]);
    for i in 0..n {
        let p = &g[i];
        add(&mut h[0][c0[i] as usize], p);
        add(&mut h[1][c1[i] as usize], p);
        add(&mut h[2][c2[i] as usize], p);
        add(&mut h[3][c3[i] as usize], p);
    }
}

fn accumulate4_gathered(h: &mut [&mut [Bin; STRIDE]; 4], cols: [&[u8]; 4], rows: &[u32], g: &[Bin]) {
    let n = cols[0].len();
    let (c0, c1, c2, c3) = (&cols[0][..n], &cols[1][..n], &cols[2][..n], &cols[3][..n]);
    for (&r, p) in rows.iter().zip(g) {
        let r = r as usize;
        add(&mut h[0][c0[r] as usize], p);
        add(&mut h[1][c1[r] as usize], p);
        add(&mut h[2][c2[r] as usize], p);
        add(&mut h[3][c3[r] as usize], p);
    }
}
