//! The scan of one categorical feature's histogram for its best partition of
//! levels, with LightGBM's method and safeguards:
//!
//! - up to `maxCatToOnehot` levels: one level against the rest;
//! - otherwise levels seen at least `catSmooth` times are ordered by
//!   G / (H + catSmooth), and the best prefix of that order, read from either
//!   end and at most `maxCatThreshold` levels long, goes left; a cut is tried
//!   only once the levels added since the last cut hold `minDataPerGroup`
//!   rows, the other side must hold as many, and the gain uses λ2 + `catL2`.
//!
//! Bin 0 (missing, unseen and rare levels) always goes right. Must not build
//! histograms or move rows.

use super::bin::Bin;
use super::split::{bin_add, gain_shift, leaf_gain, sides_ok, BinSet, Split, Sums};
use crate::params::TreeSettings;

pub fn best_categorical(hist: &[Bin], total: Sums, s: &TreeSettings, feature: u32, order: &mut Vec<(f64, u8)>, best: &mut Split) {
    let nb = hist.len();
    if nb < 3 {
        return;
    }
    let per_h = if total.h > 0.0 { total.n / total.h } else { 0.0 };
    let sums = |b: usize| Sums { g: hist[b].g(), h: hist[b].h(), n: (hist[b].h() * per_h).round() };
    let shift = gain_shift(total, s);
    if nb - 1 <= s.cat.max_to_onehot {
        for b in 1..nb {
            let left = sums(b);
            let right = total.minus(left);
            if !sides_ok(&left, &right, s) {
                continue;
            }
            let gain = leaf_gain(left.g, left.h, s.lambda_l1, s.lambda_l2) + leaf_gain(right.g, right.h, s.lambda_l1, s.lambda_l2) - shift;
            if gain > best.gain && gain > 0.0 {
                let mut bins: BinSet = [0; 4];
                bin_add(&mut bins, b as u8);
                *best = Split { gain, feature, left, right, bins, threshold: 0 };
            }
        }
        return;
    }
    order.clear();
    for b in 1..nb {
        let c = sums(b);
        if c.n >= s.cat.smooth && c.n > 0.0 {
            order.push((c.g / (c.h + s.cat.smooth), b as u8));
        }
    }
    order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let max_cats = s.cat.max_threshold.min(order.len().div_ceil(2));
    let l2 = s.lambda_l2 + s.cat.l2;
    for reverse in [false, true] {
        let (mut left, mut group) = (Sums::default(), 0.0);
        for i in 0..max_cats.min(order.len()) {
            let b = if reverse { order[order.len() - 1 - i].1 } else { order[i].1 };
            let c = sums(b as usize);
            left = Sums { g: left.g + c.g, h: left.h + c.h, n: left.n + c.n };
            group += c.n;
            if left.n < s.min_data_in_leaf || left.h < s.min_sum_hessian {
                continue;
            }
            let right = total.minus(left);
            if right.n < s.min_data_in_leaf || right.n < s.cat.min_data_per_group || right.h < s.min_sum_hessian {
                break;
            }
            if group < s.cat.min_data_per_group {
                continue;
            }
            group = 0.0;
            let gain = leaf_gain(left.g, left.h, s.lambda_l1, l2) + leaf_gain(right.g, right.h, s.lambda_l1, l2) - shift;
            if gain > best.gain && gain > 0.0 {
                let mut bins: BinSet = [0; 4];
                for j in 0..=i {
                    bin_add(&mut bins, if reverse { order[order.len() - 1 - j].1 } else { order[j].1 });
                }
                *best = Split { gain, feature, left, right, bins, threshold: 0 };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::CatSettings;
    use crate::tree::split::bin_in;

    fn settings(smooth: f64) -> TreeSettings {
        TreeSettings {
            num_leaves: 31,
            max_depth: usize::MAX,
            min_data_in_leaf: 1.0,
            min_sum_hessian: 1e-3,
            lambda_l1: 0.0,
            lambda_l2: 0.0,
            min_gain_to_split: 0.0,
            cat: CatSettings { max_threshold: 32, smooth, l2: 0.0, min_data_per_group: 1.0, max_to_onehot: 2 },
        }
    }

    #[test]
    fn groups_levels_by_gradient_and_leaves_rare_and_missing_right() {
        // Missing, then levels with mean gradients -1, +1, -1, +1, and a rare level (1 row, g -5).
        let hist: Vec<Bin> =
            [[0.0, 10.0], [-10.0, 10.0], [10.0, 10.0], [-10.0, 10.0], [10.0, 10.0], [-5.0, 1.0]].iter().map(|b| Bin::new(b[0], b[1])).collect();
        let total = Sums { g: -5.0, h: 51.0, n: 51.0 };
        let mut best = Split::NONE;
        best_categorical(&hist, total, &settings(5.0), 3, &mut Vec::new(), &mut best);
        assert!(best.is_some() && best.feature == 3);
        let left: Vec<u8> = (0..6).filter(|&b| bin_in(&best.bins, b)).collect();
        assert!(left == vec![1, 3] || left == vec![2, 4], "{left:?}");
        assert!(!bin_in(&best.bins, 0) && !bin_in(&best.bins, 5));
    }
}
