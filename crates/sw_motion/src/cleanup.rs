//! Noise clean-up of a binary mask: a 3x3 majority (rank) filter.
//!
//! Owns: turning the background model's speckled raw mask into a smoother one, in reusable
//! buffers, with no allocation per frame.
//! Does not own: removing small connected regions (that needs labels: see `blobs`).
//!
//! A pixel is foreground after the filter when at least `min_votes` of the 9 pixels of its 3x3
//! neighbourhood (itself included; pixels outside the frame count as background) are
//! foreground. `min_votes` 5 is the 3x3 median: it removes isolated pixels and fills
//! one-pixel holes and cracks alike.

#[derive(Debug, Clone)]
pub(crate) struct MajorityFilter {
    width: usize,
    height: usize,
    min_votes: u8,
    /// Vertical sums of 3 rows for the current output row, with one zero column either side.
    column_votes: Vec<u8>,
}

impl MajorityFilter {
    pub(crate) fn new(width: usize, height: usize, min_votes: u8) -> Self {
        Self {
            width,
            height,
            min_votes,
            column_votes: vec![0; width + 2],
        }
    }

    /// Filters `input` (0 or 255 per pixel) into `output` (0 or 255 per pixel).
    pub(crate) fn apply(&mut self, input: &[u8], output: &mut [u8]) {
        let (w, h) = (self.width, self.height);
        let min_votes = self.min_votes;
        for y in 0..h {
            let votes = &mut self.column_votes[1..=w];
            let centre = &input[y * w..(y + 1) * w];
            for (v, &c) in votes.iter_mut().zip(centre) {
                *v = c & 1;
            }
            if y > 0 {
                let above = &input[(y - 1) * w..y * w];
                for (v, &a) in votes.iter_mut().zip(above) {
                    *v += a & 1;
                }
            }
            if y + 1 < h {
                let below = &input[(y + 1) * w..(y + 2) * w];
                for (v, &b) in votes.iter_mut().zip(below) {
                    *v += b & 1;
                }
            }
            let cols = &self.column_votes;
            let out = &mut output[y * w..(y + 1) * w];
            for (x, o) in out.iter_mut().enumerate() {
                let total = cols[x] + cols[x + 1] + cols[x + 2];
                *o = if total >= min_votes { 255 } else { 0 };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_pictures::mask;

    fn run(rows: &[&str], min_votes: u8) -> Vec<u8> {
        let (w, h) = (rows[0].len(), rows.len());
        let mut out = vec![7; w * h];
        MajorityFilter::new(w, h, min_votes).apply(&mask(rows), &mut out);
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
}
