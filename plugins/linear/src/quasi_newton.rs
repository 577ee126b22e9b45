//! Smooth losses (logistic, Poisson; no L1 term) on large tables: Newton on an
//! even sample of the rows finds a starting point and the Hessian there; then
//! L-BFGS on every row, with that Hessian as its initial matrix, makes one pass
//! over the rows per iteration (loss and gradient together, and the accepted
//! trial point's gradient is the next iteration's). Newton on every row would
//! need a pass for the step, another for the line search and a Hessian each time.
//!
//! The sample only speeds the search up: the fit stops where the gradient over
//! every row vanishes, so the optimum is the full table's.
//!
//! Knows penalties and convergence, like solver.rs; must not know about tables.

use std::collections::VecDeque;

use crate::family::{dot, Data, Problem, Response};
use crate::linalg::Cholesky;
use crate::solver::{self, add_smooth_penalty, max_relative_change, smooth_extra, Fit, Options, Penalty, Stopped};

/// Rows Newton works on before the full table (at least 40 per coefficient):
/// enough for a Hessian within a few per cent of the full one.
const SAMPLE_ROWS: usize = 8_192;
/// Curvature pairs L-BFGS keeps.
const MEMORY: usize = 10;
/// A design column with fewer nonzero values than this among the sampled rows
/// brings every row where it is nonzero into the sample (a rare level is then
/// seen whole, not taken for an aliased column).
const RARE: usize = 32;
/// The sample's optimum is only within its sampling error of the table's: a
/// start needs no tighter tolerance than this.
const START_TOL: f64 = 1e-4;

fn sample_rows(m: usize) -> usize {
    SAMPLE_ROWS.max(40 * m)
}

/// Whether the table is large enough for the sample to save work (and its
/// rows are in memory to draw the sample from).
pub fn worthwhile(problem: &Problem) -> bool {
    problem.dense().is_some() && problem.n >= 4 * sample_rows(problem.m())
}

/// Fits a smooth loss without an L1 term (see the module comment); the rows
/// must be in memory (`worthwhile`).
pub fn solve(
    problem: &Problem,
    theta0: Vec<f64>,
    penalty: &Penalty,
    options: &Options,
    report: &mut dyn FnMut(usize, f64, &[f64]) -> bool,
) -> Result<Fit, Stopped> {
    let m = problem.m();
    let sample = Sample::draw(problem);
    let small = sample.problem(problem);
    let start_options = Options { max_iter: options.max_iter, tol: options.tol.max(START_TOL) };
    let start = solver::newton(&small, theta0, penalty, &start_options, 1, &mut |_, _, _| true)?;
    let mut e = small.eval(&start.theta);
    add_smooth_penalty(penalty, &start.theta, &mut e.grad, &mut e.hess, m);
    let initial = Cholesky::new(&e.hess, m, &start.active);
    let (fit, grad) = lbfgs(problem, start.theta, penalty, &initial, options, report)?;
    // A coordinate the sample took for aliased whose gradient over every row is
    // not flat was not: refit by Newton over every row, which decides aliasing itself.
    let active_slope = (0..m).filter(|&j| fit.active[j]).map(|j| grad[j].abs()).fold(0.0, f64::max);
    let inactive_slope = (0..m).filter(|&j| !fit.active[j]).map(|j| grad[j].abs()).fold(0.0, f64::max);
    if inactive_slope > (1e3 * active_slope).max(1e-6) {
        let done = fit.iterations;
        let refit = solver::newton(problem, fit.theta, penalty, options, 1, &mut |i, f, t| report(done + i, f, t))?;
        return Ok(Fit { iterations: done + refit.iterations, ..refit });
    }
    Ok(fit)
}

/// Every `stride`-th row, plus every row where a column rare among those is
/// nonzero, weighted so that the sample's mean loss estimates the table's.
struct Sample {
    x: Vec<f64>,
    weights: Vec<f64>,
    values: Vec<f64>,
    classes: Vec<u32>,
}

impl Sample {
    fn draw(problem: &Problem) -> Sample {
        let (n, p) = (problem.n, problem.p);
        let stride = (n / sample_rows(problem.m())).max(1);
        let rare = rare_columns(problem, stride);
        let has_rare = |i: usize| !rare.is_empty() && rare.iter().any(|&j| problem.row(i)[j] != 0.0);
        // Rows with a rare value are all taken (weight 1); the others one in `stride`.
        let mut rows: Vec<(usize, f64)> = (0..n).step_by(stride).map(|i| (i, if has_rare(i) { 1.0 } else { stride as f64 })).collect();
        if !rare.is_empty() {
            let cap = rows.len();
            rows.extend((0..n).filter(|i| i % stride != 0 && has_rare(*i)).take(cap).map(|i| (i, 1.0)));
        }
        let scale = rows.len() as f64 / n as f64;
        let mut sample = Sample { x: Vec::with_capacity(rows.len() * p), weights: vec![], values: vec![], classes: vec![] };
        for &(i, inclusion) in &rows {
            sample.x.extend_from_slice(problem.row(i));
            sample.weights.push(inclusion * scale * problem.weights.map_or(1.0, |w| w[i]));
            match problem.response {
                Response::Gaussian(y) | Response::Poisson(y) => sample.values.push(y[i]),
                Response::Classes { y, .. } => sample.classes.push(y[i]),
            }
        }
        sample
    }

    fn problem<'a>(&'a self, of: &Problem) -> Problem<'a> {
        let response = match of.response {
            Response::Gaussian(_) => Response::Gaussian(&self.values),
            Response::Poisson(_) => Response::Poisson(&self.values),
            Response::Classes { k, symmetric, .. } => Response::Classes { y: &self.classes, k, symmetric },
        };
        Problem { data: Data::Rows(&self.x), n: self.weights.len(), p: of.p, response, weights: Some(&self.weights) }
    }
}

/// Design columns with fewer than `RARE` nonzero values among every `stride`-th row.
fn rare_columns(problem: &Problem, stride: usize) -> Vec<usize> {
    let mut nonzero = vec![0usize; problem.p];
    for i in (0..problem.n).step_by(stride) {
        for (count, v) in nonzero.iter_mut().zip(problem.row(i)) {
            *count += (*v != 0.0) as usize;
        }
    }
    (0..problem.p).filter(|&j| nonzero[j] < RARE).collect()
}

/// One curvature pair: a step, the change of gradient, 1 / their product.
struct Pair {
    s: Vec<f64>,
    y: Vec<f64>,
    rho: f64,
}

/// L-BFGS from `theta` with `initial`'s inverse as the initial inverse Hessian;
/// coordinates `initial` holds inactive stay at 0. Returns the fit and the
/// gradient at its point (every coordinate).
fn lbfgs(
    problem: &Problem,
    mut theta: Vec<f64>,
    penalty: &Penalty,
    initial: &Cholesky,
    options: &Options,
    report: &mut dyn FnMut(usize, f64, &[f64]) -> bool,
) -> Result<(Fit, Vec<f64>), Stopped> {
    let m = problem.m();
    let active = initial.active.clone();
    theta.iter_mut().zip(&active).filter(|(_, a)| !**a).for_each(|(t, _)| *t = 0.0);
    let mut grad = vec![0.0; m];
    let mut f = value_and_gradient(problem, penalty, &theta, &mut grad);
    let mut pairs: VecDeque<Pair> = VecDeque::with_capacity(MEMORY);
    let (mut trial, mut trial_grad) = (vec![0.0; m], vec![0.0; m]);
    let mut iterations = 1;
    if !report(iterations, f, &theta) {
        return Err(Stopped);
    }
    let done = |theta: Vec<f64>, iterations: usize, converged: bool, objective: f64| Fit { theta, iterations, converged, objective, active: active.clone() };
    while iterations < options.max_iter {
        let mut d = direction(&grad, &active, &pairs, initial);
        if dot(&grad, &d) >= 0.0 && !pairs.is_empty() {
            // Stale curvature pairs gave no descent direction: start again from the initial matrix.
            pairs.clear();
            d = direction(&grad, &active, &pairs, initial);
        }
        let slope = dot(&grad, &d);
        // The step left is within tolerance (or there is none): this point is the optimum.
        let left = d.iter().zip(&theta).map(|(s, t)| s.abs() / (1.0 + t.abs())).fold(0.0, f64::max);
        if left <= options.tol || slope >= 0.0 || slope.is_nan() {
            return Ok((done(theta, iterations, true, f), grad));
        }
        let Some(f_trial) = line_search(problem, penalty, (&theta, f, slope), &d, &mut trial, &mut trial_grad) else {
            // No step lowers the objective beyond rounding: a converged point.
            return Ok((done(theta, iterations, true, f), grad));
        };
        let moved = max_relative_change(&theta, &trial);
        remember(&mut pairs, &theta, &trial, &grad, &trial_grad, &active);
        std::mem::swap(&mut theta, &mut trial);
        std::mem::swap(&mut grad, &mut trial_grad);
        f = f_trial;
        iterations += 1;
        if !report(iterations, f, &theta) {
            return Err(Stopped);
        }
        if moved <= options.tol {
            return Ok((done(theta, iterations, true, f), grad));
        }
    }
    Ok((done(theta, iterations, false, f), grad))
}

/// Loss + L2 + the intercept tie, and its gradient into `grad`.
fn value_and_gradient(problem: &Problem, penalty: &Penalty, theta: &[f64], grad: &mut [f64]) -> f64 {
    let loss = problem.loss_grad(theta, grad);
    for (j, g) in grad.iter_mut().enumerate().filter(|(j, _)| penalty.penalised[*j]) {
        *g += penalty.l2 * theta[j];
    }
    let tie: f64 = penalty.tied.iter().map(|&j| theta[j]).sum();
    penalty.tied.iter().for_each(|&j| grad[j] += tie);
    loss + smooth_extra(penalty, theta)
}

/// −H·g by the two-loop recursion over the pairs, H₀ the initial matrix's inverse.
fn direction(grad: &[f64], active: &[bool], pairs: &VecDeque<Pair>, initial: &Cholesky) -> Vec<f64> {
    let mut q: Vec<f64> = grad.iter().zip(active).map(|(g, &a)| if a { *g } else { 0.0 }).collect();
    let mut alpha = vec![0.0; pairs.len()];
    for (a, pair) in alpha.iter_mut().zip(pairs).rev() {
        *a = pair.rho * dot(&pair.s, &q);
        q.iter_mut().zip(&pair.y).for_each(|(v, y)| *v -= *a * y);
    }
    let mut r = initial.solve(&q);
    for (a, pair) in alpha.iter().zip(pairs) {
        let beta = pair.rho * dot(&pair.y, &r);
        r.iter_mut().zip(&pair.s).for_each(|(v, s)| *v += (a - beta) * s);
    }
    r.iter_mut().for_each(|v| *v = -*v);
    r
}

/// Keeps the step from `theta` to `next` and its change of gradient, if it has positive curvature.
fn remember(pairs: &mut VecDeque<Pair>, theta: &[f64], next: &[f64], grad: &[f64], next_grad: &[f64], active: &[bool]) {
    let s: Vec<f64> = next.iter().zip(theta).map(|(a, b)| a - b).collect();
    let y: Vec<f64> = (0..s.len()).map(|j| if active[j] { next_grad[j] - grad[j] } else { 0.0 }).collect();
    let sy = dot(&s, &y);
    if sy > 1e-12 * dot(&y, &y) && sy > 0.0 {
        if pairs.len() == MEMORY {
            pairs.pop_front();
        }
        pairs.push_back(Pair { s, y, rho: 1.0 / sy });
    }
}

/// Backtracks along `d` from the full step until the objective falls enough
/// (Armijo, or in rounding's reach the approximate Wolfe conditions of
/// Hager and Zhang, SIAM J. Optim. 16, 2005), each trial one pass over the rows that also leaves its gradient
/// in `trial_grad`. None: no step lowers the objective (up to rounding).
fn line_search(
    problem: &Problem,
    penalty: &Penalty,
    (theta, f, slope): (&[f64], f64, f64),
    d: &[f64],
    trial: &mut [f64],
    trial_grad: &mut [f64],
) -> Option<f64> {
    let mut t = 1.0;
    loop {
        trial.iter_mut().zip(theta.iter().zip(d)).for_each(|(v, (x, s))| *v = x + t * s);
        let ft = value_and_gradient(problem, penalty, trial, trial_grad);
        if ft <= f + 1e-4 * t * slope {
            return Some(ft);
        }
        // Near the optimum the fall is below the objective's rounding: the
        // slope along d tells instead (Hager and Zhang's approximate Wolfe test).
        let trial_slope = dot(trial_grad, d);
        if ft <= f + 1e-12 * f.abs() && trial_slope >= 0.9 * slope && trial_slope <= -0.8 * slope {
            return Some(ft);
        }
        if t < 1e-6 {
            return None;
        }
        // The minimum of the parabola through f, the slope and ft, within [t/10, t/2].
        let q = -slope * t * t / (2.0 * (ft - f - slope * t));
        t = if q.is_finite() { q.clamp(0.1 * t, 0.5 * t) } else { 0.1 * t };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(state: &mut u64) -> f64 {
        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A logistic problem of `n` rows: an intercept, three numbers and a 0/1 column nonzero on `rare` rows.
    fn table(n: usize, rare: usize) -> (Vec<f64>, Vec<u32>) {
        let mut state = 3u64;
        let (mut x, mut y) = (vec![], vec![]);
        for i in 0..n {
            let row = [1.0, lcg(&mut state) * 2.0 - 1.0, lcg(&mut state) * 2.0 - 1.0, lcg(&mut state) - 0.5, (i % (n / rare) == 1) as u8 as f64];
            let logit = 0.3 + row[1] - 2.0 * row[2] + 0.5 * row[3] + 1.5 * row[4];
            y.push((lcg(&mut state) < 1.0 / (1.0 + (-logit).exp())) as u32);
            x.extend(row);
        }
        (x, y)
    }

    #[test]
    fn reaches_the_optimum_newton_finds_on_every_row() {
        let n = 80_000;
        let (x, y) = table(n, 40);
        let problem = Problem { data: Data::Rows(&x), n, p: 5, response: Response::Classes { y: &y, k: 2, symmetric: false }, weights: None };
        assert!(worthwhile(&problem));
        for l2 in [0.0, 1e-3] {
            let penalty = Penalty { l1: 0.0, l2, penalised: vec![false, true, true, true, true], tied: vec![] };
            let options = Options { max_iter: 100, tol: 1e-10 };
            let exact = solver::newton(&problem, vec![0.0; 5], &penalty, &options, 1, &mut |_, _, _| true).ok().unwrap();
            let mut reports = 0;
            let fit = solve(&problem, vec![0.0; 5], &penalty, &options, &mut |_, _, _| {
                reports += 1;
                true
            })
            .ok()
            .unwrap();
            assert!(fit.converged && fit.active.iter().all(|&a| a), "{l2}: the rare column (40 rows) is active");
            assert_eq!(reports, fit.iterations);
            // Newton stops where the fall drops below the objective's rounding (~1e-8 here); this fit goes on by the slope.
            let mut g = vec![0.0; 5];
            value_and_gradient(&problem, &penalty, &fit.theta, &mut g);
            assert!(g.iter().all(|v| v.abs() < 1e-11), "{l2}: gradient {g:?}");
            for (a, b) in fit.theta.iter().zip(&exact.theta) {
                assert!((a - b).abs() < 1e-6 * (1.0 + b.abs()), "{l2}: {:?} vs {:?}", fit.theta, exact.theta);
            }
            assert!(fit.objective <= exact.objective * (1.0 + 1e-13), "{} vs {}", fit.objective, exact.objective);
        }
    }

    #[test]
    fn the_sample_takes_every_row_of_a_rare_column_and_estimates_the_mean_loss() {
        let n = 80_000;
        let (x, y) = table(n, 40);
        let problem = Problem { data: Data::Rows(&x), n, p: 5, response: Response::Classes { y: &y, k: 2, symmetric: false }, weights: None };
        let sample = Sample::draw(&problem);
        let small = sample.problem(&problem);
        assert_eq!((0..small.n).filter(|&i| small.row(i)[4] != 0.0).count(), 40);
        assert!(small.n < n / 3);
        let theta = [0.3, 1.0, -2.0, 0.5, 1.5];
        let (full, part) = (problem.loss(&theta), small.loss(&theta));
        assert!((full - part).abs() < 0.02 * full, "{full} vs {part}");
    }
}
