//! trainhost: a training service whose algorithms are sandboxed WebAssembly
//! components.
//!
//! Modules, from the plugin outwards: `contract` (the WIT types), `runtime`
//! (wasmtime, limits, plugin registry), `data` (tables, encoding, split,
//! metrics), `training` (one run from table to model file), `config`, and
//! `cli` (the `trainhost` command).

pub mod cli;
pub mod config;
pub mod contract;
pub mod data;
pub mod runtime;
pub mod training;
