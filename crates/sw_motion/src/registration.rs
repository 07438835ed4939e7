//! Global motion compensation: how far the camera has shifted the picture relative to the
//! background model, found by coarse-to-fine matching of census images.
//!
//! Owns: the image pyramids of the frame and of the reference background, their census
//! transforms, and the search for the whole-pixel shift that best aligns the two.
//! Does not own: the reference background itself (the background model keeps it on its canvas
//! and hands it in), or applying the shift (the model compares each frame pixel with the model
//! pixel the shift points at).
//!
//! The shift `(dx, dy)` says that frame pixel `(x, y)` shows what canvas pixel
//! `(x + margin + dx, y + margin + dy)` holds, `|dx|, |dy| <= margin`.
//!
//! Method, per frame:
//! 1. Pyramids: the frame and the reference canvas are halved `levels` times (2x2 means).
//! 2. Census: each pixel of every level becomes 4 bits, the signs (beyond a small dead band)
//!    of the differences to its right and lower neighbours. Signs do not change under any
//!    monotone change of brightness (a light switched on, exposure, the IR switch), so the
//!    match is found before the brightness is corrected.
//! 3. Search: the cost of a shift is the number of census bits that differ between the frame
//!    and the canvas window at that shift (a Hamming distance: a moving object costs at most 4
//!    per pixel, whatever its contrast, so it cannot drag the match far). Every shift within
//!    the margin is tried at the coarsest level; each finer level tries the 3x3 (5x5 just
//!    below the top) shifts around twice the coarser answer.
//!
//! A static camera pays this as well, but the search is small: at 320x240 with a 24-pixel
//! margin it compares about 400 000 census pixels, a fraction of the background model's work.

/// Dead band of the census signs: differences within it count as "equal". At the full size it
/// ignores sensor noise; the averaged coarser levels are quieter.
const CENSUS_DEAD_BAND_FULL: u8 = 4;
const CENSUS_DEAD_BAND_COARSE: u8 = 2;
/// The coarsest level is searched exhaustively over at most this many pixels either way.
const MAX_COARSE_SEARCH: usize = 4;
/// At the full size only every this-many-th row is compared: ample pixels at a third of the
/// cost.
const FULL_SIZE_ROW_STEP: usize = 4;
/// The reference background's pyramid is rebuilt every this many frames.
const CANVAS_REFRESH_FRAMES: u32 = 8;

/// A grey image, row-major.
#[derive(Debug, Clone, Default)]
struct Plane {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Plane {
    fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            pixels: vec![0; width * height],
        }
    }

    fn row(&self, y: usize) -> &[u8] {
        &self.pixels[y * self.width..(y + 1) * self.width]
    }
}

/// An image's pyramid (levels 1 and up; level 0 is the image) and the census of every level.
#[derive(Debug, Clone)]
struct Pyramid {
    halves: Vec<Plane>,
    census: Vec<Plane>,
}

impl Pyramid {
    fn new(width: usize, height: usize, levels: usize) -> Self {
        let planes = |first| {
            (first..=levels)
                .map(|l| Plane::new(width >> l, height >> l))
                .collect()
        };
        Self {
            halves: planes(1),
            census: planes(0),
        }
    }

    /// Rebuilds every level from `image` (rows of the level-0 width).
    fn build(&mut self, image: &[u8]) {
        let width = self.census[0].width;
        census(image, width, CENSUS_DEAD_BAND_FULL, &mut self.census[0]);
        for level in 1..self.census.len() {
            let (done, rest) = self.halves.split_at_mut(level - 1);
            let finer = if level == 1 {
                image
            } else {
                &done[level - 2].pixels
            };
            let finer_width = width >> (level - 1);
            let half = &mut rest[0];
            halve(finer, finer_width, half);
            census(
                &half.pixels,
                half.width,
                CENSUS_DEAD_BAND_COARSE,
                &mut self.census[level],
            );
        }
    }
}

/// Finds the shift of each frame against the reference canvas; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Stabiliser {
    margin: usize,
    /// Halvings below the full size; the search starts at the last.
    levels: usize,
    frame: Pyramid,
    canvas: Pyramid,
    /// Frames since the canvas pyramid was built: the reference changes slowly, so it is
    /// rebuilt every [`CANVAS_REFRESH_FRAMES`].
    canvas_age_frames: u32,
}

impl Stabiliser {
    /// For `width x height` frames on a canvas `margin` pixels larger on every side.
    /// `margin` must be positive.
    pub(crate) fn new(width: usize, height: usize, margin: usize) -> Self {
        let mut levels = 0;
        while (margin >> levels) > MAX_COARSE_SEARCH && (width.min(height) >> (levels + 1)) >= 16 {
            levels += 1;
        }
        Self {
            margin,
            levels,
            frame: Pyramid::new(width, height, levels),
            canvas: Pyramid::new(width + 2 * margin, height + 2 * margin, levels),
            canvas_age_frames: u32::MAX,
        }
    }

    /// The shift that best aligns `frame` (`width x height`) with `canvas` (the reference
    /// background, `width + 2 * margin` pixels wide and high).
    pub(crate) fn estimate(&mut self, frame: &[u8], canvas: &[u8]) -> (i32, i32) {
        self.frame.build(frame);
        if self.canvas_age_frames >= CANVAS_REFRESH_FRAMES {
            self.canvas.build(canvas);
            self.canvas_age_frames = 0;
        }
        self.canvas_age_frames += 1;
        let top = self.levels;
        let reach = (self.margin >> top) as i32;
        let mut best = self.search(top, (0, 0), reach);
        for level in (0..top).rev() {
            let reach = if level + 1 == top { 2 } else { 1 };
            let limit = (self.margin >> level) as i32;
            let centre = (
                (2 * best.0).clamp(-limit, limit),
                (2 * best.1).clamp(-limit, limit),
            );
            best = self.search(level, centre, reach);
        }
        best
    }

    /// The shift within `reach` of `centre` (clamped to the level's margin) with the fewest
    /// differing census bits at `level`; ties go to the first in raster order of shifts.
    fn search(&self, level: usize, centre: (i32, i32), reach: i32) -> (i32, i32) {
        let limit = (self.margin >> level) as i32;
        let frame = &self.frame.census[level];
        let canvas = &self.canvas.census[level];
        let row_step = if level == 0 {
            FULL_SIZE_ROW_STEP
        } else if level == 1 {
            2
        } else {
            1
        };
        let mut best = (u64::MAX, centre);
        for dy in (centre.1 - reach).max(-limit)..=(centre.1 + reach).min(limit) {
            for dx in (centre.0 - reach).max(-limit)..=(centre.0 + reach).min(limit) {
                let ox = (limit + dx) as usize;
                let oy = (limit + dy) as usize;
                let mut cost = 0u64;
                // The last row and column have no census (their neighbours are missing).
                for y in (0..frame.height - 1).step_by(row_step) {
                    let f = &frame.row(y)[..frame.width - 1];
                    let c = &canvas.row(y + oy)[ox..ox + frame.width - 1];
                    cost += u64::from(differing_bits(f, c));
                }
                if cost < best.0 {
                    best = (cost, (dx, dy));
                }
            }
        }
        best.1
    }
}

/// Census bits that differ between two rows of 4-bit census codes.
fn differing_bits(a: &[u8], b: &[u8]) -> u32 {
    // Per chunk in u16 (at most 4 bits x 4096 pixels), with a 4-bit popcount written out in
    // shifts and masks so that the loop vectorises with plain SSE2.
    a.chunks(4096)
        .zip(b.chunks(4096))
        .map(|(a, b)| {
            u32::from(a.iter().zip(b).fold(0u16, |sum, (&x, &y)| {
                let d = x ^ y;
                let pairs = (d & 0b0101) + ((d >> 1) & 0b0101);
                sum + u16::from((pairs & 0b0011) + (pairs >> 2))
            }))
        })
        .sum()
}

/// Writes the 2x2 means of `source` (rows of `width`) into `out` (half its size, rounded
/// down).
fn halve(source: &[u8], width: usize, out: &mut Plane) {
    for y in 0..out.height {
        let top = &source[2 * y * width..2 * y * width + 2 * out.width];
        let bottom = &source[(2 * y + 1) * width..(2 * y + 1) * width + 2 * out.width];
        let row = &mut out.pixels[y * out.width..(y + 1) * out.width];
        for ((o, t), b) in row
            .iter_mut()
            .zip(top.chunks_exact(2))
            .zip(bottom.chunks_exact(2))
        {
            let sum = u16::from(t[0]) + u16::from(t[1]) + u16::from(b[0]) + u16::from(b[1]);
            *o = ((sum + 2) >> 2) as u8;
        }
    }
}

/// The census of `source` (rows of `width`, `out`'s size): per pixel, bit 0 set when the right
/// neighbour is brighter by more than `dead_band`, bit 1 when darker by more; bits 2 and 3
/// likewise for the lower neighbour. The last column and row get 0.
fn census(source: &[u8], width: usize, dead_band: u8, out: &mut Plane) {
    let height = out.height;
    for y in 0..height {
        let row = &source[y * width..y * width + width];
        let below = if y + 1 < height {
            &source[(y + 1) * width..(y + 1) * width + width]
        } else {
            row
        };
        let codes = &mut out.pixels[y * width..(y + 1) * width];
        for x in 0..width - 1 {
            let (c, r, b) = (row[x], row[x + 1], below[x]);
            codes[x] = u8::from(r > c.saturating_add(dead_band))
                | u8::from(r.saturating_add(dead_band) < c) << 1
                | u8::from(b > c.saturating_add(dead_band)) << 2
                | u8::from(b.saturating_add(dead_band) < c) << 3;
        }
        codes[width - 1] = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured, non-repeating test scene, `width x height`, seen with its origin at
    /// `(ox, oy)`: blocks of three sizes with pseudo-random grey levels, so every pyramid
    /// level has edges.
    fn scene(width: usize, height: usize, ox: i32, oy: i32) -> Vec<u8> {
        let hash = |a: i32, b: i32, salt: u32| {
            let mut h = (a as u32).wrapping_mul(0x9E37_79B1) ^ (b as u32).wrapping_mul(0x85EB_CA77);
            h = (h ^ salt ^ (h >> 15)).wrapping_mul(0x2C1B_3C6D);
            h ^ (h >> 13)
        };
        (0..height)
            .flat_map(|y| {
                (0..width).map(move |x| {
                    let (sx, sy) = (x as i32 + ox, y as i32 + oy);
                    let v = hash(sx.div_euclid(16), sy.div_euclid(16), 1) % 120
                        + hash(sx.div_euclid(5), sy.div_euclid(5), 2) % 80
                        + hash(sx, sy, 3) % 8;
                    v as u8
                })
            })
            .collect()
    }

    #[test]
    fn shifts_within_the_margin_are_found_exactly() {
        let (w, h, margin) = (96, 64, 12);
        let canvas = scene(w + 2 * margin, h + 2 * margin, 0, 0);
        let mut stabiliser = Stabiliser::new(w, h, margin);
        // (frame origin on the canvas minus the margin) = the shift to find.
        for shift in [(0, 0), (3, -2), (-12, 12), (7, 9), (-5, -11), (12, -1)] {
            let frame = scene(w, h, margin as i32 + shift.0, margin as i32 + shift.1);
            assert_eq!(stabiliser.estimate(&frame, &canvas), shift);
        }
    }

    #[test]
    fn a_brightness_change_does_not_move_the_match() {
        let (w, h, margin) = (96, 64, 8);
        let canvas = scene(w + 2 * margin, h + 2 * margin, 0, 0);
        let frame: Vec<u8> = scene(w, h, margin as i32 + 2, margin as i32 - 3)
            .iter()
            .map(|&v| (u16::from(v) * 3 / 5 + 20) as u8)
            .collect();
        let mut stabiliser = Stabiliser::new(w, h, margin);
        assert_eq!(stabiliser.estimate(&frame, &canvas), (2, -3));
    }

    #[test]
    fn census_codes_are_signs_beyond_the_dead_band() {
        // Row 0: 10 -> 20 (brighter right), 20 -> 18 (within band), 18 last column.
        // Row 1 below row 0: 5 (darker below), 30 (brighter below), 0; as the last row it
        // has only horizontal bits: 5 -> 30 brighter, 30 -> 0 darker.
        let source = [10, 20, 18, 5, 30, 0];
        let mut out = Plane::new(3, 2);
        census(&source, 3, 4, &mut out);
        assert_eq!(out.pixels, [0b1001, 0b0100, 0, 0b0001, 0b0010, 0]);
    }
}
