//! The detector's per-pixel step as a replaceable backend: the contract between
//! [`crate::Detector`] and an engine that classifies and updates every pixel of a frame
//! elsewhere (the ONNX graphs in `models/`, run by `sw_onnx`).
//!
//! Owns: the frame-coordinate view of one camera's model ([`PixelState`]), the random draws
//! of one frame's update ([`UpdateDraws`]), the per-camera parameters in the form the
//! graphs take ([`StepParams`]), the two jobs and the [`PixelBackend`] trait.
//! Does not own: the native implementation (it works on the canvas directly: see
//! `background`), shake search, brightness fit, blobs, or running any graph.
//!
//! The exact semantics every backend must reproduce are in `docs/design/onnx.md`.

use std::error::Error;
use std::fmt;

use crate::DetectorOptions;

/// One camera's background model under the current frame (the canvas window at the frame's
/// shift), in frame coordinates, row-major. A backend reads it in [`ClassifyJob`] and
/// replaces it in [`UpdateJob`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PixelState {
    /// Frame width in pixels.
    pub width: usize,
    /// Frame height in pixels.
    pub height: usize,
    /// Samples per pixel (`N`).
    pub samples_per_pixel: usize,
    /// Shape `[height][samples_per_pixel][width]`: sample `k` of pixel `(x, y)` is at
    /// `(y * samples_per_pixel + k) * width + x`.
    pub samples: Vec<u8>,
    /// Each pixel's own match radius, in luma steps.
    pub radius: Vec<u8>,
    /// Each pixel's flicker level, 0..=255.
    pub flicker: Vec<u8>,
    /// Each pixel's raw label on the previous frame (0 or 255).
    pub previous_raw: Vec<u8>,
    /// Frames each pixel has been raw background since its samples were last taken from
    /// whatever was there (saturating at 255).
    pub trust: Vec<u8>,
    /// The reference (Σ-Δ) background luma.
    pub reference: Vec<u8>,
    /// Frames in a row each pixel has been raw foreground (saturating).
    pub foreground_frames: Vec<u16>,
}

impl PixelState {
    /// A zeroed state for `width x height` frames with `samples_per_pixel` samples.
    pub(crate) fn new(width: usize, height: usize, samples_per_pixel: usize) -> Self {
        let area = width * height;
        Self {
            width,
            height,
            samples_per_pixel,
            samples: vec![0; area * samples_per_pixel],
            radius: vec![0; area],
            flicker: vec![0; area],
            previous_raw: vec![0; area],
            trust: vec![0; area],
            reference: vec![0; area],
            foreground_frames: vec![0; area],
        }
    }
}

/// The random choices of one frame's model update, per pixel (frame coordinates, row-major),
/// drawn by the detector from its seeded generator so that every backend makes the same ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateDraws {
    /// -1 where the update does not visit the pixel; otherwise which of its samples its luma
    /// may replace.
    pub own_slot: Vec<i32>,
    /// For a visited pixel: the neighbour (direction 0..=7, see `docs/design/onnx.md`) its
    /// luma spreads to.
    pub spread_dir: Vec<i32>,
    /// For a visited pixel: which sample of that neighbour it may replace.
    pub spread_slot: Vec<i32>,
    /// -1 where the frame is raw background; otherwise the neighbour (0..=7) ghost removal
    /// compares the pixel with.
    pub ghost_dir: Vec<i32>,
    /// For a raw-foreground pixel: which of its samples ghost removal may replace.
    pub ghost_slot: Vec<i32>,
}

impl UpdateDraws {
    pub(crate) fn new(area: usize) -> Self {
        Self {
            own_slot: vec![-1; area],
            spread_dir: vec![0; area],
            spread_slot: vec![0; area],
            ghost_dir: vec![-1; area],
            ghost_slot: vec![0; area],
        }
    }
}

/// One camera's parameters of the per-pixel step, as the graphs take them (from its
/// [`DetectorOptions`], clamped into their ranges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepParams {
    /// `match_radius_luma`.
    pub match_radius: i32,
    /// `min_matches`.
    pub min_matches: i32,
    /// `cleanup_radius_pixels`.
    pub cleanup_radius: i64,
    /// `cleanup_min_votes`.
    pub cleanup_min_votes: i32,
    /// `absorb_after_frames`.
    pub absorb_after: i32,
    /// `ghost_after_frames`.
    pub ghost_after: i32,
    /// `flicker_increment`.
    pub flicker_increment: i32,
    /// `flicker_decrement`.
    pub flicker_decrement: i32,
    /// `flicker_max_extra_radius_luma`.
    pub flicker_extra: i32,
    /// `propagation_enabled` as 0 or 1.
    pub propagation: i32,
}

impl StepParams {
    pub(crate) fn new(options: &DetectorOptions) -> Self {
        let o = options.clamped();
        Self {
            match_radius: o.match_radius_luma.into(),
            min_matches: o.min_matches.into(),
            cleanup_radius: o.cleanup_radius_pixels.into(),
            cleanup_min_votes: o.cleanup_min_votes.into(),
            absorb_after: o.absorb_after_frames.into(),
            ghost_after: o.ghost_after_frames.into(),
            flicker_increment: o.flicker_increment.into(),
            flicker_decrement: o.flicker_decrement.into(),
            flicker_extra: o.flicker_max_extra_radius_luma.into(),
            propagation: o.propagation_enabled.into(),
        }
    }
}

/// Classify one frame: write the raw and cleaned masks (255 foreground, 0 background).
#[derive(Debug)]
pub struct ClassifyJob<'a> {
    pub params: &'a StepParams,
    /// The frame, `width * height` bytes.
    pub luma: &'a [u8],
    pub state: &'a PixelState,
    /// The frame's noise allowance: every pixel's radius is at least this.
    pub min_radius: u8,
    pub raw_mask: &'a mut [u8],
    pub clean_mask: &'a mut [u8],
}

/// Update one camera's model after the frame was classified and its final mask settled.
#[derive(Debug)]
pub struct UpdateJob<'a> {
    pub params: &'a StepParams,
    pub luma: &'a [u8],
    pub raw_mask: &'a [u8],
    /// The cleaned mask after hole filling and small-blob removal.
    pub final_mask: &'a [u8],
    pub draws: &'a UpdateDraws,
    /// Read, then replaced by the updated model.
    pub state: &'a mut PixelState,
}

/// Why a backend could not run a step (the detector reports it as
/// [`crate::MotionError::Backend`]).
pub type BackendError = Box<dyn Error + Send + Sync>;

/// An engine for the per-pixel step. Implementations must give exactly the native
/// detector's results (`docs/design/onnx.md`); a backend may batch jobs from several
/// cameras behind this per-camera interface.
pub trait PixelBackend: Send + fmt::Debug {
    /// Runs `classify.onnx`'s step on one frame.
    fn classify(&mut self, job: ClassifyJob<'_>) -> Result<(), BackendError>;
    /// Runs `update.onnx`'s step on one frame.
    fn update(&mut self, job: UpdateJob<'_>) -> Result<(), BackendError>;
}
