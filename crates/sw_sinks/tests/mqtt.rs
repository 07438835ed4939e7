//! The MQTT sink against a real Mosquitto broker (started here, on loopback): topics, retained
//! flags and discovery; a broker outage with no event lost or reordered; the spill folder
//! across a restart; the last will when the process is killed; login and TLS.

#![allow(clippy::unwrap_used)]

#[path = "support/broker.rs"]
mod broker;
#[path = "support/common.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use broker::{Message, Mosquitto, Subscriber, free_port};
use common::{
    CHILD_ROLE, events, first_occurrences, key_of, queued_files, spawn_child, wait_until,
};
use sw_core::{CameraId, Credentials, MotionEvent, Secret};
use sw_sinks::{CameraDescription, CameraState, MqttOptions, MqttSink, MqttTls, SinkError};

/// Short back-off, so outages end quickly in tests.
fn options(port: u16, spill_dir: &Path) -> MqttOptions {
    let mut options = MqttOptions::new("127.0.0.1", spill_dir);
    options.port = port;
    options.client_id = format!("stillwatch-test-{port}");
    options.connect_timeout = Duration::from_secs(2);
    options.reconnect_initial = Duration::from_millis(50);
    options.reconnect_max = Duration::from_millis(200);
    options
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

fn events_in(messages: &[Message]) -> Vec<MotionEvent> {
    messages
        .iter()
        .filter(|message| message.topic == "stillwatch/events")
        .map(|message| serde_json::from_str(&message.payload).unwrap())
        .collect()
}

fn gate() -> CameraId {
    CameraId::new("gate").unwrap()
}

#[test]
fn events_states_and_discovery_arrive_on_their_topics_with_the_right_retained_flags() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), 0, |_| String::new());
    let live = Subscriber::start(
        broker.port,
        "live",
        &["stillwatch/#", "homeassistant/#"],
        false,
    );
    let sink = MqttSink::start(options(broker.port, &dir.path().join("spill"))).unwrap();
    sink.announce_cameras(&[CameraDescription {
        id: gate(),
        zones: vec!["driveway".to_owned(), "porch".to_owned()],
    }])
    .unwrap();
    sink.publish_camera_state(&gate(), CameraState::Streaming);
    let stream = events(6);
    let gate_events: Vec<&MotionEvent> = stream.iter().filter(|e| e.camera == gate()).collect();
    // start: motion ON, driveway ON, porch still OFF.
    sink.publish_event(gate_events[0]).unwrap();
    let seen = live.wait_for("the start event and ON states", |messages| {
        !events_in(messages).is_empty()
            && messages
                .iter()
                .any(|m| m.topic == "stillwatch/gate/driveway/motion" && m.payload == "ON")
    });
    assert_eq!(events_in(&seen), [gate_events[0].clone()]);
    assert_eq!(
        live.last_on("stillwatch/gate/motion").unwrap().payload,
        "ON"
    );
    assert_eq!(
        live.last_on("stillwatch/gate/porch/motion")
            .unwrap()
            .payload,
        "OFF"
    );
    // update (porch joins), then end: everything OFF.
    sink.publish_event(gate_events[1]).unwrap();
    sink.publish_event(gate_events[2]).unwrap();
    let seen = live.wait_for("the end event", |messages| events_in(messages).len() == 3);
    assert_eq!(
        events_in(&seen),
        gate_events.iter().map(|e| (*e).clone()).collect::<Vec<_>>()
    );
    live.wait_for("motion OFF", |_| {
        live.last_on("stillwatch/gate/motion")
            .is_some_and(|m| m.payload == "OFF")
            && live
                .last_on("stillwatch/gate/porch/motion")
                .is_some_and(|m| m.payload == "OFF")
    });

    // A new subscriber gets the retained values, flagged retained, and no events.
    let fresh = Subscriber::start(
        broker.port,
        "fresh",
        &["stillwatch/#", "homeassistant/#"],
        false,
    );
    let expected: BTreeMap<&str, &str> = [
        ("stillwatch/available", "online"),
        ("stillwatch/gate/status", "streaming"),
        ("stillwatch/gate/motion", "OFF"),
        ("stillwatch/gate/driveway/motion", "OFF"),
        ("stillwatch/gate/porch/motion", "OFF"),
    ]
    .into();
    let retained = fresh.wait_for("the retained values", |messages| {
        messages.len() >= expected.len() + 3
    });
    std::thread::sleep(Duration::from_millis(300));
    let retained_after_a_while = fresh.messages();
    assert_eq!(
        retained, retained_after_a_while,
        "only retained messages arrive"
    );
    assert!(
        retained.iter().all(|message| message.retain),
        "{retained:#?}"
    );
    for (topic, payload) in &expected {
        assert_eq!(fresh.last_on(topic).unwrap().payload, *payload, "{topic}");
    }
    assert!(events_in(&retained).is_empty());

    // Discovery: a binary sensor per camera and zone, each pointing at a retained state.
    let configs: Vec<(String, serde_json::Value)> = retained
        .iter()
        .filter(|message| message.topic.starts_with("homeassistant/"))
        .map(|message| {
            (
                message.topic.clone(),
                serde_json::from_str(&message.payload).unwrap(),
            )
        })
        .collect();
    assert_eq!(configs.len(), 3);
    let mut unique_ids = Vec::new();
    for (topic, config) in &configs {
        let unique_id = config["unique_id"].as_str().unwrap();
        assert_eq!(
            *topic,
            format!("homeassistant/binary_sensor/{unique_id}/config")
        );
        assert_eq!(config["device_class"], "motion");
        assert_eq!(config["payload_on"], "ON");
        assert_eq!(config["payload_off"], "OFF");
        let state_topic = config["state_topic"].as_str().unwrap();
        assert!(expected.contains_key(state_topic), "{state_topic}");
        let availability: Vec<&str> = config["availability"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["topic"].as_str().unwrap())
            .collect();
        assert_eq!(
            availability,
            ["stillwatch/available", "stillwatch/gate/status"]
        );
        assert_eq!(config["device"]["identifiers"][0], "stillwatch_gate");
        assert!(config["name"].is_string() && config["origin"]["name"].is_string());
        unique_ids.push(unique_id.to_owned());
    }
    unique_ids.sort();
    unique_ids.dedup();
    assert_eq!(unique_ids.len(), 3);

    // A zone dropped from the config is retracted: empty retained discovery payload.
    sink.announce_cameras(&[CameraDescription {
        id: gate(),
        zones: vec!["driveway".to_owned()],
    }])
    .unwrap();
    live.wait_for("the porch sensor's retraction", |messages| {
        messages.iter().any(|m| {
            m.topic == "homeassistant/binary_sensor/stillwatch_gate_zone_porch_motion/config"
                && m.payload.is_empty()
        })
    });

    // A clean shutdown says offline.
    sink.shutdown(soon()).unwrap();
    live.wait_for("offline", |_| {
        live.last_on("stillwatch/available")
            .is_some_and(|m| m.payload == "offline")
    });
}

#[test]
fn no_event_is_lost_or_reordered_while_the_broker_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(dir.path(), 0, |_| String::new());
    // A persistent session: the broker keeps the subscription across its restart and queues
    // what arrives before this subscriber is back.
    let subscriber = Subscriber::start(broker.port, "outage-watcher", &["stillwatch/events"], true);
    let mut sink_options = options(broker.port, &dir.path().join("spill"));
    sink_options.memory_queue_events = 20;
    let spill_dir = sink_options.spill_dir.clone();
    let sink = MqttSink::start(sink_options).unwrap();
    let stream = events(200);
    for event in &stream[..80] {
        sink.publish_event(event).unwrap();
    }
    broker.stop();
    wait_until("the sink to notice the outage", || !sink.status().connected);
    for event in &stream[80..] {
        sink.publish_event(event).unwrap();
    }
    let during = sink.status();
    assert!(during.queued_events >= 120, "{during:?}");
    assert!(
        during.spilled_events >= 100,
        "beyond 20 in memory they spill: {during:?}"
    );
    assert!(queued_files(&spill_dir) >= 100);
    broker.restart();

    let seen = subscriber.wait_for("all 200 events", |messages| {
        first_occurrences(&events_in(messages).iter().map(key_of).collect::<Vec<_>>()).len() == 200
    });
    let received = events_in(&seen);
    assert_eq!(
        first_occurrences(&received),
        stream,
        "every event, in order (a repeat is allowed only after its first copy)"
    );
    wait_until("the queue to empty", || sink.status().queued_events == 0);
    assert_eq!(queued_files(&spill_dir), 0);
    let status = sink.status();
    assert!(
        status.connected && status.connection_failures >= 1,
        "{status:?}"
    );
    assert!(status.last_error.is_some());
    sink.shutdown(soon()).unwrap();
}

#[test]
fn a_clean_shutdown_spills_what_is_undelivered_and_the_next_start_sends_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let spill_dir = dir.path().join("spill");
    let stream = events(30);
    // No broker yet: start succeeds and events queue.
    let mut away = options(free_port(), &spill_dir);
    away.memory_queue_events = 5;
    let sink = MqttSink::start(away).unwrap();
    for event in &stream[..20] {
        sink.publish_event(event).unwrap();
    }
    let status = sink.status();
    assert_eq!((status.queued_events, status.spilled_events), (20, 15));
    assert!(
        !status.connected && status.last_error.is_some(),
        "{status:?}"
    );
    sink.shutdown(soon()).unwrap();
    assert_eq!(
        queued_files(&spill_dir),
        20,
        "memory written out at shutdown"
    );

    let broker = Mosquitto::start(dir.path(), 0, |_| String::new());
    let subscriber = Subscriber::start(broker.port, "after-restart", &["stillwatch/events"], false);
    let sink = MqttSink::start(options(broker.port, &spill_dir)).unwrap();
    for event in &stream[20..] {
        sink.publish_event(event).unwrap();
    }
    let seen = subscriber.wait_for("all 30 events", |messages| {
        first_occurrences(&events_in(messages)).len() == 30
    });
    assert_eq!(first_occurrences(&events_in(&seen)), stream);
    wait_until("the queue to empty", || sink.status().queued_events == 0);
    sink.shutdown(soon()).unwrap();
    assert_eq!(queued_files(&spill_dir), 0);
}

#[test]
fn a_killed_process_leaves_offline_through_its_last_will() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), 0, |_| String::new());
    let live = Subscriber::start(
        broker.port,
        "will-watcher",
        &["stillwatch/available"],
        false,
    );
    let ready = dir.path().join("child-ready");
    let mut child = spawn_child(
        "child_mqtt_sink_until_killed",
        "mqtt",
        &[
            ("SW_SINKS_PORT", broker.port.to_string()),
            (
                "SW_SINKS_DIR",
                dir.path().join("child").display().to_string(),
            ),
            ("SW_SINKS_READY", ready.display().to_string()),
        ],
    );
    wait_until("the child to connect", || ready.exists());
    live.wait_for("online", |_| {
        live.last_on("stillwatch/available")
            .is_some_and(|m| m.payload == "online")
    });
    child.kill().unwrap(); // SIGKILL: no goodbye, the socket just closes.
    child.wait().unwrap();
    live.wait_for("offline from the last will", |_| {
        live.last_on("stillwatch/available")
            .is_some_and(|m| m.payload == "offline")
    });
    let fresh = Subscriber::start(broker.port, "will-fresh", &["stillwatch/available"], false);
    let retained = fresh.wait_for("the retained will", |messages| !messages.is_empty());
    assert_eq!(
        retained[0],
        Message {
            topic: "stillwatch/available".to_owned(),
            payload: "offline".to_owned(),
            retain: true
        }
    );
}

/// Child process of `a_killed_process_leaves_offline_through_its_last_will`.
#[test]
#[ignore = "a child process of another test; does nothing when run by hand"]
fn child_mqtt_sink_until_killed() {
    if std::env::var(CHILD_ROLE).as_deref() != Ok("mqtt") {
        return;
    }
    let port: u16 = std::env::var("SW_SINKS_PORT").unwrap().parse().unwrap();
    let spill_dir = std::env::var("SW_SINKS_DIR").unwrap();
    let sink = MqttSink::start(options(port, Path::new(&spill_dir))).unwrap();
    wait_until("a connection", || sink.status().connected);
    std::fs::write(std::env::var("SW_SINKS_READY").unwrap(), b"").unwrap();
    // The parent kills us; if it does not, stop on our own.
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_wrong_broker_password_is_a_clear_error_that_never_shows_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let passwords = dir.path().join("passwords");
    let made = Command::new("mosquitto_passwd")
        .args(["-c", "-b"])
        .arg(&passwords)
        .args(["stillwatch", "correct-horse-battery"])
        .status()
        .unwrap();
    assert!(made.success());
    let broker = Mosquitto::start(dir.path(), 1, |ports| {
        format!(
            "listener {} 127.0.0.1\nallow_anonymous false\npassword_file {}\n",
            ports[0],
            passwords.display()
        )
    });
    let login = |password: &str| {
        let mut options = options(broker.extra_ports[0], &dir.path().join("spill"));
        options.credentials = Some(Credentials::new("stillwatch", Secret::new(password)));
        options
    };

    let error = MqttSink::start(login("wrong-staple-guess")).unwrap_err();
    assert!(
        matches!(error, SinkError::BrokerRefused { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    let debug = format!("{error:?} {:?}", login("wrong-staple-guess"));
    for text in [&message, &debug] {
        assert!(!text.contains("wrong-staple-guess"), "{text}");
    }
    assert!(
        message.contains("refused the connection for user \"stillwatch\""),
        "{message}"
    );
    assert!(
        message.contains("not authorised") || message.contains("bad user name or password"),
        "{message}"
    );
    assert!(
        message.contains(&format!("127.0.0.1:{}", broker.extra_ports[0])),
        "{message}"
    );

    let sink = MqttSink::start(login("correct-horse-battery")).unwrap();
    assert!(sink.status().connected);
    sink.shutdown(soon()).unwrap();
}

#[test]
fn tls_connects_with_a_private_ca_and_refuses_a_broker_it_cannot_verify() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path();
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(certs)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Stillwatch test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(certs.join("san.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.cnf",
    ]);
    let broker = Mosquitto::start(dir.path(), 1, |ports| {
        format!(
            "listener {} 127.0.0.1\nallow_anonymous true\ncafile {dir}/ca.pem\n\
             certfile {dir}/server.pem\nkeyfile {dir}/server.key\n",
            ports[0],
            dir = certs.display()
        )
    });
    let tls_port = broker.extra_ports[0];
    let subscriber = Subscriber::start(broker.port, "tls-watcher", &["stillwatch/events"], false);

    let mut trusted = options(tls_port, &dir.path().join("spill-trusted"));
    trusted.tls = Some(MqttTls {
        ca_file: Some(certs.join("ca.pem")),
    });
    let sink = MqttSink::start(trusted).unwrap();
    assert!(sink.status().connected);
    let event = events(1).remove(0);
    sink.publish_event(&event).unwrap();
    let seen = subscriber.wait_for("the event over TLS", |messages| !messages.is_empty());
    assert_eq!(events_in(&seen), [event]);
    sink.shutdown(soon()).unwrap();

    // The public roots do not vouch for our test CA: no connection, and status says why.
    let mut untrusted = options(tls_port, &dir.path().join("spill-untrusted"));
    untrusted.tls = Some(MqttTls::default());
    untrusted.client_id = "untrusted".to_owned();
    let sink = MqttSink::start(untrusted).unwrap();
    let status = sink.status();
    assert!(!status.connected);
    let reason = status.last_error.unwrap_or_default();
    assert!(
        reason.contains("certificate") || reason.contains("UnknownIssuer"),
        "{reason}"
    );
    sink.shutdown(soon()).unwrap();
}
