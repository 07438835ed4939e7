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
    /// The box is `2 * radius + 1` pixels on a side.
    radius: usize,
    min_votes: u16,
    /// Vertical sums of the box's rows for the current output row, with `radius` zero
    /// columns either side.
    column_votes: Vec<u16>,
}

impl MajorityFilter {
    pub(crate) fn new(width: usize, height: usize, radius: usize, min_votes: u16) -> Self {
        Self {
            width,
            height,
            radius,
            min_votes,
            column_votes: vec![0; width + 2 * radius],
        }
    }

    /// Filters `input` (0 or 255 per pixel) into `output` (0 or 255 per pixel).
    pub(crate) fn apply(&mut self, input: &[u8], output: &mut [u8]) {
        let (w, h, r) = (self.width, self.height, self.radius);
        let min_votes = self.min_votes;
        let votes = &mut self.column_votes[r..r + w];
        // Start with the rows above row 0's box bottom: rows 0..r (row -r.. -1 are outside).
        votes.fill(0);
        for row in input.chunks_exact(w).take(r.min(h)) {
            for (v, &p) in votes.iter_mut().zip(row) {
                *v += u16::from(p & 1);
            }
        }
        for y in 0..h {
            let votes = &mut self.column_votes[r..r + w];
            if y + r < h {
                let entering = &input[(y + r) * w..(y + r + 1) * w];
                for (v, &p) in votes.iter_mut().zip(entering) {
                    *v += u16::from(p & 1);
                }
            }
            if y > r {
                let leaving = &input[(y - r - 1) * w..(y - r) * w];
                for (v, &p) in votes.iter_mut().zip(leaving) {
                    *v -= u16::from(p & 1);
                }
            }
            let cols = &self.column_votes;
            let out = &mut output[y * w..(y + 1) * w];
            // Running sum of 2r+1 column sums along the row.
            let mut total: u16 = cols[..2 * r].iter().sum();
            for (x, o) in out.iter_mut().enumerate() {
                total += cols[x + 2 * r];
                *o = if total >= min_votes { 255 } else { 0 };
                total -= cols[x];
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
        MajorityFilter::new(w, h, 1, u16::from(min_votes)).apply(&mask(rows), &mut out);
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
