//! One camera's motion thread: frames and health events in, motion and health records out.
//!
//! Owns: the thread (`motion-<camera>`, inside a `camera` span), its [`Detector`] and
//! [`EventTracker`], when the detector starts afresh (a new frame size, a (re)connection, a
//! stall, a decode error) so that reconnects and corrupt frames never look like motion, closing
//! open events when the stream stops, and restarting the loop after a panic.
//! Does not own: frames (sw_ingest pushes them), detection itself (sw_motion) or writing records
//! (`output`).
//!
//! ```text
//!  FrameQueue (drop-oldest) ─frames─┐
//!  health channel (blocks) ─health──┼─► select: health first ─► Detector ─► EventTracker ─┐
//!  stop (closed on shutdown) ───────┘                                                    │
//!                                         records channel (blocks) ◄─────────────────────┘
//! ```

use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender, select};
use std::time::Instant;

use sw_config::CameraPrivacy;
use sw_core::{CameraId, EventPhase, Frame, MotionEvent};
use sw_http::CameraMetrics;
use sw_ingest::{HealthEvent, HealthKind};
use sw_motion::{Detector, DetectorOptions, EventOptions, EventTracker, MotionError};
use sw_privacy::{EvidenceWriter, PrivacyMask, ZoneAccumulator, ZoneHit, Zones};

use crate::ServiceError;
use crate::engine::BackendFactory;
use crate::output::{Emitted, Record};

/// A motion loop that panics this many times is given up: the camera is marked failed.
pub(crate) const MAX_MOTION_RESTARTS: u32 = 3;

/// What the motion thread needs, given when it is spawned.
pub(crate) struct MotionInputs {
    pub camera: CameraId,
    pub detector: DetectorOptions,
    /// `None`: the detector's per-pixel step runs natively in this thread.
    pub backend: Option<BackendFactory>,
    pub events: EventOptions,
    pub frames: Receiver<Frame>,
    pub health: Receiver<HealthEvent>,
    /// Never sent on: dropping the sender tells the thread to finish.
    pub stop: Receiver<()>,
    pub records: Sender<Record>,
    pub metrics: CameraMetrics,
    pub privacy: CameraPrivacy,
    /// Called with the reason when the loop is given up after too many panics: it stops the
    /// camera's ingest (the thread keeps draining its channels until they close).
    pub on_give_up: Box<dyn FnOnce(String) + Send>,
}

impl fmt::Debug for MotionInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MotionInputs")
            .field("camera", &self.camera)
            .finish_non_exhaustive()
    }
}

/// Spawns `motion-<camera>`. It ends when its frames and health channels close or `stop` does,
/// after closing any open event.
pub(crate) fn spawn(inputs: MotionInputs) -> Result<JoinHandle<()>, ServiceError> {
    let name = format!("motion-{}", inputs.camera);
    thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let span = tracing::info_span!("camera", camera = %inputs.camera);
            let _entered = span.enter();
            run(inputs);
        })
        .map_err(|source| ServiceError::Thread { name, source })
}

fn run(inputs: MotionInputs) {
    let MotionInputs {
        camera,
        detector,
        backend,
        events,
        frames,
        health,
        stop,
        records,
        metrics,
        privacy,
        on_give_up,
    } = inputs;
    let mut worker = Worker::new(camera, detector, events, records, metrics, privacy);
    worker.backend = backend;
    let ended = supervise(MAX_MOTION_RESTARTS, |attempt| {
        if attempt > 0 {
            worker.recover_from_panic();
        }
        worker.run(&frames, &health, &stop);
    });
    if let Supervised::GaveUp { panics, last } = ended {
        let reason = format!("motion analysis failed: panicked {panics} times, last: {last}");
        tracing::error!("{reason}; stopping the camera");
        worker.recover_from_panic();
        worker.analysing = false;
        on_give_up(reason);
        // Health events still get written until the stopped ingest closes the channels.
        worker.run(&frames, &health, &stop);
    }
    worker.close_event();
}

/// How a supervised body ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Supervised {
    /// It returned.
    Completed,
    /// It panicked `panics` times (once more than the restarts allowed).
    GaveUp { panics: u32, last: String },
}

/// Runs `body(attempt)`; after a panic, logs it and runs it again with the next attempt number,
/// at most `max_restarts` times.
pub(crate) fn supervise(max_restarts: u32, mut body: impl FnMut(u32)) -> Supervised {
    let mut attempt = 0;
    loop {
        match panic::catch_unwind(AssertUnwindSafe(|| body(attempt))) {
            Ok(()) => return Supervised::Completed,
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                if attempt >= max_restarts {
                    return Supervised::GaveUp {
                        panics: attempt + 1,
                        last: message,
                    };
                }
                attempt += 1;
                tracing::error!(
                    panic = %message,
                    "motion analysis panicked; restarting it ({attempt} of {max_restarts})"
                );
            }
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// The per-camera analysis state.
struct Worker {
    camera: CameraId,
    detector_options: DetectorOptions,
    /// Where the detector's per-pixel step runs (`None`: natively, here).
    backend: Option<BackendFactory>,
    /// `None` until the next frame: it initialises a fresh background model.
    detector: Option<Detector>,
    tracker: EventTracker,
    /// `seq` and `pts_nanos` of the last frame analysed, to date an event closed early.
    last_frame: Option<(u64, u64)>,
    records: Sender<Record>,
    metrics: CameraMetrics,
    /// Masks and zones as configured, and rasterised at the detector's frame size.
    privacy: CameraPrivacy,
    mask: PrivacyMask,
    zones: Zones,
    zone_hits: Vec<ZoneHit>,
    zone_times: ZoneAccumulator,
    /// Opt-in evidence images, written on an event's start and updates.
    evidence: Option<EvidenceWriter>,
    /// Set once the records channel is closed, so that is reported once.
    output_closed: bool,
    /// False once analysis has been given up: frames are then discarded.
    analysing: bool,
}

impl Worker {
    fn new(
        camera: CameraId,
        detector_options: DetectorOptions,
        events: EventOptions,
        records: Sender<Record>,
        metrics: CameraMetrics,
        privacy: CameraPrivacy,
    ) -> Self {
        Self {
            tracker: EventTracker::new(camera.clone(), &events),
            camera,
            detector_options,
            backend: None,
            detector: None,
            last_frame: None,
            records,
            metrics,
            mask: PrivacyMask::new(&[], 0, 0),
            zones: Zones::new(&[], &PrivacyMask::new(&[], 0, 0)),
            zone_hits: Vec::new(),
            zone_times: ZoneAccumulator::new(&privacy.zones),
            evidence: privacy.evidence.clone().map(EvidenceWriter::new),
            privacy,
            output_closed: false,
            analysing: true,
        }
    }

    /// Runs until the inputs close or `stop` does. Health events are always taken before the
    /// next frame, so a frame is never analysed against a model from before a reconnect.
    fn run(
        &mut self,
        frames: &Receiver<Frame>,
        health: &Receiver<HealthEvent>,
        stop: &Receiver<()>,
    ) {
        let mut health_open = true;
        loop {
            let never = crossbeam_channel::never();
            let health_now = if health_open { health } else { &never };
            select! {
                recv(health_now) -> event => match event {
                    Ok(event) => {
                        self.on_health(event, frames);
                    }
                    Err(_) => health_open = false,
                },
                recv(frames) -> frame => match frame {
                    Ok(mut frame) => {
                        let mut reconnected = false;
                        for event in health.try_iter() {
                            reconnected |= self.on_health(event, frames);
                        }
                        // A frame taken before a `Connected` was seen may predate it.
                        if self.analysing && !reconnected {
                            self.on_frame(&mut frame);
                        }
                    }
                    Err(_) => break,
                },
                recv(stop) -> _ => break,
            }
        }
        for event in health.try_iter() {
            self.on_health(event, frames);
        }
    }

    /// Records `event` and resets what it invalidates; returns true for a (re)connection.
    fn on_health(&mut self, event: HealthEvent, frames: &Receiver<Frame>) -> bool {
        let connected = matches!(event.kind, HealthKind::Connected);
        match &event.kind {
            HealthKind::Connected => {
                // A (re)connected stream starts a new scene: frames still queued are from
                // before it, and the model learns the background anew.
                let stale = frames.try_iter().count();
                if stale > 0 {
                    tracing::debug!(stale, "discarded frames from before the reconnect");
                }
                self.close_event();
                self.detector = None;
                self.zone_times.reset();
            }
            HealthKind::Disconnected { .. } | HealthKind::Stalled | HealthKind::AuthFailed => {
                self.close_event();
                self.detector = None;
                self.zone_times.reset();
            }
            // Smeared frames until the next key frame would look like motion.
            HealthKind::DecodeError { .. } => self.detector = None,
            HealthKind::Gap { .. }
            | HealthKind::TimestampJump { .. }
            | HealthKind::SizeChanged { .. } => {}
        }
        self.send(Record::Health(event));
        connected
    }

    fn on_frame(&mut self, frame: &mut Frame) {
        let started = Instant::now();
        let arrived = frame.arrived.unwrap_or(started);
        let (width, height) = (frame.width(), frame.height());
        let fits = self
            .detector
            .as_ref()
            .is_some_and(|detector| (detector.width(), detector.height()) == (width, height));
        if !fits {
            if self.detector.is_some() {
                tracing::info!(width, height, "frame size changed; restarting the detector");
            }
            self.detector = Some(match &self.backend {
                None => Detector::new(width, height, &self.detector_options),
                Some(backend) => {
                    Detector::with_backend(width, height, &self.detector_options, backend())
                }
            });
        }
        // Rasterised once per frame size, not again on every reconnect or decode error.
        if (self.mask.width(), self.mask.height()) != (width, height) {
            self.mask = PrivacyMask::new(&self.privacy.masks, width, height);
            self.zones = Zones::new(&self.privacy.zones, &self.mask);
        }
        // Masked pixels are blanked before the detector sees the frame.
        if let Err(error) = self.mask.blank(&mut frame.luma.view_mut()) {
            tracing::warn!(seq = frame.seq, "frame skipped: {error}");
            return;
        }
        let Some(detector) = self.detector.as_mut() else {
            return;
        };
        let analysis = match detector.process(frame.luma.view()) {
            Ok(analysis) => analysis,
            Err(error) => {
                tracing::warn!(
                    seq = frame.seq,
                    "frame skipped: {}",
                    crate::describe(&error)
                );
                // A backend that failed mid-frame may have taken the frame's random draws:
                // the model starts again rather than drift from the native detector's.
                if matches!(error, MotionError::Backend(_)) {
                    self.detector = None;
                }
                return;
            }
        };
        self.last_frame = Some((frame.seq, frame.pts_nanos));
        let event = self
            .tracker
            .update(frame.seq, frame.pts_nanos, analysis, width, height);
        if self
            .zones
            .touched(detector.foreground(), &mut self.zone_hits)
            .is_ok()
        {
            self.zone_times.observe(frame.pts_nanos, &self.zone_hits);
        }
        let evidence = match (self.evidence.as_mut(), &event) {
            (Some(writer), Some(event)) if event.phase != EventPhase::End => Some(writer.write(
                event.event_id,
                frame.seq,
                frame.luma.view(),
                detector.foreground(),
                &self.mask,
            )),
            _ => None,
        };
        self.metrics.frame_analysed(started.elapsed());
        match evidence {
            Some(Ok(written)) => self.send(Record::Evidence(written)),
            Some(Err(error)) => tracing::warn!(seq = frame.seq, "no evidence image: {error}"),
            None => {}
        }
        if let Some(event) = event {
            self.emit(event, arrived);
        }
    }

    /// Sends a motion record made from the frame that arrived at `frame_arrived`.
    fn emit(&mut self, mut event: MotionEvent, frame_arrived: Instant) {
        event.zones = self.zone_times.names_since(event.start_millis);
        if event.phase == EventPhase::Start {
            self.metrics.event_started();
        }
        let metrics = self.metrics.clone();
        self.send(Record::Motion(Emitted {
            event,
            frame_arrived,
            metrics,
        }));
    }

    /// Closes an open event at the last frame analysed (the stream stopped, or is ending).
    fn close_event(&mut self) {
        let Some((seq, pts_nanos)) = self.last_frame else {
            return;
        };
        if let Some(event) = self.tracker.finish(seq, pts_nanos) {
            self.emit(event, Instant::now());
        }
    }

    /// After a panic: whatever was open is closed and the model starts afresh.
    fn recover_from_panic(&mut self) {
        self.close_event();
        self.detector = None;
    }

    /// Blocks while the writer is behind: records must not be lost.
    fn send(&mut self, record: Record) {
        if self.records.send(record).is_err() && !self.output_closed {
            self.output_closed = true;
            tracing::error!(camera = %self.camera, "the event writer has stopped; records from this camera are lost");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use ndarray::Array2;
    use sw_core::{EventPhase, MotionEvent};

    use super::*;

    fn motion_events(records: &Receiver<Record>) -> Vec<MotionEvent> {
        records
            .try_iter()
            .filter_map(|record| match record {
                Record::Motion(emitted) => Some(emitted.event),
                Record::Evidence(_) => None,
                Record::Health(_) => None,
            })
            .collect()
    }

    fn camera() -> CameraId {
        CameraId::new("test-cam").unwrap()
    }

    /// A 32x24 frame at 10 fps: mid-grey, with a bright 8x8 square at `square_x` when given.
    fn frame(seq: u64, square_x: Option<usize>) -> Frame {
        let mut luma = Array2::from_elem((24, 32), 100_u8);
        if let Some(x) = square_x {
            luma.slice_mut(ndarray::s![8..16, x..x + 8]).fill(220);
        }
        Frame {
            camera: camera(),
            seq,
            pts_nanos: seq * 100_000_000,
            luma,
            arrived: None,
        }
    }

    fn health(kind: HealthKind) -> HealthEvent {
        HealthEvent {
            camera: camera(),
            kind,
            unix_millis: 0,
        }
    }

    fn worker(records: Sender<Record>) -> Worker {
        let events = EventOptions {
            min_duration_millis: 0,
            cooldown_millis: 300,
            ..EventOptions::default()
        };
        Worker::new(
            camera(),
            DetectorOptions::default(),
            events,
            records,
            sw_http::Metrics::new().camera(&camera()),
            sw_config::Config::parse(
                "[[cameras]]\nid = \"test-cam\"\nurl = \"rtsp://192.0.2.1/s\"\n",
                sw_config::Source::BuiltIn,
            )
            .unwrap()
            .cameras[0]
                .privacy
                .clone(),
        )
    }

    fn phases(events: &[MotionEvent]) -> Vec<EventPhase> {
        events.iter().map(|event| event.phase).collect()
    }

    #[test]
    fn a_moving_square_raises_an_event_and_a_disconnect_closes_it() {
        let (records_in, records) = crossbeam_channel::unbounded();
        let (_, frames) = crossbeam_channel::unbounded::<Frame>();
        let mut worker = worker(records_in);
        for seq in 0..5 {
            worker.on_frame(&mut frame(seq, (seq > 0).then_some(seq as usize * 3)));
        }
        worker.on_health(
            health(HealthKind::Disconnected {
                reason: "gone".to_owned(),
            }),
            &frames,
        );
        let events = motion_events(&records);
        assert_eq!(phases(&events), [EventPhase::Start, EventPhase::End]);
        assert_eq!(events[1].frame_seq, 4, "closed at the last frame seen");
    }

    #[test]
    fn a_reconnect_into_a_different_scene_raises_no_event() {
        let (records_in, records) = crossbeam_channel::unbounded();
        let (stale_in, frames) = crossbeam_channel::unbounded::<Frame>();
        let mut worker = worker(records_in);
        // Before the reconnect: a static scene with the square at x = 0.
        for seq in 0..3 {
            worker.on_frame(&mut frame(seq, Some(0)));
        }
        // A frame from before the reconnect is still queued; it must not be analysed.
        stale_in.send(frame(3, Some(0))).unwrap();
        worker.on_health(health(HealthKind::Connected), &frames);
        assert!(frames.is_empty(), "stale frames are discarded");
        // After it: the square is elsewhere, and stays there.
        for seq in 10..16 {
            worker.on_frame(&mut frame(seq, Some(20)));
        }
        assert_eq!(motion_events(&records), []);
    }

    #[test]
    fn a_new_frame_size_restarts_the_detector_without_an_event() {
        let (records_in, records) = crossbeam_channel::unbounded();
        let mut worker = worker(records_in);
        for seq in 0..3 {
            worker.on_frame(&mut frame(seq, None));
        }
        for seq in 3..6 {
            let mut small = frame(seq, None);
            small.luma = Array2::from_elem((12, 16), 60);
            worker.on_frame(&mut small);
        }
        assert_eq!(worker.detector.as_ref().map(Detector::width), Some(16));
        assert_eq!(motion_events(&records), []);
    }

    #[test]
    fn run_takes_health_before_frames_and_ends_when_inputs_close() {
        let (records_in, records) = crossbeam_channel::unbounded();
        let (frames_in, frames) = crossbeam_channel::bounded(8);
        let (health_in, health_out) = crossbeam_channel::bounded(8);
        let (_stop_in, stop) = crossbeam_channel::bounded::<()>(0);
        frames_in.send(frame(0, None)).unwrap();
        health_in.send(health(HealthKind::Connected)).unwrap();
        drop((frames_in, health_in));
        worker(records_in).run(&frames, &health_out, &stop);
        // Connected first (it discards the queued frame), then the inputs close.
        let kinds: Vec<bool> = records
            .try_iter()
            .map(|record| matches!(record, Record::Health(_)))
            .collect();
        assert_eq!(kinds, [true]);
    }

    #[test]
    fn supervise_restarts_after_a_panic_and_gives_up_after_too_many() {
        // panics before succeeding, outcome
        let table = [
            (0, Supervised::Completed),
            (2, Supervised::Completed),
            (
                3,
                Supervised::GaveUp {
                    panics: 3,
                    last: "boom 2".to_owned(),
                },
            ),
        ];
        for (panics, expected) in table {
            let calls = Cell::new(0);
            let outcome = supervise(2, |attempt| {
                calls.set(calls.get() + 1);
                assert_eq!(attempt, calls.get() - 1);
                if attempt < panics {
                    panic!("boom {attempt}");
                }
            });
            assert_eq!(outcome, expected, "after {panics} panics");
        }
    }
}
