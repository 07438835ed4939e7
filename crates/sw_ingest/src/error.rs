//! The crate's error type, and the translation of GStreamer bus errors into it.
//!
//! Owns: [`IngestError`] and [`BusFailure`] (what a bus `Error` message says, element path
//! included). Does not own: deciding which failure a message means for a given source; the
//! sources do that, because only they know the file or frame at fault.

use std::path::PathBuf;

use gst::prelude::*;

/// Everything that can go wrong while turning footage into analysis frames.
///
/// Every variant says where: the input path, and for image sequences the frame number and file.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("GStreamer could not initialise: {0}")]
    Init(#[source] gst::glib::Error),

    #[error("GStreamer element {factory:?} is not installed (see PLATFORM.md for the packages)")]
    MissingElement { factory: &'static str },

    #[error("input {path} does not exist")]
    InputNotFound { path: PathBuf },

    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("path {path:?} is not valid UTF-8, which GStreamer needs for file locations")]
    NonUtf8Path { path: PathBuf },

    #[error(
        "folder {dir} holds no numbered image sequence: expected names like in000001.jpg or \
         b00000.bmp (prefix, number, extension jpg, jpeg, png or bmp), or an input/ folder holding them"
    )]
    NoSequence { dir: PathBuf },

    #[error(
        "folder {dir} holds two numbered image sequences of {count_each} files each ({first} and \
         {second}); pass a folder with one"
    )]
    AmbiguousSequence {
        dir: PathBuf,
        count_each: u64,
        first: String,
        second: String,
    },

    #[error(
        "image sequence {pattern} in {dir} mixes zero-padded and unpadded numbers (e.g. {example}); \
         rename the files to one width"
    )]
    MixedNumberWidths {
        dir: PathBuf,
        pattern: String,
        example: String,
    },

    #[error(
        "image sequence in {dir} has a gap: {missing} is missing (sequence runs {first_file} to {last_file})"
    )]
    SequenceGap {
        dir: PathBuf,
        missing: String,
        first_file: String,
        last_file: String,
    },

    #[error("frame {frame_number} of the image sequence ({file}) is corrupt: {reason}")]
    CorruptFrame {
        file: PathBuf,
        frame_number: u64,
        reason: String,
    },

    #[error("{path} has no video stream (streams found: {found})")]
    NoVideoStream { path: PathBuf, found: String },

    #[error("{path} is not a video GStreamer can decode: {failure}")]
    Unsupported { path: PathBuf, failure: BusFailure },

    #[error("{path}: decoding failed after {frames_delivered} frames: {failure}")]
    Pipeline {
        path: PathBuf,
        frames_delivered: u64,
        failure: BusFailure,
    },

    #[error(
        "{path} ends early: video stops at {decoded_until_millis} ms (after {frames_delivered} \
         frames) of the {declared_millis} ms its container declares; the file is probably truncated"
    )]
    Truncated {
        path: PathBuf,
        frames_delivered: u64,
        decoded_until_millis: u64,
        declared_millis: u64,
    },

    #[error(
        "{path}: no video frame within {waited_secs} s of opening it; the file is probably \
         truncated or damaged (GStreamer's decodebin can lose its demuxer's error)"
    )]
    PrerollTimeout { path: PathBuf, waited_secs: u64 },

    #[error("{path}: GStreamer refused to change the pipeline to {state:?}")]
    StateChange { path: PathBuf, state: gst::State },

    #[error("{path}: cannot build the pipeline: {reason}")]
    Build { path: PathBuf, reason: String },

    #[error("{path}: frame {seq} could not be read from the pipeline: {reason}")]
    BadSample {
        path: PathBuf,
        seq: u64,
        reason: String,
    },

    #[error("camera {camera}: {reason}")]
    InvalidLiveOptions {
        camera: sw_core::CameraId,
        reason: String,
    },

    #[error("camera {camera}: cannot start its ingest thread: {source}")]
    ThreadSpawn {
        camera: sw_core::CameraId,
        #[source]
        source: std::io::Error,
    },
}

/// A bus `Error` message in plain data: which element failed, what it said, and what kind of
/// failure it was, so callers can match on it without holding GStreamer objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusFailure {
    /// Path of the element that posted the error, e.g. `/GstPipeline:pipeline0/GstDecodeBin:decode/GstQTDemux:qtdemux0`.
    pub element: String,
    /// The error's message, meant for people.
    pub message: String,
    /// GStreamer's debug string (source location and details), empty when none was given.
    pub debug: String,
    /// True when the error means the input's format or codec is not understood at all
    /// (type not found, wrong type, codec not found, missing plugin).
    pub unsupported_format: bool,
}

impl BusFailure {
    pub fn from_message(message: &gst::message::Error) -> Self {
        let error = message.error();
        let unsupported_format = matches!(
            error.kind::<gst::StreamError>(),
            Some(
                gst::StreamError::TypeNotFound
                    | gst::StreamError::WrongType
                    | gst::StreamError::CodecNotFound
            )
        ) || matches!(
            error.kind::<gst::CoreError>(),
            Some(gst::CoreError::MissingPlugin)
        );
        Self {
            element: message
                .src()
                .map(|src| src.path_string().to_string())
                .unwrap_or_else(|| "(unknown element)".to_owned()),
            message: error.message().to_owned(),
            debug: message.debug().map(|d| d.to_string()).unwrap_or_default(),
            unsupported_format,
        }
    }
}

impl std::fmt::Display for BusFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (in {}", self.message, self.element)?;
        if !self.debug.is_empty() {
            write!(f, ": {}", self.debug)?;
        }
        f.write_str(")")
    }
}
