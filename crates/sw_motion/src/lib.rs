//! Stillwatch's motion detector: pure compute from GRAY8 luma frames to motion events.
//!
//! Owns: camera-shake compensation (registration against the model), brightness
//! compensation, the background model (ViBe-style sample consensus on a canvas, with flicker
//! feedback, ghost removal and absorption of stopped objects), noise clean-up, hole filling,
//! telling shading (soft shadows, reflections) from objects, connected-component blobs, the
//! coarse motion grid, and the event state machine.
//! Does not own: any I/O (no decoding, no files, no GStreamer), configuration parsing (the
//! config crate maps its keys onto [`DetectorOptions`] and [`EventOptions`]), or zones.
//!
//! Per camera: one [`Detector`] turns each frame into a [`FrameAnalysis`], and one
//! [`EventTracker`] turns the analyses into [`sw_core::MotionEvent`] records. Both are
//! deterministic (the same frames give byte-identical masks and events, on any number of
//! `strip_threads`) and allocate only when built and when an event record is emitted, never
//! per frame (with strip threads, the pool's job queue takes a block every 63 frames).
//!
//! See `docs/design/motion.md` for the algorithm, its parameters and measured accuracy.

mod background;
mod blobs;
mod cleanup;
mod detector;
mod events;
mod grid;
mod registration;
mod rng;
mod shading;
mod step;
mod strips;
mod tone;

/// Helpers shared by the unit tests of several stages.
#[cfg(test)]
mod test_pictures {
    /// Parses a picture, row-major: `#` is foreground (255), `.` background.
    pub(crate) fn mask(rows: &[&str]) -> Vec<u8> {
        rows.iter()
            .flat_map(|r| r.bytes().map(|b| if b == b'#' { 255 } else { 0 }))
            .collect()
    }
}

pub use blobs::Blob;
pub use detector::{Detector, DetectorOptions, FrameAnalysis};
pub use events::{EventOptions, EventTracker};
pub use step::{
    BackendError, ClassifyJob, PixelBackend, PixelState, StepParams, UpdateDraws, UpdateJob,
};

/// What can go wrong in motion detection.
#[derive(Debug, thiserror::Error)]
pub enum MotionError {
    #[error(
        "frame is {width}x{height} pixels but the detector was built for {expected_width}x{expected_height}"
    )]
    FrameSize {
        expected_width: usize,
        expected_height: usize,
        width: usize,
        height: usize,
    },
    /// The engine running the per-pixel step failed (see [`PixelBackend`]).
    #[error("the detector's backend failed")]
    Backend(#[source] BackendError),
}
