//! Masks and zones with the real detector: motion only inside a privacy mask is never motion,
//! and zones report only what moved outside masks.

#![allow(clippy::unwrap_used)]

use ndarray::{Array2, s};
use sw_motion::{Detector, DetectorOptions};
use sw_privacy::{Polygon, PrivacyMask, ZoneAccumulator, ZoneHit, ZoneSpec, Zones};

const WIDTH: usize = 64;
const HEIGHT: usize = 48;
const FRAMES: u64 = 40;

/// Mid-grey with a little fixed texture, and a bright 8x8 square whose left edge is at
/// `square_x` (moving 1 px per frame from `start_x`).
fn frame(seq: u64, start_x: usize) -> Array2<u8> {
    let mut luma = Array2::from_shape_fn((HEIGHT, WIDTH), |(row, col)| {
        90 + ((row * 7 + col * 13) % 11) as u8
    });
    let x = start_x + seq as usize % 16;
    luma.slice_mut(s![20..28, x..x + 8]).fill(230);
    luma
}

fn polygon(points: &[[f64; 2]]) -> Polygon {
    Polygon::new(points.to_vec()).unwrap()
}

/// The left half of the frame.
fn left_half() -> Polygon {
    polygon(&[[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]])
}

/// Runs the detector over the sequence with the square starting at `start_x`, blanking the
/// mask first when `mask` is given; returns the frames with motion and the last foreground.
fn run(start_x: usize, mask: Option<&PrivacyMask>) -> (Vec<u64>, usize) {
    let mut detector = Detector::new(WIDTH, HEIGHT, &DetectorOptions::default());
    let mut moving = Vec::new();
    let mut masked_foreground = 0;
    for seq in 0..FRAMES {
        let mut luma = frame(seq, start_x);
        if let Some(mask) = mask {
            mask.blank(&mut luma.view_mut()).unwrap();
        }
        let analysis = detector.process(luma.view()).unwrap();
        if analysis.motion || analysis.score > 0.0 {
            moving.push(seq);
        }
        if let Some(mask) = mask {
            masked_foreground += detector
                .foreground()
                .iter()
                .zip(mask.covered())
                .filter(|&(&value, &masked)| masked && value != 0)
                .count();
        }
    }
    (moving, masked_foreground)
}

#[test]
fn motion_only_inside_a_mask_is_no_motion() {
    let mask = PrivacyMask::new(&[left_half()], WIDTH, HEIGHT);
    // The square moves within columns 2..25, all inside the masked left half (0..32).
    let (unmasked, _) = run(2, None);
    assert!(
        unmasked.len() > FRAMES as usize / 2,
        "the detector sees the square: {unmasked:?}"
    );
    let (masked, masked_foreground) = run(2, Some(&mask));
    assert_eq!(
        masked,
        Vec::<u64>::new(),
        "no frame has motion once the mask is blanked"
    );
    assert_eq!(masked_foreground, 0);
}

#[test]
fn zones_report_motion_outside_masks_only() {
    let mask = PrivacyMask::new(&[left_half()], WIDTH, HEIGHT);
    // "porch" spans both halves (its left part masked); "lawn" is the left half only.
    let specs = vec![
        ZoneSpec::new(
            "porch",
            polygon(&[[0.25, 0.25], [0.9, 0.25], [0.9, 0.75], [0.25, 0.75]]),
            0.01,
            0.0,
        )
        .unwrap(),
        ZoneSpec::new("lawn", left_half(), 0.01, 0.0).unwrap(),
    ];
    let zones = Zones::new(&specs, &mask);
    assert_eq!(zones.pixel_count(1), Some(0), "lawn is entirely masked");
    let mut accumulator = ZoneAccumulator::new(&specs);
    let mut hits: Vec<ZoneHit> = Vec::new();
    let mut detector = Detector::new(WIDTH, HEIGHT, &DetectorOptions::default());
    let mut frames_with_hits = 0;
    // Square in the right half, moving within columns 36..59.
    for seq in 0..FRAMES {
        let mut luma = frame(seq, 36);
        mask.blank(&mut luma.view_mut()).unwrap();
        detector.process(luma.view()).unwrap();
        let mut foreground = detector.foreground().to_owned();
        mask.clear(&mut foreground.view_mut()).unwrap();
        zones.touched(foreground.view(), &mut hits).unwrap();
        frames_with_hits += usize::from(!hits.is_empty());
        assert!(hits.iter().all(|hit| hit.zone == 0), "only porch: {hits:?}");
        accumulator.observe(seq * 200_000_000, &hits);
    }
    assert!(
        frames_with_hits > FRAMES as usize / 2,
        "porch touched on {frames_with_hits} frames"
    );
    assert_eq!(accumulator.names_since(0), ["porch"]);
}
