//! Stillwatch's GStreamer sources: footage in, GRAY8 analysis [`Frame`](sw_core::Frame)s out.
//!
//! Every source reduces video inside GStreamer, before Rust sees a pixel:
//!
//! ```text
//!  source head                                  analysis tail (shared)
//!  file / image sequence --> decode ----------.
//!  rtspsrc (video only) ---.                  |
//!                          +-> decode --> videorate --> videoscale --> videoconvert
//!  retina -> appsrc -------'                     --> capsfilter GRAY8 WxH --> appsink --> Frame
//!  (SHA-256 Digest cameras, or asked for)
//! ```
//!
//! Owns: GStreamer initialisation, the recorded-footage source ([`RecordedSource`]), the live
//! RTSP source with its two clients (GStreamer's rtspsrc, and retina for cameras rtspsrc cannot
//! serve; [`RtspClient`]) and its per-camera supervisor ([`LiveCamera`]: reconnects, back-off,
//! stall watchdog, health events, status), the bounded drop-oldest [`FrameQueue`], the shared analysis
//! tail and sample -> frame copy, image-sequence detection, and [`IngestError`].
//! Does not own: what happens to frames (sw_motion), configuration parsing (sw_config), threads
//! and channels (sw_service).

mod analysis;
mod auth_probe;
mod error;
mod frame_queue;
mod live;
mod recorded;
mod retina_feed;
mod rtsp_pipeline;
mod sequence;
mod supervisor;
mod timeline;

pub use error::{BusFailure, IngestError};
pub use frame_queue::FrameQueue;
pub use live::{LiveOptions, RtspClient, RtspTransport, redact_url};
pub use recorded::{RecordedOptions, RecordedSource};
pub use rtsp_pipeline::RtspHead;
pub use sequence::{ImageFormat, ImageSequence};
pub use supervisor::{CameraState, CameraStatus, HealthEvent, HealthKind, LiveCamera, LiveSinks};
/// The camera account types live in sw_core; re-exported so callers need one import.
pub use sw_core::{Credentials, Secret};

/// Initialises GStreamer once per process; later calls return at once. The first call on a
/// fresh machine builds the plugin registry (about 2 s).
pub fn init() -> Result<(), IngestError> {
    gst::init().map_err(IngestError::Init)
}
