//! Metrics of how well a score ranks the rows of one class above the others:
//! ROC AUC, average precision, and the threshold curve both are read from.
//!
//! Definitions follow scikit-learn's, so a user can check a figure there:
//! the ROC AUC is the trapezoid area under the curve through every distinct
//! threshold (ties count half), and the average precision is
//! `sum_k (R_k - R_(k-1)) * P_k` over the distinct thresholds, without
//! interpolation. Owns these computations only; it must not know tasks,
//! encodings or plugins.

use serde::{Deserialize, Serialize};

/// Points kept of a curve: enough for a smooth line and a threshold slider,
/// few enough for the job record whatever the row count.
pub const MAX_CURVE_POINTS: usize = 201;

/// The curve of one score over the judged rows: at each kept threshold (from
/// the highest score down), how many positive and negative rows score at or
/// above it. ROC, precision-recall and a confusion matrix at any threshold
/// all follow from these counts and the totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdCurve {
    pub positives: u64,
    pub negatives: u64,
    pub thresholds: Vec<f64>,
    pub true_positives: Vec<u64>,
    pub false_positives: Vec<u64>,
}

/// Cumulative counts at every distinct score, highest first: the one sort
/// of the scores that the AUC, the average precision and the curve all read,
/// so a caller wanting all three sorts once (`Ranking::new`).
pub struct Ranking {
    scores: Vec<f64>,
    tp: Vec<u64>,
    fp: Vec<u64>,
    positives: u64,
    negatives: u64,
}

impl Ranking {
    pub fn new(scores: &[f64], positive: &[bool]) -> Ranking {
        // Pairs sort with the data at hand (no index chasing); the order within
        // a tie does not matter, as a step closes only at the tie's last row.
        let mut order: Vec<(f64, bool)> = scores.iter().copied().zip(positive.iter().copied()).collect();
        order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let mut out = Ranking { scores: vec![], tp: vec![], fp: vec![], positives: 0, negatives: 0 };
        let (mut tp, mut fp) = (0u64, 0u64);
        for (i, &(score, is_positive)) in order.iter().enumerate() {
            if is_positive {
                tp += 1;
            } else {
                fp += 1;
            }
            // One step per distinct score: close it at the last row of a tie.
            if order.get(i + 1).is_none_or(|next| next.0 != score) {
                out.scores.push(score);
                out.tp.push(tp);
                out.fp.push(fp);
            }
        }
        (out.positives, out.negatives) = (tp, fp);
        out
    }

    /// The ROC AUC; NaN when either class is absent (the area is undefined).
    pub fn roc_auc(&self) -> f64 {
        if self.positives == 0 || self.negatives == 0 {
            return f64::NAN;
        }
        let (mut area, mut last_tp, mut last_fp) = (0.0, 0u64, 0u64);
        for (&tp, &fp) in self.tp.iter().zip(&self.fp) {
            area += (fp - last_fp) as f64 * (tp + last_tp) as f64 / 2.0;
            (last_tp, last_fp) = (tp, fp);
        }
        area / (self.positives as f64 * self.negatives as f64)
    }

    /// The average precision; NaN without a positive row.
    pub fn average_precision(&self) -> f64 {
        if self.positives == 0 {
            return f64::NAN;
        }
        let (mut ap, mut last_recall) = (0.0, 0.0);
        for (&tp, &fp) in self.tp.iter().zip(&self.fp) {
            let recall = tp as f64 / self.positives as f64;
            ap += (recall - last_recall) * tp as f64 / (tp + fp) as f64;
            last_recall = recall;
        }
        ap
    }

    /// The threshold curve, thinned to at most `MAX_CURVE_POINTS` steps evenly
    /// spread over the distinct scores (the first and last always kept).
    pub fn threshold_curve(&self) -> ThresholdCurve {
        let n = self.scores.len();
        let keep: Vec<usize> =
            if n <= MAX_CURVE_POINTS { (0..n).collect() } else { (0..MAX_CURVE_POINTS).map(|i| i * (n - 1) / (MAX_CURVE_POINTS - 1)).collect() };
        ThresholdCurve {
            positives: self.positives,
            negatives: self.negatives,
            thresholds: keep.iter().map(|&i| self.scores[i]).collect(),
            true_positives: keep.iter().map(|&i| self.tp[i]).collect(),
            false_positives: keep.iter().map(|&i| self.fp[i]).collect(),
        }
    }
}

/// The ROC AUC of `scores` for the rows marked `positive` (see `Ranking::roc_auc`).
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> f64 {
    Ranking::new(scores, positive).roc_auc()
}

/// The average precision of `scores` for the rows marked `positive`.
pub fn average_precision(scores: &[f64], positive: &[bool]) -> f64 {
    Ranking::new(scores, positive).average_precision()
}

/// The thinned threshold curve of `scores` for the rows marked `positive`.
pub fn threshold_curve(scores: &[f64], positive: &[bool]) -> ThresholdCurve {
    Ranking::new(scores, positive).threshold_curve()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected figures from scikit-learn 1.x on the same inputs:
    /// `roc_auc_score(y, s)` and `average_precision_score(y, s)`.
    #[test]
    fn auc_and_average_precision_match_scikit_learn_with_ties() {
        let y = [true, false, true, true, false, false, true, false, true, false];
        let s = [0.9, 0.8, 0.8, 0.7, 0.5, 0.5, 0.4, 0.3, 0.3, 0.1];
        assert!((roc_auc(&s, &y) - 0.68).abs() < 1e-12, "{}", roc_auc(&s, &y));
        assert!((average_precision(&s, &y) - 0.708_730_158_730_158_7).abs() < 1e-12, "{}", average_precision(&s, &y));
    }

    #[test]
    fn perfect_reversed_and_one_class_rankings() {
        let y = [false, false, true, true];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &y), 1.0);
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &y), 0.0);
        assert_eq!(average_precision(&[0.1, 0.2, 0.8, 0.9], &y), 1.0);
        assert!(roc_auc(&[0.1, 0.2], &[true, true]).is_nan());
        assert!(average_precision(&[0.1, 0.2], &[false, false]).is_nan());
        // Every score equal: one step, area one half.
        assert_eq!(roc_auc(&[0.5; 4], &y), 0.5);
    }

    #[test]
    fn the_curve_counts_rows_at_or_above_each_threshold_and_is_thinned() {
        let y = [true, false, true, true, false];
        let curve = threshold_curve(&[0.9, 0.8, 0.8, 0.4, 0.1], &y);
        assert_eq!(curve.thresholds, [0.9, 0.8, 0.4, 0.1]);
        assert_eq!(curve.true_positives, [1, 2, 3, 3]);
        assert_eq!(curve.false_positives, [0, 1, 1, 2]);
        assert_eq!((curve.positives, curve.negatives), (3, 2));
        let many: Vec<f64> = (0..5000).map(|i| i as f64).collect();
        let labels: Vec<bool> = (0..5000).map(|i| i % 3 == 0).collect();
        let thin = threshold_curve(&many, &labels);
        assert_eq!(thin.thresholds.len(), MAX_CURVE_POINTS);
        assert_eq!((thin.thresholds[0], *thin.thresholds.last().unwrap()), (4999.0, 0.0));
        assert_eq!(*thin.true_positives.last().unwrap(), thin.positives);
    }
}
