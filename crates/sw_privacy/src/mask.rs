//! Privacy masks: the union of a camera's mask polygons at the analysis size, blanked in every
//! frame before the detector sees it.
//!
//! Owns: [`PrivacyMask`], the constant masked pixels are set to ([`BLANK_LUMA`]), blanking a
//! luma frame and clearing a foreground mask.
//! Does not own: validating the polygons (`polygon`), zones (`zones`, which leave masked pixels
//! out of every zone), or deciding when to rebuild for a new frame size (the service).
//!
//! Why blanking makes masked motion impossible: a masked pixel has the same value in every
//! frame the detector sees, so its background model always matches it and it is never
//! foreground of its own. What happens inside a mask cannot raise or extend an event.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::PrivacyError;
use crate::polygon::{PixelRuns, Polygon};

/// The luma masked pixels are set to: video-range black. Any constant would do; black reads as
/// "nothing here" in a pixelated evidence image.
pub const BLANK_LUMA: u8 = 16;

/// A camera's privacy masks rasterised at one analysis size. Built once per size; blanking and
/// clearing allocate nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyMask {
    covered: Array2<bool>,
    runs: PixelRuns,
}

impl PrivacyMask {
    /// The union of `polygons` at `width x height` pixels (see `polygon` for the pixel rule).
    /// No polygons: an empty mask that changes nothing.
    pub fn new(polygons: &[Polygon], width: usize, height: usize) -> Self {
        let mut covered = Array2::from_elem((height, width), false);
        for polygon in polygons {
            polygon.fill(&mut covered);
        }
        let runs = PixelRuns::from_bitmap(covered.view());
        Self { covered, runs }
    }

    pub fn width(&self) -> usize {
        self.covered.ncols()
    }

    pub fn height(&self) -> usize {
        self.covered.nrows()
    }

    /// Masked pixels, shape `(height, width)`: `true` where masked.
    pub fn covered(&self) -> ArrayView2<'_, bool> {
        self.covered.view()
    }

    /// How many pixels are masked.
    pub fn pixel_count(&self) -> usize {
        self.runs.pixel_count()
    }

    /// Fraction of the frame's pixels that are masked, 0..=1.
    pub fn covered_fraction(&self) -> f64 {
        let area = self.covered.len();
        if area == 0 {
            return 0.0;
        }
        self.pixel_count() as f64 / area as f64
    }

    /// Sets every masked pixel of `luma` to [`BLANK_LUMA`]. Call it on each analysis frame
    /// before the detector, and before anything else reads the frame.
    pub fn blank(&self, luma: &mut ArrayViewMut2<u8>) -> Result<(), PrivacyError> {
        self.check_size("luma frame", luma.dim())?;
        self.runs.fill(luma, BLANK_LUMA);
        Ok(())
    }

    /// Sets every masked pixel of a foreground mask to 0 (background).
    pub fn clear(&self, foreground: &mut ArrayViewMut2<u8>) -> Result<(), PrivacyError> {
        self.check_size("foreground mask", foreground.dim())?;
        self.runs.fill(foreground, 0);
        Ok(())
    }

    pub(crate) fn check_size(
        &self,
        what: &'static str,
        (height, width): (usize, usize),
    ) -> Result<(), PrivacyError> {
        if (height, width) == self.covered.dim() {
            return Ok(());
        }
        Err(PrivacyError::FrameSize {
            what,
            width,
            height,
            expected_width: self.width(),
            expected_height: self.height(),
        })
    }
}

#[cfg(test)]
mod tests {
    use ndarray::arr2;

    use super::*;
    use crate::polygon::tests::picture;

    fn polygon(points: &[[f64; 2]]) -> Polygon {
        Polygon::new(points.to_vec()).unwrap()
    }

    fn masks() -> Vec<Polygon> {
        vec![
            // Left column and an overlapping top-left block: the union counts pixels once.
            polygon(&[[0.0, 0.0], [0.25, 0.0], [0.25, 1.0], [0.0, 1.0]]),
            polygon(&[[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]),
        ]
    }

    #[test]
    fn the_union_of_polygons_at_the_analysis_size() {
        let mask = PrivacyMask::new(&masks(), 4, 4);
        assert_eq!(mask.covered(), picture(&["##..", "##..", "#...", "#..."]));
        assert_eq!(mask.pixel_count(), 6);
        assert_eq!(mask.covered_fraction(), 6.0 / 16.0);
        let none = PrivacyMask::new(&[], 4, 4);
        assert_eq!((none.pixel_count(), none.covered_fraction()), (0, 0.0));
    }

    #[test]
    fn blank_and_clear_touch_masked_pixels_only() {
        let mask = PrivacyMask::new(&masks(), 4, 4);
        let mut luma = Array2::from_elem((4, 4), 200_u8);
        mask.blank(&mut luma.view_mut()).unwrap();
        let b = BLANK_LUMA;
        #[rustfmt::skip]
        let expected = arr2(&[
            [b, b, 200, 200],
            [b, b, 200, 200],
            [b, 200, 200, 200],
            [b, 200, 200, 200],
        ]);
        assert_eq!(luma, expected);

        let mut foreground = Array2::from_elem((4, 4), 255_u8);
        mask.clear(&mut foreground.view_mut()).unwrap();
        assert_eq!(foreground.iter().filter(|&&v| v == 255).count(), 10);
        assert!(
            foreground
                .iter()
                .zip(mask.covered())
                .all(|(&value, &masked)| !masked || value == 0)
        );
    }

    #[test]
    fn a_frame_of_another_size_is_refused() {
        let mask = PrivacyMask::new(&masks(), 4, 4);
        let mut luma = Array2::from_elem((3, 4), 0_u8);
        let error = mask.blank(&mut luma.view_mut()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "luma frame is 4x3 pixels but the privacy settings were built for 4x4"
        );
    }
}
