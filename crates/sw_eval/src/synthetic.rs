//! A deterministic synthetic scene for benchmarks: no footage needed, the same frames on every
//! machine.
//!
//! Owns: generating the frames. Does not own: timing or scoring them (the benches do).

use ndarray::Array2;

/// `count` frames of `width x height` GRAY8 luma (video range, 16..=235): a textured static
/// background with sensor noise of up to ±6 luma steps (harsher than the CDnet footage), three
/// moving objects of different sizes and brightness, and a flickering patch (like leaves).
///
/// With `shake`, every frame is also cut from a larger scene at a pseudo-random offset of up to
/// 8 pixels either way (a camera on a shaking pole).
pub fn synthetic_frames(width: usize, height: usize, count: usize, shake: bool) -> Vec<Array2<u8>> {
    // xorshift32: fixed, seeded noise.
    let mut state = 0x1234_5678_u32;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 13) as i32 - 6
    };
    (0..count)
        .map(|t| {
            let (dx, dy) = if shake {
                ((t * 7919) % 17, (t * 104_729) % 17)
            } else {
                (8, 8)
            };
            Array2::from_shape_fn((height, width), |(y, x)| {
                let (x, y) = (x + dx, y + dy);
                let mut v = 40
                    + ((x * 7 + y * 3) % 97) as i32
                    + if (x / 16 + y / 16) % 2 == 0 { 30 } else { 0 };
                let objects = [
                    (20 + t * 2, 60, 40, 30, 200),
                    (300usize.saturating_sub(t * 3), 150, 24, 60, 30),
                    (100 + (t % 50), 20 + t / 2, 8, 8, 230),
                ];
                for (ox, oy, ow, oh, luma) in objects {
                    if x >= ox && x < ox + ow && y >= oy && y < oy + oh {
                        v = luma;
                    }
                }
                if (250..290).contains(&x) && (20..60).contains(&y) && (x + y + t) % 5 == 0 {
                    v += 40;
                }
                (v + noise()).clamp(16, 235) as u8
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_deterministic_in_range_and_move() {
        let a = synthetic_frames(64, 48, 3, true);
        let b = synthetic_frames(64, 48, 3, true);
        assert_eq!(a, b);
        assert_eq!(a[0].dim(), (48, 64));
        assert!(a.iter().flatten().all(|&v| (16..=235).contains(&v)));
        assert_ne!(a[0], a[1]);
    }
}
