//! Connected foreground regions ("blobs") of a binary mask, with areas and bounding boxes.
//!
//! Owns: 8-connected component labelling of a cleaned mask, hole filling, the minimum-area
//! filter (small regions are erased from the mask, so mask, score, grid and blobs agree), and
//! blob ordering.
//! Does not own: what a blob means for an event (see `events`).
//!
//! Method: everything works on horizontal runs instead of pixels, and all buffers are sized
//! once for the worst case (a checkerboard), so labelling never allocates.
//! 1. Scan the mask into runs of foreground; unite (union-find) every run with the runs of
//!    the row above that touch it, diagonals included.
//! 2. Holes: the gaps between foreground runs are the background runs; unite those
//!    4-connected (the dual of 8-connected foreground). A background region that does not
//!    touch the frame border is enclosed by a single foreground region, so filling it merges
//!    the runs on either side of each of its gaps, with no second scan.
//! 3. Sum area and bounding box per root; erase regions below the minimum area.

use std::ops::Range;

/// One connected foreground region, in analysis-frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blob {
    /// Number of foreground pixels in the region (filled holes included).
    pub area_pixels: u32,
    /// Left column of the bounding box (inclusive).
    pub x0: u32,
    /// Top row of the bounding box (inclusive).
    pub y0: u32,
    /// One past the right column of the bounding box (exclusive), so width is `x1 - x0`.
    pub x1: u32,
    /// One past the bottom row of the bounding box (exclusive), so height is `y1 - y0`.
    pub y1: u32,
}

/// A horizontal run of pixels `[x0, x1)` on row `y`; empty (`x0 == x1`) once merged into the
/// run on its left or erased.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    pub y: u32,
    pub x0: u32,
    pub x1: u32,
}

#[derive(Debug, Clone, Copy)]
enum Connectivity {
    Four,
    Eight,
}

/// Runs of one kind of pixel, united into regions.
#[derive(Debug, Clone)]
struct RunSet {
    connectivity: Connectivity,
    runs: Vec<Run>,
    /// Union-find parent of each run; a root is its own parent and is its region's first run
    /// in raster order.
    parent: Vec<u32>,
    /// Per run: for a root, its region's totals after `sum_regions` (other entries unused).
    totals: Vec<Blob>,
    /// Index of the first run of each row, plus the total at the end.
    row_starts: Vec<usize>,
}

impl RunSet {
    fn new(connectivity: Connectivity, max_runs: usize, height: usize) -> Self {
        Self {
            connectivity,
            runs: Vec::with_capacity(max_runs),
            parent: Vec::with_capacity(max_runs),
            totals: Vec::with_capacity(max_runs),
            row_starts: Vec::with_capacity(height + 1),
        }
    }

    fn clear(&mut self) {
        self.runs.clear();
        self.parent.clear();
        self.row_starts.clear();
        self.row_starts.push(0);
    }

    fn push(&mut self, run: Run) {
        self.parent.push(self.runs.len() as u32);
        self.runs.push(run);
    }

    /// Closes the current row: unites its runs with those of the row above.
    fn end_row(&mut self) {
        let rows = self.row_starts.len();
        let current = self.row_starts[rows - 1]..self.runs.len();
        if rows >= 2 {
            let above = self.row_starts[rows - 2]..self.row_starts[rows - 1];
            self.unite_rows(above, current.clone());
        }
        self.row_starts.push(current.end);
    }

    fn row(&self, y: usize) -> Range<usize> {
        self.row_starts[y]..self.row_starts[y + 1]
    }

    /// Unites each run of `current` with the runs of `above` it touches. With 8-connectivity
    /// `[a0, a1)` and `[c0, c1)` touch when `a0 <= c1` and `c0 <= a1` (diagonals count); with
    /// 4-connectivity when `a0 < c1` and `c0 < a1`. Both rows are sorted by x, so one
    /// merge-like sweep suffices.
    fn unite_rows(&mut self, above: Range<usize>, current: Range<usize>) {
        let slack = match self.connectivity {
            Connectivity::Four => 0,
            Connectivity::Eight => 1,
        };
        let mut a = above.start;
        for c in current {
            let cur = self.runs[c];
            // Runs above that end before this one starts cannot touch later runs either.
            while a < above.end && self.runs[a].x1 + slack <= cur.x0 {
                a += 1;
            }
            let mut k = a;
            while k < above.end && self.runs[k].x0 < cur.x1 + slack {
                union(&mut self.parent, k as u32, c as u32);
                k += 1;
            }
        }
    }

    fn root(&mut self, i: usize) -> usize {
        find(&mut self.parent, i as u32) as usize
    }

    /// Area and bounding box per root.
    fn sum_regions(&mut self) {
        self.totals.clear();
        for i in 0..self.runs.len() {
            let run = self.runs[i];
            let root = self.root(i);
            if root == i {
                let area_pixels = run.x1 - run.x0;
                self.totals.push(Blob {
                    area_pixels,
                    x0: run.x0,
                    y0: run.y,
                    x1: run.x1,
                    y1: run.y + 1,
                });
            } else {
                // A root is its region's first run, so its totals already exist; an empty
                // (merged) run lies inside its region's box and adds nothing.
                self.totals.push(Blob {
                    area_pixels: 0,
                    x0: 0,
                    y0: 0,
                    x1: 0,
                    y1: 0,
                });
                let t = &mut self.totals[root];
                t.area_pixels += run.x1 - run.x0;
                t.x0 = t.x0.min(run.x0);
                t.x1 = t.x1.max(run.x1);
                t.y1 = run.y + 1;
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct BlobLabeler {
    width: usize,
    height: usize,
    foreground: RunSet,
    background: RunSet,
    /// Per background run: the foreground run on its left, if any.
    left_of_gap: Vec<Option<u32>>,
    /// Per foreground run: whether the gap after it is a hole being filled.
    filled_after: Vec<bool>,
}

impl BlobLabeler {
    pub(crate) fn new(width: usize, height: usize) -> Self {
        let max_runs = width.div_ceil(2) * height;
        let max_gaps = (width.div_ceil(2) + 1) * height;
        Self {
            width,
            height,
            foreground: RunSet::new(Connectivity::Eight, max_runs, height),
            background: RunSet::new(Connectivity::Four, max_gaps, height),
            left_of_gap: Vec::with_capacity(max_gaps),
            filled_after: Vec::with_capacity(max_runs),
        }
    }

    /// Labels `mask` (0 or 255 per pixel): fills holes of at most `max_hole_area_pixels`
    /// (0: none) and erases regions smaller than `min_area_pixels`, in `mask` too, and fills
    /// `blobs` with the remaining regions, largest first (ties: top, then left). Returns the
    /// number of foreground pixels left in the mask.
    pub(crate) fn label(
        &mut self,
        mask: &mut [u8],
        max_hole_area_pixels: u32,
        min_area_pixels: u32,
        blobs: &mut Vec<Blob>,
    ) -> u64 {
        self.collect_runs(mask);
        if max_hole_area_pixels > 0 {
            self.fill_holes(mask, max_hole_area_pixels);
        }
        let fg = &mut self.foreground;
        fg.sum_regions();

        blobs.clear();
        let mut kept_pixels = 0u64;
        for i in 0..fg.runs.len() {
            let root = fg.root(i);
            let total = fg.totals[root];
            let run = &mut fg.runs[i];
            if total.area_pixels >= min_area_pixels {
                kept_pixels += u64::from(run.x1 - run.x0);
                if root == i {
                    blobs.push(total);
                }
            } else {
                let row = run.y as usize * self.width;
                mask[row + run.x0 as usize..row + run.x1 as usize].fill(0);
                run.x1 = run.x0;
            }
        }
        blobs.sort_unstable_by_key(|b| (std::cmp::Reverse(b.area_pixels), b.y0, b.x0, b.y1, b.x1));
        kept_pixels
    }

    /// The foreground runs left by the last `label` (empty runs included): together they
    /// cover exactly the foreground of the mask.
    pub(crate) fn runs(&self) -> &[Run] {
        &self.foreground.runs
    }

    /// Step 1: the foreground runs of `mask`, united 8-connected.
    fn collect_runs(&mut self, mask: &[u8]) {
        let fg = &mut self.foreground;
        fg.clear();
        let w = self.width;
        for (y, row) in mask.chunks_exact(w).enumerate() {
            let mut x = scan(row, 0, false);
            while x < w {
                let end = scan(row, x, true);
                fg.push(Run {
                    y: y as u32,
                    x0: x as u32,
                    x1: end as u32,
                });
                x = scan(row, end, false);
            }
            fg.end_row();
        }
    }

    /// Step 2: background runs from the gaps between foreground runs, united 4-connected;
    /// enclosed ones of at most `max_hole_area_pixels` are filled in `mask` and in the runs.
    fn fill_holes(&mut self, mask: &mut [u8], max_hole_area_pixels: u32) {
        let (w, h) = (self.width as u32, self.height as u32);
        let (fg, bg) = (&mut self.foreground, &mut self.background);
        bg.clear();
        self.left_of_gap.clear();
        for y in 0..self.height {
            let mut x = 0;
            let mut left = None;
            for i in fg.row(y) {
                let run = fg.runs[i];
                if run.x0 > x {
                    bg.push(Run {
                        y: y as u32,
                        x0: x,
                        x1: run.x0,
                    });
                    self.left_of_gap.push(left);
                }
                x = run.x1;
                left = Some(i as u32);
            }
            if x < w {
                bg.push(Run {
                    y: y as u32,
                    x0: x,
                    x1: w,
                });
                self.left_of_gap.push(left);
            }
            bg.end_row();
        }
        bg.sum_regions();

        self.filled_after.clear();
        self.filled_after.resize(fg.runs.len(), false);
        let mut any = false;
        for i in 0..bg.runs.len() {
            let root = bg.root(i);
            let t = bg.totals[root];
            let enclosed = t.x0 > 0 && t.y0 > 0 && t.x1 < w && t.y1 < h;
            // An enclosed gap never starts at x = 0, so it has a foreground run on its left.
            if let (true, Some(left)) = (
                enclosed && t.area_pixels <= max_hole_area_pixels,
                self.left_of_gap[i],
            ) {
                let run = bg.runs[i];
                let row = run.y as usize * self.width;
                mask[row + run.x0 as usize..row + run.x1 as usize].fill(255);
                self.filled_after[left as usize] = true;
                any = true;
            }
        }
        if !any {
            return;
        }
        // Merge each run with the runs to its right across filled gaps; those are in the same
        // region (an enclosed hole has one region around it) and come later in raster order,
        // so no root is ever emptied.
        for y in 0..self.height {
            let row = fg.row(y);
            let mut keeper = row.start;
            for i in row.start + 1..row.end {
                if self.filled_after[i - 1] {
                    fg.runs[keeper].x1 = fg.runs[i].x1;
                    fg.runs[i].x1 = fg.runs[i].x0;
                } else {
                    keeper = i;
                }
            }
        }
    }
}

/// The first index at or after `x` where `row` (0 or 255 per pixel) stops being
/// foreground (`foreground` true) or background (false); `row.len()` if it never does.
/// Compares eight pixels at a time: the first differing byte of a word is found from the
/// trailing zeros of its difference with the run's value.
fn scan(row: &[u8], mut x: usize, foreground: bool) -> usize {
    let value = if foreground { 255 } else { 0 };
    let pattern = u64::from_ne_bytes([value; 8]);
    while let Some(word) = row.get(x..x + 8) {
        let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let differs = word ^ pattern;
        if differs != 0 {
            return x + (differs.trailing_zeros() / 8) as usize;
        }
        x += 8;
    }
    while x < row.len() && row[x] == value {
        x += 1;
    }
    x
}

/// Root of `i`, halving the path on the way.
fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let grand = parent[parent[i as usize] as usize];
        parent[i as usize] = grand;
        i = grand;
    }
    i
}

/// Joins the sets of `a` and `b`; the smaller index becomes the root, so a root is always its
/// region's first run in raster order.
fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra < rb {
        parent[rb as usize] = ra;
    } else if rb < ra {
        parent[ra as usize] = rb;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_pictures::mask;

    fn blob(area_pixels: u32, x0: u32, y0: u32, x1: u32, y1: u32) -> Blob {
        Blob {
            area_pixels,
            x0,
            y0,
            x1,
            y1,
        }
    }

    fn label(
        rows: &[&str],
        max_hole_area_pixels: u32,
        min_area_pixels: u32,
    ) -> (Vec<Blob>, Vec<u8>, u64) {
        let (w, h) = (rows[0].len(), rows.len());
        let mut m = mask(rows);
        let mut blobs = Vec::new();
        let mut labeler = BlobLabeler::new(w, h);
        let kept = labeler.label(&mut m, max_hole_area_pixels, min_area_pixels, &mut blobs);
        // The runs left behind cover exactly the mask's foreground.
        let mut from_runs = vec![0u8; w * h];
        for run in labeler.runs() {
            let row = run.y as usize * w;
            from_runs[row + run.x0 as usize..row + run.x1 as usize].fill(255);
        }
        assert_eq!(from_runs, m, "runs and mask disagree");
        (blobs, m, kept)
    }

    #[test]
    fn regions_join_through_diagonals_and_u_shapes() {
        let input = [
            "#.#...##.#", //
            "#.#....#..",
            "###...#...",
            "..........",
            "#########.",
        ];
        let (blobs, _, kept) = label(&input, 0, 1);
        assert_eq!(
            blobs,
            [
                blob(9, 0, 4, 9, 5), // bottom bar
                blob(7, 0, 0, 3, 3), // U: its two arms meet on row 2
                blob(4, 6, 0, 8, 3), // joined only through diagonals
                blob(1, 9, 0, 10, 1),
            ]
        );
        assert_eq!(kept, 21);
    }

    #[test]
    fn small_regions_are_erased_from_the_mask() {
        let input = [
            "##....#", //
            "##.....", "....###",
        ];
        let expected = [
            "##.....", //
            "##.....", "....###",
        ];
        let (blobs, m, kept) = label(&input, 0, 3);
        assert_eq!(blobs, [blob(4, 0, 0, 2, 2), blob(3, 4, 2, 7, 3)]);
        assert_eq!(m, mask(&expected));
        assert_eq!(kept, 7);
    }

    #[test]
    fn a_checkerboard_is_one_region_and_fits_the_preallocated_buffers() {
        let input = [
            "#.#.#.#.#", //
            ".#.#.#.#.",
            "#.#.#.#.#",
        ];
        let (w, h) = (input[0].len(), input.len());
        let mut labeler = BlobLabeler::new(w, h);
        let capacities = (
            labeler.foreground.runs.capacity(),
            labeler.background.runs.capacity(),
        );
        let mut m = mask(&input);
        let mut blobs = Vec::new();
        labeler.label(&mut m, 100, 1, &mut blobs);
        // 14 pixels plus the three enclosed background pixels of the middle row.
        assert_eq!(blobs, [blob(17, 0, 0, 9, 3)]);
        assert_eq!(
            (
                labeler.foreground.runs.capacity(),
                labeler.background.runs.capacity()
            ),
            capacities
        );
    }

    #[test]
    fn an_empty_mask_has_no_blobs() {
        let (blobs, _, kept) = label(&["....", "...."], 100, 1);
        assert!(blobs.is_empty());
        assert_eq!(kept, 0);
    }

    #[test]
    fn enclosed_holes_up_to_the_limit_are_filled_and_open_ones_are_not() {
        let input = [
            "..........", //
            ".#####.###",
            ".#..##.#.#",
            ".#..##.#..",
            ".#####.###",
            "..........",
        ];
        // The 4-pixel hole is filled; the right shape's hole is open to the border (its
        // background touches the edge through a 4-connected gap) and stays.
        let expected = [
            "..........", //
            ".#####.###",
            ".#####.#.#",
            ".#####.#..",
            ".#####.###",
            "..........",
        ];
        let (blobs, m, kept) = label(&input, 4, 1);
        assert_eq!(m, mask(&expected));
        assert_eq!(blobs, [blob(20, 1, 1, 6, 5), blob(9, 7, 1, 10, 5)]);
        assert_eq!(kept, 29);

        // Below the hole's area, nothing is filled.
        let (_, m, _) = label(&input, 3, 1);
        assert_eq!(m, mask(&input));
    }

    #[test]
    fn a_hole_touching_only_diagonally_is_still_enclosed() {
        // The background pixel at (2, 2) meets the outside only through diagonals, which do
        // not connect background (4-connectivity), so it is a hole.
        let input = [
            ".....", //
            ".###.", ".#.#.", ".###.", ".....",
        ];
        let (blobs, m, _) = label(&input, 1, 1);
        assert_eq!(blobs, [blob(9, 1, 1, 4, 4)]);
        assert!(m[2 * 5 + 2] == 255);
    }

    #[test]
    fn filling_several_holes_on_one_row_merges_all_their_runs() {
        let input = [
            ".........", //
            ".#######.",
            ".#.#.#.#.",
            ".#######.",
            ".........",
        ];
        let (blobs, m, kept) = label(&input, 1, 1);
        assert_eq!(blobs, [blob(21, 1, 1, 8, 4)]);
        assert_eq!(kept, 21);
        assert_eq!(m[2 * 9 + 1..2 * 9 + 8], [255; 7]);
    }

    #[test]
    fn holes_are_filled_before_small_regions_are_erased() {
        // A ring of 8 pixels becomes 9 with its hole: over a minimum area of 9.
        let input = [
            ".....", //
            ".###.", ".#.#.", ".###.", ".....",
        ];
        let (blobs, _, kept) = label(&input, 1, 9);
        assert_eq!(blobs, [blob(9, 1, 1, 4, 4)]);
        assert_eq!(kept, 9);
        let (blobs, m, kept) = label(&input, 0, 9);
        assert!(blobs.is_empty());
        assert_eq!(kept, 0);
        assert!(m.iter().all(|&p| p == 0));
    }

    #[test]
    fn scan_finds_where_a_run_ends() {
        let row = mask(&["##########.#...........#.##"]);
        #[rustfmt::skip]
        let cases = [
            // from, scanning foreground, expected end
            (0, true, 10),   // a run longer than a word
            (10, false, 11),
            (11, true, 12),
            (12, false, 23), // a gap longer than a word
            (23, true, 24),
            (25, true, 27),  // a run reaching the end of the row
            (27, false, 27), // already at the end
            (3, false, 3),   // not a gap at all
        ];
        for (from, foreground, end) in cases {
            assert_eq!(
                scan(&row, from, foreground),
                end,
                "from {from}, {foreground}"
            );
        }
    }
}
