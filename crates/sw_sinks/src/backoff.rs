//! How long a sink waits before trying a broker or endpoint again: exponential back-off with
//! "equal jitter", capped.
//!
//! The k-th failure in a row waits a time drawn uniformly from `[d/2, d]`, where
//! `d = min(initial * 2^k, max)`: never longer than the cap, never shorter than half the
//! schedule, and many Stillwatch replicas that lost the same broker spread out instead of
//! reconnecting in lock-step.
//!
//! Owns: the schedule and the draw. Does not own: deciding when a streak ends (callers call
//! [`Backoff::reset`] after a success) or the waiting itself.
//! (sw_ingest has the same schedule for cameras, private to it, with a seeded draw for
//! reproducible runs; this one draws from a random seed.)

use std::time::Duration;

#[derive(Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    /// Failures in a row so far.
    failures: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self::with_rng(initial, max, fastrand::Rng::new())
    }

    fn with_rng(initial: Duration, max: Duration, rng: fastrand::Rng) -> Self {
        Self {
            initial,
            max,
            failures: 0,
            rng,
        }
    }

    /// The wait before the next attempt; counts one more failure.
    pub(crate) fn next_delay(&mut self) -> Duration {
        // 2^20 times any sane initial wait is past any sane cap.
        let doubled = self
            .initial
            .saturating_mul(1 << self.failures.min(20))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        doubled.mul_f64(0.5 + 0.5 * self.rng.f64())
    }

    /// The streak is over: the next failure waits about `initial` again.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_within_equal_jitter_up_to_the_cap() {
        let mut backoff = Backoff::with_rng(100 * MS, 1000 * MS, fastrand::Rng::with_seed(7));
        // failure k: the delay lies in [low, high] milliseconds
        let table = [
            (50, 100),
            (100, 200),
            (200, 400),
            (400, 800),
            (500, 1000),
            (500, 1000),
        ];
        for (k, (low, high)) in table.into_iter().enumerate() {
            let delay = backoff.next_delay();
            assert!(
                delay >= low * MS && delay <= high * MS,
                "failure {k}: {delay:?} is outside [{low}, {high}] ms"
            );
        }
        backoff.reset();
        let delay = backoff.next_delay();
        assert!(
            delay >= 50 * MS && delay <= 100 * MS,
            "after reset: {delay:?}"
        );
    }
}
