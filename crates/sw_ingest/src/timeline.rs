//! A live camera's clock: one increasing `pts_nanos` across reconnects, plus what arrival times
//! and stream timestamps reveal about the stream (gaps, timestamp jumps).
//!
//! `pts_nanos` is time since the camera was spawned. Each connection is anchored at the
//! arrival of its first frame (on the monotonic clock); within a connection, frames follow the
//! stream's own timestamps (the buffers' running time, which rtspsrc derives from RTP and the
//! jitter buffer smooths) relative to that anchor. When stream time and arrival time disagree by
//! more than [`JUMP_TOLERANCE_NANOS`], or stream time goes backwards, the camera's clock jumped:
//! the connection is re-anchored at the arrival time. A `pts_nanos` is always larger than the one
//! before it.
//!
//! Owns: that arithmetic, on plain numbers. Does not own: reading clocks or buffers (the
//! supervisor passes both in), or reporting (it returns what it saw).

/// Stream time may drift this far from arrival time (jitter buffer, TCP bursts) before it
/// counts as a jump.
pub(crate) const JUMP_TOLERANCE_NANOS: u64 = 2_000_000_000;
/// An arrival later than this many frame intervals after the previous one is a gap.
const GAP_INTERVALS: u64 = 3;

#[derive(Debug, Clone, Copy)]
struct Anchor {
    base_pts_nanos: u64,
    first_running_nanos: u64,
    first_arrival_nanos: u64,
    last_running_nanos: u64,
    last_arrival_nanos: u64,
}

/// Where a frame lands, and what its arrival said about the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) pts_nanos: u64,
    /// Set when the frame arrived more than 3 intervals after the previous one: the time
    /// missing beyond one interval.
    pub(crate) gap_missing_nanos: Option<u64>,
    /// Set when the stream's timestamps jumped: (previous, this) running time.
    pub(crate) jump_nanos: Option<(u64, u64)>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Timeline {
    last_pts_nanos: Option<u64>,
    connection: Option<Anchor>,
}

impl Timeline {
    /// The next frame starts a new connection: anchor it afresh, and do not measure a gap
    /// across the reconnect.
    pub(crate) fn new_connection(&mut self) {
        self.connection = None;
    }

    /// Places a frame that arrived at `arrival_nanos` (since spawn) carrying stream running
    /// time `running_nanos` (if it had a timestamp); `interval_nanos` is the expected time
    /// between frames.
    pub(crate) fn place(
        &mut self,
        arrival_nanos: u64,
        running_nanos: Option<u64>,
        interval_nanos: u64,
    ) -> Placement {
        let min_pts_nanos = self.last_pts_nanos.map_or(0, |last| last + 1);
        let mut placement = Placement {
            pts_nanos: 0,
            gap_missing_nanos: None,
            jump_nanos: None,
        };
        let anchor = match self.connection {
            None => {
                let running = running_nanos.unwrap_or(arrival_nanos);
                Anchor {
                    base_pts_nanos: arrival_nanos.max(min_pts_nanos),
                    first_running_nanos: running,
                    first_arrival_nanos: arrival_nanos,
                    last_running_nanos: running,
                    last_arrival_nanos: arrival_nanos,
                }
            }
            Some(mut anchor) => {
                let since_last = arrival_nanos.saturating_sub(anchor.last_arrival_nanos);
                if since_last > GAP_INTERVALS * interval_nanos {
                    placement.gap_missing_nanos = Some(since_last - interval_nanos);
                }
                let arrived_after = arrival_nanos.saturating_sub(anchor.first_arrival_nanos);
                // Frames without a timestamp follow their arrival.
                let running = running_nanos
                    .unwrap_or(anchor.first_running_nanos.saturating_add(arrived_after));
                let backwards = running < anchor.last_running_nanos;
                let streamed_after = running.saturating_sub(anchor.first_running_nanos);
                if backwards || streamed_after.abs_diff(arrived_after) > JUMP_TOLERANCE_NANOS {
                    placement.jump_nanos = Some((anchor.last_running_nanos, running));
                    anchor.base_pts_nanos =
                        (anchor.base_pts_nanos + arrived_after).max(min_pts_nanos);
                    anchor.first_running_nanos = running;
                    anchor.first_arrival_nanos = arrival_nanos;
                }
                anchor.last_running_nanos = running;
                anchor.last_arrival_nanos = arrival_nanos;
                anchor
            }
        };
        let stream_pts_nanos = anchor.base_pts_nanos
            + anchor
                .last_running_nanos
                .saturating_sub(anchor.first_running_nanos);
        placement.pts_nanos = stream_pts_nanos.max(min_pts_nanos);
        self.connection = Some(anchor);
        self.last_pts_nanos = Some(placement.pts_nanos);
        placement
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const INTERVAL: u64 = 200 * MS;

    /// What a frame got, in ms: (pts, gap missing, jump).
    type Placed = (u64, Option<u64>, Option<(u64, u64)>);

    /// Feeds (arrival ms, running ms or None, new connection first?) and returns what each
    /// frame got; checks on the way that `pts_nanos` only ever increases.
    fn run(frames: &[(u64, Option<u64>, bool)]) -> Vec<Placed> {
        let mut timeline = Timeline::default();
        let mut last_pts_nanos = None;
        frames
            .iter()
            .map(|&(arrival, running, reconnect)| {
                if reconnect {
                    timeline.new_connection();
                }
                let placed = timeline.place(arrival * MS, running.map(|r| r * MS), INTERVAL);
                assert!(
                    last_pts_nanos < Some(placed.pts_nanos),
                    "at arrival {arrival} ms"
                );
                last_pts_nanos = Some(placed.pts_nanos);
                (
                    placed.pts_nanos / MS,
                    placed.gap_missing_nanos.map(|n| n / MS),
                    placed.jump_nanos.map(|(a, b)| (a / MS, b / MS)),
                )
            })
            .collect()
    }

    #[test]
    fn frames_follow_stream_time_from_the_first_arrival() {
        // Stream time is smooth, arrival jittery: pts follows stream time.
        let placed = run(&[
            (1000, Some(50), false),
            (1230, Some(250), false),
            (1390, Some(450), false),
        ]);
        assert_eq!(
            placed,
            [(1000, None, None), (1200, None, None), (1400, None, None)]
        );
    }

    #[test]
    fn reconnects_anchor_afresh_and_stay_increasing() {
        let placed = run(&[
            (1000, Some(0), false),
            (1200, Some(200), false),
            // Reconnected 3 s later: the new pipeline's running time starts near 0 again.
            (4200, Some(10), true),
            (4400, Some(210), false),
            // A reconnect whose first frame would land before the last pts is pushed after it
            // (by 1 ns, which the millisecond table cannot show).
            (4300, Some(0), true),
        ]);
        assert_eq!(
            placed,
            [
                (1000, None, None),
                (1200, None, None),
                (4200, None, None),
                (4400, None, None),
                (4400, None, None),
            ]
        );
    }

    #[test]
    fn late_arrivals_are_gaps_and_clock_jumps_reanchor() {
        let placed = run(&[
            (0, Some(0), false),
            (200, Some(200), false),
            // 800 ms later: 4 intervals, 600 ms missing beyond one interval.
            (1000, Some(1000), false),
            // Exactly 3 intervals: not a gap.
            (1600, Some(1600), false),
            // The camera's clock leaps 60 s ahead: re-anchored at arrival.
            (1800, Some(61_800), false),
            (2000, Some(62_000), false),
            // And goes backwards.
            (2200, Some(100), false),
            // No timestamp: follows arrival.
            (2400, None, false),
        ]);
        assert_eq!(
            placed,
            [
                (0, None, None),
                (200, None, None),
                (1000, Some(600), None),
                (1600, None, None),
                (1800, None, Some((1600, 61_800))),
                (2000, None, None),
                (2200, None, Some((62_000, 100))),
                (2400, None, None),
            ]
        );
    }
}
