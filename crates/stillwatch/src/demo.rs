//! `stillwatch demo`: Stillwatch working on nothing but this machine. Renders a synthetic scene
//! (textured background, moving shapes, sensor noise) to an H.264 clip with GStreamer, then runs
//! the bench pipeline over it and prints each motion event as it is made.
//!
//! Owns: choosing the demo scene and printing events for a person. Does not own: the scene
//! (sw_camsim) or the pipeline (`bench`).

use std::path::PathBuf;

use anyhow::Context as _;
use sw_camsim::{ClipOptions, Codec, Resolution, SyntheticOptions};
use sw_core::{EventPhase, MotionEvent};

use crate::bench::{self, BenchArgs};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Length of the synthetic footage, in seconds.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Keep the generated clip and the events here instead of a temporary folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Configuration file (TOML); the built-in defaults when absent.
    #[arg(long)]
    config: Option<PathBuf>,
}

const FPS: u32 = 10;

pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let temporary = tempfile::tempdir().context("creating a temporary folder")?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| temporary.path().to_path_buf());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let clip = dir.join("synthetic.mp4");
    println!(
        "rendering {} s of a synthetic camera scene (640x360, {FPS} fps, H.264) to {}",
        args.seconds,
        clip.display()
    );
    sw_camsim::write_synthetic_clip(&ClipOptions {
        path: clip.clone(),
        scene: SyntheticOptions {
            seed: 7,
            fps: FPS,
            shapes: 2,
            noise_amplitude_luma: 3,
            lighting_change: None,
        },
        resolution: Resolution::new(640, 360),
        codec: Codec::H264,
        frames: args.seconds * u64::from(FPS),
    })?;

    println!("analysing it as camera \"demo\"; events as they happen:");
    let bench_args = BenchArgs {
        input: clip,
        config: args.config.clone(),
        ground_truth: None,
        json: None,
        events: Some(dir.join("events.jsonl")),
        masks_out: None,
        camera: "demo".to_string(),
    };
    let report = bench::bench(&bench_args, print_event)?;
    println!();
    bench::print_report(&report);
    if args.out.is_some() {
        println!("events written to {}", dir.join("events.jsonl").display());
    }
    Ok(())
}

fn print_event(event: &MotionEvent) {
    let seconds = |millis: u64| millis as f64 / 1000.0;
    let phase = match event.phase {
        EventPhase::Start => "start ",
        EventPhase::Update => "update",
        EventPhase::End => "end   ",
    };
    let place = event
        .boxes
        .first()
        .map(|b| {
            format!(
                ", largest box x {:.2}..{:.2} y {:.2}..{:.2}",
                b.x0, b.x1, b.y0, b.y1
            )
        })
        .unwrap_or_default();
    println!(
        "  {:>7.1} s  event {} {phase}  score {:.3} (peak {:.3}), {} region(s){place}",
        seconds(event.time_millis),
        event.event_id,
        event.score,
        event.peak_score,
        event.boxes.len(),
    );
}
