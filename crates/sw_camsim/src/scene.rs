//! The synthetic scene: deterministic I420 frames that look like a camera watching motion.
//!
//! Owns: rendering frame N of a seeded scene: a textured background (multi-octave value noise
//! plus a few static blocks with hard edges), moving rectangles and ellipses (striped, bouncing
//! off the frame edges), per-pixel sensor noise and an optional global lighting change.
//! Everything depends only on the seed and the frame index, so a frame can be rendered again
//! and compared. Does not own: timestamps, encoding or GStreamer (see `source`).

use crate::options::{LightingChange, Resolution, SyntheticOptions};

/// A seeded scene at one frame size.
#[derive(Debug)]
pub(crate) struct Scene {
    width: usize,
    height: usize,
    fps: u32,
    seed: u64,
    noise_amplitude_luma: u8,
    lighting_change: Option<LightingChange>,
    background_luma: Vec<u8>,
    background_u: Vec<u8>,
    background_v: Vec<u8>,
    shapes: Vec<Shape>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ShapeKind {
    Rectangle,
    Ellipse,
}

/// A moving object; sizes, positions and speeds are fractions of the frame so the scene looks
/// the same at any resolution.
#[derive(Debug)]
struct Shape {
    kind: ShapeKind,
    size_fraction: (f64, f64),
    start_fraction: (f64, f64),
    velocity_fraction_per_sec: (f64, f64),
    luma: u8,
    stripe_luma: u8,
    stripe_fraction: f64,
    u: u8,
    v: u8,
}

impl Scene {
    pub fn new(options: &SyntheticOptions, resolution: Resolution) -> Self {
        let width = resolution.width as usize;
        let height = resolution.height as usize;
        let mut rng = SplitMix64(options.seed);
        let background_luma = render_background(&mut rng, width, height);
        let (chroma_width, chroma_height) = (width / 2, height / 2);
        let background_u = value_noise(&mut rng, chroma_width, chroma_height, &[(6, 1.0)])
            .iter()
            .map(|n| (108.0 + n * 40.0) as u8)
            .collect();
        let background_v = value_noise(&mut rng, chroma_width, chroma_height, &[(6, 1.0)])
            .iter()
            .map(|n| (108.0 + n * 40.0) as u8)
            .collect();
        let shapes = (0..options.shapes)
            .map(|_| Shape::random(&mut rng))
            .collect();
        Self {
            width,
            height,
            fps: options.fps,
            seed: options.seed,
            noise_amplitude_luma: options.noise_amplitude_luma,
            lighting_change: options.lighting_change,
            background_luma,
            background_u,
            background_v,
            shapes,
        }
    }

    /// Bytes in one I420 frame.
    pub fn frame_bytes(&self) -> usize {
        self.width * self.height * 3 / 2
    }

    /// Renders frame `frame_index` into `out` (I420: Y, then U, then V, no padding).
    pub fn render_i420(&self, frame_index: u64, out: &mut [u8]) {
        let luma_len = self.width * self.height;
        let chroma_len = luma_len / 4;
        let (luma, chroma) = out.split_at_mut(luma_len);
        let (u_plane, v_plane) = chroma.split_at_mut(chroma_len);
        luma.copy_from_slice(&self.background_luma);
        u_plane.copy_from_slice(&self.background_u);
        v_plane.copy_from_slice(&self.background_v);

        let seconds = frame_index as f64 / f64::from(self.fps);
        for shape in &self.shapes {
            self.draw(shape, seconds, luma, u_plane, v_plane);
        }

        let offset = self
            .lighting_change
            .map_or(0, |change| lighting_offset_luma(&change, seconds));
        let amplitude = i32::from(self.noise_amplitude_luma);
        if offset == 0 && amplitude == 0 {
            return;
        }
        let span = (2 * amplitude + 1) as u32;
        let mut rng = SplitMix64(self.seed ^ frame_index.wrapping_mul(0xA24B_AED4_963E_E407));
        for chunk in luma.chunks_mut(8) {
            let random = rng.next_u64().to_le_bytes();
            for (pixel, byte) in chunk.iter_mut().zip(random) {
                let noise = ((u32::from(byte) * span) >> 8) as i32 - amplitude;
                *pixel = (i32::from(*pixel) + offset + noise).clamp(0, 255) as u8;
            }
        }
    }

    fn draw(&self, shape: &Shape, seconds: f64, luma: &mut [u8], u: &mut [u8], v: &mut [u8]) {
        let (width, height) = (self.width as f64, self.height as f64);
        let free = (1.0 - shape.size_fraction.0, 1.0 - shape.size_fraction.1);
        let x = reflect(
            shape.start_fraction.0 * free.0 + shape.velocity_fraction_per_sec.0 * seconds,
            free.0,
        );
        let y = reflect(
            shape.start_fraction.1 * free.1 + shape.velocity_fraction_per_sec.1 * seconds,
            free.1,
        );
        let left = (x * width).round() as usize;
        let top = (y * height).round() as usize;
        let shape_width = ((shape.size_fraction.0 * width).round() as usize).max(2);
        let shape_height = ((shape.size_fraction.1 * height).round() as usize).max(2);
        let stripe_pixels = ((shape.stripe_fraction * width).round() as usize).max(1);
        let (radius_x, radius_y) = (shape_width as f64 / 2.0, shape_height as f64 / 2.0);
        let inside = |column: usize, row: usize| match shape.kind {
            ShapeKind::Rectangle => true,
            ShapeKind::Ellipse => {
                let dx = (column as f64 + 0.5 - radius_x) / radius_x;
                let dy = (row as f64 + 0.5 - radius_y) / radius_y;
                dx * dx + dy * dy <= 1.0
            }
        };
        let rows = top..(top + shape_height).min(self.height);
        let columns = left..(left + shape_width).min(self.width);
        for y in rows.clone() {
            for x in columns.clone() {
                if !inside(x - left, y - top) {
                    continue;
                }
                // Diagonal stripes move with the shape, so its inside is textured too.
                let stripe = ((x - left) + (y - top)) / stripe_pixels % 2 == 1;
                luma[y * self.width + x] = if stripe {
                    shape.stripe_luma
                } else {
                    shape.luma
                };
                if x % 2 == 0 && y % 2 == 0 {
                    let chroma_index = (y / 2) * (self.width / 2) + x / 2;
                    u[chroma_index] = shape.u;
                    v[chroma_index] = shape.v;
                }
            }
        }
    }
}

impl Shape {
    fn random(rng: &mut SplitMix64) -> Self {
        let kind = if rng.next_u64().is_multiple_of(2) {
            ShapeKind::Rectangle
        } else {
            ShapeKind::Ellipse
        };
        let sign = |rng: &mut SplitMix64| {
            if rng.next_u64().is_multiple_of(2) {
                1.0
            } else {
                -1.0
            }
        };
        // Dark or bright against a mid-grey background, never the same grey.
        let luma = if rng.next_u64().is_multiple_of(2) {
            rng.range(20.0, 60.0)
        } else {
            rng.range(200.0, 240.0)
        } as u8;
        let stripe_luma = if luma < 128 { luma + 30 } else { luma - 30 };
        Self {
            kind,
            size_fraction: (rng.range(0.06, 0.16), rng.range(0.10, 0.28)),
            start_fraction: (rng.range(0.0, 1.0), rng.range(0.0, 1.0)),
            velocity_fraction_per_sec: (
                sign(rng) * rng.range(0.06, 0.20),
                sign(rng) * rng.range(0.02, 0.10),
            ),
            luma,
            stripe_luma,
            stripe_fraction: rng.range(0.01, 0.03),
            u: rng.range(60.0, 196.0) as u8,
            v: rng.range(60.0, 196.0) as u8,
        }
    }
}

/// Luma background: value noise in 50..=205 plus static blocks (35 levels lighter or darker)
/// that give hard edges, like windows and kerbs; kept in video range (16..=235).
fn render_background(rng: &mut SplitMix64, width: usize, height: usize) -> Vec<u8> {
    let octaves = [(8, 1.0), (16, 0.5), (32, 0.3), (96, 0.2), (192, 0.12)];
    let mut luma: Vec<u8> = value_noise(rng, width, height, &octaves)
        .iter()
        .map(|n| (50.0 + n * 155.0) as u8)
        .collect();
    for _ in 0..8 {
        let block_width = (rng.range(0.05, 0.2) * width as f64) as usize;
        let block_height = (rng.range(0.05, 0.2) * height as f64) as usize;
        let left = (rng.range(0.0, 1.0) * (width - block_width) as f64) as usize;
        let top = (rng.range(0.0, 1.0) * (height - block_height) as f64) as usize;
        let lighter = rng.next_u64().is_multiple_of(2);
        for y in top..top + block_height {
            for pixel in &mut luma[y * width + left..y * width + left + block_width] {
                *pixel = if lighter {
                    pixel.saturating_add(35)
                } else {
                    pixel.saturating_sub(35)
                }
                .clamp(16, 235);
            }
        }
    }
    luma
}

/// Multi-octave value noise in 0..1: for each `(cells across the width, weight)` a lattice of
/// random values, smoothly interpolated.
fn value_noise(
    rng: &mut SplitMix64,
    width: usize,
    height: usize,
    octaves: &[(usize, f64)],
) -> Vec<f64> {
    let mut sum = vec![0.0; width * height];
    let total_weight: f64 = octaves.iter().map(|(_, weight)| weight).sum();
    for &(cells_across, weight) in octaves {
        let cell_pixels = (width as f64 / cells_across as f64).max(1.0);
        let columns = (width as f64 / cell_pixels).ceil() as usize + 2;
        let rows = (height as f64 / cell_pixels).ceil() as usize + 2;
        let lattice: Vec<f64> = (0..columns * rows).map(|_| rng.range(0.0, 1.0)).collect();
        for y in 0..height {
            let fy = y as f64 / cell_pixels;
            let (row, ty) = (fy as usize, smoothstep(fy.fract()));
            for x in 0..width {
                let fx = x as f64 / cell_pixels;
                let (column, tx) = (fx as usize, smoothstep(fx.fract()));
                let at = |c: usize, r: usize| lattice[r * columns + c];
                let top = at(column, row) * (1.0 - tx) + at(column + 1, row) * tx;
                let bottom = at(column, row + 1) * (1.0 - tx) + at(column + 1, row + 1) * tx;
                sum[y * width + x] += weight * (top * (1.0 - ty) + bottom * ty);
            }
        }
    }
    sum.iter_mut().for_each(|value| *value /= total_weight);
    sum
}

fn smoothstep(t: f64) -> f64 {
    t * t * (3.0 - 2.0 * t)
}

/// Bounces a position back and forth within `0..=range` (a triangle wave).
fn reflect(position: f64, range: f64) -> f64 {
    if range <= 0.0 {
        return 0.0;
    }
    let folded = position.rem_euclid(2.0 * range);
    if folded > range {
        2.0 * range - folded
    } else {
        folded
    }
}

/// The lighting offset at `seconds`: 0 before the change, `delta_luma` after the ramp.
fn lighting_offset_luma(change: &LightingChange, seconds: f64) -> i32 {
    let since = seconds - change.at.as_secs_f64();
    if since <= 0.0 {
        return 0;
    }
    let ramp = change.ramp.as_secs_f64();
    let progress = if ramp <= 0.0 {
        1.0
    } else {
        (since / ramp).min(1.0)
    };
    (f64::from(change.delta_luma) * progress).round() as i32
}

/// SplitMix64: small, fast and deterministic across platforms.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..high`.
    fn range(&mut self, low: f64, high: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        low + unit * (high - low)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const SIZE: Resolution = Resolution::new(160, 96);

    fn render(options: &SyntheticOptions, frame_index: u64) -> Vec<u8> {
        let scene = Scene::new(options, SIZE);
        let mut frame = vec![0; scene.frame_bytes()];
        scene.render_i420(frame_index, &mut frame);
        frame
    }

    fn luma(frame: &[u8]) -> &[u8] {
        &frame[..(SIZE.width * SIZE.height) as usize]
    }

    fn still(seed: u64) -> SyntheticOptions {
        SyntheticOptions {
            seed,
            shapes: 0,
            noise_amplitude_luma: 0,
            ..SyntheticOptions::default()
        }
    }

    #[test]
    fn reflect_bounces_within_range() {
        let table = [
            (0.0, 0.5, 0.0),
            (0.25, 0.5, 0.25),
            (0.5, 0.5, 0.5),
            (0.75, 0.5, 0.25),
            (1.0, 0.5, 0.0),
            (1.25, 0.5, 0.25),
            (-0.25, 0.5, 0.25),
            (0.3, 0.0, 0.0),
        ];
        for (position, range, expected) in table {
            let got = reflect(position, range);
            assert!((got - expected).abs() < 1e-12, "{position} {range}: {got}");
        }
    }

    #[test]
    fn lighting_ramps_linearly() {
        let change = LightingChange {
            at: Duration::from_secs(1),
            ramp: Duration::from_secs(2),
            delta_luma: -40,
        };
        let table = [
            (0.0, 0),
            (1.0, 0),
            (1.5, -10),
            (2.0, -20),
            (3.0, -40),
            (9.0, -40),
        ];
        for (seconds, expected) in table {
            assert_eq!(
                lighting_offset_luma(&change, seconds),
                expected,
                "{seconds}"
            );
        }
        let instant = LightingChange {
            ramp: Duration::ZERO,
            ..change
        };
        assert_eq!(lighting_offset_luma(&instant, 1.01), -40);
    }

    #[test]
    fn same_seed_same_frames() {
        let options = SyntheticOptions::default();
        assert_eq!(render(&options, 17), render(&options, 17));
        let other = SyntheticOptions {
            seed: 2,
            ..options.clone()
        };
        assert_ne!(render(&options, 17), render(&other, 17));
    }

    #[test]
    fn background_is_textured_not_flat() {
        for seed in [1, 2, 3] {
            let frame = render(&still(seed), 0);
            let luma = luma(&frame);
            let mean = luma.iter().map(|&p| f64::from(p)).sum::<f64>() / luma.len() as f64;
            let variance = luma
                .iter()
                .map(|&p| (f64::from(p) - mean).powi(2))
                .sum::<f64>()
                / luma.len() as f64;
            let horizontal_gradient = luma
                .windows(2)
                .map(|pair| (i32::from(pair[0]) - i32::from(pair[1])).abs())
                .sum::<i32>() as f64
                / luma.len() as f64;
            assert!(
                variance.sqrt() > 15.0,
                "seed {seed}: std dev {}",
                variance.sqrt()
            );
            assert!(
                horizontal_gradient > 1.0,
                "seed {seed}: gradient {horizontal_gradient}"
            );
        }
    }

    /// Fraction of luma pixels that differ by more than 25 levels between two frames.
    fn changed_fraction(options: &SyntheticOptions, from: u64, to: u64) -> f64 {
        let (a, b) = (render(options, from), render(options, to));
        let changed = luma(&a)
            .iter()
            .zip(luma(&b))
            .filter(|(x, y)| (i32::from(**x) - i32::from(**y)).abs() > 25)
            .count();
        changed as f64 / luma(&a).len() as f64
    }

    #[test]
    fn motion_is_local_and_noise_is_not_motion() {
        let moving = SyntheticOptions::default();
        let fraction = changed_fraction(&moving, 0, 10);
        assert!(
            (0.01..0.4).contains(&fraction),
            "moving shapes changed {fraction}"
        );
        let noise_only = SyntheticOptions {
            shapes: 0,
            ..SyntheticOptions::default()
        };
        assert_eq!(changed_fraction(&noise_only, 0, 10), 0.0);
    }

    #[test]
    fn lighting_change_shifts_every_pixel() {
        let options = SyntheticOptions {
            lighting_change: Some(LightingChange {
                at: Duration::from_secs(1),
                ramp: Duration::from_secs(1),
                delta_luma: 12,
            }),
            ..still(5)
        };
        let base = render(&options, 0);
        // fps 10: frame 5 is before the change, 15 half way, 25 after.
        for (frame_index, expected) in [(5, 0), (15, 6), (25, 12)] {
            let frame = render(&options, frame_index);
            let shifts: Vec<i32> = luma(&frame)
                .iter()
                .zip(luma(&base))
                .map(|(now, before)| i32::from(*now) - i32::from(*before))
                .collect();
            assert!(shifts.iter().all(|&s| s == expected), "frame {frame_index}");
        }
    }
}
