//! Noise clean-up of a binary mask: a box rank filter.
//!
//! Owns: turning the background model's speckled raw mask into a smoother one, in reusable
//! buffers, with no allocation per frame.
//! Does not own: removing small connected regions (that needs labels: see `blobs`).
//!
//! A pixel is foreground after the filter when at least `min_votes` of the `(2r+1)²` pixels of
//! the square around it (itself included; pixels outside the frame count as background) are
//! foreground. With `r` 1, `min_votes` 5 is the 3x3 median: it removes isolated pixels and
//! fills one-pixel holes and cracks alike; with `r` 2, 13 is the 5x5 median.
//!
//! Method: per output row, the column sums of the box's rows are kept up to date (the entering
//! row added, the leaving one taken away), then each output pixel adds the `2r+1` column sums
//! around it. Every count fits a byte (at most 15 per column and 225 per box for `r` up to 7),
//! so each step is a pass of byte additions over a row, which the compiler vectorises; a row
//! whose box holds fewer than `min_votes` foreground pixels in all is background without
//! looking further.

use std::ops::Range;

/// The largest supported radius: a box of 15x15 holds at most 225 votes, which fits a byte.
const MAX_RADIUS: usize = 7;

#[derive(Debug, Clone)]
pub(crate) struct MajorityFilter {
    width: usize,
    height: usize,
    /// The box is `2 * radius + 1` pixels on a side.
    radius: usize,
    /// Votes needed; above any possible count (225) nothing is foreground.
    min_votes: u16,
    /// Vertical sums of the box's rows for the current output row, with `radius` zero
    /// columns either side.
    column_votes: Vec<u8>,
    /// The box sums of the current output row.
    row_votes: Vec<u8>,
}

impl MajorityFilter {
    /// `radius` is clamped to 7 (the detector clamps it first).
    pub(crate) fn new(width: usize, height: usize, radius: usize, min_votes: u16) -> Self {
        let radius = radius.min(MAX_RADIUS);
        Self {
            width,
            height,
            radius,
            min_votes,
            column_votes: vec![0; width + 2 * radius],
            row_votes: vec![0; width],
        }
    }

    /// Filters `input` (0 or 255 per pixel) into `output` (0 or 255 per pixel).
    pub(crate) fn apply(&mut self, input: &[u8], output: &mut [u8]) {
        self.apply_rows(input, 0..self.height, output);
    }

    /// Filters rows `rows` of `input` (the whole frame) into `output` (those rows only): the
    /// pixels [`MajorityFilter::apply`] writes there, reading `radius` rows of `input` above and
    /// below the strip. Strips of one frame may be filtered in any order, each with its own
    /// filter (the column sums are scratch).
    pub(crate) fn apply_rows(&mut self, input: &[u8], rows: Range<usize>, output: &mut [u8]) {
        let (w, h, r) = (self.width, self.height, self.radius);
        // Above every possible count: no pixel passes, as with a u16 count.
        let min_votes = u8::try_from(self.min_votes).unwrap_or(u8::MAX);
        self.column_votes.fill(0);
        // Foreground pixels in the rows the column sums hold.
        let mut box_rows_votes = 0u32;
        // Start with the rows of the first output row's box above its bottom row (rows above
        // row 0 are outside the frame).
        let top = rows.start.saturating_sub(r);
        for row in input[top * w..]
            .chunks_exact(w)
            .take((rows.start + r).min(h) - top)
        {
            box_rows_votes += add_row(&mut self.column_votes[r..r + w], row);
        }
        for (y, out) in rows.zip(output.chunks_exact_mut(w)) {
            if y + r < h {
                let entering = &input[(y + r) * w..(y + r + 1) * w];
                box_rows_votes += add_row(&mut self.column_votes[r..r + w], entering);
            }
            if y > top + r {
                let leaving = &input[(y - r - 1) * w..(y - r) * w];
                box_rows_votes -= remove_row(&mut self.column_votes[r..r + w], leaving);
            }
            if box_rows_votes < u32::from(min_votes) {
                // No box of this row can hold enough votes.
                out.fill(0);
                continue;
            }
            let votes = &mut self.row_votes[..w];
            votes.copy_from_slice(&self.column_votes[..w]);
            for d in 1..=2 * r {
                for (v, &c) in votes.iter_mut().zip(&self.column_votes[d..d + w]) {
                    *v += c;
                }
            }
            for (o, &v) in out.iter_mut().zip(votes.iter()) {
                *o = if v >= min_votes { 255 } else { 0 };
            }
        }
    }
}

/// Adds a row's foreground (0 or 255 per pixel) to the column sums; returns its pixel count.
fn add_row(votes: &mut [u8], row: &[u8]) -> u32 {
    for (v, &p) in votes.iter_mut().zip(row) {
        *v += p & 1;
    }
    count(row)
}

/// Takes a row's foreground away from the column sums; returns its pixel count.
fn remove_row(votes: &mut [u8], row: &[u8]) -> u32 {
    for (v, &p) in votes.iter_mut().zip(row) {
        *v -= p & 1;
    }
    count(row)
}

/// The foreground pixels of a row (0 or 255 per pixel), counted in bytes over chunks short
/// enough not to overflow one.
fn count(row: &[u8]) -> u32 {
    row.chunks(255)
        .map(|chunk| u32::from(chunk.iter().fold(0u8, |n, &p| n + (p & 1))))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_pictures::mask;

    fn run(rows: &[&str], min_votes: u8) -> Vec<u8> {
        run_with_radius(rows, 1, min_votes)
    }

    fn run_with_radius(rows: &[&str], radius: usize, min_votes: u8) -> Vec<u8> {
        let (w, h) = (rows[0].len(), rows.len());
        let mut out = vec![7; w * h];
        MajorityFilter::new(w, h, radius, u16::from(min_votes)).apply(&mask(rows), &mut out);
        out
    }

    #[test]
    fn median_removes_specks_and_fills_pinholes() {
        let input = [
            "#.......", //
            "...####.", "...#.##.", "...####.", ".#......",
        ];
        let expected = [
            "........", //
            "....##..", "...####.", "....##..", "........",
        ];
        assert_eq!(run(&input, 5), mask(&expected));
    }

    #[test]
    fn lower_vote_counts_dilate_and_higher_ones_erode() {
        let input = [
            ".....", //
            ".###.", ".###.", ".###.", ".....",
        ];
        let dilated = [
            "#####", //
            "#####", "#####", "#####", "#####",
        ];
        let eroded = [
            ".....", //
            ".....", "..#..", ".....", ".....",
        ];
        assert_eq!(run(&input, 1), mask(&dilated));
        assert_eq!(run(&input, 9), mask(&eroded));
    }

    #[test]
    fn the_5x5_median_rounds_blocks_and_drops_thin_marks() {
        let input = [
            "..........", //
            ".######...",
            ".######..#",
            ".######...",
            ".######...",
            ".######...",
            "..........",
            "#.#.#.#...",
            "..........",
        ];
        let expected = [
            "..........", //
            "...##.....",
            "..####....",
            ".######...",
            "..####....",
            "..####....",
            "....#.....",
            "..........",
            "..........",
        ];
        assert_eq!(run_with_radius(&input, 2, 13), mask(&expected));
    }

    #[test]
    fn filtering_in_strips_gives_the_whole_frame_s_result() {
        let input = mask(&[
            "#..##.#..", //
            ".####.##.",
            "##.#####.",
            "..####..#",
            ".#.##.##.",
            "###...#.#",
            ".#..####.",
        ]);
        let (w, h) = (9, 7);
        for (radius, min_votes) in [(0, 1), (1, 5), (2, 13), (3, 20)] {
            let mut whole = vec![7; w * h];
            MajorityFilter::new(w, h, radius, min_votes).apply(&input, &mut whole);
            // Every split into two strips, and strips of one row.
            for split in 0..=h {
                let mut strips = vec![7; w * h];
                let (top, bottom) = strips.split_at_mut(split * w);
                let mut filter = MajorityFilter::new(w, h, radius, min_votes);
                filter.apply_rows(&input, 0..split, top);
                filter.apply_rows(&input, split..h, bottom);
                assert_eq!(strips, whole, "radius {radius}, split at row {split}");
            }
            let mut rows = vec![7; w * h];
            for (y, out) in rows.chunks_exact_mut(w).enumerate() {
                MajorityFilter::new(w, h, radius, min_votes).apply_rows(&input, y..y + 1, out);
            }
            assert_eq!(rows, whole, "radius {radius}, one row at a time");
        }
    }

    #[test]
    fn radius_0_keeps_the_mask_and_unreachable_vote_counts_clear_it() {
        let input = [
            "#..#", //
            ".##.", "#..#",
        ];
        let empty = [
            "....", //
            "....", "....",
        ];
        assert_eq!(run_with_radius(&input, 0, 1), mask(&input));
        assert_eq!(run_with_radius(&input, 1, 10), mask(&empty));
    }
}
