//! The detector and the event tracker allocate nothing per frame once built: checked with a
//! counting global allocator, which is why this test lives in its own binary.
#![allow(unsafe_code)] // `GlobalAlloc` can only be implemented unsafely; test-only.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::Array2;
use sw_core::CameraId;
use sw_motion::{Detector, DetectorOptions, EventOptions, EventTracker};

/// Counts allocations (and reallocations) while passing them to the system allocator.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to `System`, which upholds the contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same layout as the caller's, which the caller guarantees is valid.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A 96x64 scene with texture, noise and objects moving in and out, so every stage (holes,
/// blobs, the grid, flicker, absorption) has work on most frames; a light is on for frames
/// 100..200 (+30%), and the exposure drifts after that, so the model is remapped too.
fn scene(t: usize) -> Array2<u8> {
    let gain = match t {
        100..200 => 1.3,
        200.. => 1.0 - (t - 200) as f32 / 400.0,
        _ => 1.0,
    };
    Array2::from_shape_fn((64, 96), |(y, x)| {
        let mut v = 50 + ((x * 5 + y * 3) % 60) as u32 + ((x * 31 + y * 17 + t * 13) % 7) as u32;
        if (t % 120..t % 120 + 20).contains(&x) && (10..30).contains(&y) && !(x % 7 == 0 && y == 20)
        {
            v = 210;
        }
        if (40..48).contains(&x) && (40..56).contains(&y) && (t / 30).is_multiple_of(2) {
            v = 20;
        }
        if (x + y + t).is_multiple_of(11) && x > 80 {
            v += 30;
        }
        (v as f32 * gain).min(255.0) as u8
    })
}

/// One test (the counter is global). With strip threads, the frames run on the detector's own
/// rayon pool, one job handed to it per frame: its queue of such jobs allocates a block of 63
/// slots when one fills (and its workers size their own queues on first use), so a few
/// allocations per hundred frames, none per frame. Measured: 7 in 298 frames.
#[test]
fn processing_frames_and_tracking_events_allocates_nothing() {
    assert_eq!(allocations_after_warm_up(1), 0, "one thread");
    let allocations = allocations_after_warm_up(2);
    assert!(
        allocations <= 2 * FRAMES.div_ceil(63),
        "two strip threads: {allocations} allocations in {FRAMES} frames"
    );
}

const FRAMES: usize = 300;

/// Allocations while a detector on `strip_threads` threads and an event tracker process
/// all but the first two of `FRAMES` frames.
fn allocations_after_warm_up(strip_threads: u8) -> usize {
    let frames: Vec<Array2<u8>> = (0..FRAMES).map(scene).collect();
    let options = DetectorOptions {
        absorb_after_frames: 40,
        strip_threads,
        ..DetectorOptions::default()
    };
    let mut detector = Detector::new(96, 64, &options);
    assert_eq!(detector.strip_threads(), usize::from(strip_threads));
    // No event records (they allocate by design): an unreachable start score.
    let events = EventOptions {
        start_score_fraction: 1.0,
        ..EventOptions::default()
    };
    let mut tracker = EventTracker::new(CameraId::new("alloc").expect("valid id"), &events);

    // The first frames may size what is sized lazily (the tracker's last grid).
    for (seq, frame) in frames.iter().enumerate().take(2) {
        let analysis = detector
            .process(frame.view())
            .expect("frame of the detector's size");
        tracker.update(seq as u64, seq as u64 * 40_000_000, analysis, 96, 64);
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut motion_frames = 0;
    for (seq, frame) in frames.iter().enumerate().skip(2) {
        let analysis = detector
            .process(frame.view())
            .expect("frame of the detector's size");
        motion_frames += usize::from(analysis.motion);
        assert!(
            tracker
                .update(seq as u64, seq as u64 * 40_000_000, analysis, 96, 64)
                .is_none()
        );
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert!(
        motion_frames > 100,
        "the scene should keep the detector busy ({motion_frames} frames)"
    );
    allocations
}
