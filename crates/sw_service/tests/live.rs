//! The service against real RTSP on loopback: the camera simulator (sw_camsim) serves
//! synthetic scenes, refuses wrong passwords, restarts and stalls on demand; the service's
//! events file and status are checked.
//!
//! Deadlines are generous (two busy cores run many encoders at once) and only bound how long a
//! failing test hangs; nothing here asserts speed.

// Helpers outside the #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::Digest as _;
use sw_camsim::{
    AuthOptions, CamsimOptions, Credentials, MountOptions, Resolution, Secret, Simulator,
    SyntheticOptions,
};
use sw_service::{CameraState, CameraStatus, EventsOutput, Service, ServiceOptions, Shard};

const DEADLINE: Duration = Duration::from_secs(40);
const SMALL: Resolution = Resolution::new(320, 180);

/// Short timeouts and back-offs so faults are seen and recovered quickly; small frames; events
/// that start after 0.4 s of motion and end after 1 s of quiet.
const SERVICE: &str = r#"
[analysis]
width = 160

[service]
analysis_fps = 5
events_path = "events.jsonl"
connect_timeout_millis = 3000
stall_timeout_millis = 1500
backoff_initial_millis = 200
backoff_max_millis = 1000
auth_retry_millis = 1000

[events]
min_duration_millis = 400
cooldown_millis = 1000
"#;

fn mount(path: &str, seed: u64) -> MountOptions {
    MountOptions {
        resolution: Some(SMALL),
        ..MountOptions::synthetic(path, seed)
    }
}

/// A mount whose scene never moves: only sensor noise.
fn static_mount(path: &str, seed: u64) -> MountOptions {
    MountOptions {
        source: sw_camsim::SourceOptions::Synthetic(SyntheticOptions {
            seed,
            shapes: 0,
            ..SyntheticOptions::default()
        }),
        ..mount(path, seed)
    }
}

fn simulator(mounts: Vec<MountOptions>) -> Simulator {
    Simulator::start(&CamsimOptions {
        mounts,
        ..CamsimOptions::default()
    })
    .unwrap()
}

/// `[[cameras]]` entry for `id` at `url`, with `extra` lines.
fn camera(id: &str, url: &str, extra: &str) -> String {
    format!("\n[[cameras]]\nid = \"{id}\"\nurl = \"{url}\"\n{extra}\n")
}

/// A temporary folder holding the config file and the events file.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("site.toml")
    }

    fn events_path(&self) -> PathBuf {
        self.dir.path().join("events.jsonl")
    }

    fn write_config(&self, cameras: &str) {
        std::fs::write(self.config_path(), format!("{SERVICE}{cameras}")).unwrap();
    }

    fn start(&self, cameras: &str) -> Service {
        self.write_config(cameras);
        Service::start(ServiceOptions {
            config_path: self.config_path(),
            events: None,
            shard: None,
        })
        .unwrap()
    }

    /// Every record written so far, parsed.
    fn records(&self) -> Vec<Value> {
        read_records(&self.events_path())
    }
}

fn read_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn motion_records<'a>(records: &'a [Value], camera: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|record| record["schema"] == "stillwatch.event/1" && record["camera"] == camera)
        .collect()
}

fn health_kinds(records: &[Value], camera: &str) -> Vec<String> {
    records
        .iter()
        .filter(|record| record["schema"] == "stillwatch.health/1" && record["camera"] == camera)
        .map(|record| record["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn status_of(service: &Service, camera: &str) -> CameraStatus {
    service
        .status()
        .into_iter()
        .find(|status| status.camera.as_str() == camera)
        .unwrap_or_else(|| panic!("no camera {camera} in status"))
}

/// Polls `done` until it holds; fails with `what` and the last status after [`DEADLINE`].
fn wait_until(service: &Service, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "never {what}; status {:#?}",
            service.status()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `camera` streams and has delivered more than `frames` frames.
fn wait_streaming(service: &Service, camera: &str, frames: u64) -> CameraStatus {
    let mut last = None;
    wait_until(
        service,
        &format!("{camera} streaming past {frames} frames"),
        || {
            let status = status_of(service, camera);
            let done = status.state == CameraState::Streaming && status.frames_received > frames;
            last = Some(status);
            done
        },
    );
    last.unwrap()
}

/// Every log line of this test process, for checking that secrets never reach a log.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&logs);
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || LogWriter(Arc::clone(&writer)))
            .init();
        logs
    }))
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn motion_becomes_events_and_shutdown_closes_them_and_flushes() {
    let sim = simulator(vec![mount("/Streaming/Channels/102", 3)]);
    let site = Site::new();
    let service = site.start(&camera("yard", &sim.url("/Streaming/Channels/102"), ""));
    wait_until(&service, "an event starts", || {
        motion_records(&site.records(), "yard")
            .iter()
            .any(|record| record["phase"] == "start")
    });
    service.shutdown().unwrap();

    let records = site.records();
    let events = motion_records(&records, "yard");
    let last_of = |event_id: &Value| {
        events
            .iter()
            .rfind(|record| &record["event_id"] == event_id)
            .unwrap()
    };
    for start in events.iter().filter(|record| record["phase"] == "start") {
        let last = last_of(&start["event_id"]);
        assert_eq!(
            last["phase"], "end",
            "event {} is closed",
            start["event_id"]
        );
        assert!(last["end_millis"].is_u64(), "{last}");
    }
    assert_eq!(
        health_kinds(&records, "yard").first().map(String::as_str),
        Some("connected")
    );
}

#[test]
fn a_wrong_password_is_auth_failed_while_another_camera_streams_and_no_secret_leaks() {
    let logs = captured_logs();
    let (right, wrong) = ("correct-horse-battery", "hunter2-not-it");
    let guarded = |path: &str, seed| MountOptions {
        auth: AuthOptions::DigestMd5(Credentials {
            username: "admin".to_owned(),
            password: Secret::new(right),
        }),
        ..mount(path, seed)
    };
    let sim = simulator(vec![guarded("/good", 4), guarded("/bad", 5)]);
    let site = Site::new();
    let secret_file = |name: &str, password: &str| {
        let path = site.dir.path().join(name);
        std::fs::write(&path, format!("{password}\n")).unwrap();
        format!("username = \"admin\"\npassword_file = \"{name}\"")
    };
    let cameras = camera("good", &sim.url("/good"), &secret_file("good.pw", right))
        + &camera("bad", &sim.url("/bad"), &secret_file("bad.pw", wrong));
    let service = site.start(&cameras);

    wait_until(&service, "bad is auth_failed", || {
        status_of(&service, "bad").state == CameraState::AuthFailed
    });
    let before = wait_streaming(&service, "good", 0).frames_received;
    wait_streaming(&service, "good", before + 10);
    assert_eq!(status_of(&service, "bad").state, CameraState::AuthFailed);

    let printed = format!(
        "{service:?}\n{:?}\n{}",
        service.status(),
        serde_json::to_string(&service.status()).unwrap()
    );
    service.shutdown().unwrap();
    let events = std::fs::read_to_string(site.events_path()).unwrap();
    assert!(
        health_kinds(&site.records(), "bad").contains(&"auth_failed".to_owned()),
        "{events}"
    );
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("good"), "logs are captured: {logs}");
    for (what, text) in [
        ("logs", &logs),
        ("events", &events),
        ("status and Debug", &printed),
    ] {
        for password in [right, wrong] {
            assert!(
                !text.contains(password),
                "a password is in the {what}:\n{text}"
            );
        }
    }
}

#[test]
fn a_server_restart_reconnects_and_raises_no_false_event() {
    let sim = simulator(vec![static_mount("/still", 6)]);
    let site = Site::new();
    let service = site.start(&camera("still", &sim.url("/still"), ""));
    let before = wait_streaming(&service, "still", 5);

    sim.mount("/still")
        .unwrap()
        .restart(Duration::from_millis(500));
    wait_until(&service, "a reconnect", || {
        status_of(&service, "still").reconnects > before.reconnects
    });
    let after = wait_streaming(&service, "still", before.frames_received);
    wait_streaming(&service, "still", after.frames_received + 10);
    service.shutdown().unwrap();

    let records = site.records();
    assert_eq!(motion_records(&records, "still"), Vec::<&Value>::new());
    let kinds = health_kinds(&records, "still");
    let connects = kinds.iter().filter(|kind| *kind == "connected").count();
    assert!(connects >= 2, "{kinds:?}");
    // The restart reads as a dropped connection or, when the close is not seen, a stall.
    assert!(
        kinds
            .iter()
            .any(|kind| kind == "disconnected" || kind == "stalled"),
        "{kinds:?}"
    );
}

#[test]
fn a_stall_is_reported_and_streaming_recovers() {
    let sim = simulator(vec![mount("/stall", 7)]);
    let site = Site::new();
    let service = site.start(&camera("stall", &sim.url("/stall"), ""));
    let before = wait_streaming(&service, "stall", 2);

    let control = sim.mount("/stall").unwrap();
    control.stall();
    wait_until(&service, "stalled", || {
        health_kinds(&site.records(), "stall").contains(&"stalled".to_owned())
    });
    control.resume();
    wait_until(&service, "a reconnect", || {
        status_of(&service, "stall").reconnects > before.reconnects
    });
    let after = wait_streaming(&service, "stall", before.frames_received);
    wait_streaming(&service, "stall", after.frames_received + 5);
    service.shutdown().unwrap();

    let kinds = health_kinds(&site.records(), "stall");
    let stalled = kinds.iter().position(|kind| kind == "stalled").unwrap();
    assert!(
        kinds[stalled..].iter().any(|kind| kind == "connected"),
        "connected again after the stall: {kinds:?}"
    );
}

#[test]
fn sixteen_cameras_stream_at_once() {
    let paths: Vec<String> = (1..=16)
        .map(|channel| format!("/Streaming/Channels/{channel}02"))
        .collect();
    let sim = simulator(
        paths
            .iter()
            .zip(1..)
            .map(|(path, seed)| mount(path, seed))
            .collect(),
    );
    let site = Site::new();
    // Vendor form: the config builds the same Hikvision sub-stream paths.
    let cameras: String = (1..=16)
        .map(|channel| {
            format!(
                "\n[[cameras]]\nid = \"cam-{channel:02}\"\nvendor = \"hikvision\"\nhost = \"127.0.0.1\"\n\
                 port = {}\nchannel = {channel}\n",
                sim.port()
            )
        })
        .collect();
    let service = site.start(&cameras);
    assert_eq!(service.status().len(), 16);
    for channel in 1..=16 {
        wait_streaming(&service, &format!("cam-{channel:02}"), 3);
    }
    service.shutdown().unwrap();
}

#[test]
fn reload_adds_removes_and_restarts_only_what_changed() {
    let sim = simulator(vec![
        mount("/a", 11),
        mount("/b", 12),
        mount("/c", 13),
        mount("/d", 14),
    ]);
    let site = Site::new();
    let entry = |id: &str, extra: &str| camera(id, &sim.url(&format!("/{id}")), extra);
    let mut service = site.start(&(entry("a", "") + &entry("b", "") + &entry("c", "")));
    for id in ["a", "b", "c"] {
        wait_streaming(&service, id, 2);
    }
    let a_before = status_of(&service, "a");

    // A config that does not load changes nothing.
    std::fs::write(site.config_path(), "[service]\nanalysis_fps = 0\n").unwrap();
    assert!(service.reload().is_err());
    assert_eq!(service.status().len(), 3);

    site.write_config(&(entry("a", "") + &entry("b", "width = 128") + &entry("d", "")));
    let summary = service.reload().unwrap();
    let ids = |ids: &[sw_core::CameraId]| ids.iter().map(|id| id.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&summary.added), ["d"]);
    assert_eq!(ids(&summary.removed), ["c"]);
    assert_eq!(ids(&summary.changed), ["b"]);
    assert_eq!(ids(&summary.unchanged), ["a"]);

    let listed: Vec<String> = service
        .status()
        .iter()
        .map(|status| status.camera.to_string())
        .collect();
    assert_eq!(listed, ["a", "b", "d"]);
    let a_after = status_of(&service, "a");
    assert_eq!(
        a_after.since_unix_millis, a_before.since_unix_millis,
        "a untouched"
    );
    assert!(a_after.frames_received >= a_before.frames_received);
    wait_streaming(&service, "a", a_after.frames_received + 5);
    wait_streaming(&service, "b", 2);
    wait_streaming(&service, "d", 2);
    service.shutdown().unwrap();
}

#[test]
fn events_can_go_to_a_file_given_in_the_options() {
    let sim = simulator(vec![mount("/cam/realmonitor", 15)]);
    let site = Site::new();
    site.write_config(&format!(
        "\n[[cameras]]\nid = \"dahua\"\nvendor = \"dahua\"\nhost = \"127.0.0.1\"\nport = {}\n",
        sim.port()
    ));
    let elsewhere = site.dir.path().join("elsewhere/out.jsonl");
    let service = Service::start(ServiceOptions {
        config_path: site.config_path(),
        events: Some(EventsOutput::File(elsewhere.clone())),
        shard: None,
    })
    .unwrap();
    wait_streaming(&service, "dahua", 2);
    service.shutdown().unwrap();
    let records = read_records(&elsewhere);
    assert_eq!(
        health_kinds(&records, "dahua").first().map(String::as_str),
        Some("connected")
    );
    assert!(!site.events_path().exists());
}

#[test]
fn a_missing_password_variable_fails_the_start_and_says_which() {
    let site = Site::new();
    site.write_config(&camera(
        "gate",
        "rtsp://127.0.0.1:1/x",
        "username = \"admin\"\npassword_env = \"SW_SERVICE_TEST_UNSET_PASSWORD\"",
    ));
    let error = Service::start(ServiceOptions {
        config_path: site.config_path(),
        events: None,
        shard: None,
    })
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "camera gate: cannot read its password (password_env = \"SW_SERVICE_TEST_UNSET_PASSWORD\"): \
         the variable is not set in the service's environment"
    );
}

#[test]
fn shards_split_the_cameras_between_replicas() {
    let site = Site::new();
    // Disabled cameras are listed in status without connecting anywhere.
    let cameras: String = (0..12)
        .map(|i| {
            camera(
                &format!("cam-{i}"),
                "rtsp://127.0.0.1:9/none",
                "enabled = false",
            )
        })
        .collect();
    site.write_config(&cameras);
    let mut seen: Vec<String> = Vec::new();
    for index in 0..3 {
        let service = Service::start(ServiceOptions {
            config_path: site.config_path(),
            events: None,
            shard: Some(Shard::new(index, 3).unwrap()),
        })
        .unwrap();
        let share: Vec<String> = service
            .status()
            .iter()
            .map(|status| status.camera.to_string())
            .collect();
        assert!(
            !share.is_empty() && share.len() < 12,
            "replica {index}: {share:?}"
        );
        seen.extend(share);
        service.shutdown().unwrap();
    }
    seen.sort();
    let mut all: Vec<String> = (0..12).map(|i| format!("cam-{i}")).collect();
    all.sort();
    assert_eq!(seen, all, "every camera exactly once over the 3 replicas");
}

/// Every record of the audit log in `dir`, in order (segment files sort by first record).
fn audit_records(dir: &Path) -> Vec<Value> {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    segments.sort();
    segments
        .iter()
        .flat_map(|path| read_records(path))
        .collect()
}

#[test]
fn every_emitted_event_is_in_the_signed_audit_log_first() {
    let sim = simulator(vec![mount("/Streaming/Channels/102", 3)]);
    let site = Site::new();
    let (secret, public) = (
        site.dir.path().join("audit.key"),
        site.dir.path().join("audit.pub"),
    );
    let key = sw_audit::keygen(&secret, &public).unwrap();
    let audited = format!(
        "\n[audit]\ndir = \"audit\"\nsigning_key_file = \"audit.key\"\n\
         [privacy]\nevidence_dir = \"evidence\"\nretention_days = 1\n{}",
        camera(
            "yard",
            &sim.url("/Streaming/Channels/102"),
            "evidence = \"silhouette\""
        )
    );
    // An evidence image from two days ago: retention deletes it at start, and audits that.
    let old = site.dir.path().join("evidence/yard/1-1.png");
    std::fs::create_dir_all(old.parent().unwrap()).unwrap();
    std::fs::write(&old, b"old").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(2 * 86_400))
        .unwrap();
    let service = site.start(&audited);
    wait_until(&service, "an event starts", || {
        motion_records(&site.records(), "yard")
            .iter()
            .any(|record| record["phase"] == "start")
    });
    service.shutdown().unwrap();

    let report = sw_audit::verify(&site.dir.path().join("audit"), Some(&key)).unwrap();
    assert!(report.is_intact(), "{report}");
    assert!(report.ends_with_shutdown, "{report}");
    let audit = audit_records(&site.dir.path().join("audit"));
    let kinds: Vec<&str> = audit.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds[..2], ["service_start", "config_loaded"], "{kinds:?}");
    assert!(kinds.contains(&"camera_connected"), "{kinds:?}");
    assert!(kinds.contains(&"service_stop"), "{kinds:?}");
    // Each start and end written to the events file is in the audit log, in the same order.
    let emitted: Vec<(String, u64)> = motion_records(&site.records(), "yard")
        .iter()
        .filter(|record| record["phase"] != "update")
        .map(|record| {
            (
                format!("event_{}", record["phase"].as_str().unwrap()),
                record["event_id"].as_u64().unwrap(),
            )
        })
        .collect();
    let audited_events: Vec<(String, u64)> = audit
        .iter()
        .filter(|record| record["kind"].as_str().unwrap().starts_with("event_"))
        .map(|record| {
            (
                record["kind"].as_str().unwrap().to_owned(),
                record["payload"]["event_id"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(!emitted.is_empty());
    assert_eq!(audited_events, emitted);
    // Evidence: every image written is in the log with its hash; the old one was deleted.
    assert!(!old.exists());
    assert!(kinds.contains(&"retention_deleted"), "{kinds:?}");
    let evidence: Vec<&Value> = audit
        .iter()
        .filter(|record| record["kind"] == "evidence_written")
        .collect();
    assert!(!evidence.is_empty(), "{kinds:?}");
    for record in evidence {
        let path = PathBuf::from(record["payload"]["path"].as_str().unwrap());
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            record["payload"]["sha256"].as_str().unwrap(),
            format!("{:x}", sha2::Sha256::digest(&bytes))
        );
        let png = image::load_from_memory(&bytes).unwrap();
        assert!(
            png.width() <= 160,
            "evidence never exceeds the analysis frame"
        );
    }
}

fn http_get(address: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut response = ureq::get(&format!("http://{address}{path}"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

#[test]
fn the_password_is_in_no_log_output_audit_record_or_api_response() {
    let logs = captured_logs();
    let password = "http-test-correct-horse";
    let sim = simulator(vec![MountOptions {
        auth: AuthOptions::DigestMd5(Credentials {
            username: "admin".to_owned(),
            password: Secret::new(password),
        }),
        ..mount("/Streaming/Channels/102", 3)
    }]);
    let site = Site::new();
    std::fs::write(site.dir.path().join("yard.pw"), password).unwrap();
    let cameras = format!(
        "\n[http]\nbind = \"127.0.0.1:0\"\n[audit]\ndir = \"audit\"\n{}",
        camera(
            "yard",
            &sim.url("/Streaming/Channels/102"),
            "username = \"admin\"\npassword_file = \"yard.pw\""
        )
    );
    let service = site.start(&cameras);
    let address = service.http_address().unwrap();
    wait_until(&service, "an event starts", || {
        motion_records(&site.records(), "yard")
            .iter()
            .any(|record| record["phase"] == "start")
    });
    let (ready, _) = http_get(address, "/readyz");
    assert_eq!(ready, 200);
    let (status, cameras) = http_get(address, "/api/cameras");
    assert_eq!(status, 200);
    let cameras: Value = serde_json::from_str(&cameras).unwrap();
    assert_eq!(cameras["cameras"][0]["camera"], "yard", "{cameras}");
    let (_, metrics) = http_get(address, "/metrics");
    assert!(
        metrics.contains("stillwatch_camera_frames_analysed_total{camera=\"yard\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("stillwatch_camera_events_started_total{camera=\"yard\"} "));
    let (_, events) = http_get(address, "/api/events");
    assert!(events.contains("\"phase\":\"start\""), "{events}");
    let (_, health) = http_get(address, "/healthz");
    service.shutdown().unwrap();
    let events_file = std::fs::read_to_string(site.events_path()).unwrap();
    let audit_log: String = audit_records(&site.dir.path().join("audit"))
        .iter()
        .map(Value::to_string)
        .collect();
    assert!(audit_log.contains("event_start"));
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    for (place, text) in [
        ("the events file", &events_file),
        ("the audit log", &audit_log),
        ("the logs", &logs),
        ("/healthz", &health),
    ] {
        assert!(!text.contains(password), "{place} shows the password");
    }
    for (path, body) in [
        ("/api/cameras", &cameras.to_string()),
        ("/metrics", &metrics),
        ("/api/events", &events),
    ] {
        assert!(!body.contains(password), "{path} shows the password");
        assert!(!body.contains("rtsp://"), "{path} shows the camera URL");
    }
}

#[test]
fn motion_inside_a_mask_raises_nothing_and_events_name_their_zones() {
    let sim = simulator(vec![mount("/Streaming/Channels/102", 3)]);
    let site = Site::new();
    let url = sim.url("/Streaming/Channels/102");
    let cameras = camera("masked", &url, "masks = [[[0, 0], [1, 0], [1, 1], [0, 1]]]")
        + &camera(
            "zoned",
            &url,
            "[[cameras.zones]]\nname = \"everywhere\"\npolygon = [[0, 0], [1, 0], [1, 1], [0, 1]]\n\
         [[cameras.zones]]\nname = \"nowhere-tiny\"\npolygon = [[0, 0], [0.01, 0], [0.01, 0.01]]",
        );
    let service = site.start(&cameras);
    wait_until(&service, "an event starts on the unmasked camera", || {
        motion_records(&site.records(), "zoned")
            .iter()
            .any(|record| record["phase"] == "start")
    });
    let masked_frames = wait_streaming(&service, "masked", 10).frames_received;
    service.shutdown().unwrap();
    let records = site.records();
    assert!(masked_frames >= 10);
    assert_eq!(motion_records(&records, "masked").len(), 0);
    let start = motion_records(&records, "zoned")
        .into_iter()
        .find(|record| record["phase"] == "start")
        .unwrap();
    assert_eq!(start["zones"], serde_json::json!(["everywhere"]), "{start}");
}

/// A mosquitto broker on a free loopback port, killed on drop.
struct Broker {
    process: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
        )
        .unwrap();
        let process = std::process::Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mosquitto (Debian package mosquitto) is needed");
        let deadline = Instant::now() + DEADLINE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            process,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

#[test]
fn events_and_motion_state_reach_mqtt_with_home_assistant_discovery() {
    let broker = Broker::start();
    let site = Site::new();
    let received = site.dir.path().join("mqtt.txt");
    let mut subscriber = std::process::Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &broker.port.to_string(),
            "-v",
            "-t",
            "#",
        ])
        .stdout(std::fs::File::create(&received).unwrap())
        .spawn()
        .unwrap();
    let sim = simulator(vec![mount("/Streaming/Channels/102", 3)]);
    let cameras = format!(
        "\n[mqtt]\nhost = \"127.0.0.1\"\nport = {}\nspill_dir = \"spill\"\n{}",
        broker.port,
        camera(
            "yard",
            &sim.url("/Streaming/Channels/102"),
            "[[cameras.zones]]\nname = \"lawn\"\npolygon = [[0, 0], [1, 0], [1, 1], [0, 1]]"
        )
    );
    let service = site.start(&cameras);
    let text = || std::fs::read_to_string(&received).unwrap_or_default();
    wait_until(&service, "an event start on MQTT", || {
        text().lines().any(|line| {
            line.starts_with("stillwatch/events ") && line.contains("\"phase\":\"start\"")
        })
    });
    service.shutdown().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let _ = subscriber.kill();
    let _ = subscriber.wait();
    let text = text();
    for expected in [
        "stillwatch/available online",
        "stillwatch/yard/status streaming",
        "stillwatch/yard/motion ON",
        "stillwatch/yard/lawn/motion ON",
        "homeassistant/binary_sensor/",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
    assert!(!text.contains("rtsp://"), "a camera URL went to MQTT");
}

/// True when ONNX Runtime is installed (`cargo xtask install`); otherwise says why the caller
/// skips. In CI its absence is a failure.
#[cfg(feature = "onnx")]
#[allow(clippy::print_stderr)] // the reason a test is skipped
fn onnx_runtime_installed() -> bool {
    match sw_onnx::locate_library(None) {
        Ok(_) => true,
        Err(error) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {error}");
            false
        }
        Err(error) => panic!("CI must have ONNX Runtime: {error}"),
    }
}

#[cfg(feature = "onnx")]
#[test]
fn a_camera_on_the_onnx_backend_raises_events_and_its_models_are_audited() {
    if !onnx_runtime_installed() {
        return;
    }
    let sim = simulator(vec![mount("/onnx", 7)]);
    let site = Site::new();
    let onnx = format!(
        "\n[audit]\ndir = \"audit\"\n[onnx]\nbatch_size = 2\n{}{}",
        camera("native", &sim.url("/onnx"), ""),
        camera(
            "graph",
            &sim.url("/onnx"),
            "[cameras.detector]\nbackend = \"onnx\""
        )
    );
    let service = site.start(&onnx);
    wait_until(&service, "both cameras raise an event", || {
        let records = site.records();
        ["native", "graph"].iter().all(|camera| {
            motion_records(&records, camera)
                .iter()
                .any(|record| record["phase"] == "start")
        })
    });
    service.shutdown().unwrap();

    // Each graph's hash, as the manifest pins it, is in the audit log.
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/manifest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let loaded: Vec<(String, String)> = audit_records(&site.dir.path().join("audit"))
        .iter()
        .filter(|record| record["kind"] == "model_loaded")
        .map(|record| {
            (
                record["payload"]["name"].as_str().unwrap().to_owned(),
                record["payload"]["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut pinned: Vec<(String, String)> = manifest["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|model| {
            (
                model["name"].as_str().unwrap().to_owned(),
                model["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    pinned.sort();
    let mut loaded_sorted = loaded.clone();
    loaded_sorted.sort();
    assert_eq!(loaded_sorted, pinned, "{loaded:?}");
}

#[cfg(feature = "onnx")]
#[test]
fn a_tampered_model_stops_the_service_from_starting() {
    if !onnx_runtime_installed() {
        return;
    }
    let site = Site::new();
    let models = site.dir.path().join("models");
    std::fs::create_dir(&models).unwrap();
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    for entry in std::fs::read_dir(&committed).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, models.join(path.file_name().unwrap())).unwrap();
        }
    }
    let mut graph = std::fs::read(models.join("update.onnx")).unwrap();
    let last = graph.len() - 1;
    graph[last] ^= 1;
    std::fs::write(models.join("update.onnx"), graph).unwrap();
    site.write_config(&format!(
        "\n[onnx]\nmodels_dir = \"models\"\n{}",
        camera(
            "graph",
            "rtsp://127.0.0.1:9/none",
            "[cameras.detector]\nbackend = \"onnx\""
        )
    ));
    let error = Service::start(ServiceOptions {
        config_path: site.config_path(),
        events: None,
        shard: None,
    })
    .unwrap_err();
    let message = sw_core::describe_error(&error);
    assert!(
        message.contains("update.onnx") && message.contains("SHA-256"),
        "{message}"
    );
}
