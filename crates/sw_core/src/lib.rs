//! Stillwatch's shared vocabulary: camera ids, analysis frames and the motion events that leave
//! the pipeline.
//!
//! Owns: the types every stage passes to the next, and their JSON form (the event schema).
//! Does not own: any I/O, GStreamer, configuration parsing or detection logic.

mod backoff;

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use ndarray::Array2;

pub use backoff::{Backoff, seed_for};
use serde::{Deserialize, Serialize};

/// Version tag written into every event record, bumped on any incompatible schema change.
pub const EVENT_SCHEMA: &str = "stillwatch.event/1";

/// A camera's identifier: 1 to 64 characters of `[A-Za-z0-9_.-]`, so it is safe in file names,
/// MQTT topics, metric labels and thread names without escaping.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CameraId(Arc<str>);

/// Why a string is not a valid [`CameraId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CameraIdError {
    #[error("camera id is empty")]
    Empty,
    #[error("camera id {id:?} is longer than 64 characters")]
    TooLong { id: String },
    #[error("camera id {id:?} contains {bad:?}; use only letters, digits, '_', '-' and '.'")]
    BadCharacter { id: String, bad: char },
}

impl CameraId {
    pub fn new(id: impl Into<String>) -> Result<Self, CameraIdError> {
        let id: String = id.into();
        if id.is_empty() {
            return Err(CameraIdError::Empty);
        }
        if id.chars().count() > 64 {
            return Err(CameraIdError::TooLong { id });
        }
        if let Some(bad) = id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            return Err(CameraIdError::BadCharacter { id, bad });
        }
        Ok(Self(id.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CameraId {
    type Error = CameraIdError;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        Self::new(id)
    }
}

impl From<CameraId> for String {
    fn from(id: CameraId) -> Self {
        id.0.to_string()
    }
}

impl fmt::Display for CameraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CameraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// Camera makers whose well-known RTSP paths Stillwatch builds from a channel number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    Hikvision,
    Dahua,
}

/// A camera's main (full resolution) or sub (reduced) stream; analysis uses sub-streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    Main,
    Sub,
}

/// The vendor's RTSP path (with query) for `channel`'s `stream`:
/// Hikvision `/Streaming/Channels/<channel><01|02>`, Dahua
/// `/cam/realmonitor?channel=<channel>&subtype=<0|1>`.
pub fn vendor_path(vendor: Vendor, channel: u32, stream: StreamKind) -> String {
    match (vendor, stream) {
        (Vendor::Hikvision, StreamKind::Main) => format!("/Streaming/Channels/{channel}01"),
        (Vendor::Hikvision, StreamKind::Sub) => format!("/Streaming/Channels/{channel}02"),
        (Vendor::Dahua, StreamKind::Main) => {
            format!("/cam/realmonitor?channel={channel}&subtype=0")
        }
        (Vendor::Dahua, StreamKind::Sub) => format!("/cam/realmonitor?channel={channel}&subtype=1"),
    }
}

/// A password or other secret. `Debug` and `Display` print `***`; only [`Secret::expose`]
/// reveals it, for handing to the one place that needs it (an RTSP client, an auth check),
/// never to a log, error, metric, audit record or status.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A camera account: a user name and its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: Secret) -> Self {
        Self {
            username: username.into(),
            password,
        }
    }
}

/// One analysis frame: grayscale luma at the analysis size, already reduced by GStreamer.
///
/// Full-resolution or colour frames never exist as this type.
#[derive(Debug, Clone)]
pub struct Frame {
    pub camera: CameraId,
    /// Position in the stream, 0-based, in decode order; recorded footage never skips one.
    pub seq: u64,
    /// Presentation time from the start of the stream.
    pub pts_nanos: u64,
    /// GRAY8 pixels, shape `(height, width)`, tightly packed (no stride padding), in the
    /// source's own range: video range (black 16, white 235) from camera streams and H.264/H.265
    /// files, full range (0..=255) from JPEG, PNG and BMP sequences. GStreamer 1.22's
    /// videoconvert does not rescale between them; the detector works on differences, so it
    /// does not mind.
    pub luma: Array2<u8>,
    /// When the frame reached Stillwatch (the appsink handed it over), for live cameras: the
    /// start of the frame-to-event latency. `None` for recorded footage.
    pub arrived: Option<Instant>,
}

impl Frame {
    pub fn width(&self) -> usize {
        self.luma.ncols()
    }

    pub fn height(&self) -> usize {
        self.luma.nrows()
    }
}

/// A box in normalised frame coordinates: 0 is the left/top edge, 1 the right/bottom edge.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NormBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

/// A coarse grid of motion over the frame: for each cell, the percentage (0..=100) of its
/// pixels in the foreground, row-major. Coarse on purpose: it says where, never what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MotionGrid {
    pub cols: u16,
    pub rows: u16,
    pub cells_percent: Vec<u8>,
}

/// Where an event is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventPhase {
    Start,
    Update,
    End,
}

/// One record of the event stream (one JSON line). An event is a `start`, any number of
/// `update`s and an `end`, sharing `event_id`. Carries no pixels, ever.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MotionEvent {
    pub schema: String,
    pub camera: CameraId,
    /// Per camera, counting from 1 in the order events start.
    pub event_id: u64,
    pub phase: EventPhase,
    /// The frame (`seq`) this record was produced on.
    pub frame_seq: u64,
    /// Stream time of this record.
    pub time_millis: u64,
    /// Stream time of the first frame of the event.
    pub start_millis: u64,
    /// Stream time of the last frame with motion; set on `end`.
    pub end_millis: Option<u64>,
    /// Zones the event touched so far (sorted, unique).
    pub zones: Vec<String>,
    /// Foreground fraction of the analysed area on this frame (0..1).
    pub score: f32,
    /// Highest `score` seen during the event so far.
    pub peak_score: f32,
    /// Bounding boxes of the largest moving regions on this frame.
    pub boxes: Vec<NormBox>,
    pub grid: MotionGrid,
}

/// `error` and its sources, joined with ": ", for a log line or a status reason.
pub fn describe_error(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_id_accepts_safe_names_and_rejects_others() {
        assert!(CameraId::new("front-gate_2.sub").is_ok());
        assert_eq!(CameraId::new(""), Err(CameraIdError::Empty));
        assert!(matches!(
            CameraId::new("a/b"),
            Err(CameraIdError::BadCharacter { bad: '/', .. })
        ));
        assert!(matches!(
            CameraId::new("x".repeat(65)),
            Err(CameraIdError::TooLong { .. })
        ));
    }

    #[test]
    fn vendor_paths() {
        let table = [
            (
                Vendor::Hikvision,
                1,
                StreamKind::Main,
                "/Streaming/Channels/101",
            ),
            (
                Vendor::Hikvision,
                12,
                StreamKind::Sub,
                "/Streaming/Channels/1202",
            ),
            (
                Vendor::Dahua,
                3,
                StreamKind::Main,
                "/cam/realmonitor?channel=3&subtype=0",
            ),
            (
                Vendor::Dahua,
                1,
                StreamKind::Sub,
                "/cam/realmonitor?channel=1&subtype=1",
            ),
        ];
        for (vendor, channel, stream, expected) in table {
            assert_eq!(vendor_path(vendor, channel, stream), expected);
        }
    }

    #[test]
    fn secrets_never_print() {
        let credentials = Credentials::new("admin", Secret::new("hunter2"));
        assert_eq!(
            format!("{credentials:?}"),
            "Credentials { username: \"admin\", password: *** }"
        );
        assert_eq!(credentials.password.to_string(), "***");
        assert_eq!(credentials.password.expose(), "hunter2");
    }

    #[test]
    fn camera_id_round_trips_through_json_and_is_validated_there() {
        let id: CameraId = serde_json::from_str("\"gate\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"gate\"");
        assert!(serde_json::from_str::<CameraId>("\"bad id\"").is_err());
    }
}
