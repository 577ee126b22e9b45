//! One histogram bin: the gradient and hessian sums of its rows. Histograms
//! are accumulated in fixed point (`QBin`, two i64 counts of a power-of-two
//! unit), so a sum is exact whatever order its rows are added in: the same
//! tree grows from one instance's rows or from several instances' shards
//! added up (contract 0.4.0). The split scans read a feature's bins
//! converted back to f64 (`Bin`). Both pairs add with one SIMD instruction
//! where the target has 128-bit lanes (WASM simd128: the scalar pair costs
//! twice the loads, adds and stores there). Must not know what the sums are
//! used for.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use core::arch::wasm32::{f64x2, f64x2_extract_lane, v128};

    #[derive(Clone, Copy)]
    pub struct Bin(v128);

    impl Bin {
        #[inline(always)]
        pub fn new(g: f64, h: f64) -> Bin {
            Bin(f64x2(g, h))
        }
        #[inline(always)]
        pub fn g(self) -> f64 {
            f64x2_extract_lane::<0>(self.0)
        }
        #[inline(always)]
        pub fn h(self) -> f64 {
            f64x2_extract_lane::<1>(self.0)
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes {
    #[derive(Clone, Copy)]
    pub struct Bin([f64; 2]);

    impl Bin {
        #[inline(always)]
        pub fn new(g: f64, h: f64) -> Bin {
            Bin([g, h])
        }
        #[inline(always)]
        pub fn g(self) -> f64 {
            self.0[0]
        }
        #[inline(always)]
        pub fn h(self) -> f64 {
            self.0[1]
        }
    }
}

pub use lanes::Bin;
pub use qlanes::QBin;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod qlanes {
    use core::arch::wasm32::{i64x2, i64x2_add, i64x2_extract_lane, i64x2_sub, v128};

    #[derive(Clone, Copy)]
    pub struct QBin(v128);

    impl QBin {
        #[inline(always)]
        pub fn new(g: i64, h: i64) -> QBin {
            QBin(i64x2(g, h))
        }
        #[inline(always)]
        pub fn add(&mut self, o: QBin) {
            self.0 = i64x2_add(self.0, o.0);
        }
        #[inline(always)]
        pub fn sub(&mut self, o: QBin) {
            self.0 = i64x2_sub(self.0, o.0);
        }
        #[inline(always)]
        pub fn g(self) -> i64 {
            i64x2_extract_lane::<0>(self.0)
        }
        #[inline(always)]
        pub fn h(self) -> i64 {
            i64x2_extract_lane::<1>(self.0)
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod qlanes {
    #[derive(Clone, Copy)]
    pub struct QBin([i64; 2]);

    impl QBin {
        #[inline(always)]
        pub fn new(g: i64, h: i64) -> QBin {
            QBin([g, h])
        }
        // Wrapping: a sum's bound is chosen so it cannot overflow (see
        // `quantise`), and a parent minus a child is exact either way.
        #[inline(always)]
        pub fn add(&mut self, o: QBin) {
            self.0[0] = self.0[0].wrapping_add(o.0[0]);
            self.0[1] = self.0[1].wrapping_add(o.0[1]);
        }
        #[inline(always)]
        pub fn sub(&mut self, o: QBin) {
            self.0[0] = self.0[0].wrapping_sub(o.0[0]);
            self.0[1] = self.0[1].wrapping_sub(o.0[1]);
        }
        #[inline(always)]
        pub fn g(self) -> i64 {
            self.0[0]
        }
        #[inline(always)]
        pub fn h(self) -> i64 {
            self.0[1]
        }
    }
}

impl Default for QBin {
    fn default() -> QBin {
        QBin::new(0, 0)
    }
}

impl Default for Bin {
    fn default() -> Bin {
        Bin::new(0.0, 0.0)
    }
}

impl std::fmt::Debug for Bin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {})", self.g(), self.h())
    }
}
