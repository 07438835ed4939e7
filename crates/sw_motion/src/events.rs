//! The event state machine: turns per-frame analyses into `start` / `update` / `end` records.
//!
//! Owns: [`EventOptions`], hysteresis between a start and an end score, the minimum duration
//! before an event is reported, periodic updates, the cool-down that ends an event, and the
//! [`MotionEvent`] records themselves (boxes normalised to 0..1, grid, scores).
//! Does not own: per-pixel detection (see `detector`) or zones (not yet: `zones` is empty).
//!
//! ```text
//!            score >= start            motion held for min_duration
//!   Idle ------------------> Pending ------------------------------> Active --(emit start)
//!    ^                          |                                     |  motion, every
//!    |   score < end            |                                     |  update_interval:
//!    +--------------------------+                                     |  emit update
//!    |                                                                |
//!    +------------- no motion for cooldown: emit end -----------------+
//! ```
//! "Motion" on a frame means the detector saw a blob and `score >= end_score_fraction`.

use sw_core::{CameraId, EVENT_SCHEMA, EventPhase, MotionEvent, MotionGrid, NormBox};

use crate::FrameAnalysis;

/// Parameters of the event state machine. Values outside the documented ranges are clamped
/// into them by [`EventTracker::new`] (the config crate rejects them first).
#[derive(Debug, Clone, PartialEq)]
pub struct EventOptions {
    /// An event may begin on a frame with a blob and at least this fraction of the frame in the
    /// foreground. Default 0.002 (about 150 pixels at 320x240); range 0..=1.
    pub start_score_fraction: f32,
    /// Once begun, motion continues on frames with a blob and at least this fraction of the
    /// frame in the foreground (hysteresis: lower than the start score).
    /// Default 0.0005; range 0..=`start_score_fraction`.
    pub end_score_fraction: f32,
    /// Motion must continue on every frame for this long after it begins before the `start`
    /// record is emitted; a quiet frame earlier cancels it. 0 starts on the first frame.
    /// Default 600; range 0..=3_600_000.
    pub min_duration_millis: u64,
    /// An event ends (its `end` record is emitted) once no frame has had motion for this long.
    /// Default 3000; range 0..=3_600_000.
    pub cooldown_millis: u64,
    /// While motion continues, an `update` record is emitted when at least this long has passed
    /// since the previous record of the event. 0 updates on every frame with motion.
    /// Default 1000; range 0..=3_600_000.
    pub update_interval_millis: u64,
    /// At most this many boxes (the largest blobs) go into each record. Default 8; range 0..=64.
    pub max_boxes: usize,
}

impl Default for EventOptions {
    fn default() -> Self {
        Self {
            start_score_fraction: 0.002,
            end_score_fraction: 0.0005,
            min_duration_millis: 600,
            cooldown_millis: 3000,
            update_interval_millis: 1000,
            max_boxes: 8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Idle,
    /// Motion began at `start_millis` but has not lasted `min_duration_millis` yet.
    Pending {
        start_millis: u64,
        peak_score: f32,
    },
    Active(OpenEvent),
}

/// An event whose `start` has been emitted and whose `end` has not.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OpenEvent {
    event_id: u64,
    start_millis: u64,
    last_motion_millis: u64,
    last_record_millis: u64,
    peak_score: f32,
}

/// The last frame seen, kept so that `finish` can describe the stream's final state.
#[derive(Debug, Clone)]
struct LastFrame {
    score: f32,
    boxes: Vec<NormBox>,
    grid: MotionGrid,
}

/// Event state for one camera. Feed it every analysed frame in order.
#[derive(Debug, Clone)]
pub struct EventTracker {
    camera: CameraId,
    options: EventOptions,
    state: State,
    next_event_id: u64,
    last: LastFrame,
}

impl EventTracker {
    pub fn new(camera: CameraId, options: &EventOptions) -> Self {
        let start_score_fraction = finite_or_zero(options.start_score_fraction).clamp(0.0, 1.0);
        let options = EventOptions {
            start_score_fraction,
            end_score_fraction: finite_or_zero(options.end_score_fraction)
                .clamp(0.0, start_score_fraction),
            max_boxes: options.max_boxes.min(64),
            ..options.clone()
        };
        let last = LastFrame {
            score: 0.0,
            boxes: Vec::with_capacity(options.max_boxes),
            grid: MotionGrid {
                cols: 0,
                rows: 0,
                cells_percent: Vec::new(),
            },
        };
        Self {
            camera,
            options,
            state: State::Idle,
            next_event_id: 1,
            last,
        }
    }

    /// Advances the state machine by one frame (`seq`, at `pts_nanos` from the stream start)
    /// whose analysis frame was `width x height` pixels (for normalising boxes). Returns the
    /// record this frame produces, if any: at most one per frame.
    pub fn update(
        &mut self,
        seq: u64,
        pts_nanos: u64,
        analysis: &FrameAnalysis,
        width: usize,
        height: usize,
    ) -> Option<MotionEvent> {
        let now = pts_nanos / 1_000_000;
        self.remember(analysis, width, height);
        let score = analysis.score;
        let starts = analysis.motion && score >= self.options.start_score_fraction;
        let continues = analysis.motion && score >= self.options.end_score_fraction;

        match self.state {
            State::Idle if starts => {
                self.state = State::Pending {
                    start_millis: now,
                    peak_score: score,
                }
            }
            State::Idle => return None,
            State::Pending { .. } if !continues => {
                self.state = State::Idle;
                return None;
            }
            State::Pending {
                start_millis,
                peak_score,
            } => {
                self.state = State::Pending {
                    start_millis,
                    peak_score: peak_score.max(score),
                };
            }
            State::Active(mut open) if continues => {
                open.last_motion_millis = now;
                open.peak_score = open.peak_score.max(score);
                let due = now.saturating_sub(open.last_record_millis)
                    >= self.options.update_interval_millis;
                if due {
                    open.last_record_millis = now;
                }
                self.state = State::Active(open);
                return due.then(|| self.record(&open, EventPhase::Update, seq, now));
            }
            State::Active(open) => {
                if now.saturating_sub(open.last_motion_millis) < self.options.cooldown_millis {
                    return None;
                }
                self.state = State::Idle;
                return Some(self.record(&open, EventPhase::End, seq, now));
            }
        }

        // Pending: start once motion has lasted long enough.
        let State::Pending {
            start_millis,
            peak_score,
        } = self.state
        else {
            return None;
        };
        if now.saturating_sub(start_millis) < self.options.min_duration_millis {
            return None;
        }
        let open = OpenEvent {
            event_id: self.next_event_id,
            start_millis,
            last_motion_millis: now,
            last_record_millis: now,
            peak_score,
        };
        self.next_event_id += 1;
        self.state = State::Active(open);
        Some(self.record(&open, EventPhase::Start, seq, now))
    }

    /// Ends the stream at frame `seq`, `pts_nanos`: closes an open event with an `end` record
    /// describing the last frame seen. A pending event that never reached its minimum duration
    /// is dropped. The tracker is then idle and may continue (event ids keep counting).
    pub fn finish(&mut self, seq: u64, pts_nanos: u64) -> Option<MotionEvent> {
        let end = match self.state {
            State::Active(open) => {
                Some(self.record(&open, EventPhase::End, seq, pts_nanos / 1_000_000))
            }
            State::Idle | State::Pending { .. } => None,
        };
        self.state = State::Idle;
        end
    }

    /// Copies what a record needs from this frame, reusing the buffers.
    fn remember(&mut self, analysis: &FrameAnalysis, width: usize, height: usize) {
        let (w, h) = (width.max(1) as f32, height.max(1) as f32);
        self.last.score = analysis.score;
        self.last.boxes.clear();
        self.last
            .boxes
            .extend(
                analysis
                    .blobs
                    .iter()
                    .take(self.options.max_boxes)
                    .map(|b| NormBox {
                        x0: (b.x0 as f32 / w).min(1.0),
                        y0: (b.y0 as f32 / h).min(1.0),
                        x1: (b.x1 as f32 / w).min(1.0),
                        y1: (b.y1 as f32 / h).min(1.0),
                    }),
            );
        // Field by field: the derived `clone_from` of `MotionGrid` would allocate anew.
        self.last.grid.cols = analysis.grid.cols;
        self.last.grid.rows = analysis.grid.rows;
        self.last.grid.cells_percent.clear();
        self.last
            .grid
            .cells_percent
            .extend_from_slice(&analysis.grid.cells_percent);
    }

    /// A record of `open`, describing the last frame remembered.
    fn record(&self, open: &OpenEvent, phase: EventPhase, seq: u64, now: u64) -> MotionEvent {
        MotionEvent {
            schema: EVENT_SCHEMA.to_string(),
            camera: self.camera.clone(),
            event_id: open.event_id,
            phase,
            frame_seq: seq,
            time_millis: now,
            start_millis: open.start_millis,
            end_millis: (phase == EventPhase::End).then_some(open.last_motion_millis),
            zones: Vec::new(),
            score: self.last.score,
            peak_score: open.peak_score,
            boxes: self.last.boxes.clone(),
            grid: self.last.grid.clone(),
        }
    }
}

fn finite_or_zero(v: f32) -> f32 {
    if v.is_finite() { v } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Blob;

    fn options() -> EventOptions {
        EventOptions {
            start_score_fraction: 0.1,
            end_score_fraction: 0.05,
            min_duration_millis: 200,
            cooldown_millis: 500,
            update_interval_millis: 300,
            max_boxes: 2,
        }
    }

    fn analysis(score: f32, motion: bool) -> FrameAnalysis {
        let blob = |area_pixels, x0, y0, x1, y1| Blob {
            area_pixels,
            x0,
            y0,
            x1,
            y1,
        };
        FrameAnalysis {
            score,
            motion,
            blobs: if motion {
                vec![
                    blob(300, 10, 20, 30, 40),
                    blob(50, 0, 0, 5, 5),
                    blob(20, 90, 70, 100, 80),
                ]
            } else {
                vec![]
            },
            grid: MotionGrid {
                cols: 2,
                rows: 1,
                cells_percent: vec![if motion { 40 } else { 0 }, 0],
            },
        }
    }

    /// Runs frames `(time_millis, score, motion)` at seq 0, 1, ... and returns what each
    /// record says: `(seq, event_id, phase, time_millis, start_millis, end_millis)`.
    fn run(
        tracker: &mut EventTracker,
        frames: &[(u64, f32, bool)],
    ) -> Vec<(u64, u64, EventPhase, u64, u64, Option<u64>)> {
        frames
            .iter()
            .enumerate()
            .filter_map(|(seq, &(t, score, motion))| {
                tracker.update(seq as u64, t * 1_000_000, &analysis(score, motion), 100, 80)
            })
            .map(|e| {
                (
                    e.frame_seq,
                    e.event_id,
                    e.phase,
                    e.time_millis,
                    e.start_millis,
                    e.end_millis,
                )
            })
            .collect()
    }

    #[test]
    fn events_start_after_the_minimum_duration_update_on_interval_and_end_after_cooldown() {
        use EventPhase::{End, Start, Update};
        let camera = CameraId::new("gate").unwrap();
        let mut tracker = EventTracker::new(camera, &options());
        #[rustfmt::skip]
        let frames = [
            // time, score, motion
            (0, 0.0, false),
            (100, 0.2, true),    // starts pending
            (200, 0.06, true),   // above the end score: still going
            (300, 0.2, true),    // 200 ms since 100: start
            (400, 0.2, true),    // only 100 ms since the start record
            (500, 0.01, true),   // below the end score: quiet
            (600, 0.2, true),    // 300 ms since the last record: update
            (700, 0.2, false),   // no blob: quiet whatever the score
            (800, 0.0, false),
            (1000, 0.0, false),
            (1100, 0.0, false),  // 500 ms since the last motion (600): end
            (1200, 0.2, true),   // pending again...
            (1300, 0.0, false),  // ...cancelled by a quiet frame
            (1400, 0.07, true),  // between end and start scores: does not begin
            (1500, 0.2, true),   // pending
            (1600, 0.2, true),
            (1700, 0.2, true),   // start of event 2
        ];
        let expected = vec![
            (3, 1, Start, 300, 100, None),
            (6, 1, Update, 600, 100, None),
            (10, 1, End, 1100, 100, Some(600)),
            (16, 2, Start, 1700, 1500, None),
        ];
        assert_eq!(run(&mut tracker, &frames), expected);

        let end = tracker.finish(17, 1_750_000_000).unwrap();
        assert_eq!(
            (end.event_id, end.phase, end.time_millis, end.start_millis),
            (2, End, 1750, 1500)
        );
        assert_eq!(end.end_millis, Some(1700));
        assert_eq!(tracker.finish(18, 1_800_000_000), None, "nothing left open");
    }

    #[test]
    fn records_carry_boxes_scores_grid_and_schema() {
        let camera = CameraId::new("gate").unwrap();
        let mut tracker = EventTracker::new(
            camera.clone(),
            &EventOptions {
                min_duration_millis: 0,
                ..options()
            },
        );
        tracker.update(0, 0, &analysis(0.3, true), 100, 80).unwrap();
        let update = tracker
            .update(1, 400_000_000, &analysis(0.5, true), 100, 80)
            .unwrap();
        assert_eq!(update.schema, EVENT_SCHEMA);
        assert_eq!(update.camera, camera);
        assert_eq!(update.phase, EventPhase::Update);
        assert_eq!((update.score, update.peak_score), (0.5, 0.5));
        assert!(update.zones.is_empty());
        // The two largest blobs (max_boxes 2), normalised by 100x80.
        assert_eq!(
            update.boxes,
            [
                NormBox {
                    x0: 0.1,
                    y0: 0.25,
                    x1: 0.3,
                    y1: 0.5
                },
                NormBox {
                    x0: 0.0,
                    y0: 0.0,
                    x1: 0.05,
                    y1: 0.0625
                }
            ]
        );
        assert_eq!(update.grid.cells_percent, [40, 0]);

        let end = tracker
            .update(2, 900_000_000, &analysis(0.0, false), 100, 80)
            .unwrap();
        assert_eq!(
            (end.phase, end.score, end.peak_score),
            (EventPhase::End, 0.0, 0.5)
        );
        assert!(end.boxes.is_empty());
    }

    #[test]
    fn a_pending_event_is_dropped_at_the_end_of_the_stream() {
        let mut tracker = EventTracker::new(CameraId::new("gate").unwrap(), &options());
        assert_eq!(tracker.update(0, 0, &analysis(0.3, true), 100, 80), None);
        assert_eq!(tracker.finish(1, 100_000_000), None);
    }

    #[test]
    fn zero_durations_start_on_the_first_frame_and_update_on_every_frame() {
        let zero = EventOptions {
            min_duration_millis: 0,
            update_interval_millis: 0,
            cooldown_millis: 0,
            ..options()
        };
        let mut tracker = EventTracker::new(CameraId::new("gate").unwrap(), &zero);
        let phases: Vec<_> = [(0, 0.3, true), (40, 0.3, true), (80, 0.0, false)]
            .iter()
            .enumerate()
            .filter_map(|(seq, &(t, s, m))| {
                tracker.update(seq as u64, t * 1_000_000, &analysis(s, m), 100, 80)
            })
            .map(|e| e.phase)
            .collect();
        assert_eq!(
            phases,
            [EventPhase::Start, EventPhase::Update, EventPhase::End]
        );
    }

    #[test]
    fn out_of_range_options_are_clamped() {
        let wild = EventOptions {
            start_score_fraction: f32::NAN,
            end_score_fraction: 7.0,
            max_boxes: 1000,
            ..EventOptions::default()
        };
        let tracker = EventTracker::new(CameraId::new("gate").unwrap(), &wild);
        assert_eq!(tracker.options.start_score_fraction, 0.0);
        assert_eq!(tracker.options.end_score_fraction, 0.0);
        assert_eq!(tracker.options.max_boxes, 64);
    }
}
