//! The losses boosted: their starting scores, per-row gradients and hessians,
//! their mean loss, and how raw scores become predictions. Formulas follow
//! LightGBM's objectives (binary and softmax log-loss, L2, L1, Huber,
//! quantile, Poisson with a log link).
//!
//! Scores are class-major (`scores[k * rows + i]`), like the gradients, so
//! each class's tree reads one contiguous slice. Must not know about trees.

use crate::params::ObjectiveKind;
use std::ops::Range;

/// LightGBM's `poisson_max_delta_step`: keeps the hessian of rows with tiny
/// predictions from vanishing, which would make leaf values explode.
const POISSON_MAX_DELTA: f64 = 0.7;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    Binary,
    Multiclass(usize),
    L2,
    L1,
    Huber(f64),
    Quantile(f64),
    Poisson,
}

impl Objective {
    pub fn new(kind: ObjectiveKind, n_classes: usize, alpha: f64) -> Result<Objective, String> {
        Ok(match kind {
            ObjectiveKind::Binary if n_classes == 2 => Objective::Binary,
            ObjectiveKind::Binary => return Err(format!("objective binary needs 2 classes; the target has {n_classes}: use multiclass")),
            ObjectiveKind::Multiclass => Objective::Multiclass(n_classes),
            ObjectiveKind::L2 => Objective::L2,
            ObjectiveKind::L1 => Objective::L1,
            ObjectiveKind::Huber => Objective::Huber(alpha),
            ObjectiveKind::Quantile => Objective::Quantile(alpha),
            ObjectiveKind::Poisson => Objective::Poisson,
        })
    }

    pub fn code(self) -> u8 {
        match self {
            Objective::Binary => 0,
            Objective::Multiclass(_) => 1,
            Objective::L2 => 2,
            Objective::L1 => 3,
            Objective::Huber(_) => 4,
            Objective::Quantile(_) => 5,
            Objective::Poisson => 6,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Objective::Binary => "binary",
            Objective::Multiclass(_) => "multiclass",
            Objective::L2 => "regression",
            Objective::L1 => "regression_l1",
            Objective::Huber(_) => "huber",
            Objective::Quantile(_) => "quantile",
            Objective::Poisson => "poisson",
        }
    }

    /// Trees per round: one per class for softmax, else one.
    pub fn n_outputs(self) -> usize {
        match self {
            Objective::Multiclass(k) => k,
            _ => 1,
        }
    }

    /// The quantile a leaf's value is re-fitted to, for losses whose Newton
    /// step is meaningless (L1, quantile: constant hessian, sign gradient).
    pub fn leaf_quantile(self) -> Option<f64> {
        match self {
            Objective::L1 => Some(0.5),
            Objective::Quantile(a) => Some(a),
            _ => None,
        }
    }

    /// The constant scores boosting starts from (LightGBM's boost_from_average).
    pub fn init_scores(self, y: &[f64], w: &[f32]) -> Result<Vec<f64>, String> {
        let total: f64 = w.iter().map(|&v| f64::from(v)).sum();
        let mean = y.iter().zip(w).map(|(&y, &w)| y * f64::from(w)).sum::<f64>() / total;
        Ok(match self {
            Objective::Binary => {
                let p = mean.clamp(1e-15, 1.0 - 1e-15);
                vec![(p / (1.0 - p)).ln()]
            }
            Objective::Multiclass(k) => {
                let mut share = vec![0.0; k];
                y.iter().zip(w).for_each(|(&c, &w)| share[c as usize] += f64::from(w));
                share.iter().map(|s| (s / total).max(1e-15).ln()).collect()
            }
            Objective::L2 | Objective::Huber(_) => vec![mean],
            Objective::L1 => vec![weighted_quantile(y.iter().copied().zip(w.iter().copied()), 0.5)],
            Objective::Quantile(a) => vec![weighted_quantile(y.iter().copied().zip(w.iter().copied()), a)],
            Objective::Poisson => {
                if y.iter().any(|&v| v < 0.0) {
                    return Err("objective poisson needs a target >= 0".into());
                }
                vec![mean.max(1e-15).ln()]
            }
        })
    }

    /// Gradients and hessians at `scores` (weighted by `w`) into `gh`, and the
    /// unweighted mean loss at those scores, computed in the same pass.
    pub fn gradients(self, scores: &[f64], y: &[f64], w: &[f32], gh: &mut [[f32; 2]]) -> f64 {
        let n = y.len();
        let mut loss = 0.0;
        match self {
            Objective::Multiclass(k) => return softmax_gradients(k, scores, y, w, gh),
            Objective::Binary => return binary_gradients(scores, y, w, gh),
            _ => {
                for i in 0..n {
                    let (g, h, l) = self.regression_point(scores[i], y[i]);
                    loss += l;
                    gh[i] = [(g * f64::from(w[i])) as f32, (h * f64::from(w[i])) as f32];
                }
            }
        }
        loss / n.max(1) as f64
    }

    /// Gradient, hessian and loss of one regression row.
    #[inline]
    fn regression_point(self, s: f64, t: f64) -> (f64, f64, f64) {
        let d = s - t;
        match self {
            Objective::L2 => (d, 1.0, d * d),
            Objective::L1 => (d.signum() * f64::from(u8::from(d != 0.0)), 1.0, d.abs()),
            Objective::Huber(a) => {
                let loss = if d.abs() <= a { 0.5 * d * d } else { a * (d.abs() - 0.5 * a) };
                (d.clamp(-a, a), 1.0, loss)
            }
            Objective::Quantile(a) => {
                let g = if d >= 0.0 { 1.0 - a } else { -a };
                (g, 1.0, if d >= 0.0 { (1.0 - a) * d } else { -a * d })
            }
            Objective::Poisson => {
                let e = s.exp();
                (e - t, (s + POISSON_MAX_DELTA).exp(), e - t * s)
            }
            Objective::Binary | Objective::Multiclass(_) => (0.0, 0.0, 0.0),
        }
    }

    /// Mean loss of `scores` (class-major) against `y`; rows with an unknown
    /// target (NaN) are skipped.
    pub fn loss(self, scores: &[f64], y: &[f64]) -> f64 {
        let (sum, seen) = self.loss_sum(scores, y, 0..y.len());
        sum / seen.max(1) as f64
    }

    /// The summed loss of `rows` of `scores` (class-major over all of `y`'s
    /// rows) and how many of them have a known target.
    pub fn loss_sum(self, scores: &[f64], y: &[f64], rows: Range<usize>) -> (f64, usize) {
        let n = y.len();
        let (mut sum, mut seen) = (0.0, 0usize);
        for i in rows.filter(|&i| !y[i].is_nan()) {
            seen += 1;
            sum += match self {
                Objective::Binary => logistic_loss(scores[i], y[i]),
                Objective::Multiclass(k) => {
                    let row: Vec<f64> = (0..k).map(|c| scores[c * n + i]).collect();
                    let lse = log_sum_exp(&row);
                    lse - row[y[i] as usize]
                }
                _ => self.regression_point(scores[i], y[i]).2,
            };
        }
        (sum, seen)
    }

    /// Raw scores of one row (one per output) to what `predict` hands back:
    /// class probabilities, or the predicted value.
    pub fn transform(self, raw: &mut [f64]) {
        match self {
            Objective::Binary => {
                let p = sigmoid(raw[0]);
                raw[0] = p;
            }
            Objective::Multiclass(_) => softmax(raw),
            Objective::Poisson => raw[0] = raw[0].exp(),
            _ => {}
        }
    }
}

/// Binary log-loss gradients. ln(1 + e) is summed as the ln of products of
/// 64 terms (each in (1, 2], so a product stays below 2^64): one ln per 64
/// rows. In f32 where the result is stored as f32 anyway: f32 exp costs a
/// third of f64's.
fn binary_gradients(scores: &[f64], y: &[f64], w: &[f32], gh: &mut [[f32; 2]]) -> f64 {
    let mut loss = 0.0;
    let n = y.len();
    for (((s, y), w), gh) in scores[..n].chunks(64).zip(y.chunks(64)).zip(w[..n].chunks(64)).zip(gh[..n].chunks_mut(64)) {
        let mut product = 1.0f64;
        for (((&s, &t), &w), out) in s.iter().zip(y).zip(w).zip(gh.iter_mut()) {
            let e = (-(s.abs() as f32)).exp();
            let inv = 1.0 / (1.0 + e);
            let p = if s >= 0.0 { inv } else { e * inv };
            // Comparisons, not max(): in WASM f32/f64 max are libm calls.
            loss += if s > 0.0 { s } else { 0.0 } - s * t;
            product *= f64::from(1.0 + e);
            let h = p * (1.0 - p);
            *out = [(p - t as f32) * w, if h > 1e-16 { h } else { 1e-16 } * w];
        }
        loss += product.ln();
    }
    loss / n.max(1) as f64
}

fn softmax_gradients(k: usize, scores: &[f64], y: &[f64], w: &[f32], gh: &mut [[f32; 2]]) -> f64 {
    let n = y.len();
    // LightGBM's factor k/(k-1) on the hessian: the diagonal of the softmax
    // Hessian understates the step of k coupled outputs.
    let factor = k as f64 / (k as f64 - 1.0);
    let mut row = vec![0.0; k];
    let mut loss = 0.0;
    for i in 0..n {
        (0..k).for_each(|c| row[c] = scores[c * n + i]);
        let lse = log_sum_exp(&row);
        let t = y[i] as usize;
        loss += lse - row[t];
        let wi = f64::from(w[i]);
        for (c, &s) in row.iter().enumerate() {
            let p = (s - lse).exp();
            let g = p - f64::from(u8::from(c == t));
            let h = factor * p * (1.0 - p);
            gh[c * n + i] = [(g * wi) as f32, (if h > 1e-16 { h } else { 1e-16 } * wi) as f32];
        }
    }
    loss / n.max(1) as f64
}

#[inline]
pub fn sigmoid(s: f64) -> f64 {
    1.0 / (1.0 + (-s).exp())
}

/// -[t ln p + (1-t) ln(1-p)] with p = sigmoid(s), without overflow.
#[inline]
fn logistic_loss(s: f64, t: f64) -> f64 {
    s.max(0.0) - s * t + (-s.abs()).exp().ln_1p()
}

fn log_sum_exp(row: &[f64]) -> f64 {
    let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + row.iter().map(|&s| (s - m).exp()).sum::<f64>().ln()
}

pub fn softmax(row: &mut [f64]) {
    let lse = log_sum_exp(row);
    row.iter_mut().for_each(|s| *s = (*s - lse).exp());
}

/// The `q`-quantile of weighted values (the lower one at a tie), as
/// LightGBM's percentile re-fit of L1 and quantile leaves takes it.
pub fn weighted_quantile(values: impl Iterator<Item = (f64, f32)>, q: f64) -> f64 {
    let mut v: Vec<(f64, f32)> = values.collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = v.iter().map(|p| f64::from(p.1)).sum();
    let target = q * total;
    let mut seen = 0.0;
    for &(x, w) in &v {
        seen += f64::from(w);
        if seen >= target {
            return x;
        }
    }
    v[v.len() - 1].0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_gradient_is_p_minus_y_and_loss_matches_the_formula() {
        let mut gh = vec![[0.0f32; 2]; 2];
        let loss = Objective::Binary.gradients(&[0.0, 2.0], &[1.0, 0.0], &[1.0, 1.0], &mut gh);
        assert!((gh[0][0] + 0.5).abs() < 1e-6 && (gh[0][1] - 0.25).abs() < 1e-6);
        let p = sigmoid(2.0);
        let want = (-(0.5f64).ln() - (1.0 - p).ln()) / 2.0;
        assert!((loss - want).abs() < 1e-6, "{loss} vs {want}");
    }

    #[test]
    fn softmax_gradients_sum_to_zero_per_row() {
        let mut gh = vec![[0.0f32; 2]; 6];
        Objective::Multiclass(3).gradients(&[0.1, 0.5, 0.2, -1.0, 0.3, 0.0], &[0.0, 2.0], &[1.0, 1.0], &mut gh);
        for i in 0..2 {
            let s: f32 = (0..3).map(|c| gh[c * 2 + i][0]).sum();
            assert!(s.abs() < 1e-6);
        }
    }

    #[test]
    fn quantiles_and_starting_scores() {
        let y = [1.0, 2.0, 3.0, 10.0];
        let w = [1.0f32; 4];
        assert_eq!(Objective::L1.init_scores(&y, &w).unwrap_or_default(), vec![2.0]);
        assert_eq!(Objective::L2.init_scores(&y, &w).unwrap_or_default(), vec![4.0]);
        assert_eq!(weighted_quantile(y.iter().copied().zip(w), 0.9), 10.0);
        assert!(Objective::Poisson.init_scores(&[-1.0], &[1.0]).is_err());
    }
}
