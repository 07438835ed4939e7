//! The background model: ViBe-style sample consensus on luma, held on a canvas larger than the
//! frame so that a shaking camera's frames can be compared with it where they land, with a
//! per-pixel match radius that widens where the segmentation keeps flickering.
//!
//! Owns: the per-pixel sample sets and their initialisation (from the first frame, and for
//! canvas pixels a shaking camera shows for the first time), the classification of each frame
//! pixel as background or foreground, the conservative random update (with neighbour
//! propagation) that keeps the model current, the per-pixel radius with its flicker feedback,
//! the absorption of objects that stop, and the reference background image (a sigma-delta
//! estimate) that registration and brightness compensation compare frames with.
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
//! reads one canvas row at an offset; it is classified in lanes of [`LANE_PIXELS`]: `N` steps
//! of "absolute difference below radius, add one" over 32 contiguous bytes, which the compiler
//! turns into SIMD without `unsafe`; a lane whose every pixel has already matched enough
//! samples skips the rest of its samples.

use crate::DetectorOptions;
use crate::rng::SplitMix64;
use crate::tone::{MAX_PAIRS, ToneMap};

/// Pixels classified together: two SSE2 registers' worth, so a lane's luma, radius and match
/// counts stay in registers.
const LANE_PIXELS: usize = 32;
/// How often (in samples) classification checks whether a lane is settled. Measured on
/// CDnet highway: 4 beats 2 and 8.
const SETTLED_CHECK_SAMPLES: usize = 4;
/// Background frames after which a pixel's model is trusted to be background (see `trust`):
/// the counter saturates there.
const TRUSTED: u8 = 255;

#[derive(Debug, Clone)]
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
            rng: SplitMix64::new(params.seed),
            initialised: false,
        }
    }

    pub(crate) fn is_initialised(&self) -> bool {
        self.initialised
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
                    neighbour(x, y, w, h, (which % 3, which / 3))
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

    /// Feeds `tone` the (frame luma, reference) pairs of a sparse grid of pixels that were
    /// background on the previous frame, at `shift`.
    pub(crate) fn sample_pairs(&self, luma: &[u8], shift: (i32, i32), tone: &mut ToneMap) {
        let (w, h) = (self.width, self.height);
        // A grid step giving at most MAX_PAIRS pixels.
        let mut step = 1;
        while (w / step) * (h / step) > MAX_PAIRS {
            step += 1;
        }
        let (ox, oy) = self.origin(shift);
        tone.clear();
        for y in (step / 2..h).step_by(step) {
            let canvas_row = (y + oy) * self.canvas_width + ox;
            for x in (step / 2..w).step_by(step) {
                let c = canvas_row + x;
                if self.radius[c] != 0 && self.foreground_frames[c] == 0 {
                    let k = (x / step + y / step) % self.params.samples_per_pixel;
                    tone.add(luma[y * w + x], self.samples[self.slot(x + ox, y + oy, k)]);
                }
            }
        }
    }

    /// Maps every sample and the reference through `lut` (model luma to the luma it has now),
    /// after the whole picture changed brightness.
    pub(crate) fn remap(&mut self, lut: &[u8; 256]) {
        for v in &mut self.samples {
            *v = lut[usize::from(*v)];
        }
        for v in &mut self.reference {
            *v = lut[usize::from(*v)];
        }
    }

    /// Classifies every pixel of the frame at `shift`, row by row: writes 255 into `raw_mask`
    /// (frame coordinates) for every pixel with fewer than `min_matches` samples closer than
    /// its radius to its luma (foreground), 0 otherwise. The radius is the pixel's own, but at
    /// least `min_radius_luma` (the frame's noise allowance). Canvas pixels shown for the first
    /// time are initialised from this frame first, and are background.
    pub(crate) fn segment(
        &mut self,
        luma: &[u8],
        shift: (i32, i32),
        min_radius_luma: u8,
        raw_mask: &mut [u8],
    ) {
        let (w, h) = (self.width, self.height);
        let (ox, oy) = self.origin(shift);
        let n = self.params.samples_per_pixel;
        let row_bytes = n * self.canvas_width;
        for y in 0..h {
            self.reveal_row(luma, y, shift);
            let cy = y + oy;
            let row_samples = &self.samples[cy * row_bytes..(cy + 1) * row_bytes + LANE_PIXELS];
            let radius_row = &self.radius[cy * self.canvas_width + ox..];
            let luma_row = &luma[y * w..(y + 1) * w];
            let mask_row = &mut raw_mask[y * w..(y + 1) * w];
            for start in (0..w).step_by(LANE_PIXELS) {
                let end = (start + LANE_PIXELS).min(w);
                classify_lane(
                    &row_samples[ox + start..],
                    self.canvas_width,
                    n,
                    lane_of(radius_row, start),
                    min_radius_luma,
                    &luma_row[start..end],
                    self.params.min_matches,
                    &mut mask_row[start..end],
                );
            }
        }
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
        let absorb_after = self.params.absorb_after_frames;
        let mut visits = Visits::new(&mut self.rng, self.params.update_subsampling, w);
        for y in 0..h {
            let cy = y + oy;
            while let Some(x) = visits.next_in_row(y, &mut self.rng) {
                let c = cy * self.canvas_width + ox + x;
                let stationary = absorb_after > 0 && self.foreground_frames[c] >= absorb_after;
                if (raw_mask[y * w + x] | final_mask[y * w + x]) == 0 || stationary {
                    self.absorb(x + ox, cy, luma[y * w + x], visits.draw);
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
            // Most of a frame is background: skip whole lanes of it at once.
            let lanes_with_foreground = row
                .chunks(LANE_PIXELS)
                .enumerate()
                .filter(|(_, lane)| lane.iter().fold(0, |any, &p| any | p) != 0)
                .map(|(i, _)| i * LANE_PIXELS);
            for x in lanes_with_foreground.flat_map(|start| start..(start + LANE_PIXELS).min(w)) {
                let c = c_row + x;
                if raw_mask[y * w + x] == 0
                    || self.foreground_frames[c] < after
                    || self.trust[c] == TRUSTED
                {
                    continue;
                }
                let draw = self.rng.next_u64();
                let (nx, ny) = neighbour(x, y, w, h, NEIGHBOURS[(draw & 7) as usize]);
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
                        let own = self.slot(x + ox, y + oy, ((draw >> 8) % n as u64) as usize);
                        self.samples[own] = value;
                        break;
                    }
                }
            }
        }
    }

    /// Writes `value`, the background luma of canvas pixel `(cx, cy)`, into one of its
    /// samples and one of a neighbour's, choosing both from the random bits of `draw`.
    fn absorb(&mut self, cx: usize, cy: usize, value: u8, draw: u64) {
        let n = self.params.samples_per_pixel as u64;
        // Three 16-bit fields of the draw; a 16-bit multiply-shift draw below 64 is biased by
        // under 0.1%.
        let field = |i: u32, bound: u64| ((((draw >> (16 * i)) & 0xFFFF) * bound) >> 16) as usize;
        let own = self.slot(cx, cy, field(0, n));
        self.samples[own] = value;
        if self.params.propagation_enabled {
            let (nx, ny) = neighbour(
                cx,
                cy,
                self.canvas_width,
                self.canvas_height,
                NEIGHBOURS[field(1, 8)],
            );
            // A neighbour not yet shown by any frame is initialised when it is; one that was
            // foreground on the previous frame is left alone, so that an object that stopped
            // is not eaten from within through its camouflaged pixels.
            let nc = ny * self.canvas_width + nx;
            if self.radius[nc] != 0 && self.foreground_frames[nc] == 0 {
                let theirs = self.slot(nx, ny, field(2, n));
                self.samples[theirs] = value;
            }
        }
    }

    /// Learns from this frame's masks (frame coordinates, at `shift`), for the next frame:
    /// counts how long each pixel has been foreground, moves the reference towards `luma`
    /// where the frame is background, and runs the flicker feedback. A pixel whose raw
    /// classification changed since the previous frame while it is not in the cleaned
    /// foreground `clean` (swaying leaves, shaking edges, sensor noise: not an object) gains
    /// `flicker_increment`, any other loses `flicker_decrement`, and its radius becomes
    /// `match_radius_luma` plus `flicker * flicker_max_extra_radius_luma / 256`.
    pub(crate) fn learn(&mut self, luma: &[u8], shift: (i32, i32), raw_mask: &[u8], clean: &[u8]) {
        let p = self.params;
        let w = self.width;
        let (ox, oy) = self.origin(shift);
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

/// The random walk over the frame that picks the pixels to update: jumps uniform in
/// `1..=2 * update_subsampling - 1` (mean `update_subsampling`), in raster order.
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

/// Classifies one lane of up to `LANE_PIXELS` pixels: sample `k` of the lane's pixels starts
/// at `samples[k * stride]`; `luma` and `raw_mask` are the lane's pixels (fewer than
/// `LANE_PIXELS` for a short last lane). Once every pixel has `min_matches`, the remaining
/// samples cannot change the answer and are skipped; most of a typical frame settles within a
/// few samples.
#[allow(clippy::too_many_arguments)]
fn classify_lane(
    samples: &[u8],
    stride: usize,
    sample_count: usize,
    radius: &[u8; LANE_PIXELS],
    min_radius: u8,
    luma: &[u8],
    min_matches: u8,
    raw_mask: &mut [u8],
) {
    let mut pixels = [0u8; LANE_PIXELS];
    pixels[..luma.len()].copy_from_slice(luma);
    let mut radius = *radius;
    for r in &mut radius {
        *r = (*r).max(min_radius);
    }
    let mut matches = [0u8; LANE_PIXELS];
    let mut k = 0;
    while k < sample_count {
        let group_end = (k + SETTLED_CHECK_SAMPLES).min(sample_count);
        while k < group_end {
            let lane_samples: &[u8; LANE_PIXELS] = samples[k * stride..k * stride + LANE_PIXELS]
                .try_into()
                .expect("rows are padded by a lane");
            for i in 0..LANE_PIXELS {
                // max - min rather than abs_diff: the latter widens to i32 here.
                let distance = lane_samples[i].max(pixels[i]) - lane_samples[i].min(pixels[i]);
                matches[i] += u8::from(distance < radius[i]);
            }
            k += 1;
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
        .expect("per-pixel buffers are padded by a lane")
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
