//! Stillwatch's HTTP face: probes for orchestrators, camera status and recent events as JSON,
//! and Prometheus metrics. Nothing here serves pixels, camera URLs or credentials.
//!
//! ```text
//!   service threads (synchronous)                    thread `http` (tokio, current_thread)
//!   ─────────────────────────────                    ──────────────────────────────────────
//!   motion-<camera> ─ CameraMetrics (atomics) ──┐    axum router
//!   events writer ── RecentEvents (ring) ───────┤      /healthz  /readyz        open
//!   camera table ─── impl StatusSource ─────────┴──►   /metrics  /api/cameras   bearer token
//!                                                      /api/events              when configured
//! ```
//!
//! The rest of the service stays synchronous: it hands [`HttpServer::start`] cheap, cloneable
//! handles and updates them from its own threads; the server reads them when asked. Per-camera
//! counters that the camera's status already keeps (frames received and dropped, reconnects,
//! state) are read from [`StatusSource`] at scrape time rather than counted twice, so a camera
//! that leaves the config leaves `/metrics` with it.
//!
//! Owns: the HTTP server and its runtime thread, the routes and their JSON shapes, the token
//! rule (loopback, or a bearer token), the metric names, [`Metrics`] and [`RecentEvents`].
//! Does not own: what the status says (sw_ingest, sw_service), reading the token file (the
//! config), events themselves (sw_motion), or deciding when to start and stop (sw_service).

mod auth;
mod metrics;
mod recent;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;

pub use metrics::{CameraMetrics, Metrics};
pub use recent::{DEFAULT_RECENT_EVENTS, RecentEvents};
pub use server::{DEFAULT_BIND, HttpOptions, HttpServer};
pub use sw_ingest::{CameraState, CameraStatus, RtspHead};

/// Where the server reads what the service knows. Implemented by the service's status handle;
/// called from the HTTP thread for each request, so it must answer quickly (a lock and a copy).
pub trait StatusSource: Send + Sync {
    /// Every camera of the config, disabled and failed ones included, ordered by id.
    fn cameras(&self) -> Vec<CameraStatus>;
    /// True once the service has loaded its config and started its cameras, until it begins to
    /// stop. A camera that is down does not make the service unready.
    fn ready(&self) -> bool;
}

/// What the server reads: status, metrics and recent events, each shared with the service.
#[derive(Clone)]
pub struct HttpSources {
    pub status: Arc<dyn StatusSource>,
    pub metrics: Metrics,
    pub events: RecentEvents,
}

impl std::fmt::Debug for HttpSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSources")
            .field("metrics", &self.metrics)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// Why the HTTP server could not start. Never carries the token.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(
        "http.bind = {bind} is not a loopback address: serving beyond this machine needs a \
         bearer token (http.token_file); bind 127.0.0.1 or [::1] to serve without one"
    )]
    TokenRequired { bind: SocketAddr },
    #[error(
        "the HTTP bearer token is {length} characters long; use at least {minimum} \
         (for example `openssl rand -hex 32`)"
    )]
    TokenTooShort { length: usize, minimum: usize },
    #[error(
        "the HTTP bearer token holds a character that is not visible ASCII (position {position}); \
         a token goes in an HTTP header as is, so use letters, digits and punctuation only"
    )]
    TokenCharacter { position: usize },
    #[error("cannot listen on {bind}")]
    Bind {
        bind: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the HTTP runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot start thread {name}")]
    Thread {
        name: String,
        #[source]
        source: std::io::Error,
    },
}
