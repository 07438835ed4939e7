//! The live service behind `stillwatch run`: every camera of the config watched at once, motion
//! and health records written as JSON Lines, status for whoever asks, reload on SIGHUP, and a
//! clean stop on SIGINT/SIGTERM.
//!
//! ```text
//!                 per camera (one fails alone; the others never notice)
//!   LiveCamera (sw_ingest: RTSP pipeline + reconnecting supervisor)
//!     ├─ FrameQueue (bounded, drop-oldest: the newest frames win) ──┐
//!     └─ health channel (bounded, blocks; few events) ──────────────┤
//!                                                                   ▼
//!   thread motion-<camera> (span `camera`): Detector + EventTracker, fresh model on
//!   (re)connect, stall, decode error or new frame size; panics caught, loop restarted
//!                                                                   │ records
//!                                                                   ▼
//!   records channel (bounded, blocks: nothing is lost) ─► thread events-writer ─► JSONL
//!                                                           (file, appended, or stdout)
//!   Service: camera table ─► status() ; reload() / apply() ; shutdown()
//!   run(): signals ─► SIGHUP reload, SIGINT/SIGTERM shutdown (ingest, then motion, then writer)
//! ```
//!
//! Owns: threads, channels, supervision of the motion threads, the camera table and reloads,
//! the JSON Lines output, shutdown and signal handling. Does not own: RTSP, GStreamer and
//! reconnecting (sw_ingest), detection (sw_motion), the config format and its checks
//! (sw_config), other sinks or the HTTP status API (later).

mod camera;
mod engine;
mod motion;
mod output;
mod retention;
mod service;
mod shard;

use std::path::PathBuf;

use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use sw_config::ConfigError;
use sw_core::CameraId;
use sw_ingest::IngestError;

#[cfg(feature = "onnx")]
pub use engine::onnx_options;
pub use output::{EventsOutput, HEALTH_SCHEMA};
pub use service::{ReloadSummary, SHUTDOWN_TIMEOUT, Service, StatusHandle};
pub use shard::{Shard, ShardError};
pub use sw_ingest::{CameraState, CameraStatus, HealthEvent, HealthKind};

/// How to run the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOptions {
    /// The config file: read at start and again on every reload.
    pub config_path: PathBuf,
    /// Where events go. `None`: `service.events_path` from the config, or standard output
    /// when that is absent too.
    pub events: Option<EventsOutput>,
    /// Watch only the cameras this replica owns (`--shard I/N`); `None` watches all.
    pub shard: Option<Shard>,
}

/// What stops the service from starting or from finishing cleanly. A single camera's trouble
/// is not an error of the service: it is logged and shown in status.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("GStreamer could not start")]
    Init(#[source] Box<IngestError>),
    #[error("camera {camera}: cannot start")]
    Camera {
        camera: CameraId,
        #[source]
        source: Box<IngestError>,
    },
    #[error("cannot open the events file {}", path.display())]
    Events {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write events to {target}")]
    Output {
        target: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start thread {name}")]
    Thread {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen for signals")]
    Signals(#[source] std::io::Error),
    #[error("audit log")]
    Audit(#[from] sw_audit::AuditError),
    #[error("HTTP status API")]
    Http(#[from] sw_http::HttpError),
    #[error("output")]
    Sink(#[from] sw_sinks::SinkError),
    #[error("camera {camera}: detector.backend = \"onnx\", but the ONNX engine could not start")]
    Onnx {
        camera: CameraId,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "camera {camera}: detector.backend = \"onnx\", but this build has no ONNX support \
         (build stillwatch with the `onnx` feature, or use detector.backend = \"native\")"
    )]
    OnnxNotBuilt { camera: CameraId },
}

pub(crate) use sw_core::describe_error as describe;

/// Runs the service until SIGINT or SIGTERM, reloading the config on SIGHUP (a config that
/// does not load is logged and the running one kept). Returns once everything is stopped and
/// flushed.
pub fn run(options: ServiceOptions) -> Result<(), ServiceError> {
    // Registered before anything starts, so an early SIGTERM still stops cleanly.
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(ServiceError::Signals)?;
    let mut service = Service::start(options)?;
    tracing::info!("running; SIGHUP reloads the config, SIGINT or SIGTERM stops");
    for signal in signals.forever() {
        if signal == SIGHUP {
            tracing::info!("SIGHUP: reloading the config");
            if let Err(error) = service.reload() {
                tracing::error!(
                    "the new config is not used, the running one stays: {}",
                    describe(&error)
                );
            }
            continue;
        }
        let name = if signal == SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        tracing::info!("{name}: stopping");
        break;
    }
    signals.handle().close();
    service.shutdown()
}
