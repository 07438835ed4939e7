//! The simulator's error type.
//!
//! Owns: every error the public API returns, each naming the mount (and file) it concerns.
//! Does not own: errors on GStreamer streaming threads after start; those are logged through
//! `tracing` and end the affected stream, as a failing camera would.

use std::path::PathBuf;

/// Why the simulator could not start or a control call failed.
#[derive(Debug, thiserror::Error)]
pub enum CamsimError {
    #[error("initialising GStreamer: {0}")]
    Init(#[source] gst::glib::Error),
    #[error("no mounts configured")]
    NoMounts,
    #[error("mount {path:?}: {reason}")]
    InvalidMount { path: String, reason: String },
    #[error("mount {path:?} is configured twice (same path and query parameters)")]
    DuplicateMount { path: String },
    #[error("mount {path:?}: GStreamer element {element:?} is missing ({hint})")]
    MissingElement {
        path: String,
        element: &'static str,
        hint: &'static str,
    },
    #[error("mount {path:?}: building its pipeline: {reason}")]
    Pipeline { path: String, reason: String },
    #[error("mount {path:?}: image sequence {dir}: {reason}")]
    ImageSequence {
        path: String,
        dir: PathBuf,
        reason: String,
    },
    #[error("mount {path:?}: loading {file}: {reason}")]
    LoadFile {
        path: String,
        file: PathBuf,
        reason: String,
    },
    #[error("writing the synthetic clip {file}: {reason}")]
    Export { file: PathBuf, reason: String },
    #[error("starting the RTSP server on {address}: {reason}")]
    Server { address: String, reason: String },
    #[error("mount {path:?}: a file source is served as recorded, so its resolution cannot switch")]
    ResolutionSwitchUnsupported { path: String },
    #[error("mount {path:?}: a file source is served as recorded, so its codec cannot switch")]
    CodecSwitchUnsupported { path: String },
}
