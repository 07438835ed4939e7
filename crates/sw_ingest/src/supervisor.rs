//! A live camera kept alive: one named thread per camera (`ingest-<camera>`, inside a `camera`
//! tracing span) that connects, streams frames into a [`FrameQueue`], watches for stalls,
//! reconnects with back-off, and reports its state and health.
//!
//! ```text
//!              spawn
//!                |
//!                v        first frame (Connected, then frames)
//!   +-----> connecting ------------------------------------> streaming
//!   |         |   |  401                                       |   |
//!   |         |   +-----> auth_failed (wait auth_retry) --+    |   | no frame for stall_timeout
//!   |         |   |  retina can't use the answer, client  |    |   |
//!   |         |   |  auto: rtspsrc from now on, no wait ->+    |   |
//!   |         |                                           |    |   v
//!   |         | error, EOS, 404,                          |    | stalled (wait back-off) --+
//!   |         | no frame within connect_timeout           |    |                           |
//!   |         v                                           |    | error, EOS (Disconnected) |
//!   |    backing_off (wait back-off) <--------------------+----+                           |
//!   |         |                                           |                                |
//!   +---------+-------------------------------------------+--------------------------------+
//!   stop() from any state: pipeline to Null, thread joined, state stopped (within ~1 s)
//! ```
//!
//! Which RTSP client (`rtsp_pipeline::RtspHead`, see `first_head`): [`RtspClient::Auto`] starts
//! with retina on a plain `rtsp://` URL and with rtspsrc on `rtsps://`. When retina cannot use
//! what a camera answers (a 4xx other than 401 and 404, an RTSP or RTP message it refuses, no
//! H.264/H.265 video), that camera uses rtspsrc for good, at once when it had not streamed yet
//! (one info line). Either way a connection ends the same (see `rtsp_pipeline`), so states,
//! back-off and health events do not depend on the client.
//!
//! Every wait (for a frame, for the back-off, to hand over a health event) also watches the
//! stop channel, so `stop()` never waits out a back-off. Back-off doubles with each failure in a
//! row (see `sw_core::Backoff`) and starts over once a connection has streamed for 10 s.
//!
//! Frames: `seq` counts frames delivered since spawn, across reconnects; `pts_nanos` is time
//! since spawn, increasing across reconnects (see `timeline`). After every (re)connection,
//! [`HealthKind::Connected`] is sent before the connection's first frame, so a consumer can
//! reset its background model rather than see the reconnect as motion.
//!
//! Owns: the thread, the state machine, status and health reporting, frame numbering.
//! Does not own: the pipeline (`rtsp_pipeline`), the queue's policy (`frame_queue`), what a
//! consumer does with health events (sw_service).

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};
use serde::Serialize;
use sw_core::{Backoff, seed_for};
use sw_core::{CameraId, Frame};

use crate::IngestError;
use crate::analysis::{BuildError, luma_from_sample};
use crate::auth_probe::{Refusal, auth_failure_reason, demands_sha256_digest};
use crate::error::BusFailure;
use crate::frame_queue::FrameQueue;
use crate::live::{LiveOptions, RtspClient};
use crate::rtsp_pipeline::{
    ConnectionEvent, Ending, REQUIRED_ELEMENTS, RtspConnection, RtspHead, VideoCodec,
};
use crate::timeline::Timeline;

/// A connection that streamed this long ends the failure streak: the next back-off starts
/// over from the initial wait.
const STABLE_STREAMING: Duration = Duration::from_secs(10);
/// At most one [`HealthKind::DecodeError`] per this long (decoders can warn per frame).
const DECODE_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Where a camera is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    Connecting,
    Streaming,
    /// Frames stopped while connected; torn down, waiting to reconnect.
    Stalled,
    /// A connection failed or ended; waiting to reconnect.
    BackingOff,
    /// The camera refused the credentials; retrying slowly.
    AuthFailed,
    Stopped,
}

/// A camera's status, cheap to read at any time ([`LiveCamera::status`]). Never holds
/// credentials: reasons are written without them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CameraStatus {
    pub camera: CameraId,
    pub state: CameraState,
    /// When the camera entered `state`.
    pub since_unix_millis: u64,
    /// Why it is in this state, for people (`None` while streaming).
    pub reason: Option<String>,
    /// Analysis frames that came out of the pipeline.
    pub frames_received: u64,
    /// Frames lost because analysis fell behind: replaced at the appsink before they were
    /// taken, or removed from a full [`FrameQueue`].
    pub frames_dropped: u64,
    /// Connection attempts after the first.
    pub reconnects: u64,
    pub last_frame_unix_millis: Option<u64>,
    /// The RTSP client the camera's next or current connection uses; `None` for a camera that
    /// was never started. Shows which cameras the automatic choice moved to rtspsrc.
    pub rtsp_client: Option<RtspHead>,
}

/// Something the consumer of a camera's frames should know about the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HealthKind {
    /// Connected, and frames follow; sent before the first frame of every connection.
    Connected,
    /// A streaming connection ended (error or end of stream); a reconnect follows.
    Disconnected { reason: String },
    /// Frames stopped while connected; a reconnect follows.
    Stalled,
    /// The camera refused the credentials (sent when the refusals start, not on each retry).
    AuthFailed,
    /// The decoder warned or dropped a damaged frame (at most one report per second).
    DecodeError { detail: String },
    /// Frames arrived more than 3 intervals apart while streaming: the time missing beyond one
    /// interval.
    Gap { missing_millis: u64 },
    /// The stream's own timestamps jumped (running time, before and after); `pts_nanos` stays
    /// increasing regardless.
    TimestampJump { from_nanos: u64, to_nanos: u64 },
    /// The analysis frame size changed (the camera changed resolution or aspect ratio); the
    /// next frame has this size.
    SizeChanged { width: u32, height: u32 },
}

/// One health report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthEvent {
    pub camera: CameraId,
    #[serde(flatten)]
    pub kind: HealthKind,
    pub unix_millis: u64,
}

/// Where a camera's output goes.
#[derive(Debug, Clone)]
pub struct LiveSinks {
    /// Frames, drop-oldest when analysis falls behind.
    pub frames: FrameQueue,
    /// Health events: a bounded channel; sending blocks (they are rare and must not be lost),
    /// but never past a `stop()`.
    pub health: Sender<HealthEvent>,
}

/// A running camera: its supervisor thread and shared status. Dropping it stops it too.
#[derive(Debug)]
pub struct LiveCamera {
    camera: CameraId,
    status: Arc<Mutex<CameraStatus>>,
    /// Dropped to stop the thread: every wait selects on its receiver.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LiveCamera {
    /// Checks the options and the installed elements, then starts the camera's thread, which
    /// connects in the background. Errors are about the options or this machine; a camera
    /// that cannot be reached shows up in [`LiveCamera::status`] instead.
    pub fn spawn(options: LiveOptions, sinks: LiveSinks) -> Result<LiveCamera, IngestError> {
        options.validate()?;
        crate::init()?;
        if let Some(factory) = REQUIRED_ELEMENTS
            .into_iter()
            .find(|factory| gst::ElementFactory::find(factory).is_none())
        {
            return Err(IngestError::MissingElement { factory });
        }
        let camera = options.camera.clone();
        let head = first_head(&options);
        let status = Arc::new(Mutex::new(CameraStatus {
            camera: camera.clone(),
            state: CameraState::Connecting,
            since_unix_millis: unix_millis_now(),
            reason: None,
            frames_received: 0,
            frames_dropped: 0,
            reconnects: 0,
            last_frame_unix_millis: None,
            rtsp_client: Some(head),
        }));
        // Never sent on: dropping the sender is the signal, seen by every select at once.
        let (stop, stop_signal) = crossbeam_channel::bounded(0);
        let supervisor = Supervisor {
            head,
            last_codec: None,
            backoff: Backoff::new(
                options.backoff_initial,
                options.backoff_max,
                seed_for(&camera),
            ),
            options,
            sinks,
            status: Arc::clone(&status),
            stop: stop_signal,
            spawned_at: Instant::now(),
            timeline: Timeline::default(),
            frames_delivered: 0,
            frames_dropped_by_queue: 0,
            frames_replaced_before: 0,
            last_size: None,
            attempts: 0,
            last_failure: None,
            last_decode_report: None,
        };
        let span = tracing::info_span!("camera", camera = %camera);
        let thread = std::thread::Builder::new()
            .name(format!("ingest-{camera}"))
            .spawn(move || span.in_scope(|| supervisor.run()))
            .map_err(|source| IngestError::ThreadSpawn {
                camera: camera.clone(),
                source,
            })?;
        Ok(LiveCamera {
            camera,
            status,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn camera(&self) -> &CameraId {
        &self.camera
    }

    /// A snapshot of the camera's status.
    pub fn status(&self) -> CameraStatus {
        lock(&self.status).clone()
    }

    /// Stops the camera: its pipeline goes to `Null`, its thread is joined, its state becomes
    /// `stopped`. Returns within about a second, whatever the camera was doing.
    pub fn stop(self) {
        self.stop_with_status();
    }

    /// [`LiveCamera::stop`], returning the final status (counters included).
    pub fn stop_with_status(mut self) -> CameraStatus {
        self.shutdown();
        self.status()
    }

    fn shutdown(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(camera = %self.camera, "the ingest thread panicked");
            let mut status = lock(&self.status);
            status.state = CameraState::Stopped;
            status.since_unix_millis = unix_millis_now();
            status.reason = Some("the ingest thread panicked".to_owned());
        }
    }
}

impl Drop for LiveCamera {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock(status: &Mutex<CameraStatus>) -> std::sync::MutexGuard<'_, CameraStatus> {
    status.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unix_millis_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// How one connection attempt ended.
enum Outcome {
    Stopped,
    /// The state says why; wait this long, then try again.
    RetryAfter(Duration),
}

/// The camera's thread: owns the connection, the numbering and the clocks.
struct Supervisor {
    options: LiveOptions,
    /// The RTSP client of the next connection.
    head: RtspHead,
    /// The codec of the last connection that streamed.
    last_codec: Option<VideoCodec>,
    sinks: LiveSinks,
    status: Arc<Mutex<CameraStatus>>,
    stop: Receiver<()>,
    spawned_at: Instant,
    backoff: Backoff,
    timeline: Timeline,
    frames_delivered: u64,
    frames_dropped_by_queue: u64,
    /// Appsink-side drops of the connections already closed.
    frames_replaced_before: u64,
    last_size: Option<(u32, u32)>,
    attempts: u64,
    /// The reason of the last failed attempt: a failure repeating it is logged quietly.
    last_failure: Option<String>,
    last_decode_report: Option<Instant>,
}

impl Supervisor {
    fn run(mut self) {
        tracing::info!(url = %self.options.redacted_url(), "starting camera");
        while let Outcome::RetryAfter(delay) = self.connect_once() {
            if self.wait(delay) {
                break;
            }
        }
        self.enter(CameraState::Stopped, None);
        tracing::info!("camera stopped");
    }

    /// Waits `duration` unless stopped first; true when stopped.
    fn wait(&self, duration: Duration) -> bool {
        crossbeam_channel::select! {
            recv(self.stop) -> _ => true,
            default(duration) => false,
        }
    }

    /// A connection was lost or never came up: enters `state` (backing_off or stalled) with
    /// the reason and the back-off chosen, and returns the back-off. The state is set before
    /// any health event about it is sent, so a consumer reading status after one sees it.
    fn lose(
        &mut self,
        state: CameraState,
        reason: &str,
        streamed_for: Option<Duration>,
    ) -> Duration {
        if streamed_for.is_some_and(|streamed| streamed >= STABLE_STREAMING) {
            self.backoff.reset();
        }
        let delay = self.backoff.next_delay();
        self.enter(
            state,
            Some(format!(
                "{reason}; reconnecting in {:.1} s",
                delay.as_secs_f64()
            )),
        );
        delay
    }

    fn enter(&self, state: CameraState, reason: Option<String>) {
        let mut status = lock(&self.status);
        status.state = state;
        status.since_unix_millis = unix_millis_now();
        status.reason = reason;
    }

    /// Hands a health event over, waiting for room unless stopped first.
    fn report(&self, kind: HealthKind) {
        let event = HealthEvent {
            camera: self.options.camera.clone(),
            kind,
            unix_millis: unix_millis_now(),
        };
        crossbeam_channel::select! {
            // A consumer that has gone away is not an error of ours.
            send(self.sinks.health, event) -> _ => {}
            recv(self.stop) -> _ => {}
        }
    }

    /// Logs a failed attempt: loudly when the reason is new, quietly when it repeats.
    fn log_failure(&mut self, reason: &str) {
        if self.last_failure.as_deref() == Some(reason) {
            tracing::debug!(attempt = self.attempts, "still failing: {reason}");
        } else {
            tracing::warn!(attempt = self.attempts, "camera unavailable: {reason}");
            self.last_failure = Some(reason.to_owned());
        }
    }

    /// One connection: from building the pipeline to its end.
    fn connect_once(&mut self) -> Outcome {
        self.attempts += 1;
        lock(&self.status).reconnects = self.attempts - 1;
        self.enter(
            CameraState::Connecting,
            (self.attempts > 1).then(|| format!("attempt {}", self.attempts)),
        );
        let mut connection = match RtspConnection::start(&self.options, self.head) {
            Ok(connection) => connection,
            Err(error) => {
                let reason = match error {
                    BuildError::MissingElement(factory) => {
                        format!("GStreamer element {factory:?} is not installed")
                    }
                    BuildError::Failed(reason) => format!("cannot build the pipeline: {reason}"),
                };
                self.log_failure(&reason);
                return Outcome::RetryAfter(self.lose(CameraState::BackingOff, &reason, None));
            }
        };
        let started = Instant::now();
        let mut streaming_since: Option<Instant> = None;
        let mut last_frame_at = started;
        let outcome = loop {
            let deadline = match streaming_since {
                None => started + self.options.connect_timeout,
                Some(_) => last_frame_at + self.options.stall_timeout,
            };
            match connection.next_event(&self.stop, deadline) {
                ConnectionEvent::Stop => break Outcome::Stopped,
                ConnectionEvent::Frame(sample) => {
                    let now = Instant::now();
                    if streaming_since.is_none() {
                        streaming_since = Some(now);
                        self.on_connected(connection.codec());
                    }
                    last_frame_at = now;
                    self.deliver(&sample, now, connection.frames_replaced());
                }
                ConnectionEvent::DecodeTrouble(detail) => self.on_decode_trouble(detail),
                ConnectionEvent::Timeout => {
                    break match streaming_since {
                        Some(since) => {
                            let reason = format!(
                                "stalled: no frame for {:.1} s",
                                self.options.stall_timeout.as_secs_f64()
                            );
                            tracing::warn!("{reason}; reconnecting");
                            let delay =
                                self.lose(CameraState::Stalled, &reason, Some(since.elapsed()));
                            self.report(HealthKind::Stalled);
                            Outcome::RetryAfter(delay)
                        }
                        None => {
                            let reason = format!(
                                "no frame within {:.1} s of connecting",
                                self.options.connect_timeout.as_secs_f64()
                            );
                            self.log_failure(&reason);
                            Outcome::RetryAfter(self.lose(CameraState::BackingOff, &reason, None))
                        }
                    };
                }
                ConnectionEvent::Ended(ending) => {
                    break self.on_ended(ending, streaming_since.map(|since| since.elapsed()));
                }
            }
        };
        self.frames_replaced_before += connection.frames_replaced();
        lock(&self.status).frames_dropped =
            self.frames_dropped_by_queue + self.frames_replaced_before;
        // The pipeline goes to Null before any waiting starts.
        drop(connection);
        outcome
    }

    fn on_connected(&mut self, codec: Option<VideoCodec>) {
        self.timeline.new_connection();
        self.last_failure = None;
        self.enter(CameraState::Streaming, None);
        self.report(HealthKind::Connected);
        if let (Some(before), Some(now)) = (self.last_codec, codec)
            && before != now
        {
            tracing::info!("the camera's video changed from {before} to {now}");
        }
        self.last_codec = codec.or(self.last_codec);
        tracing::info!(
            url = %self.options.redacted_url(),
            attempt = self.attempts,
            client = %self.head,
            codec = %codec.map_or_else(|| "unknown".to_owned(), |codec| codec.to_string()),
            "connected; streaming"
        );
    }

    fn on_ended(&mut self, ending: Ending, streamed_for: Option<Duration>) -> Outcome {
        let reason = match ending {
            Ending::NotAuthorized => {
                let credentials_given = self.options.credentials.is_some();
                // Only rtspsrc can be refused for want of SHA-256: ask the camera what it wants.
                let sha256_only = credentials_given
                    && self.head == RtspHead::Rtspsrc
                    && demands_sha256_digest(&self.options.url);
                let reason = auth_failure_reason(Refusal {
                    credentials_given,
                    sha256_only,
                });
                let repeated = self.last_failure.as_deref() == Some(reason.as_str());
                self.enter(CameraState::AuthFailed, Some(reason.clone()));
                if repeated {
                    tracing::debug!(attempt = self.attempts, "still refused: {reason}");
                } else {
                    tracing::warn!(
                        "authentication failed: {reason}; retrying every {:.0} s",
                        self.options.auth_retry.as_secs_f64()
                    );
                    self.last_failure = Some(reason);
                    self.report(HealthKind::AuthFailed);
                }
                return Outcome::RetryAfter(self.options.auth_retry);
            }
            Ending::NotFound(failure) => {
                tracing::debug!("not found: {failure}");
                "the camera has no stream at this URL (404 Not Found)".to_owned()
            }
            Ending::Eos { last_warning } => match last_warning {
                Some(warning) => format!("the camera ended the stream ({warning})"),
                None => "the camera ended the stream".to_owned(),
            },
            Ending::Unusable(failure)
                if self.options.client == RtspClient::Auto && self.head == RtspHead::Retina =>
            {
                self.head = RtspHead::Rtspsrc;
                lock(&self.status).rtsp_client = Some(RtspHead::Rtspsrc);
                tracing::info!(
                    "the retina RTSP client cannot use this camera's answer ({}); using \
                     GStreamer's rtspsrc for it from now on",
                    short_reason(&failure)
                );
                if streamed_for.is_none() {
                    return Outcome::RetryAfter(Duration::ZERO);
                }
                short_reason(&failure)
            }
            Ending::Unusable(failure) | Ending::Failed(failure) => {
                tracing::debug!("pipeline error: {failure}");
                short_reason(&failure)
            }
        };
        if streamed_for.is_some() {
            tracing::warn!("disconnected: {reason}");
        } else {
            self.log_failure(&reason);
        }
        let delay = self.lose(CameraState::BackingOff, &reason, streamed_for);
        if streamed_for.is_some() {
            self.report(HealthKind::Disconnected { reason });
        }
        Outcome::RetryAfter(delay)
    }

    fn on_decode_trouble(&mut self, detail: String) {
        let due = self
            .last_decode_report
            .is_none_or(|last| last.elapsed() >= DECODE_REPORT_INTERVAL);
        if due {
            tracing::debug!("decoding trouble: {detail}");
            self.last_decode_report = Some(Instant::now());
            self.report(HealthKind::DecodeError { detail });
        }
    }

    /// Turns a sample into the next frame: health first (size change, gap, clock jump), then
    /// the frame itself, then the counters.
    fn deliver(&mut self, sample: &gst::Sample, arrived_at: Instant, replaced_now: u64) {
        let luma = match luma_from_sample(sample) {
            Ok(luma) => luma,
            Err(detail) => {
                self.on_decode_trouble(format!("unreadable frame: {detail}"));
                return;
            }
        };
        let size = (
            u32::try_from(luma.ncols()).unwrap_or(u32::MAX),
            u32::try_from(luma.nrows()).unwrap_or(u32::MAX),
        );
        if self.last_size.is_some_and(|last| last != size) {
            tracing::info!("analysis frame size is now {}x{}", size.0, size.1);
            self.report(HealthKind::SizeChanged {
                width: size.0,
                height: size.1,
            });
        }
        self.last_size = Some(size);

        let placed = self.timeline.place(
            nanos(arrived_at.saturating_duration_since(self.spawned_at)),
            running_time_nanos(sample),
            self.frame_interval_nanos(sample),
        );
        if let Some(missing) = placed.gap_missing_nanos {
            self.report(HealthKind::Gap {
                missing_millis: missing / 1_000_000,
            });
        }
        if let Some((from_nanos, to_nanos)) = placed.jump_nanos {
            tracing::info!(from_nanos, to_nanos, "the stream's timestamps jumped");
            self.report(HealthKind::TimestampJump {
                from_nanos,
                to_nanos,
            });
        }

        let frame = Frame {
            camera: self.options.camera.clone(),
            seq: self.frames_delivered,
            pts_nanos: placed.pts_nanos,
            luma,
            arrived: Some(arrived_at),
        };
        self.frames_delivered += 1;
        // The status counts the frame before it is queued, so that whoever takes it from the
        // queue never sees a status that lags behind it.
        let mut status = lock(&self.status);
        status.frames_received += 1;
        status.last_frame_unix_millis = Some(unix_millis_now());
        if self.sinks.frames.push(frame) {
            self.frames_dropped_by_queue += 1;
        }
        status.frames_dropped =
            self.frames_dropped_by_queue + self.frames_replaced_before + replaced_now;
    }

    /// The expected time between frames: the analysis rate, or the stream's own rate when it
    /// declares a slower one.
    fn frame_interval_nanos(&self, sample: &gst::Sample) -> u64 {
        let analysis = 1_000_000_000 / u64::from(self.options.fps.get());
        let declared = sample
            .caps()
            .and_then(|caps| gst_video::VideoInfo::from_caps(caps).ok())
            .map(|info| info.fps())
            .filter(|fps| fps.numer() > 0 && fps.denom() > 0)
            .map(|fps| {
                1_000_000_000 * u64::from(fps.denom().unsigned_abs())
                    / u64::from(fps.numer().unsigned_abs())
            });
        declared.map_or(analysis, |declared| declared.max(analysis))
    }
}

/// The RTSP client a camera starts with. `Auto` takes retina for `rtsp://`: it answers every
/// kind of Digest and costs less CPU per camera than rtspsrc, its jitter buffer and RTP
/// session (about 9% of the whole service at 8 cameras; `docs/design/rtsp-clients.md`).
/// rtspsrc serves `rtsps://` (retina has no TLS), and any camera retina cannot use.
fn first_head(options: &LiveOptions) -> RtspHead {
    match options.client {
        RtspClient::Auto if options.is_plain_rtsp() => RtspHead::Retina,
        RtspClient::Auto | RtspClient::Gstreamer => RtspHead::Rtspsrc,
        RtspClient::Retina => RtspHead::Retina,
    }
}

/// A bus error in a sentence: its message and, when GStreamer's debug text ends in a more
/// specific line (rtspsrc's "Service Unavailable (503)"), that line; no element paths.
fn short_reason(failure: &BusFailure) -> String {
    let detail = failure.debug.lines().last().map(str::trim).filter(|line| {
        !line.is_empty() && !line.contains("/GstPipeline:") && *line != failure.message
    });
    match detail {
        Some(detail) => format!("{}: {detail}", failure.message.trim_end_matches('.')),
        None => failure.message.clone(),
    }
}

/// The buffer's running time: pipeline clock time, for a live source.
fn running_time_nanos(sample: &gst::Sample) -> Option<u64> {
    let pts = sample.buffer()?.pts()?;
    let segment = sample.segment()?.downcast_ref::<gst::ClockTime>()?;
    segment.to_running_time(pts).map(gst::ClockTime::nseconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_errors_read_as_one_sentence() {
        let failure = |message: &str, debug: &str| BusFailure {
            element: "/GstPipeline:live-gate/GstRTSPSrc:rtspsrc0".to_owned(),
            message: message.to_owned(),
            debug: debug.to_owned(),
            unsupported_format: false,
        };
        // message, debug, reason
        let cases = [
            (
                "Unhandled error",
                "../gst/rtsp/gstrtspsrc.c(6954): gst_rtspsrc_send (): \
                 /GstPipeline:live-gate/GstRTSPSrc:rtspsrc0:\nService Unavailable (503)",
                "Unhandled error: Service Unavailable (503)",
            ),
            (
                "Could not open resource for reading and writing.",
                "../gst/rtsp/gstrtspsrc.c(5123): gst_rtspsrc_connect (): \
                 /GstPipeline:live-gate/GstRTSPSrc:rtspsrc0:\nFailed to connect. (Generic error)",
                "Could not open resource for reading and writing: Failed to connect. (Generic error)",
            ),
            (
                "Internal data stream error.",
                "../libs/gst/base/gstbasesrc.c(3132): gst_base_src_loop (): \
                 /GstPipeline:live-gate/GstRTSPSrc:rtspsrc0/GstUDPSrc:udpsrc0",
                "Internal data stream error.",
            ),
            (
                "Internal data stream error.",
                "",
                "Internal data stream error.",
            ),
        ];
        for (message, debug, reason) in cases {
            assert_eq!(short_reason(&failure(message, debug)), reason);
        }
    }

    #[test]
    fn health_and_status_serialise_flat_and_snake_case() {
        let camera = CameraId::new("gate").unwrap();
        // kind, JSON
        let cases = [
            (
                HealthKind::Gap {
                    missing_millis: 600,
                },
                r#"{"camera":"gate","kind":"gap","missing_millis":600,"unix_millis":7}"#,
            ),
            (
                HealthKind::AuthFailed,
                r#"{"camera":"gate","kind":"auth_failed","unix_millis":7}"#,
            ),
            (
                HealthKind::SizeChanged {
                    width: 320,
                    height: 192,
                },
                r#"{"camera":"gate","kind":"size_changed","width":320,"height":192,"unix_millis":7}"#,
            ),
        ];
        for (kind, json) in cases {
            let event = HealthEvent {
                camera: camera.clone(),
                kind,
                unix_millis: 7,
            };
            assert_eq!(serde_json::to_string(&event).unwrap(), json);
        }
        let status = CameraStatus {
            camera,
            state: CameraState::BackingOff,
            since_unix_millis: 1,
            reason: None,
            frames_received: 0,
            frames_dropped: 0,
            reconnects: 2,
            last_frame_unix_millis: None,
            rtsp_client: Some(RtspHead::Retina),
        };
        let json = serde_json::to_string(&status).unwrap();
        assert!(json.contains(r#""state":"backing_off""#), "{json}");
        assert!(json.contains(r#""rtsp_client":"retina""#), "{json}");
    }
}
