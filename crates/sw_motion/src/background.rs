//! The background model: a ViBe-style sample-consensus model on GRAY8 luma, with a per-pixel
//! match radius that widens where the segmentation keeps flickering.
//!
//! Owns: the per-pixel sample sets, their initialisation from the first frame, the
//! classification of each pixel as background or foreground, the conservative random update
//! (with neighbour propagation) that keeps the model current, and the per-pixel radius.
//! Does not own: noise clean-up, blobs or any decision about what counts as motion; those
//! read the raw mask this module writes.
//!
//! References: O. Barnich, M. Van Droogenbroeck, "ViBe: A Universal Background Subtraction
//! Algorithm for Video Sequences", IEEE TIP 20(6), 2011; the flicker ("blinking") feedback
//! on the radius is a reduced form of PBAS (Hofmann et al., CVPRW 2012) and SuBSENSE
//! (St-Charles et al., IEEE TIP 2015).
//!
//! Layout: pixels are taken in raster order in lanes of [`LANE_PIXELS`]; a lane's `N`
//! samples are stored as `N` consecutive runs of `LANE_PIXELS` bytes (sample 0 of every pixel
//! of the lane, then sample 1, ...). Classifying a lane is `N` steps of "absolute difference
//! below radius, add one" over 32 contiguous bytes, which the compiler turns into SIMD without
//! `unsafe`; the whole model is read as one forward stream; and a lane whose every pixel has
//! already matched enough samples skips the rest of its samples.

use crate::DetectorOptions;
use crate::rng::SplitMix64;

/// Pixels classified together: two SSE2 registers' worth, so a lane's luma, radius and match
/// counts stay in registers.
const LANE_PIXELS: usize = 32;
/// How often (in samples) classification checks whether a lane is settled. Measured on
/// CDnet highway: 4 beats 2 and 8.
const SETTLED_CHECK_SAMPLES: usize = 4;
/// Lanes classified before their pixels are updated: few enough that their samples are still
/// in L1, enough that the update loop runs a while between exits.
const BLOCK_LANES: usize = 8;

#[derive(Debug, Clone)]
pub(crate) struct SampleModel {
    width: usize,
    height: usize,
    /// The detector's options, already clamped into their ranges ([`DetectorOptions::clamped`]).
    params: DetectorOptions,
    /// Per lane, `sample_count` runs of `LANE_PIXELS` samples (see the module docs). The last
    /// lane is padded when the frame's area is not a multiple of `LANE_PIXELS`.
    samples: Vec<u8>,
    /// Per pixel (padded like a lane): the match radius in use, `match_radius_luma` plus the
    /// flicker allowance.
    radius: Vec<u8>,
    /// Per pixel: how much the raw segmentation has been flickering lately (0..=255).
    flicker: Vec<u8>,
    /// The previous frame's raw mask, to detect flicker.
    previous_raw: Vec<u8>,
    /// Per pixel: for how many frames in a row (saturating) it has been raw foreground.
    foreground_frames: Vec<u16>,
    rng: SplitMix64,
    initialised: bool,
}

impl SampleModel {
    pub(crate) fn new(width: usize, height: usize, params: DetectorOptions) -> Self {
        let area = width * height;
        let padded = area.div_ceil(LANE_PIXELS) * LANE_PIXELS;
        Self {
            width,
            height,
            params,
            samples: vec![0; params.samples_per_pixel * padded],
            radius: vec![params.match_radius_luma; padded],
            flicker: vec![0; area],
            previous_raw: vec![0; area],
            foreground_frames: vec![0; area],
            rng: SplitMix64::new(params.seed),
            initialised: false,
        }
    }

    pub(crate) fn is_initialised(&self) -> bool {
        self.initialised
    }

    /// Where sample `k` of pixel `idx` (raster order) lives in `samples`.
    fn slot(&self, idx: usize, k: usize) -> usize {
        let lane = idx / LANE_PIXELS;
        (lane * self.params.samples_per_pixel + k) * LANE_PIXELS + idx % LANE_PIXELS
    }

    /// Fills every pixel's samples with luma values drawn from its 3x3 neighbourhood, as ViBe
    /// does: one frame is enough to start, and the spatial spread of the samples absorbs
    /// small camera jitter. Sample 0 is the pixel itself.
    pub(crate) fn initialise(&mut self, luma: &[u8]) {
        let (w, h) = (self.width, self.height);
        for y in 0..h {
            for x in 0..w {
                for k in 0..self.params.samples_per_pixel {
                    let (nx, ny) = if k == 0 {
                        (x, y)
                    } else {
                        let which = self.rng.below(9) as usize;
                        neighbour(x, y, w, h, (which % 3, which / 3))
                    };
                    let slot = self.slot(y * w + x, k);
                    self.samples[slot] = luma[ny * w + nx];
                }
            }
        }
        self.initialised = true;
    }

    /// Classifies every pixel and updates the model, lane by lane while the lane's samples
    /// are in cache.
    ///
    /// Classification writes 255 into `raw_mask` for every pixel with fewer than
    /// `min_matches` samples closer than its radius to its luma (foreground), 0 otherwise.
    ///
    /// The update is ViBe's conservative random update: each pixel just classified as
    /// background is, with probability 1/`update_subsampling`, written into one of its own
    /// samples and into one sample of a random 8-neighbour (when propagation is enabled).
    /// A pixel that has been foreground for `absorb_after_frames` frames in a row is updated
    /// as if it were background, so whatever stopped there fades into the background.
    /// Pixels are visited by random jumps of mean `update_subsampling`, so the cost is one
    /// random draw per visited pixel, not per pixel.
    pub(crate) fn segment_and_update(&mut self, luma: &[u8], raw_mask: &mut [u8]) {
        let area = self.width * self.height;
        let lane_bytes = self.params.samples_per_pixel * LANE_PIXELS;
        let mut visits = Visits::new(&mut self.rng, self.params.update_subsampling, self.width);
        let lanes = area.div_ceil(LANE_PIXELS);
        for first_lane in (0..lanes).step_by(BLOCK_LANES) {
            let block_lanes = first_lane..(first_lane + BLOCK_LANES).min(lanes);
            for lane in block_lanes.clone() {
                let start = lane * LANE_PIXELS;
                let end = (start + LANE_PIXELS).min(area);
                classify_lane(
                    &self.samples[lane * lane_bytes..(lane + 1) * lane_bytes],
                    lane_of(&self.radius, start),
                    &luma[start..end],
                    self.params.min_matches,
                    &mut raw_mask[start..end],
                );
            }
            let block_end = (block_lanes.end * LANE_PIXELS).min(area);
            let absorb_after = self.params.absorb_after_frames;
            while let Some((x, y)) = visits.next_before(block_end, &mut self.rng) {
                let idx = y * self.width + x;
                let stationary = absorb_after > 0 && self.foreground_frames[idx] >= absorb_after;
                if raw_mask[idx] == 0 || stationary {
                    self.absorb(x, y, luma[idx], visits.draw);
                }
            }
        }
    }

    /// Writes `value`, the background luma of pixel `(x, y)`, into one of its samples and
    /// one of a neighbour's, choosing both from the random bits of `draw`.
    fn absorb(&mut self, x: usize, y: usize, value: u8, draw: u64) {
        let (w, h) = (self.width, self.height);
        let n = self.params.samples_per_pixel as u64;
        // Three 16-bit fields of the draw; a 16-bit multiply-shift draw below 64 is biased by
        // under 0.1%.
        let field = |i: u32, bound: u64| ((((draw >> (16 * i)) & 0xFFFF) * bound) >> 16) as usize;
        let own = self.slot(y * w + x, field(0, n));
        self.samples[own] = value;
        if self.params.propagation_enabled {
            let (nx, ny) = neighbour(x, y, w, h, NEIGHBOURS[field(1, 8)]);
            let theirs = self.slot(ny * w + nx, field(2, n));
            self.samples[theirs] = value;
        }
    }

    /// Learns from this frame's masks, for the next frame: counts how long each pixel has
    /// been foreground, and runs the flicker feedback. A pixel whose raw classification
    /// changed since the previous frame while it is not in the cleaned foreground `clean`
    /// (swaying leaves, shaking edges, sensor noise: not an object) gains
    /// `flicker_increment`, any other loses `flicker_decrement`, and its radius becomes
    /// `match_radius_luma` plus `flicker * flicker_max_extra_radius_luma / 256`.
    pub(crate) fn learn(&mut self, raw_mask: &[u8], clean: &[u8]) {
        let p = self.params;
        if p.absorb_after_frames > 0 {
            for (count, &now) in self.foreground_frames.iter_mut().zip(raw_mask) {
                *count = if now != 0 { count.saturating_add(1) } else { 0 };
            }
        }
        if p.flicker_increment == 0 {
            return;
        }
        let extra = u16::from(p.flicker_max_extra_radius_luma);
        for ((((f, r), previous), &now), &c) in self
            .flicker
            .iter_mut()
            .zip(self.radius.iter_mut())
            .zip(self.previous_raw.iter_mut())
            .zip(raw_mask)
            .zip(clean)
        {
            let flickered = (*previous ^ now) & !c != 0;
            *f = if flickered {
                f.saturating_add(p.flicker_increment)
            } else {
                f.saturating_sub(p.flicker_decrement)
            };
            *r = p
                .match_radius_luma
                .saturating_add(((u16::from(*f) * extra) >> 8) as u8);
            *previous = now;
        }
    }
}

/// The random walk over the frame that picks the pixels to update: jumps uniform in
/// `1..=2 * update_subsampling - 1` (mean `update_subsampling`), in raster order.
struct Visits {
    width: usize,
    next: usize,
    /// Column and row of `next`, kept incrementally (no division per visit).
    x: usize,
    y: usize,
    jump_span: u64,
    /// The random bits drawn with the current visit, for the update's own choices.
    draw: u64,
}

impl Visits {
    fn new(rng: &mut SplitMix64, update_subsampling: u32, width: usize) -> Self {
        let next = rng.below(update_subsampling) as usize;
        Self {
            width,
            next,
            x: next % width,
            y: next / width,
            jump_span: 2 * u64::from(update_subsampling) - 1,
            draw: 0,
        }
    }

    /// The next pixel to visit, as `(x, y)`, if it is before raster index `end`. One draw per
    /// visit serves both the jump (its top 16 bits, biased by under 3% for spans up to 2047)
    /// and the update.
    fn next_before(&mut self, end: usize, rng: &mut SplitMix64) -> Option<(usize, usize)> {
        if self.next >= end {
            return None;
        }
        let here = (self.x, self.y);
        self.draw = rng.next_u64();
        let jump = 1 + (((self.draw >> 48) * self.jump_span) >> 16) as usize;
        self.next += jump;
        self.x += jump;
        while self.x >= self.width {
            self.x -= self.width;
            self.y += 1;
        }
        Some(here)
    }
}

/// Classifies one lane: `samples` are its `N` runs of `LANE_PIXELS`; `luma` and `raw_mask`
/// are its pixels (fewer than `LANE_PIXELS` for a short last lane). Once every pixel has
/// `min_matches`, the remaining samples cannot change the answer and are skipped; most of a
/// typical frame settles within a few samples.
fn classify_lane(
    samples: &[u8],
    radius: &[u8; LANE_PIXELS],
    luma: &[u8],
    min_matches: u8,
    raw_mask: &mut [u8],
) {
    let mut pixels = [0u8; LANE_PIXELS];
    pixels[..luma.len()].copy_from_slice(luma);
    let mut matches = [0u8; LANE_PIXELS];
    for group in samples.chunks(SETTLED_CHECK_SAMPLES * LANE_PIXELS) {
        for lane_samples in group.chunks_exact(LANE_PIXELS) {
            for i in 0..LANE_PIXELS {
                // max - min rather than abs_diff: the latter widens to i32 here.
                let distance = lane_samples[i].max(pixels[i]) - lane_samples[i].min(pixels[i]);
                matches[i] += u8::from(distance < radius[i]);
            }
        }
        if matches.iter().fold(u8::MAX, |lowest, &m| lowest.min(m)) >= min_matches {
            break;
        }
    }
    for (out, &m) in raw_mask.iter_mut().zip(&matches) {
        *out = if m < min_matches { 255 } else { 0 };
    }
}

/// The `LANE_PIXELS` values of a padded per-pixel buffer from `start`.
fn lane_of(values: &[u8], start: usize) -> &[u8; LANE_PIXELS] {
    values[start..start + LANE_PIXELS]
        .try_into()
        .expect("per-pixel buffers are padded to whole lanes")
}

/// Offsets (plus one, so unsigned) of the 8 neighbours, for propagation.
const NEIGHBOURS: [(usize, usize); 8] = [
    (0, 0),
    (1, 0),
    (2, 0),
    (0, 1),
    (2, 1),
    (0, 2),
    (1, 2),
    (2, 2),
];

/// The pixel at `offset` (each coordinate 0..=2, where 1 is the pixel's own) around
/// `(x, y)`, clamped to the frame. Branch-free: the offsets are random, so branches on them
/// would mispredict.
fn neighbour(
    x: usize,
    y: usize,
    width: usize,
    height: usize,
    offset: (usize, usize),
) -> (usize, usize) {
    let nx = (x + offset.0).saturating_sub(1).min(width - 1);
    let ny = (y + offset.1).saturating_sub(1).min(height - 1);
    (nx, ny)
}
