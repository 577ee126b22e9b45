//! The inner loops over design rows: dot product and axpy over one row, and
//! the Gram update of a block of rows. Under WASM with simd128 they are
//! written with f64x2 lanes (two values' loads and arithmetic per
//! instruction); elsewhere the compiler vectorises the plain loops. Both
//! orders of summation are the same, so a fit gives the same bits natively
//! and as WASM.
//!
//! Owns only arithmetic on slices; knows nothing of models.

/// Σ a_i b_i over the common length, in four interleaved partial sums.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    // Four accumulators: independent chains the compiler can vectorise.
    let mut s = [0.0; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            s[l] += x[l] * y[l];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    (s[0] + s[1]) + (s[2] + s[3]) + tail
}

/// out += a x over the common length.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub fn axpy(out: &mut [f64], a: f64, x: &[f64]) {
    out.iter_mut().zip(x).for_each(|(o, v)| *o += a * v);
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    use core::arch::wasm32::{f64x2_add, f64x2_extract_lane, f64x2_mul, f64x2_splat, v128, v128_load};
    let n = a.len().min(b.len());
    let (mut s01, mut s23) = (f64x2_splat(0.0), f64x2_splat(0.0));
    let mut i = 0;
    // SAFETY (both loops): i + 4 <= n, the length of both slices, before each
    // step, so the four values read from each are in bounds; v128_load accepts
    // unaligned addresses.
    let step = |i: usize, s01: &mut v128, s23: &mut v128| unsafe {
        let (pa, pb) = (a.as_ptr().add(i) as *const v128, b.as_ptr().add(i) as *const v128);
        *s01 = f64x2_add(*s01, f64x2_mul(v128_load(pa), v128_load(pb)));
        *s23 = f64x2_add(*s23, f64x2_mul(v128_load(pa.add(1)), v128_load(pb.add(1))));
    };
    // Two steps per turn of the loop (the same order of sums): wasmtime's
    // interruption check on each back edge spills the sums around it.
    while i + 8 <= n {
        step(i, &mut s01, &mut s23);
        step(i + 4, &mut s01, &mut s23);
        i += 8;
    }
    if i + 4 <= n {
        step(i, &mut s01, &mut s23);
        i += 4;
    }
    let tail: f64 = a[i..n].iter().zip(&b[i..n]).map(|(x, y)| x * y).sum();
    let lanes = |v| (f64x2_extract_lane::<0>(v), f64x2_extract_lane::<1>(v));
    let ((s0, s1), (s2, s3)) = (lanes(s01), lanes(s23));
    (s0 + s1) + (s2 + s3) + tail
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub fn axpy(out: &mut [f64], a: f64, x: &[f64]) {
    use core::arch::wasm32::{f64x2_add, f64x2_mul, f64x2_splat, v128, v128_load, v128_store};
    let n = out.len().min(x.len());
    let av = f64x2_splat(a);
    let mut i = 0;
    while i + 2 <= n {
        // SAFETY: i + 2 <= n, the length of both slices: both pairs are in bounds.
        unsafe {
            let (po, px) = (out.as_mut_ptr().add(i) as *mut v128, x.as_ptr().add(i) as *const v128);
            v128_store(po, f64x2_add(v128_load(po), f64x2_mul(av, v128_load(px))));
        }
        i += 2;
    }
    if i < n {
        out[i] += a * x[i];
    }
}

/// Side of the square tiles of the Gram update: a 4 × 4 tile is eight f64x2
/// accumulators, which stay in registers with the loads beside them.
pub const TILE: usize = 4;

/// Adds Σ_r x_r x_rᵀ over the rows of `block` (row-major, `q` wide, `q` a
/// multiple of `TILE`) to `g` (q × q, row-major): every tile on or above the
/// diagonal, so the upper triangle is complete (diagonal tiles also write a
/// few entries below it, which callers ignore). Each tile's sums run over the
/// block's rows in a local accumulator before they are added to `g`: `g` is
/// loaded and stored once per block, and the sums are two-level (more
/// accurate than one running total over every row).
pub fn gram_update(g: &mut [f64], block: &[f64], q: usize) {
    debug_assert!(q.is_multiple_of(TILE) && block.len().is_multiple_of(q) && g.len() == q * q);
    for j in (0..q).step_by(TILE) {
        for k in (j..q).step_by(TILE) {
            let acc = gram_tile(block, q, j, k);
            for (a, sums) in acc.iter().enumerate() {
                g[(j + a) * q + k..(j + a) * q + k + TILE].iter_mut().zip(sums).for_each(|(v, s)| *v += s);
            }
        }
    }
}

/// Σ_r x_r[j + a] x_r[k + b] over the rows of `block`, for a, b < 4.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn gram_tile(block: &[f64], q: usize, j: usize, k: usize) -> [[f64; TILE]; TILE] {
    let mut acc = [[0.0; TILE]; TILE];
    for row in block.chunks_exact(q) {
        let (xj, xk) = (&row[j..j + TILE], &row[k..k + TILE]);
        for (sums, &s) in acc.iter_mut().zip(xj) {
            for (v, &x) in sums.iter_mut().zip(xk) {
                *v += s * x;
            }
        }
    }
    acc
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn gram_tile(block: &[f64], q: usize, j: usize, k: usize) -> [[f64; TILE]; TILE] {
    use core::arch::wasm32::{f64x2_add, f64x2_extract_lane, f64x2_mul, f64x2_splat, v128, v128_load};
    // Eight accumulators (row a of the tile, columns 0-1 and 2-3).
    let mut acc = [f64x2_splat(0.0); 8];
    let step = |acc: &mut [v128; 8], row: &[f64]| {
        let (xj, xk) = (&row[j..j + TILE], &row[k..k + TILE]);
        // SAFETY: xk holds four values, so both pairs read are in bounds;
        // v128_load accepts unaligned addresses.
        let (lo, hi) = unsafe { (v128_load(xk.as_ptr() as *const v128), v128_load(xk.as_ptr().add(2) as *const v128)) };
        for (a, &x) in xj.iter().enumerate() {
            let s = f64x2_splat(x);
            acc[2 * a] = f64x2_add(acc[2 * a], f64x2_mul(s, lo));
            acc[2 * a + 1] = f64x2_add(acc[2 * a + 1], f64x2_mul(s, hi));
        }
    };
    // Four rows per turn of the loop: wasmtime checks for interruption on
    // every loop back edge, and the accumulators it spills around that check
    // then cost a store and a load per four rows instead of per row (eight
    // rows per turn compile to an inner loop again).
    let mut quads = block.chunks_exact(4 * q);
    for quad in &mut quads {
        let rows: [&[f64]; 4] = [&quad[..q], &quad[q..2 * q], &quad[2 * q..3 * q], &quad[3 * q..]];
        rows.iter().for_each(|row| step(&mut acc, row));
    }
    quads.remainder().chunks_exact(q).for_each(|row| step(&mut acc, row));
    let row = |l, h| [f64x2_extract_lane::<0>(l), f64x2_extract_lane::<1>(l), f64x2_extract_lane::<0>(h), f64x2_extract_lane::<1>(h)];
    [row(acc[0], acc[1]), row(acc[2], acc[3]), row(acc[4], acc[5]), row(acc[6], acc[7])]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_axpy_over_every_length() {
        for n in 0..12 {
            let a: Vec<f64> = (0..n).map(|i| 0.5 + i as f64).collect();
            let b: Vec<f64> = (0..n).map(|i| 1.0 - 0.25 * i as f64).collect();
            let plain: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() < 1e-12, "{n}");
            let mut out = b.clone();
            axpy(&mut out, 2.0, &a);
            assert!(out.iter().zip(a.iter().zip(&b)).all(|(o, (x, y))| *o == y + 2.0 * x), "{n}");
        }
    }

    #[test]
    fn the_gram_update_adds_the_upper_triangle_of_the_blocks_cross_products() {
        let (q, rows) = (8, 5);
        let block: Vec<f64> = (0..q * rows).map(|i| ((i * 7 % 13) as f64 - 6.0) / 3.0).collect();
        let mut g = vec![1.0; q * q];
        gram_update(&mut g, &block, q);
        for j in 0..q {
            for k in j..q {
                let plain: f64 = block.chunks_exact(q).map(|x| x[j] * x[k]).sum();
                assert!((g[j * q + k] - 1.0 - plain).abs() < 1e-12, "{j},{k}");
            }
        }
    }
}
