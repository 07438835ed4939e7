//! A CDnet sequence served live through the camera simulator (H.264 over RTSP) and scored
//! against its ground truth must score within a few points of the same frames read from files:
//! encoding, RTP, decoding and video-range luma must not cost detection quality.
//!
//! Live frames carry no dataset frame number, so each one is matched to the source frame it
//! shows (smallest sum of absolute differences near the expected one). The matched number is
//! only used for scoring; the detector sees the frames in the order they arrived.

// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

use std::num::NonZeroU32;
use std::path::Path;
use std::time::{Duration, Instant};

use ndarray::{Array2, ArrayView2};
use sw_camsim::{CamsimOptions, Codec, MountOptions, Simulator, SourceOptions};
use sw_core::CameraId;
use sw_eval::{GroundTruth, Report, Scorer};
use sw_ingest::{FrameQueue, LiveCamera, LiveOptions, LiveSinks, RecordedOptions, RecordedSource};
use sw_motion::{Detector, DetectorOptions};
use sw_tests::shared_data;

/// Frames served: highway's warm-up (1..=469) and the first scored ones.
const LAST_FRAME: u64 = 800;
/// Served and analysed at this rate: every frame is analysed, none thinned.
const FPS: u32 = 40;
/// How far F-measure may move between files and the live path.
const F_TOLERANCE: f64 = 0.05;
/// Bounds how long a failing test waits; not a speed requirement.
const DEADLINE: Duration = Duration::from_secs(90);

/// `input/in000001.jpg ..= in{LAST_FRAME}.jpg` of `sequence`, linked into `dir`.
fn link_frames(sequence: &Path, dir: &Path) {
    for number in 1..=LAST_FRAME {
        let name = format!("in{number:06}.jpg");
        std::os::unix::fs::symlink(sequence.join("input").join(&name), dir.join(&name)).unwrap();
    }
}

/// Every frame of `dir` as read from files, and the score of the detector run over them.
fn from_files(dir: &Path, ground_truth: &GroundTruth) -> (Vec<(u64, Array2<u8>)>, Report) {
    let mut source = RecordedSource::open(&RecordedOptions {
        input: dir.to_path_buf(),
        camera: CameraId::new("files").unwrap(),
        width: NonZeroU32::new(320).unwrap(),
        height: None,
        sequence_fps: NonZeroU32::new(FPS).unwrap(),
    })
    .unwrap();
    let first = source.first_frame_number();
    let mut detector = Detector::new(320, 240, &DetectorOptions::default());
    let mut scorer = Scorer::default();
    let mut frames = Vec::new();
    while let Some(frame) = source.next_frame().unwrap() {
        let number = first + frame.seq;
        let motion = detector.process(frame.luma.view()).unwrap().motion;
        scorer
            .add(number, detector.foreground(), motion, ground_truth)
            .unwrap();
        frames.push((number, frame.luma));
    }
    assert_eq!(frames.len() as u64, LAST_FRAME);
    (frames, scorer.report())
}

fn sum_abs_diff(a: ArrayView2<u8>, b: ArrayView2<u8>) -> u64 {
    a.iter()
        .zip(b.iter())
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum()
}

/// Index into `frames` of the source frame `luma` shows: the whole sequence is searched for the
/// first live frame, then a window after the previous match.
fn match_frame(
    frames: &[(u64, Array2<u8>)],
    luma: ArrayView2<u8>,
    previous: Option<usize>,
) -> usize {
    let window = match previous {
        None => 0..frames.len(),
        Some(index) => index + 1..(index + 12).min(frames.len()),
    };
    window
        .min_by_key(|&index| sum_abs_diff(frames[index].1.view(), luma))
        .unwrap_or(frames.len())
}

/// The same frames served through camsim and received as a live camera, scored by the number
/// of the source frame each one shows. Returns the report and how many frames arrived.
fn live(dir: &Path, frames: &[(u64, Array2<u8>)], ground_truth: &GroundTruth) -> (Report, usize) {
    let simulator = Simulator::start(&CamsimOptions {
        mounts: vec![MountOptions {
            source: SourceOptions::ImageSequence {
                dir: dir.to_path_buf(),
                fps: FPS,
            },
            codec: Codec::H264,
            ..MountOptions::synthetic("/Streaming/Channels/101", 1)
        }],
        ..CamsimOptions::default()
    })
    .unwrap();
    let mut options = LiveOptions::new(
        CameraId::new("highway-live").unwrap(),
        simulator.url("/Streaming/Channels/101"),
        NonZeroU32::new(320).unwrap(),
        NonZeroU32::new(FPS).unwrap(),
    );
    options.connect_timeout = Duration::from_secs(20);
    // Deep enough that a slow test machine delays frames instead of dropping them.
    let (queue, received) = FrameQueue::bounded(256);
    let (health, _health) = crossbeam_channel::unbounded();
    let camera = LiveCamera::spawn(
        options,
        LiveSinks {
            frames: queue,
            health,
        },
    )
    .unwrap();

    let mut detector = Detector::new(320, 240, &DetectorOptions::default());
    let mut scorer = Scorer::default();
    let mut previous: Option<usize> = None;
    let mut arrived = 0;
    let deadline = Instant::now() + DEADLINE;
    loop {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let frame = received
            .recv_timeout(timeout)
            .unwrap_or_else(|_| panic!("frames stopped; status {:?}", camera.status()));
        assert_eq!(frame.luma.dim(), (240, 320));
        arrived += 1;
        let index = match_frame(frames, frame.luma.view(), previous);
        // The simulator loops: past the last frame, or back at the start, the run is over.
        if index >= frames.len() || previous.is_some_and(|p| index <= p) {
            break;
        }
        let motion = detector.process(frame.luma.view()).unwrap().motion;
        scorer
            .add(frames[index].0, detector.foreground(), motion, ground_truth)
            .unwrap();
        previous = Some(index);
        if index + 1 == frames.len() {
            break;
        }
    }
    (scorer.report(), arrived)
}

#[test]
fn cdnet_served_through_camsim_scores_like_the_files() {
    let Some(data) = shared_data("cdnet_served_through_camsim_scores_like_the_files") else {
        return;
    };
    let sequence = data.join("cdnet2014/highway");
    let ground_truth = GroundTruth::open(&sequence).unwrap();
    let dir = tempfile::tempdir().unwrap();
    link_frames(&sequence, dir.path());

    let (frames, files) = from_files(dir.path(), &ground_truth);
    let (live, arrived) = live(dir.path(), &frames, &ground_truth);
    let f_files = files.pixel.metrics.f_measure.unwrap();
    let f_live = live.pixel.metrics.f_measure.unwrap();
    println!(
        "highway 1..={LAST_FRAME}: files F {f_files:.4} over {} scored frames; live F {f_live:.4} \
         over {} scored frames ({arrived} frames arrived)",
        files.frames_scored, live.frames_scored
    );
    // Nearly every scored frame must have come through (a few may be lost at the start).
    assert!(
        live.frames_scored * 10 >= files.frames_scored * 9,
        "only {} of {} scored frames arrived live",
        live.frames_scored,
        files.frames_scored
    );
    assert!(
        (f_live - f_files).abs() <= F_TOLERANCE,
        "live F {f_live:.4} vs files F {f_files:.4}"
    );
}
