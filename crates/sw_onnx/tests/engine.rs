//! The engine with the real ONNX Runtime (from `.ort/`) and the committed graphs: start-up
//! checks (hashes, interface, providers), hand-built jobs with expected masks, one batch
//! holding cameras with different parameters, and bad input.
//!
//! Each test prints a reason and passes when ONNX Runtime is not installed, except under CI.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::fs;
use std::path::Path;
use std::thread;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sw_motion::{ClassifyJob, PixelBackend, PixelState, StepParams};
use sw_onnx::{OnnxEngine, OnnxError, OnnxOptions, Provider};

use common::{engine, runtime_available, workspace_root};

fn manifest() -> serde_json::Value {
    let text = fs::read_to_string(workspace_root().join("models/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_engine_reports_the_verified_models() {
    let Some(engine) = engine(&OnnxOptions::default()) else {
        return;
    };
    let manifest = manifest();
    let names: Vec<&str> = engine.models().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["classify", "update"]);
    for model in engine.models() {
        let pinned = manifest["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == model.name.as_str())
            .unwrap();
        assert_eq!(model.sha256, pinned["sha256"].as_str().unwrap());
        assert_eq!(
            model.sha256,
            hex::encode(Sha256::digest(fs::read(&model.path).unwrap()))
        );
    }
}

/// A copy of the committed models folder in a temporary folder.
fn copy_models() -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(workspace_root().join("models")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    copy
}

fn start_with_models(dir: &Path, provider: Provider) -> Result<OnnxEngine, OnnxError> {
    OnnxEngine::start(&OnnxOptions {
        models_dir: Some(dir.to_path_buf()),
        provider,
        ..OnnxOptions::default()
    })
}

#[test]
fn a_tampered_model_is_refused_with_both_hashes() {
    if !runtime_available() {
        return;
    }
    let copy = copy_models();
    let tampered = copy.path().join("update.onnx");
    let mut bytes = fs::read(&tampered).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&tampered, &bytes).unwrap();
    let pinned = manifest()["models"][1]["sha256"]
        .as_str()
        .unwrap()
        .to_string();

    let error = start_with_models(copy.path(), Provider::Cpu).unwrap_err();
    eprintln!("{error}");
    let OnnxError::ModelHash {
        path,
        expected,
        actual,
        ..
    } = &error
    else {
        panic!("not a hash error: {error}");
    };
    assert_eq!(path, &tampered);
    assert_eq!(expected, &pinned);
    assert_eq!(actual, &hex::encode(Sha256::digest(&bytes)));
    let message = error.to_string();
    for part in [tampered.display().to_string(), pinned, actual.clone()] {
        assert!(message.contains(&part), "{message} lacks {part}");
    }
}

#[test]
fn a_missing_model_is_refused_naming_it() {
    if !runtime_available() {
        return;
    }
    let copy = copy_models();
    fs::remove_file(copy.path().join("classify.onnx")).unwrap();
    let error = start_with_models(copy.path(), Provider::Cpu).unwrap_err();
    assert!(
        matches!(&error, OnnxError::Read { path, .. } if path == &copy.path().join("classify.onnx")),
        "{error}"
    );
}

#[test]
fn a_manifest_that_misnames_an_input_is_refused() {
    if !runtime_available() {
        return;
    }
    let copy = copy_models();
    let path = copy.path().join("manifest.json");
    let mut manifest = manifest();
    manifest["models"][0]["inputs"][0]["name"] = "frame".into();
    fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    let error = start_with_models(copy.path(), Provider::Cpu).unwrap_err();
    eprintln!("{error}");
    assert!(
        matches!(&error, OnnxError::ModelInterface { detail, .. } if detail.contains("frame")),
        "{error}"
    );
}

#[test]
fn an_accelerator_missing_from_the_runtime_is_an_error_not_a_cpu_fallback() {
    if !runtime_available() {
        return;
    }
    // The CPU wheel's runtime has none of them; a GPU runtime would pass the first.
    for (provider, hint) in [
        (Provider::Cuda { device_id: 0 }, "onnxruntime-gpu"),
        (Provider::TensorRt { device_id: 0 }, "TensorRT"),
        (Provider::OpenVino, "OpenVINO"),
    ] {
        match start_with_models(&workspace_root().join("models"), provider.clone()) {
            Ok(_) => eprintln!("{provider} is available in this ONNX Runtime"),
            Err(error) => {
                eprintln!("{error}");
                assert!(matches!(error, OnnxError::Provider { .. }), "{error}");
                assert!(error.to_string().contains(hint), "{error}");
            }
        }
    }
}

/// Parses a picture, row-major: `#` is 255, `.` is 0.
fn mask(rows: &[&str]) -> Vec<u8> {
    rows.iter()
        .flat_map(|r| r.bytes().map(|b| if b == b'#' { 255 } else { 0 }))
        .collect()
}

fn params(min_matches: i32) -> StepParams {
    StepParams {
        match_radius: 10,
        min_matches,
        cleanup_radius: 1,
        cleanup_min_votes: 2,
        absorb_after: 0,
        ghost_after: 0,
        flicker_increment: 0,
        flicker_decrement: 1,
        flicker_extra: 0,
        propagation: 1,
    }
}

/// A 4x3 frame and a two-sample model: background 100 everywhere, a bright pair of pixels
/// (200), a pixel whose second sample is far off (150), and one 8 steps off with its own
/// radius 8, saved by the frame's noise floor of 9.
fn scene() -> (Vec<u8>, PixelState) {
    #[rustfmt::skip]
    let luma = vec![
        100, 100, 100, 108,
        100, 200, 200, 100,
        100, 100, 100, 100,
    ];
    let (width, height, n) = (4, 3, 2);
    let mut samples = vec![100; width * height * n];
    // Sample 1 of pixel (0, 0): [y * n + k] * width + x.
    samples[width] = 150;
    let mut radius = vec![10; width * height];
    radius[3] = 8;
    let state = PixelState {
        width,
        height,
        samples_per_pixel: n,
        samples,
        radius,
        flicker: vec![0; 12],
        previous_raw: vec![0; 12],
        trust: vec![0; 12],
        reference: vec![100; 12],
        foreground_frames: vec![0; 12],
    };
    (luma, state)
}

fn classify(
    backend: &mut dyn PixelBackend,
    params: &StepParams,
) -> Result<(Vec<u8>, Vec<u8>), sw_motion::BackendError> {
    let (luma, state) = scene();
    let (mut raw, mut clean) = (vec![7; 12], vec![7; 12]);
    backend.classify(ClassifyJob {
        params,
        luma: &luma,
        state: &state,
        min_radius: 9,
        raw_mask: &mut raw,
        clean_mask: &mut clean,
    })?;
    Ok((raw, clean))
}

#[test]
fn cameras_with_different_parameters_share_a_batch() {
    // The worker waits up to a minute for a full batch, but no longer than until both
    // attached cameras have a job queued: the two jobs run as one batch.
    let Some(engine) = engine(&OnnxOptions {
        batch_size: 8,
        batch_wait: Duration::from_secs(60),
        ..OnnxOptions::default()
    }) else {
        return;
    };
    // (min_matches, raw mask, clean mask: 3x3 box, 2 votes)
    let cases = [
        (
            2,
            mask(&["#...", ".##.", "...."]),
            mask(&["###.", "###.", ".##."]),
        ),
        (
            1,
            mask(&["....", ".##.", "...."]),
            mask(&[".##.", ".##.", ".##."]),
        ),
    ];
    let backends: Vec<_> = cases.iter().map(|_| engine.backend()).collect();
    thread::scope(|scope| {
        for ((min_matches, raw, clean), mut backend) in cases.into_iter().zip(backends) {
            scope.spawn(move || {
                let (got_raw, got_clean) = classify(&mut backend, &params(min_matches)).unwrap();
                assert_eq!(got_raw, raw, "raw mask, min_matches {min_matches}");
                assert_eq!(got_clean, clean, "clean mask, min_matches {min_matches}");
            });
        }
    });
}

#[test]
fn a_malformed_job_is_refused_and_the_worker_goes_on() {
    let Some(engine) = engine(&OnnxOptions::default()) else {
        return;
    };
    let mut backend = engine.backend();
    let (luma, mut state) = scene();
    state.radius.pop();
    let (mut raw, mut clean) = (vec![0; 12], vec![0; 12]);
    let error = backend
        .classify(ClassifyJob {
            params: &params(2),
            luma: &luma[..11],
            state: &state,
            min_radius: 9,
            raw_mask: &mut raw,
            clean_mask: &mut clean,
        })
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("radius has 11 values, expected 12"),
        "{error}"
    );
    let (raw, _) = classify(&mut backend, &params(2)).unwrap();
    assert_eq!(raw, mask(&["#...", ".##.", "...."]));
}
