//! One connection to one RTSP camera: the pipeline that reduces its video to analysis frames,
//! and the events it produces until it ends. The supervisor builds a fresh one per attempt.
//!
//! ```text
//!  rtspsrc ------------------> decodebin ---------------> videorate --> [ analysis tail:
//!  location, user-id/user-pw   depay, parse, decode       max-rate=fps    videoscale --> videoconvert
//!  (properties, never in a     (H.264/H.265; avdec_*      (drops only,    --> capsfilter GRAY8 W[xH]
//!  string), protocols=tcp|udp, output-corrupt=false)      never dups)     --> appsink sync=false,
//!  latency=200 ms,                                                            max-buffers=1, drop ]
//!  select-stream: first video                                                      | new-sample
//!  stream only (audio, ONVIF                                                       v
//!  metadata never SET UP)                        latest-sample slot (replaced = dropped, counted)
//!                                                           | wake
//!  bus (sync handler: wake) ------------------------------->+--> supervisor thread: next_event()
//! ```
//!
//! GStreamer's streaming threads never wait on the supervisor: the appsink callback swaps the
//! sample into a one-place slot and pokes a wake channel with `try_send`; the bus handler only
//! pokes it too. Everything else (copying luma, time stamps, health, queues) happens on the
//! supervisor's thread.
//!
//! Owns: building the connection's pipeline, its callbacks, turning bus messages into
//! [`ConnectionEvent`]s, and setting the pipeline to `Null` when the connection is dropped.
//! Does not own: retry policy, time stamps or frame numbering (`supervisor`, `timeline`), or the
//! analysis tail itself (`analysis`).

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

/// rtspsrc's jitter buffer, in ms: enough to reorder UDP packets, small enough for live.
const RTSP_LATENCY_MILLIS: u32 = 200;

/// Live decoding carries on past damaged frames (they are dropped, not passed on).
const DECODER_POLICY: DecoderPolicy = DecoderPolicy {
    fail_on_first_error: false,
};

/// Every element a live pipeline needs, checked once when a camera is spawned.
pub(crate) const REQUIRED_ELEMENTS: [&str; 7] = [
    "rtspsrc",
    "decodebin",
    "videorate",
    "videoscale",
    "videoconvert",
    "capsfilter",
    "appsink",
];

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
    Failed(BusFailure),
}

/// The newest sample the appsink produced and not yet taken, and how many were replaced
/// unseen. Shared with the appsink's streaming thread, which holds the lock only to swap.
#[derive(Debug, Default)]
struct SampleSlot {
    latest: Mutex<Option<gst::Sample>>,
    replaced: AtomicU64,
}

/// A live pipeline for one connection attempt; dropping it sets the pipeline to `Null`.
#[derive(Debug)]
pub(crate) struct RtspConnection {
    pipeline: gst::Pipeline,
    bus: gst::Bus,
    slot: Arc<SampleSlot>,
    wake: Receiver<()>,
    /// The pipeline refused to start; reported once the bus has been read for a reason.
    refused_to_start: bool,
    last_warning: Option<String>,
}

impl RtspConnection {
    /// Builds the pipeline for `options` and sets it playing; connecting happens in the
    /// background, and its outcome comes out of [`RtspConnection::next_event`].
    pub(crate) fn start(options: &LiveOptions) -> Result<Self, BuildError> {
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
        build_head(&pipeline, &tail, options)?;
        connect_appsink(&tail.appsink, &slot, wake_sender.clone());
        let bus = pipeline
            .bus()
            .ok_or_else(|| BuildError::Failed("the pipeline has no bus".to_owned()))?;
        bus.set_sync_handler(move |_, _| {
            poke(&wake_sender);
            gst::BusSyncReply::Pass
        });
        let mut connection = Self {
            pipeline,
            bus,
            slot,
            wake,
            refused_to_start: false,
            last_warning: None,
        };
        connection.refused_to_start = connection.pipeline.set_state(gst::State::Playing).is_err();
        Ok(connection)
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
            while let Some(message) = self.bus.pop() {
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
        match message.view() {
            gst::MessageView::Error(error) => {
                let ending = if error.error().matches(gst::ResourceError::NotAuthorized) {
                    Ending::NotAuthorized
                } else if error.error().matches(gst::ResourceError::NotFound) {
                    Ending::NotFound(BusFailure::from_message(error))
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
        // rtspsrc sends TEARDOWN on the way down, waiting at most its teardown-timeout (100 ms).
        // Failure here leaves nothing to recover; GStreamer logs it.
        let _ = self.pipeline.set_state(gst::State::Null);
        self.bus.unset_sync_handler();
    }
}

fn poke(wake: &Sender<()>) {
    match wake.try_send(()) {
        // Full: a wake-up is already pending. Disconnected: the connection is being dropped.
        Ok(()) | Err(TrySendError::Full(()) | TrySendError::Disconnected(())) => {}
    }
}

/// rtspsrc -> decodebin -> videorate -> the tail's sink pad.
fn build_head(
    pipeline: &gst::Pipeline,
    tail: &AnalysisTail,
    options: &LiveOptions,
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

    let decodebin = make_element("decodebin")?;
    let rate = make_element("videorate")?;
    rate.set_property(
        "max-rate",
        i32::try_from(options.fps.get()).unwrap_or(i32::MAX),
    );
    // Nothing before the first frame, and never a duplicate to fill a gap.
    rate.set_property("skip-to-first", true);
    rate.set_property("drop-only", true);
    pipeline
        .add_many([&source, &decodebin, &rate])
        .map_err(|e| BuildError::Failed(format!("adding the RTSP head: {e}")))?;
    rate.static_pad("src")
        .ok_or_else(|| BuildError::Failed("videorate has no src pad".to_owned()))?
        .link(&tail.sink_pad)
        .map_err(|e| BuildError::Failed(format!("linking videorate to the tail: {e:?}")))?;

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
    let decode_sink = decodebin
        .static_pad("sink")
        .ok_or_else(|| BuildError::Failed("decodebin has no sink pad".to_owned()))?;
    source.connect_pad_added(move |source, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        if !is_video_stream(&caps) || decode_sink.is_linked() {
            return;
        }
        if let Err(error) = pad.link(&decode_sink) {
            gst::element_error!(
                source,
                gst::CoreError::Negotiation,
                ("cannot link the camera's video to the decoder: {error:?}")
            );
        }
    });

    if let Some(bin) = decodebin.downcast_ref::<gst::Bin>() {
        bin.connect_deep_element_added(|_, _, element| {
            configure_decoder(element, DECODER_POLICY);
        });
    }
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
    Ok(())
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
}
