//! The MQTT sink: motion events and camera states to a broker, Home Assistant discovery, and a
//! queue that rides out a broker outage and a restart.
//!
//! ```text
//!  caller ── publish_event ──► EventQueue (memory ≤ memory_queue_events, then spill_dir)
//!         ── publish_camera_state / announce_cameras ──► RetainedTable (latest per topic)
//!                                  │ wake
//!                                  ▼
//!  thread mqtt-sink ─ mqtt_session: QoS 1 window; an event leaves the queue on its PUBACK;
//!                     after every (re)connect all retained values are sent again
//! ```
//!
//! Topics and payloads are listed in `mqtt_topics`. Every message is QoS 1. Events go out in
//! queue order; after a reconnect, the ones not yet acknowledged are sent again, so a
//! subscriber can see an event twice (at least once) but never one out of order before its
//! first copy. `<prefix>/available` is `online` while connected; the last will makes it
//! `offline` when the connection drops uncleanly (process killed, network lost), and a clean
//! [`MqttSink::shutdown`] publishes `offline` itself.
//!
//! Durability: events wait in memory (bounded) and beyond that in `spill_dir` (bounded, not
//! fsynced: they survive the process, not a power cut). [`MqttSink::shutdown`] writes what is
//! still in memory to `spill_dir`, and the next start sends everything found there first. A
//! `kill -9` loses the in-memory part that the broker had not acknowledged.
//!
//! Owns: [`MqttOptions`] and their checks, TLS and login setup, [`MqttSink`] and its status,
//! turning events into motion states. Does not own: the connection loop (`mqtt_session`),
//! topic names and payloads (`mqtt_topics`), reading the password from the environment or a
//! file (sw_config).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::Serialize;
use sw_core::{CameraId, Credentials, MotionEvent};
use sw_ingest::CameraState;

use crate::mqtt_queue::EventQueue;
use crate::mqtt_session::{self, FirstOutcome, SessionOptions};
use crate::mqtt_topics::{
    MotionStates, OFF, ON, ONLINE, Rank, RetainedTable, Topics, state_word, topic_level_problem,
    topic_prefix_problem,
};
use crate::spool::Spool;
use crate::{SinkError, encode, read_ca_file};

/// How long a clean shutdown keeps for saying goodbye (`offline`, DISCONNECT) and writing the
/// queue to disk: delivery stops this long before the caller's deadline.
pub(crate) const GOODBYE: Duration = Duration::from_millis(500);

/// How to reach the broker and what to publish. Build with [`MqttOptions::new`] and override
/// fields as needed.
#[derive(Debug, Clone)]
pub struct MqttOptions {
    /// Broker host name or IP address.
    pub host: String,
    /// Broker port: 1883 is plain MQTT, 8883 the usual TLS port.
    pub port: u16,
    /// First level(s) of every topic (`<prefix>/events`, `<prefix>/<camera>/motion`, …).
    pub topic_prefix: String,
    /// Home Assistant's discovery prefix; `None` publishes no discovery messages.
    pub discovery_prefix: Option<String>,
    /// MQTT client id: unique per broker (a second client with the same id pushes the first
    /// off), so give each replica its own.
    pub client_id: String,
    /// Set when several Stillwatch processes (replicas, shards) share a broker and
    /// `topic_prefix`: availability then goes to `<prefix>/available/<instance_id>` (and Home
    /// Assistant's sensors point there), so one replica going down marks only its own
    /// cameras unavailable. `None`: `<prefix>/available`.
    pub instance_id: Option<String>,
    /// User name and password for the broker; the password is a [`Secret`](sw_core::Secret)
    /// and never printed.
    pub credentials: Option<Credentials>,
    /// `Some` connects with TLS.
    pub tls: Option<MqttTls>,
    /// Idle time after which the client pings the broker; the broker declares the client gone
    /// (and publishes the last will) after 1.5 times this without a word. 1 s at least.
    pub keep_alive: Duration,
    /// A connection attempt (TCP, TLS and MQTT handshake) that takes longer is abandoned.
    pub connect_timeout: Duration,
    /// Wait before the first reconnect after a failure; doubles per failure in a row …
    pub reconnect_initial: Duration,
    /// … up to this.
    pub reconnect_max: Duration,
    /// Events held in memory while not yet acknowledged; beyond this they go to `spill_dir`.
    pub memory_queue_events: usize,
    /// Folder for events beyond the memory queue and for what a shutdown could not deliver.
    pub spill_dir: PathBuf,
    /// Most events `spill_dir` holds; beyond it new events are refused (and the caller told).
    pub max_spilled_events: usize,
}

/// TLS for the broker connection (rustls).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MqttTls {
    /// PEM file of the certificate authorities to trust; `None` trusts the Mozilla root
    /// program (webpki-roots), which suits a broker with a public certificate.
    pub ca_file: Option<PathBuf>,
}

impl MqttOptions {
    /// Port 1883 without TLS or login, prefix `stillwatch`, discovery under `homeassistant`,
    /// client id `stillwatch`, no instance id, keep-alive 30 s, connect timeout 10 s, reconnect back-off 0.5 s
    /// doubling up to 30 s, 1000 events in memory and up to 100 000 spilled.
    pub fn new(host: impl Into<String>, spill_dir: impl Into<PathBuf>) -> Self {
        Self {
            host: host.into(),
            port: 1883,
            topic_prefix: "stillwatch".to_owned(),
            discovery_prefix: Some("homeassistant".to_owned()),
            client_id: "stillwatch".to_owned(),
            instance_id: None,
            credentials: None,
            tls: None,
            keep_alive: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            reconnect_initial: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            memory_queue_events: 1000,
            spill_dir: spill_dir.into(),
            max_spilled_events: 100_000,
        }
    }

    /// `host:port`, as messages name the broker.
    pub fn broker(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn validate(&self) -> Result<(), SinkError> {
        let invalid = |key: &'static str, reason: String| SinkError::InvalidOptions {
            sink: format!("MQTT broker {}", self.broker()),
            key,
            reason,
        };
        if self.host.is_empty() {
            return Err(invalid("host", "is empty".to_owned()));
        }
        if self.port == 0 {
            return Err(invalid("port", "must be 1..=65535".to_owned()));
        }
        if let Some(problem) = topic_prefix_problem(&self.topic_prefix) {
            return Err(invalid(
                "topic_prefix",
                format!("{:?} {problem}", self.topic_prefix),
            ));
        }
        if let Some(prefix) = &self.discovery_prefix
            && let Some(problem) = topic_prefix_problem(prefix)
        {
            return Err(invalid("discovery_prefix", format!("{prefix:?} {problem}")));
        }
        if let Some(instance) = &self.instance_id
            && let Some(problem) = topic_level_problem(instance)
        {
            return Err(invalid("instance_id", format!("{instance:?} {problem}")));
        }
        if self.client_id.is_empty() || self.client_id.chars().count() > 128 {
            return Err(invalid(
                "client_id",
                "must be 1 to 128 characters".to_owned(),
            ));
        }
        if self.keep_alive < Duration::from_secs(1) {
            return Err(invalid("keep_alive", "must be 1 s or more".to_owned()));
        }
        if self.connect_timeout < Duration::from_secs(1) {
            return Err(invalid("connect_timeout", "must be 1 s or more".to_owned()));
        }
        if self.reconnect_initial.is_zero() || self.reconnect_max < self.reconnect_initial {
            return Err(invalid(
                "reconnect_max",
                "the back-off must start above zero and end at or above where it starts".to_owned(),
            ));
        }
        if self.max_spilled_events == 0 {
            return Err(invalid(
                "max_spilled_events",
                "must be 1 or more".to_owned(),
            ));
        }
        Ok(())
    }

    /// The rumqttc options: identity, login, last will, TLS, limits.
    fn client_options(&self, topics: &Topics) -> Result<rumqttc::MqttOptions, SinkError> {
        let mut options = rumqttc::MqttOptions::new(&self.client_id, &self.host, self.port);
        options
            .set_keep_alive(self.keep_alive)
            // A fresh session each time: the sink re-sends what the broker has not acknowledged
            // itself (rumqttc would drop its own copies on a clean reconnect anyway).
            .set_clean_session(true)
            .set_inflight(mqtt_session::WINDOW)
            // Events carry a motion grid of up to 64x64 cells: allow well past 10 KiB.
            .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
            .set_last_will(rumqttc::LastWill::new(
                topics.available(),
                crate::mqtt_topics::OFFLINE,
                rumqttc::QoS::AtLeastOnce,
                true,
            ));
        if let Some(credentials) = &self.credentials {
            options.set_credentials(&credentials.username, credentials.password.expose());
        }
        if let Some(tls) = &self.tls {
            let config = tls_client_config(tls.ca_file.as_deref(), &self.broker())?;
            options.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(config),
            ));
        }
        Ok(options)
    }
}

const MAX_PACKET_BYTES: usize = 1 << 20;

/// A rustls client config trusting `ca_file` (PEM) or, without one, the Mozilla roots. The
/// ring provider is named here rather than taken from the process default, so another crate
/// enabling a second provider cannot make the choice ambiguous.
fn tls_client_config(
    ca_file: Option<&Path>,
    broker: &str,
) -> Result<Arc<rustls::ClientConfig>, SinkError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let sink = format!("MQTT broker {broker}");
            let (added, _ignored) = roots.add_parsable_certificates(read_ca_file(path, &sink)?);
            if added == 0 {
                return Err(SinkError::CaFile {
                    sink,
                    path: path.to_path_buf(),
                    reason: "none of its certificates is usable".to_owned(),
                });
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| SinkError::InvalidOptions {
            sink: format!("MQTT broker {broker}"),
            key: "tls",
            reason: error.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A camera as discovery announces it: its id and the names of its zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraDescription {
    pub id: CameraId,
    pub zones: Vec<String>,
}

/// The sink as the status API and metrics see it. Holds no credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MqttStatus {
    /// `host:port`.
    pub broker: String,
    pub connected: bool,
    /// Events not yet acknowledged by the broker, in memory and on disk.
    pub queued_events: usize,
    /// Of those, the ones on disk.
    pub spilled_events: usize,
    /// Events the broker acknowledged since start (a re-sent event counts once per PUBACK).
    pub delivered_events: u64,
    /// Connection attempts that failed and connections that dropped, since start.
    pub connection_failures: u64,
    /// Why the last attempt failed or the last connection dropped.
    pub last_error: Option<String>,
}

/// What the caller and the session thread share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) topics: Topics,
    pub(crate) broker: String,
    pub(crate) state: Mutex<State>,
    /// Something new to send.
    pub(crate) work: tokio::sync::Notify,
    /// `State::stop_at` was set.
    pub(crate) stop: tokio::sync::Notify,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) queue: EventQueue,
    pub(crate) retained: RetainedTable,
    pub(crate) motion: MotionStates,
    /// Zones per camera as last announced, to retract what a new announcement drops.
    pub(crate) announced: BTreeMap<CameraId, Vec<String>>,
    /// Set by shutdown: stop delivering at this instant.
    pub(crate) stop_at: Option<Instant>,
    pub(crate) connected: bool,
    pub(crate) delivered_events: u64,
    pub(crate) connection_failures: u64,
    pub(crate) last_error: Option<String>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent data (every update is a
        // few assignments); keep going rather than take the caller down too.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running MQTT sink. Every method returns quickly whatever the broker does; delivery
/// happens on thread `mqtt-sink`. Dropping it without [`MqttSink::shutdown`] stops the thread
/// at once and keeps undelivered events only if they were already spilled.
#[derive(Debug)]
pub struct MqttSink {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl MqttSink {
    /// Checks the options, opens the spill folder (queuing what an earlier run left there
    /// first), starts thread `mqtt-sink` and waits for the first connection attempt (up to
    /// `connect_timeout`). A broker that is down or unreachable is not an error: events queue
    /// until it answers. A broker that refuses the login, the client id or the protocol is.
    pub fn start(options: MqttOptions) -> Result<Self, SinkError> {
        options.validate()?;
        let topics = Topics::new(
            &options.topic_prefix,
            options.discovery_prefix.as_deref(),
            options.instance_id.as_deref(),
        );
        let broker = options.broker();
        let client_options = options.client_options(&topics)?;
        let spool = Spool::open(&options.spill_dir, options.max_spilled_events, false)?;
        let queue = EventQueue::new(spool, options.memory_queue_events);
        if !queue.is_empty() {
            tracing::info!(
                "MQTT broker {broker}: {} events left by an earlier run in {} go out first",
                queue.len(),
                queue.spool_dir().display()
            );
        }
        let mut retained = RetainedTable::default();
        retained.set(topics.available(), ONLINE.to_owned(), Rank::Availability);
        let shared = Arc::new(Shared {
            topics,
            broker: broker.clone(),
            state: Mutex::new(State {
                queue,
                retained,
                motion: MotionStates::default(),
                announced: BTreeMap::new(),
                stop_at: None,
                connected: false,
                delivered_events: 0,
                connection_failures: 0,
                last_error: None,
            }),
            work: tokio::sync::Notify::new(),
            stop: tokio::sync::Notify::new(),
        });
        // Overload policy: one message, sent once; nobody waits on the sender.
        let (first_sender, first_receiver) = crossbeam_channel::bounded(1);
        let session = SessionOptions {
            client: client_options,
            connect_timeout: options.connect_timeout,
            reconnect_initial: options.reconnect_initial,
            reconnect_max: options.reconnect_max,
        };
        let thread_name = "mqtt-sink".to_owned();
        let thread = thread::Builder::new()
            .name(thread_name.clone())
            .spawn({
                let shared = shared.clone();
                move || mqtt_session::run(&shared, session, first_sender)
            })
            .map_err(|source| SinkError::Thread {
                name: thread_name,
                source,
            })?;
        let sink = Self {
            shared,
            thread: Some(thread),
        };
        let user = options
            .credentials
            .as_ref()
            .map(|credentials| credentials.username.clone());
        match first_receiver.recv_timeout(options.connect_timeout + Duration::from_secs(1)) {
            Ok(FirstOutcome::Connected) => {
                tracing::info!("connected to MQTT broker {broker}");
                Ok(sink)
            }
            Ok(FirstOutcome::Refused(reason)) => {
                // The thread is stopped and joined when `sink` drops.
                Err(SinkError::BrokerRefused {
                    broker,
                    user,
                    reason,
                })
            }
            Ok(FirstOutcome::Unreachable(reason)) => {
                tracing::warn!(
                    "MQTT broker {broker} is not reachable yet ({reason}); events queue until \
                     it is"
                );
                Ok(sink)
            }
            Err(_) => {
                tracing::warn!(
                    "MQTT broker {broker} has not answered yet; events queue until it does"
                );
                Ok(sink)
            }
        }
    }

    /// Queues `event` for `<prefix>/events` and updates the camera's and its zones' motion
    /// states. Fails only when the event cannot be queued (spill folder full or unwritable).
    pub fn publish_event(&self, event: &MotionEvent) -> Result<(), SinkError> {
        let payload = encode(event)?;
        let topics = &self.shared.topics;
        let mut state = self.shared.lock();
        state.queue.push(&payload)?;
        for (zone, on) in state.motion.apply(event) {
            if let Some(zone) = &zone
                && let Some(problem) = topic_level_problem(zone)
            {
                tracing::warn!(
                    "camera {}: zone {zone:?} {problem}, so it gets no MQTT motion topic",
                    event.camera
                );
                continue;
            }
            let topic = topics.motion(&event.camera, zone.as_deref());
            let word = if on { ON } else { OFF };
            state.retained.set(topic, word.to_owned(), Rank::Motion);
        }
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Sets `<prefix>/<camera>/status` (retained) to the state's word (`streaming`,
    /// `backing_off`, …). Home Assistant shows the camera's sensors as available only while
    /// it is `streaming`, so call this on every change (from the health records or status).
    pub fn publish_camera_state(&self, camera: &CameraId, state: CameraState) {
        let topic = self.shared.topics.status(camera);
        self.shared
            .lock()
            .retained
            .set(topic, state_word(state), Rank::Status);
        self.shared.work.notify_one();
    }

    /// Announces the cameras and zones to Home Assistant (one binary sensor each, retained
    /// discovery messages) and sets their motion OFF where nothing is known yet. Call it at
    /// start and after every reload with the full list: cameras and zones no longer listed
    /// are retracted (their discovery and retained states deleted at the broker).
    pub fn announce_cameras(&self, cameras: &[CameraDescription]) -> Result<(), SinkError> {
        for camera in cameras {
            for zone in &camera.zones {
                if let Some(problem) = topic_level_problem(zone) {
                    return Err(SinkError::InvalidOptions {
                        sink: format!("MQTT broker {}", self.shared.broker),
                        key: "zones",
                        reason: format!("camera {}: zone name {zone:?} {problem}", camera.id),
                    });
                }
            }
        }
        let topics = &self.shared.topics;
        let mut guard = self.shared.lock();
        let state = &mut *guard;
        let listed: BTreeMap<CameraId, Vec<String>> = cameras
            .iter()
            .map(|camera| (camera.id.clone(), camera.zones.clone()))
            .collect();
        for (camera, zones) in &state.announced {
            let kept = listed.get(camera);
            let mut dropped: Vec<Option<&str>> = zones
                .iter()
                .filter(|zone| kept.is_none_or(|kept| !kept.contains(zone)))
                .map(|zone| Some(zone.as_str()))
                .collect();
            if kept.is_none() {
                dropped.push(None);
                state.retained.clear(topics.status(camera));
                state.motion.forget(camera);
            }
            for zone in dropped {
                state.retained.clear(topics.motion(camera, zone));
                if let Some((topic, _)) = topics.discovery(camera, zone) {
                    state.retained.clear(topic);
                }
            }
        }
        for (camera, zones) in &listed {
            state.motion.announce(camera, zones);
            let entities =
                std::iter::once(None).chain(zones.iter().map(|zone| Some(zone.as_str())));
            for zone in entities {
                state
                    .retained
                    .set_if_absent(topics.motion(camera, zone), OFF, Rank::Motion);
                if let Some((topic, payload)) = topics.discovery(camera, zone) {
                    state.retained.set(topic, payload, Rank::Discovery);
                }
            }
        }
        state.announced = listed;
        drop(guard);
        self.shared.work.notify_one();
        Ok(())
    }

    pub fn status(&self) -> MqttStatus {
        let state = self.shared.lock();
        MqttStatus {
            broker: self.shared.broker.clone(),
            connected: state.connected,
            queued_events: state.queue.len(),
            spilled_events: state.queue.spilled(),
            delivered_events: state.delivered_events,
            connection_failures: state.connection_failures,
            last_error: state.last_error.clone(),
        }
    }

    /// While connected, delivers what it can until shortly before `deadline`, then publishes
    /// `offline` and disconnects; writes undelivered events to the spill folder for the next
    /// start (at once when the broker is away), and returns by `deadline` (plus the time to
    /// write those files). Fails when the thread did not finish.
    pub fn shutdown(mut self, deadline: Instant) -> Result<(), SinkError> {
        self.request_stop(deadline);
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let broker = self.shared.broker.clone();
        let failed = |reason: &str| SinkError::Shutdown {
            sink: format!("MQTT broker {broker}"),
            reason: reason.to_owned(),
        };
        // The thread stops delivering GOODBYE before the deadline; give the disk writes as
        // long again past it before calling it stuck.
        while !thread.is_finished() {
            if Instant::now() >= deadline + GOODBYE {
                return Err(failed(
                    "the sink thread did not finish by the shutdown deadline; events it had \
                     not spilled are lost",
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
        thread
            .join()
            .map_err(|_| failed("the sink thread panicked"))
    }

    fn request_stop(&self, deadline: Instant) {
        let stop_at = deadline
            .checked_sub(GOODBYE)
            .map_or(Instant::now(), |at| at.max(Instant::now()));
        self.shared.lock().stop_at = Some(stop_at);
        self.shared.stop.notify_one();
    }
}

impl Drop for MqttSink {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.request_stop(Instant::now());
            // The thread finishes within GOODBYE; waiting for it keeps the spill folder's lock
            // from outliving the sink.
            let _ = thread.join();
        }
    }
}
