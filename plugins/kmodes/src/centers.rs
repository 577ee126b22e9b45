//! Cluster centres (modes and numeric centroids) and the distance kernel.
//!
//! The kernel avoids comparing a row with each of the k modes attribute by
//! attribute. Instead, for every slot (attribute value) it keeps a match word:
//! one byte per cluster, 1 if that cluster's mode for the attribute is this
//! value. Summing the words of a row's m slots gives, in each byte, the number
//! of attributes on which the row matches each cluster: m additions of a u64
//! for eight clusters at a time (bytes cannot overflow for m ≤ 255, and longer
//! rows are summed in chunks of 255). Missing slots keep an all-zero word, so a
//! missing value matches no mode. This is plain integer arithmetic, so it is as
//! fast inside wasm (no SIMD needed) as natively.

use crate::data::Encoded;

/// Attributes summed per chunk before a byte could overflow.
const CHUNK: usize = 255;

#[derive(Debug, Clone)]
pub struct Centers {
    pub k: usize,
    pub m: usize,
    pub p: usize,
    /// Weight of one categorical mismatch (1 for K-Modes, gamma for K-Prototypes).
    pub gamma: f64,
    /// k × m slots.
    pub modes: Vec<u32>,
    /// k × p numeric centroids.
    pub means: Vec<f64>,
    /// The same, p × (8·words), padded: the distance loop runs over clusters for
    /// one attribute at a time, over a fixed eight lanes when k ≤ 8 (unrolled,
    /// vectorisable natively, no per-cluster loop back-edge in wasm).
    means_t: Vec<f64>,
    /// Scratch: distance per cluster for the current row.
    dist: Vec<f64>,
    /// u64 words per slot: ceil(k / 8).
    words: usize,
    /// slots × words match words.
    table: Vec<u64>,
    /// Scratch: matches per cluster for the current row.
    matches: Vec<u32>,
}

impl Centers {
    pub fn new(k: usize, m: usize, p: usize, slots: usize, gamma: f64, modes: Vec<u32>, means: Vec<f64>) -> Centers {
        let words = k.div_ceil(8);
        let mut centers = Centers {
            k,
            m,
            p,
            gamma,
            modes,
            means_t: (0..p * 8 * words)
                .map(|jc| {
                    let (j, c) = (jc / (8 * words), jc % (8 * words));
                    if c < k {
                        means[c * p + j]
                    } else {
                        0.0
                    }
                })
                .collect(),
            dist: vec![0.0; k],
            means,
            words,
            table: vec![0; slots * words],
            matches: vec![0; k],
        };
        for c in 0..k {
            for a in 0..m {
                let s = centers.modes[c * m + a];
                centers.flip(c, s);
            }
        }
        centers
    }

    /// A bare match-word table with no bit set, for other per-slot cluster flags
    /// (the refinement's "this value ties the cluster's highest count").
    pub fn flags(k: usize, slots: usize) -> Centers {
        Centers::new(k, 0, 0, slots, 1.0, vec![], vec![])
    }

    pub fn set_flag(&mut self, c: usize, s: u32, on: bool) {
        let word = &mut self.table[s as usize * self.words + c / 8];
        let bit = 1u64 << (8 * (c % 8));
        if on {
            *word |= bit;
        } else {
            *word &= !bit;
        }
    }

    pub fn flag(&self, c: usize, s: u32) -> bool {
        self.table[s as usize * self.words + c / 8] & (1u64 << (8 * (c % 8))) != 0
    }

    /// Per cluster, how many of the row's slots carry its flag.
    pub fn flag_counts(&mut self, row: &[u32]) -> &[u32] {
        self.count_matches(row);
        &self.matches
    }

    /// Toggles cluster c's match bit in slot s's word.
    fn flip(&mut self, c: usize, s: u32) {
        self.table[s as usize * self.words + c / 8] ^= 1u64 << (8 * (c % 8));
    }

    pub fn mode(&self, c: usize, a: usize) -> u32 {
        self.modes[c * self.m + a]
    }

    pub fn set_mode(&mut self, c: usize, a: usize, s: u32) {
        let old = self.modes[c * self.m + a];
        if old != s {
            self.flip(c, old);
            self.flip(c, s);
            self.modes[c * self.m + a] = s;
        }
    }

    pub fn set_mean(&mut self, c: usize, j: usize, v: f64) {
        self.means[c * self.p + j] = v;
        self.means_t[j * 8 * self.words + c] = v;
    }

    /// Nearest cluster of row i of `d` and its distance, as the `kmodes` package
    /// measures it: mismatches (K-Modes), or squared Euclidean distance plus gamma
    /// times mismatches (K-Prototypes). Ties go to the lowest cluster, as np.argmin.
    pub fn nearest(&mut self, d: &Encoded, i: usize) -> (u32, f64) {
        let row = d.cat_row(i);
        if self.p == 0 && self.words == 1 && self.m <= CHUNK {
            return self.nearest_modes_only(row);
        }
        if self.words == 1 && self.m <= CHUNK {
            return self.nearest_up_to_eight(row, d.num_row(i));
        }
        self.count_matches(row);
        // As the package: squared distance summed over the attributes in order,
        // then gamma times the mismatches.
        self.dist.fill(0.0);
        let stride = 8 * self.words;
        for (j, &v) in d.num_row(i).iter().enumerate() {
            if v.is_nan() {
                continue; // a missing value says nothing about which cluster is nearer
            }
            let mu = &self.means_t[j * stride..j * stride + self.k];
            for (acc, u) in self.dist.iter_mut().zip(mu) {
                let diff = v - u;
                *acc += diff * diff;
            }
        }
        let mut best = (0u32, f64::INFINITY);
        for c in 0..self.k {
            let cost = self.dist[c] + self.gamma * (self.m as u32 - self.matches[c]) as f64;
            if cost < best.1 {
                best = (c as u32, cost);
            }
        }
        best
    }

    /// K-Prototypes with k ≤ 8 and m ≤ 255: one match word, eight fixed lanes.
    fn nearest_up_to_eight(&self, row: &[u32], x: &[f64]) -> (u32, f64) {
        let acc = sum_words(&self.table, row, 1, 0);
        let mut dist = [0.0f64; 8];
        for (j, &v) in x.iter().enumerate() {
            if v.is_nan() {
                continue; // a missing value says nothing about which cluster is nearer
            }
            let mu: &[f64; 8] = self.means_t[j * 8..j * 8 + 8].try_into().expect("eight lanes");
            for l in 0..8 {
                let diff = v - mu[l];
                dist[l] += diff * diff;
            }
        }
        let mut best = (0u32, f64::INFINITY);
        for (c, &num) in dist.iter().enumerate().take(self.k) {
            let mismatches = self.m as u64 - ((acc >> (8 * c)) & 0xFF);
            let cost = num + self.gamma * mismatches as f64;
            if cost < best.1 {
                best = (c as u32, cost);
            }
        }
        best
    }

    /// The common K-Modes case (k ≤ 8, m ≤ 255): one accumulator, no scratch.
    fn nearest_modes_only(&self, row: &[u32]) -> (u32, f64) {
        let acc = sum_words(&self.table, row, 1, 0);
        let (mut best, mut best_matches) = (0, acc & 0xFF);
        for c in 1..self.k {
            let v = (acc >> (8 * c)) & 0xFF;
            if v > best_matches {
                best = c;
                best_matches = v;
            }
        }
        (best as u32, (self.m as u64 - best_matches) as f64)
    }

    /// Mismatches of a row against every cluster's mode.
    pub fn mismatch_counts(&mut self, row: &[u32]) -> &[u32] {
        self.count_matches(row);
        let m = self.m as u32;
        self.matches.iter_mut().for_each(|x| *x = m - *x);
        &self.matches
    }

    fn count_matches(&mut self, row: &[u32]) {
        self.matches.fill(0);
        for chunk in row.chunks(CHUNK) {
            for w in 0..self.words {
                let acc = sum_words(&self.table, chunk, self.words, w);
                let lanes = (self.k - 8 * w).min(8);
                for b in 0..lanes {
                    self.matches[8 * w + b] += ((acc >> (8 * b)) & 0xFF) as u32;
                }
            }
        }
    }
}

/// Sum of word `w` of each slot's match words. Four accumulators, unrolled:
/// fewer loop back-edges (each costs an epoch check under wasmtime's epoch
/// interruption) and independent loads.
#[inline]
fn sum_words(table: &[u64], slots: &[u32], words: usize, w: usize) -> u64 {
    let mut acc = [0u64; 4];
    let mut quads = slots.chunks_exact(4);
    for q in &mut quads {
        acc[0] = acc[0].wrapping_add(table[q[0] as usize * words + w]);
        acc[1] = acc[1].wrapping_add(table[q[1] as usize * words + w]);
        acc[2] = acc[2].wrapping_add(table[q[2] as usize * words + w]);
        acc[3] = acc[3].wrapping_add(table[q[3] as usize * words + w]);
    }
    for &s in quads.remainder() {
        acc[0] = acc[0].wrapping_add(table[s as usize * words + w]);
    }
    acc[0].wrapping_add(acc[1]).wrapping_add(acc[2]).wrapping_add(acc[3])
}

/// Number of attributes on which two slot rows differ.
pub fn mismatches(a: &[u32], b: &[u32]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x != y) as u32).sum()
}
