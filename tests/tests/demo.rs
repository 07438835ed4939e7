//! The README's main command: `stillwatch demo` renders synthetic footage and prints the motion
//! events it finds; the events file holds a complete event.

// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

use std::fs;

use serde_json::Value;
use sw_tests::{run_ok, stillwatch};

#[test]
fn demo_prints_and_writes_a_complete_event() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_ok(
        stillwatch()
            .args(["demo", "--seconds", "6", "--out"])
            .arg(dir.path()),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("event 1 start"), "{stdout}");

    let events: Vec<Value> = fs::read_to_string(dir.path().join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let phases: Vec<&str> = events
        .iter()
        .map(|event| event["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases.first(), Some(&"start"), "{phases:?}");
    assert_eq!(phases.last(), Some(&"end"), "{phases:?}");
    for event in &events {
        assert_eq!(event["camera"], "demo");
        assert_eq!(event["schema"], "stillwatch.event/1");
    }
}
