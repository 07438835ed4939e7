//! `stillwatch bench`: recorded footage through the production pipeline (GStreamer ingest →
//! motion → events), timed per stage, scored against ground truth when there is some.
//!
//! Owns: the bench loop, its timing and its reports (terminal and JSON). Does not own: decoding
//! (sw_ingest), detection (sw_motion) or metrics (sw_eval).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sw_config::DetectorBackend;
use sw_core::{CameraId, MotionEvent};
use sw_eval::{GroundTruth, Report, Scorer};
use sw_ingest::{RecordedOptions, RecordedSource};
use sw_motion::{Detector, EventTracker};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// A video file (anything GStreamer's decodebin opens) or an image-sequence folder
    /// (a CDnet sequence folder with `input/`, or a folder of numbered images).
    pub input: PathBuf,
    /// Configuration file (TOML); the built-in defaults when absent.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Ground truth: a CDnet sequence or `groundtruth/` folder. By default it is looked for
    /// beside the input.
    #[arg(long)]
    pub ground_truth: Option<PathBuf>,
    /// Write the machine-readable results here (JSON).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the motion events here (JSON Lines).
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Write one binary mask per frame here, named `bin%06d.png` after the input's frame
    /// numbers, at ground-truth resolution when there is ground truth (what CDnet's own
    /// comparator expects), else at the analysis size.
    #[arg(long)]
    pub masks_out: Option<PathBuf>,
    /// Camera id written into events.
    #[arg(long, default_value = "bench")]
    pub camera: String,
    /// Run the detector's per-pixel step on this engine instead of the config's
    /// `detector.backend` (`onnx` uses the config's `[onnx]` settings).
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    /// Analyse each frame on this many threads, one strip each, instead of the config's
    /// `detector.strip_threads` (1..=64; the results are the same, only the speed changes).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=64))]
    pub strip_threads: Option<u8>,
}

/// `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Native,
    Onnx,
}

/// Everything `--json` writes.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub input: PathBuf,
    pub frames: u64,
    pub first_frame_number: u64,
    pub analysis_width: u32,
    pub analysis_height: u32,
    /// `native` or `onnx` (with the provider).
    pub backend: String,
    pub events: u64,
    pub timing: Timing,
    pub ground_truth: Option<Report>,
}

/// Seconds spent per stage on the bench thread, and the rates they give.
#[derive(Debug, Default, Serialize)]
pub struct Timing {
    pub wall_seconds: f64,
    /// Waiting for the next decoded, scaled GRAY8 frame (GStreamer works on its own threads).
    pub ingest_seconds: f64,
    /// Background model, clean-up, blobs and grid: the per-pixel work.
    pub motion_seconds: f64,
    /// The event state machine and writing events.
    pub events_seconds: f64,
    /// Scoring against ground truth (zero without it).
    pub scoring_seconds: f64,
    /// Writing masks (zero without `--masks-out`).
    pub masks_seconds: f64,
    /// Frames per second of the motion stage alone, on one core.
    pub analysis_fps: f64,
    /// Frames per second from first to last frame, everything included.
    pub end_to_end_fps: f64,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let report = bench(args, |_| {})?;
    print_report(&report);
    if let Some(path) = &args.json {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        serde_json::to_writer_pretty(BufWriter::new(file), &report)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Runs the pipeline over `args.input`, calling `on_event` with each event record as it is made.
pub fn bench(
    args: &BenchArgs,
    mut on_event: impl FnMut(&MotionEvent),
) -> anyhow::Result<BenchReport> {
    let mut config = crate::load_config(args.config.as_deref())?;
    if let Some(strip_threads) = args.strip_threads {
        config.detector.strip_threads = strip_threads;
    }
    let camera = CameraId::new(args.camera.clone()).context("--camera")?;
    let ground_truth = match &args.ground_truth {
        Some(path) => Some(GroundTruth::open(path)?),
        None => GroundTruth::discover(&args.input)?,
    };
    sw_ingest::init()?;
    let mut source = RecordedSource::open(&RecordedOptions {
        input: args.input.clone(),
        camera: camera.clone(),
        width: config.analysis.width,
        height: config.analysis.height,
        sequence_fps: config.analysis.sequence_fps,
    })?;
    let (width, height) = source.analysis_size();
    let backend = match args.backend {
        Some(Backend::Native) => DetectorBackend::Native,
        Some(Backend::Onnx) => DetectorBackend::Onnx,
        None => config.detector_backend,
    };
    let (mut detector, engine) = crate::engine::detector(&config, backend, width, height)?;
    let mut tracker = EventTracker::new(camera, &config.events);
    let mut scorer = ground_truth.as_ref().map(|_| Scorer::default());
    let mut events_out = args.events.as_deref().map(JsonLines::create).transpose()?;
    if let Some(dir) = &args.masks_out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }

    let progress = progress_bar(source.frame_count_hint());
    let mut timing = Timing::default();
    let mut stopwatch = Stopwatch::new();
    let (mut frames, mut events, mut last) = (0_u64, 0_u64, (0, 0));
    let started = Instant::now();
    while let Some(frame) = source.next_frame()? {
        timing.ingest_seconds += stopwatch.lap();
        let number = source.first_frame_number() + frame.seq;
        let analysis = detector
            .process(frame.luma.view())
            .with_context(|| format!("analysing frame {number}"))?;
        let motion = analysis.motion;
        timing.motion_seconds += stopwatch.lap();

        let event = tracker.update(
            frame.seq,
            frame.pts_nanos,
            analysis,
            width as usize,
            height as usize,
        );
        event.iter().for_each(&mut on_event);
        events += record_event(events_out.as_mut(), event)?;
        timing.events_seconds += stopwatch.lap();

        if let (Some(scorer), Some(truth)) = (scorer.as_mut(), ground_truth.as_ref()) {
            scorer
                .add(number, detector.foreground(), motion, truth)
                .with_context(|| format!("scoring frame {number}"))?;
        }
        timing.scoring_seconds += stopwatch.lap();

        if let Some(dir) = &args.masks_out {
            write_mask(dir, number, &detector, ground_truth.as_ref())?;
        }
        timing.masks_seconds += stopwatch.lap();
        frames += 1;
        last = (frame.seq, frame.pts_nanos);
        progress.inc(1);
    }
    let event = tracker.finish(last.0, last.1);
    event.iter().for_each(&mut on_event);
    events += record_event(events_out.as_mut(), event)?;
    if let Some(out) = events_out.as_mut() {
        out.flush()?;
    }
    progress.finish_and_clear();

    timing.wall_seconds = started.elapsed().as_secs_f64();
    timing.analysis_fps = rate(frames, timing.motion_seconds);
    timing.end_to_end_fps = rate(frames, timing.wall_seconds);
    Ok(BenchReport {
        input: args.input.clone(),
        frames,
        first_frame_number: source.first_frame_number(),
        analysis_width: width,
        analysis_height: height,
        backend: engine.description.clone(),
        events,
        timing,
        ground_truth: scorer.map(|scorer| scorer.report()),
    })
}

fn rate(frames: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        frames as f64 / seconds
    } else {
        0.0
    }
}

/// Measures the time between successive laps.
struct Stopwatch(Instant);

impl Stopwatch {
    fn new() -> Self {
        Self(Instant::now())
    }

    fn lap(&mut self) -> f64 {
        let now = Instant::now();
        let elapsed: Duration = now - self.0;
        self.0 = now;
        elapsed.as_secs_f64()
    }
}

/// An events file: one JSON object per line.
struct JsonLines {
    path: PathBuf,
    out: BufWriter<File>,
}

impl JsonLines {
    fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        })
    }

    fn write(&mut self, event: &MotionEvent) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.out, event)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"))
            .with_context(|| format!("writing {}", self.path.display()))
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        self.out
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// Counts `event` and writes it when there is an output; returns how many there were (0 or 1).
fn record_event(out: Option<&mut JsonLines>, event: Option<MotionEvent>) -> anyhow::Result<u64> {
    match (out, event) {
        (Some(out), Some(event)) => out.write(&event).map(|()| 1),
        (None, Some(_)) => Ok(1),
        (_, None) => Ok(0),
    }
}

fn write_mask(
    dir: &Path,
    number: u64,
    detector: &Detector,
    truth: Option<&GroundTruth>,
) -> anyhow::Result<()> {
    let path = dir.join(format!("bin{number:06}.png"));
    let mask = detector.foreground();
    match truth.map(GroundTruth::frame_size) {
        Some((gt_width, gt_height)) => sw_eval::write_mask_png(
            &path,
            sw_eval::resize_nearest(mask, gt_width, gt_height).view(),
        ),
        None => sw_eval::write_mask_png(&path, mask),
    }
    .with_context(|| format!("writing mask {}", path.display()))
}

fn progress_bar(frames_hint: Option<u64>) -> ProgressBar {
    let bar = ProgressBar::new(frames_hint.unwrap_or(0));
    let template = "{spinner} {pos}/{len} frames {per_sec} [{elapsed_precise}] {wide_bar} {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

pub fn print_report(report: &BenchReport) {
    let timing = &report.timing;
    println!("input       {}", report.input.display());
    println!(
        "frames      {} (first number {}), analysed at {}x{}",
        report.frames, report.first_frame_number, report.analysis_width, report.analysis_height
    );
    println!("events      {} records (start, update, end)", report.events);
    println!("backend     {}", report.backend);
    println!(
        "speed       analysis {:.0} frames/s (one core), end to end {:.1} frames/s",
        timing.analysis_fps, timing.end_to_end_fps
    );
    println!(
        "time (s)    total {:.2}: ingest {:.2}, motion {:.2}, events {:.3}, scoring {:.2}, masks {:.2}",
        timing.wall_seconds,
        timing.ingest_seconds,
        timing.motion_seconds,
        timing.events_seconds,
        timing.scoring_seconds,
        timing.masks_seconds
    );
    if let Some(truth) = &report.ground_truth {
        println!("{truth}");
    }
}
