//! trainhost: a training service whose algorithms are sandboxed WebAssembly
//! components.
//!
//! Modules, from the plugin outwards: `contract` (the WIT types), `runtime`
//! (wasmtime, limits, plugin registry), `data` (tables, encoding, split,
//! metrics), `training` (one run from table to model file), `config`, and
//! `cli` (the `trainhost` command). The service: `jobs` (records, states,
//! events), `queue` (the broker: Redis or embedded), `storage` (datasets and
//! models), `worker` (runs claimed jobs), `sweeps` (searches over many jobs), `api` (HTTP and WebSocket),
//! `telemetry` (Prometheus counters), and `service` (starting and stopping it all).

pub mod accounts;
pub mod api;
pub mod cli;
pub mod config;
pub mod contract;
pub mod data;
pub mod files;
pub mod ids;
pub mod jobs;
pub mod queue;
pub mod runtime;
pub mod service;
pub mod storage;
pub mod sweeps;
pub mod telemetry;
pub mod training;
pub mod worker;

// The service allocates and frees many small buffers per request and per job
// from several threads; glibc's allocator spent ~17% of the server's CPU on
// them in the load benchmark (`examples/loadbench.rs`).
// Not under the fuzzer: its sanitizer and memory limits see only the system allocator.
#[cfg(not(fuzzing))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
