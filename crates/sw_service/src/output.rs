//! Where records leave the service: one writer thread appending JSON Lines to a file or
//! standard output, fed by a bounded channel that blocks when full (records must not be lost).
//!
//! Owns: [`Record`] and its JSON form (motion events as `stillwatch.event/1`, health events as
//! [`HEALTH_SCHEMA`]), the writer thread, flushing (whenever the channel runs empty, and at
//! the end). Does not own: making records (`motion`) or other sinks (MQTT, webhooks: sw_sinks).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use serde::Serialize;
use sw_core::MotionEvent;
use sw_ingest::HealthEvent;

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
    Motion(MotionEvent),
    Health(HealthEvent),
}

/// A health event as written: the event's fields under a schema tag of their own.
#[derive(Serialize)]
struct HealthLine<'a> {
    schema: &'static str,
    #[serde(flatten)]
    event: &'a HealthEvent,
}

impl Record {
    fn write_line(&self, out: &mut impl Write) -> io::Result<()> {
        match self {
            Record::Motion(event) => serde_json::to_writer(&mut *out, event),
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

/// The writer thread and the sender every camera clones.
#[derive(Debug)]
pub(crate) struct Output {
    sender: Sender<Record>,
    thread: JoinHandle<Result<(), ServiceError>>,
}

impl Output {
    /// Opens the target here (so a bad path fails the start) and spawns `events-writer`.
    pub fn spawn(target: &EventsOutput) -> Result<Self, ServiceError> {
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
            .spawn(move || write_all(&receiver, BufWriter::new(out), &name))
            .map_err(|source| ServiceError::Thread {
                name: thread_name,
                source,
            })?;
        Ok(Self { sender, thread })
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
/// writer; returns the first error at the end.
fn write_all(
    receiver: &Receiver<Record>,
    mut out: impl Write,
    name: &str,
) -> Result<(), ServiceError> {
    let mut first_error: Option<io::Error> = None;
    let mut failing = false;
    for record in receiver {
        let mut result = record.write_line(&mut out);
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
        let output = Output::spawn(&EventsOutput::File(path.clone())).unwrap();
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
