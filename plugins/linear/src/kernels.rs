//! The inner loops over one design row: dot product and axpy. Under WASM with
//! simd128 they are written with f64x2 lanes (two rows' worth of loads and
//! arithmetic per instruction); elsewhere the compiler vectorises the plain
//! loops. Both orders of summation are the same, so a fit gives the same
//! bits natively and as WASM.
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
    while i + 4 <= n {
        // SAFETY: i + 4 <= n, the length of both slices, so the four values read
        // from each are in bounds; v128_load accepts unaligned addresses.
        unsafe {
            let (pa, pb) = (a.as_ptr().add(i) as *const v128, b.as_ptr().add(i) as *const v128);
            s01 = f64x2_add(s01, f64x2_mul(v128_load(pa), v128_load(pb)));
            s23 = f64x2_add(s23, f64x2_mul(v128_load(pa.add(1)), v128_load(pb.add(1))));
        }
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
}
