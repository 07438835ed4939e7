//! Recorded footage as analysis frames: a video file, or a numbered image sequence, read to the
//! end without dropping a frame, as fast as the consumer pulls.
//!
//! ```text
//!  video file:
//!   filesrc --> decodebin ----(video pad)----> [ analysis tail, decoupled: queue (3 frames)
//!               (demux, parse, decode;             --> videoscale --> videoconvert
//!                audio/text pads left unlinked)    --> capsfilter GRAY8 WxH
//!                                                  --> appsink sync=false, max-buffers=4, no drop ]
//!  image sequence:
//!   multifilesrc --(probe: framing check,  --> jpegdec | pngdec | avdec_bmp --> [ same tail,
//!   location=DIR/in%06d.jpg  pts = k / fps)                                       no queue ]
//!   start-index..stop-index
//! ```
//!
//! Frames are pulled from the appsink by [`RecordedSource::next_frame`]; a full appsink blocks
//! the streaming thread (backpressure), so nothing is dropped and no videorate is used. Frame
//! `seq` k is the k-th decoded frame; for a sequence it is file `first_frame_number() + k`, which
//! is checked on every frame (a decoder that silently skips a file is reported, naming it).
//!
//! Owns: choosing and building the pipeline head for a path, prerolling it, turning bus errors
//! into [`IngestError`]s that name the file (and frame), and the frame numbering.
//! Does not own: the analysis tail or sample copying (`analysis`), sequence naming (`sequence`).

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;
use sw_core::{CameraId, Frame};

use crate::IngestError;
use crate::analysis::{
    AnalysisSize, AnalysisTail, AnalysisTailOptions, BuildError, DecoderPolicy, configure_decoder,
    luma_from_sample, make_element,
};
use crate::error::BusFailure;
use crate::sequence::ImageSequence;

/// Samples the appsink holds before it blocks the streaming thread: enough to keep decoding
/// while the consumer works, few enough to bound memory.
const APPSINK_MAX_BUFFERS: u32 = 4;
/// How long one appsink wait lasts before the bus is checked for errors.
const PULL_POLL: gst::ClockTime = gst::ClockTime::from_mseconds(100);
/// A file or sequence that does not preroll within this is reported rather than waited on.
/// Local files preroll in well under a second. The wait matters for damaged files: decodebin
/// (1.22) drops errors its demuxer posts while being plugged, e.g. qtdemux's "no playable
/// streams" for an MP4 cut before its index, and then nothing happens at all.
const PREROLL_TIMEOUT: Duration = Duration::from_secs(10);
/// Structure name of the message decodebin's `no-more-pads` handler posts when it found no
/// video stream.
const NO_VIDEO_MESSAGE: &str = "sw-ingest-no-video";

const DECODER_POLICY: DecoderPolicy = DecoderPolicy {
    fail_on_first_error: true,
};

/// What to read and how to reduce it.
#[derive(Debug, Clone)]
pub struct RecordedOptions {
    /// A video file, a folder of numbered images, or a folder holding `input/` with them (CDnet).
    pub input: PathBuf,
    pub camera: CameraId,
    /// Analysis width in pixels.
    pub width: NonZeroU32,
    /// Analysis height in pixels; `None` keeps the display aspect ratio.
    pub height: Option<NonZeroU32>,
    /// Frame rate given to image sequences, which carry none (sets `pts_nanos`).
    pub sequence_fps: NonZeroU32,
}

/// A pipeline reading recorded footage; see the module docs for its shape.
#[derive(Debug)]
pub struct RecordedSource {
    /// The path the caller gave, used in errors about the whole input.
    input: PathBuf,
    camera: CameraId,
    head: Head,
    pipeline: PipelineGuard,
    tail: AnalysisTail,
    analysis_size: (u32, u32),
    frame_count_hint: Option<u64>,
    /// The container's duration (video files), to tell a truncated file from a whole one.
    declared_duration_nanos: Option<u64>,
    /// Stream time at which the last delivered frame ends.
    decoded_until_nanos: u64,
    frames_delivered: u64,
    decoder_dropped_frames: u64,
    /// An error seen on the bus, reported once the frames decoded before it are delivered.
    failure: Option<BusFailure>,
    /// Set after end of stream or an error: the pipeline is stopped and no frame follows.
    finished: bool,
}

/// The part of the pipeline that depends on the kind of input, with what its callbacks learn.
#[derive(Debug)]
enum Head {
    Video {
        streams: Arc<DecodebinStreams>,
    },
    Sequence {
        sequence: ImageSequence,
        feed: Arc<SequenceFeed>,
        fps: NonZeroU32,
    },
}

/// What decodebin's callbacks saw, shared with its streaming threads.
#[derive(Debug, Default)]
struct DecodebinStreams {
    video_linked: AtomicBool,
    /// Media types of the streams left unlinked (audio, subtitles, metadata).
    ignored: Mutex<Vec<String>>,
}

/// What the multifilesrc probe saw, shared with its streaming thread.
#[derive(Debug, Default)]
struct SequenceFeed {
    /// Files read so far (each one's index in the sequence is the count before it).
    files_seen: AtomicU64,
    /// The first file that failed its framing check: (frame number, reason).
    framing_failure: Mutex<Option<(u64, &'static str)>>,
}

/// Owns the pipeline and sets it to `Null` however the source ends.
#[derive(Debug)]
struct PipelineGuard(gst::Pipeline);

impl Drop for PipelineGuard {
    fn drop(&mut self) {
        // Failure here leaves nothing to recover; GStreamer logs it.
        let _ = self.0.set_state(gst::State::Null);
    }
}

/// Presentation time of the k-th image of a sequence (k from 0).
fn sequence_pts_nanos(k: u64, fps: NonZeroU32) -> u64 {
    k * 1_000_000_000 / u64::from(fps.get())
}

/// Inverse of [`sequence_pts_nanos`]: exact for every value it produces.
fn sequence_index_of_pts(pts_nanos: u64, fps: NonZeroU32) -> u64 {
    (pts_nanos * u64::from(fps.get())).div_ceil(1_000_000_000)
}

impl RecordedSource {
    /// Builds the pipeline for `options.input` and prerolls it, so the analysis size is known.
    pub fn open(options: &RecordedOptions) -> Result<Self, IngestError> {
        crate::init()?;
        let input = options.input.clone();
        let metadata = std::fs::metadata(&input).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                IngestError::InputNotFound {
                    path: input.clone(),
                }
            } else {
                IngestError::Io {
                    path: input.clone(),
                    source,
                }
            }
        })?;

        let pipeline = gst::Pipeline::with_name(&format!("recorded-{}", options.camera));
        let guard = PipelineGuard(pipeline.clone());
        let tail_options = AnalysisTailOptions {
            size: AnalysisSize {
                width: options.width,
                height: options.height,
            },
            // Video decoding and scaling overlap in two threads. Image decoders are cheap, and
            // without a queue a decoding error surfaces before any later file is read.
            decoupled: !metadata.is_dir(),
            max_buffers: APPSINK_MAX_BUFFERS,
            drop_when_full: false,
        };
        let tail = AnalysisTail::build(pipeline.upcast_ref(), &tail_options)
            .map_err(build_failure(&input))?;
        let head = if metadata.is_dir() {
            let sequence = ImageSequence::detect(&input)?;
            build_sequence_head(&pipeline, &tail, &sequence, options.sequence_fps)?
        } else {
            build_video_head(&pipeline, &tail, &input).map_err(build_failure(&input))?
        };

        let mut source = Self {
            input,
            camera: options.camera.clone(),
            head,
            pipeline: guard,
            tail,
            analysis_size: (0, 0),
            frame_count_hint: None,
            declared_duration_nanos: None,
            decoded_until_nanos: 0,
            frames_delivered: 0,
            decoder_dropped_frames: 0,
            failure: None,
            finished: false,
        };
        source.preroll()?;
        Ok(source)
    }

    /// The file number of frame `seq` 0: 1 for CDnet's `in000001.jpg`, 0 for `b00000.bmp` and
    /// for video files.
    pub fn first_frame_number(&self) -> u64 {
        match &self.head {
            Head::Video { .. } => 0,
            Head::Sequence { sequence, .. } => sequence.first_number,
        }
    }

    /// Frames to expect, for a progress bar: the file count of a sequence, duration x frame
    /// rate of a video (its container may promise more than it decodes).
    pub fn frame_count_hint(&self) -> Option<u64> {
        self.frame_count_hint
    }

    /// The (width, height) of every frame, as negotiated by the pipeline.
    pub fn analysis_size(&self) -> (u32, u32) {
        self.analysis_size
    }

    /// Frames a video decoder discarded as corrupt (`output-corrupt=false`) instead of passing
    /// on, which shifts later frames' `seq` against the file. Complete once `next_frame` has
    /// returned `Ok(None)`; always 0 for image sequences, where a bad file is an error.
    pub fn decoder_dropped_frames(&self) -> u64 {
        self.decoder_dropped_frames
    }

    /// The next frame in decode order; `Ok(None)` at the end of the footage. After an error
    /// or the end, the pipeline is stopped and every later call returns `Ok(None)`.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, IngestError> {
        if self.finished {
            return Ok(None);
        }
        let result = self.pull_frame();
        if !matches!(result, Ok(Some(_))) {
            self.finished = true;
            let _ = self.pipeline.0.set_state(gst::State::Null);
        }
        result
    }

    fn pull_frame(&mut self) -> Result<Option<Frame>, IngestError> {
        loop {
            // After a failure, frames decoded before it are still delivered while they keep
            // arriving.
            if let Some(sample) = self.tail.appsink.try_pull_sample(PULL_POLL) {
                return self.frame_from_sample(&sample).map(Some);
            }
            if let Some(failure) = self.failure.take() {
                return Err(self.error_for(failure));
            }
            // Nothing within the poll: the stream may have failed, ended or be slow.
            self.failure = self.check_bus()?;
            if self.failure.is_none() && self.tail.appsink.is_eos() {
                self.failure = self.check_bus()?;
                if self.failure.is_none() {
                    self.check_complete()?;
                    return Ok(None);
                }
            }
        }
    }

    fn frame_from_sample(&mut self, sample: &gst::Sample) -> Result<Frame, IngestError> {
        let seq = self.frames_delivered;
        let buffer_pts_nanos = sample
            .buffer()
            .and_then(|buffer| buffer.pts())
            .map(gst::ClockTime::nseconds);
        let duration_nanos = sample
            .buffer()
            .and_then(|buffer| buffer.duration())
            .map_or(0, gst::ClockTime::nseconds);
        let pts_nanos = match &self.head {
            Head::Video { .. } => {
                let stream_time = sample
                    .segment()
                    .and_then(|segment| segment.downcast_ref::<gst::ClockTime>())
                    .zip(sample.buffer().and_then(|buffer| buffer.pts()))
                    .and_then(|(segment, pts)| segment.to_stream_time(pts));
                stream_time
                    .map(gst::ClockTime::nseconds)
                    .or(buffer_pts_nanos)
                    .unwrap_or(0)
            }
            Head::Sequence {
                sequence,
                feed,
                fps,
            } => {
                // The probe stamped each file with its index; a different index here means the
                // decoder skipped a file without an error.
                let decoded_index = buffer_pts_nanos.map(|pts| sequence_index_of_pts(pts, *fps));
                if decoded_index != Some(seq) {
                    return Err(sequence_frame_error(
                        sequence,
                        feed,
                        sequence.first_number + seq,
                        "the decoder skipped it without reporting an error".to_owned(),
                    ));
                }
                sequence_pts_nanos(seq, *fps)
            }
        };
        let luma = luma_from_sample(sample).map_err(|reason| IngestError::BadSample {
            path: self.input.clone(),
            seq,
            reason,
        })?;
        self.frames_delivered += 1;
        self.decoded_until_nanos = pts_nanos + duration_nanos;
        Ok(Frame {
            camera: self.camera.clone(),
            seq,
            pts_nanos,
            luma,
            arrived: None,
        })
    }

    /// Sets the pipeline to Paused and waits until the first frame reached the appsink, then
    /// records the negotiated size and the frame count and starts it playing.
    fn preroll(&mut self) -> Result<(), IngestError> {
        let pipeline = self.pipeline.0.clone();
        if pipeline.set_state(gst::State::Paused).is_err() {
            // The bus usually says why (e.g. a file that cannot be opened).
            return Err(self.failure_or_state_error(gst::State::Paused));
        }
        let Some(bus) = pipeline.bus() else {
            return Err(self.failure_or_state_error(gst::State::Paused));
        };
        let deadline = std::time::Instant::now() + PREROLL_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(IngestError::PrerollTimeout {
                    path: self.input.clone(),
                    waited_secs: PREROLL_TIMEOUT.as_secs(),
                });
            }
            let timeout =
                gst::ClockTime::from_nseconds(u64::try_from(left.as_nanos()).unwrap_or(u64::MAX));
            let Some(message) = bus.timed_pop_filtered(
                timeout,
                &[
                    gst::MessageType::AsyncDone,
                    gst::MessageType::Error,
                    gst::MessageType::Application,
                    gst::MessageType::Eos,
                ],
            ) else {
                continue;
            };
            match message.view() {
                gst::MessageView::AsyncDone(_) => break,
                gst::MessageView::Eos(_) => {
                    // A stream that ends before any frame: let next_frame report it as empty.
                    break;
                }
                view => {
                    if let Some(failure) = self.handle_message(view)? {
                        return Err(self.error_for(failure));
                    }
                }
            }
        }
        self.analysis_size = self.tail.negotiated_size().unwrap_or((0, 0));
        self.frame_count_hint = match &self.head {
            Head::Sequence { sequence, .. } => Some(sequence.file_count),
            Head::Video { .. } => {
                let duration = pipeline.query_duration::<gst::ClockTime>();
                self.declared_duration_nanos = duration.map(gst::ClockTime::nseconds);
                let fps = self.tail.negotiated_frames_per_second();
                duration.zip(fps).map(|(duration, fps)| {
                    let numer = u128::from(fps.numer().unsigned_abs());
                    let denom = u128::from(fps.denom().unsigned_abs());
                    let frames = (u128::from(duration.nseconds()) * numer + denom * 500_000_000)
                        / (denom * 1_000_000_000);
                    u64::try_from(frames).unwrap_or(u64::MAX)
                })
            }
        };
        if pipeline.set_state(gst::State::Playing).is_err() {
            return Err(self.failure_or_state_error(gst::State::Playing));
        }
        Ok(())
    }

    /// The error for a refused state change: what the bus says, else the bare refusal.
    fn failure_or_state_error(&mut self, state: gst::State) -> IngestError {
        match self.check_bus() {
            Ok(Some(failure)) => self.error_for(failure),
            Ok(None) => IngestError::StateChange {
                path: self.input.clone(),
                state,
            },
            Err(error) => error,
        }
    }

    /// Reads the messages waiting on the bus up to the first error, which it returns; logs
    /// warnings.
    fn check_bus(&mut self) -> Result<Option<BusFailure>, IngestError> {
        let Some(bus) = self.pipeline.0.bus() else {
            return Ok(None);
        };
        while let Some(message) = bus.pop() {
            if let Some(failure) = self.handle_message(message.view())? {
                return Ok(Some(failure));
            }
        }
        Ok(None)
    }

    /// Returns a bus error as a failure for the caller to report when due; `Err` for a
    /// failure that needs no waiting (no video stream).
    fn handle_message(
        &mut self,
        view: gst::MessageView<'_>,
    ) -> Result<Option<BusFailure>, IngestError> {
        match view {
            gst::MessageView::Error(error) => Ok(Some(BusFailure::from_message(error))),
            gst::MessageView::Application(application)
                if application
                    .structure()
                    .is_some_and(|s| s.name() == NO_VIDEO_MESSAGE) =>
            {
                Err(self.no_video_error())
            }
            gst::MessageView::Warning(warning) => {
                tracing::warn!(
                    camera = %self.camera,
                    input = %self.input.display(),
                    element = %warning.src().map(|s| s.path_string().to_string()).unwrap_or_default(),
                    "GStreamer warning: {} ({})",
                    warning.error(),
                    warning.debug().map(|d| d.to_string()).unwrap_or_default(),
                );
                Ok(None)
            }
            gst::MessageView::Qos(qos)
                if qos
                    .src()
                    .is_some_and(|src| src.is::<gst_video::VideoDecoder>()) =>
            {
                // A video decoder posts one QoS message per frame it drops.
                self.decoder_dropped_frames += 1;
                tracing::warn!(
                    camera = %self.camera,
                    input = %self.input.display(),
                    frames_delivered = self.frames_delivered,
                    "the decoder dropped a corrupt frame ({} so far)",
                    self.decoder_dropped_frames,
                );
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// Names what a bus error means for this input.
    fn error_for(&self, failure: BusFailure) -> IngestError {
        match &self.head {
            // Called once every frame decoded before the failure has been delivered: decoding
            // is in order, so the first file without a frame is the one that failed.
            Head::Sequence { sequence, feed, .. } => sequence_frame_error(
                sequence,
                feed,
                sequence.first_number + self.frames_delivered,
                failure.to_string(),
            ),
            Head::Video { streams } => {
                if !streams.video_linked.load(Ordering::SeqCst) && !failure.unsupported_format {
                    // e.g. an audio-only file: decodebin's only pad was left unlinked.
                    let ignored_any = streams
                        .ignored
                        .lock()
                        .map(|v| !v.is_empty())
                        .unwrap_or(false);
                    if ignored_any {
                        return self.no_video_error();
                    }
                }
                if failure.unsupported_format {
                    IngestError::Unsupported {
                        path: self.input.clone(),
                        failure,
                    }
                } else {
                    IngestError::Pipeline {
                        path: self.input.clone(),
                        frames_delivered: self.frames_delivered,
                        failure,
                    }
                }
            }
        }
    }

    fn no_video_error(&self) -> IngestError {
        let found = match &self.head {
            Head::Video { streams } => streams
                .ignored
                .lock()
                .map(|ignored| ignored.join(", "))
                .unwrap_or_default(),
            Head::Sequence { .. } => String::new(),
        };
        IngestError::NoVideoStream {
            path: self.input.clone(),
            found: if found.is_empty() {
                "none".to_owned()
            } else {
                found
            },
        }
    }

    /// At the end: every file of a sequence must have become a frame, and a video must have
    /// run close to its declared duration (a file cut short after its index, e.g. a partial
    /// download of a fast-start MP4, otherwise just ends early without any error).
    fn check_complete(&self) -> Result<(), IngestError> {
        match &self.head {
            Head::Sequence { sequence, feed, .. }
                if self.frames_delivered < sequence.file_count =>
            {
                Err(sequence_frame_error(
                    sequence,
                    feed,
                    sequence.first_number + self.frames_delivered,
                    "the stream ended before this file was decoded".to_owned(),
                ))
            }
            Head::Sequence { .. } => Ok(()),
            Head::Video { .. } => match self.declared_duration_nanos {
                Some(declared) if ends_early(self.decoded_until_nanos, declared) => {
                    Err(IngestError::Truncated {
                        path: self.input.clone(),
                        frames_delivered: self.frames_delivered,
                        decoded_until_millis: self.decoded_until_nanos / 1_000_000,
                        declared_millis: declared / 1_000_000,
                    })
                }
                _ => Ok(()),
            },
        }
    }
}

/// The error for frame `number` of a sequence, unless the framing probe rejected a file first:
/// that file is the one at fault, with the probe's reason.
fn sequence_frame_error(
    sequence: &ImageSequence,
    feed: &SequenceFeed,
    number: u64,
    reason: String,
) -> IngestError {
    let rejected = feed
        .framing_failure
        .lock()
        .ok()
        .and_then(|failure| *failure);
    let (frame_number, reason) = match rejected {
        Some((rejected_number, why)) => (rejected_number, why.to_owned()),
        None => (number, reason),
    };
    IngestError::CorruptFrame {
        file: sequence.file_path(frame_number),
        frame_number,
        reason,
    }
}

/// Turns a pipeline-building failure into the error for `path`.
fn build_failure(path: &Path) -> impl Fn(BuildError) -> IngestError + Copy + '_ {
    move |error| match error {
        BuildError::MissingElement(factory) => IngestError::MissingElement { factory },
        BuildError::Failed(reason) => IngestError::Build {
            path: path.to_path_buf(),
            reason,
        },
    }
}

/// filesrc -> decodebin, whose video pad is linked to the tail when it appears.
fn build_video_head(
    pipeline: &gst::Pipeline,
    tail: &AnalysisTail,
    path: &Path,
) -> Result<Head, BuildError> {
    let location = path
        .to_str()
        .ok_or_else(|| BuildError::Failed(format!("path {path:?} is not valid UTF-8")))?;
    let filesrc = make_element("filesrc")?;
    filesrc.set_property("location", location);
    let decodebin = make_element("decodebin")?;
    pipeline
        .add_many([&filesrc, &decodebin])
        .map_err(|e| BuildError::Failed(format!("adding filesrc and decodebin: {e}")))?;
    filesrc
        .link(&decodebin)
        .map_err(|e| BuildError::Failed(format!("linking filesrc to decodebin: {e}")))?;

    // Audio, subtitles and the like are not decoded at all: decodebin stops at them and
    // exposes them, and they stay unlinked.
    decodebin.connect("autoplug-continue", false, |values| {
        let wanted = values
            .get(2)
            .and_then(|value| value.get::<gst::Caps>().ok())
            .and_then(|caps| caps.structure(0).map(|s| s.name().to_string()))
            .is_none_or(|media_type| !is_non_video_stream(&media_type));
        Some(wanted.to_value())
    });
    if let Some(bin) = decodebin.downcast_ref::<gst::Bin>() {
        bin.connect_deep_element_added(|_, _, element| {
            configure_decoder(element, DECODER_POLICY);
        });
    }

    let streams = Arc::new(DecodebinStreams::default());
    let tail_pad = tail.sink_pad.clone();
    let pad_streams = Arc::clone(&streams);
    decodebin.connect_pad_added(move |decodebin, pad| {
        let media_type = pad
            .current_caps()
            .or_else(|| Some(pad.query_caps(None)))
            .and_then(|caps| caps.structure(0).map(|s| s.name().to_string()))
            .unwrap_or_default();
        if media_type != "video/x-raw" || pad_streams.video_linked.load(Ordering::SeqCst) {
            if let Ok(mut ignored) = pad_streams.ignored.lock() {
                ignored.push(media_type);
            }
            return;
        }
        match pad.link(&tail_pad) {
            Ok(_) => pad_streams.video_linked.store(true, Ordering::SeqCst),
            Err(error) => gst::element_error!(
                decodebin,
                gst::CoreError::Negotiation,
                ("cannot link the decoded video to the analysis tail: {error:?}")
            ),
        }
    });
    let no_more_streams = Arc::clone(&streams);
    decodebin.connect_no_more_pads(move |decodebin| {
        if !no_more_streams.video_linked.load(Ordering::SeqCst) {
            let message =
                gst::message::Application::builder(gst::Structure::new_empty(NO_VIDEO_MESSAGE))
                    .src(decodebin)
                    .build();
            let _ = decodebin.post_message(message);
        }
    });
    Ok(Head::Video { streams })
}

/// True when video that stopped at `decoded_until_nanos` is missing more of its declared
/// duration than a whole file can: a container may declare a few frames it does not hold
/// (bgslibrary's video02.avi: 750 declared, 748 decoded), and its duration may include an audio
/// track that outlasts the video slightly, so both 1 s and 5 % of the duration are tolerated.
fn ends_early(decoded_until_nanos: u64, declared_nanos: u64) -> bool {
    let tolerance_nanos = (declared_nanos / 20).max(1_000_000_000);
    decoded_until_nanos + tolerance_nanos < declared_nanos
}

/// Streams decodebin should not decode: everything that is not video.
fn is_non_video_stream(media_type: &str) -> bool {
    [
        "audio/",
        "text/",
        "subpicture/",
        "closedcaption/",
        "application/x-subtitle",
    ]
    .iter()
    .any(|prefix| media_type.starts_with(prefix))
}

/// multifilesrc (with the framing/timestamp probe) -> the format's decoder -> tail.
fn build_sequence_head(
    pipeline: &gst::Pipeline,
    tail: &AnalysisTail,
    sequence: &ImageSequence,
    fps: NonZeroU32,
) -> Result<Head, IngestError> {
    let build_error = build_failure(&sequence.dir);
    let index = |number: u64| i32::try_from(number).unwrap_or(i32::MAX);
    let source = make_element("multifilesrc").map_err(build_error)?;
    source.set_property("location", sequence.multifilesrc_location()?);
    source.set_property("start-index", index(sequence.first_number));
    source.set_property("stop-index", index(sequence.last_number()));
    source.set_property("caps", sequence.format.caps(fps.get()));
    let decoder = make_element(sequence.format.decoder_factory()).map_err(build_error)?;
    configure_decoder(&decoder, DECODER_POLICY);
    pipeline.add_many([&source, &decoder]).map_err(|e| {
        build_error(BuildError::Failed(format!(
            "adding the sequence reader: {e}"
        )))
    })?;
    source
        .link(&decoder)
        .map_err(|e| build_error(BuildError::Failed(format!("linking multifilesrc: {e}"))))?;
    decoder
        .static_pad("src")
        .ok_or_else(|| build_error(BuildError::Failed("decoder has no src pad".to_owned())))?
        .link(&tail.sink_pad)
        .map_err(|e| build_error(BuildError::Failed(format!("linking the decoder: {e:?}"))))?;

    let feed = Arc::new(SequenceFeed::default());
    let probe_feed = Arc::clone(&feed);
    let format = sequence.format;
    let first_number = sequence.first_number;
    let src_pad = source
        .static_pad("src")
        .ok_or_else(|| build_error(BuildError::Failed("multifilesrc has no src pad".to_owned())))?;
    src_pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        // Every file takes its index, a rejected one too, so the files after it keep theirs.
        let k = probe_feed.files_seen.fetch_add(1, Ordering::SeqCst);
        let Some(buffer) = info.buffer_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        let framing = match buffer.map_readable() {
            Ok(map) => format.check_framing(map.as_slice()),
            Err(_) => Err("the file's data could not be read"),
        };
        if let Err(reason) = framing {
            if let Ok(mut failure) = probe_feed.framing_failure.lock() {
                failure.get_or_insert((first_number + k, reason));
            }
            // Consume the file and fail the push: the stream stops here, and the error names
            // this file rather than the next one.
            info.flow_res = Err(gst::FlowError::Error);
            return gst::PadProbeReturn::Handled;
        }
        let buffer = buffer.make_mut();
        buffer.set_pts(gst::ClockTime::from_nseconds(sequence_pts_nanos(k, fps)));
        buffer.set_duration(gst::ClockTime::from_nseconds(
            sequence_pts_nanos(k + 1, fps) - sequence_pts_nanos(k, fps),
        ));
        gst::PadProbeReturn::Ok
    });

    Ok(Head::Sequence {
        sequence: sequence.clone(),
        feed,
        fps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_can_move_to_its_own_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<RecordedSource>();
        assert_send::<IngestError>();
    }

    #[test]
    fn sequence_pts_round_trips_to_the_index() {
        for fps in [1, 3, 7, 25, 30, 60, 1000] {
            let fps = NonZeroU32::new(fps).unwrap();
            for k in [0, 1, 2, 3, 99, 1699, 123_456] {
                assert_eq!(
                    sequence_index_of_pts(sequence_pts_nanos(k, fps), fps),
                    k,
                    "fps {fps}"
                );
            }
        }
    }

    #[test]
    fn video_ending_well_before_its_duration_is_truncated() {
        const SECOND: u64 = 1_000_000_000;
        // decoded until, declared duration, truncated?
        let cases = [
            (30 * SECOND - 80_000_000, 30 * SECOND, false), // video02.avi: 2 frames short
            (4 * SECOND, 4 * SECOND, false),
            (2 * SECOND, 4 * SECOND, true),
            (95 * SECOND, 100 * SECOND, false),
            (94 * SECOND, 100 * SECOND, true),
            (0, SECOND / 2, false), // shorter than the tolerance: cannot tell
        ];
        for (decoded_until, declared, truncated) in cases {
            assert_eq!(
                ends_early(decoded_until, declared),
                truncated,
                "{decoded_until} of {declared}"
            );
        }
    }

    #[test]
    fn only_non_video_streams_are_left_undecoded() {
        // media type, left undecoded?
        let cases = [
            ("audio/mpeg", true),
            ("audio/x-raw", true),
            ("text/x-raw", true),
            ("subpicture/x-dvd", true),
            ("video/quicktime", false),
            ("video/x-h264", false),
            ("video/x-msvideo", false),
            ("application/x-matroska", false),
        ];
        for (media_type, undecoded) in cases {
            assert_eq!(is_non_video_stream(media_type), undecoded, "{media_type}");
        }
    }
}
