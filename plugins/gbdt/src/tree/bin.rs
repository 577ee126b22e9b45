//! One histogram bin: the gradient and hessian sums of its rows, as a pair
//! added with one SIMD instruction where the target has 128-bit lanes (WASM
//! simd128: the scalar pair costs twice the loads, adds and stores there).
//! Must not know what the sums are used for.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use core::arch::wasm32::{f64x2, f64x2_add, f64x2_extract_lane, f64x2_sub, v128};

    #[derive(Clone, Copy)]
    pub struct Bin(v128);

    impl Bin {
        #[inline(always)]
        pub fn new(g: f64, h: f64) -> Bin {
            Bin(f64x2(g, h))
        }
        #[inline(always)]
        pub fn add(&mut self, o: Bin) {
            self.0 = f64x2_add(self.0, o.0);
        }
        #[inline(always)]
        pub fn sub(&mut self, o: Bin) {
            self.0 = f64x2_sub(self.0, o.0);
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
        pub fn add(&mut self, o: Bin) {
            self.0[0] += o.0[0];
            self.0[1] += o.0[1];
        }
        #[inline(always)]
        pub fn sub(&mut self, o: Bin) {
            self.0[0] -= o.0[0];
            self.0[1] -= o.0[1];
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
