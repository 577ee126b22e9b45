//! What a split is (its side sums and the set of bins sent left), the
//! regularised gain and leaf value formulas, and the scan of one numeric
//! feature's histogram for its best threshold and missing-value direction.
//!
//! Counts are estimated from hessians as LightGBM does (`count ≈ hessian ×
//! rows / hessian of the leaf`), so histograms need carry only two sums.
//! Must not build histograms or move rows.

use super::bin::Bin;
use crate::params::TreeSettings;

/// A set of bins (256 at most), as four 64-bit words.
pub type BinSet = [u64; 4];

#[inline]
pub fn bin_in(set: &BinSet, bin: u8) -> bool {
    (set[(bin >> 6) as usize] >> (bin & 63)) & 1 == 1
}

#[inline]
pub fn bin_add(set: &mut BinSet, bin: u8) {
    set[(bin >> 6) as usize] |= 1 << (bin & 63);
}

/// Gradient, hessian and row sums of a set of rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sums {
    pub g: f64,
    pub h: f64,
    pub n: f64,
}

impl Sums {
    pub fn minus(self, o: Sums) -> Sums {
        Sums { g: self.g - o.g, h: self.h - o.h, n: self.n - o.n }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Split {
    /// Gain over the unsplit leaf, less minGainToSplit; NEG_INFINITY when none.
    pub gain: f64,
    pub feature: u32,
    pub left: Sums,
    pub right: Sums,
    /// Bins that go left (bin 0, missing, included when missing goes left).
    pub bins: BinSet,
    /// Numeric: the last value bin that goes left.
    pub threshold: u8,
}

impl Split {
    pub const NONE: Split = Split {
        gain: f64::NEG_INFINITY,
        feature: 0,
        left: Sums { g: 0.0, h: 0.0, n: 0.0 },
        right: Sums { g: 0.0, h: 0.0, n: 0.0 },
        bins: [0; 4],
        threshold: 0,
    };

    pub fn is_some(&self) -> bool {
        self.gain > 0.0
    }
}

/// The L1-shrunk gradient sum.
#[inline]
fn shrink(g: f64, l1: f64) -> f64 {
    // A comparison, not f64::max: in WASM max is a libm call (NaN rules).
    let a = g.abs() - l1;
    if a > 0.0 {
        a.copysign(g)
    } else {
        0.0
    }
}

#[inline]
pub fn leaf_gain(g: f64, h: f64, l1: f64, l2: f64) -> f64 {
    let t = shrink(g, l1);
    t * t / (h + l2)
}

/// The Newton step of a leaf: -G / (H + λ2), G shrunk by λ1.
#[inline]
pub fn leaf_output(s: Sums, l1: f64, l2: f64) -> f64 {
    if s.h + l2 <= 0.0 {
        return 0.0;
    }
    -shrink(s.g, l1) / (s.h + l2)
}

/// Whether both sides respect minDataInLeaf and minSumHessianInLeaf.
#[inline]
pub fn sides_ok(left: &Sums, right: &Sums, s: &TreeSettings) -> bool {
    left.n >= s.min_data_in_leaf && right.n >= s.min_data_in_leaf && left.h >= s.min_sum_hessian && right.h >= s.min_sum_hessian
}

/// The gain a split must exceed: the leaf's own gain plus minGainToSplit.
pub fn gain_shift(total: Sums, s: &TreeSettings) -> f64 {
    leaf_gain(total.g, total.h, s.lambda_l1, s.lambda_l2) + s.min_gain_to_split
}

/// Best threshold of a numeric feature, tried with missing values (bin 0)
/// on either side; replaces `best` when better.
pub fn best_numeric(hist: &[Bin], total: Sums, s: &TreeSettings, feature: u32, best: &mut Split) {
    let nb = hist.len();
    if nb < 2 {
        return;
    }
    let per_h = if total.h > 0.0 { total.n / total.h } else { 0.0 };
    let shift = gain_shift(total, s);
    let (l1, l2) = (s.lambda_l1, s.lambda_l2);
    let missing = hist[0];
    let passes: &[bool] = if missing.h() > 0.0 { &[false, true] } else { &[false] };
    for &missing_left in passes {
        let mut left = if missing_left { Sums { g: missing.g(), h: missing.h(), n: (missing.h() * per_h).round() } } else { Sums::default() };
        let mut lh = left.h;
        // With missing values on the right, all values left is a split too ("missing or not").
        let last = if missing_left || missing.h() <= 0.0 { nb - 2 } else { nb - 1 };
        for (t, b) in hist.iter().enumerate().take(last + 1).skip(1) {
            left.g += b.g();
            lh += b.h();
            left.h = lh;
            // LightGBM rounds this estimate; unrounded it decides the same
            // splits to within half a row and saves a rounding per bin.
            left.n = lh * per_h;
            let right = total.minus(left);
            if !sides_ok(&left, &right, s) {
                if right.n < s.min_data_in_leaf || right.h < s.min_sum_hessian {
                    break;
                }
                continue;
            }
            let gain = leaf_gain(left.g, left.h, l1, l2) + leaf_gain(right.g, right.h, l1, l2) - shift;
            if gain > best.gain && gain > 0.0 {
                let mut bins = [u64::MAX, u64::MAX, u64::MAX, u64::MAX];
                clear_above(&mut bins, t as u8);
                // Missing values unseen at this node follow the larger side
                // when they turn up at prediction.
                let unseen_left = missing.h() <= 0.0 && left.h > right.h;
                if !missing_left && !unseen_left {
                    bins[0] &= !1;
                }
                *best = Split { gain, feature, left, right, bins, threshold: t as u8 };
            }
        }
    }
}

/// Keeps only bins 0..=t in the set.
fn clear_above(set: &mut BinSet, t: u8) {
    for (w, word) in set.iter_mut().enumerate() {
        let lo = w * 64;
        let keep = (t as usize + 1).saturating_sub(lo).min(64);
        *word = if keep == 64 { u64::MAX } else { (1u64 << keep) - 1 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::CatSettings;

    pub fn settings() -> TreeSettings {
        TreeSettings {
            num_leaves: 31,
            max_depth: usize::MAX,
            min_data_in_leaf: 1.0,
            min_sum_hessian: 1e-3,
            lambda_l1: 0.0,
            lambda_l2: 0.0,
            min_gain_to_split: 0.0,
            cat: CatSettings { max_threshold: 32, smooth: 1.0, l2: 0.0, min_data_per_group: 1.0, max_to_onehot: 4 },
        }
    }

    #[test]
    fn finds_the_cut_between_opposite_gradients_and_routes_missing() {
        // bins: missing (g -3), 1 (g -2), 2 (g -2), 3 (g +2), 4 (g +2); one row each.
        let hist: Vec<Bin> = [[-3.0, 1.0], [-2.0, 1.0], [-2.0, 1.0], [2.0, 1.0], [2.0, 1.0]].iter().map(|b| Bin::new(b[0], b[1])).collect();
        let total = Sums { g: -3.0, h: 5.0, n: 5.0 };
        let mut best = Split::NONE;
        best_numeric(&hist, total, &settings(), 0, &mut best);
        assert_eq!(best.threshold, 2);
        assert!(bin_in(&best.bins, 0), "missing rows look like the left ones");
        assert!(bin_in(&best.bins, 2) && !bin_in(&best.bins, 3));
        assert_eq!(best.left, Sums { g: -7.0, h: 3.0, n: 3.0 });
    }

    #[test]
    fn bin_sets_keep_exactly_the_low_bins() {
        let mut s = [u64::MAX; 4];
        clear_above(&mut s, 70);
        assert!(bin_in(&s, 70) && !bin_in(&s, 71) && bin_in(&s, 63));
        clear_above(&mut s, 255);
        assert!(bin_in(&s, 255));
    }
}
