//! Frames per second of the whole detector at 320x240, native against the ONNX graphs on
//! ONNX Runtime's CPU provider at batch sizes 1, 8 and 32. `CAMERAS` cameras run on their own
//! threads (so batches can fill); one iteration is one frame on every camera, so criterion's
//! "elem/s" is frames per second over all cameras.
//!
//! `cargo bench -p sw_onnx --bench detector` (needs ONNX Runtime in `.ort/`: `cargo xtask
//! install`; without it only the native figure is measured).

// A benchmark reports on the terminal.
#![allow(clippy::print_stderr)]

use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array2;
use sw_eval::synthetic_frames;
use sw_motion::{Detector, DetectorOptions};
use sw_onnx::{OnnxEngine, OnnxOptions};

const WIDTH: usize = 320;
const HEIGHT: usize = 240;
const CAMERAS: usize = 32;
/// Frames generated up front and cycled through while timing.
const FRAMES: usize = 50;

/// Runs `iters` frames on every detector, each on its own thread; returns the wall time.
fn run(detectors: &mut [Detector], frames: &[Array2<u8>], iters: u64) -> Duration {
    let start = Instant::now();
    thread::scope(|scope| {
        for (k, detector) in detectors.iter_mut().enumerate() {
            scope.spawn(move || {
                for i in 0..iters as usize {
                    let frame = &frames[(i + k) % frames.len()];
                    detector
                        .process(frame.view())
                        .expect("frame of the detector's size");
                }
            });
        }
    });
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let frames = synthetic_frames(WIDTH, HEIGHT, FRAMES, false);
    let options = DetectorOptions::default();
    let mut group = c.benchmark_group(format!("detector_320x240_{CAMERAS}_cameras"));
    group.throughput(Throughput::Elements(CAMERAS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));

    let mut native: Vec<Detector> = (0..CAMERAS)
        .map(|_| Detector::new(WIDTH, HEIGHT, &options))
        .collect();
    group.bench_function("native", |b| {
        b.iter_custom(|iters| run(&mut native, &frames, iters));
    });

    for batch_size in [1, 8, 32] {
        let engine = match OnnxEngine::start(&OnnxOptions {
            batch_size,
            ..OnnxOptions::default()
        }) {
            Ok(engine) => engine,
            Err(error) => {
                eprintln!("ONNX not measured: {error}");
                break;
            }
        };
        let mut onnx: Vec<Detector> = (0..CAMERAS)
            .map(|_| Detector::with_backend(WIDTH, HEIGHT, &options, Box::new(engine.backend())))
            .collect();
        group.bench_function(format!("onnx_cpu_batch_{batch_size}"), |b| {
            b.iter_custom(|iters| run(&mut onnx, &frames, iters));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
