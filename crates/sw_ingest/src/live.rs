//! What a live camera is, as the ingest layer sees it: its RTSP URL, credentials, transport,
//! analysis size and rate, and the supervisor's timeouts.
//!
//! Owns: [`LiveOptions`] and its checks, [`RtspTransport`], [`RtspClient`], and [`redact_url`]
//! for printing a URL that someone wrongly gave with credentials in it.
//! Does not own: the [`Credentials`]/[`Secret`](sw_core::Secret) types (sw_core, so a password prints as `***`
//! everywhere), reading secrets from the environment or a file (sw_config), the pipeline
//! (`rtsp_pipeline`) or the reconnect loop (`supervisor`).

use std::borrow::Cow;
use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use sw_core::{CameraId, Credentials};

use crate::IngestError;

/// How RTP travels from the camera.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RtspTransport {
    /// Interleaved in the RTSP TCP connection: one port, survives NAT and firewalls.
    #[default]
    Tcp,
    /// Plain UDP, for cameras or networks that only offer that.
    Udp,
}

/// Which RTSP client talks to the camera. Either way the video goes through the same GStreamer
/// decoder and analysis tail, and frames, states and health events look the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RtspClient {
    /// Retina for a plain `rtsp://` URL (cheaper, and it answers SHA-256 Digest), switching the
    /// camera to `rtspsrc` for good when retina cannot use its answers; `rtspsrc` for
    /// `rtsps://`.
    #[default]
    Auto,
    /// GStreamer's `rtspsrc` only (Basic and MD5 Digest; `rtsps://` too).
    Gstreamer,
    /// The `retina` crate (Basic, MD5 and SHA-256 Digest; H.264 and H.265; `rtsp://` only), which
    /// also works around known RTP quirks of Hikvision and other cameras.
    Retina,
}

/// One live camera and how the supervisor treats it. Build with [`LiveOptions::new`] and
/// override fields as needed.
#[derive(Clone)]
pub struct LiveOptions {
    pub camera: CameraId,
    /// `rtsp://host[:port]/path[?query]` (or `rtsps://`), never with credentials in it.
    pub url: String,
    pub credentials: Option<Credentials>,
    pub transport: RtspTransport,
    pub client: RtspClient,
    /// Analysis width in pixels.
    pub width: NonZeroU32,
    /// Analysis height in pixels; `None` keeps the camera's display aspect ratio (a camera that
    /// changes aspect then changes the frame height too).
    pub height: Option<NonZeroU32>,
    /// Analysis rate: faster streams are thinned to this (never padded with duplicates).
    pub fps: NonZeroU32,
    /// No first frame this long after starting to connect: give up and retry.
    pub connect_timeout: Duration,
    /// No frame this long while streaming: the stream is stalled; reconnect.
    pub stall_timeout: Duration,
    /// First wait before reconnecting; doubles on each failure in a row.
    pub backoff_initial: Duration,
    /// Longest wait between reconnect attempts.
    pub backoff_max: Duration,
    /// Wait before trying again after the camera refused the credentials.
    pub auth_retry: Duration,
}

impl LiveOptions {
    /// TCP, the automatic RTSP client, no credentials, aspect-kept height, and the supervisor's defaults: connect timeout
    /// 10 s, stall timeout 5 s, back-off 0.5 s doubling up to 30 s, 60 s after an auth failure.
    pub fn new(
        camera: CameraId,
        url: impl Into<String>,
        width: NonZeroU32,
        fps: NonZeroU32,
    ) -> Self {
        Self {
            camera,
            url: url.into(),
            credentials: None,
            transport: RtspTransport::Tcp,
            client: RtspClient::Auto,
            width,
            height: None,
            fps,
            connect_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            auth_retry: Duration::from_secs(60),
        }
    }

    /// Whether the URL is plain `rtsp://` (not `rtsps://`).
    pub(crate) fn is_plain_rtsp(&self) -> bool {
        split_rtsp_scheme(&self.url).is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("rtsp"))
    }

    /// The URL as it may be printed.
    pub fn redacted_url(&self) -> Cow<'_, str> {
        redact_url(&self.url)
    }

    /// Checks what GStreamer would only fail on later, or what would make the supervisor spin.
    pub(crate) fn validate(&self) -> Result<(), IngestError> {
        let invalid = |reason: String| IngestError::InvalidLiveOptions {
            camera: self.camera.clone(),
            reason,
        };
        let Some((_, rest)) = split_rtsp_scheme(&self.url) else {
            return Err(invalid(format!(
                "URL {} is not rtsp:// or rtsps://",
                self.redacted_url()
            )));
        };
        if self.client == RtspClient::Retina && !self.is_plain_rtsp() {
            return Err(invalid(format!(
                "URL {}: the retina RTSP client speaks plain rtsp:// only",
                self.redacted_url()
            )));
        }
        let authority = authority_of(rest);
        if authority.contains('@') {
            return Err(invalid(format!(
                "URL {} carries credentials; give them as the camera's user name and password \
                 instead, so they are never printed",
                self.redacted_url()
            )));
        }
        if authority.is_empty() {
            return Err(invalid(format!("URL {} has no host", self.redacted_url())));
        }
        let durations = [
            ("connect timeout", self.connect_timeout),
            ("stall timeout", self.stall_timeout),
            ("initial back-off", self.backoff_initial),
            ("maximum back-off", self.backoff_max),
            ("auth retry", self.auth_retry),
        ];
        if let Some((name, _)) = durations.iter().find(|(_, value)| value.is_zero()) {
            return Err(invalid(format!("the {name} must be longer than zero")));
        }
        if self.backoff_max < self.backoff_initial {
            return Err(invalid(format!(
                "the maximum back-off ({:?}) is shorter than the initial one ({:?})",
                self.backoff_max, self.backoff_initial
            )));
        }
        Ok(())
    }
}

impl fmt::Debug for LiveOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveOptions")
            .field("camera", &self.camera)
            .field("url", &self.redacted_url())
            .field("credentials", &self.credentials)
            .field("transport", &self.transport)
            .field("client", &self.client)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("fps", &self.fps)
            .field("connect_timeout", &self.connect_timeout)
            .field("stall_timeout", &self.stall_timeout)
            .field("backoff_initial", &self.backoff_initial)
            .field("backoff_max", &self.backoff_max)
            .field("auth_retry", &self.auth_retry)
            .finish()
    }
}

/// `url`'s scheme and the rest, when the scheme is RTSP's.
fn split_rtsp_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    ["rtsp", "rtsps", "rtspt", "rtspu"]
        .iter()
        .any(|known| scheme.eq_ignore_ascii_case(known))
        .then_some((scheme, rest))
}

/// The `[user[:password]@]host[:port]` part of a URL with its scheme stripped.
pub(crate) fn authority_of(rest: &str) -> &str {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

/// `url` with any `user:password@` replaced by `***@`, for logs and errors.
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Cow::Borrowed(url);
    };
    let authority = authority_of(rest);
    match authority.rfind('@') {
        Some(at) => Cow::Owned(format!("{scheme}://***@{}", &rest[at + 1..])),
        None => Cow::Borrowed(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sw_core::Secret;

    fn options(url: &str) -> LiveOptions {
        LiveOptions::new(
            CameraId::new("gate").unwrap(),
            url,
            NonZeroU32::new(320).unwrap(),
            NonZeroU32::new(5).unwrap(),
        )
    }

    #[test]
    fn redact_url_hides_user_info_only() {
        // url, printed
        let cases = [
            (
                "rtsp://admin:hunter2@10.0.0.5:554/Streaming/Channels/101",
                "rtsp://***@10.0.0.5:554/Streaming/Channels/101",
            ),
            ("rtsp://admin@cam/x", "rtsp://***@cam/x"),
            (
                "rtsp://cam:554/cam/realmonitor?channel=1&subtype=0",
                "rtsp://cam:554/cam/realmonitor?channel=1&subtype=0",
            ),
            // An '@' in the query is not user info.
            ("rtsp://cam/x?mail=a@b", "rtsp://cam/x?mail=a@b"),
            ("rtsp://u:p@ss@cam/x", "rtsp://***@cam/x"),
            ("not a url", "not a url"),
        ];
        for (url, printed) in cases {
            assert_eq!(redact_url(url), printed, "{url}");
        }
    }

    #[test]
    fn validation_rejects_bad_urls_and_zero_durations() {
        assert!(
            options("rtsp://cam:554/Streaming/Channels/101")
                .validate()
                .is_ok()
        );
        assert!(options("RTSPS://[::1]:322/x").validate().is_ok());
        // url, reason contains
        let cases = [
            ("http://cam/x", "not rtsp"),
            ("rtsp://admin:hunter2@cam/x", "carries credentials"),
            ("rtsp:///x", "no host"),
        ];
        for (url, expected) in cases {
            let error = options(url).validate().unwrap_err().to_string();
            assert!(error.contains(expected), "{url}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        let mut retina = options("rtsps://cam/x");
        retina.client = RtspClient::Retina;
        let error = retina.validate().unwrap_err().to_string();
        assert!(error.contains("plain rtsp://"), "{error}");
        retina.url = "rtsp://cam/x".to_owned();
        assert!(retina.validate().is_ok());
        let mut zero = options("rtsp://cam/x");
        zero.stall_timeout = Duration::ZERO;
        assert!(zero.validate().is_err());
        let mut inverted = options("rtsp://cam/x");
        inverted.backoff_max = Duration::from_millis(100);
        assert!(inverted.validate().is_err());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let mut options = options("rtsp://cam/x");
        options.credentials = Some(Credentials::new("admin", Secret::new("hunter2")));
        let printed = format!("{options:?} {:?}", options.credentials);
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("***"), "{printed}");
        let mut leaky = options.clone();
        leaky.url = "rtsp://admin:hunter2@cam/x".to_owned();
        assert!(!format!("{leaky:?}").contains("hunter2"));
    }
}
