//! Where records leave the service: one writer thread appending JSON Lines to a file or
//! standard output, fed by a bounded channel that blocks when full (records must not be lost).
//!
//! Every record is first appended to the audit log (when there is one) and only then written
//! anywhere: a record the audit log refused was not emitted.
//!
//! Owns: [`Record`] and its JSON form (motion events as `stillwatch.event/1`, health events as
//! [`HEALTH_SCHEMA`]), which records the audit log gets and their payloads, the writer thread,
//! flushing (whenever the channel runs empty, and at the end). Does not own: making records
//! (`motion`), the audit log itself (sw_audit) or other sinks (MQTT, webhooks: sw_sinks).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use serde::Serialize;
use serde_json::json;
use sw_audit::{AuditLog, RecordKind};
use sw_core::MotionEvent;
use sw_http::{CameraMetrics, DEFAULT_RECENT_EVENTS, Metrics, RecentEvents};
use sw_ingest::{CameraState, HealthEvent, HealthKind};
use sw_privacy::EvidenceRecord;
use sw_sinks::{MqttSink, WebhookSink};

use crate::ServiceError;

/// Version tag of health records, bumped on any incompatible change.
pub const HEALTH_SCHEMA: &str = "stillwatch.health/1";

/// Records waiting for the writer; when full, cameras wait (see [`Output::spawn`]).
const RECORDS_QUEUE: usize = 1024;

/// Where the events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventsOutput {
    Stdout,
    /// Appended to (created when missing), so a restart keeps earlier events.
    File(PathBuf),
}

/// One line of the output.
#[derive(Debug, Clone)]
pub(crate) enum Record {
    Motion(Emitted),
    Health(HealthEvent),
    /// An evidence image was written: for the audit log only, not the events file.
    Evidence(EvidenceRecord),
}

/// A motion record with what the writer measures once it has left: the latency from its
/// frame's arrival, counted in the camera's metrics.
#[derive(Debug, Clone)]
pub(crate) struct Emitted {
    pub event: MotionEvent,
    pub frame_arrived: Instant,
    pub metrics: CameraMetrics,
}

/// A health event as written: the event's fields under a schema tag of their own.
#[derive(Serialize)]
struct HealthLine<'a> {
    schema: &'static str,
    #[serde(flatten)]
    event: &'a HealthEvent,
}

impl Record {
    /// The audit record this record makes, if any: event starts and ends, and camera
    /// connections, disconnections, stalls and refused credentials.
    fn audit_entry(&self) -> Option<(RecordKind, serde_json::Value)> {
        match self {
            Record::Motion(emitted) => sw_audit::event_record(&emitted.event),
            Record::Evidence(written) => Some((
                RecordKind::EvidenceWritten,
                serde_json::to_value(written).unwrap_or_default(),
            )),
            Record::Health(health) => {
                let camera = health.camera.as_str();
                let (kind, payload) = match &health.kind {
                    HealthKind::Connected => (RecordKind::CameraConnected, json!({})),
                    HealthKind::Disconnected { reason } => {
                        (RecordKind::CameraDisconnected, json!({ "reason": reason }))
                    }
                    HealthKind::Stalled => (RecordKind::CameraStalled, json!({})),
                    HealthKind::AuthFailed => (RecordKind::CameraAuthFailed, json!({})),
                    _ => return None,
                };
                let mut payload = payload;
                payload["camera"] = json!(camera);
                payload["unix_millis"] = json!(health.unix_millis);
                Some((kind, payload))
            }
        }
    }

    fn write_line(&self, out: &mut impl Write) -> io::Result<()> {
        match self {
            Record::Motion(emitted) => serde_json::to_writer(&mut *out, &emitted.event),
            Record::Evidence(_) => return Ok(()),
            Record::Health(event) => serde_json::to_writer(
                &mut *out,
                &HealthLine {
                    schema: HEALTH_SCHEMA,
                    event,
                },
            ),
        }
        .map_err(io::Error::from)?;
        out.write_all(b"\n")
    }
}

/// The writer thread and the sender every camera clones, with the metrics and recent events
/// the writer keeps up to date (the HTTP API reads them).
#[derive(Debug)]
pub(crate) struct Output {
    sender: Sender<Record>,
    thread: JoinHandle<Result<(), ServiceError>>,
    metrics: Metrics,
    recent: RecentEvents,
}

/// Where the writer sends each record besides the events file.
struct Destinations {
    audit: Option<AuditLog>,
    sinks: Sinks,
    metrics: Metrics,
    recent: RecentEvents,
}

/// MQTT and webhooks: they queue internally, so publishing never waits on a broker or an
/// endpoint. Shared with the service, which shuts them down after the writer has finished.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sinks {
    pub mqtt: Option<Arc<MqttSink>>,
    pub webhooks: Vec<Arc<WebhookSink>>,
}

impl Sinks {
    fn publish(&self, record: &Record) {
        match record {
            Record::Motion(emitted) => {
                if let Some(mqtt) = &self.mqtt
                    && let Err(error) = mqtt.publish_event(&emitted.event)
                {
                    tracing::warn!("MQTT: {error}");
                }
                for hook in &self.webhooks {
                    if let Err(error) = hook.publish_event(&emitted.event) {
                        tracing::error!("webhook: {error}");
                    }
                }
            }
            Record::Health(health) => {
                let state = match health.kind {
                    HealthKind::Connected => CameraState::Streaming,
                    HealthKind::Disconnected { .. } => CameraState::BackingOff,
                    HealthKind::Stalled => CameraState::Stalled,
                    HealthKind::AuthFailed => CameraState::AuthFailed,
                    _ => return,
                };
                if let Some(mqtt) = &self.mqtt {
                    mqtt.publish_camera_state(&health.camera, state);
                }
            }
            Record::Evidence(_) => {}
        }
    }
}

impl Output {
    /// Opens the target here (so a bad path fails the start) and spawns `events-writer`, which
    /// appends each record to `audit` (when given) before writing it.
    pub fn spawn(
        target: &EventsOutput,
        audit: Option<AuditLog>,
        sinks: Sinks,
    ) -> Result<Self, ServiceError> {
        let metrics = Metrics::new();
        let recent = RecentEvents::new(DEFAULT_RECENT_EVENTS);
        let destinations = Destinations {
            audit,
            sinks,
            metrics: metrics.clone(),
            recent: recent.clone(),
        };
        let (name, out): (String, Box<dyn Write + Send>) = match target {
            EventsOutput::Stdout => ("standard output".to_owned(), Box::new(io::stdout())),
            EventsOutput::File(path) => {
                let file = open_append(path).map_err(|source| ServiceError::Events {
                    path: path.clone(),
                    source,
                })?;
                (path.display().to_string(), Box::new(file))
            }
        };
        // Overload policy: block. Cameras wait for the writer rather than lose records.
        let (sender, receiver) = crossbeam_channel::bounded(RECORDS_QUEUE);
        let thread_name = "events-writer".to_owned();
        let thread = thread::Builder::new()
            .name(thread_name.clone())
            .spawn(move || write_all(&receiver, BufWriter::new(out), &name, &destinations))
            .map_err(|source| ServiceError::Thread {
                name: thread_name,
                source,
            })?;
        Ok(Self {
            sender,
            thread,
            metrics,
            recent,
        })
    }

    /// The service's metrics (cameras take their handle from here).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The most recent motion records written.
    pub fn recent(&self) -> &RecentEvents {
        &self.recent
    }

    /// A sender for one more producer.
    pub fn sender(&self) -> Sender<Record> {
        self.sender.clone()
    }

    /// Waits, until `deadline` at most, for every producer's sender to go and everything to be
    /// written and flushed. Returns the first write error, if there was one.
    pub fn finish(self, deadline: Instant) -> Result<(), ServiceError> {
        drop(self.sender);
        let failed = |reason: &str| ServiceError::Output {
            target: "the event writer".to_owned(),
            source: io::Error::other(reason.to_owned()),
        };
        while !self.thread.is_finished() {
            if Instant::now() >= deadline {
                return Err(failed(
                    "still waiting for records at the shutdown deadline; later ones are lost",
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
        self.thread
            .join()
            .unwrap_or_else(|_| Err(failed("the writer thread panicked")))
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// Writes records until every sender is gone, flushing whenever none is waiting. Keeps going
/// after a failed write (logged once per run of failures) so cameras never block on a dead
/// writer; returns the first error at the end. A record the audit log refuses is not written.
fn write_all(
    receiver: &Receiver<Record>,
    mut out: impl Write,
    name: &str,
    destinations: &Destinations,
) -> Result<(), ServiceError> {
    let mut first_error: Option<io::Error> = None;
    let mut failing = false;
    let mut audit_failing = false;
    for record in receiver {
        if let (Some(audit), Some((kind, payload))) = (&destinations.audit, record.audit_entry()) {
            match audit.append(kind, payload) {
                Ok(_) => {
                    audit_failing = false;
                    destinations.metrics.audit_records_written(1);
                }
                Err(error) => {
                    if !audit_failing {
                        tracing::error!(
                            "the audit log refused a record, so it is not emitted (nor are \
                             later ones until the log accepts records again): {error}"
                        );
                    }
                    audit_failing = true;
                }
            }
        }
        if audit_failing {
            continue;
        }
        let mut result = record.write_line(&mut out);
        if let Record::Motion(emitted) = &record {
            emitted
                .metrics
                .event_latency(emitted.frame_arrived.elapsed());
            destinations.recent.push(emitted.event.clone());
        }
        destinations.sinks.publish(&record);
        if result.is_ok() && receiver.is_empty() {
            result = out.flush();
        }
        match result {
            Ok(()) => failing = false,
            Err(error) => {
                if !failing {
                    tracing::error!("cannot write events to {name}: {error}");
                }
                failing = true;
                first_error.get_or_insert(error);
            }
        }
    }
    let flushed = out.flush();
    match first_error.map_or(flushed, Err) {
        Ok(()) => Ok(()),
        Err(source) => Err(ServiceError::Output {
            target: name.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use sw_core::CameraId;
    use sw_ingest::HealthKind;

    use super::*;

    #[test]
    fn health_records_carry_their_own_schema() {
        let event = HealthEvent {
            camera: CameraId::new("gate").unwrap(),
            kind: HealthKind::Stalled,
            unix_millis: 1234,
        };
        let mut line = Vec::new();
        Record::Health(event).write_line(&mut line).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["schema"], HEALTH_SCHEMA);
        assert_eq!(value["camera"], "gate");
        assert_eq!(value["unix_millis"], 1234);
        assert!(line.ends_with(b"\n"));
    }

    #[test]
    fn the_file_gets_every_record_appended_and_flushed_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/events.jsonl");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
        let output =
            Output::spawn(&EventsOutput::File(path.clone()), None, Sinks::default()).unwrap();
        let sender = output.sender();
        for millis in 0..100 {
            let event = HealthEvent {
                camera: CameraId::new("gate").unwrap(),
                kind: HealthKind::Connected,
                unix_millis: millis,
            };
            sender.send(Record::Health(event)).unwrap();
        }
        drop(sender);
        output
            .finish(Instant::now() + Duration::from_secs(10))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 101);
        assert!(text.starts_with("{\"earlier\":true}\n"));
    }
}
