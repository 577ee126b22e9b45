//! The plugin contract as Rust types: bindings generated from `wit/plugin.wit`
//! (trainhost:plugin@0.1.0, released and frozen) and `wit/v0.2/plugin.wit`
//! (0.2.0: the same types and host interface, plus result tables), and
//! `wit/v0.3/plugin.wit` (0.3.0: all of 0.2.0, plus a cost estimate at submit),
//! and `wit/v0.4/plugin.wit` (0.4.0: 0.3.0's trainer, plus training in several instances),
//! and `wit/v0.5/plugin.wit` (0.5.0: all of 0.4.0, plus a suggested search space).
//!
//! Owns nothing but the generated code and the accepted contract versions.
//! Both `data` (which builds tables) and `runtime` (which calls plugins) use
//! these types; neither may redefine them.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    additional_derives: [PartialEq],
});

/// Bindings of contract 0.2.0. Its 0.1.0 types and host interface are the
/// ones above (`with`), so a request, a prediction and the host's imports are
/// one Rust type whichever version a plugin was built against.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.2",
        world: "trainhost:plugin/plugin@0.2.0",
        additional_derives: [PartialEq],
        with: {
            "trainhost:plugin/types@0.1.0": super::trainhost::plugin::types,
            "trainhost:plugin/host@0.1.0": super::trainhost::plugin::host,
        },
    });
}

/// Bindings of contract 0.3.0: 0.2.0's result tables and 0.1.0's types and
/// host are the ones above, so only its trainer (with `estimate`) and the
/// estimate's records are new Rust types.
pub mod v0_3 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.3",
        world: "trainhost:plugin/plugin@0.3.0",
        additional_derives: [PartialEq],
        with: {
            "trainhost:plugin/types@0.1.0": super::trainhost::plugin::types,
            "trainhost:plugin/host@0.1.0": super::trainhost::plugin::host,
            "trainhost:plugin/tables@0.2.0": super::v0_2::trainhost::plugin0_2_0::tables,
        },
    });
}

/// Bindings of contract 0.4.0: the `collectives` import and the `parallel`
/// export, beside 0.3.0's trainer (whose bindings above the host uses to
/// train). Host functions may trap: a collective that waits past the job's
/// deadline or cancel stops the instance.
pub mod v0_4 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.4",
        world: "trainhost:plugin/plugin@0.4.0",
        imports: { default: trappable },
        with: {
            "trainhost:plugin/types@0.1.0": super::trainhost::plugin::types,
            "trainhost:plugin/host@0.1.0": super::trainhost::plugin::host,
            "trainhost:plugin/tables@0.2.0": super::v0_2::trainhost::plugin0_2_0::tables,
            "trainhost:plugin/estimates@0.3.0": super::v0_3::trainhost::plugin0_3_0::estimates,
        },
    });
}

/// Bindings of contract 0.5.0: only its `tuning` export is new; everything
/// else it names is 0.4.0's and older, bound above.
pub mod v0_5 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.5",
        world: "trainhost:plugin/plugin@0.5.0",
        imports: { default: trappable },
        with: {
            "trainhost:plugin/types@0.1.0": super::trainhost::plugin::types,
            "trainhost:plugin/host@0.1.0": super::trainhost::plugin::host,
            "trainhost:plugin/tables@0.2.0": super::v0_2::trainhost::plugin0_2_0::tables,
            "trainhost:plugin/estimates@0.3.0": super::v0_3::trainhost::plugin0_3_0::estimates,
            "trainhost:plugin/collectives@0.4.0": super::v0_4::trainhost::plugin0_4_0::collectives,
        },
    });
}

pub use self::trainhost::plugin::host::LogLevel;
pub use self::trainhost::plugin::types::*;
pub use v0_2::exports::trainhost::plugin0_2_0::trainer::Trained;
pub use v0_2::trainhost::plugin0_2_0::tables::{Cell, ResultTable};
pub use v0_3::trainhost::plugin0_3_0::estimates::{Cost, TableShape};

/// The WIT package this host implements.
pub const PACKAGE: &str = "trainhost:plugin";
/// The contract versions this host accepts, oldest first.
pub const VERSIONS: &[&str] = &["0.1.0", "0.2.0", "0.3.0"];
/// The version of the `collectives` and `parallel` interfaces (training one
/// job in several instances); its world exports 0.3.0's trainer beside them.
pub const PARALLEL_VERSION: &str = "0.4.0";
/// The version of the `tuning` interface (a plugin's suggested search space);
/// its world is 0.4.0's plus that export.
pub const TUNING_VERSION: &str = "0.5.0";
/// The version whose trained-model type the host uses throughout (0.1.0's
/// models are lifted into it; 0.3.0's is the same record).
pub const VERSION: &str = "0.2.0";
/// Code of a missing value in a categorical column.
pub const MISSING_CODE: u32 = u32::MAX;

/// The contract version a plugin was built against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V0_1,
    V0_2,
    V0_3,
}

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        match text {
            "0.1.0" => Some(Version::V0_1),
            "0.2.0" => Some(Version::V0_2),
            "0.3.0" => Some(Version::V0_3),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Version::V0_1 => "0.1.0",
            Version::V0_2 => "0.2.0",
            Version::V0_3 => "0.3.0",
        }
    }
}

/// "trainhost:plugin/trainer@0.1.0 or @0.2.0 or @0.3.0", for messages that say what the host accepts.
pub fn accepted_trainers() -> String {
    let versions: Vec<String> = VERSIONS.iter().map(|v| format!("@{v}")).collect();
    format!("{PACKAGE}/trainer{}", versions.join(" or "))
}

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
