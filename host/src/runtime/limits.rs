//! Per-plugin resource limits and the memory budget that enforces them.
//!
//! Owns the `ResourceLimiter` that enforces the numbers (`config::Limits`); the clock side (wall time) is
//! the store's `StopWhen` in `runtime::sandbox`, asked by the epoch ticker's
//! callback in `runtime::mod` and by the plugin's waits in `wasi:io/poll`.

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
}

#[derive(Debug, thiserror::Error)]
#[error("memory limit of {mib} MiB exceeded (a memory asked to grow to {wanted_mib} MiB)")]
pub struct MemoryLimitHit {
    pub mib: u64,
    pub wanted_mib: u64,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> Self {
        MemoryBudget { limit, used: 0, peak: 0, exceeded: false }
    }

    pub fn peak_bytes(&self) -> usize {
        self.peak
    }

    pub fn exceeded(&self) -> bool {
        self.exceeded
    }
}

impl ResourceLimiter for MemoryBudget {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let next = self.used.saturating_sub(current).saturating_add(desired);
        if next > self.limit {
            self.exceeded = true;
            return Err(wasmtime::Error::new(MemoryLimitHit { mib: (self.limit >> 20) as u64, wanted_mib: (next >> 20) as u64 }));
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
}
