//! The background model: ViBe-style sample consensus on luma, held on a canvas larger than the
//! frame so that a shaking camera's frames can be compared with it where they land, with a
//! per-pixel match radius that widens where the segmentation keeps flickering.
//!
//! Owns: the per-pixel sample sets and their initialisation (from the first frame, and for
//! canvas pixels a shaking camera shows for the first time), the classification of each frame
//! pixel as background or foreground, the conservative random update (with neighbour
//! propagation) that keeps the model current, the per-pixel radius with its flicker feedback,
//! the absorption of objects that stop, the reference background image (a sigma-delta
//! estimate) that registration compares frames with, and the sampling and remapping that
//! brightness compensation needs (pairs of frame and model luma; the anchors).
//! Does not own: finding the shift (see `registration`), the brightness map (see `tone`),
//! noise clean-up, blobs or any decision about what counts as motion.
//!
//! References: O. Barnich, M. Van Droogenbroeck, "ViBe: A Universal Background Subtraction
//! Algorithm for Video Sequences", IEEE TIP 20(6), 2011; the flicker ("blinking") feedback
//! on the radius is a reduced form of PBAS (Hofmann et al., CVPRW 2012) and SuBSENSE
//! (St-Charles et al., IEEE TIP 2015); the sigma-delta reference is Manzanera and Richefeu,
//! "A new motion detection algorithm based on Σ-Δ background estimation", PRL 28(3), 2007.
//!
//! Coordinates: canvas pixel `(cx, cy)` is frame pixel `(cx - margin - dx, cy - margin - dy)`
//! for the frame's shift `(dx, dy)`; with no stabilisation the margin is 0 and the canvas is
//! the frame.
//!
//! Layout: for each canvas row, the row's `N` samples are stored as `N` consecutive runs of
//! `canvas_width` bytes (sample 0 of every pixel of the row, then sample 1, ...). A frame row
//! reads one canvas row at an offset; it is classified in blocks of up to [`BLOCK_PIXELS`] (a
//! 320-pixel row is one block), sample by sample: each sample's run is swept once, "within the
//! radius, add one" on 32 bytes at a time, which the compiler turns into SIMD without
//! `unsafe`; once every pixel of a block has matched enough samples, the rest are skipped.

use std::iter::StepBy;
use std::ops::Range;

use rayon::prelude::*;

use crate::DetectorOptions;
use crate::rng::SplitMix64;
use crate::shading::{self, is_shading};
use crate::step::{PixelState, UpdateDraws};
use crate::tone::{MAX_PAIRS, ToneMap};

/// Pixels classified together: two SSE2 registers' worth.
const LANE_PIXELS: usize = 32;
/// Lanes of a row classified together, sample by sample (see `classify_block`): a 320-pixel
/// row, the usual analysis width, is one block. Measured at 320x240: 10 beats 8, 12 and 16.
const BLOCK_LANES: usize = 10;
/// Pixels of a block.
const BLOCK_PIXELS: usize = BLOCK_LANES * LANE_PIXELS;
/// How often (in samples) classification checks whether a block is settled.
const SETTLED_CHECK_SAMPLES: usize = 4;
/// At a remap, a background pixel in view whose anchor (carried through the map) differs from
/// its luma by more than this holds something else now, and is anchored afresh.
const REANCHOR_LUMA: u8 = 16;
/// Background frames after which a pixel's model is trusted to be background (see `trust`):
/// the counter saturates there.
const TRUSTED: u8 = 255;

#[derive(Debug, Clone)]
#[cfg_attr(test, derive(PartialEq))]
pub(crate) struct SampleModel {
    width: usize,
    height: usize,
    margin: usize,
    canvas_width: usize,
    canvas_height: usize,
    /// The detector's options, already clamped into their ranges ([`DetectorOptions::clamped`]).
    params: DetectorOptions,
    /// Per canvas row, `sample_count` runs of `canvas_width` samples (see the module docs).
    samples: Vec<u8>,
    /// Per canvas pixel: the match radius in use, `match_radius_luma` plus the flicker
    /// allowance; 0 for a pixel no frame has shown yet.
    radius: Vec<u8>,
    /// Per canvas pixel: how much the raw segmentation has been flickering lately (0..=255).
    flicker: Vec<u8>,
    /// Per canvas pixel: the raw mask when the pixel was last in view, to detect flicker.
    previous_raw: Vec<u8>,

    /// Per canvas pixel: for how many frames in a row (saturating) it has been raw foreground.
    foreground_frames: Vec<u16>,
    /// Per canvas pixel: on how many frames (saturating at [`TRUSTED`]) it has been raw
    /// background since its samples were last taken from whatever was there (initialisation,
    /// or the absorption of an object that stopped). Below [`TRUSTED`] the model may hold an
    /// object rather than the background, and ghost removal may rewrite it.
    trust: Vec<u8>,
    /// Per canvas pixel: the background luma, moved one step towards each frame's value where
    /// the frame is background (sigma-delta). Canvas pixels not yet seen hold the nearest
    /// pixel of the first frame.
    reference: Vec<u8>,
    /// Per canvas pixel: its luma in the first frame (or when it was anchored afresh at a
    /// remap), carried through every remap since exactly as the samples nothing updates are;
    /// 0 where there is none (never in view as background, or black). The brightness fit
    /// compares frames with these as well as with the samples: updates keep pulling the
    /// samples of background in view towards the frame, so those show only what is left of a
    /// slow change, while the places hidden behind an object need all of it, and the anchors
    /// show it (errors of earlier remaps included, which the next one then corrects).
    anchor: Vec<u8>,
    /// Scratch of [`SampleModel::remap`]: a map for each luma a pixel may have now.
    remap_table: Vec<[u8; 256]>,
    /// What the brightness sampling reads from the model, read ahead
    /// ([`SampleModel::read_ahead`]).
    pair_samples: PairSamples,
    rng: SplitMix64,
    initialised: bool,
}

impl SampleModel {
    /// A model for `width x height` frames shifted by up to `margin` pixels either way.
    pub(crate) fn new(width: usize, height: usize, margin: usize, params: DetectorOptions) -> Self {
        let (canvas_width, canvas_height) = (width + 2 * margin, height + 2 * margin);
        let area = canvas_width * canvas_height;
        Self {
            width,
            height,
            margin,
            canvas_width,
            canvas_height,
            params,
            // One lane of padding so the last lane of a row may read past the row's end.
            samples: vec![0; params.samples_per_pixel * area + LANE_PIXELS],
            radius: vec![0; area + LANE_PIXELS],
            flicker: vec![0; area],
            previous_raw: vec![0; area],
            foreground_frames: vec![0; area],
            trust: vec![0; area],
            reference: vec![0; area],
            anchor: vec![0; area],
            remap_table: vec![[0; 256]; 256],
            pair_samples: PairSamples::default(),
            rng: SplitMix64::new(params.seed),
            initialised: false,
        }
    }

    pub(crate) fn is_initialised(&self) -> bool {
        self.initialised
    }

    /// Samples per pixel, as clamped when the model was made.
    pub(crate) fn samples_per_pixel(&self) -> usize {
        self.params.samples_per_pixel
    }

    /// The reference background on the canvas, `canvas_width` pixels a row.
    pub(crate) fn reference(&self) -> &[u8] {
        &self.reference
    }

    /// Where sample `k` of canvas pixel `(cx, cy)` lives in `samples`.
    fn slot(&self, cx: usize, cy: usize, k: usize) -> usize {
        (cy * self.params.samples_per_pixel + k) * self.canvas_width + cx
    }

    /// The canvas position of frame pixel `(0, 0)` at `shift`.
    fn origin(&self, shift: (i32, i32)) -> (usize, usize) {
        let m = self.margin as i32;
        ((m + shift.0) as usize, (m + shift.1) as usize)
    }

    /// Starts the model from the first frame, placed at shift (0, 0): its pixels' samples, and
    /// the whole reference canvas (the frame's edges repeated outward).
    pub(crate) fn initialise(&mut self, luma: &[u8]) {
        let (w, h, m) = (self.width, self.height, self.margin);
        for cy in 0..self.canvas_height {
            let y = cy.saturating_sub(m).min(h - 1);
            for cx in 0..self.canvas_width {
                let x = cx.saturating_sub(m).min(w - 1);
                self.reference[cy * self.canvas_width + cx] = luma[y * w + x];
            }
        }
        for y in 0..h {
            self.reveal_row(luma, y, (0, 0));
            let c = (y + m) * self.canvas_width + m;
            for (anchor, &v) in self.anchor[c..c + w]
                .iter_mut()
                .zip(&luma[y * w..(y + 1) * w])
            {
                *anchor = v.max(1);
            }
        }
        self.initialised = true;
    }

    /// Initialises the canvas pixels under frame row `y` at `shift` that no frame has shown
    /// before, as ViBe does from one frame: samples drawn from the pixel's 3x3 neighbourhood
    /// (sample 0 is the pixel itself), so the spatial spread absorbs small misalignment.
    fn reveal_row(&mut self, luma: &[u8], y: usize, shift: (i32, i32)) {
        let (w, h) = (self.width, self.height);
        let (ox, oy) = self.origin(shift);
        let row_start = (y + oy) * self.canvas_width + ox;
        if !self.radius[row_start..row_start + w].contains(&0) {
            return;
        }
        for x in 0..w {
            let c = row_start + x;
            if self.radius[c] != 0 {
                continue;
            }
            for k in 0..self.params.samples_per_pixel {
                let (nx, ny) = if k == 0 {
                    (x, y)
                } else {
                    let which = self.rng.below(9) as usize;
                    clamped_neighbour(x, y, w, h, (which % 3, which / 3))
                };
                let slot = self.slot(x + ox, y + oy, k);
                self.samples[slot] = luma[ny * w + nx];
            }
            self.radius[c] = self.params.match_radius_luma;
            self.reference[c] = luma[y * w + x];
            self.previous_raw[c] = 0;
            self.foreground_frames[c] = 0;
            self.trust[c] = 0;
            self.flicker[c] = 0;
        }
    }

    /// The grid of [`SampleModel::sample_pairs`], at most [`MAX_PAIRS`] pixels: its rows, each
    /// with the sample its first pixel pairs with, and its columns. Grid pixel `(x, y)` pairs
    /// with sample `k = (x / step + y / step) mod N`, counted rather than divided.
    fn pair_grid(
        &self,
    ) -> (
        impl Iterator<Item = (usize, usize)> + Clone + use<>,
        StepBy<Range<usize>>,
    ) {
        let (w, h, n) = (self.width, self.height, self.params.samples_per_pixel);
        let mut step = 1;
        while (w / step) * (h / step) > MAX_PAIRS {
            step += 1;
        }
        let rows = (step / 2..h).step_by(step).zip((0..n).cycle());
        (rows, (step / 2..w).step_by(step))
    }

    /// Reads, while this frame left the model in cache, what the next frame's
    /// [`SampleModel::sample_pairs`] takes from the model if it comes at the same `shift`
    /// (nothing changes the model between frames). On a model read cold, as each camera's is
    /// when a service runs many, those reads were most of what the brightness sampling cost.
    pub(crate) fn read_ahead(&mut self, shift: (i32, i32)) {
        let (ox, oy) = self.origin(shift);
        let (n, cw) = (self.params.samples_per_pixel, self.canvas_width);
        let (rows, columns) = self.pair_grid();
        let mut pixels = std::mem::take(&mut self.pair_samples.pixels);
        pixels.resize(rows.clone().count() * columns.len(), None);
        for ((y, mut k), row_pixels) in rows.zip(pixels.chunks_exact_mut(columns.len())) {
            for (x, pixel) in columns.clone().zip(row_pixels) {
                let c = (y + oy) * cw + ox + x;
                let background = self.radius[c] != 0 && self.foreground_frames[c] == 0;
                *pixel = background
                    .then(|| (self.samples[self.slot(x + ox, y + oy, k)], self.anchor[c]));
                k = if k + 1 == n { 0 } else { k + 1 };
            }
        }
        self.pair_samples = PairSamples {
            shift: Some(shift),
            pixels,
        };
    }

    /// Feeds `tone` the (frame luma, sample, anchor) of a sparse grid of pixels that were
    /// background on the previous frame, at `shift`; from the model as read ahead when the
    /// shift is the same.
    pub(crate) fn sample_pairs(&mut self, luma: &[u8], shift: (i32, i32), tone: &mut ToneMap) {
        if self.pair_samples.shift != Some(shift) {
            self.read_ahead(shift);
        }
        // Good for this frame only: the frame changes the model.
        self.pair_samples.shift = None;
        let (rows, columns) = self.pair_grid();
        tone.clear();
        let grid_rows = rows.zip(self.pair_samples.pixels.chunks_exact(columns.len()));
        for ((y, _), row_pixels) in grid_rows {
            let frame_row = &luma[y * self.width..];
            for (x, &pixel) in columns.clone().zip(row_pixels) {
                if let Some((sample, anchor)) = pixel {
                    tone.add(frame_row[x], sample, anchor);
                }
            }
        }
    }

    /// Maps the model onto a new brightness of the whole picture (`visible` and `hidden`: model
    /// luma to the luma it has now, see `tone`); `luma` is the frame, at `shift`.
    ///
    /// The model's updates keep pulling the samples of background in view towards the frame,
    /// but nothing records which samples they wrote since the last remap: those need at most
    /// what the samples still show (`visible`), older ones the whole change since then
    /// (`hidden`). So each sample of such a pixel, and its reference, takes whichever of the
    /// two lies closer to the pixel's luma now. Every other sample (a place hidden behind an
    /// object, or outside the frame: nothing updates them) and every anchor takes `hidden`.
    /// Then a background pixel in view without an anchor, or whose anchor now differs from its
    /// luma by more than [`REANCHOR_LUMA`] (the place holds something else than when it was
    /// anchored: a parked car, a moved chair), is anchored to its luma.
    pub(crate) fn remap(
        &mut self,
        visible: &[u8; 256],
        hidden: &[u8; 256],
        luma: &[u8],
        shift: (i32, i32),
    ) {
        let (w, n, cw) = (self.width, self.params.samples_per_pixel, self.canvas_width);
        let (ox, oy) = self.origin(shift);
        // Map `now` of the table is for the samples of a background pixel whose luma is `now`.
        for (now, map) in self.remap_table.iter_mut().enumerate() {
            for ((out, &all), &rest) in map.iter_mut().zip(hidden).zip(visible) {
                let now = now as u8;
                *out = if all.abs_diff(now) <= rest.abs_diff(now) {
                    all
                } else {
                    rest
                };
            }
        }
        let table = &self.remap_table;
        for (cy, (row, reference)) in self
            .samples
            .chunks_exact_mut(n * cw)
            .zip(self.reference.chunks_exact_mut(cw))
            .enumerate()
        {
            let Some(y) = cy.checked_sub(oy).filter(|&y| y < self.height) else {
                for v in row.iter_mut().chain(reference.iter_mut()) {
                    *v = hidden[usize::from(*v)];
                }
                continue;
            };
            // The map of each pixel, for a stretch of the row at a time.
            const STRETCH: usize = 256;
            for start in (0..cw).step_by(STRETCH) {
                let end = (start + STRETCH).min(cw);
                let mut maps = [hidden; STRETCH];
                for (cx, map) in (start..end).zip(maps.iter_mut()) {
                    let x = cx.wrapping_sub(ox);
                    if x < w {
                        *map = if self.foreground_frames[cy * cw + cx] == 0 {
                            &table[usize::from(luma[y * w + x])]
                        } else {
                            hidden
                        };
                    }
                }
                for run in row
                    .chunks_exact_mut(cw)
                    .chain(std::iter::once(&mut *reference))
                {
                    for (v, map) in run[start..end].iter_mut().zip(&maps) {
                        *v = map[usize::from(*v)];
                    }
                }
            }
        }
        for v in self.anchor.iter_mut().filter(|v| **v != 0) {
            *v = hidden[usize::from(*v)];
        }
        for (y, frame) in luma.chunks_exact(w).enumerate() {
            let c = (y + oy) * cw + ox;
            for (x, &now) in frame.iter().enumerate() {
                let anchor = &mut self.anchor[c + x];
                let seen = self.radius[c + x] != 0 && self.foreground_frames[c + x] == 0;
                if seen && (*anchor == 0 || anchor.abs_diff(now) > REANCHOR_LUMA) {
                    *anchor = now.max(1);
                }
            }
        }
    }

    /// Initialises the canvas pixels under the frame at `shift` that no frame has shown
    /// before (see [`SampleModel::reveal_row`]), so that every pixel under the frame has a
    /// model before it is classified.
    pub(crate) fn reveal(&mut self, luma: &[u8], shift: (i32, i32)) {
        for y in 0..self.height {
            self.reveal_row(luma, y, shift);
        }
    }

    /// Classifies every pixel of the frame at `shift` (after [`SampleModel::reveal`]), row by
    /// row: writes 255 into `raw_mask` (frame coordinates) for every pixel with fewer than
    /// `min_matches` samples closer than its radius to its luma (foreground), 0 otherwise. The
    /// radius is the pixel's own, but at least `min_radius_luma` (the frame's noise allowance).
    pub(crate) fn segment(
        &self,
        luma: &[u8],
        shift: (i32, i32),
        min_radius_luma: u8,
        raw_mask: &mut [u8],
    ) {
        self.segment_rows(luma, shift, min_radius_luma, 0..self.height, raw_mask);
    }

    /// [`SampleModel::segment`] on strips of `rows_per_strip` frame rows, each on a thread of
    /// the current rayon pool. Classification only reads the model, so the mask is the same.
    pub(crate) fn segment_strips(
        &self,
        luma: &[u8],
        shift: (i32, i32),
        min_radius_luma: u8,
        rows_per_strip: usize,
        raw_mask: &mut [u8],
    ) {
        raw_mask
            .par_chunks_mut(rows_per_strip * self.width)
            .with_max_len(1)
            .enumerate()
            .for_each(|(i, strip)| {
                let first = i * rows_per_strip;
                let rows = first..first + strip.len() / self.width;
                self.segment_rows(luma, shift, min_radius_luma, rows, strip);
            });
    }

    /// [`SampleModel::segment`] on frame rows `rows` only; `raw_mask` holds those rows.
    fn segment_rows(
        &self,
        luma: &[u8],
        shift: (i32, i32),
        min_radius_luma: u8,
        rows: Range<usize>,
        raw_mask: &mut [u8],
    ) {
        let w = self.width;
        let (ox, oy) = self.origin(shift);
        let (n, cw) = (self.params.samples_per_pixel, self.canvas_width);
        let first = rows.start;
        for y in rows {
            let cy = y + oy;
            let row_samples = &self.samples[cy * n * cw + ox..(cy + 1) * n * cw + LANE_PIXELS];
            let radius_row = &self.radius[cy * cw + ox..];
            let luma_row = &luma[y * w..(y + 1) * w];
            let mask_row = &mut raw_mask[(y - first) * w..(y - first + 1) * w];
            for start in (0..w).step_by(BLOCK_PIXELS) {
                let end = (start + BLOCK_PIXELS).min(w);
                classify_block(
                    &row_samples[start..],
                    cw,
                    n,
                    &radius_row[start..],
                    min_radius_luma,
                    &luma_row[start..end],
                    self.params.min_matches,
                    &mut mask_row[start..end],
                );
            }
        }
    }

    /// Clears from `raw_mask` (frame coordinates, from [`SampleModel::segment`]) every
    /// foreground pixel that is the reference background under less light above the black
    /// level `black`, on the window around it at `shift` ([`is_shading`]): a soft shadow or a
    /// dark reflection rather than an object. Pixels within half a window of the frame's border
    /// are left as they are. Returns whether any pixel was cleared.
    pub(crate) fn clear_shading(
        &self,
        luma: &[u8],
        shift: (i32, i32),
        black: u8,
        raw_mask: &mut [u8],
    ) -> bool {
        const HALF: usize = shading::WINDOW / 2;
        let (w, h) = (self.width, self.height);
        if w < shading::WINDOW || h < shading::WINDOW {
            return false;
        }
        let (ox, oy) = self.origin(shift);
        let cw = self.canvas_width;
        let mut cleared = false;
        for y in HALF..h - HALF {
            let row = &mut raw_mask[y * w..(y + 1) * w];
            let luma_row = &luma[y * w..(y + 1) * w];
            let c_row = (y + oy) * cw + ox;
            let reference_row = &self.reference[c_row..c_row + w];
            // Most of a frame is background: skip it a lane at a time, then eight pixels at a
            // time. The test reads only luma and the reference, never the mask, so clearing as
            // it goes changes nothing for the pixels after.
            for (lane_index, lane) in row.chunks_mut(LANE_PIXELS).enumerate() {
                if !any_nonzero(lane) {
                    continue;
                }
                for (word_index, word) in lane.chunks_mut(8).enumerate() {
                    let mut foreground = nonzero_bytes(word);
                    while foreground != 0 {
                        let i = foreground.trailing_zeros() as usize;
                        foreground &= foreground - 1;
                        let x = lane_index * LANE_PIXELS + word_index * 8 + i;
                        if x < HALF
                            || x >= w - HALF
                            || !shading::might_be_shading(
                                luma_row[x].saturating_sub(black),
                                reference_row[x].saturating_sub(black),
                            )
                        {
                            continue;
                        }
                        // The window's top-left pixel, in the frame and on the canvas.
                        let (f, c) = ((y - HALF) * w + x - HALF, c_row - HALF * cw + x - HALF);
                        if is_shading(&luma[f..], w, &self.reference[c..], cw, black) {
                            word[i] = 0;
                            cleared = true;
                        }
                    }
                }
            }
        }
        cleared
    }

    /// Updates the model after the frame at `shift` was classified (`raw_mask`) and its final
    /// mask settled (`final_mask`: cleaned, holes filled, small blobs removed; both in frame
    /// coordinates).
    ///
    /// The update is ViBe's conservative random update: each pixel of the final background is,
    /// with probability 1/`update_subsampling`, written into one of its own samples and into
    /// one sample of a random 8-neighbour (when propagation is enabled, and when that
    /// neighbour was background on the previous frame). A pixel that has been foreground for
    /// `absorb_after_frames` frames in a row is updated as if it were background, so whatever
    /// stopped there fades into the background. Pixels are visited by random jumps of mean
    /// `update_subsampling`, so the cost is one random draw per visited pixel, not per pixel.
    /// Then ghost removal runs (see [`SampleModel::absorb_ghosts`]).
    pub(crate) fn update(
        &mut self,
        luma: &[u8],
        shift: (i32, i32),
        raw_mask: &[u8],
        final_mask: &[u8],
    ) {
        let (w, h) = (self.width, self.height);
        let (ox, oy) = self.origin(shift);
        let mut visits = Visits::new(&mut self.rng, self.params.update_subsampling, w);
        for y in 0..h {
            // The canvas index of frame pixel (0, y), and where its sample 0 is.
            let c_row = (y + oy) * self.canvas_width + ox;
            let sample_row = (y + oy) * self.params.samples_per_pixel * self.canvas_width + ox;
            let (luma_row, raw_row, final_row) = (
                &luma[y * w..(y + 1) * w],
                &raw_mask[y * w..(y + 1) * w],
                &final_mask[y * w..(y + 1) * w],
            );
            while let Some(x) = visits.next_in_row(y, &mut self.rng) {
                let c = c_row + x;
                let (absorbs, stationary) =
                    self.visit_rules().absorbs(c, raw_row[x] | final_row[x]);
                if absorbs {
                    self.absorb((x, y), (c, sample_row + x), luma_row[x], visits.draw);
                }
                if stationary {
                    self.trust[c] = 0;
                }
            }
        }
        self.absorb_ghosts(luma, shift, raw_mask);
    }

    /// Ghost removal: every pixel that has been foreground for at least `ghost_after_frames`
    /// frames compares its luma with the samples of one random 8-neighbour that is background
    /// on this frame; when enough of them match (the pixel looks like the background next to
    /// it: the place an object left, not the object), its luma replaces one of its own
    /// samples. A ghost dissolves from its border inwards, about a pixel every two frames; an
    /// object that stopped does not look like the background beside it and stays.
    fn absorb_ghosts(&mut self, luma: &[u8], shift: (i32, i32), raw_mask: &[u8]) {
        let after = self.params.ghost_after_frames;
        if after == 0 {
            return;
        }
        let (w, h) = (self.width, self.height);
        let (ox, oy) = self.origin(shift);
        let n = self.params.samples_per_pixel;
        for y in 0..h {
            let c_row = (y + oy) * self.canvas_width + ox;
            let row = &raw_mask[y * w..(y + 1) * w];
            // Most of a frame is background: skip it a lane at a time, then eight pixels at a
            // time.
            let lanes = row.chunks(LANE_PIXELS).enumerate();
            let words = lanes
                .filter(|(_, lane)| lane.iter().fold(0, |any, &m| any | m) != 0)
                .flat_map(|(i, lane)| {
                    lane.chunks(8)
                        .enumerate()
                        .map(move |(j, word)| (i * LANE_PIXELS + j * 8, word))
                });
            for (word_start, word) in words {
                let mut foreground = nonzero_bytes(word);
                while foreground != 0 {
                    let x = word_start + foreground.trailing_zeros() as usize;
                    foreground &= foreground - 1;
                    // One draw per raw-foreground pixel, eligible or not, so that the draws do
                    // not depend on the model's state (see `draw_update`).
                    let draw = self.rng.next_u64();
                    let c = c_row + x;
                    if self.foreground_frames[c] < after || self.trust[c] == TRUSTED {
                        continue;
                    }
                    let choice = GhostChoice::from_draw(draw, n);
                    let Some((nx, ny)) = neighbour(x, y, w, h, choice.dir) else {
                        continue;
                    };
                    if raw_mask[ny * w + nx] != 0 {
                        continue;
                    }
                    let (ncx, ncy) = (nx + ox, ny + oy);
                    let radius = self.radius[ncy * self.canvas_width + ncx];
                    let value = luma[y * w + x];
                    let mut matches = 0;
                    for k in 0..n {
                        let sample = self.samples[self.slot(ncx, ncy, k)];
                        matches += u8::from(sample.abs_diff(value) < radius);
                        if matches >= self.params.min_matches {
                            let own = self.slot(x + ox, y + oy, choice.slot);
                            self.samples[own] = value;
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Writes `value`, the background luma of frame pixel `(x, y)`, into one of its samples and
    /// one of a neighbour's in the frame, choosing both from the random bits of `draw`
    /// ([`VisitChoice`]). `c` is the pixel's canvas index, `sample_base` where its sample 0
    /// is in `samples` (both computed once per row by the caller).
    fn absorb(
        &mut self,
        (x, y): (usize, usize),
        (c, sample_base): (usize, usize),
        value: u8,
        draw: u64,
    ) {
        let (own, theirs) = self.visit_rules().slots((x, y), (c, sample_base), draw);
        self.samples[own] = value;
        if let Some(theirs) = theirs {
            self.samples[theirs] = value;
        }
    }

    /// What a visit of the update reads to decide what it writes.
    fn visit_rules(&self) -> VisitRules<'_> {
        VisitRules {
            width: self.width,
            height: self.height,
            canvas_width: self.canvas_width,
            samples_per_pixel: self.params.samples_per_pixel,
            propagation_enabled: self.params.propagation_enabled,
            absorb_after_frames: self.params.absorb_after_frames,
            foreground_frames: &self.foreground_frames,
        }
    }

    /// [`SampleModel::update`] with the visits' writes applied strip by strip (strips of
    /// `rows_per_strip` frame rows, each on a thread of the current rayon pool), with the
    /// same result. The walk is taken first, on this thread, noting its state at the start of
    /// every row in `walk`; then each strip walks again from the row above it to the row
    /// below it and makes the writes that land in its own rows (a visit writes its own pixel
    /// and one neighbour), in the walk's order: every sample sees the writes it would have
    /// seen, in the same order, so the last one wins as before. Ghost removal follows on this
    /// thread.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn update_strips(
        &mut self,
        luma: &[u8],
        shift: (i32, i32),
        raw_mask: &[u8],
        final_mask: &[u8],
        rows_per_strip: usize,
        walk: &mut WalkStarts,
    ) {
        let (w, h) = (self.width, self.height);
        let (n, cw) = (self.params.samples_per_pixel, self.canvas_width);
        let (ox, oy) = self.origin(shift);
        let mut visits = Visits::new(&mut self.rng, self.params.update_subsampling, w);
        for (y, start) in walk.rows.iter_mut().enumerate().take(h) {
            *start = (visits.clone(), self.rng.clone());
            while visits.next_in_row(y, &mut self.rng).is_some() {}
        }
        // Out of the model while the strips write them, so the rules can borrow the rest.
        let mut samples = std::mem::take(&mut self.samples);
        let mut trust = std::mem::take(&mut self.trust);
        let rules = self.visit_rules();
        let starts = &walk.rows;
        (
            samples[oy * n * cw..(oy + h) * n * cw].par_chunks_mut(rows_per_strip * n * cw),
            trust[oy * cw..(oy + h) * cw].par_chunks_mut(rows_per_strip * cw),
        )
            .into_par_iter()
            .with_max_len(1)
            .enumerate()
            .for_each(|(i, (samples, trust))| {
                let first = i * rows_per_strip;
                let end = first + trust.len() / cw;
                // Where the strip's first sample and canvas pixel are on the canvas.
                let (sample_start, c_start) = ((first + oy) * n * cw, (first + oy) * cw);
                let mut write = |slot: usize, value: u8| {
                    if let Some(s) = slot
                        .checked_sub(sample_start)
                        .and_then(|k| samples.get_mut(k))
                    {
                        *s = value;
                    }
                };
                let (mut visits, mut rng) = starts[first.saturating_sub(1)].clone();
                for y in first.saturating_sub(1)..(end + 1).min(h) {
                    while let Some(x) = visits.next_in_row(y, &mut rng) {
                        let (p, c) = (y * w + x, (y + oy) * cw + ox + x);
                        let (absorbs, stationary) = rules.absorbs(c, raw_mask[p] | final_mask[p]);
                        if absorbs {
                            let sample_base = (y + oy) * n * cw + ox + x;
                            let (own, theirs) = rules.slots((x, y), (c, sample_base), visits.draw);
                            write(own, luma[p]);
                            if let Some(theirs) = theirs {
                                write(theirs, luma[p]);
                            }
                        }
                        if let Some(t) = c.checked_sub(c_start).and_then(|k| trust.get_mut(k))
                            && stationary
                        {
                            *t = 0;
                        }
                    }
                }
            });
        self.samples = samples;
        self.trust = trust;
        self.absorb_ghosts(luma, shift, raw_mask);
    }

    /// Learns from this frame's masks (frame coordinates, at `shift`), for the next frame:
    /// counts how long each pixel has been foreground, moves the reference towards `luma`
    /// where the frame is background, and runs the flicker feedback. A pixel whose raw
    /// classification changed since the previous frame while it is not in the cleaned
    /// foreground `clean` (swaying leaves, shaking edges, sensor noise: not an object) gains
    /// `flicker_increment`, any other loses `flicker_decrement`, and its radius becomes
    /// `match_radius_luma` plus `flicker * flicker_max_extra_radius_luma / 256`.
    pub(crate) fn learn(&mut self, luma: &[u8], shift: (i32, i32), raw_mask: &[u8], clean: &[u8]) {
        let (ox, oy) = self.origin(shift);
        self.learn_rows(ox, oy).learn(luma, raw_mask, clean);
    }

    /// [`SampleModel::learn`] on strips of `rows_per_strip` frame rows, each on a thread of the
    /// current rayon pool. Each pixel learns from its own values only, so the model is the same.
    pub(crate) fn learn_strips(
        &mut self,
        luma: &[u8],
        shift: (i32, i32),
        raw_mask: &[u8],
        clean: &[u8],
        rows_per_strip: usize,
    ) {
        let (ox, oy) = self.origin(shift);
        let (w, cw) = (self.width, self.canvas_width);
        let (frame, canvas) = (rows_per_strip * w, rows_per_strip * cw);
        let rows = self.learn_rows(ox, oy);
        let params = rows.params;
        (
            rows.foreground_frames.par_chunks_mut(canvas),
            rows.trust.par_chunks_mut(canvas),
            rows.reference.par_chunks_mut(canvas),
            rows.flicker.par_chunks_mut(canvas),
            rows.radius.par_chunks_mut(canvas),
            rows.previous_raw.par_chunks_mut(canvas),
            (luma.par_chunks(frame), raw_mask.par_chunks(frame)),
            clean.par_chunks(frame),
        )
            .into_par_iter()
            .with_max_len(1)
            .for_each(
                |(
                    foreground_frames,
                    trust,
                    reference,
                    flicker,
                    radius,
                    previous_raw,
                    (l, r),
                    c,
                )| {
                    let mut strip = LearnRows {
                        params,
                        width: w,
                        height: l.len() / w,
                        canvas_width: cw,
                        origin: (ox, 0),
                        foreground_frames,
                        trust,
                        reference,
                        flicker,
                        radius,
                        previous_raw,
                    };
                    strip.learn(l, r, c);
                },
            );
    }

    /// The state [`SampleModel::learn`] writes, on the canvas rows under the frame when frame
    /// pixel `(0, 0)` is canvas pixel `(ox, oy)`.
    fn learn_rows(&mut self, ox: usize, oy: usize) -> LearnRows<'_> {
        let cw = self.canvas_width;
        let under = oy * cw..(oy + self.height) * cw;
        LearnRows {
            params: self.params,
            width: self.width,
            height: self.height,
            canvas_width: cw,
            origin: (ox, 0),
            foreground_frames: &mut self.foreground_frames[under.clone()],
            trust: &mut self.trust[under.clone()],
            reference: &mut self.reference[under.clone()],
            flicker: &mut self.flicker[under.clone()],
            radius: &mut self.radius[under.clone()],
            previous_raw: &mut self.previous_raw[under],
        }
    }
}

/// The per-pixel state [`SampleModel::learn`] writes, on a run of whole canvas rows: those
/// under `height` rows of the frame (a strip, or the whole frame).
struct LearnRows<'a> {
    params: DetectorOptions,
    /// Frame width.
    width: usize,
    /// Frame rows.
    height: usize,
    canvas_width: usize,
    /// Where the first frame row's pixel 0 is in these rows.
    origin: (usize, usize),
    foreground_frames: &'a mut [u16],
    trust: &'a mut [u8],
    reference: &'a mut [u8],
    flicker: &'a mut [u8],
    radius: &'a mut [u8],
    previous_raw: &'a mut [u8],
}

impl LearnRows<'_> {
    /// [`SampleModel::learn`] on these rows; `luma`, `raw_mask` and `clean` hold the same rows
    /// of the frame.
    fn learn(&mut self, luma: &[u8], raw_mask: &[u8], clean: &[u8]) {
        let p = self.params;
        let w = self.width;
        let (ox, oy) = self.origin;
        let extra = u16::from(p.flicker_max_extra_radius_luma);
        for y in 0..self.height {
            let c = (y + oy) * self.canvas_width + ox..(y + oy) * self.canvas_width + ox + w;
            let frame = y * w..(y + 1) * w;
            let raw_row = &raw_mask[frame.clone()];
            let clean_row = &clean[frame.clone()];
            for ((count, trust), &now) in self.foreground_frames[c.clone()]
                .iter_mut()
                .zip(&mut self.trust[c.clone()])
                .zip(raw_row)
            {
                *count = if now != 0 { count.saturating_add(1) } else { 0 };
                *trust = trust.saturating_add(u8::from(now == 0));
            }
            for ((r, &v), &fg) in self.reference[c.clone()]
                .iter_mut()
                .zip(&luma[frame.clone()])
                .zip(clean_row)
            {
                let step = u8::from(fg == 0);
                *r = if v > *r {
                    r.saturating_add(step)
                } else if v < *r {
                    r.saturating_sub(step)
                } else {
                    *r
                };
            }
            if p.flicker_increment == 0 {
                continue;
            }
            for ((((f, r), previous), &now), &cl) in self.flicker[c.clone()]
                .iter_mut()
                .zip(self.radius[c.clone()].iter_mut())
                .zip(self.previous_raw[c.clone()].iter_mut())
                .zip(raw_row)
                .zip(clean_row)
            {
                let flickered = (*previous ^ now) & !cl != 0;
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
}

impl SampleModel {
    /// Copies the model under the frame at `shift` into `state` (frame coordinates) for a
    /// [`crate::PixelBackend`] ([`Towards::State`]), or `state` as the backend left it back
    /// onto the canvas ([`Towards::Canvas`]).
    pub(crate) fn exchange_window(
        &mut self,
        shift: (i32, i32),
        state: &mut PixelState,
        towards: Towards,
    ) {
        let (w, n, cw) = (self.width, self.params.samples_per_pixel, self.canvas_width);
        let (ox, oy) = self.origin(shift);
        for y in 0..self.height {
            let c = (y + oy) * cw + ox..(y + oy) * cw + ox + w;
            let f = y * w..(y + 1) * w;
            for k in 0..n {
                let from = self.slot(ox, y + oy, k);
                towards.copy(
                    &mut self.samples[from..from + w],
                    &mut state.samples[(y * n + k) * w..(y * n + k + 1) * w],
                );
            }
            towards.copy(&mut self.radius[c.clone()], &mut state.radius[f.clone()]);
            towards.copy(&mut self.flicker[c.clone()], &mut state.flicker[f.clone()]);
            towards.copy(
                &mut self.previous_raw[c.clone()],
                &mut state.previous_raw[f.clone()],
            );
            towards.copy(&mut self.trust[c.clone()], &mut state.trust[f.clone()]);
            towards.copy(
                &mut self.reference[c.clone()],
                &mut state.reference[f.clone()],
            );
            towards.copy(
                &mut self.foreground_frames[c],
                &mut state.foreground_frames[f],
            );
        }
    }

    /// Draws this frame's update choices into `draws` for a [`crate::PixelBackend`], taking
    /// exactly the draws [`SampleModel::update`] takes, in the same order: the walk's visits,
    /// then (when ghost removal is on) one per raw-foreground pixel of `raw_mask`.
    pub(crate) fn draw_update(&mut self, raw_mask: &[u8], draws: &mut UpdateDraws) {
        let (w, h, n) = (self.width, self.height, self.params.samples_per_pixel);
        draws.own_slot.fill(-1);
        draws.ghost_dir.fill(-1);
        let mut visits = Visits::new(&mut self.rng, self.params.update_subsampling, w);
        for y in 0..h {
            while let Some(x) = visits.next_in_row(y, &mut self.rng) {
                let choice = VisitChoice::from_draw(visits.draw, n);
                let p = y * w + x;
                draws.own_slot[p] = choice.own_slot as i32;
                draws.spread_dir[p] = choice.spread_dir as i32;
                draws.spread_slot[p] = choice.spread_slot as i32;
            }
        }
        if self.params.ghost_after_frames == 0 {
            return;
        }
        for (p, _) in raw_mask.iter().enumerate().filter(|(_, m)| **m != 0) {
            let choice = GhostChoice::from_draw(self.rng.next_u64(), n);
            draws.ghost_dir[p] = choice.dir as i32;
            draws.ghost_slot[p] = choice.slot as i32;
        }
    }
}

#[cfg(test)]
impl SampleModel {
    /// This model as if built for one strip thread: the state to compare between detectors
    /// run on different numbers of threads.
    pub(crate) fn as_one_thread(&self) -> Self {
        Self {
            params: DetectorOptions {
                strip_threads: 1,
                ..self.params
            },
            ..self.clone()
        }
    }
}

/// What a visit of the model's update reads to decide what it writes (never the samples it
/// writes, so strips may apply the writes while they share this).
struct VisitRules<'a> {
    width: usize,
    height: usize,
    canvas_width: usize,
    samples_per_pixel: usize,
    propagation_enabled: bool,
    absorb_after_frames: u16,
    foreground_frames: &'a [u16],
}

impl VisitRules<'_> {
    /// Whether a visit of canvas pixel `c`, whose raw and final masks are `masks` (or-ed),
    /// writes its luma into the model, and whether that is because it has been foreground
    /// for `absorb_after_frames` (the object there is absorbed: its trust is reset).
    fn absorbs(&self, c: usize, masks: u8) -> (bool, bool) {
        let after = self.absorb_after_frames;
        let stationary = after > 0 && self.foreground_frames[c] >= after;
        (masks == 0 || stationary, stationary)
    }

    /// Where the visit of frame pixel `(x, y)` writes its luma, as indices into the samples:
    /// one of its own samples, and one of a neighbour's in the frame, choosing both from the
    /// random bits of `draw` ([`VisitChoice`]). `c` is the pixel's canvas index,
    /// `sample_base` where its sample 0 is.
    fn slots(
        &self,
        (x, y): (usize, usize),
        (c, sample_base): (usize, usize),
        draw: u64,
    ) -> (usize, Option<usize>) {
        let (n, cw) = (self.samples_per_pixel, self.canvas_width);
        let choice = VisitChoice::from_draw(draw, n);
        let own = sample_base + choice.own_slot * cw;
        if !self.propagation_enabled {
            return (own, None);
        }
        // A neighbour outside the frame is left alone (the graphs see only the frame); one
        // that was foreground on the previous frame too, so that an object that stopped is
        // not eaten from within through its camouflaged pixels.
        let (dx, dy) = DIRECTIONS[choice.spread_dir];
        // Off the frame's left or top edge, the wrapped coordinate exceeds any width.
        if x.wrapping_add_signed(dx) < self.width && y.wrapping_add_signed(dy) < self.height {
            let theirs = c.wrapping_add_signed(dy * cw as isize + dx);
            if self.foreground_frames[theirs] == 0 {
                let their_samples = sample_base.wrapping_add_signed(dy * (n * cw) as isize + dx);
                return (own, Some(their_samples + choice.spread_slot * cw));
            }
        }
        (own, None)
    }
}

/// Where [`SampleModel::update_strips`]'s walk over the frame stood at the start of each row.
#[derive(Debug, Clone)]
pub(crate) struct WalkStarts {
    rows: Vec<(Visits, SplitMix64)>,
}

impl WalkStarts {
    pub(crate) fn new(height: usize) -> Self {
        let start = (
            Visits {
                width: 1,
                x: 0,
                y: 0,
                jump_span: 1,
                draw: 0,
            },
            SplitMix64::new(0),
        );
        Self {
            rows: vec![start; height],
        }
    }
}

/// Which way [`SampleModel::exchange_window`] copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Towards {
    /// From the canvas into the backend's state.
    State,
    /// From the backend's state back onto the canvas.
    Canvas,
}

impl Towards {
    fn copy<T: Copy>(self, canvas: &mut [T], state: &mut [T]) {
        match self {
            Towards::State => state.copy_from_slice(canvas),
            Towards::Canvas => canvas.copy_from_slice(state),
        }
    }
}

/// The random walk over the frame that picks the pixels to update: jumps uniform in
/// `1..=2 * update_subsampling - 1` (mean `update_subsampling`), in raster order.
#[derive(Debug, Clone)]
struct Visits {
    width: usize,
    /// Column and row of the next pixel to visit.
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
            x: next % width,
            y: next / width,
            jump_span: 2 * u64::from(update_subsampling) - 1,
            draw: 0,
        }
    }

    /// The column of the next pixel to visit, if it is on row `y` (rows are asked for in
    /// order). One draw per visit serves both the jump (its top 16 bits, biased by under 3%
    /// for spans up to 2047) and the update.
    fn next_in_row(&mut self, y: usize, rng: &mut SplitMix64) -> Option<usize> {
        if self.y != y {
            return None;
        }
        let here = self.x;
        self.draw = rng.next_u64();
        let jump = 1 + (((self.draw >> 48) * self.jump_span) >> 16) as usize;
        self.x += jump;
        while self.x >= self.width {
            self.x -= self.width;
            self.y += 1;
        }
        Some(here)
    }
}

/// Classifies one block of up to `BLOCK_PIXELS` pixels of a row: sample `k` of the block's
/// pixels starts at `samples[k * stride]`, their radii at `radius[0]` (both padded by a lane
/// past the row); `luma` and `raw_mask` are the block's pixels.
///
/// The block is walked sample by sample, each sample's run of the row being read in one
/// sweep (the memory is read in order, which the hardware prefetches; lane by lane, with
/// every lane jumping across `N` runs, was slower). Once every pixel has `min_matches`, the
/// remaining samples cannot change the answer and are skipped.
#[allow(clippy::too_many_arguments)]
fn classify_block(
    samples: &[u8],
    stride: usize,
    sample_count: usize,
    radius: &[u8],
    min_radius: u8,
    luma: &[u8],
    min_matches: u8,
    raw_mask: &mut [u8],
) {
    let lanes = luma.len().div_ceil(LANE_PIXELS);
    // A sample `s` matches pixel `p` of radius `r` when `|s - p| < r`, that is when `s` lies in
    // `p - (r - 1) ..= p + (r - 1)` (saturating at 0 and 255; every pixel under the frame has
    // a radius of at least 1): a clamp and a compare per sample. Pixels past the block's end
    // match everything, so they never keep it from settling.
    let mut low = [[u8::MIN; LANE_PIXELS]; BLOCK_LANES];
    let mut high = [[u8::MAX; LANE_PIXELS]; BLOCK_LANES];
    for (l, (low, high)) in low.iter_mut().zip(&mut high).take(lanes).enumerate() {
        let start = l * LANE_PIXELS;
        let end = (start + LANE_PIXELS).min(luma.len());
        for (((low, high), &p), &r) in low
            .iter_mut()
            .zip(high.iter_mut())
            .zip(&luma[start..end])
            .zip(lane_of(radius, start))
        {
            let reach = r.max(min_radius).saturating_sub(1);
            *low = p.saturating_sub(reach);
            *high = p.saturating_add(reach);
        }
    }
    let mut matches = [[0u8; LANE_PIXELS]; BLOCK_LANES];
    let mut k = 0;
    while k < sample_count {
        let group_end = (k + SETTLED_CHECK_SAMPLES).min(sample_count);
        while k < group_end {
            let run = &samples[k * stride..];
            for l in 0..lanes {
                let lane_samples = lane_of(run, l * LANE_PIXELS);
                let (low, high, matches) = (&low[l], &high[l], &mut matches[l]);
                for i in 0..LANE_PIXELS {
                    let s = lane_samples[i];
                    matches[i] += u8::from(s.max(low[i]).min(high[i]) == s);
                }
            }
            k += 1;
        }
        let fewest = matches[..lanes]
            .as_flattened()
            .iter()
            .fold(u8::MAX, |a, &m| a.min(m));
        if fewest >= min_matches {
            break;
        }
    }
    for (out, &m) in raw_mask.iter_mut().zip(matches.as_flattened()) {
        *out = if m < min_matches { 255 } else { 0 };
    }
}

/// Bit `i` set where byte `i` of `bytes` (at most 8) is not zero.
fn nonzero_bytes(bytes: &[u8]) -> u32 {
    let word = match <[u8; 8]>::try_from(bytes) {
        Ok(word) => u64::from_le_bytes(word),
        Err(_) => bytes
            .iter()
            .rev()
            .fold(0, |word, &b| (word << 8) | u64::from(b)),
    };
    if word == 0 {
        return 0;
    }
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    // The top bit of each byte: set when the byte is not zero.
    let high = (((word & LOW7) + LOW7) | word) & !LOW7;
    // Gather the eight top bits into the low byte.
    ((high >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
}

/// Whether any byte of `bytes` is not zero, eight bytes at a time (the compiler ORs whole
/// vectors).
fn any_nonzero(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    let any = words.by_ref().fold(0, |any, word| {
        any | u64::from_le_bytes(<[u8; 8]>::try_from(word).unwrap_or_default())
    });
    any != 0 || words.remainder().iter().any(|&b| b != 0)
}

/// The `LANE_PIXELS` values of a padded per-pixel buffer from `start`.
fn lane_of(values: &[u8], start: usize) -> &[u8; LANE_PIXELS] {
    values[start..start + LANE_PIXELS]
        .try_into()
        .expect("per-pixel buffers are padded by a lane")
}

/// The 8 neighbours as `(dx, dy)`, indexed by the direction the draws choose (the order of
/// `docs/design/onnx.md`).
const DIRECTIONS: [(isize, isize); 8] = [
    (-1, -1),
    (0, -1),
    (1, -1),
    (-1, 0),
    (1, 0),
    (-1, 1),
    (0, 1),
    (1, 1),
];

/// The neighbour of `(x, y)` in direction `dir` (0..=7), if it is inside the frame.
fn neighbour(
    x: usize,
    y: usize,
    width: usize,
    height: usize,
    dir: usize,
) -> Option<(usize, usize)> {
    let (dx, dy) = DIRECTIONS[dir];
    let nx = x.checked_add_signed(dx)?;
    let ny = y.checked_add_signed(dy)?;
    (nx < width && ny < height).then_some((nx, ny))
}

/// The pixel at `offset` (each coordinate 0..=2, where 1 is the pixel's own) around
/// `(x, y)`, clamped to the frame. Branch-free: the offsets are random, so branches on them
/// would mispredict.
fn clamped_neighbour(
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

/// What the brightness sampling reads from the model, read ahead
/// ([`SampleModel::read_ahead`]).
#[derive(Debug, Clone, Default)]
#[cfg_attr(test, derive(PartialEq))]
struct PairSamples {
    /// The shift they were read at; `None` once a frame has used them (and so changed the
    /// model).
    shift: Option<(i32, i32)>,
    /// Per grid pixel, in the grid's order: its sample and anchor, `None` where it was not
    /// background.
    pixels: Vec<Option<(u8, u8)>>,
}

/// The choices one visit of the update makes from its draw: three 16-bit fields, each scaled
/// to its range by a multiply-shift (biased by under 0.1% for ranges up to 64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct VisitChoice {
    /// The visited pixel's sample its luma may replace.
    own_slot: usize,
    /// The neighbour (direction 0..=7) its luma spreads to.
    spread_dir: usize,
    /// That neighbour's sample it may replace.
    spread_slot: usize,
}

impl VisitChoice {
    fn from_draw(draw: u64, samples_per_pixel: usize) -> Self {
        let field =
            |i: u32, bound: usize| ((((draw >> (16 * i)) & 0xFFFF) * bound as u64) >> 16) as usize;
        Self {
            own_slot: field(0, samples_per_pixel),
            spread_dir: field(1, 8),
            spread_slot: field(2, samples_per_pixel),
        }
    }
}

/// The choices ghost removal makes for one raw-foreground pixel from its draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GhostChoice {
    /// The neighbour (direction 0..=7) the pixel is compared with.
    dir: usize,
    /// The pixel's own sample its luma may replace.
    slot: usize,
}

impl GhostChoice {
    fn from_draw(draw: u64, samples_per_pixel: usize) -> Self {
        Self {
            dir: (draw & 7) as usize,
            slot: ((draw >> 8) % samples_per_pixel as u64) as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remap_gives_hidden_samples_the_whole_change_and_visible_ones_the_nearer_map() {
        let options = DetectorOptions {
            samples_per_pixel: 2,
            ..DetectorOptions::default()
        };
        let mut model = SampleModel::new(4, 1, 0, options.clamped());
        model.initialise(&[100; 4]);
        // Pixel 1 was foreground on the previous frame: hidden behind an object.
        model.foreground_frames[1] = 5;
        let visible: [u8; 256] = std::array::from_fn(|v| v as u8);
        let hidden: [u8; 256] = std::array::from_fn(|v| (v as u8).saturating_add(20));
        model.remap(&visible, &hidden, &[120, 50, 101, 115], (0, 0));
        // Every anchor takes the whole change (100 -> 120); one that differs from the frame
        // by more than REANCHOR_LUMA then takes the frame's luma.
        #[rustfmt::skip]
        let expected = [
            // (samples and reference, anchor)
            (120, 120), // reads as the whole change
            (120, 120), // hidden: the whole change
            (100, 101), // reads as no change; anchored afresh (19 from 120)
            (120, 120), // nearer the whole change than none
        ];
        for (x, (value, anchor)) in expected.into_iter().enumerate() {
            for k in 0..2 {
                assert_eq!(model.samples[model.slot(x, 0, k)], value, "pixel {x}");
            }
            assert_eq!(model.reference[x], value, "pixel {x}");
            assert_eq!(model.anchor[x], anchor, "pixel {x}");
        }
    }

    #[test]
    fn pairs_read_ahead_are_the_pairs_read_then_and_serve_one_frame_at_their_shift() {
        let (w, h, margin) = (40, 24, 3);
        let mut model = SampleModel::new(w, h, margin, DetectorOptions::default().clamped());
        let mut rng = SplitMix64::new(7);
        let mut frame = || -> Vec<u8> { (0..w * h).map(|_| 60 + rng.below(120) as u8).collect() };
        let (first, luma) = (frame(), frame());
        model.initialise(&first);
        model.reveal(&first, (1, -2));
        // Some pixels were foreground on the last frame: they give no pair.
        for c in (0..model.foreground_frames.len()).step_by(7) {
            model.foreground_frames[c] = 3;
        }
        let pairs = |model: &mut SampleModel, shift| {
            let mut tone = ToneMap::new();
            model.sample_pairs(&luma, shift, &mut tone);
            tone
        };
        let mut unread = model.clone();
        model.read_ahead((1, -2));
        // At the shift read ahead, the same pairs as read on the spot, and not all of them
        // from one sample.
        assert_eq!(
            pairs(&mut model.clone(), (1, -2)),
            pairs(&mut unread.clone(), (1, -2))
        );
        let distinct: std::collections::HashSet<u8> = model
            .pair_samples
            .pixels
            .iter()
            .flatten()
            .map(|p| p.0)
            .collect();
        assert!(distinct.len() > 20, "{distinct:?}");
        // At another shift, what is there.
        assert_eq!(
            pairs(&mut model.clone(), (0, 0)),
            pairs(&mut unread.clone(), (0, 0))
        );
        // One frame only: after it the model changes, and the next frame reads it again.
        pairs(&mut model, (1, -2));
        model.samples.fill(200);
        unread.samples.fill(200);
        assert_eq!(pairs(&mut model, (1, -2)), pairs(&mut unread, (1, -2)));
    }

    #[test]
    fn nonzero_bytes_sets_the_bit_of_every_nonzero_byte() {
        let cases: [(&[u8], u32); 6] = [
            (&[0; 8], 0),
            (&[255; 8], 0xFF),
            (&[255, 0, 0, 0, 0, 0, 0, 255], 0b1000_0001),
            (&[1, 2, 128, 0, 0, 0, 0, 0], 0b0000_0111),
            (&[0, 127, 0, 0, 0, 0, 64, 0], 0b0100_0010),
            (&[0, 0, 7], 0b100),
        ];
        for (bytes, bits) in cases {
            assert_eq!(nonzero_bytes(bytes), bits, "{bytes:?}");
        }
    }

    /// Classifies the row `luma` with `samples[k][x]` and `radius[x]`, block by block as
    /// `segment` does.
    fn classify(luma: &[u8], radius: &[u8], samples: &[&[u8]], min_radius: u8) -> Vec<u8> {
        let stride = luma.len();
        // Padded by a lane, as the model's buffers are.
        let mut flat: Vec<u8> = samples.concat();
        flat.resize(flat.len() + LANE_PIXELS, 0);
        let mut radius = radius.to_vec();
        radius.resize(radius.len() + LANE_PIXELS, 0);
        let mut mask = vec![7; luma.len()];
        for start in (0..luma.len()).step_by(BLOCK_PIXELS) {
            let end = (start + BLOCK_PIXELS).min(luma.len());
            classify_block(
                &flat[start..],
                stride,
                samples.len(),
                &radius[start..],
                min_radius,
                &luma[start..end],
                2,
                &mut mask[start..end],
            );
        }
        mask
    }

    #[test]
    fn a_pixel_is_background_when_two_samples_lie_closer_than_its_radius() {
        #[rustfmt::skip]
        let rows: [(u8, u8, [u8; 4], u8); 6] = [
            // luma, radius, samples, expected
            (100, 10, [91, 109, 90, 110], 0),   // 9 and 9 are within, 10 is not
            (100, 10, [90, 110, 0, 109], 255),  // only 109
            (3, 10, [0, 12, 13, 255], 0),       // no wrap below 0
            (250, 10, [255, 241, 240, 0], 0),   // no wrap above 255
            (0, 1, [0, 1, 0, 255], 0),          // radius 1: equal values only
            (50, 2, [45, 55, 44, 56], 255),     // the pixel's own radius is too small
        ];
        let luma: Vec<u8> = rows.iter().map(|r| r.0).collect();
        let radius: Vec<u8> = rows.iter().map(|r| r.1).collect();
        let samples: Vec<Vec<u8>> = (0..4)
            .map(|k| rows.iter().map(|r| r.2[k]).collect())
            .collect();
        let samples: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
        let expected: Vec<u8> = rows.iter().map(|r| r.3).collect();
        assert_eq!(classify(&luma, &radius, &samples, 0), expected);
        // A noise floor of 6 widens the last pixel's radius: 45 and 55 are within.
        assert_eq!(classify(&luma, &radius, &samples, 6)[5], 0);
    }

    #[test]
    fn skipping_settled_blocks_gives_the_full_count() {
        // Widths around the lane and block sizes, sample counts around the settle check.
        let mut state = 0x9E37_79B9_u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let mut seen = [0usize; 2];
        for width in [1, 5, 31, 32, 33, 64, 319, 320, 321, 360, 700] {
            for sample_count in [2, 3, 4, 5, 9, 16] {
                let luma: Vec<u8> = (0..width).map(|_| 100 + (next() % 40) as u8).collect();
                let radius: Vec<u8> = (0..width).map(|_| 1 + (next() % 20) as u8).collect();
                // Mostly close samples, so that many blocks settle early.
                let samples: Vec<Vec<u8>> = (0..sample_count)
                    .map(|_| {
                        (0..width)
                            .map(|x| {
                                let far = 20 * u8::from(next() % 8 == 0);
                                luma[x] + (next() % 9) as u8 - 4 - far
                            })
                            .collect()
                    })
                    .collect();
                let rows: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
                let mask = classify(&luma, &radius, &rows, 3);
                for x in 0..width {
                    let r = radius[x].max(3);
                    let matches = samples
                        .iter()
                        .filter(|s| s[x].abs_diff(luma[x]) < r)
                        .count();
                    let expected = if matches < 2 { 255 } else { 0 };
                    assert_eq!(mask[x], expected, "width {width}, N {sample_count}, x {x}");
                    seen[usize::from(expected == 255)] += 1;
                }
            }
        }
        // Both answers are well represented.
        assert!(seen.iter().all(|&n| n > 1000), "{seen:?}");
    }
}
