//! The coarse motion grid: how much of each cell of a fixed grid is foreground.
//!
//! Owns: splitting the analysis frame into `cols x rows` cells and turning a binary mask into
//! per-cell percentages, into a reused [`MotionGrid`].
//! Does not own: the grid's meaning for events or zones.
//!
//! Cell `c` spans columns `c * width / cols .. (c + 1) * width / cols` (likewise for rows), so
//! cells differ in size by at most one pixel and cover the frame exactly. Percentages round
//! up: a cell reads 0 only when none of its pixels is foreground.

use sw_core::MotionGrid;

use crate::blobs::Run;

#[derive(Debug, Clone)]
pub(crate) struct GridCounter {
    cols: usize,
    rows: usize,
    /// First column of each cell column, plus `width` at the end.
    col_edges: Vec<u32>,
    /// First row of each cell row, plus `height` at the end.
    row_edges: Vec<u32>,
    /// The cell column of each pixel column.
    col_of_x: Vec<u32>,
    /// The cell row of each pixel row.
    row_of_y: Vec<u32>,
    counts: Vec<u32>,
}

impl GridCounter {
    /// `cols` must be in `1..=width` and `rows` in `1..=height` (the detector clamps them).
    pub(crate) fn new(width: usize, height: usize, cols: usize, rows: usize) -> Self {
        let col_edges: Vec<u32> = (0..=cols).map(|c| (c * width / cols) as u32).collect();
        let row_edges: Vec<u32> = (0..=rows).map(|r| (r * height / rows) as u32).collect();
        let cell_of = |edges: &[u32], v: u32| (edges.partition_point(|&e| e <= v) - 1) as u32;
        Self {
            cols,
            rows,
            col_of_x: (0..width as u32).map(|x| cell_of(&col_edges, x)).collect(),
            row_of_y: (0..height as u32).map(|y| cell_of(&row_edges, y)).collect(),
            col_edges,
            row_edges,
            counts: vec![0; cols * rows],
        }
    }

    /// An all-zero grid of this shape.
    pub(crate) fn empty_grid(&self) -> MotionGrid {
        MotionGrid {
            cols: self.cols as u16,
            rows: self.rows as u16,
            cells_percent: vec![0; self.cols * self.rows],
        }
    }

    /// Writes into `grid` the percentage of each cell covered by `runs` (disjoint horizontal
    /// runs of foreground, as left by the blob labeller).
    pub(crate) fn apply(&mut self, runs: &[Run], grid: &mut MotionGrid) {
        self.counts.fill(0);
        for run in runs.iter().filter(|r| r.x1 > r.x0) {
            let row = self.row_of_y[run.y as usize] as usize * self.cols;
            let mut c = self.col_of_x[run.x0 as usize] as usize;
            let mut x = run.x0;
            while x < run.x1 {
                let end = run.x1.min(self.col_edges[c + 1]);
                self.counts[row + c] += end - x;
                x = end;
                c += 1;
            }
        }
        grid.cols = self.cols as u16;
        grid.rows = self.rows as u16;
        grid.cells_percent.clear();
        for r in 0..self.rows {
            let cell_height = self.row_edges[r + 1] - self.row_edges[r];
            for c in 0..self.cols {
                let cell_area = cell_height * (self.col_edges[c + 1] - self.col_edges[c]);
                let count = self.counts[r * self.cols + c];
                grid.cells_percent
                    .push((count * 100).div_ceil(cell_area.max(1)).min(100) as u8);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runs of `#` in a picture.
    fn runs(rows: &[&str]) -> Vec<Run> {
        let mut runs = Vec::new();
        for (y, row) in rows.iter().enumerate() {
            let row = row.as_bytes();
            let mut x = 0;
            while x < row.len() {
                if row[x] == b'#' {
                    let x0 = x;
                    while x < row.len() && row[x] == b'#' {
                        x += 1;
                    }
                    runs.push(Run {
                        y: y as u32,
                        x0: x0 as u32,
                        x1: x as u32,
                    });
                } else {
                    x += 1;
                }
            }
        }
        runs
    }

    #[test]
    fn cells_report_the_rounded_up_percentage_of_foreground() {
        // 7x4 frame in a 3x2 grid: cell columns 0..2, 2..4, 4..7; cell rows 0..2, 2..4.
        let input = [
            "##..#..", //
            "##.....", ".######", // one run across all three cells
            "..##..#",
        ];
        let mut counter = GridCounter::new(7, 4, 3, 2);
        let mut grid = counter.empty_grid();
        counter.apply(&runs(&input), &mut grid);
        assert_eq!(grid.cols, 3);
        assert_eq!(grid.rows, 2);
        #[rustfmt::skip]
        let expected = [
            100, 0, 17,   // 4/4, 0/4, 1/6 -> 16.7 rounds up
            25, 100, 67,  // 1/4, 4/4, 4/6
        ];
        assert_eq!(grid.cells_percent, expected);
    }
}
