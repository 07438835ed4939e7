//! Where motion events leave Stillwatch besides the JSON Lines file: an MQTT broker (with Home
//! Assistant discovery) and webhooks. Each sink queues on its own, so a broker or endpoint that
//! is away never stalls the caller, and each keeps what it could not deliver on disk.
//!
//! ```text
//!  events-writer thread (sw_service)
//!    │ publish_event / publish_camera_state / announce_cameras: a lock, a queue push, a wake-up
//!    ▼
//!  MqttSink ── memory queue (bounded) ─► spill dir (bounded) ──┐
//!              retained states (latest value per topic) ───────┤
//!                                                              ▼
//!            thread mqtt-sink: one current-thread tokio runtime
//!              poller (rumqttc EventLoop, reconnects with back-off)
//!              ◄─► coordinator (QoS 1 window, PUBACK ⇒ event removed from the queue)
//!
//!  WebhookSink ── outbox dir (one fsynced file per event) ─► thread webhook-<host>:
//!                 POST in order, retry with capped exponential back-off and jitter,
//!                 file deleted after a 2xx
//! ```
//!
//! Guarantees, in short (the module docs give the detail):
//! - Delivery is at least once and in order, per sink. A broker or endpoint that is away
//!   for an hour loses nothing while the queues have room (`max_spilled_events`,
//!   `max_outbox_events`); beyond that new events are refused with [`SinkError::QueueFull`].
//! - Webhook events are on disk (fsynced) before `publish_event` returns: a restart, even
//!   `kill -9`, loses none. MQTT events are held in memory up to `memory_queue_events` and
//!   spilled to disk beyond; a clean shutdown spills the rest, so a restart delivers them;
//!   `kill -9` loses at most what was in memory and not yet acknowledged by the broker.
//! - Payloads are the event JSON (`stillwatch.event/1`) and short state words: never
//!   imagery. Passwords and HMAC secrets are [`Secret`]s and never reach a log, an error or
//!   `Debug` output; webhook URLs are printed as scheme, host and port only (user info, path
//!   and query often hold tokens).
//!
//! Owns: the MQTT sink ([`MqttSink`]: topics, retained states, Home Assistant discovery, the
//! spill queue, TLS and login), the webhook sink ([`WebhookSink`]: outbox, retries, signing),
//! and [`SinkError`]. Does not own: the JSON Lines output or the record channel (sw_service),
//! reading secrets from the environment or files and the config keys (sw_config; see
//! `CONFIG.md` beside this crate), the HTTP status API or metrics (sw_http).

mod mqtt;
mod mqtt_queue;
mod mqtt_session;
mod mqtt_topics;
mod spool;
mod webhook;

use std::path::PathBuf;

pub use mqtt::{CameraDescription, MqttOptions, MqttSink, MqttStatus, MqttTls};
pub use sw_core::{Credentials, Secret};
pub use sw_ingest::CameraState;
pub use webhook::{
    IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookOptions, WebhookSink,
    WebhookStatus,
};

/// Everything that can go wrong when starting, feeding or stopping a sink. Each message says
/// which sink (broker address, or webhook scheme, host and port), which key or which file.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{sink}: option {key}: {reason}")]
    InvalidOptions {
        sink: String,
        key: &'static str,
        reason: String,
    },

    #[error("{sink}: cannot read the CA file {}: {reason}", path.display())]
    CaFile {
        sink: String,
        path: PathBuf,
        reason: String,
    },

    #[error(
        "MQTT broker {broker} refused the connection{}: {reason}",
        user_clause(user)
    )]
    BrokerRefused {
        broker: String,
        user: Option<String>,
        reason: String,
    },

    #[error("queue folder {}: cannot {action}", dir.display())]
    Queue {
        dir: PathBuf,
        action: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "queue folder {} is in use by another sink or process (its .lock is held)",
        dir.display()
    )]
    QueueLocked { dir: PathBuf },

    #[error(
        "queue folder {} already holds {max_events} undelivered events (its limit); this event \
         is not queued",
        dir.display()
    )]
    QueueFull { dir: PathBuf, max_events: usize },

    #[error("cannot start thread {name}")]
    Thread {
        name: String,
        #[source]
        source: std::io::Error,
    },

    #[error("camera {camera}: event {event_id} cannot be written as JSON")]
    Encode {
        camera: sw_core::CameraId,
        event_id: u64,
        #[source]
        source: serde_json::Error,
    },

    #[error("{sink}: {reason}")]
    Shutdown { sink: String, reason: String },
}

fn user_clause(user: &Option<String>) -> String {
    match user {
        Some(user) => format!(" for user {user:?}"),
        None => " (no user name given)".to_owned(),
    }
}

use sw_core::describe_error as describe;

/// `event` as its JSON (`stillwatch.event/1`), the payload both sinks send.
fn encode(event: &sw_core::MotionEvent) -> Result<Vec<u8>, SinkError> {
    serde_json::to_vec(event).map_err(|source| SinkError::Encode {
        camera: event.camera.clone(),
        event_id: event.event_id,
        source,
    })
}

/// The certificates of a PEM file of certificate authorities, for `sink`'s TLS.
fn read_ca_file(
    path: &std::path::Path,
    sink: &str,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, SinkError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let failed = |reason: String| SinkError::CaFile {
        sink: sink.to_owned(),
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| failed(error.to_string()))?;
    if certs.is_empty() {
        return Err(failed("it holds no PEM certificate".to_owned()));
    }
    Ok(certs)
}
