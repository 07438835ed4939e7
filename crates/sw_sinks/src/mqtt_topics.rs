//! What the MQTT sink says, and where: topic names, Home Assistant discovery payloads, the
//! ON/OFF motion state derived from events, and the table of retained values that is sent
//! again after every reconnect.
//!
//! ```text
//!  <prefix>/available                 online | offline (retained; offline is also the last will;
//!                                     `<prefix>/available/<instance_id>` for a replica)
//!  <prefix>/events                    event JSON, stillwatch.event/1 (not retained)
//!  <prefix>/<camera>/status           connecting | streaming | stalled | backing_off |
//!                                     auth_failed | stopped (retained)
//!  <prefix>/<camera>/motion           ON | OFF (retained)
//!  <prefix>/<camera>/<zone>/motion    ON | OFF (retained)
//!  <discovery>/binary_sensor/<unique_id>/config   Home Assistant discovery (retained)
//! ```
//!
//! A camera's motion is ON from an event's `start` until its `end`; a zone's is ON while an
//! open event of the camera has touched it (`zones` in the event is cumulative, so a zone stays
//! ON until the event ends, not just while it moves).
//!
//! Owns: names, payloads, motion state and the retained table. Does not own: sending them or
//! the queue of events (`mqtt_session`, `mqtt_queue`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::json;
use sw_core::{CameraId, EventPhase, MotionEvent};
use sw_ingest::CameraState;

pub(crate) const ONLINE: &str = "online";
pub(crate) const OFFLINE: &str = "offline";
pub(crate) const ON: &str = "ON";
pub(crate) const OFF: &str = "OFF";

/// Why `name` cannot be one level of a topic, or `None` when it can.
pub(crate) fn topic_level_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.contains(['/', '+', '#', '\0']) {
        Some("contains '/', '+', '#' or NUL, which MQTT topics reserve")
    } else {
        None
    }
}

/// Why `prefix` cannot start topics, or `None` when it can (levels separated by '/').
pub(crate) fn topic_prefix_problem(prefix: &str) -> Option<&'static str> {
    prefix.split('/').find_map(topic_level_problem)
}

/// `text` with everything outside `[A-Za-z0-9_-]` replaced by `_`: what Home Assistant allows
/// in discovery topic levels.
fn discovery_id(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Topic names for one prefix (and, among replicas sharing it, one instance).
#[derive(Debug, Clone)]
pub(crate) struct Topics {
    prefix: String,
    discovery_prefix: Option<String>,
    instance_id: Option<String>,
}

impl Topics {
    pub(crate) fn new(
        prefix: &str,
        discovery_prefix: Option<&str>,
        instance_id: Option<&str>,
    ) -> Self {
        Self {
            prefix: prefix.to_owned(),
            discovery_prefix: discovery_prefix.map(str::to_owned),
            instance_id: instance_id.map(str::to_owned),
        }
    }

    /// `<prefix>/available`, or `<prefix>/available/<instance_id>` for one of several
    /// replicas, so one replica's last will does not mark the others' cameras unavailable.
    pub(crate) fn available(&self) -> String {
        match &self.instance_id {
            None => format!("{}/available", self.prefix),
            Some(instance) => format!("{}/available/{instance}", self.prefix),
        }
    }

    pub(crate) fn events(&self) -> String {
        format!("{}/events", self.prefix)
    }

    pub(crate) fn status(&self, camera: &CameraId) -> String {
        format!("{}/{camera}/status", self.prefix)
    }

    /// The motion topic of `camera`, or of one of its zones.
    pub(crate) fn motion(&self, camera: &CameraId, zone: Option<&str>) -> String {
        match zone {
            None => format!("{}/{camera}/motion", self.prefix),
            Some(zone) => format!("{}/{camera}/{zone}/motion", self.prefix),
        }
    }

    /// The discovery topic and payload of the binary sensor for `camera` (or one of its zones);
    /// `None` when discovery is off.
    pub(crate) fn discovery(
        &self,
        camera: &CameraId,
        zone: Option<&str>,
    ) -> Option<(String, String)> {
        let discovery_prefix = self.discovery_prefix.as_ref()?;
        let node = discovery_id(&self.prefix);
        let unique_id = match zone {
            None => discovery_id(&format!("{node}_{camera}_motion")),
            Some(zone) => discovery_id(&format!("{node}_{camera}_zone_{zone}_motion")),
        };
        let name = match zone {
            None => "Motion".to_owned(),
            Some(zone) => format!("Motion in {zone}"),
        };
        let version = env!("CARGO_PKG_VERSION");
        let payload = json!({
            "name": name,
            "unique_id": unique_id,
            "device_class": "motion",
            "state_topic": self.motion(camera, zone),
            "payload_on": ON,
            "payload_off": OFF,
            "qos": 1,
            // Available while the service is up and the camera streams; otherwise Home
            // Assistant shows "unavailable" rather than a misleading "off".
            "availability": [
                {
                    "topic": self.available(),
                    "payload_available": ONLINE,
                    "payload_not_available": OFFLINE,
                },
                {
                    "topic": self.status(camera),
                    "value_template": format!(
                        "{{{{ '{ONLINE}' if value == '{}' else '{OFFLINE}' }}}}",
                        state_word(CameraState::Streaming)
                    ),
                    "payload_available": ONLINE,
                    "payload_not_available": OFFLINE,
                },
            ],
            "availability_mode": "all",
            "device": {
                "identifiers": [discovery_id(&format!("{node}_{camera}"))],
                "name": camera.as_str(),
                "manufacturer": "Stillwatch",
                "model": "Motion detector (no imagery)",
                "sw_version": version,
            },
            "origin": {
                "name": "Stillwatch",
                "sw_version": version,
            },
        });
        let topic = format!("{discovery_prefix}/binary_sensor/{unique_id}/config");
        Some((topic, payload.to_string()))
    }
}

/// The word published for a camera state: its snake_case serde name (`backing_off`).
pub(crate) fn state_word(state: CameraState) -> String {
    match serde_json::to_value(state) {
        Ok(serde_json::Value::String(word)) => word,
        // CameraState serialises as a plain string; anything else would be a change there.
        other => format!("{other:?}"),
    }
}

/// Which cameras and zones have motion now, from the events seen so far.
#[derive(Debug, Default)]
pub(crate) struct MotionStates {
    cameras: BTreeMap<CameraId, CameraMotion>,
}

#[derive(Debug, Default)]
struct CameraMotion {
    /// Open events: id → zones touched so far.
    open: BTreeMap<u64, BTreeSet<String>>,
    /// Every zone announced or seen, so a zone is switched OFF when its event ends.
    zones: BTreeSet<String>,
}

impl MotionStates {
    /// Makes `zones` the known zones of `camera` (new ones start OFF; zones no longer listed
    /// get no state until an event names them again).
    pub(crate) fn announce(&mut self, camera: &CameraId, zones: &[String]) {
        let entry = self.cameras.entry(camera.clone()).or_default();
        entry.zones = zones.iter().cloned().collect();
    }

    pub(crate) fn forget(&mut self, camera: &CameraId) {
        self.cameras.remove(camera);
    }

    /// Takes `event` into account and returns the camera's whole state: `(None, on)` for the
    /// camera, then `(Some(zone), on)` per known zone, sorted.
    pub(crate) fn apply(&mut self, event: &MotionEvent) -> Vec<(Option<String>, bool)> {
        let camera = self.cameras.entry(event.camera.clone()).or_default();
        camera.zones.extend(event.zones.iter().cloned());
        match event.phase {
            EventPhase::Start | EventPhase::Update => {
                camera
                    .open
                    .entry(event.event_id)
                    .or_default()
                    .extend(event.zones.iter().cloned());
            }
            EventPhase::End => {
                camera.open.remove(&event.event_id);
            }
        }
        self.state_of(&event.camera)
    }

    /// The camera's state as [`MotionStates::apply`] returns it.
    pub(crate) fn state_of(&self, camera: &CameraId) -> Vec<(Option<String>, bool)> {
        let Some(camera) = self.cameras.get(camera) else {
            return vec![(None, false)];
        };
        let mut states = vec![(None, !camera.open.is_empty())];
        for zone in &camera.zones {
            let on = camera.open.values().any(|zones| zones.contains(zone));
            states.push((Some(zone.clone()), on));
        }
        states
    }
}

/// The order retained values go out after a reconnect: discovery first (so Home Assistant
/// knows the entity when its state arrives), then availability, status and motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rank {
    Discovery,
    Availability,
    Status,
    Motion,
}

/// The latest value of every retained topic, and which ones the broker has not been sent yet.
#[derive(Debug, Default)]
pub(crate) struct RetainedTable {
    entries: BTreeMap<String, Retained>,
    /// Topics to send, in order; each appears at most once (`Retained::dirty`).
    dirty: VecDeque<String>,
}

#[derive(Debug)]
struct Retained {
    /// Empty: delete the retained message at the broker, then forget the topic.
    payload: String,
    rank: Rank,
    dirty: bool,
}

impl RetainedTable {
    /// Sets `topic`'s value; it is (re)sent only when the value changed.
    pub(crate) fn set(&mut self, topic: String, payload: String, rank: Rank) {
        match self.entries.get_mut(&topic) {
            Some(entry) if entry.payload == payload => {}
            Some(entry) => {
                entry.payload = payload;
                if !entry.dirty {
                    entry.dirty = true;
                    self.dirty.push_back(topic);
                }
            }
            None => {
                self.entries.insert(
                    topic.clone(),
                    Retained {
                        payload,
                        rank,
                        dirty: true,
                    },
                );
                self.dirty.push_back(topic);
            }
        }
    }

    /// Sets `topic` only if it has no value yet (or is being deleted).
    pub(crate) fn set_if_absent(&mut self, topic: String, payload: &str, rank: Rank) {
        if self
            .entries
            .get(&topic)
            .is_none_or(|entry| entry.payload.is_empty())
        {
            self.set(topic, payload.to_owned(), rank);
        }
    }

    /// Deletes `topic`'s retained message at the broker (an empty retained payload).
    pub(crate) fn clear(&mut self, topic: String) {
        if let Some(rank) = self.entries.get(&topic).map(|entry| entry.rank) {
            self.set(topic, String::new(), rank);
        }
    }

    /// The next value to send, taken off the list (a cleared topic is forgotten here).
    pub(crate) fn next_dirty(&mut self) -> Option<(String, String)> {
        let topic = self.dirty.pop_front()?;
        let entry = self.entries.get_mut(&topic)?;
        entry.dirty = false;
        if entry.payload.is_empty() {
            self.entries.remove(&topic);
            return Some((topic, String::new()));
        }
        let payload = entry.payload.clone();
        Some((topic, payload))
    }

    /// Puts a value back at the front (it could not be handed to the client).
    pub(crate) fn unsend(&mut self, topic: String, payload: String) {
        let rank = self
            .entries
            .get(&topic)
            .map_or(Rank::Discovery, |entry| entry.rank);
        let entry = self.entries.entry(topic.clone()).or_insert(Retained {
            payload,
            rank,
            dirty: false,
        });
        if !entry.dirty {
            entry.dirty = true;
            self.dirty.push_front(topic);
        }
    }

    pub(crate) fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Every value is to be sent again (a new connection: the broker may have lost them).
    pub(crate) fn mark_all_dirty(&mut self) {
        let mut topics: Vec<(Rank, String)> = self
            .entries
            .iter()
            .map(|(topic, entry)| (entry.rank, topic.clone()))
            .collect();
        topics.sort();
        for entry in self.entries.values_mut() {
            entry.dirty = true;
        }
        self.dirty = topics.into_iter().map(|(_, topic)| topic).collect();
    }
}

#[cfg(test)]
mod tests {
    use sw_core::{EVENT_SCHEMA, MotionGrid};

    use super::*;

    fn camera(id: &str) -> CameraId {
        CameraId::new(id).unwrap()
    }

    fn event(id: u64, phase: EventPhase, zones: &[&str]) -> MotionEvent {
        MotionEvent {
            schema: EVENT_SCHEMA.to_owned(),
            camera: camera("gate"),
            event_id: id,
            phase,
            frame_seq: 0,
            time_millis: 0,
            start_millis: 0,
            end_millis: None,
            zones: zones.iter().map(|zone| (*zone).to_owned()).collect(),
            score: 0.1,
            peak_score: 0.1,
            boxes: Vec::new(),
            grid: MotionGrid {
                cols: 1,
                rows: 1,
                cells_percent: vec![0],
            },
        }
    }

    #[test]
    fn topic_names() {
        let topics = Topics::new("site/stillwatch", Some("homeassistant"), None);
        let gate = camera("gate.1");
        let table = [
            (topics.available(), "site/stillwatch/available"),
            (topics.events(), "site/stillwatch/events"),
            (topics.status(&gate), "site/stillwatch/gate.1/status"),
            (topics.motion(&gate, None), "site/stillwatch/gate.1/motion"),
            (
                topics.motion(&gate, Some("drive way")),
                "site/stillwatch/gate.1/drive way/motion",
            ),
            (
                topics.discovery(&gate, None).unwrap().0,
                "homeassistant/binary_sensor/site_stillwatch_gate_1_motion/config",
            ),
            (
                topics.discovery(&gate, Some("drive way")).unwrap().0,
                "homeassistant/binary_sensor/site_stillwatch_gate_1_zone_drive_way_motion/config",
            ),
        ];
        for (got, expected) in table {
            assert_eq!(got, expected);
        }
        assert!(
            Topics::new("x", None, None)
                .discovery(&gate, None)
                .is_none()
        );
        let replica = Topics::new("stillwatch", None, Some("shard-2"));
        assert_eq!(replica.available(), "stillwatch/available/shard-2");
    }

    #[test]
    fn bad_topic_levels_and_prefixes() {
        let table = [
            ("driveway", None),
            ("drive way", None),
            ("", Some("is empty")),
            (
                "a/b",
                Some("contains '/', '+', '#' or NUL, which MQTT topics reserve"),
            ),
            (
                "a+",
                Some("contains '/', '+', '#' or NUL, which MQTT topics reserve"),
            ),
        ];
        for (name, expected) in table {
            assert_eq!(topic_level_problem(name), expected, "{name:?}");
        }
        assert_eq!(topic_prefix_problem("site/stillwatch"), None);
        assert_eq!(topic_prefix_problem("site/"), Some("is empty"));
        assert!(topic_prefix_problem("site/#").is_some());
    }

    #[test]
    fn discovery_payload_has_what_home_assistant_needs() {
        let topics = Topics::new("stillwatch", Some("homeassistant"), None);
        let (_, payload) = topics.discovery(&camera("gate"), Some("porch")).unwrap();
        let value: serde_json::Value = serde_json::from_str(&payload).unwrap();
        let table = [
            ("/unique_id", json!("stillwatch_gate_zone_porch_motion")),
            ("/device_class", json!("motion")),
            ("/state_topic", json!("stillwatch/gate/porch/motion")),
            ("/payload_on", json!("ON")),
            ("/payload_off", json!("OFF")),
            ("/availability/0/topic", json!("stillwatch/available")),
            ("/availability/1/topic", json!("stillwatch/gate/status")),
            (
                "/availability/1/value_template",
                json!("{{ 'online' if value == 'streaming' else 'offline' }}"),
            ),
            ("/availability_mode", json!("all")),
            ("/device/identifiers/0", json!("stillwatch_gate")),
            ("/device/name", json!("gate")),
            ("/origin/name", json!("Stillwatch")),
        ];
        for (pointer, expected) in table {
            assert_eq!(value.pointer(pointer), Some(&expected), "{pointer}");
        }
    }

    #[test]
    fn camera_states_are_their_serde_words() {
        let table = [
            (CameraState::Connecting, "connecting"),
            (CameraState::Streaming, "streaming"),
            (CameraState::BackingOff, "backing_off"),
            (CameraState::AuthFailed, "auth_failed"),
        ];
        for (state, word) in table {
            assert_eq!(state_word(state), word);
        }
    }

    #[test]
    fn motion_follows_events_and_zones_stay_on_until_their_event_ends() {
        let mut states = MotionStates::default();
        states.announce(&camera("gate"), &["porch".to_owned()]);
        let on = |zone: Option<&str>, on: bool| (zone.map(str::to_owned), on);
        // (event, expected camera + zone states after it)
        let table = [
            (
                event(1, EventPhase::Start, &["drive"]),
                vec![
                    on(None, true),
                    on(Some("drive"), true),
                    on(Some("porch"), false),
                ],
            ),
            (
                event(1, EventPhase::Update, &["drive", "porch"]),
                vec![
                    on(None, true),
                    on(Some("drive"), true),
                    on(Some("porch"), true),
                ],
            ),
            (
                event(2, EventPhase::Start, &["porch"]),
                vec![
                    on(None, true),
                    on(Some("drive"), true),
                    on(Some("porch"), true),
                ],
            ),
            (
                event(1, EventPhase::End, &["drive", "porch"]),
                vec![
                    on(None, true),
                    on(Some("drive"), false),
                    on(Some("porch"), true),
                ],
            ),
            (
                event(2, EventPhase::End, &["porch"]),
                vec![
                    on(None, false),
                    on(Some("drive"), false),
                    on(Some("porch"), false),
                ],
            ),
        ];
        for (step, (event, expected)) in table.into_iter().enumerate() {
            assert_eq!(states.apply(&event), expected, "step {step}");
        }
        // A new announcement replaces the zones: a dropped zone gets no state any more.
        states.announce(&camera("gate"), &["porch".to_owned()]);
        assert_eq!(
            states.state_of(&camera("gate")),
            [on(None, false), on(Some("porch"), false)]
        );
    }

    #[test]
    fn retained_values_go_out_once_per_change_and_all_again_after_a_reconnect() {
        let mut table = RetainedTable::default();
        table.set("m".to_owned(), "OFF".to_owned(), Rank::Motion);
        table.set("d".to_owned(), "{}".to_owned(), Rank::Discovery);
        table.set("m".to_owned(), "ON".to_owned(), Rank::Motion);
        table.set_if_absent("m".to_owned(), "OFF", Rank::Motion);
        let mut sent = Vec::new();
        while let Some(next) = table.next_dirty() {
            sent.push(next);
        }
        assert_eq!(
            sent,
            [
                ("m".to_owned(), "ON".to_owned()),
                ("d".to_owned(), "{}".to_owned())
            ]
        );
        table.set("m".to_owned(), "ON".to_owned(), Rank::Motion);
        assert!(!table.has_dirty());
        table.mark_all_dirty();
        assert_eq!(table.next_dirty().unwrap().0, "d");
        table.clear("m".to_owned());
        assert_eq!(table.next_dirty(), Some(("m".to_owned(), String::new())));
        assert!(table.next_dirty().is_none());
        table.mark_all_dirty();
        assert_eq!(
            table.next_dirty().unwrap().0,
            "d",
            "m was forgotten after its deletion"
        );
        assert!(table.next_dirty().is_none());
        // A topic deleted and set again before the deletion went out gets the new value.
        table.set("s".to_owned(), "streaming".to_owned(), Rank::Status);
        table.clear("s".to_owned());
        table.set_if_absent("s".to_owned(), "connecting", Rank::Status);
        assert_eq!(
            table.next_dirty(),
            Some(("s".to_owned(), "connecting".to_owned()))
        );
    }
}
