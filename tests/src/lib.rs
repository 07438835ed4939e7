//! Helpers for the end-to-end suite in `tests/tests/`: the real `stillwatch` binary, the shared
//! footage, and tools to make fixtures.
//!
//! Owns: finding (building, if needed) the binary and the footage. Does not own: any assertion;
//! those live in the test files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared/data` beside the workspace, or `None` after printing why a test skips (to the
/// test's output, where `cargo test` shows it).
#[allow(clippy::print_stdout)]
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let dir = workspace_root().join("../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipping {test}: no shared footage at {}", dir.display());
        None
    }
}

/// A command running the `stillwatch` binary, built in this test's profile on first use.
pub fn stillwatch() -> Command {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    let path = BINARY.get_or_init(|| {
        escargot::CargoBuild::new()
            .manifest_path(workspace_root().join("Cargo.toml"))
            // With the whole workspace selected, features unify as in `cargo test --workspace`,
            // so the binary reuses the test build's artifacts instead of rebuilding a second
            // feature set of the dependencies.
            .arg("--workspace")
            .bin("stillwatch")
            .current_release()
            .current_target()
            .run()
            .unwrap_or_else(|error| panic!("building stillwatch: {error}"))
            .path()
            .to_path_buf()
    });
    let mut command = Command::new(path);
    command.env("RUST_LOG", "warn");
    command
}

/// Runs `command` and returns its output, failing the test with its stderr if it fails.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("starting {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `command`, expecting it to fail cleanly (non-zero exit, no panic); returns its stderr.
pub fn run_fails(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("starting {command:?}: {error}"));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{command:?} should have failed");
    assert!(
        !stderr.contains("panicked"),
        "{command:?} panicked:\n{stderr}"
    );
    stderr
}

/// Runs a `gst-launch-1.0` pipeline (from `gstreamer1.0-tools`) to make a fixture.
pub fn gst_launch(pipeline: &str) {
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .status()
        .unwrap_or_else(|error| panic!("starting gst-launch-1.0: {error}"));
    assert!(
        status.success(),
        "gst-launch-1.0 {pipeline} failed: {status}"
    );
}
