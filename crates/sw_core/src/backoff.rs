//! How long to wait before trying again (a camera reconnecting, a sink retrying a broker or an
//! endpoint): exponential back-off with "equal jitter", capped.
//!
//! The k-th failure in a row waits a time drawn from `[d/2, d]`, where `d = min(initial * 2^k,
//! max)`: never longer than the cap, never shorter than half the schedule, and clients that
//! failed together (a switch rebooted, a broker restarted) spread out instead of retrying in
//! lock-step. The draw is a SplitMix64 sequence from a caller's seed: cameras seed it from their
//! id ([`seed_for`]) so a run is reproducible; sinks seed it randomly.
//!
//! Owns: the schedule and the seeded draw. Does not own: deciding when a failure streak ends
//! (callers call [`Backoff::reset`] after a success) or the waiting itself.

use std::time::Duration;

use crate::CameraId;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    /// Failures in a row so far.
    failures: u32,
    state: u64,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Self {
        Self {
            initial,
            max,
            failures: 0,
            state: seed,
        }
    }

    /// The wait before the next attempt; counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        // 2^20 times any sane initial wait is past any sane cap.
        let doubled = self
            .initial
            .saturating_mul(1 << self.failures.min(20))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        let fraction = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        doubled.mul_f64(0.5 + 0.5 * fraction)
    }

    /// The failure streak is over: the next failure waits about `initial` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// SplitMix64 (Steele, Lea, Flood 2014).
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A seed that depends only on the camera id (FNV-1a), stable across runs and platforms.
pub fn seed_for(camera: &CameraId) -> u64 {
    camera
        .as_str()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_within_equal_jitter_up_to_the_cap() {
        let mut backoff = Backoff::new(500 * MS, 4000 * MS, 42);
        // failure k: the delay lies in [low, high] milliseconds
        let bounds = [
            (250, 500),
            (500, 1000),
            (1000, 2000),
            (2000, 4000),
            (2000, 4000),
        ];
        for (k, (low, high)) in bounds.into_iter().enumerate() {
            let delay = backoff.next_delay();
            assert!(
                delay >= low * MS && delay <= high * MS,
                "failure {k}: {delay:?} not in {low}..={high} ms"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= 500 * MS);
    }

    #[test]
    fn long_streaks_stay_capped() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 7);
        for _ in 0..100 {
            assert!(backoff.next_delay() <= Duration::from_secs(30));
        }
    }

    #[test]
    fn jitter_is_reproducible_per_camera_and_differs_between_cameras() {
        let delays = |camera: &str| {
            let seed = seed_for(&CameraId::new(camera).unwrap());
            let mut backoff = Backoff::new(Duration::from_secs(8), Duration::from_secs(8), seed);
            (0..4).map(|_| backoff.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(delays("gate"), delays("gate"));
        assert_ne!(delays("gate"), delays("yard"));
        // FNV-1a of "a" is a published test vector.
        assert_eq!(
            seed_for(&CameraId::new("a").unwrap()),
            0xaf63_dc4c_8601_ec8c
        );
    }
}
