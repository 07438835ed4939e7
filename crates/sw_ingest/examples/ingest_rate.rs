//! Reads footage through `RecordedSource` as fast as possible and prints what it got:
//! `cargo run --release -p sw_ingest --example ingest_rate -- PATH [WIDTH [HEIGHT]]`.
//! For measuring the source's frame rate by hand; `stillwatch bench` is the real benchmark.

#![allow(clippy::print_stdout)]

use std::num::NonZeroU32;
use std::time::Instant;

use sw_core::CameraId;
use sw_ingest::{IngestError, RecordedOptions, RecordedSource};

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            println!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let input = args
        .next()
        .ok_or("usage: ingest_rate PATH [WIDTH [HEIGHT]]")?;
    let width = args.next().map_or(Ok(320), |w| w.parse())?;
    let height = args.next().map(|h| h.parse()).transpose()?;
    let options = RecordedOptions {
        input: input.into(),
        camera: CameraId::new("bench")?,
        width: NonZeroU32::new(width).ok_or("width must be > 0")?,
        height: height.and_then(NonZeroU32::new),
        sequence_fps: NonZeroU32::new(25).ok_or("fps")?,
    };
    let started = Instant::now();
    let mut source = RecordedSource::open(&options)?;
    let mut frames = 0u64;
    let outcome: Result<(), IngestError> = loop {
        match source.next_frame() {
            Ok(Some(_)) => frames += 1,
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{frames} frames from #{} (hint {:?}, decoder dropped {}) at {:?} in {seconds:.2} s = {:.1} frames/s",
        source.first_frame_number(),
        source.frame_count_hint(),
        source.decoder_dropped_frames(),
        source.analysis_size(),
        frames as f64 / seconds,
    );
    Ok(outcome?)
}
