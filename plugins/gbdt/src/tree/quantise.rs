//! Fixed point for the gradient statistics of one tree: every row's gradient
//! and hessian as an integer count of a power-of-two unit, so histogram sums
//! are exact and do not depend on the order rows are added in, nor on how
//! the rows are shared among a job's instances. The unit is the finest one
//! for which no sum over the job's rows can overflow an i64: with N rows
//! whose largest |value| is below 2^e, the unit is 2^(e + bits(N) - 61), so
//! the largest value keeps about 61 - bits(N) significant bits (41 at a
//! million rows; the f32 gradients themselves carry 24).
//!
//! Owns the unit's choice and the conversions; must not build histograms.

use super::bin::{Bin, QBin};
use super::split::Sums;

/// Exponents tracked when ranks agree on the largest one (f32's range and a margin).
pub const EXPONENT_MIN: i32 = -150;
pub const EXPONENT_MAX: i32 = 130;

/// The units of one tree's gradients and hessians.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// Units per gradient (a power of two).
    per_g: f64,
    per_h: f64,
}

impl Default for Scale {
    fn default() -> Scale {
        Scale { per_g: 1.0, per_h: 1.0 }
    }
}

/// The `e` with `|x| < 2^e` for every x of `values` (EXPONENT_MIN when all are zero).
pub fn exponent_bound(values: impl Iterator<Item = f32>) -> i32 {
    let max_bits = values.map(|x| x.to_bits() & 0x7fff_ffff).max().unwrap_or(0);
    if max_bits == 0 {
        return EXPONENT_MIN;
    }
    // A biased exponent b means |x| < 2^(b - 126) (subnormals: b = 0, |x| < 2^-126).
    (((max_bits >> 23) as i32) - 126).clamp(EXPONENT_MIN, EXPONENT_MAX)
}

fn power_of_two(k: i32) -> f64 {
    f64::from_bits(((k.clamp(-1000, 1000) + 1023) as u64) << 52)
}

impl Scale {
    /// The finest units for `rows` rows whose gradients are below 2^`g_exp`
    /// and hessians below 2^`h_exp` in absolute value.
    pub fn new(g_exp: i32, h_exp: i32, rows: usize) -> Scale {
        let bits = (usize::BITS - rows.max(1).leading_zeros()) as i32;
        Scale { per_g: power_of_two(61 - bits - g_exp), per_h: power_of_two(61 - bits - h_exp) }
    }

    /// Every row's pair in units.
    pub fn quantise(&self, gh: &[[f32; 2]], out: &mut Vec<QBin>) {
        out.clear();
        out.extend(gh.iter().map(|p| QBin::new(self.units(p[0], self.per_g), self.units(p[1], self.per_h))));
    }

    #[inline]
    fn units(&self, x: f32, per: f64) -> i64 {
        // A NaN becomes 0 (`as` saturates), which a valid objective never makes.
        (f64::from(x) * per).round_ties_even() as i64
    }

    /// A bin back in gradient units.
    #[inline]
    pub fn bin(&self, q: QBin) -> Bin {
        Bin::new(q.g() as f64 / self.per_g, q.h() as f64 / self.per_h)
    }

    /// Sums of a set of rows from their summed units and their count.
    pub fn sums(&self, g: i64, h: i64, n: i64) -> Sums {
        Sums { g: g as f64 / self.per_g, h: h as f64 / self.per_h, n: n as f64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_tight_powers_of_two() {
        assert_eq!(exponent_bound([0.5f32, -0.75].into_iter()), 0, "0.75 < 2^0");
        assert_eq!(exponent_bound([1.0f32].into_iter()), 1, "1 < 2^1");
        assert_eq!(exponent_bound([-3.0f32, 2.0].into_iter()), 2);
        assert_eq!(exponent_bound([0.0f32, -0.0].into_iter()), EXPONENT_MIN);
    }

    #[test]
    fn no_sum_of_all_rows_overflows_and_precision_is_kept() {
        let rows = 3_000_000;
        let s = Scale::new(exponent_bound([-7.9f32].into_iter()), exponent_bound([0.25f32].into_iter()), rows);
        let mut q = Vec::new();
        s.quantise(&[[-7.9, 0.25]], &mut q);
        let total = (q[0].g() as i128) * rows as i128;
        assert!(total.abs() < i64::MAX as i128, "{total}");
        let back = s.bin(q[0]);
        assert!((back.g() - f64::from(-7.9f32)).abs() < 1e-9 && back.h() == 0.25, "{back:?}");
    }
}
