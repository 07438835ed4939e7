//! What a record is about: the record kinds, and the payload of an event record.
//!
//! Owns: the names kinds have in the log and which of them only the log itself writes. Does
//! not own: payloads beyond the event summary (callers build them; they must hold no secrets).

use std::fmt;

use serde_json::{Map, Value, json};
use sw_core::{EventPhase, MotionEvent};

/// The kind of a record, written as its snake_case name in the `kind` member.
///
/// Callers append every kind except [`RecordKind::Checkpoint`] and [`RecordKind::Recovered`],
/// which the log writes itself. A verifier accepts any `[a-z0-9_]` kind, so a newer writer's
/// kinds do not break an older verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// The service started: version, build, host.
    ServiceStart,
    /// The service is stopping (clean shutdown).
    ServiceStop,
    /// A configuration was loaded: SHA-256 of its canonical form, secrets excluded.
    ConfigLoaded,
    /// A model was loaded: its name and SHA-256.
    ModelLoaded,
    CameraConnected,
    CameraDisconnected,
    /// A camera refused our credentials (the credentials themselves are never recorded).
    CameraAuthFailed,
    /// A camera stopped delivering frames while its connection stayed open.
    CameraStalled,
    /// A motion event started (see [`event_record`]).
    EventStart,
    /// A motion event ended (see [`event_record`]).
    EventEnd,
    /// An evidence image was written: file name and SHA-256.
    EvidenceWritten,
    /// Retention deleted a file: name, age, and the rule that deleted it.
    RetentionDeleted,
    /// A camera's analysis resolution was allowed above the ceiling, with the configured reason.
    CeilingOverride,
    /// Written by the log: a checkpoint over the chain so far, signed when the log has a key.
    Checkpoint,
    /// Written by the log when it opens after an unclean shutdown or finds a torn tail.
    Recovered,
}

impl RecordKind {
    pub const ALL: [RecordKind; 15] = [
        RecordKind::ServiceStart,
        RecordKind::ServiceStop,
        RecordKind::ConfigLoaded,
        RecordKind::ModelLoaded,
        RecordKind::CameraConnected,
        RecordKind::CameraDisconnected,
        RecordKind::CameraAuthFailed,
        RecordKind::CameraStalled,
        RecordKind::EventStart,
        RecordKind::EventEnd,
        RecordKind::EvidenceWritten,
        RecordKind::RetentionDeleted,
        RecordKind::CeilingOverride,
        RecordKind::Checkpoint,
        RecordKind::Recovered,
    ];

    /// The name written in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::ServiceStart => "service_start",
            RecordKind::ServiceStop => "service_stop",
            RecordKind::ConfigLoaded => "config_loaded",
            RecordKind::ModelLoaded => "model_loaded",
            RecordKind::CameraConnected => "camera_connected",
            RecordKind::CameraDisconnected => "camera_disconnected",
            RecordKind::CameraAuthFailed => "camera_auth_failed",
            RecordKind::CameraStalled => "camera_stalled",
            RecordKind::EventStart => "event_start",
            RecordKind::EventEnd => "event_end",
            RecordKind::EvidenceWritten => "evidence_written",
            RecordKind::RetentionDeleted => "retention_deleted",
            RecordKind::CeilingOverride => "ceiling_override",
            RecordKind::Checkpoint => "checkpoint",
            RecordKind::Recovered => "recovered",
        }
    }

    /// Whether only the log itself writes this kind.
    pub fn is_written_by_log(self) -> bool {
        matches!(self, RecordKind::Checkpoint | RecordKind::Recovered)
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The audit record for an event's start or end: the kind and a summary payload (camera,
/// event id, phase, frame, stream times, zones, peak score). `None` for updates, which the
/// audit log does not record. The summary holds no boxes or grid: what happened, not where.
pub fn event_record(event: &MotionEvent) -> Option<(RecordKind, Value)> {
    let kind = match event.phase {
        EventPhase::Start => RecordKind::EventStart,
        EventPhase::End => RecordKind::EventEnd,
        EventPhase::Update => return None,
    };
    let payload = json!({
        "camera": event.camera.as_str(),
        "event_id": event.event_id,
        "phase": kind.as_str().trim_start_matches("event_"),
        "frame_seq": event.frame_seq,
        "start_millis": event.start_millis,
        "end_millis": event.end_millis,
        "zones": event.zones,
        "peak_score": f32_as_json(event.peak_score),
    });
    Some((kind, payload))
}

/// An `f32` as the shortest decimal that reads back as the same `f32` (what the event stream
/// shows), rather than the widened `f64`'s long expansion (0.1 → 0.10000000149011612).
fn f32_as_json(value: f32) -> Value {
    value
        .to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// `payload` as an object, or `None` when it is any other JSON value.
pub(crate) fn into_object(payload: Value) -> Option<Map<String, Value>> {
    match payload {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sw_core::{CameraId, EVENT_SCHEMA, MotionGrid};

    fn event(phase: EventPhase) -> MotionEvent {
        MotionEvent {
            schema: EVENT_SCHEMA.into(),
            camera: CameraId::new("front-gate").unwrap(),
            event_id: 12,
            phase,
            frame_seq: 480,
            time_millis: 96_000,
            start_millis: 93_200,
            end_millis: (phase == EventPhase::End).then_some(95_800),
            zones: vec!["drive".into(), "path".into()],
            score: 0.02,
            peak_score: 0.1,
            boxes: vec![],
            grid: MotionGrid {
                cols: 16,
                rows: 9,
                cells_percent: vec![0; 144],
            },
        }
    }

    #[test]
    fn event_records_for_start_and_end_only() {
        let table = [
            (
                EventPhase::Start,
                Some((
                    RecordKind::EventStart,
                    r#"{"camera":"front-gate","end_millis":null,"event_id":12,"frame_seq":480,"peak_score":0.1,"phase":"start","start_millis":93200,"zones":["drive","path"]}"#,
                )),
            ),
            (
                EventPhase::End,
                Some((
                    RecordKind::EventEnd,
                    r#"{"camera":"front-gate","end_millis":95800,"event_id":12,"frame_seq":480,"peak_score":0.1,"phase":"end","start_millis":93200,"zones":["drive","path"]}"#,
                )),
            ),
            (EventPhase::Update, None),
        ];
        for (phase, expected) in table {
            let got = event_record(&event(phase)).map(|(kind, mut payload)| {
                payload.sort_all_objects();
                (kind, serde_json::to_string(&payload).unwrap())
            });
            assert_eq!(got, expected.map(|(k, p)| (k, p.to_string())), "{phase:?}");
        }
    }

    #[test]
    fn kind_names_are_unique_snake_case() {
        let mut names: Vec<&str> = RecordKind::ALL.iter().map(|k| k.as_str()).collect();
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RecordKind::ALL.len());
        let by_log: Vec<RecordKind> = RecordKind::ALL
            .into_iter()
            .filter(|k| k.is_written_by_log())
            .collect();
        assert_eq!(by_log, [RecordKind::Checkpoint, RecordKind::Recovered]);
    }
}
