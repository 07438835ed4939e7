//! The per-frame detector: shake search, brightness fit, background model, clean-up, hole
//! filling, blobs and grid, then the model's update, in that order.
//!
//! Owns: [`DetectorOptions`], the reusable buffers, and the [`FrameAnalysis`] it hands out
//! for every frame.
//! Does not own: the decision that an event starts or ends (see `events`), or any I/O.
//!
//! Every buffer is allocated in [`Detector::new`]; [`Detector::process`] only reuses them.

use ndarray::ArrayView2;
use sw_core::MotionGrid;

use crate::MotionError;
use crate::background::{SampleModel, Towards};
use crate::blobs::{Blob, BlobLabeler};
use crate::cleanup::MajorityFilter;
use crate::grid::GridCounter;
use crate::registration::Stabiliser;
use crate::step::{ClassifyJob, PixelBackend, PixelState, StepParams, UpdateDraws, UpdateJob};
use crate::strips::{MAX_STRIP_THREADS, StripPool, Strips};
use crate::tone::ToneMap;

/// Parameters of the per-frame detector. Values outside the documented ranges are clamped
/// into them by [`Detector::new`] (the config crate rejects them first). Pixel counts are at
/// the analysis size; rates are per analysed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectorOptions {
    /// Samples kept per pixel by the background model (ViBe's N). More samples model
    /// multi-modal backgrounds (leaves, water) better and cost time linearly.
    /// Default 16; range 2..=64.
    pub samples_per_pixel: usize,
    /// A sample matches the current pixel when their luma values differ by less than this
    /// (ViBe's R, in video-range luma steps; black is 16, white 235). Lower is more sensitive.
    /// Default 10; range 1..=255.
    pub match_radius_luma: u8,
    /// A pixel is background when at least this many samples match it (ViBe's #min).
    /// Default 2; range 1..=`samples_per_pixel`.
    pub min_matches: u8,
    /// A background pixel updates the model with probability 1 / this per frame (ViBe's φ).
    /// Larger values remember the background longer and adapt more slowly to gradual change
    /// (stopped objects are kept by `absorb_after_frames` and the neighbour guard, not by
    /// this). Default 8; range 1..=1024.
    pub update_subsampling: u32,
    /// When a background pixel updates its own samples, it also writes one sample of a random
    /// 8-neighbour (ViBe's spatial propagation) when that neighbour was background on the
    /// previous frame: the model spreads across small misalignments and noise, while an
    /// object that stopped is not eaten from within. Default true.
    pub propagation_enabled: bool,
    /// Seed of the model's random generator; the same seed and frames give byte-identical
    /// output. Default 0x5717_1A7C_4000_0001; any value.
    pub seed: u64,
    /// Flicker feedback: each frame a pixel's raw classification changes while it is outside
    /// the cleaned foreground, its flicker level (0..=255) rises by this much. 0 turns the
    /// feedback off (every pixel keeps `match_radius_luma`). Default 8; range 0..=255.
    pub flicker_increment: u8,
    /// Each frame without such a change, the flicker level falls by this much.
    /// Default 1; range 1..=255.
    pub flicker_decrement: u8,
    /// A pixel's match radius is `match_radius_luma + flicker * this / 256`, so steadily
    /// flickering pixels (leaves, edges on a shaking camera) need a larger change to count as
    /// foreground. Default 64; range 0..=255.
    pub flicker_max_extra_radius_luma: u8,
    /// A pixel that has been foreground for this many frames in a row starts being updated as
    /// if it were background, so an object that stops (a parked car, a person standing still)
    /// fades into the background after about this many frames plus a few times
    /// `update_subsampling`, instead of holding motion forever. 0 never absorbs (ViBe's
    /// behaviour: stopped objects stay until their edges erode). Default 1500; range 0..=65535.
    pub absorb_after_frames: u16,
    /// Ghost removal: a pixel that has been foreground for this many frames in a row and looks
    /// like the background of a neighbouring background pixel learns its current luma, so the
    /// "ghost" an object leaves where it was (in the first frame, or after it was absorbed and
    /// moved on) dissolves from its border inwards within a few dozen frames, while an object
    /// that stopped (unlike the background beside it) stays. 0 turns it off. Default 10;
    /// range 0..=65535.
    pub ghost_after_frames: u16,
    /// Noise clean-up: after classification, a pixel is foreground when at least
    /// `cleanup_min_votes` of the pixels of the square of side `2 * cleanup_radius_pixels + 1`
    /// around it are foreground (a rank filter; half the square plus one is its median).
    /// 0 turns the clean-up off. Default 2 (5x5); range 0..=7.
    pub cleanup_radius_pixels: u8,
    /// See `cleanup_radius_pixels`: lower values dilate, higher ones erode. Default 13 (the
    /// 5x5 median); range 1..=(2 * cleanup_radius_pixels + 1)².
    pub cleanup_min_votes: u8,
    /// Background regions (4-connected) enclosed by foreground, not touching the frame border,
    /// of at most this many pixels become foreground (holes inside objects whose luma
    /// resembles the background). 0 fills none. Default 1000; range 0..=width*height.
    pub max_hole_area_pixels: u32,
    /// Connected foreground regions (8-connected) smaller than this are erased from the mask
    /// and do not count as motion. Default 16; range 1..=width*height.
    pub min_blob_area_pixels: u32,
    /// Camera shake: each frame is aligned with the background model before it is compared,
    /// by the whole-pixel shift (up to this many pixels either way, at the analysis size) that
    /// best matches the frame's edges with the model's. 0 turns the search off (a camera on a
    /// rigid mount). Default 24; range 0..=64.
    pub max_shift_pixels: u16,
    /// Brightness compensation: each frame's luma is mapped onto the model's brightness by a
    /// gain and offset fitted to its background pixels, so a light switched on or off, the
    /// camera's exposure and the IR night mode do not read as motion. Default true.
    pub brightness_compensation: bool,
    /// Noise allowance: every pixel's match radius is at least this many sixteenths of the
    /// frame's measured noise (the median absolute difference between the compensated frame
    /// and the reference background), so a noisier picture (night mode, a cheap sensor, heavy
    /// compression) needs a larger change to count. 0 turns it off. Default 48 (3x);
    /// range 0..=255.
    pub noise_radius_sixteenths: u8,
    /// Shading: once the shake search has kept the same shift for 25 frames (a camera on a
    /// rigid mount always keeps it), a raw-foreground pixel whose 5x5 neighbourhood is the
    /// reference background darkened by one factor between 0.6 and 0.95 above the black
    /// level, its pattern kept (a soft shadow, the reflection of a dark object on a glossy
    /// desk or floor), is taken for background before the clean-up. Default true.
    pub shading_suppression: bool,
    /// Columns of the motion grid. Default 16; range 1..=analysis width.
    pub grid_cols: u16,
    /// Rows of the motion grid. Default 9; range 1..=analysis height.
    pub grid_rows: u16,
    /// Threads analysing the frame, each a horizontal strip of it: classification, clean-up,
    /// the model's random update and its learning run strip by strip; the shake search,
    /// brightness fit, blobs and ghost removal stay on one thread. Masks, analyses, events and
    /// the model are identical for every value. 1 runs everything on the caller's thread; more
    /// gives the detector its own pool of that many threads (never more than the frame has
    /// rows), on which each frame runs while the caller waits: only for a camera whose
    /// frames one core cannot keep up with (`docs/design/motion.md`, "Strips"). Not used
    /// with a [`PixelBackend`]. Default 1; range 1..=64.
    pub strip_threads: u8,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        Self {
            samples_per_pixel: 16,
            match_radius_luma: 10,
            min_matches: 2,
            update_subsampling: 8,
            propagation_enabled: true,
            seed: 0x5717_1A7C_4000_0001,
            flicker_increment: 8,
            flicker_decrement: 1,
            flicker_max_extra_radius_luma: 64,
            absorb_after_frames: 1500,
            ghost_after_frames: 10,
            cleanup_radius_pixels: 2,
            cleanup_min_votes: 13,
            max_hole_area_pixels: 1000,
            min_blob_area_pixels: 16,
            max_shift_pixels: 24,
            brightness_compensation: true,
            noise_radius_sixteenths: 48,
            shading_suppression: true,
            grid_cols: 16,
            grid_rows: 9,
            strip_threads: 1,
        }
    }
}

impl DetectorOptions {
    /// These options with every value clamped into its documented range, so the detector never
    /// panics on any input (the config crate rejects out-of-range values before this).
    pub(crate) fn clamped(&self) -> Self {
        let samples_per_pixel = self.samples_per_pixel.clamp(2, 64);
        Self {
            samples_per_pixel,
            match_radius_luma: self.match_radius_luma.max(1),
            min_matches: self.min_matches.clamp(1, samples_per_pixel as u8),
            update_subsampling: self.update_subsampling.clamp(1, 1024),
            flicker_decrement: self.flicker_decrement.max(1),
            cleanup_radius_pixels: self.cleanup_radius_pixels.min(7),
            cleanup_min_votes: self
                .cleanup_min_votes
                .clamp(1, (2 * self.cleanup_radius_pixels.min(7) + 1).pow(2)),
            min_blob_area_pixels: self.min_blob_area_pixels.max(1),
            max_shift_pixels: self.max_shift_pixels.min(64),
            strip_threads: self.strip_threads.clamp(1, MAX_STRIP_THREADS),
            ..*self
        }
    }
}

/// Frames the shake search must have kept the same shift before shading is looked for (1 s at
/// 25 fps): the test compares the frame with the reference background pixel for pixel, which
/// a moving camera's sub-pixel residue and motion blur would mislead.
const STEADY_FRAMES_FOR_SHADING: u16 = 25;

/// What the detector found on one frame. Reused from frame to frame: copy what you keep.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameAnalysis {
    /// Fraction of the frame's pixels in the final foreground mask, 0..=1.
    pub score: f32,
    /// True when at least one blob of `min_blob_area_pixels` or more is present.
    pub motion: bool,
    /// Foreground regions of at least `min_blob_area_pixels`, largest first (ties: top, then
    /// left). The vector is reused across frames.
    pub blobs: Vec<Blob>,
    /// Percentage of each grid cell's pixels in the foreground.
    pub grid: MotionGrid,
}

/// Motion detector for one camera at a fixed analysis size.
#[derive(Debug)]
pub struct Detector {
    width: usize,
    height: usize,
    max_hole_area_pixels: u32,
    min_blob_area_pixels: u32,
    model: SampleModel,
    /// Present when `max_shift_pixels` is positive.
    stabiliser: Option<Stabiliser>,
    /// Present when `brightness_compensation` is on.
    tone: Option<ToneMap>,
    noise_radius_sixteenths: u8,
    shading_suppression: bool,
    /// The shift of the last frame, and for how many frames in a row it has not changed.
    last_shift: (i32, i32),
    steady_frames: u16,
    /// What the first frame's black reads as in the model now, carried through every
    /// brightness remap: the black level that shading's ratios are taken above (0 until a
    /// remap; the IR night mode lifts it).
    black_luma: u8,
    cleanup: MajorityFilter,
    labeler: BlobLabeler,
    grid: GridCounter,
    /// Copy of the input frame when it does not arrive as one contiguous row-major slice.
    frame: Vec<u8>,
    raw_mask: Vec<u8>,
    mask: Vec<u8>,
    analysis: FrameAnalysis,
    /// Present when another engine runs the per-pixel step (see [`Detector::with_backend`]).
    external: Option<External>,
    /// Present when the frame is analysed in strips on more than one thread; taken out of the
    /// detector while a frame runs on its pool.
    strip_pool: Option<StripPool>,
}

/// What the detector keeps for a [`PixelBackend`]: the engine, and the frame-coordinate
/// buffers it exchanges with it.
#[derive(Debug)]
struct External {
    backend: Box<dyn PixelBackend>,
    params: StepParams,
    state: PixelState,
    draws: UpdateDraws,
}

impl Detector {
    /// A detector for `width x height` luma frames (each clamped to at least 1). The model
    /// initialises from the first frame it is given; that frame reports no motion.
    pub fn new(width: usize, height: usize, options: &DetectorOptions) -> Self {
        let width = width.max(1);
        let height = height.max(1);
        let area = width * height;
        let options = options.clamped();
        // The canvas margin, at most a quarter of the frame's smaller side.
        let margin = usize::from(options.max_shift_pixels).min(width.min(height) / 4);
        let grid = GridCounter::new(
            width,
            height,
            usize::from(options.grid_cols).clamp(1, width),
            usize::from(options.grid_rows).clamp(1, height),
        );
        let cleanup = MajorityFilter::new(
            width,
            height,
            usize::from(options.cleanup_radius_pixels),
            u16::from(options.cleanup_min_votes),
        );
        let strip_pool = StripPool::new(options.strip_threads.into(), width, height, &cleanup);
        let analysis = FrameAnalysis {
            score: 0.0,
            motion: false,
            blobs: Vec::with_capacity(width.div_ceil(2) * height.div_ceil(2)),
            grid: grid.empty_grid(),
        };
        Self {
            width,
            height,
            max_hole_area_pixels: options.max_hole_area_pixels,
            min_blob_area_pixels: options.min_blob_area_pixels,
            model: SampleModel::new(width, height, margin, options),
            stabiliser: (margin > 0).then(|| Stabiliser::new(width, height, margin)),
            tone: options.brightness_compensation.then(ToneMap::new),
            noise_radius_sixteenths: options.noise_radius_sixteenths,
            shading_suppression: options.shading_suppression,
            last_shift: (0, 0),
            steady_frames: 0,
            black_luma: 0,
            cleanup,
            labeler: BlobLabeler::new(width, height),
            grid,
            frame: vec![0; area],
            raw_mask: vec![0; area],
            mask: vec![0; area],
            analysis,
            external: None,
            strip_pool,
        }
    }

    /// A detector whose per-pixel step (classification, clean-up and the model's update) runs
    /// on `backend`, such as the ONNX graphs; everything else runs here. The results are the
    /// native detector's, frame for frame (`docs/design/onnx.md`).
    pub fn with_backend(
        width: usize,
        height: usize,
        options: &DetectorOptions,
        backend: Box<dyn PixelBackend>,
    ) -> Self {
        // The backend runs the per-pixel step: no strip threads are started.
        let one_thread = DetectorOptions {
            strip_threads: 1,
            ..*options
        };
        let mut detector = Self::new(width, height, &one_thread);
        detector.external = Some(External {
            backend,
            params: StepParams::new(options),
            state: PixelState::new(
                detector.width,
                detector.height,
                detector.model.samples_per_pixel(),
            ),
            draws: UpdateDraws::new(detector.width * detector.height),
        });
        detector
    }

    /// Analyses one frame of video-range GRAY8 luma, shape `(height, width)`, any strides.
    ///
    /// The first frame initialises the background model and reports no motion.
    /// A frame of the wrong shape changes nothing and returns [`MotionError::FrameSize`].
    /// A failing backend returns [`MotionError::Backend`]; the model is then as it was after
    /// the last frame that succeeded, less the frame's random draws.
    pub fn process(&mut self, luma: ArrayView2<u8>) -> Result<&FrameAnalysis, MotionError> {
        match self.strip_pool.take() {
            Some(mut strip_pool) => {
                let StripPool { pool, strips } = &mut strip_pool;
                let analysed = pool.install(|| self.analyse(luma, Some(strips)));
                self.strip_pool = Some(strip_pool);
                analysed?;
            }
            None => self.analyse(luma, None)?,
        }
        Ok(&self.analysis)
    }

    /// Threads analysing each frame: `strip_threads`, or fewer (1 with a [`PixelBackend`],
    /// at most the frame's rows, or when the threads could not be started).
    pub fn strip_threads(&self) -> usize {
        self.strip_pool.as_ref().map_or(1, StripPool::threads)
    }

    /// [`Detector::process`], with the frame's `strips` when it runs on the strip threads.
    fn analyse(
        &mut self,
        luma: ArrayView2<u8>,
        mut strips: Option<&mut Strips>,
    ) -> Result<(), MotionError> {
        if luma.dim() != (self.height, self.width) {
            return Err(MotionError::FrameSize {
                expected_width: self.width,
                expected_height: self.height,
                width: luma.ncols(),
                height: luma.nrows(),
            });
        }
        let pixels: &[u8] = match luma.as_slice() {
            Some(pixels) => pixels,
            None => {
                for (dst, &src) in self.frame.iter_mut().zip(luma.iter()) {
                    *dst = src;
                }
                &self.frame
            }
        };

        if !self.model.is_initialised() {
            self.model.initialise(pixels);
            self.mask.fill(0);
            self.analysis.score = 0.0;
            self.analysis.motion = false;
            self.analysis.blobs.clear();
            self.analysis.grid.cells_percent.fill(0);
            return Ok(());
        }

        let shift = match self.stabiliser.as_mut() {
            Some(stabiliser) => stabiliser.estimate(pixels, self.model.reference()),
            None => (0, 0),
        };
        self.steady_frames = if shift == self.last_shift {
            self.steady_frames.saturating_add(1)
        } else {
            0
        };
        self.last_shift = shift;
        let mut min_radius_luma = 0;
        if let Some(tone) = self.tone.as_mut() {
            self.model.sample_pairs(pixels, shift, tone);
            if tone.fit() {
                self.model
                    .remap(tone.visible_lut(), tone.hidden_lut(), pixels, shift);
                self.black_luma = tone.hidden_lut()[usize::from(self.black_luma)];
            }
            let noise = u16::from(tone.noise_luma());
            min_radius_luma =
                ((noise * u16::from(self.noise_radius_sixteenths)) >> 4).min(255) as u8;
        }
        self.model.reveal(pixels, shift);
        let look_for_shading =
            self.shading_suppression && self.steady_frames >= STEADY_FRAMES_FOR_SHADING;
        // Classification; a backend and the strips clean the mask up too.
        let cleaned = if let Some(external) = self.external.as_mut() {
            self.model
                .exchange_window(shift, &mut external.state, Towards::State);
            external
                .backend
                .classify(ClassifyJob {
                    params: &external.params,
                    luma: pixels,
                    state: &external.state,
                    min_radius: min_radius_luma,
                    raw_mask: &mut self.raw_mask,
                    clean_mask: &mut self.mask,
                })
                .map_err(MotionError::Backend)?;
            true
        } else if let Some(strips) = strips.as_deref_mut() {
            strips.classify(
                &self.model,
                pixels,
                shift,
                min_radius_luma,
                &mut self.raw_mask,
                &mut self.mask,
            );
            true
        } else {
            self.model
                .segment(pixels, shift, min_radius_luma, &mut self.raw_mask);
            false
        };
        // Shading runs here on every path; where the mask was cleaned up already and the test
        // cleared anything, the clean-up is redone on the corrected raw mask.
        let cleared = look_for_shading
            && self
                .model
                .clear_shading(pixels, shift, self.black_luma, &mut self.raw_mask);
        if !cleaned || cleared {
            self.cleanup.apply(&self.raw_mask, &mut self.mask);
        }
        let kept_pixels = self.labeler.label(
            &mut self.mask,
            self.max_hole_area_pixels,
            self.min_blob_area_pixels,
            &mut self.analysis.blobs,
        );
        self.grid
            .apply(self.labeler.runs(), &mut self.analysis.grid);
        if let Some(external) = self.external.as_mut() {
            self.model.draw_update(&self.raw_mask, &mut external.draws);
            external
                .backend
                .update(UpdateJob {
                    params: &external.params,
                    luma: pixels,
                    raw_mask: &self.raw_mask,
                    final_mask: &self.mask,
                    draws: &external.draws,
                    state: &mut external.state,
                })
                .map_err(MotionError::Backend)?;
            self.model
                .exchange_window(shift, &mut external.state, Towards::Canvas);
        } else {
            match strips {
                Some(strips) => {
                    strips.update(&mut self.model, pixels, shift, &self.raw_mask, &self.mask)
                }
                None => {
                    self.model.update(pixels, shift, &self.raw_mask, &self.mask);
                    self.model.learn(pixels, shift, &self.raw_mask, &self.mask);
                }
            }
        }
        // While the model is in cache: the next frame's brightness sampling reads it.
        if self.tone.is_some() {
            self.model.read_ahead(shift);
        }

        self.analysis.score = (kept_pixels as f64 / (self.width * self.height) as f64) as f32;
        self.analysis.motion = !self.analysis.blobs.is_empty();
        Ok(())
    }

    /// The final foreground mask of the last frame: 255 foreground, 0 background, shape
    /// `(height, width)`.
    pub fn foreground(&self) -> ArrayView2<'_, u8> {
        ArrayView2::from_shape((self.height, self.width), &self.mask)
            .expect("the mask holds exactly width * height pixels")
    }

    /// The analysis frame width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The analysis frame height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, s};
    use sw_core::CameraId;

    use super::*;
    use crate::{EventOptions, EventTracker};

    /// Options for tiny frames: every blob counts, the grid is 2x2, the clean-up is the 3x3
    /// median, and no shake search (a margin would be most of a tiny frame).
    fn tiny_options() -> DetectorOptions {
        DetectorOptions {
            min_blob_area_pixels: 1,
            grid_cols: 2,
            grid_rows: 2,
            cleanup_radius_pixels: 1,
            cleanup_min_votes: 5,
            max_shift_pixels: 0,
            ..DetectorOptions::default()
        }
    }

    /// A frame from a picture: `.` is background luma 100, `#` an object at luma 200.
    fn frame(rows: &[&str]) -> Array2<u8> {
        let (w, h) = (rows[0].len(), rows.len());
        Array2::from_shape_fn((h, w), |(y, x)| {
            if rows[y].as_bytes()[x] == b'#' {
                200
            } else {
                100
            }
        })
    }

    /// A mask from a picture: `#` is 255, `.` 0.
    fn mask(rows: &[&str]) -> Array2<u8> {
        frame(rows).mapv(|v| if v == 200 { 255 } else { 0 })
    }

    const EMPTY: [&str; 6] = [
        "........", "........", "........", "........", "........", "........",
    ];

    #[test]
    fn a_new_object_is_found_cleaned_measured_and_gridded() {
        let mut detector = Detector::new(8, 6, &tiny_options());
        let first = detector.process(frame(&EMPTY).view()).unwrap().clone();
        assert!(!first.motion);
        assert_eq!(first.score, 0.0);

        let object = [
            "........", //
            "..####..", "..####..", "..####..", "..####..", "........",
        ];
        // The 3x3 median takes the corners off the square (each sees only 4 foreground
        // pixels of 9).
        let expected = [
            "........", //
            "...##...", "..####..", "..####..", "...##...", "........",
        ];
        let analysis = detector.process(frame(&object).view()).unwrap().clone();
        assert_eq!(detector.foreground(), mask(&expected));
        assert!(analysis.motion);
        assert_eq!(analysis.score, 12.0 / 48.0);
        assert_eq!(
            analysis.blobs,
            [Blob {
                area_pixels: 12,
                x0: 2,
                y0: 1,
                x1: 6,
                y1: 5
            }]
        );
        // Each 4x3 cell holds 3 of the 12 pixels.
        assert_eq!(
            analysis.grid,
            MotionGrid {
                cols: 2,
                rows: 2,
                cells_percent: vec![25, 25, 25, 25]
            }
        );
    }

    #[test]
    fn small_noise_is_background() {
        let mut detector = Detector::new(8, 6, &tiny_options());
        detector.process(frame(&EMPTY).view()).unwrap();
        // Luma changes below the match radius (default 10) everywhere.
        let noisy = Array2::from_shape_fn((6, 8), |(y, x)| 100 + ((x * 7 + y * 3) % 11) as u8 - 5);
        let analysis = detector.process(noisy.view()).unwrap();
        assert!(!analysis.motion);
        assert!(detector.foreground().iter().all(|&p| p == 0));
    }

    #[test]
    fn a_frame_of_the_wrong_size_is_refused_and_changes_nothing() {
        let mut detector = Detector::new(8, 6, &tiny_options());
        detector.process(frame(&EMPTY).view()).unwrap();
        let err = detector
            .process(Array2::<u8>::zeros((6, 9)).view())
            .unwrap_err();
        assert!(matches!(
            err,
            MotionError::FrameSize {
                expected_width: 8,
                expected_height: 6,
                width: 9,
                height: 6
            }
        ));
        assert_eq!(
            err.to_string(),
            "frame is 9x6 pixels but the detector was built for 8x6"
        );
        assert!(!detector.process(frame(&EMPTY).view()).unwrap().motion);
    }

    #[test]
    fn strided_views_give_the_same_result_as_contiguous_frames() {
        let object = [
            "........", "..####..", "..####..", "..####..", "..####..", "........",
        ];
        let mut contiguous = Detector::new(8, 6, &tiny_options());
        contiguous.process(frame(&EMPTY).view()).unwrap();
        let expected = contiguous.process(frame(&object).view()).unwrap().clone();

        // The same pixels inside a wider buffer: rows are not contiguous with each other.
        let embed = |rows: &[&str]| {
            let mut wide = Array2::<u8>::zeros((6, 11));
            wide.slice_mut(s![.., 1..9]).assign(&frame(rows));
            wide
        };
        let mut strided = Detector::new(8, 6, &tiny_options());
        strided.process(embed(&EMPTY).slice(s![.., 1..9])).unwrap();
        let (object_wide, _) = (embed(&object), ());
        let got = strided.process(object_wide.slice(s![.., 1..9])).unwrap();
        assert_eq!(*got, expected);
        assert_eq!(strided.foreground(), contiguous.foreground());
    }

    #[test]
    fn out_of_range_options_are_clamped_instead_of_panicking() {
        let extreme = DetectorOptions {
            samples_per_pixel: 0,
            match_radius_luma: 0,
            min_matches: 255,
            update_subsampling: 0,
            flicker_increment: 255,
            flicker_decrement: 0,
            flicker_max_extra_radius_luma: 255,
            cleanup_min_votes: 0,
            max_hole_area_pixels: u32::MAX,
            min_blob_area_pixels: 0,
            grid_cols: 0,
            grid_rows: u16::MAX,
            ..DetectorOptions::default()
        };
        for (w, h) in [(1, 1), (3, 2), (40, 33), (0, 0)] {
            let mut detector = Detector::new(w, h, &extreme);
            let (w, h) = (detector.width(), detector.height());
            for t in 0..5u8 {
                let luma = Array2::from_shape_fn((h, w), |(y, x)| {
                    (x * 13 + y * 7) as u8 ^ t.wrapping_mul(91)
                });
                let analysis = detector.process(luma.view()).unwrap();
                assert!((0.0..=1.0).contains(&analysis.score));
                assert!(analysis.grid.cols >= 1 && usize::from(analysis.grid.rows) <= h);
            }
        }
    }

    /// A 64x48 scene with texture, noise and two moving objects, deterministic.
    fn scene(t: usize) -> Array2<u8> {
        Array2::from_shape_fn((48, 64), |(y, x)| {
            let mut v = 60 + ((x * 5 + y * 3) % 40) as u32 + ((x * 31 + y * 17 + t * 7) % 5) as u32;
            if (t..t + 10).contains(&x) && (10..20).contains(&y) {
                v = 200;
            }
            if (30..38).contains(&x) && (40usize.saturating_sub(t / 2)..48 - t / 2).contains(&y) {
                v = 30;
            }
            v as u8
        })
    }

    #[test]
    fn the_same_frames_give_byte_identical_masks_analyses_and_events() {
        let run = || {
            let mut detector = Detector::new(64, 48, &DetectorOptions::default());
            let events = EventOptions {
                min_duration_millis: 0,
                cooldown_millis: 200,
                ..EventOptions::default()
            };
            let mut tracker = EventTracker::new(CameraId::new("gate").unwrap(), &events);
            let (mut masks, mut analyses, mut records) = (Vec::new(), Vec::new(), Vec::new());
            for t in 0..60 {
                let analysis = detector.process(scene(t).view()).unwrap();
                records.extend(tracker.update(t as u64, t as u64 * 40_000_000, analysis, 64, 48));
                analyses.push(analysis.clone());
                masks.push(detector.foreground().to_owned());
            }
            records.extend(tracker.finish(60, 60 * 40_000_000));
            (masks, analyses, records)
        };
        let (masks_a, analyses_a, records_a) = run();
        let (masks_b, analyses_b, records_b) = run();
        assert_eq!(masks_a, masks_b);
        assert_eq!(analyses_a, analyses_b);
        assert_eq!(records_a, records_b);
        assert!(
            analyses_a.iter().filter(|a| a.motion).count() > 30,
            "the scene should move"
        );
        assert!(records_a.len() >= 2, "the scene should make events");
    }

    #[test]
    fn a_different_seed_changes_the_random_update_but_not_the_object() {
        let run = |seed| {
            let mut detector = Detector::new(
                64,
                48,
                &DetectorOptions {
                    seed,
                    ..DetectorOptions::default()
                },
            );
            (0..40)
                .map(|t| detector.process(scene(t).view()).unwrap().motion)
                .collect::<Vec<_>>()
        };
        // The object starts inside the first frame, so the first few frames also see its ghost,
        // which dissolves at a random pace; after that only the object moves.
        assert_eq!(run(1)[10..], run(2)[10..]);
    }

    /// A `width x height` scene with texture, noise, a camera that shakes by up to 4 pixels
    /// and objects crossing strip boundaries, deterministic.
    fn shaking_scene(width: usize, height: usize, t: usize) -> Array2<u8> {
        let (dx, dy) = ((t * 7) % 5, (t * 3) % 4);
        Array2::from_shape_fn((height, width), |(y, x)| {
            let (sx, sy) = (x + dx, y + dy);
            let mut v =
                60 + ((sx * 5 + sy * 3) % 40) as u32 + ((x * 31 + y * 17 + t * 7) % 5) as u32;
            if (t..t + 10).contains(&x) && (height / 4..height / 2 + 3).contains(&y) {
                v = 200;
            }
            if (width / 2..width / 2 + 8).contains(&x)
                && (height.saturating_sub(t / 2 + 8)..height - t / 2 % height).contains(&y)
            {
                v = 30;
            }
            v as u8
        })
    }

    #[test]
    fn strip_threads_give_identical_masks_analyses_events_and_models() {
        let run = |width, height, strip_threads| {
            let options = DetectorOptions {
                strip_threads,
                ..DetectorOptions::default()
            };
            let mut detector = Detector::new(width, height, &options);
            let events = EventOptions {
                min_duration_millis: 0,
                cooldown_millis: 200,
                ..EventOptions::default()
            };
            let mut tracker = EventTracker::new(CameraId::new("gate").unwrap(), &events);
            let mut frames = Vec::new();
            for t in 0..50 {
                let analysis = detector
                    .process(shaking_scene(width, height, t).view())
                    .unwrap()
                    .clone();
                let record =
                    tracker.update(t as u64, t as u64 * 40_000_000, &analysis, width, height);
                frames.push((
                    analysis,
                    detector.foreground().to_owned(),
                    record,
                    detector.model.as_one_thread(),
                ));
            }
            (
                frames,
                tracker.finish(50, 50 * 40_000_000),
                detector.strip_threads(),
            )
        };
        #[rustfmt::skip]
        let cases: [(usize, usize, &[u8], &[usize]); 4] = [
            // width, height, strip_threads, threads in use
            (64, 48, &[2, 3, 5], &[2, 3, 5]),
            (61, 47, &[2, 3, 4], &[2, 3, 4]),   // strips of 24 + 23, 16 + 16 + 15, 12 x 3 + 11
            (9, 2, &[3], &[2]),                 // fewer rows than threads
            (7, 1, &[2], &[1]),                 // one row: one thread
        ];
        for (width, height, threads, in_use) in cases {
            let (one, one_end, _) = run(width, height, 1);
            for (&strip_threads, &expected_threads) in threads.iter().zip(in_use) {
                let (many, many_end, used) = run(width, height, strip_threads);
                assert_eq!(used, expected_threads, "{width}x{height}");
                for (t, (a, b)) in one.iter().zip(&many).enumerate() {
                    assert_eq!(
                        a.0, b.0,
                        "analysis, {width}x{height}, {strip_threads} threads, frame {t}"
                    );
                    assert_eq!(
                        a.1, b.1,
                        "mask, {width}x{height}, {strip_threads} threads, frame {t}"
                    );
                    assert_eq!(
                        a.2, b.2,
                        "event, {width}x{height}, {strip_threads} threads, frame {t}"
                    );
                    assert!(
                        a.3 == b.3,
                        "model, {width}x{height}, {strip_threads} threads, frame {t}"
                    );
                }
                assert_eq!(one_end, many_end);
            }
            if height > 40 {
                assert!(
                    one.iter().filter(|f| f.0.motion).count() > 20,
                    "the scene should move"
                );
                assert!(
                    one.iter().filter(|f| f.2.is_some()).count() >= 1,
                    "the scene should make events"
                );
            }
        }
    }

    #[test]
    fn an_object_that_stops_is_absorbed_into_the_background_after_the_set_time() {
        let parked_for = |absorb_after_frames| {
            let options = DetectorOptions {
                absorb_after_frames,
                ..tiny_options()
            };
            let mut detector = Detector::new(32, 24, &options);
            let empty = Array2::from_elem((24, 32), 100u8);
            let mut parked = empty.clone();
            parked.slice_mut(s![8..16, 8..16]).fill(200);
            detector.process(empty.view()).unwrap();
            (0..3000).position(|_| !detector.process(parked.view()).unwrap().motion)
        };
        // Foreground for 100 frames, then about 2 x update_subsampling (16) frames until
        // two samples per pixel hold the object.
        let frames = parked_for(100).expect("absorbed");
        assert!(
            (100..300).contains(&frames),
            "absorbed after {frames} frames"
        );
        // Never absorbing keeps a perfectly still, sharp-edged object forever.
        assert_eq!(parked_for(0), None);
    }
}
