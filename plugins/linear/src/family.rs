//! The losses: for a parameter vector, one pass over the design rows gives the
//! mean weighted loss, its gradient and its Hessian (or the loss alone, for
//! line searches). A Gaussian problem may instead hold its loss as moments
//! (`Data::Moments`, see moments.rs): then the gradient and Hessian take
//! O(p²) and only the loss itself reads the rows again, streamed.
//!
//! Parameters are laid out block by block: `k` linear predictors (1 for
//! linear, Poisson and binary logistic; K−1 for multinomial with a reference
//! class, K for the symmetric multinomial), each `p` coefficients over the
//! design columns. Must not know about penalties or solvers.

use crate::moments::Moments;

/// The target and the loss it takes.
#[derive(Debug, Clone, Copy)]
pub enum Response<'a> {
    /// Squared error (half of it) on an identity link.
    Gaussian(&'a [f64]),
    /// Poisson negative log-likelihood (without the ln y! constant), log link.
    Poisson(&'a [f64]),
    /// Class indices 0..k; `symmetric`: one predictor per class, else class 0 is the reference.
    Classes { y: &'a [u32], k: usize, symmetric: bool },
}

impl Response<'_> {
    /// Linear predictors per row.
    pub fn predictors(&self) -> usize {
        match *self {
            Response::Gaussian(_) | Response::Poisson(_) => 1,
            Response::Classes { k, symmetric: true, .. } => k,
            Response::Classes { k, symmetric: false, .. } => k - 1,
        }
    }
}

/// Where a problem's design is.
#[derive(Clone, Copy)]
pub enum Data<'a> {
    /// The row-major n × p design in memory.
    Rows(&'a [f64]),
    /// A Gaussian loss with unit weights as moments: the design is streamed, never held.
    Moments(&'a Moments<'a>),
}

/// A loss over n rows of a p-column design.
pub struct Problem<'a> {
    /// The design, or the moments that stand for it.
    pub data: Data<'a>,
    /// Rows.
    pub n: usize,
    /// Design columns.
    pub p: usize,
    /// The target, one value per row.
    pub response: Response<'a>,
    /// Per-row weights (class weights), or None for 1.
    pub weights: Option<&'a [f64]>,
}

/// A problem's loss and its derivatives at one point.
pub struct Eval {
    /// Mean weighted loss.
    pub loss: f64,
    /// Its gradient, m values.
    pub grad: Vec<f64>,
    /// Row-major m × m, upper triangle and lower filled.
    pub hess: Vec<f64>,
}

use crate::kernels::axpy;
pub use crate::kernels::dot;

/// Rows whose Hessian contributions are added in one sweep of the matrix.
const BATCH: usize = 4;

impl<'a> Problem<'a> {
    /// Linear predictors per row.
    pub fn k(&self) -> usize {
        self.response.predictors()
    }

    /// Parameters: k predictors × p columns.
    pub fn m(&self) -> usize {
        self.k() * self.p
    }

    /// The row-major design, if it is held in memory.
    pub fn dense(&self) -> Option<&'a [f64]> {
        match self.data {
            Data::Rows(x) => Some(x),
            Data::Moments(_) => None,
        }
    }

    /// Row `i` of a design held in memory. Only the row-by-row paths call it,
    /// and a problem held as moments never takes them (each method below
    /// answers from the moments first; the other solvers check `dense`).
    pub fn row(&self, i: usize) -> &'a [f64] {
        match self.data {
            Data::Rows(x) => &x[i * self.p..(i + 1) * self.p],
            Data::Moments(_) => unreachable!("row {i} of a problem held as moments"),
        }
    }

    fn weight(&self, i: usize) -> f64 {
        self.weights.map_or(1.0, |w| w[i])
    }

    /// The linear predictors of row `i` into `eta`.
    fn eta(&self, theta: &[f64], i: usize, eta: &mut [f64]) {
        let x = self.row(i);
        for (k, e) in eta.iter_mut().enumerate() {
            *e = dot(&theta[k * self.p..(k + 1) * self.p], x);
        }
    }

    /// Mean weighted loss only (from moments: by an exact pass over the rows).
    pub fn loss(&self, theta: &[f64]) -> f64 {
        if let Data::Moments(m) = self.data {
            return 0.5 * m.squared_residuals(theta) / self.n as f64;
        }
        let mut eta = vec![0.0; self.k()];
        let mut d = vec![0.0; self.k()];
        let mut total = 0.0;
        for i in 0..self.n {
            self.eta(theta, i, &mut eta);
            total += self.weight(i) * self.derivatives(&eta, i, &mut d, None);
        }
        total / self.n as f64
    }

    /// Mean weighted loss, with its gradient written into `grad`, in one pass
    /// over the rows: all a quasi-Newton iteration needs. Each row is read
    /// once (its predictor, then its share of the gradient, while it is in cache).
    pub fn loss_grad(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        if let Data::Moments(m) = self.data {
            grad.copy_from_slice(&m.gradient(theta));
            return self.loss(theta);
        }
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut loss = 0.0;
        if let (Response::Classes { y, k: 2, symmetric: false }, Some(x)) = (self.response, self.dense()) {
            // Binary logistic: one predictor, the loss and its derivative in closed form.
            for (i, x) in x.chunks_exact(self.p).take(self.n).enumerate() {
                let w = self.weight(i);
                let (l, d) = binary_logistic(dot(theta, x), y[i] == 1);
                loss += w * l;
                axpy(grad, w * d, x);
            }
        } else {
            let (k, p) = (self.k(), self.p);
            let (mut eta, mut d) = (vec![0.0; k], vec![0.0; k]);
            for i in 0..self.n {
                let w = self.weight(i);
                self.eta(theta, i, &mut eta);
                loss += w * self.derivatives(&eta, i, &mut d, None);
                for (a, &da) in d.iter().enumerate() {
                    axpy(&mut grad[a * p..(a + 1) * p], w * da, self.row(i));
                }
            }
        }
        let inv_n = 1.0 / self.n as f64;
        grad.iter_mut().for_each(|g| *g *= inv_n);
        loss * inv_n
    }

    /// Loss, gradient and Hessian at `theta`, over every row.
    pub fn eval(&self, theta: &[f64]) -> Eval {
        self.eval_sampled(theta, 1)
    }

    /// Loss and gradient over every row, the Hessian over every `stride`-th
    /// row (its mean over them): a Newton step needs the curvature only
    /// roughly, and on a large table that is most of the work. From moments
    /// all three are exact and O(p²), the loss from the quadratic (a solver's
    /// model value; `loss` gives the figure to report).
    pub fn eval_sampled(&self, theta: &[f64], stride: usize) -> Eval {
        if let Data::Moments(m) = self.data {
            return Eval { loss: m.loss(theta), grad: m.gradient(theta), hess: m.hessian() };
        }
        let (k, p, m) = (self.k(), self.p, self.m());
        let mut grad = vec![0.0; m];
        // One p × p upper-triangular block per pair (a <= b) of predictors.
        let mut blocks = vec![vec![0.0; p * p]; k * (k + 1) / 2];
        let (mut eta, mut d, mut h) = (vec![0.0; k], vec![0.0; k], vec![0.0; k * k]);
        let mut coef = vec![[0.0; BATCH]; blocks.len()];
        let (mut batch, mut filled, mut sampled) = ([0usize; BATCH], 0, 0usize);
        let mut loss = 0.0;
        for i in 0..self.n {
            let w = self.weight(i);
            self.eta(theta, i, &mut eta);
            let curvature = i % stride.max(1) == 0;
            loss += w * self.derivatives(&eta, i, &mut d, if curvature { Some(&mut h) } else { None });
            for (a, &da) in d.iter().enumerate() {
                axpy(&mut grad[a * p..(a + 1) * p], w * da, self.row(i));
            }
            if curvature {
                for (b, c) in pairs(k).zip(coef.iter_mut()) {
                    c[filled] = w * h[b.0 * k + b.1];
                }
                batch[filled] = i;
                filled += 1;
                sampled += 1;
                if filled == BATCH || i + stride.max(1) >= self.n {
                    self.flush(&mut blocks, &mut coef, &batch, filled);
                    filled = 0;
                }
            }
        }
        if filled > 0 {
            self.flush(&mut blocks, &mut coef, &batch, filled);
        }
        let inv_n = 1.0 / self.n as f64;
        grad.iter_mut().for_each(|g| *g *= inv_n);
        Eval { loss: loss * inv_n, grad, hess: assemble(&blocks, k, p, 1.0 / sampled.max(1) as f64) }
    }

    /// Adds the `filled` batched rows' curvature to the Hessian blocks.
    fn flush(&self, blocks: &mut [Vec<f64>], coef: &mut [[f64; BATCH]], batch: &[usize; BATCH], filled: usize) {
        for c in coef.iter_mut() {
            c[filled..].iter_mut().for_each(|v| *v = 0.0);
        }
        let xs: [&[f64]; BATCH] = std::array::from_fn(|r| self.row(batch[r.min(filled - 1)]));
        for (block, c) in blocks.iter_mut().zip(coef.iter()) {
            rank_update(block, self.p, &xs, c);
        }
    }

    /// Σ (yᵢ − ηᵢ)² of a Gaussian problem (NaN for the others), over every row.
    pub fn squared_residuals(&self, theta: &[f64]) -> f64 {
        match (self.data, self.response) {
            (Data::Moments(m), _) => m.squared_residuals(theta),
            (Data::Rows(_), Response::Gaussian(y)) => {
                let mut eta = [0.0];
                (0..self.n)
                    .map(|i| {
                        self.eta(theta, i, &mut eta);
                        (y[i] - eta[0]).powi(2)
                    })
                    .sum()
            }
            _ => f64::NAN,
        }
    }

    /// The row's loss; its derivatives in the predictors into `d` (and the second ones into `h`, k × k).
    fn derivatives(&self, eta: &[f64], i: usize, d: &mut [f64], h: Option<&mut [f64]>) -> f64 {
        match self.response {
            Response::Gaussian(y) => {
                let r = eta[0] - y[i];
                d[0] = r;
                if let Some(h) = h {
                    h[0] = 1.0;
                }
                0.5 * r * r
            }
            Response::Poisson(y) => {
                let mu = eta[0].min(700.0).exp();
                d[0] = mu - y[i];
                if let Some(h) = h {
                    h[0] = mu;
                }
                mu - y[i] * eta[0]
            }
            Response::Classes { y, symmetric, .. } => softmax_derivatives(eta, y[i] as usize, symmetric, d, h),
        }
    }
}

/// Cross-entropy of a softmax over the predictors (plus a fixed 0 for the
/// reference class when not symmetric), with its first and second derivatives.
fn softmax_derivatives(eta: &[f64], y: usize, symmetric: bool, d: &mut [f64], h: Option<&mut [f64]>) -> f64 {
    let k = eta.len();
    let reference = if symmetric { f64::NEG_INFINITY } else { 0.0 };
    let top = eta.iter().copied().fold(reference, f64::max);
    let mut sum = if symmetric { 0.0 } else { (-top).exp() };
    for (dv, &e) in d.iter_mut().zip(eta) {
        *dv = (e - top).exp();
        sum += *dv;
    }
    d.iter_mut().for_each(|v| *v /= sum);
    let lse = top + sum.ln();
    // The predictor index of the true class (None: the reference class).
    let own = if symmetric { Some(y) } else { y.checked_sub(1) };
    let eta_y = own.map_or(0.0, |a| eta[a]);
    if let Some(h) = h {
        for a in 0..k {
            for b in 0..k {
                h[a * k + b] = if a == b { d[a] * (1.0 - d[a]) } else { -d[a] * d[b] };
            }
        }
    }
    if let Some(a) = own {
        d[a] -= 1.0;
    }
    lse - eta_y
}

/// ln(1 + e^η) − [positive] η and its derivative σ(η) − [positive], without overflow.
fn binary_logistic(eta: f64, positive: bool) -> (f64, f64) {
    let z = (-eta.abs()).exp();
    let sigma = if eta >= 0.0 { 1.0 / (1.0 + z) } else { z / (1.0 + z) };
    let loss = eta.max(0.0) + z.ln_1p() - if positive { eta } else { 0.0 };
    (loss, sigma - positive as u8 as f64)
}

/// (a, b) with a <= b, in the order the Hessian blocks are stored.
pub fn pairs(k: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..k).flat_map(move |a| (a..k).map(move |b| (a, b)))
}

/// Adds Σ_r c[r] x_r x_rᵀ to the upper triangle of `h` (p × p): four rows per
/// sweep of the matrix, so each entry is loaded and stored once per four rows.
fn rank_update(h: &mut [f64], p: usize, xs: &[&[f64]; BATCH], c: &[f64; BATCH]) {
    if c.iter().all(|&v| v == 0.0) {
        return;
    }
    for j in 0..p {
        let s = [c[0] * xs[0][j], c[1] * xs[1][j], c[2] * xs[2][j], c[3] * xs[3][j]];
        let row = &mut h[j * p + j..(j + 1) * p];
        let (x0, x1, x2, x3) = (&xs[0][j..], &xs[1][j..], &xs[2][j..], &xs[3][j..]);
        for ((((hv, a), b), c), d) in row.iter_mut().zip(x0).zip(x1).zip(x2).zip(x3) {
            *hv += s[0] * a + s[1] * b + s[2] * c + s[3] * d;
        }
    }
}

/// The full m × m Hessian from its upper-triangular blocks, scaled.
fn assemble(blocks: &[Vec<f64>], k: usize, p: usize, scale: f64) -> Vec<f64> {
    let m = k * p;
    let mut hess = vec![0.0; m * m];
    for ((a, b), block) in pairs(k).zip(blocks) {
        for j in 0..p {
            for i in j..p {
                let v = block[j * p + i] * scale;
                // Each block is symmetric, and block (b, a) is block (a, b) transposed.
                for (r, c) in [(a * p + j, b * p + i), (a * p + i, b * p + j), (b * p + i, a * p + j), (b * p + j, a * p + i)] {
                    hess[r * m + c] = v;
                }
            }
        }
    }
    hess
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The analytic gradient and Hessian against central differences of the loss.
    fn check_derivatives(response: Response, k: usize) {
        let x: Vec<f64> = (0..30).map(|i| ((i * 7 % 11) as f64 - 5.0) / 4.0 + if i % 3 == 0 { 1.0 } else { 0.0 }).collect();
        let pr = Problem { data: Data::Rows(&x), n: 10, p: 3, response, weights: None };
        let theta: Vec<f64> = (0..k * 3).map(|i| 0.1 * i as f64 - 0.2).collect();
        let e = pr.eval(&theta);
        let m = pr.m();
        for j in 0..m {
            let (mut up, mut down) = (theta.clone(), theta.clone());
            up[j] += 1e-5;
            down[j] -= 1e-5;
            let numeric = (pr.loss(&up) - pr.loss(&down)) / 2e-5;
            assert!((numeric - e.grad[j]).abs() < 1e-7, "grad {j}: {numeric} vs {}", e.grad[j]);
            let (gu, gd) = (pr.eval(&up).grad, pr.eval(&down).grad);
            for i in 0..m {
                let numeric = (gu[i] - gd[i]) / 2e-5;
                assert!((numeric - e.hess[i * m + j]).abs() < 1e-6, "hess {i},{j}: {numeric} vs {}", e.hess[i * m + j]);
            }
        }
    }

    #[test]
    fn a_sampled_hessian_is_the_mean_over_the_sampled_rows() {
        let x: Vec<f64> = (0..30).map(|i| ((i * 7 % 11) as f64 - 5.0) / 4.0).collect();
        let y = [0u32, 1, 1, 0, 1, 0, 0, 1, 1, 0];
        let full = Problem { data: Data::Rows(&x), n: 10, p: 3, response: Response::Classes { y: &y, k: 2, symmetric: false }, weights: None };
        let theta = [0.1, -0.2, 0.3];
        let sampled = full.eval_sampled(&theta, 3);
        // Rows 0, 3, 6 and 9 alone, as a problem of their own.
        let rows: Vec<f64> = [0, 3, 6, 9].iter().flat_map(|&i| x[i * 3..i * 3 + 3].to_vec()).collect();
        let ys = [y[0], y[3], y[6], y[9]];
        let part = Problem { data: Data::Rows(&rows), n: 4, p: 3, response: Response::Classes { y: &ys, k: 2, symmetric: false }, weights: None };
        let expected = part.eval(&theta).hess;
        assert!(sampled.hess.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-15));
        // The loss and gradient still cover every row.
        let whole = full.eval(&theta);
        assert_eq!((sampled.loss, &sampled.grad), (whole.loss, &whole.grad));
    }

    #[test]
    fn the_one_pass_loss_and_gradient_are_those_of_the_full_evaluation() {
        let x: Vec<f64> = (0..30).map(|i| ((i * 7 % 11) as f64 - 5.0) / 4.0).collect();
        let (c, v) = ([0u32, 1, 2, 0, 1, 2, 2, 1, 0, 0], [0.5, 1.0, 3.0, 0.0, 2.0, 1.0, 4.0, 0.0, 1.0, 2.0]);
        let binary = [0u32, 1, 1, 0, 1, 0, 0, 1, 1, 0];
        let w = [1.0, 2.0, 0.5, 1.0, 1.0, 3.0, 1.0, 1.0, 0.25, 1.0];
        let responses = [
            Response::Classes { y: &binary, k: 2, symmetric: false },
            Response::Classes { y: &c, k: 3, symmetric: false },
            Response::Classes { y: &c, k: 3, symmetric: true },
            Response::Poisson(&v),
            Response::Gaussian(&v),
        ];
        for response in responses {
            let pr = Problem { data: Data::Rows(&x), n: 10, p: 3, response, weights: Some(&w) };
            let theta: Vec<f64> = (0..pr.m()).map(|i| 0.3 * i as f64 - 0.4).collect();
            let mut grad = vec![f64::NAN; pr.m()];
            let loss = pr.loss_grad(&theta, &mut grad);
            let full = pr.eval(&theta);
            assert!((loss - full.loss).abs() < 1e-14, "{response:?}: {loss} vs {}", full.loss);
            assert!(grad.iter().zip(&full.grad).all(|(a, b)| (a - b).abs() < 1e-14), "{response:?}: {grad:?} vs {:?}", full.grad);
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        let y = [0.5, 1.0, 3.0, 0.0, 2.0, 1.0, 4.0, 0.0, 1.0, 2.0];
        let c = [0u32, 1, 2, 0, 1, 2, 2, 1, 0, 0];
        check_derivatives(Response::Gaussian(&y), 1);
        check_derivatives(Response::Poisson(&y), 1);
        check_derivatives(Response::Classes { y: &c, k: 3, symmetric: false }, 2);
        check_derivatives(Response::Classes { y: &c, k: 3, symmetric: true }, 3);
    }
}
