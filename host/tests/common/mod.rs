//! The one test kit of the host's integration tests: where the workspace, the
//! test data and the built plugins are; temporary directories and free ports;
//! the real `trainhost` binary started with a config of its own (and, for
//! Redis, a key prefix of its own), its output kept; HTTP and WebSocket helpers.
//!
//! Every `host/tests/*.rs` file uses this kit (`mod common;`) instead of its
//! own copies. It must not assert anything a test is about: its checks are
//! only that the set-up itself worked.
#![allow(dead_code, unused_imports)]

mod http;
mod paths;
mod process;
mod setup;

pub use http::*;
pub use paths::*;
pub use process::*;
pub use setup::*;
