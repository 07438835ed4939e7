//! Ground truth and change-detection metrics, computed the way CDnet 2014's comparator
//! (`Comparator.cpp` in changedetection.net's utilities) computes them.
//!
//! Owns: finding and reading ground truth (the CDnet 2014 layout and Wallflower's single
//! hand-segmented frame), bringing a detector's mask to ground-truth resolution, counting
//! TP/FP/FN/TN per pixel and per frame, the seven CDnet metrics, and writing masks as PNG for
//! CDnet's own tools. Does not own: decoding video (sw_ingest), detecting motion (sw_motion),
//! or timing and printing a bench run (the `stillwatch` binary). Also: a synthetic scene for
//! benchmarks (`synthetic_frames`).
//!
//! ```text
//! GroundTruth::discover(input) / GroundTruth::open(gt)
//!        │ labels(frame): 0 static, 50 shadow, 85 outside ROI, 170 unknown, 255 motion
//!        ▼
//! Scorer::add(frame, mask at analysis size, predicted_motion, &gt)
//!        │ mask resized nearest-neighbour to the GT size, pixels tallied, frame tallied
//!        ▼
//! Scorer::report() → Report { pixel, frame_level, .. } (serde → JSON, Display → terminal)
//! ```
//!
//! Frame numbers are the dataset's own file numbers: CDnet's `in%06d.jpg`/`gt%06d.png` count
//! from 1, Wallflower's `b%05d.bmp` from 0.

mod counts;
mod ground_truth;
mod mask_png;
mod resize;
mod scorer;
mod synthetic;

use std::path::PathBuf;

pub use counts::{ConfusionCounts, Metrics};
pub use ground_truth::{GroundTruth, GroundTruthKind};
pub use mask_png::write_mask_png;
pub use resize::resize_nearest;
pub use scorer::{Report, Scorer, Scores};
pub use synthetic::synthetic_frames;

/// Everything that can go wrong reading ground truth, scoring or writing masks. Each variant
/// names the file and, where there is one, the frame.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("reading {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no ground truth at {}: expected a CDnet sequence folder (with groundtruth/), a groundtruth/ folder of gt%06d.png files, or a Wallflower folder (with hand_segmented_NNNNN.BMP)", path.display())]
    NotFound { path: PathBuf },
    #[error("ground truth folder {} holds no gt%06d.png files", path.display())]
    NoGroundTruthFiles { path: PathBuf },
    #[error("ground truth for scored frame {frame_number} is missing: {} does not exist", path.display())]
    MissingGroundTruth { path: PathBuf, frame_number: u64 },
    #[error("decoding ground truth {} (frame {frame_number}): {source}", path.display())]
    GroundTruthImage {
        path: PathBuf,
        frame_number: u64,
        source: image::ImageError,
    },
    #[error("ground truth {} (frame {frame_number}) is {width}x{height}, but the sequence's ground truth is {expected_width}x{expected_height}", path.display())]
    GroundTruthSize {
        path: PathBuf,
        frame_number: u64,
        width: usize,
        height: usize,
        expected_width: usize,
        expected_height: usize,
    },
    #[error("{}: expected \"<first frame> <last frame>\" (1-based, first <= last), found {line:?}", path.display())]
    TemporalRoi { path: PathBuf, line: String },
    #[error("decoding ROI {}: {source}", path.display())]
    RoiImage {
        path: PathBuf,
        source: image::ImageError,
    },
    #[error("ROI {} is {roi_width}x{roi_height}, smaller than the {width}x{height} ground truth", path.display())]
    RoiTooSmall {
        path: PathBuf,
        roi_width: usize,
        roi_height: usize,
        width: usize,
        height: usize,
    },
    #[error("frame {frame_number}: the mask is {width}x{height}; it needs at least one pixel")]
    EmptyMask {
        frame_number: u64,
        width: usize,
        height: usize,
    },
    #[error(
        "frame {frame_number} was scored after frame {previous_frame_number}; frames must be added once each, in increasing order"
    )]
    FrameOrder {
        frame_number: u64,
        previous_frame_number: u64,
    },
    #[error("writing mask {}: {source}", path.display())]
    WriteMask {
        path: PathBuf,
        source: image::ImageError,
    },
}
