//! The HTTP status API over real HTTP on loopback: every endpoint's status code and JSON shape,
//! `/metrics` checked by Prometheus' own `promtool`, the bearer-token rule, series leaving with
//! their camera, and no secret in any answer.
//!
//! The status source is a hand-filled table (the service that normally provides it lives in
//! sw_service, which depends on this crate); everything else is the real server and client.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sw_core::{CameraId, EVENT_SCHEMA, EventPhase, MotionEvent, MotionGrid, NormBox, Secret};
use sw_http::{
    CameraState, CameraStatus, HttpError, HttpOptions, HttpServer, HttpSources, Metrics,
    RecentEvents, RtspHead, StatusSource,
};

const TOKEN: &str = "s3cr3t-token-0123456789abcdef";

/// The service's side, filled by hand.
#[derive(Default)]
struct Table {
    cameras: Mutex<Vec<CameraStatus>>,
    ready: AtomicBool,
}

impl StatusSource for Table {
    fn cameras(&self) -> Vec<CameraStatus> {
        self.cameras.lock().unwrap().clone()
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

fn id(camera: &str) -> CameraId {
    CameraId::new(camera).unwrap()
}

fn status(camera: &str, state: CameraState) -> CameraStatus {
    CameraStatus {
        camera: id(camera),
        state,
        since_unix_millis: 1_700_000_000_000,
        reason: (state != CameraState::Streaming).then(|| "the camera ended the stream".to_owned()),
        frames_received: 250,
        frames_dropped: 4,
        reconnects: 1,
        last_frame_unix_millis: Some(1_700_000_009_900),
        rtsp_client: Some(RtspHead::Rtspsrc),
    }
}

fn event(camera: &str, event_id: u64, phase: EventPhase) -> MotionEvent {
    MotionEvent {
        schema: EVENT_SCHEMA.to_owned(),
        camera: id(camera),
        event_id,
        phase,
        frame_seq: 40 + event_id,
        time_millis: 4_000 + event_id,
        start_millis: 4_000,
        end_millis: (phase == EventPhase::End).then_some(4_000 + event_id),
        zones: vec!["driveway".to_owned()],
        score: 0.12,
        peak_score: 0.2,
        boxes: vec![NormBox {
            x0: 0.1,
            y0: 0.2,
            x1: 0.3,
            y1: 0.4,
        }],
        grid: MotionGrid {
            cols: 2,
            rows: 1,
            cells_percent: vec![0, 35],
        },
    }
}

/// A running server over a two-camera table, with some metrics and events recorded.
struct Fixture {
    server: HttpServer,
    table: Arc<Table>,
    metrics: Metrics,
    events: RecentEvents,
}

impl Fixture {
    fn start(options: HttpOptions) -> Result<Self, HttpError> {
        let table = Arc::new(Table::default());
        *table.cameras.lock().unwrap() = vec![
            status("gate", CameraState::Streaming),
            status("yard", CameraState::BackingOff),
        ];
        let metrics = Metrics::new();
        for camera in ["gate", "yard"] {
            let camera = metrics.camera(&id(camera));
            camera.frame_analysed(Duration::from_micros(700));
            camera.frame_analysed(Duration::from_millis(3));
            camera.event_started();
            camera.event_latency(Duration::from_millis(12));
        }
        metrics.audit_records_written(3);
        let events = RecentEvents::new(NonZeroUsize::new(8).unwrap());
        events.push(event("gate", 1, EventPhase::Start));
        events.push(event("yard", 1, EventPhase::Start));
        events.push(event("gate", 1, EventPhase::End));
        let server = HttpServer::start(
            options,
            HttpSources {
                status: Arc::clone(&table) as Arc<dyn StatusSource>,
                metrics: metrics.clone(),
                events: events.clone(),
            },
        )?;
        Ok(Self {
            server,
            table,
            metrics,
            events,
        })
    }

    fn loopback() -> Self {
        Self::start(HttpOptions {
            bind: "127.0.0.1:0".parse().unwrap(),
            token: None,
        })
        .unwrap()
    }

    /// The server's address as a client on this machine reaches it.
    fn url(&self, path: &str) -> String {
        let port = self.server.local_addr().port();
        format!("http://127.0.0.1:{port}{path}")
    }
}

/// An answer: status code, headers as one lowercase text, body.
struct Answer {
    status: u16,
    content_type: String,
    headers: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        assert!(
            self.content_type.starts_with("application/json"),
            "{}: {}",
            self.content_type,
            self.body
        );
        serde_json::from_str(&self.body).unwrap()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn get(url: &str, authorization: Option<&str>) -> Answer {
    let mut request = agent().get(url);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    answer(request.call().unwrap())
}

fn answer(mut response: ureq::http::Response<ureq::Body>) -> Answer {
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| format!("{name}: {}\n", value.to_str().unwrap_or("?")))
        .collect::<String>();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    Answer {
        status: response.status().as_u16(),
        content_type,
        headers,
        body: response.body_mut().read_to_string().unwrap(),
    }
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn probes_answer_with_their_codes() {
    let fixture = Fixture::loopback();
    let health = get(&fixture.url("/healthz"), None);
    assert_eq!(
        (health.status, health.json()),
        (200, serde_json::json!({"status": "ok"}))
    );
    // ready, status code, body
    let table = [
        (false, 503, serde_json::json!({"ready": false})),
        (true, 200, serde_json::json!({"ready": true})),
    ];
    for (ready, code, body) in table {
        fixture.table.ready.store(ready, Ordering::SeqCst);
        let answer = get(&fixture.url("/readyz"), None);
        assert_eq!(
            (answer.status, answer.json()),
            (code, body),
            "ready {ready}"
        );
    }
}

#[test]
fn cameras_list_status_fields_and_nothing_else() {
    let fixture = Fixture::loopback();
    let answer = get(&fixture.url("/api/cameras"), None);
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(keys(&body), ["cameras"]);
    let cameras = body["cameras"].as_array().unwrap();
    let ids: Vec<&str> = cameras
        .iter()
        .map(|c| c["camera"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gate", "yard"]);
    for camera in cameras {
        assert_eq!(
            keys(camera),
            [
                "camera",
                "frames_dropped",
                "frames_received",
                "last_frame_unix_millis",
                "reason",
                "reconnects",
                "rtsp_client",
                "since_unix_millis",
                "state",
            ]
        );
    }
    assert_eq!(cameras[0]["rtsp_client"], "rtspsrc");
    assert_eq!(cameras[1]["state"], "backing_off");
    assert_eq!(cameras[1]["reason"], "the camera ended the stream");
    assert_eq!(cameras[0]["frames_received"], 250);
}

#[test]
fn events_are_newest_first_and_filtered_by_camera_and_limit() {
    let fixture = Fixture::loopback();
    let listed = |query: &str| {
        let answer = get(&fixture.url(&format!("/api/events{query}")), None);
        assert_eq!(answer.status, 200, "{query}: {}", answer.body);
        let body = answer.json();
        assert_eq!(keys(&body), ["events"]);
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| {
                let camera = event["camera"].as_str().unwrap().to_owned();
                let phase = event["phase"].as_str().unwrap().to_owned();
                (camera, phase)
            })
            .collect::<Vec<_>>()
    };
    let e = |camera: &str, phase: &str| (camera.to_owned(), phase.to_owned());
    // query, expected (newest first)
    let table = [
        (
            "",
            vec![e("gate", "end"), e("yard", "start"), e("gate", "start")],
        ),
        ("?camera=gate", vec![e("gate", "end"), e("gate", "start")]),
        ("?camera=gate&limit=1", vec![e("gate", "end")]),
        ("?limit=2", vec![e("gate", "end"), e("yard", "start")]),
        ("?camera=nobody", vec![]),
    ];
    for (query, expected) in table {
        assert_eq!(listed(query), expected, "{query}");
    }
    // A record is served whole, in the event schema.
    let answer = get(&fixture.url("/api/events?limit=1"), None);
    let record: MotionEvent = serde_json::from_value(answer.json()["events"][0].clone()).unwrap();
    assert_eq!(record, event("gate", 1, EventPhase::End));
    fixture.events.push(event("yard", 2, EventPhase::Start));
    assert_eq!(listed("?limit=1"), [e("yard", "start")]);
}

#[test]
fn bad_requests_get_json_errors() {
    let fixture = Fixture::loopback();
    // path, status code, words in the error
    let table = [
        ("/api/events?limit=0", 400, "limit must be 1 to 8"),
        ("/api/events?limit=9", 400, "limit must be 1 to 8"),
        ("/api/events?limit=many", 400, "limit"),
        ("/api/events?camera=a%2Fb", 400, "camera"),
        ("/nowhere", 404, "no such endpoint"),
        ("/api/cameras/gate/snapshot.jpg", 404, "no such endpoint"),
    ];
    for (path, code, words) in table {
        let answer = get(&fixture.url(path), None);
        assert_eq!(answer.status, code, "{path}: {}", answer.body);
        let error = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(words), "{path}: {error}");
    }
    let posted = answer(
        agent()
            .post(&fixture.url("/api/cameras"))
            .send_empty()
            .unwrap(),
    );
    assert_eq!(posted.status, 405);
    assert_eq!(posted.json()["error"], "only GET is served");
}

/// Prometheus' own linter and parser (Debian package `prometheus`); CI installs it.
fn promtool_check(text: &str) -> Option<(bool, String)> {
    let spawned = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => panic!("cannot run promtool: {error}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some((output.status.success(), said))
}

#[test]
fn metrics_pass_promtool_and_carry_every_camera() {
    let fixture = Fixture::loopback();
    let answer = get(&fixture.url("/metrics"), None);
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = answer.body;
    let expected = [
        r#"stillwatch_camera_frames_received_total{camera="yard"} 250"#,
        r#"stillwatch_camera_state{camera="yard",state="backing_off"} 1"#,
        r#"stillwatch_camera_state{camera="gate",state="streaming"} 1"#,
        r#"stillwatch_camera_frames_analysed_total{camera="gate"} 2"#,
        r#"stillwatch_camera_processing_seconds_count{camera="yard"} 2"#,
        r#"stillwatch_camera_events_started_total{camera="yard"} 1"#,
        r#"stillwatch_camera_event_latency_seconds_count{camera="gate"} 1"#,
        "stillwatch_audit_records_written_total 3",
    ];
    for line in expected {
        assert!(
            text.lines().any(|have| have == line),
            "missing {line:?} in:\n{text}"
        );
    }
    match promtool_check(&text) {
        Some((passed, said)) => assert!(passed, "promtool check metrics:\n{said}\n{text}"),
        None => println!(
            "skipped the promtool check: promtool is not installed (Debian package `prometheus`)"
        ),
    }
    // With no cameras at all the output is still valid.
    fixture.table.cameras.lock().unwrap().clear();
    for camera in ["gate", "yard"] {
        fixture.metrics.remove_camera(&id(camera));
    }
    let empty = get(&fixture.url("/metrics"), None).body;
    assert!(!empty.contains("camera="), "{empty}");
    if let Some((passed, said)) = promtool_check(&empty) {
        assert!(passed, "promtool check metrics:\n{said}\n{empty}");
    }
}

#[test]
fn a_removed_camera_drops_its_series() {
    let fixture = Fixture::loopback();
    let before = get(&fixture.url("/metrics"), None).body;
    assert!(before.contains(r#"camera="yard""#), "{before}");
    // What the service does when a reload removes `yard`: its status goes, then its metrics.
    fixture
        .table
        .cameras
        .lock()
        .unwrap()
        .retain(|status| status.camera.as_str() != "yard");
    fixture.metrics.remove_camera(&id("yard"));
    let after = get(&fixture.url("/metrics"), None).body;
    assert!(!after.contains("yard"), "{after}");
    assert!(after.contains(r#"camera="gate""#), "{after}");
}

#[test]
fn a_bind_beyond_loopback_is_refused_without_a_token() {
    let bind: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let refused = Fixture::start(HttpOptions { bind, token: None })
        .err()
        .unwrap();
    assert!(
        matches!(refused, HttpError::TokenRequired { .. }),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("needs a bearer token"),
        "{refused}"
    );
}

#[test]
fn a_bind_beyond_loopback_needs_the_token_except_on_probes() {
    let fixture = Fixture::start(HttpOptions {
        bind: "0.0.0.0:0".parse().unwrap(),
        token: Some(Secret::new(TOKEN)),
    })
    .unwrap();
    fixture.table.ready.store(true, Ordering::SeqCst);
    let right = format!("Bearer {TOKEN}");
    let wrong = format!("Bearer {TOKEN}0");
    // path, Authorization header, status code
    let table = [
        ("/api/cameras", None, 401),
        ("/api/cameras", Some(wrong.as_str()), 401),
        ("/api/cameras", Some(TOKEN), 401),
        ("/api/cameras", Some(right.as_str()), 200),
        ("/api/events", None, 401),
        ("/api/events", Some(right.as_str()), 200),
        ("/metrics", None, 401),
        ("/metrics", Some(right.as_str()), 200),
        ("/healthz", None, 200),
        ("/readyz", None, 200),
    ];
    for (path, authorization, code) in table {
        let answer = get(&fixture.url(path), authorization);
        assert_eq!(answer.status, code, "{path} with {authorization:?}");
        if code == 401 {
            assert!(
                answer.headers.contains("www-authenticate: Bearer"),
                "{}",
                answer.headers
            );
            assert!(answer.json()["error"].as_str().unwrap().contains("Bearer"));
        }
    }
}

#[test]
fn no_answer_carries_the_token() {
    let fixture = Fixture::start(HttpOptions {
        bind: "127.0.0.1:0".parse().unwrap(),
        token: Some(Secret::new(TOKEN)),
    })
    .unwrap();
    let right = format!("Bearer {TOKEN}");
    let paths = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/cameras",
        "/api/events",
        "/api/events?limit=0",
        "/nowhere",
    ];
    for path in paths {
        for authorization in [None, Some(right.as_str()), Some("Bearer nope")] {
            let answer = get(&fixture.url(path), authorization);
            let whole = format!("{}\n{}", answer.headers, answer.body);
            assert!(!whole.contains(TOKEN), "{path}: {whole}");
        }
    }
    assert!(!format!("{:?}", fixture.server).contains(TOKEN));
}

#[test]
fn shutdown_closes_idle_connections_and_stops_listening() {
    let fixture = Fixture::loopback();
    let url = fixture.url("/healthz");
    // One agent: its pooled keep-alive connection stays open across requests.
    let client = agent();
    for _ in 0..2 {
        assert_eq!(client.get(&url).call().unwrap().status().as_u16(), 200);
    }
    fixture
        .server
        .shutdown(Instant::now() + Duration::from_secs(5));
    assert!(
        agent().get(&url).call().is_err(),
        "still serving after shutdown"
    );
}

#[test]
fn shutdown_closes_a_half_sent_request() {
    use std::io::Read;

    let fixture = Fixture::loopback();
    let mut stalled = std::net::TcpStream::connect(fixture.server.local_addr()).unwrap();
    // The request line and a header, but never the blank line that ends the headers.
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: stillwatch\r\n")
        .unwrap();
    fixture
        .server
        .shutdown(Instant::now() + Duration::from_millis(200));
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    let read = stalled.read_to_end(&mut rest);
    // Closed: end of stream, or a reset; not a read timeout on an open connection.
    let open = read.as_ref().is_err_and(|error| {
        matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    });
    assert!(!open, "the connection is still open: {read:?}");
}

/// A status source that does not answer until released.
struct Stuck {
    release: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl StatusSource for Stuck {
    fn cameras(&self) -> Vec<CameraStatus> {
        let _ = self.release.lock().unwrap().recv();
        Vec::new()
    }

    fn ready(&self) -> bool {
        true
    }
}

#[test]
fn shutdown_returns_even_when_the_status_source_hangs() {
    let (release, released) = std::sync::mpsc::channel();
    let server = HttpServer::start(
        HttpOptions {
            bind: "127.0.0.1:0".parse().unwrap(),
            token: None,
        },
        HttpSources {
            status: Arc::new(Stuck {
                release: Mutex::new(released),
            }),
            metrics: Metrics::new(),
            events: RecentEvents::default(),
        },
    )
    .unwrap();
    let url = format!("http://{}/api/cameras", server.local_addr());
    let client = std::thread::spawn(move || agent().get(&url).call().map(|r| r.status()));
    // Let the request reach the stuck source (no harm if it has not yet: shutdown must return
    // either way).
    std::thread::sleep(Duration::from_millis(100));
    let (done_in, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        server.shutdown(Instant::now() + Duration::from_millis(100));
        done_in.send(()).unwrap();
    });
    // Generous: this checks that shutdown returns at all, not how fast.
    let returned = done.recv_timeout(Duration::from_secs(20));
    release.send(()).unwrap();
    assert!(
        returned.is_ok(),
        "shutdown did not return while the source hung"
    );
    let _ = client.join();
}
