//! Nearest-neighbour resizing of a mask from the analysis size to the ground-truth size.
//!
//! Owns: which analysis pixel stands for each ground-truth pixel. Does not own: what the
//! values mean (`counts`) or where masks come from.
//!
//! Pixel centres are aligned: output column `x` of `W` takes input column
//! `floor((x + 0.5) * w / W)` of `w` (rows alike), so both edges map to both edges and a
//! same-size resize is the identity.

use ndarray::{Array2, ArrayView2};

/// Resizes `mask` (shape `(rows, cols)`) to `width` x `height` by nearest neighbour.
/// An empty mask or size gives an empty result.
pub fn resize_nearest(mask: ArrayView2<u8>, width: usize, height: usize) -> Array2<u8> {
    let mut resampler = NearestResampler::default();
    let mut pixels = Vec::new();
    resampler.resample_into(mask, width, height, &mut pixels);
    Array2::from_shape_vec((height, width), pixels)
        .expect("resample_into writes width * height pixels")
}

/// Resizes masks of one shape to another, keeping its index tables and output buffer between
/// frames so that scoring a sequence allocates once.
#[derive(Debug, Default)]
pub(crate) struct NearestResampler {
    /// (input rows, input cols, output rows, output cols) the tables were built for.
    shapes: (usize, usize, usize, usize),
    source_rows: Vec<usize>,
    source_cols: Vec<usize>,
}

impl NearestResampler {
    /// Writes `mask` resized to `width` x `height` into `out`, row-major, replacing its
    /// contents. An empty `mask` gives an all-zero output.
    pub fn resample_into(
        &mut self,
        mask: ArrayView2<u8>,
        width: usize,
        height: usize,
        out: &mut Vec<u8>,
    ) {
        let (rows, cols) = mask.dim();
        out.clear();
        if rows == 0 || cols == 0 {
            out.resize(width * height, 0);
            return;
        }
        if self.shapes != (rows, cols, height, width) {
            self.shapes = (rows, cols, height, width);
            self.source_rows = source_indices(rows, height);
            self.source_cols = source_indices(cols, width);
        }
        out.reserve(width * height);
        for &source_row in &self.source_rows {
            let row = mask.row(source_row);
            match row.as_slice() {
                Some(row) if cols == width => out.extend_from_slice(row),
                Some(row) => out.extend(self.source_cols.iter().map(|&source_col| row[source_col])),
                None => out.extend(self.source_cols.iter().map(|&source_col| row[source_col])),
            }
        }
    }
}

/// For each of `output_len` output positions, the input position whose centre is nearest.
fn source_indices(input_len: usize, output_len: usize) -> Vec<usize> {
    (0..output_len)
        .map(|x| ((2 * x + 1) * input_len) / (2 * output_len))
        .collect()
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn source_indices_align_pixel_centres() {
        // (input length, output length, expected source of each output position)
        let table: [(usize, usize, &[usize]); 5] = [
            (4, 4, &[0, 1, 2, 3]),
            (2, 4, &[0, 0, 1, 1]),
            // A tie between two input centres goes to the later one.
            (4, 2, &[1, 3]),
            (3, 4, &[0, 1, 1, 2]),
            (4, 3, &[0, 2, 3]),
        ];
        for (input_len, output_len, expected) in table {
            assert_eq!(
                source_indices(input_len, output_len),
                expected,
                "{input_len} -> {output_len}"
            );
        }
    }

    #[test]
    fn office_analysis_size_maps_back_onto_every_row_and_column() {
        // 360x240 office analysed at 320x213.
        let rows = source_indices(213, 240);
        let cols = source_indices(320, 360);
        assert_eq!((rows[0], *rows.last().unwrap()), (0, 212));
        assert_eq!((cols[0], *cols.last().unwrap()), (0, 319));
        assert!(rows.windows(2).all(|w| w[1] - w[0] <= 1));
        assert!(cols.windows(2).all(|w| w[1] - w[0] <= 1));
    }

    #[test]
    fn resize_doubles_and_halves() {
        let mask = array![[0, 255], [255, 0]];
        let up = resize_nearest(mask.view(), 4, 4);
        assert_eq!(
            up,
            array![
                [0, 0, 255, 255],
                [0, 0, 255, 255],
                [255, 255, 0, 0],
                [255, 255, 0, 0]
            ]
        );
        assert_eq!(resize_nearest(up.view(), 2, 2), mask);
        // Width and height are independent: 2x2 -> 3 wide, 1 high.
        assert_eq!(resize_nearest(mask.view(), 3, 1), array![[255, 0, 0]]);
    }

    #[test]
    fn resampler_reuses_its_buffer_and_follows_shape_changes() {
        let mut resampler = NearestResampler::default();
        let mut out = Vec::new();
        resampler.resample_into(array![[1, 2], [3, 4]].view(), 4, 2, &mut out);
        assert_eq!(out, [1, 1, 2, 2, 3, 3, 4, 4]);
        let capacity = out.capacity();
        resampler.resample_into(array![[5, 6], [7, 8]].view(), 4, 2, &mut out);
        assert_eq!(out, [5, 5, 6, 6, 7, 7, 8, 8]);
        assert_eq!(out.capacity(), capacity);
        resampler.resample_into(array![[9, 8, 7]].view(), 3, 2, &mut out);
        assert_eq!(out, [9, 8, 7, 9, 8, 7]);
    }

    #[test]
    fn resampler_reads_non_contiguous_views() {
        let wide = array![[1, 0, 2, 0], [3, 0, 4, 0]];
        let every_other_column = wide.slice(ndarray::s![.., ..;2]);
        assert_eq!(
            resize_nearest(every_other_column, 2, 2),
            array![[1, 2], [3, 4]]
        );
    }
}
