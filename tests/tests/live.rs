//! `stillwatch run` end to end: the real binary against the RTSP camera simulator, with the
//! password in the environment; SIGHUP adds a camera, SIGTERM stops it cleanly.

// Helpers outside the #[test] function unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sw_camsim::{
    AuthOptions, CamsimOptions, Credentials, MountOptions, Resolution, Secret, Simulator,
};
use sw_tests::stillwatch;

const PASSWORD: &str = "e2e-correct-horse";
/// Bounds how long a failing test waits; not a speed requirement.
const DEADLINE: Duration = Duration::from_secs(60);

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn wait_for(child: &mut Child, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("stillwatch run exited ({status}) before {what}");
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("never {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

fn config(port: u16, cameras: &[&str]) -> String {
    let mut text = String::from(
        "[analysis]\nwidth = 160\n\
         [service]\nstall_timeout_millis = 2000\nbackoff_initial_millis = 200\nbackoff_max_millis = 1000\n\
         [events]\nmin_duration_millis = 400\ncooldown_millis = 1000\n",
    );
    for id in cameras {
        text.push_str(&format!(
            "\n[[cameras]]\nid = \"{id}\"\nurl = \"rtsp://127.0.0.1:{port}/{id}\"\n\
             username = \"admin\"\npassword_env = \"SW_E2E_PASSWORD\"\n"
        ));
    }
    text
}

#[test]
fn run_writes_events_reloads_on_sighup_and_stops_cleanly_on_sigterm() {
    let mount = |path: &str, seed| MountOptions {
        resolution: Some(Resolution::new(320, 180)),
        auth: AuthOptions::DigestMd5(Credentials {
            username: "admin".to_owned(),
            password: Secret::new(PASSWORD),
        }),
        ..MountOptions::synthetic(path, seed)
    };
    let sim = Simulator::start(&CamsimOptions {
        mounts: vec![mount("/gate", 21), mount("/yard", 22)],
        ..CamsimOptions::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("site.toml");
    let events = dir.path().join("events.jsonl");
    std::fs::write(&config_path, config(sim.port(), &["gate"])).unwrap();

    let mut child = stillwatch()
        .args(["run", "--config"])
        .arg(&config_path)
        .arg("--events")
        .arg(&events)
        .env("SW_E2E_PASSWORD", PASSWORD)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let has = |camera: &str, schema: &str, field: &str, value: &str| {
        records(&events).iter().any(|record| {
            record["camera"] == camera && record["schema"] == schema && record[field] == value
        })
    };
    wait_for(&mut child, "an event starts on gate", || {
        has("gate", "stillwatch.event/1", "phase", "start")
    });

    std::fs::write(&config_path, config(sim.port(), &["gate", "yard"])).unwrap();
    signal(&child, "HUP");
    wait_for(&mut child, "yard connects after SIGHUP", || {
        has("yard", "stillwatch.health/1", "kind", "connected")
    });

    signal(&child, "TERM");
    let asked = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if asked.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("stillwatch run did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stopped_after = asked.elapsed();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(status.success(), "{status}\n{stderr}");
    assert!(
        stopped_after < Duration::from_secs(5),
        "took {stopped_after:?}"
    );
    assert!(
        !stderr.contains(PASSWORD),
        "the password is in the log:\n{stderr}"
    );

    let records = records(&events);
    let text = std::fs::read_to_string(&events).unwrap();
    assert!(!text.contains(PASSWORD));
    let motion: Vec<&Value> = records
        .iter()
        .filter(|record| record["schema"] == "stillwatch.event/1")
        .collect();
    assert!(!motion.is_empty());
    for start in motion.iter().filter(|record| record["phase"] == "start") {
        let same = |record: &&&Value| {
            record["camera"] == start["camera"] && record["event_id"] == start["event_id"]
        };
        let last = motion.iter().rfind(same).unwrap();
        assert_eq!(last["phase"], "end", "open event left behind: {start}");
    }
}
