//! The squared-error loss held as sufficient statistics, so a Gaussian fit
//! never materialises its n × p design: one streamed pass over the design's
//! blocks of rows gives G = Σ xᵢxᵢᵀ, b = Σ xᵢrᵢ and rᵀr, where rᵢ = yᵢ − xᵢᵀθ₀
//! are the residuals of a reference point θ₀ (the solver's start). With
//! d = θ − θ₀ the loss is exactly the quadratic
//! L(θ) = (rᵀr − 2bᵀd + dᵀGd) / 2n, its gradient (Gd − b)/n and its Hessian G/n.
//!
//! Why a reference point: b and rᵀr are sums of the residuals' size, not of
//! y's, so a target with a large mean (1e6) does not cancel them away; the
//! gradient at θ₀ is what the row-by-row path computes, in the same way.
//! The quadratic is still a difference of sums, so the loss a fit reports and
//! the residual sum of squares of the diagnostics come from an exact pass over
//! the rows instead (`squared_residuals`).
//!
//! Owns the statistics and the passes over streamed rows; must not know about
//! tables, columns, penalties or solvers (rows come through `Blocks`).

use crate::kernels::{dot, gram_update, TILE};
use std::cell::RefCell;

/// A design streamed in order, block by block of rows, each block row-major.
pub trait Blocks {
    /// Design columns per row.
    fn width(&self) -> usize;
    /// Hands every block to `each`, in row order.
    fn each_block(&self, each: &mut dyn FnMut(&[f64]));

    /// Hands Xθ to `each` block by block of rows, in row order (the blocks
    /// may be sized otherwise than `each_block`'s). By default from the
    /// design's blocks; an encoder may sum it without writing the design.
    fn each_predictor_block(&self, theta: &[f64], each: &mut dyn FnMut(&[f64])) {
        let p = self.width();
        self.each_block(&mut |block| {
            let eta: Vec<f64> = block.chunks_exact(p).map(|x| dot(theta, x)).collect();
            each(&eta);
        });
    }
}

/// The Gaussian loss of a design and target as moments about a reference point.
pub struct Moments<'a> {
    blocks: &'a dyn Blocks,
    /// rᵢ, kept for the exact passes: a residual at θ is rᵢ − xᵢᵀd, where
    /// neither term holds a large intercept (y − Xθ would, and round at its scale).
    residuals: Vec<f64>,
    p: usize,
    reference: Vec<f64>,
    /// G, p × p, both triangles.
    gram: Vec<f64>,
    /// b = Σ xᵢ rᵢ.
    xr: Vec<f64>,
    /// rᵀr.
    rr: f64,
    /// The last exact pass, (θ, Σ (yᵢ − xᵢᵀθ)²): a fit's final objective and
    /// its diagnostics' residual sum of squares are at the same θ, so one
    /// pass serves both.
    last: RefCell<Option<(Vec<f64>, f64)>>,
}

impl<'a> Moments<'a> {
    /// One pass over `blocks` with target `y` (a value per streamed row),
    /// about the reference point `reference` (p coefficients).
    pub fn accumulate(blocks: &'a dyn Blocks, y: &[f64], reference: &[f64]) -> Moments<'a> {
        let p = blocks.width();
        // Each row is copied with its residual after it, zero-padded to whole
        // tiles, so one Gram kernel gives G, b and rᵀr together.
        let q = (p + 1).next_multiple_of(TILE);
        let mut g = vec![0.0; q * q];
        let mut padded: Vec<f64> = Vec::new();
        let mut residuals = Vec::with_capacity(y.len());
        // The reference's nonzero coefficients (the start: the intercept alone),
        // in order: a residual needs no more products than those.
        let nonzero: Vec<(usize, f64)> = reference.iter().copied().enumerate().filter(|&(_, t)| t != 0.0).collect();
        blocks.each_block(&mut |block| {
            let rows = block.len() / p.max(1);
            if padded.len() < rows * q {
                padded.resize(rows * q, 0.0);
            }
            for (r, x) in block.chunks_exact(p).enumerate() {
                let out = &mut padded[r * q..(r + 1) * q];
                out[..p].copy_from_slice(x);
                out[p] = y[residuals.len()] - nonzero.iter().map(|&(j, t)| t * x[j]).sum::<f64>();
                residuals.push(out[p]);
            }
            gram_update(&mut g, &padded[..rows * q], q);
        });
        debug_assert_eq!(residuals.len(), y.len(), "the streamed rows and the target differ in length");
        let upper = |i: usize, j: usize| g[i.min(j) * q + i.max(j)];
        let gram = (0..p * p).map(|ij| upper(ij / p, ij % p)).collect();
        let xr = (0..p).map(|j| upper(j, p)).collect();
        Moments { blocks, residuals, p, reference: reference.to_vec(), gram, xr, rr: upper(p, p), last: RefCell::new(None) }
    }

    fn n(&self) -> f64 {
        self.residuals.len() as f64
    }

    /// d = θ − θ₀ and G d.
    fn step(&self, theta: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let d: Vec<f64> = theta.iter().zip(&self.reference).map(|(t, r)| t - r).collect();
        let gd = self.gram.chunks_exact(self.p).map(|row| dot(row, &d)).collect();
        (d, gd)
    }

    /// The mean half squared error from the quadratic, in O(p²): good for a
    /// solver's model, not for a reported figure (see `squared_residuals`).
    pub fn loss(&self, theta: &[f64]) -> f64 {
        let (d, gd) = self.step(theta);
        (self.rr - 2.0 * dot(&self.xr, &d) + dot(&d, &gd)) / (2.0 * self.n())
    }

    /// The gradient of the mean half squared error at `theta`, (G d − b)/n.
    pub fn gradient(&self, theta: &[f64]) -> Vec<f64> {
        let (_, gd) = self.step(theta);
        let inv_n = 1.0 / self.n();
        gd.iter().zip(&self.xr).map(|(a, b)| (a - b) * inv_n).collect()
    }

    /// The Hessian G/n, row-major p × p.
    pub fn hessian(&self) -> Vec<f64> {
        let inv_n = 1.0 / self.n();
        self.gram.iter().map(|v| v * inv_n).collect()
    }

    /// Σ (yᵢ − xᵢᵀθ)², row by row: Σ (rᵢ − xᵢᵀd)² by a pass over the streamed
    /// rows (each block's sum first, then the blocks'), remembered for the same θ.
    pub fn squared_residuals(&self, theta: &[f64]) -> f64 {
        if let Some((at, rss)) = self.last.borrow().as_ref() {
            if at == theta {
                return *rss;
            }
        }
        let (d, _) = self.step(theta);
        let (mut total, mut at) = (0.0, 0);
        self.blocks.each_predictor_block(&d, &mut |xd| {
            let r = &self.residuals[at..at + xd.len()];
            total += r.iter().zip(xd).map(|(r, e)| (r - e).powi(2)).sum::<f64>();
            at += xd.len();
        });
        *self.last.borrow_mut() = Some((theta.to_vec(), total));
        total
    }
}

/// A design held in memory, streamed in blocks of `block` rows: for tests,
/// which compare the moments with the row-by-row path on the same rows.
#[cfg(test)]
pub struct Dense<'a> {
    pub x: &'a [f64],
    pub p: usize,
    pub block: usize,
}

#[cfg(test)]
impl Blocks for Dense<'_> {
    fn width(&self) -> usize {
        self.p
    }

    fn each_block(&self, each: &mut dyn FnMut(&[f64])) {
        self.x.chunks(self.block * self.p).for_each(each);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(state: &mut u64) -> f64 {
        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    #[test]
    fn the_moments_hold_the_loss_its_gradient_and_hessian() {
        let (n, p) = (103, 6);
        let mut s = 5u64;
        let x: Vec<f64> = (0..n * p).map(|i| if i % p == 0 { 1.0 } else { lcg(&mut s) * 4.0 - 2.0 }).collect();
        let y: Vec<f64> = (0..n).map(|_| 1e6 + lcg(&mut s)).collect();
        let dense = Dense { x: &x, p, block: 16 };
        let m = Moments::accumulate(&dense, &y, &[1e6 + 0.5, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let theta = [1e6 + 0.25, 0.1, -0.2, 0.3, 0.0, 0.05];
        // y − θ₀ first (exact: both near 1e6), then the slopes: residuals to a few ulps of their own size.
        let r: Vec<f64> = x.chunks_exact(p).zip(&y).map(|(x, y)| (y - theta[0]) - dot(&theta[1..], &x[1..])).collect();
        let rss: f64 = r.iter().map(|v| v * v).sum();
        assert!((m.squared_residuals(&theta) - rss).abs() < 1e-12 * rss);
        assert!((m.loss(&theta) - rss / (2.0 * n as f64)).abs() < 1e-9 * rss / n as f64, "{} vs {}", m.loss(&theta), rss / (2.0 * n as f64));
        let grad = m.gradient(&theta);
        let hess = m.hessian();
        for j in 0..p {
            let g: f64 = -x.chunks_exact(p).zip(&r).map(|(x, r)| x[j] * r).sum::<f64>() / n as f64;
            assert!((grad[j] - g).abs() < 1e-9, "{j}: {} vs {g}", grad[j]);
            for k in 0..p {
                let h: f64 = x.chunks_exact(p).map(|x| x[j] * x[k]).sum::<f64>() / n as f64;
                assert!((hess[j * p + k] - h).abs() < 1e-13, "{j},{k}");
            }
        }
    }
}
