//! Shared by the integration tests: the workspace's folders, and the engine, or a reason to
//! skip when ONNX Runtime is not installed here.

use std::env;
use std::path::PathBuf;

use sw_onnx::{OnnxEngine, OnnxOptions, locate_library};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether ONNX Runtime can be used here. Without it (and without `ORT_DYLIB_PATH`) a test
/// prints why and skips; under CI (`CI` set) or with `ORT_DYLIB_PATH` set, absence fails.
pub fn runtime_available() -> bool {
    match locate_library(None) {
        Ok(_) => true,
        Err(error) if env::var_os("CI").is_none() && env::var_os("ORT_DYLIB_PATH").is_none() => {
            eprintln!("skipped: {error}");
            false
        }
        Err(error) => panic!("ONNX Runtime is required here: {error}"),
    }
}

/// An engine with the workspace's models and `options`, or `None` (after saying why) when
/// ONNX Runtime is not installed.
pub fn engine(options: &OnnxOptions) -> Option<OnnxEngine> {
    if !runtime_available() {
        return None;
    }
    let options = OnnxOptions {
        models_dir: Some(workspace_root().join("models")),
        ..options.clone()
    };
    Some(OnnxEngine::start(&options).unwrap_or_else(|e| panic!("starting the engine: {e}")))
}
