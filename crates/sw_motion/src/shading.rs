//! Shading: telling a surface that is merely darker (a soft shadow, the reflection of a dark
//! object on a glossy desk or floor) from an object in front of it, on a steady camera.
//!
//! Owns: the per-pixel test ([`is_shading`]) and its constants.
//! Does not own: which pixels it runs on or when (see `SampleModel::clear_shading` and the
//! detector, which runs it only once the camera has held still), the reference background it
//! compares with (see `background`), or anything after it (clean-up, blobs).
//!
//! A surface seen under less light keeps its own pattern, every pixel darkened by about the
//! same factor, while an object hides the pattern. The test, on the 5x5 window around a
//! raw-foreground pixel, read at its centre, corners and edge midpoints (the nine pixels two
//! apart, which see as far as all 25 at a third of the cost): the pixel is shading when every
//! reference pixel is bright enough for a ratio to mean something, the reference shows some
//! pattern at all, and the nine ratios frame / reference agree with their mean within
//! [`MAX_SPREAD`] while the mean lies between [`MIN_RATIO`] and [`MAX_RATIO`]: part of the
//! light taken away, not most of it (a hard shadow, darker than that, is left to the model; so
//! is anything brighter than the background).
//! Ratios are taken above the picture's black level (`black`: what the first frame's black
//! reads as now, carried through the brightness remaps), since light adds to luma above it: the
//! IR night mode lifts black by 45 or so, and ratios of raw luma would then squeeze every
//! object towards 1. Ratios are fixed point, 1/256.
//!
//! On a smooth surface (a desk, a painted wall, a road) the pattern is too faint to prove
//! anything, and the test reduces to "darkened by one factor": a uniform object moderately
//! darker than a smooth background passes it too, inside its outline. Its outline does not
//! (the ratio jumps there), so such an interior is a hole in the mask that hole filling closes
//! (up to `max_hole_area_pixels`), while a soft shadow or a blurred reflection passes out to
//! its own border and is gone. A 5x5 window (rather than 3x3) sees more of the pattern and of
//! an object's edge: CDnet highway loses about half as much (0.0007 against 0.0013).
//!
//! References: R. Cucchiara et al., "Detecting moving objects, ghosts, and shadows in video
//! streams", IEEE TPAMI 25(10), 2003 (the luminance ratio of shadows); J. Jacques et al.,
//! "Background subtraction and shadow detection in grayscale video sequences", SIBGRAPI 2005
//! (ratio tests over a neighbourhood on grey frames).

/// Reference luma below which a ratio is too coarse to compare (a step of 1 at 24 is 4%).
const MIN_REFERENCE_LUMA: u8 = 24;
/// Side of the window.
pub(crate) const WINDOW: usize = 5;
/// Pixels of the window the test reads: every other one, both ways.
const SAMPLED: usize = WINDOW.div_ceil(2) * WINDOW.div_ceil(2);
/// The reference's window must span at least this many luma steps: on a perfectly flat
/// background, any uniform dark object has a constant ratio too.
const MIN_CONTRAST_LUMA: u8 = 4;
/// Mean frame / reference ratio at least 0.6 (154/256): a shadow or a reflection takes away
/// part of the light.
const MIN_RATIO: u32 = 154;
/// ... and at most 0.95 (243/256): darker than the background, beyond its noise.
const MAX_RATIO: u32 = 243;
/// Every ratio of the window within 0.07 (18/256) of their mean: the pattern is kept.
const MAX_SPREAD: u32 = 18;

/// `(1 << 16) / b` for every reference luma `b` (0 for 0): a ratio is then a multiply.
const RECIPROCALS: [u32; 256] = {
    let mut table = [0; 256];
    let mut b = 1;
    while b < 256 {
        table[b] = (1 << 16) / b as u32;
        b += 1;
    }
    table
};

/// `luma / background` in 1/256, rounded down (within one step of the exact quotient).
fn ratio(luma: u8, background: u8) -> u32 {
    (u32::from(luma) * RECIPROCALS[usize::from(background)]) >> 8
}

/// Whether a pixel of `luma` over `background` can be the centre of a shading window at all
/// (a quick test on the centre alone, which most foreground fails: [`is_shading`] needs every
/// ratio of the window within [`MAX_SPREAD`] of their mean, which lies between [`MIN_RATIO`]
/// and [`MAX_RATIO`]).
pub(crate) fn might_be_shading(luma: u8, background: u8) -> bool {
    let centre = ratio(luma, background);
    background >= MIN_REFERENCE_LUMA
        && centre + MAX_SPREAD >= MIN_RATIO
        && centre <= MAX_RATIO + MAX_SPREAD
}

/// Whether the centre of a [`WINDOW`]-square window of `frame` luma is the `reference`
/// background under less light (see the module documentation), from the window's pixels two
/// apart, both taken above `black`. Each of the two starts at the window's top-left pixel,
/// rows `frame_width` and `reference_width` apart.
pub(crate) fn is_shading(
    frame: &[u8],
    frame_width: usize,
    reference: &[u8],
    reference_width: usize,
    black: u8,
) -> bool {
    const HALF: usize = WINDOW / 2;
    let (centre_luma, centre_background) = (
        frame[HALF * frame_width + HALF].saturating_sub(black),
        reference[HALF * reference_width + HALF].saturating_sub(black),
    );
    if !might_be_shading(centre_luma, centre_background) {
        return false;
    }
    let centre = ratio(centre_luma, centre_background);
    // Every ratio must lie within MAX_SPREAD of the mean, so within twice that of the
    // centre's: an object patterned unlike the background fails soon.
    let (near_low, near_high) = (
        centre.saturating_sub(2 * MAX_SPREAD),
        centre + 2 * MAX_SPREAD,
    );
    let (mut low, mut high, mut sum) = (u32::MAX, 0, 0);
    let (mut darkest, mut brightest) = (u8::MAX, 0);
    for dy in (0..WINDOW).step_by(2) {
        let frame_row = &frame[dy * frame_width..dy * frame_width + WINDOW];
        let reference_row = &reference[dy * reference_width..dy * reference_width + WINDOW];
        for (&luma, &background) in frame_row.iter().zip(reference_row).step_by(2) {
            let (luma, background) = (luma.saturating_sub(black), background.saturating_sub(black));
            if background < MIN_REFERENCE_LUMA {
                return false;
            }
            let q = ratio(luma, background);
            if q < near_low || q > near_high {
                return false;
            }
            darkest = darkest.min(background);
            brightest = brightest.max(background);
            low = low.min(q);
            high = high.max(q);
            sum += q;
        }
    }
    let mean = sum / SAMPLED as u32;
    brightest - darkest >= MIN_CONTRAST_LUMA
        && (MIN_RATIO..=MAX_RATIO).contains(&mean)
        && high - mean <= MAX_SPREAD
        && mean.saturating_sub(low) <= MAX_SPREAD
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW_PIXELS: usize = WINDOW * WINDOW;

    fn test(frame: &[u8; WINDOW_PIXELS], reference: &[u8; WINDOW_PIXELS]) -> bool {
        is_shading(frame, WINDOW, reference, WINDOW, 0)
    }

    #[test]
    fn ratios_are_within_one_step_of_the_quotient() {
        // (luma, background, ratio in 1/256)
        let cases = [
            (100, 125, 204),
            (120, 120, 255),
            (24, 24, 255),
            (200, 100, 511),
            (0, 50, 0),
        ];
        for (luma, background, expected) in cases {
            assert_eq!(ratio(luma, background), expected, "{luma} / {background}");
        }
    }

    /// A reference window with a gentle pattern (spread 8 around `level`).
    fn patterned(level: u8) -> [u8; WINDOW_PIXELS] {
        std::array::from_fn(|i| level - 4 + ((i * 7) % 9) as u8)
    }

    fn scaled(window: [u8; WINDOW_PIXELS], percent: u32) -> [u8; WINDOW_PIXELS] {
        window.map(|v| (u32::from(v) * percent / 100) as u8)
    }

    fn one_other(mut window: [u8; WINDOW_PIXELS]) -> [u8; WINDOW_PIXELS] {
        window[2] = 140;
        window
    }

    #[test]
    fn a_patterned_surface_darkened_by_a_uniform_factor_is_shading() {
        let reference = patterned(120);
        // (frame, expected, why)
        let cases: [([u8; WINDOW_PIXELS], bool, &str); 8] = [
            (scaled(reference, 80), true, "80% of the light"),
            (scaled(reference, 62), true, "62%"),
            (scaled(reference, 93), true, "93%"),
            (scaled(reference, 50), false, "a hard shadow: too dark"),
            (
                scaled(reference, 100),
                false,
                "unchanged (not foreground at all)",
            ),
            (scaled(reference, 120), false, "brighter"),
            (
                one_other(scaled(reference, 80)),
                false,
                "80%, but one pixel is something else",
            ),
            (
                [70; WINDOW_PIXELS],
                false,
                "a flat object at 58%: the pattern is gone",
            ),
        ];
        for (frame, expected, why) in cases {
            assert_eq!(test(&frame, &reference), expected, "{why}: {frame:?}");
        }
    }

    #[test]
    fn a_flat_or_dark_background_proves_nothing() {
        let almost_flat: [u8; WINDOW_PIXELS] = std::array::from_fn(|i| 100 + (i % 3) as u8);
        let cases: [([u8; WINDOW_PIXELS], [u8; WINDOW_PIXELS], &str); 3] = [
            ([80; WINDOW_PIXELS], [100; WINDOW_PIXELS], "flat background"),
            (scaled(almost_flat, 80), almost_flat, "spread 2"),
            (
                scaled(patterned(20), 80),
                patterned(20),
                "partly too dark to compare",
            ),
        ];
        for (frame, reference, why) in cases {
            assert!(!test(&frame, &reference), "{why}");
        }
    }
}
