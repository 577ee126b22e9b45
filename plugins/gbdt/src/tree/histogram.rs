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
    ordered: Vec<[f32; 2]>,
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
    /// gradients are first gathered in row order, so the inner loops read
    /// them sequentially; `in_order` says `rows` is 0..n, where the gather
    /// is skipped.
    pub fn build(&mut self, slot: usize, binned: &Binned, features: &[u32], rows: &[u32], gh: &[[f32; 2]], in_order: bool) {
        let hist = &mut self.slots[slot];
        let ordered = &mut self.ordered;
        let g: &[[f32; 2]] = if in_order {
            &gh[..rows.len()]
        } else {
            ordered.clear();
            ordered.extend(rows.iter().map(|&r| gh[r as usize]));
            ordered
        };
        for &f in features {
            let f = f as usize;
            let h: &mut [Bin; STRIDE] = (&mut hist[f * STRIDE..(f + 1) * STRIDE]).try_into().expect("a feature's histogram has STRIDE bins");
            h.fill([0.0; 2]);
            let col = binned.col(f);
            if in_order {
                accumulate_in_order(h, &col[..g.len()], g);
            } else {
                accumulate_gathered(h, col, rows, g);
            }
        }
    }
}

#[inline]
fn accumulate_in_order(h: &mut [Bin; STRIDE], col: &[u8], g: &[[f32; 2]]) {
    for (&b, p) in col.iter().zip(g) {
        let e = &mut h[b as usize];
        e[0] += f64::from(p[0]);
        e[1] += f64::from(p[1]);
    }
}

#[inline]
fn accumulate_gathered(h: &mut [Bin; STRIDE], col: &[u8], rows: &[u32], g: &[[f32; 2]]) {
    for (&r, p) in rows.iter().zip(g) {
        let e = &mut h[col[r as usize] as usize];
        e[0] += f64::from(p[0]);
        e[1] += f64::from(p[1]);
    }
}
