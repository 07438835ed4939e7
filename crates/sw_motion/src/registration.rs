//! Global motion compensation: how far the camera has shifted the picture relative to the
//! background model, found by coarse-to-fine matching of census images, and confirmed cheaply
//! while the camera holds still.
//!
//! Owns: the image pyramids of the frame and of the reference background, their census
//! transforms, the search for the whole-pixel shift that best aligns the two, and the
//! steady-camera check that skips the search while the previous shift still fits.
//! Does not own: the reference background itself (the background model keeps it on its canvas
//! and hands it in), or applying the shift (the model compares each frame pixel with the model
//! pixel the shift points at).
//!
//! The shift `(dx, dy)` says that frame pixel `(x, y)` shows what canvas pixel
//! `(x + margin + dx, y + margin + dy)` holds, `|dx|, |dy| <= margin`.
//!
//! Method, per frame:
//! 1. Census: each pixel becomes 4 bits, the signs (beyond a small dead band) of the
//!    differences to its right and lower neighbours. Signs do not change under any monotone
//!    change of brightness (a light switched on, exposure, the IR switch), so the match is
//!    found before the brightness is corrected. The cost of a shift is the number of census
//!    bits that differ between the frame and the canvas window at that shift (a Hamming
//!    distance: a moving object costs at most 4 per pixel, whatever its contrast, so it cannot
//!    drag the match far).
//! 2. Steady check: at the full size, the previous frame's shift is kept when each of its
//!    four neighbours costs at least an eighth more. On footage from fixed cameras the
//!    neighbours cost 1.16 to 1.9 times as much, so the check passes on almost every frame;
//!    after a camera moved, the old shift is no minimum at all (its neighbours cost at most
//!    1.01 times as much on CDnet traffic). The check is tried only while the shift has stayed
//!    put, and at most [`STEADY_FRAMES_BETWEEN_SEARCHES`] times in a row, so a shaking camera
//!    goes straight to the search and a still one is searched in full every 16th frame.
//! 3. Otherwise the full search: pyramids of the frame and of the reference canvas (2x2
//!    means, `levels` halvings), every shift within the margin at the coarsest level, then the
//!    3x3 (5x5 just below the top) shifts around twice the coarser answer at each finer level.
//!    Its answer replaces the previous shift only when it costs strictly less at the full
//!    size and the frame has texture to match (not a covered lens or a black night, where the
//!    least textured window of the model would otherwise win).
//!
//! At 320x240 with a 24-pixel margin the check compares about 100 000 census codes, the full
//! search about 430 000 (and builds the coarser levels).

/// Dead band of the census signs: differences within it count as "equal". At the full size it
/// ignores sensor noise; the averaged coarser levels are quieter.
const CENSUS_DEAD_BAND_FULL: u8 = 4;
const CENSUS_DEAD_BAND_COARSE: u8 = 2;
/// The coarsest level is searched exhaustively over at most this many pixels either way.
const MAX_COARSE_SEARCH: usize = 4;
/// The reference background's pyramid is rebuilt every this many frames.
const CANVAS_REFRESH_FRAMES: u32 = 8;
/// The steady check keeps the previous shift when each of its four neighbours costs at least
/// `1 / STEADY_VALLEY_DIVISOR` more (and strictly more).
const STEADY_VALLEY_DIVISOR: u64 = 8;
/// After this many frames confirmed by the steady check alone, the next frame runs the full
/// search (a safety net: a jump the check could not tell from a still camera lasts at most
/// this long).
const STEADY_FRAMES_BETWEEN_SEARCHES: u32 = 15;
/// A frame whose full-size census has fewer set bits than one per this many compared pixels
/// has too little texture to be matched (a covered lens, a black night, fog) and keeps the
/// previous shift; the CDnet footage has one per 1.2 (highway) to 5.6 (traffic's motion
/// blur) pixels.
const MIN_TEXTURE_PIXELS_PER_BIT: u64 = 32;

/// Rows compared at `level`: every 4th at the full size (ample pixels at a quarter of the
/// cost), every 2nd at half size, all above.
fn row_step(level: usize) -> usize {
    match level {
        0 => 4,
        1 => 2,
        _ => 1,
    }
}

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
    /// Whether only the rows a search compares get a census (the frame's), or all rows (the
    /// canvas's: every row is under some shift).
    compared_rows_only: bool,
}

impl Pyramid {
    fn new(width: usize, height: usize, levels: usize, compared_rows_only: bool) -> Self {
        let planes = |first| {
            (first..=levels)
                .map(|l| Plane::new(width >> l, height >> l))
                .collect()
        };
        Self {
            halves: planes(1),
            census: planes(0),
            compared_rows_only,
        }
    }

    fn census_row_step(&self, level: usize) -> usize {
        if self.compared_rows_only {
            row_step(level)
        } else {
            1
        }
    }

    /// Rebuilds the census of level 0 from `image`.
    fn build_full_size(&mut self, image: &[u8]) {
        let step = self.census_row_step(0);
        census(image, CENSUS_DEAD_BAND_FULL, step, &mut self.census[0]);
    }

    /// Rebuilds levels 1 and up from `image` (level 0, rows of the level-0 width).
    fn build_coarse(&mut self, image: &[u8]) {
        let width = self.census[0].width;
        for level in 1..self.census.len() {
            let step = self.census_row_step(level);
            let (done, rest) = self.halves.split_at_mut(level - 1);
            let finer = if level == 1 {
                image
            } else {
                &done[level - 2].pixels
            };
            let half = &mut rest[0];
            halve(finer, width >> (level - 1), half);
            census(
                &half.pixels,
                CENSUS_DEAD_BAND_COARSE,
                step,
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
    /// The shift of the previous frame.
    previous: (i32, i32),
    /// Whether the previous frame's shift was the same as the one before it (or was confirmed
    /// by the steady check): only then is the check worth trying.
    steady: bool,
    /// Frames confirmed by the steady check since the last full search.
    steady_frames: u32,
    /// A row of census codes 0, to count the frame's own set bits against.
    blank_row: Vec<u8>,
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
            frame: Pyramid::new(width, height, levels, true),
            canvas: Pyramid::new(width + 2 * margin, height + 2 * margin, levels, false),
            canvas_age_frames: u32::MAX,
            previous: (0, 0),
            steady: false,
            steady_frames: 0,
            blank_row: vec![0; width],
        }
    }

    /// The shift that best aligns `frame` (`width x height`) with `canvas` (the reference
    /// background, `width + 2 * margin` pixels wide and high).
    pub(crate) fn estimate(&mut self, frame: &[u8], canvas: &[u8]) -> (i32, i32) {
        if self.canvas_age_frames >= CANVAS_REFRESH_FRAMES {
            self.canvas.build_full_size(canvas);
            self.canvas.build_coarse(canvas);
            self.canvas_age_frames = 0;
        }
        self.canvas_age_frames += 1;
        self.frame.build_full_size(frame);

        let previous = self.previous;
        let previous_cost = self.cost(0, previous);
        if self.steady
            && self.steady_frames < STEADY_FRAMES_BETWEEN_SEARCHES
            && self.is_clear_minimum(previous, previous_cost)
        {
            self.steady_frames += 1;
            return previous;
        }

        self.frame.build_coarse(frame);
        let (best_cost, best) = self.search_all_levels();
        let shift = if best_cost < previous_cost && !self.is_textureless() {
            best
        } else {
            previous
        };
        self.steady = shift == previous;
        self.steady_frames = 0;
        self.previous = shift;
        shift
    }

    /// The coarse-to-fine search: its answer and that answer's cost at the full size.
    fn search_all_levels(&self) -> (u64, (i32, i32)) {
        let top = self.levels;
        let reach = (self.margin >> top) as i32;
        let mut best = self.search(top, (0, 0), reach);
        for level in (0..top).rev() {
            let reach = if level + 1 == top { 2 } else { 1 };
            let limit = (self.margin >> level) as i32;
            let centre = (
                (2 * best.1.0).clamp(-limit, limit),
                (2 * best.1.1).clamp(-limit, limit),
            );
            best = self.search(level, centre, reach);
        }
        best
    }

    /// Whether `shift`, costing `cost` at the full size, is clearly cheaper than each of its
    /// four neighbours (all within the margin).
    fn is_clear_minimum(&self, shift: (i32, i32), cost: u64) -> bool {
        let limit = self.margin as i32;
        let floor = (cost + cost / STEADY_VALLEY_DIVISOR).max(cost + 1);
        [(0, -1), (-1, 0), (1, 0), (0, 1)].iter().all(|&(dx, dy)| {
            let neighbour = (shift.0 + dx, shift.1 + dy);
            neighbour.0.abs() <= limit
                && neighbour.1.abs() <= limit
                && self.cost(0, neighbour) >= floor
        })
    }

    /// Whether the frame has too little texture at the full size to be matched.
    fn is_textureless(&self) -> bool {
        let frame = &self.frame.census[0];
        let rows = (frame.height - 1).div_ceil(row_step(0));
        let pixels = (rows * (frame.width - 1)) as u64;
        self.differing_bits(0, |_| &self.blank_row) * MIN_TEXTURE_PIXELS_PER_BIT < pixels
    }

    /// The shift within `reach` of `centre` (clamped to the level's margin) with the fewest
    /// differing census bits at `level`, and that number; ties go to the first in raster order
    /// of shifts.
    fn search(&self, level: usize, centre: (i32, i32), reach: i32) -> (u64, (i32, i32)) {
        let limit = (self.margin >> level) as i32;
        let mut best = (u64::MAX, centre);
        for dy in (centre.1 - reach).max(-limit)..=(centre.1 + reach).min(limit) {
            for dx in (centre.0 - reach).max(-limit)..=(centre.0 + reach).min(limit) {
                let cost = self.cost(level, (dx, dy));
                if cost < best.0 {
                    best = (cost, (dx, dy));
                }
            }
        }
        best
    }

    /// Differing census bits between the frame and the canvas window at `shift` (in the
    /// level's pixels), over the level's compared rows.
    fn cost(&self, level: usize, shift: (i32, i32)) -> u64 {
        let limit = (self.margin >> level) as i32;
        let canvas = &self.canvas.census[level];
        let ox = (limit + shift.0) as usize;
        let oy = (limit + shift.1) as usize;
        self.differing_bits(level, |y| &canvas.row(y + oy)[ox..])
    }

    /// Differing census bits between each compared row `y` of the frame at `level` and the
    /// start of `other(y)` (at least as long as the frame's rows).
    fn differing_bits<'a>(&'a self, level: usize, other: impl Fn(usize) -> &'a [u8]) -> u64 {
        let frame = &self.frame.census[level];
        // The last row and column have no census (their neighbours are missing).
        let compared = frame.width - 1;
        let mut counter = BitCounter::default();
        for y in (0..frame.height - 1).step_by(row_step(level)) {
            counter.add_rows(&frame.row(y)[..compared], &other(y)[..compared]);
        }
        counter.total()
    }
}

/// Counts the census bits that differ between pairs of rows of 4-bit census codes, eight
/// codes at a time in a `u64` whose bytes count their own code's bits: plain integer
/// arithmetic, about twice the speed of a loop over single codes (which the compiler
/// vectorises only in part).
#[derive(Debug, Default)]
struct BitCounter {
    /// Per byte, bits counted since the last [`BitCounter::empty_bytes`].
    counts: u64,
    /// Words added to `counts` since then, at most [`MAX_WORDS`].
    words: u32,
    total: u64,
}

/// At most 4 bits per code: a byte of [`BitCounter::counts`] holds the counts of 63 words.
const MAX_WORDS: u32 = 63;

impl BitCounter {
    /// Adds the differing bits of `a` and `b` (over the shorter's length).
    #[inline]
    fn add_rows(&mut self, a: &[u8], b: &[u8]) {
        let length = a.len().min(b.len());
        let (a, b) = (&a[..length], &b[..length]);
        let (a_words, _) = a.as_chunks::<8>();
        let (b_words, _) = b.as_chunks::<8>();
        // Runs of words summed without a check per word (the compiler vectorises the sum),
        // each run into counts with room for it.
        for (a_run, b_run) in a_words
            .chunks(MAX_WORDS as usize)
            .zip(b_words.chunks(MAX_WORDS as usize))
        {
            let words = a_run.len() as u32;
            if self.words + words > MAX_WORDS {
                self.empty_bytes();
            }
            self.counts += a_run
                .iter()
                .zip(b_run)
                .map(|(x, y)| bits_per_byte(u64::from_le_bytes(*x) ^ u64::from_le_bytes(*y)))
                .sum::<u64>();
            self.words += words;
        }
        // The codes after the last whole word: the row's last 8 codes, those already
        // counted masked out (or, in a row shorter than a word, one by one).
        let rest = length % 8;
        if rest > 0 {
            match (a.last_chunk::<8>(), b.last_chunk::<8>()) {
                (Some(x), Some(y)) => {
                    if self.words == MAX_WORDS {
                        self.empty_bytes();
                    }
                    let fresh = u64::MAX << (8 * (8 - rest));
                    self.counts +=
                        bits_per_byte((u64::from_le_bytes(*x) ^ u64::from_le_bytes(*y)) & fresh);
                    self.words += 1;
                }
                _ => {
                    self.total += a
                        .iter()
                        .zip(b)
                        .map(|(&x, &y)| u64::from(bits_of_code(x ^ y)))
                        .sum::<u64>();
                }
            }
        }
    }

    fn empty_bytes(&mut self) {
        self.total += byte_sum(self.counts);
        self.counts = 0;
        self.words = 0;
    }

    fn total(mut self) -> u64 {
        self.empty_bytes();
        self.total
    }
}

/// Per byte of `codes`, the number of set bits among its low 4 (each byte's high 4 must be 0).
#[inline(always)]
fn bits_per_byte(codes: u64) -> u64 {
    const BITS_0_2: u64 = 0x0505_0505_0505_0505;
    const BITS_0_1: u64 = 0x0303_0303_0303_0303;
    let pairs = (codes & BITS_0_2) + ((codes >> 1) & BITS_0_2);
    (pairs & BITS_0_1) + ((pairs >> 2) & BITS_0_1)
}

/// The sum of the 8 bytes of `counts` (each at most 255).
#[inline(always)]
fn byte_sum(counts: u64) -> u64 {
    const LOW_BYTES: u64 = 0x00FF_00FF_00FF_00FF;
    let pairs = (counts & LOW_BYTES) + ((counts >> 8) & LOW_BYTES);
    pairs.wrapping_mul(0x0001_0001_0001_0001) >> 48
}

/// The number of set bits among the low 4 of `code`.
fn bits_of_code(code: u8) -> u8 {
    let pairs = (code & 0b0101) + ((code >> 1) & 0b0101);
    (pairs & 0b0011) + (pairs >> 2)
}

/// Writes the 2x2 means of `source` (rows of `width`) into `out` (half its size, rounded
/// down).
fn halve(source: &[u8], width: usize, out: &mut Plane) {
    for y in 0..out.height {
        let top = &source[2 * y * width..2 * y * width + 2 * out.width];
        let bottom = &source[(2 * y + 1) * width..(2 * y + 1) * width + 2 * out.width];
        let row = &mut out.pixels[y * out.width..(y + 1) * out.width];
        let (top, _) = top.as_chunks::<2>();
        let (bottom, _) = bottom.as_chunks::<2>();
        for ((o, t), b) in row.iter_mut().zip(top).zip(bottom) {
            // A pair of pixels as one u16 adds without shuffling bytes (4x faster).
            let (t, b) = (u16::from_le_bytes(*t), u16::from_le_bytes(*b));
            let sum = (t & 0xFF) + (t >> 8) + (b & 0xFF) + (b >> 8);
            *o = ((sum + 2) >> 2) as u8;
        }
    }
}

/// The census of `source` (rows of `out`'s width) on rows `0, row_step, 2 * row_step, ...`
/// of `out` (the others are left as they were): per pixel, bit 0 set when the right neighbour
/// is brighter by more than `dead_band`, bit 1 when darker by more; bits 2 and 3 likewise for
/// the lower neighbour. The last column gets 0, the last row only its horizontal bits.
fn census(source: &[u8], dead_band: u8, row_step: usize, out: &mut Plane) {
    let (width, height) = (out.width, out.height);
    for y in (0..height).step_by(row_step) {
        let row = &source[y * width..(y + 1) * width];
        let below = if y + 1 < height {
            &source[(y + 1) * width..(y + 2) * width]
        } else {
            row
        };
        let codes = &mut out.pixels[y * width..(y + 1) * width];
        let n = width - 1;
        for (((code, &c), &r), &b) in codes[..n]
            .iter_mut()
            .zip(&row[..n])
            .zip(&row[1..])
            .zip(&below[..n])
        {
            // Unsigned comparisons as signed ones of the values shifted by 128: SSE2 has
            // only the latter.
            let brighter = (c.saturating_add(dead_band) ^ 0x80) as i8;
            let darker = (c.saturating_sub(dead_band) ^ 0x80) as i8;
            let (r, b) = ((r ^ 0x80) as i8, (b ^ 0x80) as i8);
            *code = u8::from(r > brighter)
                | u8::from(r < darker) << 1
                | u8::from(b > brighter) << 2
                | u8::from(b < darker) << 3;
        }
        codes[n] = 0;
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

    /// The frame that shows `canvas` (of a `margin` larger scene) at `shift`.
    fn frame_at(w: usize, h: usize, margin: usize, shift: (i32, i32)) -> Vec<u8> {
        scene(w, h, margin as i32 + shift.0, margin as i32 + shift.1)
    }

    #[test]
    fn shifts_within_the_margin_are_found_exactly() {
        let (w, h, margin) = (96, 64, 12);
        let canvas = scene(w + 2 * margin, h + 2 * margin, 0, 0);
        let mut stabiliser = Stabiliser::new(w, h, margin);
        for shift in [(0, 0), (3, -2), (-12, 12), (7, 9), (-5, -11), (12, -1)] {
            let frame = frame_at(w, h, margin, shift);
            assert_eq!(stabiliser.estimate(&frame, &canvas), shift);
        }
    }

    #[test]
    fn a_brightness_change_does_not_move_the_match() {
        let (w, h, margin) = (96, 64, 8);
        let canvas = scene(w + 2 * margin, h + 2 * margin, 0, 0);
        let frame: Vec<u8> = frame_at(w, h, margin, (2, -3))
            .iter()
            .map(|&v| (u16::from(v) * 3 / 5 + 20) as u8)
            .collect();
        let mut stabiliser = Stabiliser::new(w, h, margin);
        assert_eq!(stabiliser.estimate(&frame, &canvas), (2, -3));
    }

    #[test]
    fn a_still_camera_is_confirmed_by_the_check_and_searched_in_full_every_16_frames() {
        let (w, h, margin) = (96, 64, 12);
        let canvas = scene(w + 2 * margin, h + 2 * margin, 0, 0);
        let frame = frame_at(w, h, margin, (4, -3));
        let mut stabiliser = Stabiliser::new(w, h, margin);
        // Per frame: the shift, and the frames confirmed by the check alone so far (0: a full
        // search ran). The first search moves from (0, 0); the second confirms the camera
        // stays, and only then is the check tried.
        let mut expected = vec![((4, -3), 0), ((4, -3), 0)];
        expected.extend((1..=15).map(|k| ((4, -3), k)));
        expected.extend([((4, -3), 0), ((4, -3), 1)]);
        let got: Vec<_> = expected
            .iter()
            .map(|_| {
                let shift = stabiliser.estimate(&frame, &canvas);
                (shift, stabiliser.steady_frames)
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_jump_of_a_steady_camera_is_found_on_the_frame_it_happens() {
        let (w, h, margin) = (96, 64, 12);
        let canvas = scene(w + 2 * margin, h + 2 * margin, 0, 0);
        let mut stabiliser = Stabiliser::new(w, h, margin);
        // (shift shown, frames confirmed by the check alone afterwards).
        let table = [
            ((2, 1), 0),
            ((2, 1), 0),
            ((2, 1), 1),
            ((2, 1), 2),
            ((3, 1), 0),
            ((-9, 6), 0),
            ((-9, 6), 0),
            ((-9, 6), 1),
        ];
        for (shift, steady_frames) in table {
            let frame = frame_at(w, h, margin, shift);
            assert_eq!(stabiliser.estimate(&frame, &canvas), shift);
            assert_eq!(stabiliser.steady_frames, steady_frames, "at {shift:?}");
        }
    }

    #[test]
    fn a_frame_without_texture_keeps_the_previous_shift() {
        let (w, h, margin) = (96, 64, 12);
        let canvas = scene(w + 2 * margin, h + 2 * margin, 0, 0);
        let mut stabiliser = Stabiliser::new(w, h, margin);
        assert_eq!(
            stabiliser.estimate(&frame_at(w, h, margin, (5, 7)), &canvas),
            (5, 7)
        );
        // A covered lens: every shift costs the same, and the camera stays where it was.
        for luma in [0, 128] {
            assert_eq!(stabiliser.estimate(&vec![luma; w * h], &canvas), (5, 7));
        }
    }

    #[test]
    fn the_bit_counter_counts_every_code_once_whatever_the_lengths() {
        // Rows of codes `i % 16` against 0 (0..=4 bits each) and against 15, added twice.
        for length in [0, 1, 7, 8, 9, 15, 16, 17, 319, 504, 505, 2000] {
            let a: Vec<u8> = (0..length).map(|i| (i % 16) as u8).collect();
            let zeros = vec![0; length];
            let ones = vec![15; length];
            let expected = (0..length)
                .map(|i| (i % 16).count_ones() as u64)
                .sum::<u64>();
            let mut counter = BitCounter::default();
            counter.add_rows(&a, &zeros);
            counter.add_rows(&a, &zeros);
            assert_eq!(counter.total(), 2 * expected, "length {length}");
            let mut counter = BitCounter::default();
            counter.add_rows(&ones, &a);
            assert_eq!(counter.total(), 4 * length as u64 - expected);
        }
    }

    #[test]
    fn halving_averages_2x2_blocks_rounding_half_up() {
        // 5x3 source: the last column and row do not fit a block.
        let source = [
            0, 1, 10, 20, 99, //
            2, 2, 30, 41, 99, //
            99, 99, 99, 99, 99,
        ];
        let mut out = Plane::new(2, 1);
        halve(&source, 5, &mut out);
        // (0+1+2+2)/4 = 1.25 -> 1; (10+20+30+41)/4 = 25.25 -> 25.
        assert_eq!(out.pixels, [1, 25]);
        let mut out = Plane::new(1, 1);
        halve(&[255, 255, 255, 254], 2, &mut out);
        assert_eq!(out.pixels, [255]);
    }

    #[test]
    fn census_codes_are_signs_beyond_the_dead_band() {
        // Row 0: 10 -> 20 (brighter right), 20 -> 18 (within band), 18 last column.
        // Row 1 below row 0: 5 (darker below), 30 (brighter below), 0; as the last row it
        // has only horizontal bits: 5 -> 30 brighter, 30 -> 0 darker.
        let source = [10, 20, 18, 5, 30, 0];
        let mut out = Plane::new(3, 2);
        census(&source, 4, 1, &mut out);
        assert_eq!(out.pixels, [0b1001, 0b0100, 0, 0b0001, 0b0010, 0]);
        // Saturation at both ends: 251 + 4 and 4 - 4 clip, so nothing is brighter than 255 or
        // darker than 0.
        let source = [251, 255, 4, 0];
        let mut out = Plane::new(4, 1);
        census(&source, 4, 1, &mut out);
        assert_eq!(out.pixels, [0, 0b0010, 0, 0]);
        // With a row step of 2 only rows 0 and 2 are written.
        let source = [0, 9, 0, 9, 0, 9];
        let mut out = Plane::new(2, 3);
        out.pixels.fill(0xFF);
        census(&source, 4, 2, &mut out);
        assert_eq!(out.pixels, [0b0001, 0, 0xFF, 0xFF, 0b0001, 0]);
    }
}
