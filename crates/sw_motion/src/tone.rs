//! Global brightness compensation: notices when the whole picture has become brighter or
//! darker than the background model, and says how to remap the model onto the new brightness;
//! also measures the frame's noise.
//!
//! Owns: the robust fits of straight lines `model = gain * luma + offset` to pairs of frame
//! and model luma taken at background pixels, the decision that a change is large enough to
//! act on, the lookup tables that map model values onto the frame's brightness, and the noise
//! level of the pairs around the line.
//! Does not own: which pixels are sampled, the anchors, or the remapping itself (the
//! background model does those), or the model's radius (the detector reads
//! [`ToneMap::noise_luma`]).
//!
//! A light switched on or off, the camera's auto-exposure and the IR night mode change every
//! pixel's luma at once, roughly as `gain * luma + offset`. Remapping the model's samples by
//! the inverse of that keeps the model valid across the change, so that the change itself is
//! not motion, while an object moving during it still differs from the background and is still
//! found. Small departures (up to [`REMAP_MIN_LUMA`]) are left to the model's own tolerance
//! and updates.
//!
//! Two kinds of pairs, because the model's samples do not all need the same correction:
//! - `(frame luma, one model sample)`: the model's updates keep pulling the samples of
//!   background in view towards the frame, so these show only what is left of a slow change.
//!   They give the noise, and the map for samples updated since the last remap.
//! - `(frame luma, anchor)`: an anchor is a pixel's luma from the first frame, carried through
//!   every remap exactly as the samples that nothing updates are (see `background`), so these
//!   show the whole change those samples need, the errors of earlier remaps included. They
//!   give the map for the samples nothing updates (hidden behind an object, outside the
//!   frame); without them a slow drift (auto-exposure, dusk) leaves those behind, and a person
//!   standing through it leaves a ghost of the old brightness when they go.
//!
//! Each line is Tukey's resistant line: the pairs are split into thirds by model luma, and the
//! line goes through the (median luma, median model) points of the lower and upper thirds; a
//! second pass refits without the pairs far from the first line. Objects the previous frame's
//! mask did not cover yet pull it little; the pixels the model saw as foreground on the
//! previous frame are left out anyway. When the luma spreads too little to fit a gain (a dark,
//! flat scene), only the offset is fitted.
//!
//! Clipped values say only "at least" (or "at most"): the lines leave them out, and the
//! frame's luma where the anchor is clipped white (black) says what that white reads as now,
//! which the map for hidden samples takes where the line allows it.

/// Pairs per frame the fit may use at most (about one pixel in 16 at 320x240).
pub(crate) const MAX_PAIRS: usize = 4800;
/// Luma this close to 0 or 255 may be clipped.
const CLIP_LUMA: u8 = 4;
/// Luma from which a value may be clipped white.
const WHITE_LUMA: u8 = 255 - CLIP_LUMA + 1;
/// What clipped white (black) reads as now is measured when at least this many pairs have a
/// white (black) anchor.
const MIN_CLIPPED_PAIRS: u32 = 16;
/// Fewer pairs than this (a frame that is almost all foreground) change nothing.
const MIN_PAIRS: usize = 64;
/// The medians of the lower and upper thirds must be at least this far apart in luma for a
/// gain to be fitted; closer, only the offset is.
const MIN_SPREAD_LUMA: f32 = 12.0;
/// The second pass of the fit keeps the pairs this close to the first pass's line.
const TRIM_LUMA: f32 = 16.0;
/// The fitted gain is kept within `1 / MAX_GAIN ..= MAX_GAIN`.
const MAX_GAIN: f32 = 4.0;
/// The model is remapped when the change moves some luma of the frame's range (2nd to 98th
/// percentile, or clipped white or black) by more than this ...
const REMAP_MIN_LUMA: f32 = 5.0;
/// ... on two frames in a row, or on one frame by this many times as much.
const REMAP_AT_ONCE_FACTOR: f32 = 3.0;

/// The maps from model luma to frame luma for one frame, and the frame's noise.
#[derive(Debug, Clone)]
#[cfg_attr(test, derive(PartialEq))]
pub(crate) struct ToneMap {
    /// `(frame luma, model sample)` pairs collected for the current frame.
    samples: Vec<(u8, u8)>,
    /// `(frame luma, anchor)` pairs collected for the current frame.
    anchors: Vec<(u8, u8)>,
    /// Scratch of the fits: the pairs near a first line.
    inliers: Vec<(u8, u8)>,
    /// Frame luma histogram of the pairs whose anchor is white (black), clipped.
    white: [u32; 256],
    black: [u32; 256],
    /// After a fit that asked for a remap: model luma to frame luma by what the samples of
    /// background in view show ...
    visible_lut: [u8; 256],
    /// ... and by what the anchors show: for the samples nothing updates, and the anchors.
    hidden_lut: [u8; 256],
    /// Median absolute difference between mapped luma and sample over the pairs.
    noise_luma: u8,
    /// Whether the previous fit of the samples (anchors) moved the brightness beyond
    /// [`REMAP_MIN_LUMA`] too.
    samples_moved_before: bool,
    anchors_moved_before: bool,
}

impl ToneMap {
    pub(crate) fn new() -> Self {
        Self {
            samples: Vec::with_capacity(MAX_PAIRS),
            anchors: Vec::with_capacity(MAX_PAIRS),
            inliers: Vec::with_capacity(MAX_PAIRS),
            white: [0; 256],
            black: [0; 256],
            visible_lut: IDENTITY,
            hidden_lut: IDENTITY,
            noise_luma: 0,
            samples_moved_before: false,
            anchors_moved_before: false,
        }
    }

    /// Starts collecting the pairs of a new frame.
    pub(crate) fn clear(&mut self) {
        self.samples.clear();
        self.anchors.clear();
        self.white.fill(0);
        self.black.fill(0);
    }

    /// Adds one background pixel: its luma in the frame, one of its model samples, and its
    /// anchor (0: none). Pairs beyond [`MAX_PAIRS`] are ignored. Clipped values (black or
    /// white), which no straight line would fit, are left out of the lines.
    #[inline]
    pub(crate) fn add(&mut self, luma: u8, sample: u8, anchor: u8) {
        if clipped(anchor) {
            if anchor >= WHITE_LUMA {
                self.white[usize::from(luma)] += 1;
            } else if anchor != 0 {
                self.black[usize::from(luma)] += 1;
            }
        } else if !clipped(luma) && self.anchors.len() < MAX_PAIRS {
            self.anchors.push((luma, anchor));
        }
        if !clipped(luma) && !clipped(sample) && self.samples.len() < MAX_PAIRS {
            self.samples.push((luma, sample));
        }
    }

    /// Fits the changes to the pairs collected since [`ToneMap::clear`] and measures the
    /// noise. Returns true when the model should be remapped with [`ToneMap::visible_lut`] and
    /// [`ToneMap::hidden_lut`]: when either change is large enough (see [`Change::lasts`]).
    /// With too few pairs nothing changes.
    pub(crate) fn fit(&mut self) -> bool {
        let samples = (self.samples.len() >= MIN_PAIRS)
            .then(|| Change::of(&self.samples, &mut self.inliers, None));
        if let Some(change) = &samples {
            let mapped: [u8; 256] = std::array::from_fn(|v| change.line.apply(v as u8));
            let mut residuals = [0u32; 256];
            for &(luma, sample) in &self.samples {
                residuals[usize::from(mapped[usize::from(luma)].abs_diff(sample))] += 1;
            }
            self.noise_luma = quantile(&residuals, self.samples.len() as u32 / 2);
        }
        // The refit only where the first line sees the brightness move at all: the anchors
        // are fitted on every frame, and on most nothing changes.
        let anchors = self.anchor_change(Some(REMAP_MIN_LUMA / 2.0));
        let samples_moved = samples
            .as_ref()
            .is_some_and(|change| change.lasts(&mut self.samples_moved_before));
        let anchors_moved = anchors
            .as_ref()
            .is_some_and(|change| change.lasts(&mut self.anchors_moved_before));
        if !samples_moved && !anchors_moved {
            return false;
        }
        self.samples_moved_before = false;
        self.anchors_moved_before = false;
        self.visible_lut = samples.as_ref().map_or(IDENTITY, Change::lut);
        // Without anchors to measure the whole change, what the samples show is the best
        // guess.
        self.hidden_lut = anchors
            .and_then(|_| self.anchor_change(None))
            .or(samples)
            .as_ref()
            .map_or(IDENTITY, Change::lut);
        true
    }

    /// The change the anchors show (see [`Change::of`] for `settled_luma`), with what clipped
    /// white and black read as now; `None` with too few pairs.
    fn anchor_change(&mut self, settled_luma: Option<f32>) -> Option<Change> {
        if self.anchors.len() < MIN_PAIRS {
            return None;
        }
        let mut change = Change::of(&self.anchors, &mut self.inliers, settled_luma);
        // Clipped white was at least as bright as the line makes it, black at most: a reading
        // that contradicts this is not of the clipped surface (an object, a burned-in caption
        // on a shaking camera).
        let (white_floor, black_ceiling) = (
            change.model_to_frame(WHITE_LUMA),
            change.model_to_frame(CLIP_LUMA - 1),
        );
        change.white = median(&self.white).filter(|&v| v >= white_floor);
        change.black = median(&self.black).filter(|&v| v <= black_ceiling);
        change.moved = change
            .moved
            .max(change.white.map_or(0.0, |v| f32::from(255 - v)))
            .max(change.black.map_or(0.0, f32::from));
        Some(change)
    }

    /// After [`ToneMap::fit`] returned true: for each model luma, the luma it has now, by
    /// what the samples of background in view show.
    pub(crate) fn visible_lut(&self) -> &[u8; 256] {
        &self.visible_lut
    }

    /// After [`ToneMap::fit`] returned true: for each model luma, the luma it has now, for the
    /// samples that nothing updates (by the anchors).
    pub(crate) fn hidden_lut(&self) -> &[u8; 256] {
        &self.hidden_lut
    }

    /// The median absolute difference between the mapped frame and the model's samples at
    /// the sampled background pixels: the frame's noise (plus any small misalignment).
    pub(crate) fn noise_luma(&self) -> u8 {
        self.noise_luma
    }
}

/// The map that changes nothing.
const IDENTITY: [u8; 256] = {
    let mut lut = [0; 256];
    let mut v = 0;
    while v < 256 {
        lut[v] = v as u8;
        v += 1;
    }
    lut
};

/// Whether `v` may be clipped black or white.
fn clipped(v: u8) -> bool {
    !(CLIP_LUMA..WHITE_LUMA).contains(&v)
}

/// The brightness change one kind of pairs shows.
#[derive(Debug, Clone, Copy)]
struct Change {
    /// Model luma from frame luma.
    line: Line,
    /// What the model's clipped white (black) reads as now, where measured (anchors only).
    white: Option<u8>,
    black: Option<u8>,
    /// How far the change moves the frame's range: the larger of the line's moves at the 2nd
    /// and 98th percentiles of frame luma, and of clipped white's and black's.
    moved: f32,
}

impl Change {
    /// The change `pairs` (at least [`MIN_PAIRS`]) show along a straight line: resistant,
    /// then refitted without the pairs far from it (objects the previous frame's mask did not
    /// cover yet), unless the first line moves the frame's range by `settled_luma` or less;
    /// `inliers` is scratch.
    fn of(pairs: &[(u8, u8)], inliers: &mut Vec<(u8, u8)>, settled_luma: Option<f32>) -> Self {
        let n = pairs.len() as u32;
        let mut luma_counts = [0u32; 256];
        for &(luma, _) in pairs {
            luma_counts[usize::from(luma)] += 1;
        }
        let darkest = quantile(&luma_counts, n / 50);
        let brightest = quantile(&luma_counts, n - 1 - n / 50);
        let moved = |line: Line| {
            let by = |v: u8| (line.gain * f32::from(v) + line.offset - f32::from(v)).abs();
            by(darkest).max(by(brightest))
        };
        let mut line = resistant_line(pairs);
        if settled_luma.is_none_or(|settled| moved(line) > settled) {
            let predicted: [f32; 256] =
                std::array::from_fn(|v| line.gain * f32::from(v as u8) + line.offset);
            inliers.clear();
            inliers.extend(pairs.iter().filter(|&&(luma, model)| {
                (predicted[usize::from(luma)] - f32::from(model)).abs() <= TRIM_LUMA
            }));
            if inliers.len() >= MIN_PAIRS {
                line = resistant_line(inliers);
            }
        }
        Self {
            line,
            white: None,
            black: None,
            moved: moved(line),
        }
    }

    /// Whether the change is to be acted on; `moved_before` says whether the previous frame's
    /// was beyond [`REMAP_MIN_LUMA`] too, and is updated. A change must last two frames,
    /// unless it is large: a shaking camera's motion blur flattens single frames, and
    /// remapping the model back and forth for those costs time and precision.
    fn lasts(&self, moved_before: &mut bool) -> bool {
        let before = std::mem::replace(moved_before, self.moved > REMAP_MIN_LUMA);
        self.moved > REMAP_MIN_LUMA
            && (before || self.moved > REMAP_AT_ONCE_FACTOR * REMAP_MIN_LUMA)
    }

    /// The frame luma model luma `model` has now, by the line.
    fn model_to_frame(&self, model: u8) -> u8 {
        self.line
            .model_to_frame(f32::from(model))
            .round()
            .clamp(0.0, 255.0) as u8
    }

    /// Model luma to the luma it has now, with clipped white and black taken to what they
    /// read as now where that is measured.
    fn lut(&self) -> [u8; 256] {
        std::array::from_fn(|v| {
            let mapped = self.model_to_frame(v as u8);
            match (self.white, self.black) {
                (Some(white), _) if v >= usize::from(WHITE_LUMA) => mapped.max(white),
                (_, Some(black)) if v < usize::from(CLIP_LUMA) => mapped.min(black),
                _ => mapped,
            }
        })
    }
}

/// A straight line `model = gain * luma + offset`.
#[derive(Debug, Clone, Copy)]
struct Line {
    gain: f32,
    offset: f32,
}

impl Line {
    /// The model luma the line gives for frame luma `luma`, rounded and clamped.
    fn apply(self, luma: u8) -> u8 {
        (self.gain * f32::from(luma) + self.offset)
            .round()
            .clamp(0.0, 255.0) as u8
    }

    /// The frame luma the line gives for model luma `model` (its inverse).
    fn model_to_frame(self, model: f32) -> f32 {
        (model - self.offset) / self.gain
    }
}

/// Tukey's resistant line `model = gain * luma + offset` through `pairs` (see the module
/// docs); only an offset when their luma spreads too little.
fn resistant_line(pairs: &[(u8, u8)]) -> Line {
    // Split by the model's luma, not the frame's: the thirds then do not select the frame's
    // noise, which would bias the gain towards zero.
    let mut model_counts = [0u32; 256];
    for &(_, model) in pairs {
        model_counts[usize::from(model)] += 1;
    }
    let n = pairs.len() as u32;
    let lower_end = quantile(&model_counts, n / 3);
    let upper_start = quantile(&model_counts, n - n / 3);
    // The lower third is the pairs whose model luma is at most `lower_end`, the upper the
    // rest from `upper_start` on: their model lumas are those parts of `model_counts`.
    let upper_from = usize::from(upper_start).max(usize::from(lower_end) + 1);
    let (mut lower, mut upper) = ([0u32; 256], [0u32; 256]);
    for &(luma, model) in pairs {
        if model <= lower_end {
            lower[usize::from(luma)] += 1;
        } else if usize::from(model) >= upper_from {
            upper[usize::from(luma)] += 1;
        }
    }
    // The median of the values from `first` on that `counts` counts.
    let median = |counts: &[u32], first: usize| {
        let total = counts.iter().sum::<u32>();
        f32::from(quantile_from(counts, first, total / 2))
    };
    let (l0, m0) = (
        median(&lower, 0),
        median(&model_counts[..=usize::from(lower_end)], 0),
    );
    let (l1, m1) = (
        median(&upper, 0),
        median(&model_counts[upper_from..], upper_from),
    );
    if l1 - l0 >= MIN_SPREAD_LUMA {
        let gain = ((m1 - m0) / (l1 - l0)).clamp(1.0 / MAX_GAIN, MAX_GAIN);
        return Line {
            gain,
            offset: (m0 + m1) / 2.0 - gain * (l0 + l1) / 2.0,
        };
    }
    let mut differences = [0u32; 511];
    for &(luma, model) in pairs {
        differences[usize::from(model) + 255 - usize::from(luma)] += 1;
    }
    let mut seen = 0;
    let median_difference = differences
        .iter()
        .position(|&c| {
            seen += c;
            seen > n / 2
        })
        .unwrap_or(255);
    Line {
        gain: 1.0,
        offset: median_difference as f32 - 255.0,
    }
}

/// The median of a histogram with at least [`MIN_CLIPPED_PAIRS`] values, if it has them.
fn median(counts: &[u32; 256]) -> Option<u8> {
    let n = counts.iter().sum::<u32>();
    (n >= MIN_CLIPPED_PAIRS).then(|| quantile(counts, n / 2))
}

/// The smallest value whose cumulative count exceeds `rank` (0-based rank in sorted order).
fn quantile(counts: &[u32; 256], rank: u32) -> u8 {
    quantile_from(counts, 0, rank)
}

/// [`quantile`] of a histogram's part that starts at value `first`; 255 when the part holds
/// `rank` values or fewer.
fn quantile_from(counts: &[u32], first: usize, rank: u32) -> u8 {
    let mut seen = 0;
    for (value, &count) in counts.iter().enumerate() {
        seen += count;
        if seen > rank {
            return (first + value) as u8;
        }
    }
    255
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ramp of frame luma, 30..170, with `3000` pixels.
    fn ramp() -> impl Iterator<Item = (usize, u8)> {
        (0..3000).map(|i| (i, (30 + (i * 11) % 140) as u8))
    }

    /// Fits pairs whose sample and anchor are both `truth(frame luma)`, the first `outliers`
    /// of them replaced by a bright object; returns the map and its verdict.
    fn fitted(truth: impl Fn(u8) -> u8, outliers: usize) -> (ToneMap, bool) {
        let mut map = ToneMap::new();
        map.clear();
        for (i, luma) in ramp() {
            let model = if i < outliers { 250 } else { truth(luma) };
            map.add(luma, model, model);
        }
        let remap = map.fit();
        (map, remap)
    }

    #[test]
    fn a_global_gain_and_offset_remaps_the_model_onto_the_frame() {
        // The frame became darker: model = 1.5 * luma - 10, so model luma m now reads as
        // (m + 10) / 1.5, for the samples in view and the hidden ones alike.
        let (map, remap) = fitted(|v| (f32::from(v) * 1.5 - 10.0).round() as u8, 0);
        assert!(remap);
        let cases = [(50u8, 40u8), (140, 100), (215, 150), (245, 170)];
        for (model, expected) in cases {
            for lut in [map.visible_lut(), map.hidden_lut()] {
                let now = lut[usize::from(model)];
                assert!(
                    now.abs_diff(expected) <= 1,
                    "{model} -> {now}, expected {expected}"
                );
            }
        }
        assert!(map.noise_luma() <= 1);
    }

    #[test]
    fn small_changes_and_a_minority_of_outliers_leave_the_model_alone() {
        let cases: [(&dyn Fn(u8) -> u8, usize); 3] =
            [(&|v| v, 0), (&|v| v.saturating_add(2), 0), (&|v| v, 400)];
        for (i, (truth, outliers)) in cases.into_iter().enumerate() {
            let (_, remap) = fitted(truth, outliers);
            assert!(!remap, "case {i}");
        }
    }

    #[test]
    fn a_flat_frame_fits_only_an_offset() {
        let mut map = ToneMap::new();
        for i in 0..1000u32 {
            let (luma, model) = (60 + (i % 3) as u8, 80 + (i % 3) as u8);
            map.add(luma, model, model);
        }
        assert!(map.fit());
        assert_eq!(map.hidden_lut()[80], 60);
        assert_eq!(map.hidden_lut()[220], 200);
    }

    #[test]
    fn too_few_pairs_change_nothing() {
        let mut map = ToneMap::new();
        for i in 0..(MIN_PAIRS as u8 - 1) {
            map.add(i, i.saturating_add(100), i.saturating_add(100));
        }
        assert!(!map.fit());
        assert_eq!(map.noise_luma(), 0);
    }

    #[test]
    fn noise_is_the_median_distance_from_the_line() {
        let mut map = ToneMap::new();
        for (i, luma) in ramp() {
            // Half the samples 4 above the line, half 4 below: the line is the identity and
            // every pair is 4 from it.
            let sample = if i % 2 == 0 { luma + 4 } else { luma - 4 };
            map.add(luma, sample, luma);
        }
        map.fit();
        assert_eq!(map.noise_luma(), 4);
    }

    #[test]
    fn the_anchors_carry_the_whole_change_the_samples_what_is_left() {
        // The samples in view have followed a slow darkening to 80%; the anchors have not.
        let mut map = ToneMap::new();
        for (_, luma) in ramp() {
            map.add(luma, luma, (f32::from(luma) * 1.25).round() as u8);
        }
        assert!(map.fit());
        let cases = [(50u8, 50u8, 40u8), (100, 100, 80), (200, 200, 160)];
        for (model, visible, hidden) in cases {
            assert_eq!(map.visible_lut()[usize::from(model)], visible, "{model}");
            assert!(
                map.hidden_lut()[usize::from(model)].abs_diff(hidden) <= 1,
                "{model} -> {}, expected {hidden}",
                map.hidden_lut()[usize::from(model)]
            );
        }
    }

    #[test]
    fn clipped_white_reads_as_what_it_shows_now_where_the_line_allows() {
        // The picture darkened to 80%: white (252..=255) is now at least 202..=204. The
        // pixels whose anchor is white read `white_reads`; below that, white is not what
        // they show (an object), and the line decides.
        let cases = [(230u8, [230u8, 230]), (255, [255, 255]), (150, [202, 204])];
        for (white_reads, expected) in cases {
            let mut map = ToneMap::new();
            for (_, luma) in ramp() {
                let model = (f32::from(luma) * 1.25).round() as u8;
                map.add(luma, model, model);
            }
            for _ in 0..100 {
                map.add(white_reads, 255, 255);
            }
            assert!(map.fit());
            for (model, expected) in [252, 255].into_iter().zip(expected) {
                let now = map.hidden_lut()[model];
                assert!(
                    now.abs_diff(expected) <= 1,
                    "white reads {white_reads}: {model} -> {now}, expected {expected}"
                );
            }
        }
    }
}
