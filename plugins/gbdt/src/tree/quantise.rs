//! Fixed point for the gradient statistics of one tree: every row's gradient
//! and hessian as an integer count of a power-of-two unit, so histogram sums
//! are exact and do not depend on the order rows are added in, nor on how
//! the rows are shared among a job's instances. The unit is the finest one
//! for which no sum over the job's rows can overflow an i64: with N rows
//! whose largest |value| is below 2^e, the unit is 2^(e + bits(N) - 61), so
//! the largest value keeps about 61 - bits(N) significant bits, at most 50
//! (values are rounded to the nearest unit) (41 at a
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
    /// Units per gradient (a power of two), and its inverse (exact too, so
    /// converting back is a multiplication, not a division).
    per_g: f64,
    per_h: f64,
    g_per_unit: f64,
    h_per_unit: f64,
}

impl Default for Scale {
    fn default() -> Scale {
        Scale { per_g: 1.0, per_h: 1.0, g_per_unit: 1.0, h_per_unit: 1.0 }
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

/// 2^k for |k| <= 1000 (a normal f64).
fn power_of_two(k: i32) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

impl Scale {
    /// The finest units for `rows` rows whose gradients are below 2^`g_exp`
    /// and hessians below 2^`h_exp` in absolute value.
    pub fn new(g_exp: i32, h_exp: i32, rows: usize) -> Scale {
        // Sums of `rows` rows stay below 2^61, and one row below 2^50 units.
        let bits = ((usize::BITS - rows.max(1).leading_zeros()) as i32).max(11);
        let (g, h) = ((61 - bits - g_exp).clamp(-1000, 1000), (61 - bits - h_exp).clamp(-1000, 1000));
        Scale { per_g: power_of_two(g), per_h: power_of_two(h), g_per_unit: power_of_two(-g), h_per_unit: power_of_two(-h) }
    }

    /// A row's gradient and hessian in units.
    #[inline(always)]
    pub fn pair(&self, p: [f32; 2]) -> QBin {
        QBin::new(self.units(p[0], self.per_g), self.units(p[1], self.per_h))
    }

    /// Rounded to the nearest unit by adding 1.5 × 2^52, which leaves the
    /// integer in the mantissa: an add and a bit cast, where `as i64`
    /// saturates (several instructions) and `round` is a libm call. Exact
    /// for |units| < 2^51, which `new` guarantees.
    #[inline(always)]
    fn units(&self, x: f32, per: f64) -> i64 {
        const MAGIC: f64 = 6_755_399_441_055_744.0;
        ((f64::from(x) * per + MAGIC).to_bits() as i64).wrapping_sub(MAGIC.to_bits() as i64)
    }

    /// A bin back in gradient units.
    #[inline]
    pub fn bin(&self, q: QBin) -> Bin {
        Bin::new(q.g() as f64 * self.g_per_unit, q.h() as f64 * self.h_per_unit)
    }

    /// Sums of a set of rows from their summed units and their count.
    pub fn sums(&self, g: i64, h: i64, n: i64) -> Sums {
        Sums { g: g as f64 * self.g_per_unit, h: h as f64 * self.h_per_unit, n: n as f64 }
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
        let q = s.pair([-7.9, 0.25]);
        let total = (q.g() as i128) * rows as i128;
        assert!(total.abs() < i64::MAX as i128, "{total}");
        let back = s.bin(q);
        assert!((back.g() - f64::from(-7.9f32)).abs() < 1e-9 && back.h() == 0.25, "{back:?}");
    }
}
