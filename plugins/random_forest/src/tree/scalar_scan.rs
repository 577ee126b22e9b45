//! Threshold scans on three scalars per bin, (samples, weight, weighted sum):
//! regression, and two classes (the sum being class 1's weight). Deep trees
//! scan millions of candidate thresholds, so these avoid the statistic
//! vectors of `split` and compare scores without dividing. The scans run over
//! a feature's `BinStats`, or straight over keys sorted by bin (a small node's
//! sorted bytes, or presorted keys).
//!
//! Owns the scalar scoring; must not touch the node's rows or the tree, and
//! hands its best split to `SplitSearch::record_scalar`.

use super::bin_stats::{sort_keys, BinStats, ValueAcc};
use super::midpoint_bin;
use super::split::SplitSearch;

/// What `ScalarScan` scores: the squared error on (samples, weight, weighted
/// target sum), or, for two classes, gini / entropy on (samples, weight,
/// weight of class 1).
#[derive(Clone, Copy, PartialEq)]
pub enum ScanKind {
    Squared,
    Gini2,
    Entropy2,
}

/// The best threshold of one feature's scan.
struct ScalarScan {
    kind: ScanKind,
    totals: [f64; 3],
    missing: [f64; 3],
    has_missing: bool,
    min_leaf: f64,
    best: f64,
    /// (threshold bin, missing goes left, left statistics) of the best split.
    found: Option<(u8, bool, [f64; 3])>,
}

impl ScalarScan {
    fn new(search: &SplitSearch, totals: &[f64], best: f64, missing: [f64; 3]) -> ScalarScan {
        let totals = [totals[0], totals[1], totals[2]];
        ScalarScan { kind: search.kind, totals, missing, has_missing: missing[0] > 0.0, min_leaf: search.min_leaf, best, found: None }
    }

    /// x ln x, 0 at 0.
    #[inline(always)]
    fn xlnx(x: f64) -> f64 {
        if x > 0.0 {
            x * x.ln()
        } else {
            0.0
        }
    }

    #[inline(always)]
    fn consider(&mut self, thr: u8, missing_left: bool, l: [f64; 3]) {
        let t = self.totals;
        let r = [t[0] - l[0], t[1] - l[1], t[2] - l[2]];
        if l[0] >= self.min_leaf && r[0] >= self.min_leaf {
            if self.kind == ScanKind::Entropy2 {
                let side = |s: [f64; 3]| Self::xlnx(s[2]) + Self::xlnx(s[1] - s[2]) - Self::xlnx(s[1]);
                let score = side(l) + side(r);
                if score > self.best {
                    self.best = score;
                    self.found = Some((thr, missing_left, l));
                }
                return;
            }
            // score = ql/l1 + qr/r1 > best, without dividing (weights are
            // positive); q = s² (squared error) or c0² + c1² (gini).
            let q = |s: [f64; 3]| match self.kind {
                ScanKind::Gini2 => (s[1] - s[2]) * (s[1] - s[2]) + s[2] * s[2],
                _ => s[2] * s[2],
            };
            let den = l[1] * r[1];
            let num = q(l) * r[1] + q(r) * l[1];
            if num > self.best * den {
                self.best = num / den;
                self.found = Some((thr, missing_left, l));
            }
        }
    }

    /// Candidates after value bin `bin`, given the values up to it (`left`):
    /// the threshold with the missing values on the side the larger child
    /// takes (or on the left and on the right when the node has some), or,
    /// after the last bin, the missing values alone against all values.
    #[inline(always)]
    fn boundary(&mut self, bin: u8, next: Option<u8>, left: [f64; 3]) {
        match next {
            None if self.has_missing => self.consider(255, false, left),
            None => {}
            Some(next) => {
                let thr = midpoint_bin(bin, next);
                self.consider(thr, !self.has_missing && 2.0 * left[0] >= self.totals[0], left);
                if self.has_missing {
                    let m = self.missing;
                    self.consider(thr, true, [left[0] + m[0], left[1] + m[1], left[2] + m[2]]);
                }
            }
        }
    }
}

impl SplitSearch {
    /// `numeric` on three scalars per bin (`e` of width 3).
    #[inline(never)]
    pub fn numeric_triples(&mut self, f: usize, e: &BinStats, totals: &[f64]) {
        let st = &e.stats;
        let m = e.bins.len();
        let has_missing = e.bins[0] == crate::data::MISSING_BIN;
        let missing = if has_missing { [st[0], st[1], st[2]] } else { [0.0; 3] };
        let mut scan = ScalarScan::new(self, totals, self.best.score, missing);
        let mut left = [0.0; 3];
        for j in usize::from(has_missing)..m {
            left[0] += st[3 * j];
            left[1] += st[3 * j + 1];
            left[2] += st[3 * j + 2];
            let next = if j + 1 < m { Some(e.bins[j + 1]) } else { None };
            scan.boundary(e.bins[j], next, left);
        }
        self.record_scalar(f, scan.best, scan.found);
    }

    /// The same scan straight from a small node's samples sorted by bin, with
    /// no per-bin table: most nodes of a deep tree hold a handful of samples.
    /// Returns false when the feature is constant at the node.
    #[inline(never)]
    pub fn small_node_triples(&mut self, f: usize, col: &[u8], idx: &[u32], acc: &ValueAcc, keys: &mut Vec<u32>, totals: &[f64]) -> bool {
        sort_keys(col, idx, keys);
        self.sorted_triples(f, keys, |j| (acc.w[j], acc.wy[j]), totals)
    }

    /// The scan over `bin << 24 | j` keys sorted by bin, `at(j)` giving
    /// sample j's weight and weighted sum. False when the feature is constant.
    #[inline(always)]
    pub fn sorted_triples(&mut self, f: usize, keys: &[u32], at: impl Fn(usize) -> (f64, f64), totals: &[f64]) -> bool {
        let (first_bin, last_bin) = ((keys[0] >> 24) as u8, (keys[keys.len() - 1] >> 24) as u8);
        if first_bin == last_bin {
            return false;
        }
        let mut missing = [0.0; 3];
        let mut k = 0;
        while k < keys.len() && keys[k] >> 24 == 0 {
            let (w, wy) = at((keys[k] & 0xFF_FFFF) as usize);
            missing = [missing[0] + 1.0, missing[1] + w, missing[2] + wy];
            k += 1;
        }
        let mut scan = ScalarScan::new(self, totals, self.best.score, missing);
        let mut left = [0.0; 3];
        let last = keys.len() - 1;
        while k < last {
            let (key, next) = (keys[k], keys[k + 1]);
            let (w, wy) = at((key & 0xFF_FFFF) as usize);
            left = [left[0] + 1.0, left[1] + w, left[2] + wy];
            let (bin, next_bin) = ((key >> 24) as u8, (next >> 24) as u8);
            if bin != next_bin {
                scan.boundary(bin, Some(next_bin), left);
            }
            k += 1;
        }
        if scan.has_missing {
            let (w, wy) = at((keys[last] & 0xFF_FFFF) as usize);
            left = [left[0] + 1.0, left[1] + w, left[2] + wy];
            scan.boundary((keys[last] >> 24) as u8, None, left);
        }
        self.record_scalar(f, scan.best, scan.found);
        true
    }

    /// `sorted_triples` for the squared error when the node has no missing
    /// value (the common case): the same arithmetic in a tighter loop that
    /// remembers only where the best split was. False when the feature is constant.
    /// The hottest loop of a regression fit: kept whole, since moving parts of
    /// it (or the function itself) out of line measured slower.
    #[inline(always)]
    pub fn sorted_squared_error(&mut self, f: usize, keys: &[u32], wwy: &[[f64; 2]], totals: &[f64]) -> bool {
        let last = keys.len() - 1;
        if keys[0] >> 24 == keys[last] >> 24 {
            return false;
        }
        let t = [totals[0], totals[1], totals[2]];
        let min_leaf = self.min_leaf;
        let mut best = self.best.score;
        let mut found: Option<(usize, [f64; 3])> = None;
        let mut left = [0.0f64; 3];
        for (k, (&key, &next)) in keys[..last].iter().zip(&keys[1..]).enumerate() {
            let [w, wy] = wwy[(key & 0xFF_FFFF) as usize];
            left = [left[0] + 1.0, left[1] + w, left[2] + wy];
            if key >> 24 != next >> 24 {
                let l = left;
                let r = [t[0] - l[0], t[1] - l[1], t[2] - l[2]];
                if l[0] >= min_leaf && r[0] >= min_leaf {
                    let den = l[1] * r[1];
                    let num = l[2] * l[2] * r[1] + r[2] * r[2] * l[1];
                    if num > best * den {
                        best = num / den;
                        found = Some((k, l));
                    }
                }
            }
        }
        if let Some((k, l)) = found {
            let thr = midpoint_bin((keys[k] >> 24) as u8, (keys[k + 1] >> 24) as u8);
            // The larger child takes the missing values at prediction.
            self.record_scalar(f, best, Some((thr, 2.0 * l[0] >= t[0], l)));
        }
        true
    }
}
