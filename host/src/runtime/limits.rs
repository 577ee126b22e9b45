//! Per-plugin resource limits and the memory budget that enforces them.
//!
//! Owns the `ResourceLimiter` that enforces the numbers (`config::Limits`); the clock side (wall time) is
//! the store's `StopWhen` in `runtime::sandbox`, asked by the epoch ticker's
//! callback in `runtime::mod` and by the plugin's waits in `wasi:io/poll`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use wasmtime::ResourceLimiter;

pub use crate::config::Limits;

/// Counts every linear memory of a store against one budget, so a component
/// made of several core modules cannot multiply its allowance. Growth past the
/// budget traps at once (rather than making `memory.grow` return -1, which
/// most guest allocators turn into an opaque abort).
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: usize,
    peak: usize,
    exceeded: bool,
    /// The job's memory when it runs as several instances: `limit` then
    /// bounds all their stores together.
    pool: Option<Arc<MemoryPool>>,
}

/// The bytes all the stores of one job use together, and their peak.
#[derive(Debug, Default)]
pub struct MemoryPool {
    used: AtomicUsize,
    peak: AtomicUsize,
}

#[derive(Debug, thiserror::Error)]
#[error("memory limit of {mib} MiB exceeded (a memory asked to grow to {wanted_mib} MiB)")]
pub struct MemoryLimitHit {
    pub mib: u64,
    pub wanted_mib: u64,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> Self {
        MemoryBudget { limit, used: 0, peak: 0, exceeded: false, pool: None }
    }

    /// A budget for one of several stores that share `limit` through `pool`.
    pub fn pooled(limit: usize, pool: Arc<MemoryPool>) -> Self {
        MemoryBudget { pool: Some(pool), ..Self::new(limit) }
    }

    /// This store's peak, or the job's when it is pooled.
    pub fn peak_bytes(&self) -> usize {
        self.pool.as_ref().map_or(self.peak, |pool| pool.peak.load(Ordering::SeqCst))
    }

    /// Reserves this store's growth from `used` to `next` in the pool.
    fn reserve_pooled(pool: &MemoryPool, used: usize, next: usize, limit: usize) -> Result<(), usize> {
        if next <= used {
            pool.used.fetch_sub(used - next, Ordering::SeqCst);
            return Ok(());
        }
        let grow = next - used;
        let total = pool.used.fetch_add(grow, Ordering::SeqCst) + grow;
        if total > limit {
            pool.used.fetch_sub(grow, Ordering::SeqCst);
            return Err(total);
        }
        pool.peak.fetch_max(total, Ordering::SeqCst);
        Ok(())
    }

    pub fn exceeded(&self) -> bool {
        self.exceeded
    }
}

impl ResourceLimiter for MemoryBudget {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let next = self.used.saturating_sub(current).saturating_add(desired);
        let over = match &self.pool {
            Some(pool) => Self::reserve_pooled(pool, self.used, next, self.limit).err(),
            None => (next > self.limit).then_some(next),
        };
        if let Some(wanted) = over {
            self.exceeded = true;
            return Err(wasmtime::Error::new(MemoryLimitHit { mib: (self.limit >> 20) as u64, wanted_mib: (wanted >> 20) as u64 }));
        }
        self.used = next;
        self.peak = self.peak.max(next);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables hold function references; a million is far beyond any real plugin.
        Ok(desired <= 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_counts_all_memories_together() {
        let mut budget = MemoryBudget::new(10 << 20);
        assert!(budget.memory_growing(0, 6 << 20, None).unwrap());
        // A second memory: 6 + 3 fits.
        assert!(budget.memory_growing(0, 3 << 20, None).unwrap());
        // The first grows from 6 to 8: total 11 > 10.
        let err = budget.memory_growing(6 << 20, 8 << 20, None).unwrap_err();
        assert!(err.to_string().contains("memory limit of 10 MiB"), "{err}");
        assert!(budget.exceeded());
        assert_eq!(budget.peak_bytes(), 9 << 20);
    }

    #[test]
    fn pooled_budgets_share_one_limit() {
        let pool = Arc::new(MemoryPool::default());
        let mut a = MemoryBudget::pooled(10 << 20, pool.clone());
        let mut b = MemoryBudget::pooled(10 << 20, pool.clone());
        assert!(a.memory_growing(0, 6 << 20, None).unwrap());
        assert!(b.memory_growing(0, 4 << 20, None).unwrap());
        assert!(b.memory_growing(4 << 20, 5 << 20, None).is_err());
        assert!(b.exceeded() && !a.exceeded());
        assert_eq!(a.peak_bytes(), 10 << 20);
    }
}
