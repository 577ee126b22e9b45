//! The coefficient table on the original scale of the columns, and for
//! unpenalised fits the inference statsmodels reports: standard errors from
//! the inverse information (OLS: scaled by the residual variance), z or t
//! statistics, two-sided p-values, 95% intervals, log-likelihood, AIC, BIC,
//! and R² for OLS.
//!
//! Reads a finished fit; must not change it.

use crate::design::Term;
use crate::family::{Problem, Response};
use crate::linalg::Cholesky;
use crate::stats::{ln_gamma, normal_two_sided, t_quantile_two_sided, t_two_sided, Z_975};

/// One coefficient; NaN where a figure does not apply (penalised fits, aliased terms).
#[derive(Debug, Clone, PartialEq)]
pub struct Coefficient {
    /// The class this coefficient predicts (multinomial only).
    pub class: Option<String>,
    pub term: String,
    pub estimate: f64,
    pub std_error: f64,
    pub statistic: f64,
    pub p_value: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// The estimate on the standardised scale the solver worked on.
    pub standardised: f64,
}

pub struct Summary {
    pub coefficients: Vec<Coefficient>,
    pub metrics: Vec<(&'static str, f64)>,
}

/// What the diagnostics need to know about the fit.
pub struct FitView<'a> {
    pub problem: &'a Problem<'a>,
    pub theta: &'a [f64],
    pub active: &'a [bool],
    pub terms: &'a [Term],
    /// The label of each linear predictor (multinomial), else empty.
    pub predictor_labels: Vec<String>,
    pub penalised: bool,
    pub intercept: bool,
}

pub fn summarise(fit: &FitView) -> Summary {
    let m = fit.problem.m();
    let a = original_scale(fit.terms, fit.problem.k(), fit.intercept);
    let estimate = mat_vec(&a, fit.theta, m);
    let inference = (!fit.penalised).then(|| inference(fit, &a));
    let mut coefficients = Vec::with_capacity(m);
    for (j, &est) in estimate.iter().enumerate() {
        let (k, t) = (j / fit.terms.len(), j % fit.terms.len());
        let mut c = Coefficient {
            class: fit.predictor_labels.get(k).cloned(),
            term: fit.terms[t].name.clone(),
            estimate: if fit.active[j] { est } else { f64::NAN },
            std_error: f64::NAN,
            statistic: f64::NAN,
            p_value: f64::NAN,
            ci_low: f64::NAN,
            ci_high: f64::NAN,
            standardised: if fit.active[j] { fit.theta[j] } else { f64::NAN },
        };
        if let Some(inf) = &inference {
            let se = inf.cov[j * m + j].sqrt();
            c.std_error = se;
            c.statistic = c.estimate / se;
            c.p_value = match inf.df {
                Some(df) => t_two_sided(c.statistic, df),
                None => normal_two_sided(c.statistic),
            };
            c.ci_low = c.estimate - inf.quantile * se;
            c.ci_high = c.estimate + inf.quantile * se;
        }
        coefficients.push(c);
    }
    let metrics = inference.map(|inf| inf.metrics).unwrap_or_default();
    Summary { coefficients, metrics }
}

struct Inference {
    cov: Vec<f64>,
    /// Degrees of freedom of the t distribution (OLS), None for z.
    df: Option<f64>,
    quantile: f64,
    metrics: Vec<(&'static str, f64)>,
}

fn inference(fit: &FitView, a: &[f64]) -> Inference {
    let pr = fit.problem;
    let (m, n) = (pr.m(), pr.n as f64);
    let e = pr.eval(fit.theta);
    let mut hess = e.hess;
    hess.iter_mut().for_each(|v| *v *= n);
    let inv = Cholesky::new(&hess, m, fit.active).inverse();
    let rank = fit.active.iter().filter(|&&a| a).count() as f64;
    let (scale, df, llf, mut metrics) = match pr.response {
        Response::Gaussian(y) => gaussian_fit(fit, y, rank),
        Response::Poisson(y) => {
            let constant: f64 = y.iter().map(|&v| ln_gamma(v + 1.0)).sum();
            (1.0, None, -(e.loss * n) - constant, vec![])
        }
        Response::Classes { .. } => (1.0, None, -(e.loss * n), vec![]),
    };
    let cov_std: Vec<f64> = inv.iter().map(|v| v * scale).collect();
    let cov = sandwich(a, &cov_std, m);
    metrics.extend([("log_likelihood", llf), ("aic", -2.0 * llf + 2.0 * rank), ("bic", -2.0 * llf + n.ln() * rank)]);
    let quantile = df.map_or(Z_975, |df| t_quantile_two_sided(0.05, df));
    Inference { cov, df, quantile, metrics }
}

/// (residual variance, residual df, log-likelihood, R² metrics) of an OLS fit.
fn gaussian_fit(fit: &FitView, y: &[f64], rank: f64) -> (f64, Option<f64>, f64, Vec<(&'static str, f64)>) {
    let pr = fit.problem;
    let n = pr.n as f64;
    // Over the rows, never from the moments' quadratic: the RSS of a good fit
    // is a small difference of large sums there.
    let rss = pr.squared_residuals(fit.theta);
    let mean = y.iter().sum::<f64>() / n;
    // Without an intercept statsmodels reports the uncentred R².
    let tss: f64 = if fit.intercept { y.iter().map(|v| (v - mean).powi(2)).sum() } else { y.iter().map(|v| v * v).sum() };
    let df_resid = n - rank;
    let r2 = 1.0 - rss / tss;
    let k_const = if fit.intercept { 1.0 } else { 0.0 };
    let adj = 1.0 - (n - k_const) / df_resid * (1.0 - r2);
    let llf = -n / 2.0 * ((2.0 * std::f64::consts::PI).ln() + (rss / n).ln() + 1.0);
    let metrics = vec![("r2", r2), ("adj_r2", adj), ("scale", rss / df_resid), ("df_resid", df_resid)];
    (rss / df_resid, Some(df_resid), llf, metrics)
}

/// The linear map from standardised coefficients to original-scale ones:
/// a standardised column's coefficient is divided by its scale, and its
/// centre times that moves into the intercept.
fn original_scale(terms: &[Term], k: usize, intercept: bool) -> Vec<f64> {
    let p = terms.len();
    let m = k * p;
    let mut a = vec![0.0; m * m];
    for b in 0..k {
        for (j, term) in terms.iter().enumerate() {
            let r = b * p + j;
            match term.standardised {
                Some((center, scale)) => {
                    a[r * m + r] = 1.0 / scale;
                    if intercept {
                        a[(b * p) * m + r] = -center / scale;
                    }
                }
                None => a[r * m + r] = 1.0,
            }
        }
    }
    a
}

fn mat_vec(a: &[f64], v: &[f64], m: usize) -> Vec<f64> {
    (0..m).map(|i| (0..m).map(|j| a[i * m + j] * v[j]).sum()).collect()
}

/// A C Aᵀ, where NaN rows of C (aliased terms) count as 0 for the others and
/// stay NaN on their own diagonal.
fn sandwich(a: &[f64], c: &[f64], m: usize) -> Vec<f64> {
    let z = |v: f64| if v.is_nan() { 0.0 } else { v };
    let mut ac = vec![0.0; m * m];
    for i in 0..m {
        for k in (0..m).filter(|&k| a[i * m + k] != 0.0) {
            for j in 0..m {
                ac[i * m + j] += a[i * m + k] * z(c[k * m + j]);
            }
        }
    }
    let mut out = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..m {
            out[i * m + j] = (0..m).map(|k| ac[i * m + k] * a[j * m + k]).sum();
        }
        if c[i * m + i].is_nan() {
            out[i * m + i] = f64::NAN;
        }
    }
    out
}
