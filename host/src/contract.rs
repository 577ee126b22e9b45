//! The plugin contract as Rust types: bindings generated from `wit/plugin.wit`.
//!
//! Owns nothing but the generated code and the accepted contract version. Both
//! `data` (which builds tables) and `runtime` (which calls plugins) use these
//! types; neither may redefine them.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    additional_derives: [PartialEq],
});

pub use self::trainhost::plugin::host::LogLevel;
pub use self::trainhost::plugin::types::*;

/// The WIT package this host implements.
pub const PACKAGE: &str = "trainhost:plugin";
/// The contract version this host accepts.
pub const VERSION: &str = "0.1.0";
/// Code of a missing value in a categorical column.
pub const MISSING_CODE: u32 = u32::MAX;

impl Task {
    pub fn as_str(&self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
            Task::Clustering => "clustering",
        }
    }

    pub fn parse(text: &str) -> Option<Task> {
        match text.to_ascii_lowercase().as_str() {
            "classification" => Some(Task::Classification),
            "regression" => Some(Task::Regression),
            "clustering" => Some(Task::Clustering),
            _ => None,
        }
    }
}
