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

/// A team of threads in one process, with the host's arithmetic (every
/// call in rank order): for plugins' native tests of their parallel code.
pub struct Threads {
    size: usize,
    rank: usize,
    shared: std::sync::Arc<(std::sync::Barrier, std::sync::Mutex<Vec<Contribution>>)>,
}

type Contribution = (Vec<f64>, Vec<i64>, Vec<u8>);

impl Threads {
    /// Runs `each` on `size` threads, one per rank; returns what each returned, in rank order.
    pub fn run<R: Send>(size: usize, each: impl Fn(&dyn Team) -> R + Sync) -> Vec<R> {
        let shared = std::sync::Arc::new((std::sync::Barrier::new(size), std::sync::Mutex::new(vec![Contribution::default(); size])));
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..size)
                .map(|rank| {
                    let (team, each) = (Threads { size, rank, shared: shared.clone() }, &each);
                    scope.spawn(move || each(&team))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
        })
    }

    /// Everyone's contribution to this call, in rank order.
    fn exchange(&self, floats: &[f64], integers: &[i64], bytes: &[u8]) -> Result<Vec<Contribution>, String> {
        let (barrier, slots) = &*self.shared;
        slots.lock().map_err(|_| "a rank panicked")?[self.rank] = (floats.to_vec(), integers.to_vec(), bytes.to_vec());
        barrier.wait();
        let all = slots.lock().map_err(|_| "a rank panicked")?.clone();
        barrier.wait();
        Ok(all)
    }
}

impl Team for Threads {
    fn size(&self) -> usize {
        self.size
    }

    fn rank(&self) -> usize {
        self.rank
    }

    fn sum(&self, floats: &[f64], integers: &[i64]) -> Result<(Vec<f64>, Vec<i64>), String> {
        let all = self.exchange(floats, integers, &[])?;
        let (mut f, mut i) = (floats.to_vec(), integers.to_vec());
        f.iter_mut().for_each(|v| *v = 0.0);
        i.iter_mut().for_each(|v| *v = 0);
        for (other_f, other_i, _) in &all {
            if other_f.len() != f.len() || other_i.len() != i.len() {
                return Err("the ranks passed lists of different lengths".into());
            }
            f.iter_mut().zip(other_f).for_each(|(a, b)| *a += b);
            for (a, b) in i.iter_mut().zip(other_i) {
                *a = a.checked_add(*b).ok_or("an integer sum overflows")?;
            }
        }
        Ok((f, i))
    }

    fn broadcast(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        Ok(self.exchange(&[], &[], bytes)?.swap_remove(0).2)
    }

    fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let all = self.exchange(&[], &[], bytes)?;
        Ok(if self.rank == 0 { all.into_iter().map(|(_, _, b)| b).collect() } else { Vec::new() })
    }
}
