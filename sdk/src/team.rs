//! The instances that train one job together (contract 0.4.0), as a trait
//! an algorithm can take without knowing where it runs: inside the host
//! (`host()`, with the SDK's `parallel` feature) or alone (natively, in
//! tests and benchmarks, or in a plugin built without the feature).
//!
//! Owns the guest side of `collectives`; no algorithm belongs here.

#[cfg(feature = "parallel")]
pub use crate::exports::trainhost::plugin0_4_0::parallel::{Guest as ParallelGuest, Parallelism, Rows};

/// Collective calls over the instances of one job. Every instance must make
/// the same calls in the same order; an `Err` means the job is failing
/// (another instance failed, or it was cancelled): return it as a failure.
pub trait Team {
    fn size(&self) -> usize;
    fn rank(&self) -> usize;
    /// Element-wise sums over all instances (floats added in rank order; integers exact).
    fn sum(&self, floats: &[f64], integers: &[i64]) -> Result<(Vec<f64>, Vec<i64>), String>;
    /// Rank 0's bytes, on every rank.
    fn broadcast(&self, bytes: &[u8]) -> Result<Vec<u8>, String>;
    /// Every rank's bytes in rank order on rank 0; empty on the others.
    fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, String>;
}

/// A job of one instance.
pub struct Alone;

impl Team for Alone {
    fn size(&self) -> usize {
        1
    }

    fn rank(&self) -> usize {
        0
    }

    fn sum(&self, floats: &[f64], integers: &[i64]) -> Result<(Vec<f64>, Vec<i64>), String> {
        Ok((floats.to_vec(), integers.to_vec()))
    }

    fn broadcast(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        Ok(bytes.to_vec())
    }

    fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        Ok(vec![bytes.to_vec()])
    }
}

/// The host's instances of this job, through the `collectives` import.
#[cfg(all(feature = "parallel", target_arch = "wasm32"))]
pub struct HostTeam;

#[cfg(all(feature = "parallel", target_arch = "wasm32"))]
impl Team for HostTeam {
    fn size(&self) -> usize {
        crate::trainhost::plugin0_4_0::collectives::size() as usize
    }

    fn rank(&self) -> usize {
        crate::trainhost::plugin0_4_0::collectives::rank() as usize
    }

    fn sum(&self, floats: &[f64], integers: &[i64]) -> Result<(Vec<f64>, Vec<i64>), String> {
        crate::trainhost::plugin0_4_0::collectives::sum(floats, integers)
    }

    fn broadcast(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        crate::trainhost::plugin0_4_0::collectives::broadcast(bytes)
    }

    fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        crate::trainhost::plugin0_4_0::collectives::gather(bytes)
    }
}

/// The team this plugin trains in: the host's instances inside a component
/// built with the `parallel` feature, else alone.
pub fn host() -> Box<dyn Team> {
    #[cfg(all(feature = "parallel", target_arch = "wasm32"))]
    return Box::new(HostTeam);
    #[cfg(not(all(feature = "parallel", target_arch = "wasm32")))]
    Box::new(Alone)
}
