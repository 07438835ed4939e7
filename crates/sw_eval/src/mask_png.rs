//! Writing masks as 8-bit grayscale PNG, the form CDnet's own comparator reads
//! (`bin%06d.png`, 255 motion, 0 background, at ground-truth resolution).
//!
//! Owns: the file format. Does not own: naming the files or resizing the mask (the caller
//! chooses `bin%06d.png` and calls [`crate::resize_nearest`] first when it needs the GT size).

use std::path::Path;

use image::{ExtendedColorType, ImageFormat};
use ndarray::ArrayView2;

use crate::EvalError;

/// Writes `mask` (shape `(rows, cols)`, any layout) to `path` as an 8-bit grayscale PNG,
/// values unchanged.
pub fn write_mask_png(path: &Path, mask: ArrayView2<u8>) -> Result<(), EvalError> {
    let (rows, cols) = mask.dim();
    let write_error = |source| EvalError::WriteMask {
        path: path.to_path_buf(),
        source,
    };
    let (width, height) = match (u32::try_from(cols), u32::try_from(rows)) {
        (Ok(width), Ok(height)) => (width, height),
        _ => {
            return Err(write_error(image::ImageError::Limits(
                image::error::LimitError::from_kind(image::error::LimitErrorKind::DimensionError),
            )));
        }
    };
    let pixels: Vec<u8> = mask.iter().copied().collect();
    image::save_buffer_with_format(
        path,
        &pixels,
        width,
        height,
        ExtendedColorType::L8,
        ImageFormat::Png,
    )
    .map_err(write_error)
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn mask_round_trips_as_8_bit_grayscale_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin000001.png");
        let mask = array![[0, 255, 0], [255, 255, 0]];
        write_mask_png(&path, mask.view()).unwrap();
        let decoded = image::open(&path).unwrap();
        assert_eq!(decoded.color(), image::ColorType::L8);
        let decoded = decoded.into_luma8();
        assert_eq!((decoded.width(), decoded.height()), (3, 2));
        assert_eq!(decoded.into_raw(), [0, 255, 0, 255, 255, 0]);
    }

    #[test]
    fn transposed_views_are_written_in_their_logical_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.png");
        let mask = array![[1, 2, 3], [4, 5, 6]];
        write_mask_png(&path, mask.t()).unwrap();
        let decoded = image::open(&path).unwrap().into_luma8();
        assert_eq!((decoded.width(), decoded.height()), (2, 3));
        assert_eq!(decoded.into_raw(), [1, 4, 2, 5, 3, 6]);
    }

    #[test]
    fn unwritable_path_names_the_file() {
        let err = write_mask_png(
            Path::new("/nonexistent-dir/bin000001.png"),
            array![[0u8]].view(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent-dir/bin000001.png"),
            "{err}"
        );
    }
}
