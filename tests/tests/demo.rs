//! The README's main command: `stillwatch demo` serves simulated cameras, runs the live service
//! against them and prints events as they happen. Moving scenes raise complete events, the
//! quiet scene raises none, and the camera with the wrong password is reported, not retried in
//! a tight loop.

// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

use std::fs;

use serde_json::Value;
use sw_tests::{run_ok, stillwatch};

#[test]
fn demo_shows_events_from_moving_cameras_only() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_ok(
        stillwatch()
            .args(["demo", "--seconds", "8", "--out"])
            .arg(dir.path()),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("motion event 1 start"), "{stdout}");
    assert!(stdout.contains("lobby auth_failed"), "{stdout}");

    let records: Vec<Value> = fs::read_to_string(dir.path().join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let motion = |camera: &str| -> Vec<String> {
        records
            .iter()
            .filter(|r| r["schema"] == "stillwatch.event/1" && r["camera"] == camera)
            .map(|r| r["phase"].as_str().unwrap().to_string())
            .collect()
    };
    for camera in ["front-gate", "yard"] {
        let phases = motion(camera);
        assert_eq!(
            phases.first().map(String::as_str),
            Some("start"),
            "{camera}: {phases:?}"
        );
        assert_eq!(
            phases.last().map(String::as_str),
            Some("end"),
            "{camera}: {phases:?}"
        );
    }
    assert!(
        motion("car-park").is_empty(),
        "the quiet scene raised {:?}",
        motion("car-park")
    );
    assert!(
        records
            .iter()
            .any(|r| r["camera"] == "lobby" && r["kind"] == "auth_failed"),
        "no auth_failed health record for the lobby camera"
    );
    assert!(
        !fs::read_to_string(dir.path().join("events.jsonl"))
            .unwrap()
            .contains("demo-password")
    );
}
