//! The ONNX path against the native detector on real footage: CDnet 2014 highway, office and
//! traffic from `../shared/data` (decoded with the `image` crate at their own size, the size
//! `sw_motion`'s CDnet test analyses). Every frame's foreground mask and analysis, and the
//! event stream, must be identical; and cameras batched together must get the masks they get
//! one at a time.
//!
//! Each test prints a reason and passes when the footage or ONNX Runtime is absent (ONNX
//! Runtime's absence fails under CI). Run with `--nocapture` to see how much was compared.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::thread;

use ndarray::Array2;
use sw_core::{CameraId, MotionEvent};
use sw_motion::{Detector, DetectorOptions, EventOptions, EventTracker, FrameAnalysis};
use sw_onnx::{OnnxEngine, OnnxOptions};

use common::{engine, runtime_available};

/// Frames compared per sequence: enough for the model to settle, see motion, ghosts and
/// flicker, within the suite's time budget (the ONNX path is far slower than the native one
/// on a CPU).
const FRAMES: usize = 300;

/// Each sequence and the file number it starts at. Office starts as its worker walks in, so
/// that the model starts with a person in it (a ghost to remove) and sees motion.
const SEQUENCES: [(&str, usize); 3] = [("highway", 1), ("office", 551), ("traffic", 1)];

/// A sequence's `FRAMES` frames as luma, decoded once per test binary.
fn frames(name: &str) -> Option<&'static [Array2<u8>]> {
    static DECODED: OnceLock<Option<Vec<Vec<Array2<u8>>>>> = OnceLock::new();
    let decoded = DECODED.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cdnet2014");
        if !dir.is_dir() {
            eprintln!("skipped: no CDnet footage at {}", dir.display());
            return None;
        }
        let decode = |name: &str, first: usize| -> Vec<Array2<u8>> {
            (first..first + FRAMES)
                .map(|number| {
                    let path = dir.join(format!("{name}/input/in{number:06}.jpg"));
                    let luma = image::open(&path)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                        .into_luma8();
                    let (w, h) = (luma.width() as usize, luma.height() as usize);
                    Array2::from_shape_vec((h, w), luma.into_raw()).expect("w * h pixels")
                })
                .collect()
        };
        Some(thread::scope(|scope| {
            let handles: Vec<_> = SEQUENCES
                .iter()
                .map(|&(name, first)| scope.spawn(move || decode(name, first)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        }))
    });
    let k = SEQUENCES.iter().position(|&(s, _)| s == name)?;
    decoded.as_ref().map(|all| all[k].as_slice())
}

/// What one detector made of a camera's frames.
#[derive(Debug, Default, PartialEq)]
struct Run {
    masks: Vec<Array2<u8>>,
    analyses: Vec<FrameAnalysis>,
    events: Vec<MotionEvent>,
}

/// Runs `frames` through `detector` and an event tracker at 25 fps.
fn run(camera: &str, mut detector: Detector, frames: &[Array2<u8>]) -> Run {
    let (h, w) = frames[0].dim();
    let mut tracker = EventTracker::new(CameraId::new(camera).unwrap(), &EventOptions::default());
    let mut out = Run::default();
    for (seq, frame) in frames.iter().enumerate() {
        let analysis = detector
            .process(frame.view())
            .unwrap_or_else(|e| panic!("{camera} frame {seq}: {e:?}"));
        let pts_nanos = seq as u64 * 40_000_000;
        out.events
            .extend(tracker.update(seq as u64, pts_nanos, analysis, w, h));
        out.analyses.push(analysis.clone());
        out.masks.push(detector.foreground().to_owned());
    }
    let last = frames.len() as u64 - 1;
    out.events.extend(tracker.finish(last, last * 40_000_000));
    out
}

fn onnx_detector(engine: &OnnxEngine, frames: &[Array2<u8>]) -> Detector {
    let (h, w) = frames[0].dim();
    Detector::with_backend(
        w,
        h,
        &DetectorOptions::default(),
        Box::new(engine.backend()),
    )
}

/// Asserts two runs equal frame by frame, naming the first frame that differs.
fn assert_same(camera: &str, expected: &Run, actual: &Run) {
    assert_eq!(
        expected.masks.len(),
        actual.masks.len(),
        "{camera}: frame count"
    );
    for (k, (e, a)) in expected.masks.iter().zip(&actual.masks).enumerate() {
        if e != a {
            let differing = e.iter().zip(a).filter(|(x, y)| x != y).count();
            panic!("{camera}: frame {k}: {differing} mask pixels differ");
        }
    }
    for (k, (e, a)) in expected.analyses.iter().zip(&actual.analyses).enumerate() {
        assert_eq!(e, a, "{camera}: frame {k}: analysis");
    }
    assert_eq!(expected.events, actual.events, "{camera}: events");
}

#[test]
fn onnx_masks_analyses_and_events_equal_the_native_detector() {
    if frames("highway").is_none() {
        return;
    }
    // The three cameras run at once through one engine with two workers (cameras are dealt
    // to them in turn), so highway and traffic (both 320x240) may share batches and office
    // (360x240) has its own.
    let Some(engine) = engine(&OnnxOptions {
        workers: 2,
        ..OnnxOptions::default()
    }) else {
        return;
    };
    let compared: Vec<(usize, usize, usize)> = thread::scope(|scope| {
        let engine = &engine;
        let handles: Vec<_> = SEQUENCES
            .iter()
            .map(|&(name, _)| {
                scope.spawn(move || {
                    let frames = frames(name).unwrap();
                    let (h, w) = frames[0].dim();
                    let native = run(name, Detector::new(w, h, &DetectorOptions::default()), frames);
                    let onnx = run(name, onnx_detector(engine, frames), frames);
                    assert_same(name, &native, &onnx);
                    let moving = native.analyses.iter().filter(|a| a.motion).count();
                    eprintln!(
                        "{name}: {} frames of {w}x{h} identical ({} pixels), {moving} with motion, {} event records identical",
                        frames.len(),
                        frames.len() * w * h,
                        native.events.len()
                    );
                    (frames.len(), frames.len() * w * h, native.events.len())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let frames: usize = compared.iter().map(|c| c.0).sum();
    let pixels: usize = compared.iter().map(|c| c.1).sum();
    let events: usize = compared.iter().map(|c| c.2).sum();
    eprintln!("in all: {frames} frames, {pixels} mask pixels, {events} event records identical");
    assert!(
        events > 0,
        "the footage holds motion: events must have been compared"
    );
}

/// Four 320x240 cameras (two stretches each of highway and traffic, 75 frames), each on its
/// own thread, through one engine (one worker) with `batch_size`.
fn four_cameras(batch_size: usize) -> Option<Vec<Vec<Array2<u8>>>> {
    let engine = engine(&OnnxOptions {
        batch_size,
        ..OnnxOptions::default()
    })?;
    let highway = frames("highway")?;
    let traffic = frames("traffic")?;
    let cameras = [
        &highway[..75],
        &highway[150..225],
        &traffic[..75],
        &traffic[150..225],
    ];
    Some(thread::scope(|scope| {
        let engine = &engine;
        let handles: Vec<_> = cameras
            .iter()
            .enumerate()
            .map(|(k, frames)| {
                scope.spawn(move || {
                    run(
                        &format!("camera-{k}"),
                        onnx_detector(engine, frames),
                        frames,
                    )
                    .masks
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }))
}

#[test]
fn batched_cameras_get_the_masks_they_get_one_at_a_time() {
    if !runtime_available() {
        return;
    }
    let (Some(batched), Some(single)) = (four_cameras(8), four_cameras(1)) else {
        return;
    };
    for (k, (b, s)) in batched.iter().zip(&single).enumerate() {
        assert_eq!(b.len(), s.len());
        for (frame, (b, s)) in b.iter().zip(s).enumerate() {
            assert!(b == s, "camera {k}, frame {frame}: batched mask differs");
        }
    }
    let frames: usize = batched.iter().map(Vec::len).sum();
    eprintln!("{frames} frames of 4 cameras identical batched (8) and one at a time");
}
