//! RecordedSource on the shared third-party footage (see shared/data/README.md): frame counts
//! and numbering must match the datasets exactly. Skipped, with the reason printed, where the
//! footage is absent.

// Helpers outside the #[test] functions unwrap too (a failure there is a test failure), and
// a skipped test says why.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::num::NonZeroU32;
use std::path::PathBuf;

use sw_core::CameraId;
use sw_ingest::{RecordedOptions, RecordedSource};

/// `../shared/data` relative to the workspace root, or `None` (and a printed reason).
fn shared_data(relative: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipped: {} is absent", path.display());
        None
    }
}

/// (first frame number, frames read, analysis size); panics on any error.
fn read_all(input: PathBuf, width: u32) -> (u64, u64, (u32, u32)) {
    let mut source = RecordedSource::open(&RecordedOptions {
        input,
        camera: CameraId::new("footage").unwrap(),
        width: NonZeroU32::new(width).unwrap(),
        height: None,
        sequence_fps: NonZeroU32::new(25).unwrap(),
    })
    .unwrap();
    let mut frames = 0;
    while let Some(frame) = source.next_frame().unwrap() {
        assert_eq!(frame.seq, frames);
        frames += 1;
    }
    (source.first_frame_number(), frames, source.analysis_size())
}

#[test]
fn cdnet_highway_is_1700_frames_from_one() {
    let Some(input) = shared_data("cdnet2014/highway") else {
        return;
    };
    assert_eq!(read_all(input, 320), (1, 1700, (320, 240)));
}

#[test]
fn wallflower_waving_trees_is_287_bmps_from_zero() {
    let Some(input) = shared_data("wallflower/WavingTrees") else {
        return;
    };
    assert_eq!(read_all(input, 160), (0, 287, (160, 120)));
}

#[test]
fn bgslibrary_video02_decodes_748_of_its_declared_750_frames() {
    let Some(input) = shared_data("bgslibrary/video02.avi") else {
        return;
    };
    assert_eq!(read_all(input, 320), (0, 748, (320, 240)));
}
