//! The committed graphs are exactly what `models/generate.py` makes with the pinned packages
//! of `models/requirements.txt` (installed into `.ort/` by `cargo xtask install`): regenerated,
//! they are byte-identical, so the graphs that run are the reviewed source.
//!
//! Prints a reason and passes when the pinned `onnx` is not installed, except under CI.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::env;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_committed_graphs_equal_a_regeneration() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let packages = root.join(".ort");
    if !packages.join("onnx").is_dir() && env::var_os("CI").is_none() {
        eprintln!(
            "skipped: the pinned onnx package is not in {} (cargo xtask install)",
            packages.display()
        );
        return;
    }
    let output = Command::new("python3")
        .args(["models/generate.py", "--check"])
        .env("PYTHONPATH", &packages)
        .current_dir(&root)
        .output()
        .expect("python3 runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{said}");
    assert!(
        output.status.success(),
        "generate.py --check: {}\n{said}",
        output.status
    );
}
