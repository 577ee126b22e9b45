//! The rows a tree is grown on: each row's bootstrap weight and weighted
//! target (and, for two classes, its packed statistics), the in-bag rows in
//! node order, and a node's gathered copy of its rows' statistics, so that
//! each feature's pass reads only its own column at random.
//!
//! Owns the per-row arrays and the two-class packing; must not build
//! histograms or decide splits (the partition of `samples` is `partition`'s).

use super::context::DataView;
use crate::data::Target;
use crate::params::Settings;

/// Two classes: a row's or a bin's (samples, weight, class 1's weight) are
/// integers packed 21 bits each in one u64, so a sample costs one addition.
pub const PACK_BITS: u32 = 21;
const PACK_MASK: u64 = (1u64 << PACK_BITS) - 1;

#[inline(always)]
pub fn packed_samples(pk: u64) -> f64 {
    (pk & PACK_MASK) as f64
}

#[inline(always)]
pub fn packed_weight(pk: u64) -> f64 {
    ((pk >> PACK_BITS) & PACK_MASK) as f64
}

#[inline(always)]
pub fn packed_class1(pk: u64) -> f64 {
    (pk >> (2 * PACK_BITS)) as f64
}

/// The current tree's rows.
pub struct TreeRows {
    /// The in-bag rows; each node is a range of them, ascending within it.
    pub samples: Vec<u32>,
    /// Every row's bootstrap multiplicity (0 out of bag).
    pub w: Vec<f64>,
    /// Weight times target (regression only).
    pub wy: Vec<f64>,
    /// Every row's packed statistics (count 0 out of bag), when `packing`.
    pub packed: Vec<u64>,
    packing: bool,
    /// Each class's weight (`classWeight`), multiplying its rows' counts; None: unweighted.
    class_weights: Option<Vec<f64>>,
}

impl TreeRows {
    pub fn new(data: &DataView, settings: &Settings) -> TreeRows {
        let rows = data.rows();
        let regression = data.n_classes == 0;
        let class_weights = match data.target {
            Target::Classes { y, .. } => settings.class_weight.weights(y, data.n_classes),
            Target::Values(_) => None,
        };
        // Packed fields must not overflow: rows and bootstrap draws < 2^21;
        // and they hold whole counts, so weighted classes are not packed.
        let packing = data.n_classes == 2 && class_weights.is_none() && {
            let draws = if settings.bootstrap { (settings.max_samples * rows as f64).round() as usize } else { rows };
            rows.max(draws) < 1 << PACK_BITS
        };
        TreeRows {
            samples: Vec::with_capacity(rows),
            w: vec![0.0; rows],
            wy: if regression { vec![0.0; rows] } else { Vec::new() },
            packed: Vec::new(),
            packing,
            class_weights,
        }
    }

    /// Two classes, packed (see `PACK_BITS`).
    pub fn is_packed(&self) -> bool {
        self.packing
    }

    /// Loads a tree's bootstrap multiplicities: the rows with a positive count are in bag.
    pub fn load(&mut self, counts: &[u32], target: &Target) {
        self.samples.clear();
        for (i, &c) in counts.iter().enumerate() {
            self.w[i] = c as f64;
            if c > 0 {
                self.samples.push(i as u32);
            }
        }
        if let (Some(weights), Target::Classes { y, .. }) = (&self.class_weights, target) {
            self.w.iter_mut().zip(y).for_each(|(w, &c)| *w *= weights.get(c as usize).copied().unwrap_or(1.0));
        }
        if let Target::Values(y) = target {
            self.wy.iter_mut().zip(y).zip(&self.w).for_each(|((wy, y), w)| *wy = w * y);
        }
        if let (true, Target::Classes { y, .. }) = (self.packing, target) {
            self.packed.clear();
            self.packed.extend(counts.iter().zip(y).map(|(&c, &y)| {
                let c = c as u64;
                1 | c << PACK_BITS | if y == 1 { c << (2 * PACK_BITS) } else { 0 }
            }));
        }
    }

    /// Node totals over the rows `idx`: the same statistics as a bin.
    pub fn totals(&self, target: &Target, idx: &[u32], s: &mut [f64]) {
        s.fill(0.0);
        for &i in idx {
            let i = i as usize;
            s[0] += 1.0;
            s[1] += self.w[i];
            match target {
                Target::Classes { y, .. } => s[2 + y[i] as usize] += self.w[i],
                Target::Values(_) => s[2] += self.wy[i],
            }
        }
    }
}

/// One node's rows' statistics, by position in the node, gathered once per node.
#[derive(Default)]
pub struct NodeRows {
    pub w: Vec<f64>,
    /// Regression: weighted target; two classes unpacked: class 1's weight.
    pub wy: Vec<f64>,
    pub y: Vec<u32>,
    /// Two classes: the packed statistics.
    pub pk: Vec<u64>,
}

impl NodeRows {
    /// Gathers what the scans of the node `idx` read: nothing for regression
    /// when the forest presorts (its nodes read histograms or presorted
    /// keys), only the packed statistics for two classes (the plain arrays
    /// too when some feature is categorical).
    pub fn gather(&mut self, data: &DataView, rows: &TreeRows, idx: &[u32], presorting: bool) {
        match data.target {
            Target::Classes { y, .. } if rows.is_packed() => {
                gather(&mut self.pk, &rows.packed, idx);
                if data.has_categorical {
                    gather(&mut self.w, &rows.w, idx);
                    gather(&mut self.y, y, idx);
                }
            }
            Target::Classes { y, .. } => {
                gather(&mut self.w, &rows.w, idx);
                gather(&mut self.y, y, idx);
                if data.n_classes == 2 {
                    // Two classes are scanned like a regression on class 1's weight.
                    self.wy.clear();
                    self.wy.extend(self.w.iter().zip(&self.y).map(|(&w, &y)| if y == 1 { w } else { 0.0 }));
                }
            }
            Target::Values(_) if presorting => {}
            Target::Values(_) => {
                gather(&mut self.w, &rows.w, idx);
                gather(&mut self.wy, &rows.wy, idx);
            }
        }
    }
}

fn gather<T: Copy>(out: &mut Vec<T>, from: &[T], idx: &[u32]) {
    out.clear();
    out.extend(idx.iter().map(|&i| from[i as usize]));
}
