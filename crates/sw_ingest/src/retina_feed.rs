//! The second RTSP client: the `retina` crate on a thread of its own, feeding one connection's
//! `appsrc`. It exists for cameras GStreamer 1.22's `rtspsrc` cannot serve, above all those that
//! demand SHA-256 Digest (RFC 7616; retina authenticates through `http-auth`, which answers
//! Basic, MD5 and SHA-256 Digest), and for cameras whose RTP quirks retina works around.
//!
//! ```text
//!  thread rtsp-<camera>: tokio current-thread runtime, one task
//!    DESCRIBE (credentials when challenged)
//!      -> SETUP the first H.264/H.265 video stream only (never audio, ONVIF metadata or a
//!         back channel), TCP interleaved or UDP, FrameFormat::SIMPLE (Annex B, parameter
//!         sets before every key frame)
//!      -> PLAY -> demuxed(): one access unit per video frame
//!      -> appsrc.push_buffer: PTS = running time at the first frame + RTP time since it;
//!         key frames without DELTA_UNIT, DISCONT after packet loss; the parameter sets in
//!         front of the first frame and of any that changes them, when retina did not put
//!         them there (it does only before IDR frames; see `needs_parameter_sets`)
//!    ends: error          -> element error on the appsrc (401 NotAuthorized, 404 NotFound,
//!                            no H.264/H.265 video CodecNotFound, an answer retina cannot use
//!                            (other 4xx, unparsable or unsupported RTSP/RTP) Format, 5xx
//!                            Failed, the network Read)
//!          camera closed  -> warning, then end of stream
//!          stop requested -> (select! drops the session) TEARDOWN, waited for <= 200 ms
//! ```
//!
//! The supervisor reads these off the bus exactly as it reads rtspsrc's, so states, back-off
//! and auth handling are the same for both clients. New parameters mid-stream (a resolution
//! change) arrive in-band before the next key frame and the decoder renegotiates; a different
//! codec needs a new DESCRIBE (an RTSP session's SDP fixes each stream's encoding), which a
//! camera does by ending the session, so the next connection sets the new caps.
//!
//! Owns: the thread, its runtime, the session, frame -> buffer, error -> bus message, and
//! keeping the password out of all of it (retina's texts name the URL, which never carries
//! credentials; any text is still scrubbed of the password before it leaves).
//! Does not own: the pipeline (`rtsp_pipeline`), retry policy (`supervisor`).

use std::num::NonZeroU32;
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use futures::StreamExt;
use gst::prelude::*;
use retina::client::{
    PlayOptions, Session, SessionGroup, SessionOptions, SetupOptions, TcpTransportOptions,
    Transport, UdpTransportOptions,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef, VideoFrame};
use sw_core::Credentials;
use tokio::sync::oneshot;

use crate::analysis::BuildError;
use crate::live::{LiveOptions, RtspTransport};
use crate::rtsp_pipeline::{CodecSlot, VideoCodec};

/// After a stop, how long the TEARDOWN may take (rtspsrc's teardown-timeout is 100 ms).
const TEARDOWN_WAIT: Duration = Duration::from_millis(200);
const USER_AGENT: &str = concat!("stillwatch/", env!("CARGO_PKG_VERSION"));

/// The retina thread of one connection. Dropping it stops the thread and joins it.
#[derive(Debug)]
pub(crate) struct RetinaFeed {
    /// Dropped to stop the thread: its task selects on the receiver.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What the thread needs from the camera's options.
#[derive(Debug)]
struct Target {
    url: String,
    credentials: Option<Credentials>,
    transport: RtspTransport,
}

impl RetinaFeed {
    /// Starts `rtsp-<camera>`, which connects and pushes frames into `appsrc` (already
    /// playing), and records the stream's codec in `codec`.
    pub(crate) fn spawn(
        appsrc: gst_app::AppSrc,
        options: &LiveOptions,
        codec: CodecSlot,
    ) -> Result<Self, BuildError> {
        let target = Target {
            url: options.url.clone(),
            credentials: options.credentials.clone(),
            transport: options.transport,
        };
        let (stop, stop_signal) = oneshot::channel();
        // Logs from the thread stay inside the supervisor's `camera` span.
        let span = tracing::Span::current();
        let thread = std::thread::Builder::new()
            .name(format!("rtsp-{}", options.camera))
            .spawn(move || span.in_scope(|| run(&appsrc, &target, &codec, stop_signal)))
            .map_err(|error| {
                BuildError::Failed(format!("cannot start the RTSP client thread: {error}"))
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Tells the thread to stop, without waiting for it.
    pub(crate) fn request_stop(&mut self) {
        self.stop.take();
    }
}

impl Drop for RetinaFeed {
    fn drop(&mut self) {
        self.request_stop();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the RTSP client thread panicked");
        }
    }
}

/// How a session ended, when it did not fail.
enum Ended {
    Stopped,
    /// The camera closed the connection.
    Closed,
    /// The appsrc refused a buffer: the pipeline is going down, or failed and says why itself.
    PipelineRefused(gst::FlowError),
}

/// Why a session failed.
enum Failure {
    Rtsp(retina::Error),
    BadUrl(String),
    /// The camera offers no H.264 or H.265 video; the streams it does offer.
    NoVideo(String),
}

impl From<retina::Error> for Failure {
    fn from(error: retina::Error) -> Self {
        Self::Rtsp(error)
    }
}

/// The thread's body: one session until it ends or `stop` fires, then its TEARDOWN.
fn run(
    appsrc: &gst_app::AppSrc,
    target: &Target,
    codec: &CodecSlot,
    mut stop: oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            gst::element_error!(
                appsrc,
                gst::CoreError::Failed,
                ("cannot start the RTSP client's runtime: {error}")
            );
            return;
        }
    };
    // Everything retina owns is created and dropped inside the runtime: dropping a session
    // spawns its TEARDOWN there.
    runtime.block_on(async {
        let group = Arc::new(SessionGroup::default());
        let outcome = tokio::select! {
            biased;
            _ = &mut stop => Ok(Ended::Stopped),
            outcome = play(appsrc, target, codec, Arc::clone(&group)) => outcome,
        };
        report(appsrc, outcome, target);
        // A failed or slow TEARDOWN changes nothing for us; the camera expires the session.
        let _ = tokio::time::timeout(TEARDOWN_WAIT, group.await_teardown()).await;
    });
}

/// DESCRIBE, SETUP, PLAY, then push frames until the camera closes or the pipeline refuses.
async fn play(
    appsrc: &gst_app::AppSrc,
    target: &Target,
    codec_slot: &CodecSlot,
    group: Arc<SessionGroup>,
) -> Result<Ended, Failure> {
    let url = url::Url::parse(&target.url).map_err(|error| Failure::BadUrl(error.to_string()))?;
    let credentials = target
        .credentials
        .as_ref()
        .map(|credentials| retina::client::Credentials {
            username: credentials.username.clone(),
            password: credentials.password.expose().to_owned(),
        });
    let options = SessionOptions::default()
        .creds(credentials)
        .user_agent(USER_AGENT.to_owned())
        .session_group(group);
    let mut session = Session::describe(url, options).await?;
    let offered: Vec<(&str, &str)> = session
        .streams()
        .iter()
        .map(|stream| (stream.media(), stream.encoding_name()))
        .collect();
    let Some((index, codec)) = first_video(&offered) else {
        return Err(Failure::NoVideo(describe_streams(&offered)));
    };
    *codec_slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(codec);
    appsrc.set_caps(Some(&codec.byte_stream_caps()));
    let transport = match target.transport {
        RtspTransport::Tcp => Transport::Tcp(TcpTransportOptions::default()),
        RtspTransport::Udp => Transport::Udp(UdpTransportOptions::default()),
    };
    session
        .setup(
            index,
            SetupOptions::default()
                .transport(transport)
                .frame_format(FrameFormat::SIMPLE),
        )
        .await?;
    let mut frames = session.play(PlayOptions::default()).await?.demuxed()?;
    let mut clock: Option<StreamClock> = None;
    let mut decoder_has_parameters = false;
    while let Some(item) = frames.next().await {
        let CodecItem::VideoFrame(frame) = item? else {
            continue;
        };
        let parameters = match frames
            .streams()
            .get(frame.stream_id())
            .and_then(|stream| stream.parameters())
        {
            Some(ParametersRef::Video(parameters)) => Some(parameters),
            _ => None,
        };
        if frame.has_new_parameters()
            && let Some(parameters) = parameters
        {
            let (width, height) = parameters.pixel_dimensions();
            tracing::debug!(
                "new stream parameters: {} {width}x{height}",
                parameters.rfc6381_codec()
            );
        }
        let random_access = frame.is_random_access_point();
        let prefix = parameters
            .filter(|_| {
                needs_parameter_sets(
                    decoder_has_parameters,
                    frame.has_new_parameters(),
                    random_access,
                )
            })
            .map(|parameters| parameters.extra_data().to_vec());
        // Retina put them before a random access point, or they go in front now.
        decoder_has_parameters |= parameters.is_some() && (random_access || prefix.is_some());
        let clock = clock.get_or_insert_with(|| StreamClock::starting_at(appsrc, &frame));
        if let Err(flow) = appsrc.push_buffer(buffer_of(frame, prefix, clock)) {
            return Ok(Ended::PipelineRefused(flow));
        }
    }
    Ok(Ended::Closed)
}

/// Maps a frame's RTP time onto the pipeline's running time.
#[derive(Debug, Clone, Copy)]
struct StreamClock {
    first_rtp_ticks: i64,
    clock_rate_hz: NonZeroU32,
    first_running_nanos: u64,
}

impl StreamClock {
    fn starting_at(appsrc: &gst_app::AppSrc, frame: &VideoFrame) -> Self {
        Self {
            first_rtp_ticks: frame.timestamp().timestamp(),
            clock_rate_hz: frame.timestamp().clock_rate(),
            first_running_nanos: appsrc
                .current_running_time()
                .map_or(0, gst::ClockTime::nseconds),
        }
    }

    /// Running time of a frame with this (extended, wrap-free) RTP timestamp. A frame stamped
    /// before the first one (the camera's clock went back) lands at the first frame's time;
    /// the supervisor's timeline reports the jump.
    fn running_nanos(&self, rtp_ticks: i64) -> u64 {
        let ticks = u128::try_from(rtp_ticks.saturating_sub(self.first_rtp_ticks)).unwrap_or(0);
        let since_first = ticks * 1_000_000_000 / u128::from(self.clock_rate_hz.get());
        self.first_running_nanos
            .saturating_add(u64::try_from(since_first).unwrap_or(u64::MAX))
    }
}

/// Whether the stream's parameter sets (VPS/SPS/PPS) must go in front of a frame: the decoder
/// has not had them yet, or they changed, and retina did not put them there. With
/// `FrameFormat::SIMPLE` it does so only before what it calls random access points (IDR
/// frames); many cameras start a GOP with an H.265 CRA or an H.264 non-IDR I frame instead,
/// and retina strips parameter sets sent in-band.
fn needs_parameter_sets(decoder_has_them: bool, new_parameters: bool, random_access: bool) -> bool {
    !random_access && (!decoder_has_them || new_parameters)
}

/// The frame as a buffer: `prefix` (Annex B parameter sets) and the frame's access unit.
fn buffer_of(frame: VideoFrame, prefix: Option<Vec<u8>>, clock: &StreamClock) -> gst::Buffer {
    let pts = gst::ClockTime::from_nseconds(clock.running_nanos(frame.timestamp().timestamp()));
    let key_frame = frame.is_random_access_point();
    let lost_packets = frame.loss() > 0;
    let data = match prefix {
        Some(mut prefix) => {
            prefix.extend_from_slice(frame.data());
            prefix
        }
        None => frame.into_data(),
    };
    let mut buffer = gst::Buffer::from_mut_slice(data);
    let writable = buffer.make_mut();
    writable.set_pts(pts);
    if !key_frame {
        writable.set_flags(gst::BufferFlags::DELTA_UNIT);
    }
    if lost_packets {
        writable.set_flags(gst::BufferFlags::DISCONT);
    }
    buffer
}

/// The index and codec of the first H.264 or H.265 video stream among `(media, encoding)`.
fn first_video(streams: &[(&str, &str)]) -> Option<(usize, VideoCodec)> {
    streams
        .iter()
        .enumerate()
        .find_map(|(index, (media, encoding))| {
            let codec = (*media == "video")
                .then(|| VideoCodec::from_encoding_name(encoding))
                .flatten()?;
            Some((index, codec))
        })
}

/// `video/jpeg, audio/pcma` for an error message.
fn describe_streams(streams: &[(&str, &str)]) -> String {
    if streams.is_empty() {
        return "none".to_owned();
    }
    streams
        .iter()
        .map(|(media, encoding)| format!("{media}/{encoding}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Posts how the session ended on the bus, as rtspsrc would have.
fn report(appsrc: &gst_app::AppSrc, outcome: Result<Ended, Failure>, target: &Target) {
    let scrub = |text: &str| scrubbed(text, target.credentials.as_ref());
    match outcome {
        Ok(Ended::Stopped) => {}
        Ok(Ended::PipelineRefused(flow)) => {
            tracing::debug!("the pipeline refused a frame ({flow:?}); the RTSP client stops");
        }
        Ok(Ended::Closed) => {
            gst::element_warning!(
                appsrc,
                gst::ResourceError::Read,
                ("the camera closed the RTSP connection")
            );
            // Fails only when the pipeline is already going down.
            let _ = appsrc.end_of_stream();
        }
        Err(Failure::Rtsp(error)) => {
            let full = scrub(&error.to_string());
            tracing::debug!("RTSP client: {full}");
            // retina's first line says what happened; the rest is connection context.
            let message = full.lines().next().unwrap_or_default();
            match error_kind(error.status_code(), &full) {
                ErrorKind::NotAuthorized => {
                    gst::element_error!(appsrc, gst::ResourceError::NotAuthorized, ("{message}"))
                }
                ErrorKind::NotFound => {
                    gst::element_error!(appsrc, gst::ResourceError::NotFound, ("{message}"))
                }
                ErrorKind::Unusable => {
                    gst::element_error!(appsrc, gst::StreamError::Format, ("{message}"))
                }
                ErrorKind::Server => {
                    gst::element_error!(appsrc, gst::ResourceError::Failed, ("{message}"))
                }
                ErrorKind::Network => {
                    gst::element_error!(appsrc, gst::ResourceError::Read, ("{message}"))
                }
            }
        }
        Err(Failure::BadUrl(reason)) => gst::element_error!(
            appsrc,
            gst::ResourceError::Settings,
            ("the camera URL cannot be parsed: {}", scrub(&reason))
        ),
        Err(Failure::NoVideo(offered)) => gst::element_error!(
            appsrc,
            gst::StreamError::CodecNotFound,
            (
                "the camera offers no H.264 or H.265 video (streams: {})",
                scrub(&offered)
            )
        ),
    }
}

/// What a retina error says about the camera, for the supervisor (see [`report`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    /// 401.
    NotAuthorized,
    /// 404.
    NotFound,
    /// The camera answered, but not in a way retina accepts: a request refused with another
    /// 4xx (a request of retina's it does not take), or an RTSP or RTP message retina cannot
    /// parse or does not support. GStreamer's rtspsrc may still serve such a camera.
    Unusable,
    /// A 5xx: the camera's own trouble (busy, rebooting), whatever client asks.
    Server,
    /// The network: no connection, a read or write failed, or no answer in time.
    Network,
}

/// Sorts a retina error by its status code and, without one, by its text: retina 0.4's
/// errors are opaque apart from the status, and those of the network start with these
/// phrases (`retina::error::ErrorInt`'s display strings).
fn error_kind(status: Option<u16>, text: &str) -> ErrorKind {
    const NETWORK: [&str; 5] = [
        "Unable to connect to RTSP server",
        "Error reading from RTSP peer",
        "Error receiving UDP packet",
        "Error writing to RTSP peer",
        "Timeout",
    ];
    match status {
        Some(401) => ErrorKind::NotAuthorized,
        Some(404) => ErrorKind::NotFound,
        Some(400..=499) => ErrorKind::Unusable,
        Some(_) => ErrorKind::Server,
        None if NETWORK.iter().any(|phrase| text.starts_with(phrase)) => ErrorKind::Network,
        None => ErrorKind::Unusable,
    }
}

/// `text` with every occurrence of the password replaced by `***`.
fn scrubbed(text: &str, credentials: Option<&Credentials>) -> String {
    match credentials.map(|credentials| credentials.password.expose()) {
        Some(password) if !password.is_empty() => text.replace(password, "***"),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sw_core::Secret;

    /// Streams as (media, encoding), and the index and codec chosen.
    type StreamCase<'a> = (&'a [(&'a str, &'a str)], Option<(usize, VideoCodec)>);

    #[test]
    fn the_first_h26x_video_stream_is_chosen() {
        let cases: [StreamCase; 5] = [
            (&[("video", "h264")], Some((0, VideoCodec::H264))),
            (
                &[
                    ("audio", "pcma"),
                    ("application", "vnd.onvif.metadata"),
                    ("video", "h265"),
                    ("video", "h264"),
                ],
                Some((2, VideoCodec::H265)),
            ),
            (
                &[("video", "jpeg"), ("video", "h264")],
                Some((1, VideoCodec::H264)),
            ),
            (&[("audio", "h264")], None),
            (&[], None),
        ];
        for (streams, chosen) in cases {
            assert_eq!(first_video(streams), chosen, "{streams:?}");
        }
        assert_eq!(
            describe_streams(&[("video", "jpeg"), ("audio", "pcma")]),
            "video/jpeg, audio/pcma"
        );
    }

    #[test]
    fn parameter_sets_go_before_frames_that_lack_them() {
        // decoder has them, new parameters, random access point (retina prepended), needed
        let cases = [
            (false, false, false, true),
            (false, false, true, false),
            (false, true, false, true),
            (true, false, false, false),
            (true, true, false, true),
            (true, true, true, false),
        ];
        for (has, new, random_access, needed) in cases {
            assert_eq!(
                needs_parameter_sets(has, new, random_access),
                needed,
                "{has} {new} {random_access}"
            );
        }
    }

    #[test]
    fn rtp_time_maps_onto_running_time_from_the_first_frame() {
        let clock = StreamClock {
            first_rtp_ticks: 4_294_960_000,
            clock_rate_hz: NonZeroU32::new(90_000).unwrap(),
            first_running_nanos: 250_000_000,
        };
        // extended RTP ticks, running time
        let cases = [
            (4_294_960_000, 250_000_000),
            // 100 ms later, across the 32-bit wrap (retina extends timestamps).
            (4_294_969_000, 350_000_000),
            (4_295_140_000, 2_250_000_000),
            // Before the first frame: held at its time.
            (4_294_950_000, 250_000_000),
        ];
        for (ticks, running) in cases {
            assert_eq!(clock.running_nanos(ticks), running, "{ticks}");
        }
    }

    #[test]
    fn errors_are_sorted_into_what_they_say_about_the_camera() {
        // status, text, kind
        let cases = [
            (
                Some(401),
                "401 response to DESCRIBE",
                ErrorKind::NotAuthorized,
            ),
            (Some(404), "404 response to DESCRIBE", ErrorKind::NotFound),
            (Some(400), "400 response to SETUP", ErrorKind::Unusable),
            (Some(461), "461 response to SETUP", ErrorKind::Unusable),
            (Some(503), "503 response to DESCRIBE", ErrorKind::Server),
            (
                None,
                "Unable to connect to RTSP server: refused",
                ErrorKind::Network,
            ),
            (
                None,
                "Error reading from RTSP peer: reset",
                ErrorKind::Network,
            ),
            (None, "Timeout", ErrorKind::Network),
            (None, "RTSP framing error: bad header", ErrorKind::Unusable),
            (
                None,
                "Unsupported: RTP over UDP multicast",
                ErrorKind::Unusable,
            ),
            (None, "RTP packet with wrong SSRC", ErrorKind::Unusable),
        ];
        for (status, text, kind) in cases {
            assert_eq!(error_kind(status, text), kind, "{status:?} {text}");
        }
    }

    /// Pins the phrase `error_kind` relies on to the retina release in use: a refused TCP
    /// connection is a network error, not a camera retina cannot use.
    #[test]
    fn a_refused_connection_reads_as_the_network() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = url::Url::parse(&format!("rtsp://127.0.0.1:{port}/x")).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let error = runtime
            .block_on(Session::describe(url, SessionOptions::default()))
            .err()
            .unwrap();
        assert_eq!(
            error_kind(error.status_code(), &error.to_string()),
            ErrorKind::Network,
            "{error}"
        );
    }

    #[test]
    fn the_password_is_scrubbed_from_texts() {
        let credentials = Credentials::new("admin", Secret::new("hunter2"));
        // text, credentials, scrubbed
        let cases = [
            (
                "bad hunter2 and hunter2",
                Some(&credentials),
                "bad *** and ***",
            ),
            ("nothing secret", Some(&credentials), "nothing secret"),
            ("hunter2", None, "hunter2"),
        ];
        for (text, credentials, expected) in cases {
            assert_eq!(scrubbed(text, credentials), expected);
        }
        let empty = Credentials::new("admin", Secret::new(""));
        assert_eq!(scrubbed("a b", Some(&empty)), "a b");
    }
}
