//! Scores of predictions against known answers: right answers, AUC, squared residuals. Rows
//! whose answer is unknown (NaN) are skipped. Must not know about trees.

use crate::objective::Objective;
use std::ops::Range;

/// How many of `rows` (of all of `y`'s, scores class-major) the scores
/// classify right, and how many have a known answer.
pub fn hits(objective: Objective, raw: &[f64], y: &[f64], rows: Range<usize>) -> (usize, usize) {
    let n = y.len();
    let k = objective.n_outputs();
    let (mut right, mut seen) = (0usize, 0usize);
    for i in rows.filter(|&i| !y[i].is_nan()) {
        seen += 1;
        let predicted = if k == 1 { usize::from(raw[i] > 0.0) } else { (0..k).fold(0, |b, c| if raw[c * n + i] > raw[b * n + i] { c } else { b }) };
        right += usize::from(predicted == y[i] as usize);
    }
    (right, seen)
}

/// The summed squared residuals of `rows` (values after the objective's link).
pub fn squared_residuals(objective: Objective, raw: &[f64], y: &[f64], rows: Range<usize>) -> f64 {
    rows.filter(|&i| !y[i].is_nan())
        .map(|i| {
            let mut v = [raw[i]];
            objective.transform(&mut v);
            (y[i] - v[0]).powi(2)
        })
        .sum()
}

/// Area under the ROC curve of binary scores (ties share their rank).
pub fn auc(raw: &[f64], y: &[f64]) -> Option<f64> {
    let mut rows: Vec<(f64, bool)> = raw.iter().zip(y).filter(|(_, t)| !t.is_nan()).map(|(&s, &t)| (s, t > 0.5)).collect();
    rows.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let positives = rows.iter().filter(|r| r.1).count() as f64;
    let negatives = rows.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    let (mut rank_sum, mut i) = (0.0, 0usize);
    while i < rows.len() {
        let j = (i..rows.len()).find(|&j| rows[j].0 != rows[i].0).unwrap_or(rows.len());
        let mid_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += mid_rank * rows[i..j].iter().filter(|r| r.1).count() as f64;
        i = j;
    }
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_as_half() {
        assert_eq!(auc(&[0.1, 0.4, 0.35, 0.8], &[0.0, 0.0, 1.0, 1.0]), Some(0.75));
        assert_eq!(auc(&[0.5, 0.5], &[0.0, 1.0]), Some(0.5));
        assert_eq!(hits(Objective::Binary, &[-1.0, 2.0, 0.5, 3.0], &[0.0, 1.0, 0.0, f64::NAN], 0..4), (2, 3));
        assert_eq!(hits(Objective::Binary, &[-1.0, 2.0, 0.5], &[0.0, 1.0, 0.0], 1..3), (1, 2));
        assert_eq!(squared_residuals(Objective::L2, &[1.0, 2.0, 3.0], &[1.0, 4.0, f64::NAN], 0..3), 4.0);
    }
}
