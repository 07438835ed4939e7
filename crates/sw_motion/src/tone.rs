//! Global brightness compensation: notices when the whole picture has become brighter or
//! darker than the background model, and says how to remap the model onto the new brightness;
//! also measures the frame's noise.
//!
//! Owns: the robust fit of a straight line `reference ≈ gain * luma + offset` to pairs of
//! (frame luma, reference background luma) taken at background pixels, the decision that it
//! differs enough from the identity to act on, the lookup table that maps model values onto
//! the frame's brightness, and the noise level of the pairs around the line.
//! Does not own: which pixels are sampled or the remapping itself (the background model does
//! both), or the model's radius (the detector reads [`ToneMap::noise_luma`]).
//!
//! A light switched on or off, the camera's auto-exposure and the IR night mode change every
//! pixel's luma at once, roughly as `gain * luma + offset`. Remapping the model's samples by
//! the inverse of that keeps the model valid across the change, so that the change itself is
//! not motion, while an object moving during it still differs from the background and is still
//! found. Small departures (up to [`REMAP_MIN_LUMA`]) are left to the model's own tolerance
//! and updates: remapping only on clear changes leaves the model in the camera's own
//! brightness, with no feedback loop between fit and model that could let it drift.
//!
//! The fit is Tukey's resistant line: the pairs are split into thirds by reference luma, and
//! the line goes through the (median luma, median reference) points of the lower and upper
//! thirds; a second pass refits without the pairs far from the first line. Objects the
//! previous frame's mask did not cover yet pull it little; the pixels the model saw as
//! foreground on the previous frame are left out anyway. When the luma spreads too little to
//! fit a gain (a dark, flat scene), only the offset is fitted. The pairs' reference is one
//! model sample per pixel, so the fit compares the frame with what the model holds.

/// Pairs per frame the fit may use at most (about one pixel in 16 at 320x240).
pub(crate) const MAX_PAIRS: usize = 4800;
/// Luma this close to 0 or 255 may be clipped.
const CLIP_LUMA: u8 = 4;
/// Fewer pairs than this (a frame that is almost all foreground) change nothing.
const MIN_PAIRS: usize = 64;
/// The medians of the lower and upper thirds must be at least this far apart in luma for a
/// gain to be fitted; closer, only the offset is.
const MIN_SPREAD_LUMA: f32 = 12.0;
/// The second pass of the fit keeps the pairs this close to the first pass's line.
const TRIM_LUMA: f32 = 16.0;
/// The fitted gain is kept within `1 / MAX_GAIN ..= MAX_GAIN`.
const MAX_GAIN: f32 = 4.0;
/// The model is remapped when the fitted line moves some luma of the frame's range (2nd to
/// 98th percentile) by more than this ...
const REMAP_MIN_LUMA: f32 = 5.0;
/// ... on two frames in a row, or on one frame by this many times as much.
const REMAP_AT_ONCE_FACTOR: f32 = 3.0;

/// The map from frame luma to reference luma for one frame, and the frame's noise.
#[derive(Debug, Clone)]
pub(crate) struct ToneMap {
    /// `(frame luma, reference luma)` pairs collected for the current frame.
    pairs: Vec<(u8, u8)>,
    /// After a fit that asked for a remap: model luma to frame luma.
    model_lut: [u8; 256],
    /// Median absolute difference between mapped luma and reference over the pairs.
    noise_luma: u8,
    /// Whether the previous fit moved the brightness beyond [`REMAP_MIN_LUMA`] too.
    moved_before: bool,
}

impl ToneMap {
    pub(crate) fn new() -> Self {
        Self {
            pairs: Vec::with_capacity(MAX_PAIRS),
            model_lut: std::array::from_fn(|v| v as u8),
            noise_luma: 0,
            moved_before: false,
        }
    }

    /// Starts collecting the pairs of a new frame.
    pub(crate) fn clear(&mut self) {
        self.pairs.clear();
    }

    /// Adds one background pixel: its luma in the frame and in the reference background.
    /// Pairs beyond [`MAX_PAIRS`] are ignored, and so are pairs with either value clipped
    /// (black or white), which no straight line would fit.
    pub(crate) fn add(&mut self, luma: u8, reference: u8) {
        let clipped = |v: u8| !(CLIP_LUMA..=255 - CLIP_LUMA).contains(&v);
        if self.pairs.len() < MAX_PAIRS && !clipped(luma) && !clipped(reference) {
            self.pairs.push((luma, reference));
        }
    }

    /// Fits the line to the pairs collected since [`ToneMap::clear`] and measures the noise.
    /// Returns true when the model should be remapped with [`ToneMap::model_lut`]. With too
    /// few pairs nothing changes.
    pub(crate) fn fit(&mut self) -> bool {
        if self.pairs.len() < MIN_PAIRS {
            return false;
        }
        // Two passes: the second leaves out the pairs far from the first line (objects the
        // previous frame's mask did not cover yet), so they cannot tilt it.
        let first = resistant_line(&self.pairs, |_| true);
        let near_first = |&(luma, reference): &(u8, u8)| {
            (first.0 * f32::from(luma) + first.1 - f32::from(reference)).abs() <= TRIM_LUMA
        };
        let inliers = self.pairs.iter().filter(|pair| near_first(pair)).count();
        let (gain, offset) = if inliers >= MIN_PAIRS {
            resistant_line(&self.pairs, near_first)
        } else {
            first
        };
        let n = self.pairs.len() as u32;
        let mut residuals = [0u32; 256];
        let mut luma_counts = [0u32; 256];
        for &(luma, reference) in &self.pairs {
            let mapped = (gain * f32::from(luma) + offset).round().clamp(0.0, 255.0) as u8;
            residuals[usize::from(mapped.abs_diff(reference))] += 1;
            luma_counts[usize::from(luma)] += 1;
        }
        self.noise_luma = quantile(&residuals, n / 2);
        let moved = |v: u8| (gain * f32::from(v) + offset - f32::from(v)).abs();
        let darkest = quantile(&luma_counts, n / 50);
        let brightest = quantile(&luma_counts, n - 1 - n / 50);
        let moved_now = moved(darkest).max(moved(brightest));
        let moved_before = std::mem::replace(&mut self.moved_before, moved_now > REMAP_MIN_LUMA);
        // A change must last two frames, unless it is large: a shaking camera's motion blur
        // flattens single frames, and remapping the model back and forth for those costs time
        // and precision.
        if moved_now <= REMAP_MIN_LUMA
            || (!moved_before && moved_now <= REMAP_AT_ONCE_FACTOR * REMAP_MIN_LUMA)
        {
            return false;
        }
        self.moved_before = false;
        for (v, out) in self.model_lut.iter_mut().enumerate() {
            *out = ((v as f32 - offset) / gain).round().clamp(0.0, 255.0) as u8;
        }
        true
    }

    /// After [`ToneMap::fit`] returned true: for each model luma, the luma it has now.
    pub(crate) fn model_lut(&self) -> &[u8; 256] {
        &self.model_lut
    }

    /// The median absolute difference between the mapped frame and the reference at the
    /// sampled background pixels: the frame's noise (plus any small misalignment).
    pub(crate) fn noise_luma(&self) -> u8 {
        self.noise_luma
    }
}

/// Tukey's resistant line `reference = gain * luma + offset` through the pairs `keep` accepts
/// (see the module docs); only an offset when their luma spreads too little.
fn resistant_line(pairs: &[(u8, u8)], keep: impl Fn(&(u8, u8)) -> bool) -> (f32, f32) {
    // Split by the reference's luma, not the frame's: the reference is the model's own
    // (nearly noise-free) view, so the thirds do not select the frame's noise, which would
    // bias the gain towards zero.
    let mut reference_counts = [0u32; 256];
    let mut n = 0;
    for pair in pairs.iter().filter(|pair| keep(pair)) {
        reference_counts[usize::from(pair.1)] += 1;
        n += 1;
    }
    let lower_end = quantile(&reference_counts, n / 3);
    let upper_start = quantile(&reference_counts, n - n / 3);
    let (mut lower, mut upper) = ([0u32; 256], [0u32; 256]);
    let (mut lower_ref, mut upper_ref) = ([0u32; 256], [0u32; 256]);
    let mut differences = [0u32; 511];
    for &(luma, reference) in pairs.iter().filter(|pair| keep(pair)) {
        if reference <= lower_end {
            lower[usize::from(luma)] += 1;
            lower_ref[usize::from(reference)] += 1;
        } else if reference >= upper_start {
            upper[usize::from(luma)] += 1;
            upper_ref[usize::from(reference)] += 1;
        }
        differences[usize::from(reference) + 255 - usize::from(luma)] += 1;
    }
    let median = |counts: &[u32; 256]| quantile(counts, counts.iter().sum::<u32>() / 2);
    let (l0, r0) = (f32::from(median(&lower)), f32::from(median(&lower_ref)));
    let (l1, r1) = (f32::from(median(&upper)), f32::from(median(&upper_ref)));
    if l1 - l0 >= MIN_SPREAD_LUMA {
        let gain = ((r1 - r0) / (l1 - l0)).clamp(1.0 / MAX_GAIN, MAX_GAIN);
        (gain, (r0 + r1) / 2.0 - gain * (l0 + l1) / 2.0)
    } else {
        let mut seen = 0;
        let median_difference = differences
            .iter()
            .position(|&c| {
                seen += c;
                seen > n / 2
            })
            .unwrap_or(255);
        (1.0, median_difference as f32 - 255.0)
    }
}

/// The smallest value whose cumulative count exceeds `rank` (0-based rank in sorted order).
fn quantile(counts: &[u32; 256], rank: u32) -> u8 {
    let mut seen = 0;
    for (value, &count) in counts.iter().enumerate() {
        seen += count;
        if seen > rank {
            return value as u8;
        }
    }
    255
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fits pairs made by `truth` (reference from frame luma) over a ramp of frame luma, the
    /// first `outliers` of them replaced by a bright object; returns the fit's verdict.
    fn fitted(truth: impl Fn(u8) -> u8, outliers: usize) -> (ToneMap, bool) {
        let mut map = ToneMap::new();
        map.clear();
        for i in 0..3000u32 {
            let luma = (30 + (i * 7) % 180) as u8;
            let reference = if (i as usize) < outliers {
                250
            } else {
                truth(luma)
            };
            map.add(luma, reference);
        }
        let remap = map.fit();
        (map, remap)
    }

    #[test]
    fn a_global_gain_and_offset_remaps_the_model_onto_the_frame() {
        // The frame became darker: reference = 1.5 * luma - 10, so model luma r now reads
        // as (r + 10) / 1.5.
        let (map, remap) = fitted(|v| (f32::from(v) * 1.5 - 10.0).round() as u8, 0);
        assert!(remap);
        let cases = [(50u8, 40u8), (140, 100), (215, 150), (255, 177)];
        for (model, expected) in cases {
            let now = map.model_lut()[usize::from(model)];
            assert!(
                now.abs_diff(expected) <= 2,
                "{model} -> {now}, expected {expected}"
            );
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
            map.add(60 + (i % 3) as u8, 80 + (i % 3) as u8);
        }
        assert!(map.fit());
        assert_eq!(map.model_lut()[80], 60);
        assert_eq!(map.model_lut()[220], 200);
    }

    #[test]
    fn too_few_pairs_change_nothing() {
        let mut map = ToneMap::new();
        for i in 0..(MIN_PAIRS as u8 - 1) {
            map.add(i, i.saturating_add(100));
        }
        assert!(!map.fit());
        assert_eq!(map.noise_luma(), 0);
    }

    #[test]
    fn noise_is_the_median_distance_from_the_line() {
        let mut map = ToneMap::new();
        for i in 0..3000u32 {
            let luma = (30 + (i * 7) % 180) as u8;
            // Half the pairs 4 above the line, half 4 below: the line is the identity and
            // every pair is 4 from it.
            let reference = if i % 2 == 0 { luma + 4 } else { luma - 4 };
            map.add(luma, reference);
        }
        map.fit();
        assert_eq!(map.noise_luma(), 4);
    }
}
