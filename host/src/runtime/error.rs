//! Errors of loading and running plugins, each naming what happened in words a
//! user or an admin can act on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read plugin file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The most common first-run case: the bundled plugins are built, not checked in.
    #[error("plugin file {path} does not exist; the bundled plugins are built by `scripts/build-plugins` (which `scripts/run` calls)")]
    Missing { path: PathBuf },
    #[error("{path} is not a WebAssembly component: {reason}")]
    NotAComponent { path: PathBuf, reason: String },
    #[error("sha256 of {path} is {actual}, but the config pins {expected}")]
    PinMismatch { path: PathBuf, expected: String, actual: String },
    /// `accepted`: every trainer export this host takes, e.g. `trainhost:plugin/trainer@0.1.0 or @0.2.0 or @0.3.0`.
    #[error("plugin exports {found}, but this host accepts only {accepted}")]
    WrongVersion { found: String, accepted: String },
    #[error("plugin does not export {accepted} (its exports: {exports})")]
    MissingExport { accepted: String, exports: String },
    /// `provides`: the host's own interfaces, each at every version it has.
    #[error("plugin imports {import}, which this host does not provide (it provides wasi:* and {provides})")]
    UnknownImport { import: String, provides: String },
    #[error("plugin failed to link: {0}")]
    Link(String),
    #[error("describe() failed: {0}")]
    Describe(String),
    #[error("invalid schema from describe(): {0}")]
    Schema(String),
    /// Contract 0.5.0's `suggest-space` trapped, ran out of time or named too much.
    #[error("suggest-space() failed: {0}")]
    Suggest(String),
}

/// Why a call into a plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("stopped: the time limit of {seconds} s was exceeded")]
    TimeLimit { seconds: f64 },
    #[error("stopped: the memory limit of {mib} MiB was exceeded")]
    MemoryLimit { mib: u64 },
    #[error("the model of {bytes} bytes exceeds the model size limit of {limit_mib} MiB")]
    ModelTooLarge { bytes: usize, limit_mib: u64 },
    #[error("cancelled")]
    Cancelled,
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter { name: String, reason: String },
    #[error("invalid data: {0}")]
    InvalidData(String),
    #[error("plugin failed: {0}")]
    Failed(String),
    #[error("plugin rejected the model: {0}")]
    InvalidModel(String),
    #[error("plugin crashed: {message}{backtrace}")]
    Trap { message: String, backtrace: String },
    /// The instances of one job made collective calls that do not match.
    #[error("the plugin's instances disagree: {0}")]
    Collective(String),
    #[error("plugin `{0}` is not loaded")]
    NotLoaded(String),
    #[error("internal error running the plugin: {0}")]
    Internal(String),
}
