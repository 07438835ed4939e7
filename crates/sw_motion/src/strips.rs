//! Optional multi-threading of the detector across horizontal strips of the frame
//! (`DetectorOptions::strip_threads`), with results identical to one thread.
//!
//! Owns: the detector's own small pool of strip threads (built with the detector, never a
//! global pool, so a service with hundreds of cameras gets threads only where it asks), the
//! partition of the frame into strips, each strip's scratch, and the order of the stages run
//! strip by strip: classification, the clean-up (reading `radius` rows of the raw mask above
//! and below its strip), the model's random update (its walk taken first on one thread) and
//! its per-pixel learning.
//! Does not own: the stages' algorithms (`background`, `cleanup`), or the stages that stay on
//! one thread (shake search, brightness fit, blobs, ghost removal).
//!
//! Why the results are the same: each parallel stage writes only its strip's rows, and what it
//! reads was settled by an earlier stage (the model, during classification; the whole raw mask,
//! during the clean-up; the masks and counters, during the update; each pixel's own state,
//! while learning); where writes can collide (the update's, into neighbours), each strip makes
//! the writes into its own rows in the one-thread order (see `SampleModel::update_strips`).

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::background::{SampleModel, WalkStarts};
use crate::cleanup::MajorityFilter;

/// The most strip threads a detector uses (`DetectorOptions::strip_threads` is clamped here).
pub(crate) const MAX_STRIP_THREADS: u8 = 64;

/// A detector's strip threads and what each strip needs.
#[derive(Debug)]
pub(crate) struct StripPool {
    /// One thread per strip; the frame runs on them while the caller waits.
    pub(crate) pool: ThreadPool,
    pub(crate) strips: Strips,
}

/// The partition of the frame into strips of whole rows, and the per-strip scratch.
#[derive(Debug)]
pub(crate) struct Strips {
    width: usize,
    /// Rows of every strip but the last, which may be shorter: `height / threads`, rounded up.
    rows_per_strip: usize,
    /// One clean-up filter (its column sums are scratch) per strip.
    cleanups: Vec<MajorityFilter>,
    /// Where the update's random walk stands at the start of each row.
    walk: WalkStarts,
}

impl StripPool {
    /// Strips for `threads` threads over `width x height` frames, each with a copy of
    /// `cleanup`; `None` when that makes a single strip (one thread, or a one-row frame), or
    /// when the threads cannot be started (the detector then runs on the caller's thread,
    /// with the same results).
    pub(crate) fn new(
        threads: usize,
        width: usize,
        height: usize,
        cleanup: &MajorityFilter,
    ) -> Option<Self> {
        let rows_per_strip = height.div_ceil(threads.max(1));
        let count = height.div_ceil(rows_per_strip);
        if count < 2 {
            return None;
        }
        let pool = ThreadPoolBuilder::new()
            .num_threads(count)
            .thread_name(|i| format!("motion-strip-{i}"))
            .build()
            .ok()?;
        Some(Self {
            pool,
            strips: Strips {
                width,
                rows_per_strip,
                cleanups: vec![cleanup.clone(); count],
                walk: WalkStarts::new(height),
            },
        })
    }

    /// Threads (and strips) in use.
    pub(crate) fn threads(&self) -> usize {
        self.strips.cleanups.len()
    }
}

impl Strips {
    /// Classifies the frame at `shift` into `raw_mask` and cleans it into `mask`, strip by
    /// strip on the current rayon pool: [`SampleModel::segment`] then
    /// [`MajorityFilter::apply`], with the same result.
    pub(crate) fn classify(
        &mut self,
        model: &SampleModel,
        luma: &[u8],
        shift: (i32, i32),
        min_radius_luma: u8,
        raw_mask: &mut [u8],
        mask: &mut [u8],
    ) {
        let (w, rows) = (self.width, self.rows_per_strip);
        model.segment_strips(luma, shift, min_radius_luma, rows, raw_mask);
        // The raw mask is complete: every strip's filter may read across strip boundaries.
        let raw_mask = &*raw_mask;
        mask.par_chunks_mut(rows * w)
            .with_max_len(1)
            .zip(self.cleanups.par_iter_mut())
            .enumerate()
            .for_each(|(i, (out, filter))| {
                let first = i * rows;
                filter.apply_rows(raw_mask, first..first + out.len() / w, out);
            });
    }

    /// Updates the model after the frame at `shift` (see [`SampleModel::update`] and
    /// [`SampleModel::learn`]), strip by strip on the current rayon pool, with the same
    /// result.
    pub(crate) fn update(
        &mut self,
        model: &mut SampleModel,
        luma: &[u8],
        shift: (i32, i32),
        raw_mask: &[u8],
        mask: &[u8],
    ) {
        let rows = self.rows_per_strip;
        model.update_strips(luma, shift, raw_mask, mask, rows, &mut self.walk);
        model.learn_strips(luma, shift, raw_mask, mask, rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_into_strips_of_whole_rows_one_thread_each() {
        let filter = |h| MajorityFilter::new(4, h, 2, 13);
        type Split = Option<(usize, usize)>;
        #[rustfmt::skip]
        let cases: [(usize, usize, Split); 8] = [
            // threads, height, (rows per strip, threads in use)
            (1, 240, None),
            (2, 240, Some((120, 2))),
            (3, 241, Some((81, 3))), // 81 + 81 + 79
            (4, 10, Some((3, 4))),   // 3 + 3 + 3 + 1
            (4, 9, Some((3, 3))),    // 3 + 3 + 3: no empty strip
            (3, 2, Some((1, 2))),    // fewer rows than threads
            (8, 1, None),            // one row: one strip
            (0, 5, None),            // clamped to one thread
        ];
        for (threads, height, expected) in cases {
            let got = StripPool::new(threads, 4, height, &filter(height))
                .map(|p| (p.strips.rows_per_strip, p.threads()));
            assert_eq!(got, expected, "{threads} threads, {height} rows");
        }
    }
}
