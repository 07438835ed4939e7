//! One connection to one RTSP camera: the pipeline that reduces its video to analysis frames,
//! and the events it produces until it ends. The supervisor builds a fresh one per attempt, with
//! one of two heads; everything from decodebin on is shared.
//!
//! ```text
//!  head (one of)                                          shared
//!  rtspsrc -----------------------.
//!  location, user-id/user-pw      |
//!  (properties, never in a        |
//!  string), protocols=tcp|udp,    +--> decodebin ---------------> videorate --> [ analysis tail:
//!  latency=200 ms, select-stream: |    depay, parse, decode       max-rate=fps    videoscale --> videoconvert
//!  first video stream only        |    (H.264/H.265; avdec_*      (drops only,    --> capsfilter GRAY8 W[xH]
//!                                 |    output-corrupt=false;      never dups)     --> appsink sync=false,
//!  appsrc (live, time) -----------'    whole access units skip                        max-buffers=1, drop ]
//!                                      the parser)
//!  video/x-h26[45],byte-stream,au <-- thread rtsp-<camera>: retina                         | new-sample
//!  (caps from the stream's codec)     (see `retina_feed`)                                  v
//!                                                 latest-sample slot (replaced = dropped, counted)
//!                                                            | wake
//!  bus (sync handler: message channel) --------------------->+--> supervisor thread: next_event()
//! ```
//!
//! GStreamer's streaming threads never wait on the supervisor: the appsink callback swaps the
//! sample into a one-place slot and pokes a wake channel with `try_send`; the bus's sync handler
//! moves each message into a channel of its own (unbounded, and drained as it fills). Had the
//! handler only poked the wake channel and left the message on the bus, a wake-up taken between
//! the poke and the message reaching the bus's queue would find nothing, and the supervisor
//! would sleep through a connection's last message (retina's 404 was lost that way in two of
//! five attempts). Everything else (copying luma, time stamps, health, queues) happens on
//! the supervisor's thread. The retina head reports its failures as element errors on the appsrc
//! (401 `NotAuthorized`, 404 `NotFound`), so both heads end the same way on the bus.
//!
//! Owns: building the connection's pipeline (either head, the shared decode chain), its
//! callbacks, turning bus messages into [`ConnectionEvent`]s, and setting the pipeline to `Null`
//! (after stopping the retina thread) when the connection is dropped.
//! Does not own: retry policy or which head to use, time stamps or frame numbering
//! (`supervisor`, `timeline`), the retina client itself (`retina_feed`), or the analysis tail
//! (`analysis`).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use gst::prelude::*;

use crate::analysis::{
    AnalysisSize, AnalysisTail, AnalysisTailOptions, BuildError, DecoderPolicy, configure_decoder,
    make_element,
};
use crate::error::BusFailure;
use crate::live::{LiveOptions, RtspTransport};
use crate::retina_feed::RetinaFeed;

/// rtspsrc's jitter buffer, in ms: enough to reorder UDP packets, small enough for live.
const RTSP_LATENCY_MILLIS: u32 = 200;

/// Live decoding carries on past damaged frames (they are dropped, not passed on).
const DECODER_POLICY: DecoderPolicy = DecoderPolicy {
    fail_on_first_error: false,
};

/// appsrc queues at most this many frames for the decoder before the retina thread waits
/// (a few frames of slack; decoding keeps up or the camera is too much for this machine).
const APPSRC_MAX_FRAMES: u64 = 30;

/// Every element a live pipeline needs, checked once when a camera is spawned.
pub(crate) const REQUIRED_ELEMENTS: [&str; 8] = [
    "rtspsrc",
    "appsrc",
    "decodebin",
    "videorate",
    "videoscale",
    "videoconvert",
    "capsfilter",
    "appsink",
];

/// Which RTSP client fetches a connection's video (in a camera's status: `"rtspsrc"` or
/// `"retina"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RtspHead {
    /// GStreamer's `rtspsrc`.
    Rtspsrc,
    /// The retina crate on a thread of its own, feeding an `appsrc`.
    Retina,
}

impl fmt::Display for RtspHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rtspsrc => "rtspsrc",
            Self::Retina => "retina",
        })
    }
}

/// The video codecs Stillwatch takes from cameras.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VideoCodec {
    H264,
    H265,
}

impl VideoCodec {
    /// From an RTP encoding name (`H264` in rtspsrc's caps, `h264` from retina).
    pub(crate) fn from_encoding_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("h264") {
            Some(Self::H264)
        } else if name.eq_ignore_ascii_case("h265") {
            Some(Self::H265)
        } else {
            None
        }
    }

    /// Caps of this codec as whole access units in Annex B byte-stream form.
    pub(crate) fn byte_stream_caps(self) -> gst::Caps {
        let name = match self {
            Self::H264 => "video/x-h264",
            Self::H265 => "video/x-h265",
        };
        gst::Caps::builder(name)
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .build()
    }
}

impl fmt::Display for VideoCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::H264 => "H.264",
            Self::H265 => "H.265",
        })
    }
}

/// The codec of the stream a connection set up, once the head knows it.
pub(crate) type CodecSlot = Arc<Mutex<Option<VideoCodec>>>;

/// What the connection produced next.
#[derive(Debug)]
pub(crate) enum ConnectionEvent {
    Frame(gst::Sample),
    /// A decoder warned or dropped a corrupt frame; the stream goes on.
    DecodeTrouble(String),
    /// The connection is over.
    Ended(Ending),
    /// The supervisor was told to stop.
    Stop,
    /// The deadline passed without anything happening.
    Timeout,
}

/// Why a connection ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// End of stream: on a live source the camera went away (it warns, then ends).
    Eos {
        last_warning: Option<String>,
    },
    /// 401: the credentials were refused (or none were given).
    NotAuthorized,
    /// 404: nothing at this URL.
    NotFound(BusFailure),
    /// The retina client cannot use what the camera answered (a 4xx other than 401 and 404,
    /// an RTSP or RTP message it cannot parse or does not support, no H.264/H.265 video);
    /// rtspsrc may still serve the camera. Never from rtspsrc.
    Unusable(BusFailure),
    Failed(BusFailure),
}

/// The newest sample the appsink produced and not yet taken, and how many were replaced
/// unseen. Shared with the appsink's streaming thread, which holds the lock only to swap.
#[derive(Debug, Default)]
struct SampleSlot {
    latest: Mutex<Option<gst::Sample>>,
    replaced: AtomicU64,
}

/// A live pipeline for one connection attempt; dropping it stops the retina thread (if any)
/// and sets the pipeline to `Null`.
#[derive(Debug)]
pub(crate) struct RtspConnection {
    pipeline: gst::Pipeline,
    bus: gst::Bus,
    slot: Arc<SampleSlot>,
    wake: Receiver<()>,
    /// The bus's messages, in order, moved off the bus by its sync handler.
    messages: Receiver<gst::Message>,
    /// A message taken while waiting, read after any frame that came before it.
    pending: Option<gst::Message>,
    /// The pipeline refused to start; reported once the bus has been read for a reason.
    refused_to_start: bool,
    last_warning: Option<String>,
    codec: CodecSlot,
    /// The retina head's thread.
    feed: Option<RetinaFeed>,
}

impl RtspConnection {
    /// Builds the pipeline for `options` with `head` and sets it playing; connecting happens in
    /// the background, and its outcome comes out of [`RtspConnection::next_event`].
    pub(crate) fn start(options: &LiveOptions, head: RtspHead) -> Result<Self, BuildError> {
        let pipeline = gst::Pipeline::with_name(&format!("live-{}", options.camera));
        // Wake-ups, not data: one pending token is enough, so a full channel is fine to skip.
        let (wake_sender, wake) = crossbeam_channel::bounded(1);
        let slot = Arc::new(SampleSlot::default());
        let tail = AnalysisTail::build(
            pipeline.upcast_ref(),
            &AnalysisTailOptions {
                size: AnalysisSize {
                    width: options.width,
                    height: options.height,
                },
                // videorate already thinned the stream: scaling 5 frames a second needs no
                // thread of its own.
                decoupled: false,
                max_buffers: 1,
                drop_when_full: true,
            },
        )?;
        let decode_sink = build_decode_chain(&pipeline, &tail, options)?;
        let codec = CodecSlot::default();
        let appsrc = match head {
            RtspHead::Rtspsrc => {
                build_rtspsrc_head(&pipeline, options, decode_sink, Arc::clone(&codec))?;
                None
            }
            RtspHead::Retina => Some(build_appsrc_head(&pipeline, &decode_sink)?),
        };
        connect_appsink(&tail.appsink, &slot, wake_sender);
        let bus = pipeline
            .bus()
            .ok_or_else(|| BuildError::Failed("the pipeline has no bus".to_owned()))?;
        let (message_sender, messages) = crossbeam_channel::unbounded();
        bus.set_sync_handler(move |_, message| {
            // Disconnected: the connection is being dropped, and its messages with it.
            let _ = message_sender.send(message.clone());
            gst::BusSyncReply::Drop
        });
        let mut connection = Self {
            pipeline,
            bus,
            slot,
            wake,
            messages,
            pending: None,
            refused_to_start: false,
            last_warning: None,
            codec,
            feed: None,
        };
        connection.refused_to_start = connection.pipeline.set_state(gst::State::Playing).is_err();
        // The appsrc takes buffers once playing. On failure the connection drops: Null.
        if let Some(appsrc) = appsrc
            && !connection.refused_to_start
        {
            connection.feed = Some(RetinaFeed::spawn(
                appsrc,
                options,
                Arc::clone(&connection.codec),
            )?);
        }
        Ok(connection)
    }

    /// The codec of the video stream, once the camera has described it.
    pub(crate) fn codec(&self) -> Option<VideoCodec> {
        *self.codec.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Frames replaced in the slot before the supervisor took them, on this connection.
    pub(crate) fn frames_replaced(&self) -> u64 {
        self.slot.replaced.load(Ordering::Relaxed)
    }

    /// Waits until the next thing happens, `stop` disconnects, or `deadline` passes. Frames
    /// come before bus messages, so those decoded before an end are still delivered.
    pub(crate) fn next_event(&mut self, stop: &Receiver<()>, deadline: Instant) -> ConnectionEvent {
        loop {
            let sample = self
                .slot
                .latest
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(sample) = sample {
                return ConnectionEvent::Frame(sample);
            }
            while let Some(message) = self
                .pending
                .take()
                .or_else(|| self.messages.try_recv().ok())
            {
                if let Some(event) = self.classify(&message) {
                    return event;
                }
            }
            if self.refused_to_start {
                return ConnectionEvent::Ended(Ending::Failed(BusFailure {
                    element: self.pipeline.path_string().to_string(),
                    message: "GStreamer refused to start the pipeline".to_owned(),
                    debug: String::new(),
                    unsupported_format: false,
                }));
            }
            let timeout = deadline.saturating_duration_since(Instant::now());
            crossbeam_channel::select! {
                recv(stop) -> _ => return ConnectionEvent::Stop,
                recv(self.wake) -> _ => {}
                recv(self.messages) -> message => self.pending = message.ok(),
                default(timeout) => return ConnectionEvent::Timeout,
            }
        }
    }

    /// What a bus message means for the connection; `None` for the many that mean nothing.
    fn classify(&mut self, message: &gst::Message) -> Option<ConnectionEvent> {
        let from_decoder = || {
            message
                .src()
                .is_some_and(|src| src.is::<gst_video::VideoDecoder>())
        };
        // Only the retina head has an appsrc; it reports how retina's session ended.
        let from_retina = || message.src().is_some_and(|src| src.is::<gst_app::AppSrc>());
        match message.view() {
            gst::MessageView::Error(error) => {
                let ending = if error.error().matches(gst::ResourceError::NotAuthorized) {
                    Ending::NotAuthorized
                } else if error.error().matches(gst::ResourceError::NotFound) {
                    Ending::NotFound(BusFailure::from_message(error))
                } else if from_retina()
                    && (error.error().matches(gst::StreamError::Format)
                        || error.error().matches(gst::StreamError::CodecNotFound))
                {
                    Ending::Unusable(BusFailure::from_message(error))
                } else {
                    Ending::Failed(BusFailure::from_message(error))
                };
                Some(ConnectionEvent::Ended(ending))
            }
            gst::MessageView::Eos(_) => Some(ConnectionEvent::Ended(Ending::Eos {
                last_warning: self.last_warning.take(),
            })),
            gst::MessageView::Warning(warning) => {
                let text = match warning.debug() {
                    Some(debug) => format!("{} ({debug})", warning.error()),
                    None => warning.error().to_string(),
                };
                tracing::debug!(
                    element = %warning.src().map(|s| s.path_string().to_string()).unwrap_or_default(),
                    "GStreamer warning: {text}"
                );
                let decoder = from_decoder();
                self.last_warning = Some(warning.error().to_string());
                decoder.then_some(ConnectionEvent::DecodeTrouble(text))
            }
            // A video decoder posts one QoS message per frame it drops.
            gst::MessageView::Qos(_) if from_decoder() => Some(ConnectionEvent::DecodeTrouble(
                "the decoder dropped a corrupt frame".to_owned(),
            )),
            _ => None,
        }
    }
}

impl Drop for RtspConnection {
    fn drop(&mut self) {
        // The retina thread is told first, so it stops reading while the pipeline goes down
        // (a push it is blocked in then returns: flushing); it is joined after.
        if let Some(feed) = &mut self.feed {
            feed.request_stop();
        }
        // rtspsrc sends TEARDOWN on the way down, waiting at most its teardown-timeout (100 ms).
        // Failure here leaves nothing to recover; GStreamer logs it.
        let _ = self.pipeline.set_state(gst::State::Null);
        drop(self.feed.take());
        self.bus.unset_sync_handler();
    }
}

fn poke(wake: &Sender<()>) {
    match wake.try_send(()) {
        // Full: a wake-up is already pending. Disconnected: the connection is being dropped.
        Ok(()) | Err(TrySendError::Full(()) | TrySendError::Disconnected(())) => {}
    }
}

/// decodebin -> videorate -> the tail's sink pad, shared by both heads; returns decodebin's sink
/// pad, which the head feeds.
fn build_decode_chain(
    pipeline: &gst::Pipeline,
    tail: &AnalysisTail,
    options: &LiveOptions,
) -> Result<gst::Pad, BuildError> {
    let decodebin = live_decodebin()?;
    let rate = make_element("videorate")?;
    rate.set_property(
        "max-rate",
        i32::try_from(options.fps.get()).unwrap_or(i32::MAX),
    );
    // Nothing before the first frame, and never a duplicate to fill a gap.
    rate.set_property("skip-to-first", true);
    rate.set_property("drop-only", true);
    pipeline
        .add_many([&decodebin, &rate])
        .map_err(|e| BuildError::Failed(format!("adding the decoder: {e}")))?;
    rate.static_pad("src")
        .ok_or_else(|| BuildError::Failed("videorate has no src pad".to_owned()))?
        .link(&tail.sink_pad)
        .map_err(|e| BuildError::Failed(format!("linking videorate to the tail: {e:?}")))?;

    let rate_sink = rate
        .static_pad("sink")
        .ok_or_else(|| BuildError::Failed("videorate has no sink pad".to_owned()))?;
    decodebin.connect_pad_added(move |decodebin, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let is_raw_video = caps.structure(0).is_some_and(|s| s.name() == "video/x-raw");
        if !is_raw_video {
            return;
        }
        // decodebin may replace its pad when the stream changes; follow the newest.
        if let Some(old) = rate_sink.peer() {
            let _ = old.unlink(&rate_sink);
        }
        if let Err(error) = pad.link(&rate_sink) {
            gst::element_error!(
                decodebin,
                gst::CoreError::Negotiation,
                ("cannot link the decoded video to the analysis tail: {error:?}")
            );
        }
    });
    decodebin
        .static_pad("sink")
        .ok_or_else(|| BuildError::Failed("decodebin has no sink pad".to_owned()))
}

/// decodebin for live video: its decoders follow [`DECODER_POLICY`], and whole access units go
/// straight to the decoder ([`decoders_first`]).
fn live_decodebin() -> Result<gst::Element, BuildError> {
    let decodebin = make_element("decodebin")?;
    decodebin.connect("autoplug-sort", false, |values| {
        let caps = values
            .get(2)
            .and_then(|value| value.get::<gst::Caps>().ok());
        let factories = values
            .get(3)
            .and_then(|value| value.get::<gst::glib::ValueArray>().ok());
        // None: decodebin keeps its own order.
        let sorted = caps
            .zip(factories)
            .and_then(|(caps, factories)| decoders_first(&caps, &factories));
        Some(sorted.to_value())
    });
    if let Some(bin) = decodebin.downcast_ref::<gst::Bin>() {
        bin.connect_deep_element_added(|_, _, element| {
            configure_decoder(element, DECODER_POLICY);
        });
    }
    Ok(decodebin)
}

/// For `caps` in whole access units (`alignment=au`: the retina head's always are), the
/// `factories` decodebin would try, decoders first; `None` for other caps.
///
/// decodebin tries a stream's parser before its decoder (h264parse ranks above avdec_h264),
/// though a decoder takes whole access units as they are and a parser adds nothing to them:
/// skipping h264parse saves about 2.5% of the service's CPU (measured in
/// `docs/design/rtsp-clients.md`). decodebin passes over a factory whose sink template does
/// not take the caps, so the parser stays in the list, after the decoders, as a fallback.
fn decoders_first(
    caps: &gst::CapsRef,
    factories: &[gst::glib::Value],
) -> Option<gst::glib::ValueArray> {
    let whole_units = caps.structure(0).is_some_and(|s| {
        s.get::<&str>("alignment")
            .is_ok_and(|alignment| alignment == "au")
    });
    if !whole_units {
        return None;
    }
    let is_decoder = |value: &&gst::glib::Value| {
        value
            .get::<gst::ElementFactory>()
            .is_ok_and(|factory| factory.has_type(gst::ElementFactoryType::DECODER))
    };
    let (decoders, others): (Vec<_>, Vec<_>) = factories.iter().partition(is_decoder);
    Some(gst::glib::ValueArray::from_values(
        decoders.into_iter().chain(others).cloned(),
    ))
}

/// rtspsrc, linked to `decode_sink` once its video pad appears; records the stream's codec.
fn build_rtspsrc_head(
    pipeline: &gst::Pipeline,
    options: &LiveOptions,
    decode_sink: gst::Pad,
    codec: CodecSlot,
) -> Result<(), BuildError> {
    let source = make_element("rtspsrc")?;
    source.set_property("location", options.url.as_str());
    if let Some(credentials) = &options.credentials {
        source.set_property("user-id", credentials.username.as_str());
        source.set_property("user-pw", credentials.password.expose());
    }
    source.set_property_from_str(
        "protocols",
        match options.transport {
            RtspTransport::Tcp => "tcp",
            RtspTransport::Udp => "udp",
        },
    );
    source.set_property("latency", RTSP_LATENCY_MILLIS);
    source.set_property("drop-on-latency", true);
    pipeline
        .add(&source)
        .map_err(|e| BuildError::Failed(format!("adding rtspsrc: {e}")))?;

    // Only the first video stream is SET UP; audio, ONVIF metadata and the rest never are.
    let video_chosen = AtomicBool::new(false);
    source.connect("select-stream", false, move |values| {
        let is_video = values
            .get(2)
            .and_then(|value| value.get::<gst::Caps>().ok())
            .is_some_and(|caps| is_video_stream(&caps));
        let chosen = is_video && !video_chosen.swap(true, Ordering::SeqCst);
        Some(chosen.to_value())
    });
    source.connect_pad_added(move |source, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        if !is_video_stream(&caps) || decode_sink.is_linked() {
            return;
        }
        *codec.lock().unwrap_or_else(PoisonError::into_inner) = caps
            .structure(0)
            .and_then(|s| s.get::<&str>("encoding-name").ok())
            .and_then(VideoCodec::from_encoding_name);
        if let Err(error) = pad.link(&decode_sink) {
            gst::element_error!(
                source,
                gst::CoreError::Negotiation,
                ("cannot link the camera's video to the decoder: {error:?}")
            );
        }
    });
    Ok(())
}

/// A live appsrc linked to `decode_sink`; the retina thread sets its caps and pushes access
/// units. It blocks that thread when the decoder is `APPSRC_MAX_FRAMES` behind.
fn build_appsrc_head(
    pipeline: &gst::Pipeline,
    decode_sink: &gst::Pad,
) -> Result<gst_app::AppSrc, BuildError> {
    let appsrc = gst_app::AppSrc::builder()
        .is_live(true)
        .format(gst::Format::Time)
        .stream_type(gst_app::AppStreamType::Stream)
        .max_buffers(APPSRC_MAX_FRAMES)
        // Frames only: a 4K key frame can be larger than the default byte limit.
        .max_bytes(0)
        .block(true)
        .build();
    pipeline
        .add(&appsrc)
        .map_err(|e| BuildError::Failed(format!("adding appsrc: {e}")))?;
    appsrc
        .static_pad("src")
        .ok_or_else(|| BuildError::Failed("appsrc has no src pad".to_owned()))?
        .link(decode_sink)
        .map_err(|e| BuildError::Failed(format!("linking appsrc to the decoder: {e:?}")))?;
    Ok(appsrc)
}

/// True for the caps of an RTSP video stream: `media=video`. (rtspsrc's `select-stream` passes
/// the SDP's caps as `application/x-unknown`; its pads carry `application/x-rtp`.)
fn is_video_stream(caps: &gst::CapsRef) -> bool {
    caps.structure(0)
        .is_some_and(|s| s.get::<&str>("media").is_ok_and(|media| media == "video"))
}

/// The appsink hands each sample to the slot (replacing, and counting, one not yet taken) and
/// wakes the supervisor. It never blocks on the supervisor.
fn connect_appsink(appsink: &gst_app::AppSink, slot: &Arc<SampleSlot>, wake: Sender<()>) {
    let slot = Arc::clone(slot);
    appsink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |appsink| {
                let sample = appsink
                    .pull_sample()
                    .map_err(|_| gst::FlowError::Flushing)?;
                let replaced = slot
                    .latest
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .replace(sample);
                if replaced.is_some() {
                    slot.replaced.fetch_add(1, Ordering::Relaxed);
                }
                poke(&wake);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `frames` frames of a test pattern from `encoder` (x264enc or x265enc), in whole access
    /// units of Annex B byte-stream, with their caps.
    fn encoded(encoder: &str, frames: u32) -> (gst::Caps, Vec<gst::Buffer>) {
        let media_type = if encoder.starts_with("x265") {
            "video/x-h265"
        } else {
            "video/x-h264"
        };
        let description = format!(
            "videotestsrc num-buffers={frames} \
             ! video/x-raw,format=I420,width=128,height=96,framerate=5/1 ! {encoder} \
             ! {media_type},stream-format=byte-stream,alignment=au ! appsink name=sink sync=false"
        );
        let pipeline = gst::parse::launch(&description)
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        let sink = pipeline
            .by_name("sink")
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let mut caps = None;
        let mut buffers = Vec::new();
        while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
            caps = sample.caps_owned();
            buffers.push(sample.buffer_owned().unwrap());
        }
        pipeline.set_state(gst::State::Null).unwrap();
        (caps.unwrap(), buffers)
    }

    /// Decodes `buffers` through [`live_decodebin`]: the frames out, and whether decodebin
    /// plugged a parser.
    fn decode(caps: &gst::Caps, buffers: Vec<gst::Buffer>) -> (usize, bool) {
        let pipeline = gst::Pipeline::new();
        let appsrc = gst_app::AppSrc::builder()
            .caps(caps)
            .format(gst::Format::Time)
            .build();
        let decodebin = live_decodebin().unwrap();
        let sink = gst_app::AppSink::builder().sync(false).build();
        pipeline
            .add_many([appsrc.upcast_ref(), &decodebin, sink.upcast_ref()])
            .unwrap();
        appsrc.link(&decodebin).unwrap();
        let sink_pad = sink.static_pad("sink").unwrap();
        decodebin.connect_pad_added(move |_, pad| {
            pad.link(&sink_pad).unwrap();
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        for buffer in buffers {
            appsrc.push_buffer(buffer).unwrap();
        }
        appsrc.end_of_stream().unwrap();
        let mut frames = 0;
        while sink
            .try_pull_sample(gst::ClockTime::from_seconds(10))
            .is_some()
        {
            frames += 1;
        }
        let parser = decodebin
            .downcast_ref::<gst::Bin>()
            .unwrap()
            .iterate_recurse()
            .into_iter()
            .filter_map(Result::ok)
            .any(|element| {
                element
                    .factory()
                    .is_some_and(|factory| factory.has_type(gst::ElementFactoryType::PARSER))
            });
        pipeline.set_state(gst::State::Null).unwrap();
        (frames, parser)
    }

    #[test]
    fn whole_access_units_go_straight_to_the_decoder_and_nal_units_through_a_parser() {
        gst::init().unwrap();
        // encoder, the alignment the caps declare, parser expected
        let cases = [
            ("x264enc tune=zerolatency", "au", false),
            ("x265enc", "au", false),
            // The same access units declared as single NAL units: the parser comes first, as
            // decodebin ranks it (it splits them by their start codes).
            ("x264enc tune=zerolatency", "nal", true),
        ];
        for (encoder, alignment, parser_expected) in cases {
            let (mut caps, buffers) = encoded(encoder, 10);
            caps.make_mut().set("alignment", alignment);
            assert_eq!(decode(&caps, buffers), (10, parser_expected), "{caps}");
        }
    }

    #[test]
    fn only_video_streams_are_chosen() {
        // caps, chosen?
        let cases = [
            (
                "application/x-unknown, media=(string)video, payload=(int)96, encoding-name=(string)H264",
                true,
            ),
            (
                "application/x-rtp, media=(string)video, encoding-name=(string)H265",
                true,
            ),
            (
                "application/x-unknown, media=(string)audio, encoding-name=(string)PCMA",
                false,
            ),
            (
                "application/x-unknown, media=(string)application, encoding-name=(string)VND.ONVIF.METADATA",
                false,
            ),
            ("application/x-rtp, encoding-name=(string)H264", false),
            ("video/x-raw", false),
        ];
        gst::init().unwrap();
        for (caps, chosen) in cases {
            let caps: gst::Caps = caps.parse().unwrap();
            assert_eq!(is_video_stream(&caps), chosen, "{caps}");
        }
    }

    #[test]
    fn encoding_names_map_to_codecs_and_byte_stream_caps() {
        // encoding name, codec, caps
        let cases = [
            (
                "H264",
                Some(VideoCodec::H264),
                "video/x-h264, stream-format=(string)byte-stream, alignment=(string)au",
            ),
            (
                "h265",
                Some(VideoCodec::H265),
                "video/x-h265, stream-format=(string)byte-stream, alignment=(string)au",
            ),
            ("JPEG", None, ""),
            ("vnd.onvif.metadata", None, ""),
        ];
        gst::init().unwrap();
        for (name, codec, caps) in cases {
            assert_eq!(VideoCodec::from_encoding_name(name), codec, "{name}");
            if let Some(codec) = codec {
                assert_eq!(codec.byte_stream_caps().to_string(), caps);
            }
        }
    }
}
