//! Speed of the per-frame pipeline (shake search, brightness fit, background model, clean-up,
//! holes, blobs, grid, events) at 320x240 on `sw_eval`'s synthetic scene, generated in memory:
//! no I/O.
//! The hot loops are timed by switching stages off: the difference between `detector` and
//! `no_shake_search` is the registration, and so on.
//!
//! `cargo bench -p sw_motion --bench detector`; criterion reports frames per second as
//! "elem/s". `detector_2_strip_threads` is `detector` on two threads (`strip_threads`).
//! `detector_16_cameras` is `detector` with 16 cameras' detectors taking a frame in turn, as
//! a service's cores do: each model has left the core's cache by its next frame, which is what
//! the live service pays (`docs/design/motion.md`, "Cost in the live service").

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sw_core::CameraId;
use sw_eval::synthetic_frames;
use sw_motion::{Detector, DetectorOptions, EventOptions, EventTracker};

const WIDTH: usize = 320;
const HEIGHT: usize = 240;
/// Frames generated up front and cycled through while timing.
const FRAMES: usize = 200;
/// Detectors of `detector_16_cameras`.
const CAMERAS: usize = 16;

fn bench_detector(c: &mut Criterion) {
    let frames = synthetic_frames(WIDTH, HEIGHT, FRAMES, false);
    let shaking = synthetic_frames(WIDTH, HEIGHT, FRAMES, true);
    let mut group = c.benchmark_group("motion_320x240");
    group.throughput(Throughput::Elements(1));

    let default = DetectorOptions::default();
    let variants = [
        ("detector", default, &frames),
        ("detector_shaking_camera", default, &shaking),
        // The same frames on two strip threads (`strip_threads`): compare with `detector`.
        (
            "detector_2_strip_threads",
            DetectorOptions {
                strip_threads: 2,
                ..default
            },
            &frames,
        ),
        (
            "no_shake_search",
            DetectorOptions {
                max_shift_pixels: 0,
                ..default
            },
            &frames,
        ),
        (
            "no_brightness_compensation",
            DetectorOptions {
                brightness_compensation: false,
                ..default
            },
            &frames,
        ),
        (
            "model_only",
            DetectorOptions {
                max_shift_pixels: 0,
                brightness_compensation: false,
                ghost_after_frames: 0,
                cleanup_radius_pixels: 0,
                max_hole_area_pixels: 0,
                ..default
            },
            &frames,
        ),
    ];
    for (name, options, frames) in variants {
        let mut detector = Detector::new(WIDTH, HEIGHT, &options);
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                let analysis = detector.process(frames[i % FRAMES].view()).ok();
                i += 1;
                black_box(analysis.map(|a| a.score));
            })
        });
    }

    // Each camera at another point of the scene, so that their models differ.
    let mut cameras: Vec<(Detector, usize)> = (0..CAMERAS)
        .map(|k| (Detector::new(WIDTH, HEIGHT, &default), k * FRAMES / CAMERAS))
        .collect();
    let mut turn = 0;
    group.bench_function("detector_16_cameras", |b| {
        b.iter(|| {
            let (detector, next) = &mut cameras[turn % CAMERAS];
            let analysis = detector.process(frames[*next % FRAMES].view()).ok();
            *next += 1;
            turn += 1;
            black_box(analysis.map(|a| a.score));
        })
    });

    let mut detector = Detector::new(WIDTH, HEIGHT, &DetectorOptions::default());
    let camera = CameraId::new("bench").expect("valid camera id");
    let mut tracker = EventTracker::new(camera, &EventOptions::default());
    let mut seq = 0u64;
    group.bench_function("detector_and_events", |b| {
        b.iter(|| {
            let frame = &frames[seq as usize % FRAMES];
            if let Ok(analysis) = detector.process(frame.view()) {
                black_box(tracker.update(seq, seq * 40_000_000, analysis, WIDTH, HEIGHT));
            }
            seq += 1;
        })
    });
    group.finish();
}

criterion_group!(benches, bench_detector);
criterion_main!(benches);
