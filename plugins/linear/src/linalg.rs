//! Dense symmetric linear algebra on small matrices (parameters × parameters):
//! a Cholesky factorisation that sets aside aliased coordinates instead of
//! failing, and the solves and inverse built on it.
//!
//! Matrices are row-major `m × m` slices; only the upper triangle of the input
//! is read. Nothing here knows about data rows.

/// A pivot below this share of its diagonal means the coordinate is a linear
/// combination of the earlier ones (an aliased design column).
const ALIAS_TOL: f64 = 1e-10;

/// L with A = L Lᵀ over the active coordinates; inactive rows and columns are zero.
pub struct Cholesky {
    m: usize,
    l: Vec<f64>,
    pub active: Vec<bool>,
}

impl Cholesky {
    /// Factorises `a`, leaving out coordinates already inactive and any that
    /// turn out aliased (their pivot vanishes); `active` says which remain.
    pub fn new(a: &[f64], m: usize, active: &[bool]) -> Cholesky {
        let mut l = vec![0.0; m * m];
        let mut active = active.to_vec();
        for j in 0..m {
            if !active[j] {
                continue;
            }
            let mut d = a[j * m + j];
            for k in 0..j {
                d -= l[j * m + k] * l[j * m + k];
            }
            let floor = ALIAS_TOL * a[j * m + j].abs().max(f64::MIN_POSITIVE);
            if d.is_nan() || d <= floor {
                active[j] = false;
                continue;
            }
            let d = d.sqrt();
            l[j * m + j] = d;
            for i in j + 1..m {
                if !active[i] {
                    continue;
                }
                let mut s = a[j * m + i];
                for k in 0..j {
                    s -= l[i * m + k] * l[j * m + k];
                }
                l[i * m + j] = s / d;
            }
        }
        Cholesky { m, l, active }
    }

    /// x with A x = b on the active coordinates; inactive ones are 0.
    pub fn solve(&self, b: &[f64]) -> Vec<f64> {
        let m = self.m;
        let mut x = vec![0.0; m];
        for i in 0..m {
            if self.active[i] {
                let s: f64 = (0..i).map(|k| self.l[i * m + k] * x[k]).sum();
                x[i] = (b[i] - s) / self.l[i * m + i];
            }
        }
        for i in (0..m).rev() {
            if self.active[i] {
                let s: f64 = (i + 1..m).map(|k| self.l[k * m + i] * x[k]).sum();
                x[i] = (x[i] - s) / self.l[i * m + i];
            }
        }
        x
    }

    /// A⁻¹ on the active coordinates; rows and columns of inactive ones are NaN.
    pub fn inverse(&self) -> Vec<f64> {
        let m = self.m;
        let mut inv = vec![f64::NAN; m * m];
        let mut e = vec![0.0; m];
        for j in (0..m).filter(|&j| self.active[j]) {
            e.iter_mut().for_each(|v| *v = 0.0);
            e[j] = 1.0;
            let col = self.solve(&e);
            for i in (0..m).filter(|&i| self.active[i]) {
                inv[i * m + j] = col[i];
            }
        }
        inv
    }
}

/// Copies the upper triangle of a row-major matrix into its lower one.
pub fn symmetrize(a: &mut [f64], m: usize) {
    for i in 0..m {
        for j in 0..i {
            a[i * m + j] = a[j * m + i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_and_inverts_a_positive_definite_matrix() {
        let a = [4.0, 2.0, 0.6, 2.0, 3.0, 0.4, 0.6, 0.4, 2.0];
        let ch = Cholesky::new(&a, 3, &[true; 3]);
        let x = ch.solve(&[1.0, 2.0, 3.0]);
        for i in 0..3 {
            let ax: f64 = (0..3).map(|k| a[i * 3 + k] * x[k]).sum();
            assert!((ax - [1.0, 2.0, 3.0][i]).abs() < 1e-12);
        }
        let inv = ch.inverse();
        let id: f64 = (0..3).map(|k| a[k] * inv[k * 3]).sum();
        assert!((id - 1.0).abs() < 1e-12);
    }

    #[test]
    fn an_aliased_coordinate_is_set_aside() {
        // Column 2 = column 0 + column 1 in the design, so its Gram row is their sum.
        let a = [2.0, 1.0, 3.0, 1.0, 2.0, 3.0, 3.0, 3.0, 6.0];
        let ch = Cholesky::new(&a, 3, &[true; 3]);
        assert_eq!(ch.active, vec![true, true, false]);
        assert!(ch.inverse()[8].is_nan());
    }
}
