//! Minimises mean loss + penalty by (proximal) Newton: each iteration takes
//! the loss's gradient and Hessian in one pass over the rows, then solves the
//! quadratic model exactly (Cholesky) or, with an L1 term, by coordinate
//! descent on that model, and backtracks along the step until the objective
//! falls enough. The squared-error loss is its own quadratic model, so a
//! linear fit needs a single pass over the rows. On large tables the Hessian
//! of the other losses is taken over an even sample of rows (the gradient
//! never is), which keeps each step a descent step at a fraction of the cost.
//!
//! Knows penalties and convergence; must not know about tables or columns.

use crate::family::{dot, Problem, Response};
use crate::linalg::{symmetrize, Cholesky};
use crate::quasi_newton;

/// Rows the Hessian of a non-quadratic loss is taken over (at least 40 per
/// coefficient): more adds work per iteration and hardly speeds convergence.
/// The gradient, line search and diagnostics always use every row.
const HESSIAN_ROWS: usize = 32_768;

pub struct Penalty {
    pub l1: f64,
    pub l2: f64,
    /// Which coordinates are penalised (not the intercepts).
    pub penalised: Vec<bool>,
    /// Intercept coordinates of a symmetric multinomial: their sum is not
    /// identified by the loss, so ½ (Σ b)² is added, which is 0 at the
    /// solution it picks (intercepts summing to 0) and makes it unique.
    pub tied: Vec<usize>,
}

pub struct Options {
    pub max_iter: usize,
    pub tol: f64,
}

pub struct Fit {
    pub theta: Vec<f64>,
    pub iterations: usize,
    pub converged: bool,
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
    let quadratic = matches!(problem.response, Response::Gaussian(_));
    if !quadratic && penalty.l1 == 0.0 && quasi_newton::worthwhile(problem) {
        return quasi_newton::solve(problem, theta0, penalty, options, report);
    }
    // A squared error's Hessian is exact and constant; otherwise a sample of rows gives it.
    let stride = if quadratic { 1 } else { (problem.n / HESSIAN_ROWS.max(40 * problem.m())).max(1) };
    newton(problem, theta0, penalty, options, stride, report)
}

/// (Proximal) Newton with the Hessian over every `stride`-th row.
pub fn newton(
    problem: &Problem,
    theta0: Vec<f64>,
    penalty: &Penalty,
    options: &Options,
    stride: usize,
    report: &mut dyn FnMut(usize, f64, &[f64]) -> bool,
) -> Result<Fit, Stopped> {
    let m = problem.m();
    let quadratic = matches!(problem.response, Response::Gaussian(_));
    let mut theta = theta0;
    let mut active = vec![true; m];
    for iter in 1..=options.max_iter {
        let mut e = problem.eval_sampled(&theta, stride);
        let loss = e.loss;
        add_smooth_penalty(penalty, &theta, &mut e.grad, &mut e.hess, m);
        let chol = Cholesky::new(&e.hess, m, &active);
        if iter == 1 {
            // The design's null space does not move: fix the aliased coordinates once.
            active = chol.active.clone();
            theta.iter_mut().zip(&active).filter(|(_, a)| !**a).for_each(|(t, _)| *t = 0.0);
        }
        let f0 = loss + smooth_extra(penalty, &theta) + penalty.l1 * l1_norm(penalty, &theta);
        if quadratic && penalty.l1 > 0.0 {
            // Exact model: its coordinate descent is the whole solver, reported per sweep.
            let c: Vec<f64> = (0..m).map(|j| e.grad[j] - dot(&e.hess[j * m..(j + 1) * m], &theta)).collect();
            let constant = f0 - penalty.l1 * l1_norm(penalty, &theta) - dot(&e.grad, &theta) + 0.5 * quad(&e.hess, &theta, m);
            return coordinate_descent(&e.hess, &c, theta, penalty, &active, options, &mut |sweep, z, q| report(sweep, q + constant, z))
                .map(|(theta, sweeps, converged, q)| Fit { theta, iterations: sweeps, converged, objective: q + constant, active });
        }
        let target = if penalty.l1 > 0.0 {
            let c: Vec<f64> = (0..m).map(|j| e.grad[j] - dot(&e.hess[j * m..(j + 1) * m], &theta)).collect();
            let inner = Options { max_iter: 10_000, tol: options.tol * 0.1 };
            coordinate_descent(&e.hess, &c, theta.clone(), penalty, &active, &inner, &mut |_, _, _| true)?.0
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
        if quadratic || moved <= options.tol {
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

fn quad(h: &[f64], z: &[f64], m: usize) -> f64 {
    (0..m).map(|j| z[j] * dot(&h[j * m..(j + 1) * m], z)).sum()
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

/// Minimises cᵀz + ½ zᵀHz + l1 Σ_penalised |z_j| by cyclic coordinate descent,
/// keeping Hz up to date. Returns (z, sweeps, converged, value).
type CdResult = (Vec<f64>, usize, bool, f64);
fn coordinate_descent(
    h: &[f64],
    c: &[f64],
    mut z: Vec<f64>,
    penalty: &Penalty,
    active: &[bool],
    options: &Options,
    report: &mut dyn FnMut(usize, &[f64], f64) -> bool,
) -> Result<CdResult, Stopped> {
    let m = c.len();
    let mut hz: Vec<f64> = (0..m).map(|j| dot(&h[j * m..(j + 1) * m], &z)).collect();
    let value = |z: &[f64], hz: &[f64]| dot(c, z) + 0.5 * dot(z, hz) + penalty.l1 * l1_norm(penalty, z);
    for sweep in 1..=options.max_iter {
        let mut moved: f64 = 0.0;
        for j in (0..m).filter(|&j| active[j] && h[j * m + j] > 0.0) {
            let a = h[j * m + j];
            let rest = c[j] + hz[j] - a * z[j];
            let new = if penalty.penalised[j] { soft_threshold(-rest, penalty.l1) / a } else { -rest / a };
            let delta = new - z[j];
            if delta != 0.0 {
                hz.iter_mut().zip(&h[j * m..(j + 1) * m]).for_each(|(v, hj)| *v += delta * hj);
                z[j] = new;
                moved = moved.max(delta.abs() / (1.0 + new.abs()));
            }
        }
        if !report(sweep, &z, value(&z, &hz)) {
            return Err(Stopped);
        }
        if moved <= options.tol {
            let v = value(&z, &hz);
            return Ok((z, sweep, true, v));
        }
    }
    let v = value(&z, &hz);
    Ok((z, options.max_iter, false, v))
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
