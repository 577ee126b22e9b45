//! Paths the tests read (workspace, test data, built plugins, the build's target
//! dir) and the temporary directories and ports they write and listen on.

use std::path::{Path, PathBuf};

/// The repository root (the folder above `host/`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ has a parent folder").to_path_buf()
}

pub fn testdata(name: &str) -> PathBuf {
    workspace().join("testdata").join(name)
}

/// `build/plugins/`, where `scripts/build-plugins` puts every plugin.
pub fn plugins_dir() -> PathBuf {
    workspace().join("build/plugins")
}

/// `build/plugins/NAME.wasm`, which must exist.
pub fn plugin_file(name: &str) -> PathBuf {
    let path = plugins_dir().join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run scripts/build-plugins first", path.display());
    path
}

/// The binary under test: the dev build of `trainhost` this test run made.
pub fn trainhost_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_trainhost"))
}

/// The cargo target directory of this test run (the binary is `<target>/debug/trainhost`),
/// so that a script a test starts builds into, and finds, the same build.
pub fn target_dir() -> PathBuf {
    let binary = trainhost_binary();
    binary.parent().and_then(Path::parent).unwrap_or_else(|| panic!("{} is not <target>/debug/trainhost", binary.display())).to_path_buf()
}

/// A fresh directory, deleted when the value is dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("creating a temporary directory")
}

/// A port that was free a moment ago (for a command line that needs a number,
/// where `127.0.0.1:0` cannot be used).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("a bound socket has an address").port()
}
