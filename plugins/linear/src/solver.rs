//! Minimises mean loss + penalty by (proximal) Newton: each iteration takes
//! the loss's gradient and Hessian in one pass over the rows, then solves the
//! quadratic model exactly (Cholesky) or, with an L1 term, by coordinate
//! descent on that model, and backtracks along the step until the objective
//! falls enough. The squared-error loss is its own quadratic model, so a
//! linear fit needs a single evaluation (from moments: no pass over the rows
//! at all) and one more pass for its objective. On large tables the Hessian
//! of the other losses is taken over an even sample of rows (the gradient
//! never is), which keeps each step a descent step at a fraction of the cost.
//!
//! Knows penalties and convergence; must not know about tables or columns.

use crate::family::{dot, Eval, Problem, Response};
use crate::linalg::{symmetrize, Cholesky};
use crate::quasi_newton;

/// Rows the Hessian of a non-quadratic loss is taken over (at least 40 per
/// coefficient): more adds work per iteration and hardly speeds convergence.
/// The gradient, line search and diagnostics always use every row.
const HESSIAN_ROWS: usize = 32_768;

/// The penalty on the mean loss, in the solver's units.
pub struct Penalty {
    /// Weight of Σ_penalised |θ_j|.
    pub l1: f64,
    /// Weight of ½ Σ_penalised θ_j².
    pub l2: f64,
    /// Which coordinates are penalised (not the intercepts).
    pub penalised: Vec<bool>,
    /// Intercept coordinates of a symmetric multinomial: their sum is not
    /// identified by the loss, so ½ (Σ b)² is added, which is 0 at the
    /// solution it picks (intercepts summing to 0) and makes it unique.
    pub tied: Vec<usize>,
}

/// When to stop.
pub struct Options {
    /// Newton steps (coordinate-descent sweeps for a linear L1 fit) at most.
    pub max_iter: usize,
    /// Converged when no coefficient moves by more than tol × (1 + its size).
    pub tol: f64,
}

/// A finished fit.
pub struct Fit {
    /// The coefficients, on the standardised design.
    pub theta: Vec<f64>,
    /// Iterations (or sweeps) taken.
    pub iterations: usize,
    /// Whether `Options::tol` was met.
    pub converged: bool,
    /// Mean loss + penalty at `theta`, the loss over every row.
    pub objective: f64,
    /// False for coordinates set aside as aliased (held at 0).
    pub active: Vec<bool>,
}

/// The solver was told to stop (the job was cancelled).
pub struct Stopped;

/// `report(iteration, objective, theta)` after each iteration (CD sweep for a
/// linear L1 fit); it returns false to stop.
pub fn solve(
    problem: &Problem,
    theta0: Vec<f64>,
    penalty: &Penalty,
    options: &Options,
    report: &mut dyn FnMut(usize, f64, &[f64]) -> bool,
) -> Result<Fit, Stopped> {
    if matches!(problem.response, Response::Gaussian(_)) {
        return least_squares(problem, theta0, penalty, options, report);
    }
    if penalty.l1 == 0.0 && quasi_newton::worthwhile(problem) {
        return quasi_newton::solve(problem, theta0, penalty, options, report);
    }
    // On a large table a sample of rows gives the Hessian.
    let stride = (problem.n / HESSIAN_ROWS.max(40 * problem.m())).max(1);
    newton(problem, theta0, penalty, options, stride, report)
}

/// The loss's evaluation at `theta` with the smooth penalty added, and its
/// Cholesky factor over the `active` coordinates (less any found aliased).
fn penalised_model(problem: &Problem, theta: &[f64], penalty: &Penalty, active: &[bool], stride: usize) -> (Eval, Cholesky) {
    let m = problem.m();
    let mut e = problem.eval_sampled(theta, stride);
    add_smooth_penalty(penalty, theta, &mut e.grad, &mut e.hess, m);
    let chol = Cholesky::new(&e.hess, m, active);
    (e, chol)
}

/// A squared-error loss is its own quadratic model, with an exact and
/// constant Hessian: one evaluation, then without L1 one Cholesky step (an
/// exact solve: no line search, whose Armijo test would compare a model
/// value that on moments is a difference of large sums), with L1 coordinate
/// descent on that model, which is the whole solver (reported per sweep with
/// the model's value). The fit's objective is the loss's own, over the rows.
fn least_squares(
    problem: &Problem,
    mut theta: Vec<f64>,
    penalty: &Penalty,
    options: &Options,
    report: &mut dyn FnMut(usize, f64, &[f64]) -> bool,
) -> Result<Fit, Stopped> {
    let (e, chol) = penalised_model(problem, &theta, penalty, &vec![true; problem.m()], 1);
    let active = chol.active.clone();
    theta.iter_mut().zip(&active).filter(|(_, a)| !**a).for_each(|(t, _)| *t = 0.0);
    if penalty.l1 > 0.0 {
        let constant = e.loss + smooth_extra(penalty, &theta);
        let (theta, sweeps, converged, _) =
            coordinate_descent(&e.hess, &e.grad, &theta, penalty, &active, options, &mut |sweep, z, q| report(sweep, q + constant, z))?;
        let objective = objective(problem, penalty, &theta);
        return Ok(Fit { theta, iterations: sweeps, converged, objective, active });
    }
    let step = chol.solve(&e.grad);
    let theta: Vec<f64> = theta.iter().zip(&step).map(|(t, s)| t - s).collect();
    let objective = objective(problem, penalty, &theta);
    if !report(1, objective, &theta) {
        return Err(Stopped);
    }
    Ok(Fit { theta, iterations: 1, converged: true, objective, active })
}

/// (Proximal) Newton with the Hessian over every `stride`-th row, backtracking
/// along each step (a squared error goes to `least_squares`).
pub fn newton(
    problem: &Problem,
    theta0: Vec<f64>,
    penalty: &Penalty,
    options: &Options,
    stride: usize,
    report: &mut dyn FnMut(usize, f64, &[f64]) -> bool,
) -> Result<Fit, Stopped> {
    if matches!(problem.response, Response::Gaussian(_)) {
        return least_squares(problem, theta0, penalty, options, report);
    }
    let mut theta = theta0;
    let mut active = vec![true; problem.m()];
    for iter in 1..=options.max_iter {
        let (e, chol) = penalised_model(problem, &theta, penalty, &active, stride);
        if iter == 1 {
            // The design's null space does not move: fix the aliased coordinates once.
            active = chol.active.clone();
            theta.iter_mut().zip(&active).filter(|(_, a)| !**a).for_each(|(t, _)| *t = 0.0);
        }
        let f0 = e.loss + smooth_extra(penalty, &theta) + penalty.l1 * l1_norm(penalty, &theta);
        let target = if penalty.l1 > 0.0 {
            let inner = Options { max_iter: 10_000, tol: options.tol * 0.1 };
            coordinate_descent(&e.hess, &e.grad, &theta, penalty, &active, &inner, &mut |_, _, _| true)?.0
        } else {
            let step = chol.solve(&e.grad);
            theta.iter().zip(&step).map(|(t, s)| t - s).collect()
        };
        let (next, f) = line_search(problem, penalty, &theta, &target, &e.grad, f0);
        let moved = max_relative_change(&theta, &next);
        theta = next;
        if !report(iter, f, &theta) {
            return Err(Stopped);
        }
        if moved <= options.tol {
            return Ok(Fit { theta, iterations: iter, converged: true, objective: f, active });
        }
    }
    let objective = objective(problem, penalty, &theta);
    Ok(Fit { theta, iterations: options.max_iter, converged: false, objective, active })
}

/// Loss + L2 + the intercept tie + L1: what the solver minimises.
pub fn objective(problem: &Problem, penalty: &Penalty, theta: &[f64]) -> f64 {
    problem.loss(theta) + smooth_extra(penalty, theta) + penalty.l1 * l1_norm(penalty, theta)
}

pub(crate) fn smooth_extra(penalty: &Penalty, theta: &[f64]) -> f64 {
    let l2: f64 = theta.iter().zip(&penalty.penalised).filter(|(_, p)| **p).map(|(t, _)| t * t).sum();
    let tie: f64 = penalty.tied.iter().map(|&j| theta[j]).sum();
    0.5 * penalty.l2 * l2 + 0.5 * tie * tie
}

pub(crate) fn add_smooth_penalty(penalty: &Penalty, theta: &[f64], grad: &mut [f64], hess: &mut [f64], m: usize) {
    for j in (0..m).filter(|&j| penalty.penalised[j]) {
        grad[j] += penalty.l2 * theta[j];
        hess[j * m + j] += penalty.l2;
    }
    let tie: f64 = penalty.tied.iter().map(|&j| theta[j]).sum();
    for &a in &penalty.tied {
        grad[a] += tie;
        for &b in &penalty.tied {
            hess[a * m + b] += 1.0;
        }
    }
    symmetrize(hess, m);
}

pub(crate) fn l1_norm(penalty: &Penalty, theta: &[f64]) -> f64 {
    theta.iter().zip(&penalty.penalised).filter(|(_, p)| **p).map(|(t, _)| t.abs()).sum()
}

pub(crate) fn max_relative_change(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / (1.0 + y.abs())).fold(0.0, f64::max)
}

/// Backtracks from the full step until the objective falls by a fair share of
/// what the model promised (Armijo), returning the point and its objective.
fn line_search(problem: &Problem, penalty: &Penalty, theta: &[f64], target: &[f64], grad: &[f64], f0: f64) -> (Vec<f64>, f64) {
    let d: Vec<f64> = target.iter().zip(theta).map(|(z, t)| z - t).collect();
    let promised = dot(grad, &d) + penalty.l1 * (l1_norm(penalty, target) - l1_norm(penalty, theta));
    let mut t = 1.0;
    loop {
        let next: Vec<f64> = theta.iter().zip(&d).map(|(x, s)| x + t * s).collect();
        let f = objective(problem, penalty, &next);
        if f <= f0 + 1e-4 * t * promised.min(0.0) || t < 1e-10 {
            return (next, f);
        }
        // A step that cannot decrease is a converged point (up to rounding): stay.
        if t < 1e-6 && f >= f0 {
            return (theta.to_vec(), f0);
        }
        t *= 0.5;
    }
}

/// Minimises gᵀd + ½ dᵀHd + l1 Σ_penalised |θ_j + d_j| over the step d by
/// cyclic coordinate descent, keeping Hd up to date; reports (sweep, θ + d,
/// value). Returns (θ + d, sweeps, converged, value). The state is the step,
/// not θ + d: a large coordinate (the intercept of a target whose mean is
/// 1e6) then never enters the sums, where it would cancel.
type CdResult = (Vec<f64>, usize, bool, f64);
fn coordinate_descent(
    h: &[f64],
    g: &[f64],
    theta: &[f64],
    penalty: &Penalty,
    active: &[bool],
    options: &Options,
    report: &mut dyn FnMut(usize, &[f64], f64) -> bool,
) -> Result<CdResult, Stopped> {
    let m = g.len();
    let (mut d, mut hd) = (vec![0.0; m], vec![0.0; m]);
    let point = |d: &[f64]| -> Vec<f64> { theta.iter().zip(d).map(|(t, s)| t + s).collect() };
    let value = |d: &[f64], hd: &[f64], u: &[f64]| dot(g, d) + 0.5 * dot(d, hd) + penalty.l1 * l1_norm(penalty, u);
    for sweep in 1..=options.max_iter {
        let mut moved: f64 = 0.0;
        for j in (0..m).filter(|&j| active[j] && h[j * m + j] > 0.0) {
            let a = h[j * m + j];
            let slope = g[j] + hd[j];
            // The coordinate's minimiser: a soft-thresholded Newton step where it is penalised.
            let new = if penalty.penalised[j] { soft_threshold(a * (theta[j] + d[j]) - slope, penalty.l1) / a - theta[j] } else { d[j] - slope / a };
            let delta = new - d[j];
            if delta != 0.0 {
                hd.iter_mut().zip(&h[j * m..(j + 1) * m]).for_each(|(v, hj)| *v += delta * hj);
                d[j] = new;
                moved = moved.max(delta.abs() / (1.0 + (theta[j] + new).abs()));
            }
        }
        let u = point(&d);
        if !report(sweep, &u, value(&d, &hd, &u)) {
            return Err(Stopped);
        }
        if moved <= options.tol {
            let v = value(&d, &hd, &u);
            return Ok((u, sweep, true, v));
        }
    }
    let u = point(&d);
    let v = value(&d, &hd, &u);
    Ok((u, options.max_iter, false, v))
}

fn soft_threshold(v: f64, t: f64) -> f64 {
    if v > t {
        v - t
    } else if v < -t {
        v + t
    } else {
        0.0
    }
}
