//! A missing, old or broken ONNX Runtime library gives a readable error naming every path
//! looked at and how to install the right one. Its own test binary: ONNX Runtime is never
//! loaded in this process, so each case reaches the check it is about. Needs no runtime.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::fs;
use std::path::{Path, PathBuf};

use sw_onnx::{OnnxEngine, OnnxError, OnnxOptions};

fn start_with_library(path: &Path) -> OnnxError {
    let error = OnnxEngine::start(&OnnxOptions {
        runtime_library: Some(path.to_path_buf()),
        ..OnnxOptions::default()
    })
    .unwrap_err();
    eprintln!("{error}");
    error
}

fn assert_explains_install(error: &OnnxError) {
    let message = error.to_string();
    for words in [
        "cargo xtask install",
        "pip install --no-deps --target .ort onnxruntime==1.31.1",
    ] {
        assert!(message.contains(words), "{message} lacks {words:?}");
    }
}

#[test]
fn a_missing_library_names_the_path_and_the_install_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("libonnxruntime.so.1.31.1");
    let error = start_with_library(&path);
    assert!(
        matches!(&error, OnnxError::RuntimeNotFound { looked_at, searched_above: None } if looked_at == std::slice::from_ref(&path)),
        "{error}"
    );
    assert!(error.to_string().contains(&path.display().to_string()));
    assert_explains_install(&error);
}

#[test]
fn an_old_library_is_refused_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("libonnxruntime.so.1.20.0");
    fs::write(&path, b"not a library").unwrap();
    let error = start_with_library(&path);
    assert!(
        matches!(&error, OnnxError::RuntimeTooOld { path: p, version } if p == &path && version == "1.20.0"),
        "{error}"
    );
    assert!(error.to_string().contains("older than 1.31"), "{error}");
    assert_explains_install(&error);
}

#[test]
fn a_link_to_an_old_library_is_refused_by_its_target_name() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("libonnxruntime.so.1.16.3");
    fs::write(&target, b"not a library").unwrap();
    let link: PathBuf = dir.path().join("libonnxruntime.so");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let error = start_with_library(&link);
    assert!(
        matches!(&error, OnnxError::RuntimeTooOld { version, .. } if version == "1.16.3"),
        "{error}"
    );
}

#[test]
fn a_file_that_is_not_a_library_is_a_load_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("libonnxruntime.so.1.31.1");
    fs::write(&path, b"not a library").unwrap();
    let error = start_with_library(&path);
    assert!(
        matches!(&error, OnnxError::RuntimeLoad { path: p, .. } if p == &path),
        "{error}"
    );
    assert_explains_install(&error);
}
