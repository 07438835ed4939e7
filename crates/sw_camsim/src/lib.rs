//! sw_camsim: an RTSP camera simulator (gst-rtsp-server) standing in for a fleet of cameras in
//! tests, benchmarks and `stillwatch camsim`.
//!
//! Owns: serving many mounts on one port with Hikvision-style (`/Streaming/Channels/101`) and
//! Dahua-style (`/cam/realmonitor?channel=1&subtype=0`) paths; H.264 or H.265 from a seeded
//! synthetic scene, an image sequence or a looped file (served as recorded when it already is
//! the right codec); per-mount auth (none, Basic, MD5 Digest, SHA-256 Digest); and faults
//! injected up front or at run time (drop, stall, refuse, restart, switch resolution or codec).
//! Does not own: any client side (that is `sw_ingest`), config files or the CLI.
//!
//! ```text
//!                        one port, one RTSPServer, thread "camsim-rtsp"
//!  client ─RTSP/TCP─►  CamsimAuth (per-mount scheme) ─► mount points (one factory per path)
//!                            │                                   │ request URI + query
//!                            ▼                                   ▼
//!                      401 + WWW-Authenticate            route::resolve ─► MountState
//!                                                                │ (faults, clients, size)
//!            per media (shared by the mount's clients)           ▼
//!   appsrc(scene | images | clip) ─► clocksync ─► [decode] ─► scale ─► "size" ─► encode ─►
//!       parse ─► [gate: stall] ─► rtph26xpay pay0 ─► gst-rtsp-server's RTP/RTCP sinks ─► clients
//!   (a clip that matches the codec skips decode/scale/encode: bytes as recorded)
//! ```
//!
//! Start a [`Simulator`] from [`CamsimOptions`]; get URLs with [`Simulator::url`] and break a
//! camera with [`Simulator::mount`] → [`MountControl`]. Dropping the simulator stops it.

mod auth;
mod clip;
mod error;
mod export;
mod mount;
mod options;
mod route;
mod rtsp;
mod scene;
mod server;
mod source;

pub use error::CamsimError;
pub use export::{ClipOptions, write_synthetic_clip};
pub use options::{
    AuthOptions, CamsimOptions, Codec, Fault, FaultOptions, LightingChange, MountOptions,
    Resolution, ScheduledFault, SourceOptions, SyntheticOptions,
};
pub use server::{MountControl, Simulator};
/// Mount credentials are Stillwatch's own secret types, so a password prints as `***` here too.
pub use sw_core::{Credentials, Secret};
