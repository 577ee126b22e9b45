//! The distributions the diagnostics need, computed to near machine precision:
//! log-gamma, the normal tail, the regularised incomplete beta (hence the
//! Student t tail) and the t quantile.
//!
//! Pure functions of numbers; nothing here knows about models or tables.

use std::f64::consts::PI;

/// The 97.5% point of the standard normal, for 95% intervals.
pub const Z_975: f64 = 1.959_963_984_540_054;

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine terms: about 15 digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the series in its accurate range.
        return (PI / (PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// P(|Z| > |z|) for a standard normal Z.
pub fn normal_two_sided(z: f64) -> f64 {
    erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// The complementary error function: a Taylor series near 0, a continued
/// fraction in the tail (where the series would cancel).
pub fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.0 {
        return 1.0 - erf_series(x);
    }
    // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))), by Lentz's method.
    let tiny = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for k in 1..500 {
        let a = k as f64 / 2.0;
        d = x + a * d;
        d = if d.abs() < tiny { tiny } else { d };
        c = x + a / c;
        c = if c.abs() < tiny { tiny } else { c };
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() / (PI.sqrt() * f)
}

fn erf_series(x: f64) -> f64 {
    // erf(x) = 2/sqrt(pi) * exp(-x^2) * sum x^(2n+1) 2^n / (1*3*...*(2n+1)): all terms positive.
    let mut term = x;
    let mut sum = x;
    for n in 1..200 {
        term *= 2.0 * x * x / (2 * n + 1) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    2.0 / PI.sqrt() * (-x * x).exp() * sum
}

/// The regularised incomplete beta I_x(a, b).
pub fn inc_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    // The continued fraction converges fast on this side; the other side by symmetry.
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_fraction(x, a, b) / a
    } else {
        1.0 - ln_front.exp() * beta_fraction(1.0 - x, b, a) / b
    }
}

/// The continued fraction of I_x(a, b) (modified Lentz).
fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    let tiny = 1e-300;
    let clamp = |v: f64| if v.abs() < tiny { tiny } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / clamp(1.0 - (a + b) * x / (a + 1.0));
    let mut h = d;
    for m in 1..3000 {
        let m = m as f64;
        let even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 / clamp(1.0 + even * d);
        c = clamp(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 / clamp(1.0 + odd * d);
        c = clamp(1.0 + odd / c);
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// P(|T| > |t|) for Student's t with `df` degrees of freedom.
pub fn t_two_sided(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return if t.is_nan() { f64::NAN } else { 0.0 };
    }
    if df > 1e7 {
        // ln Γ of such arguments loses the digits the beta needs; the t is then the normal to 1e-7.
        return normal_two_sided(t);
    }
    inc_beta(df / (df + t * t), df / 2.0, 0.5)
}

/// The t value with P(|T| > t) = `p` (e.g. 0.05 for a 95% interval), by
/// bisection then Newton-free secant refinement on the monotone tail.
pub fn t_quantile_two_sided(p: f64, df: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1.0);
    while t_two_sided(hi, df) > p {
        hi *= 2.0;
        if hi > 1e12 {
            return f64::INFINITY;
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_two_sided(mid, df) > p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-15 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values: closed forms, and scipy.stats (t.ppf, norm.sf) for the rest.
    #[test]
    fn gamma_matches_factorials() {
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-13);
        assert!((ln_gamma(0.5) - PI.sqrt().ln()).abs() < 1e-13);
        assert!((ln_gamma(101.0) - 363.739_375_555_563_5).abs() < 1e-10);
    }

    #[test]
    fn normal_tail_is_accurate_far_out() {
        assert!((normal_two_sided(Z_975) - 0.05).abs() < 1e-15);
        assert!((normal_two_sided(1.0) - 0.317_310_507_862_914_1).abs() < 1e-15);
        let far = normal_two_sided(10.0);
        assert!((far / 1.523_970_604_832_094e-23 - 1.0).abs() < 1e-12, "{far}");
    }

    #[test]
    fn t_tail_and_quantile_agree_with_tables() {
        // df = 1 is the Cauchy: P(|T| > 1) = 1/2 exactly.
        assert!((t_two_sided(1.0, 1.0) - 0.5).abs() < 1e-14);
        assert!((t_quantile_two_sided(0.05, 10.0) - 2.228_138_851_986_273_5).abs() < 1e-12);
        assert!((t_quantile_two_sided(0.05, 431.0) - 1.965_483_320_339_743_5).abs() < 1e-12);
        // For large df the t tends to the normal.
        assert!((t_two_sided(Z_975, 1e9) - 0.05).abs() < 1e-8);
        assert!((t_two_sided(2.0, 1e6) / 0.045_500_533_851_319_24 - 1.0).abs() < 1e-9);
    }
}
