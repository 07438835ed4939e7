//! What both sink test suites need: a reproducible stream of motion events, waiting for a
//! condition with a generous limit, and re-running this test binary as a child process (for
//! tests that kill a sink with SIGKILL).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sw_core::{CameraId, EVENT_SCHEMA, EventPhase, MotionEvent, MotionGrid, NormBox};

/// Generous, because two cores run many test binaries at once.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Set in a child process to the name of the role it plays.
pub const CHILD_ROLE: &str = "SW_SINKS_CHILD_ROLE";

/// `count` events over two cameras, as a detector emits them: each event a `start`, an
/// `update` and an `end`, cameras interleaved, zones growing during the event.
pub fn events(count: usize) -> Vec<MotionEvent> {
    let cameras = [
        CameraId::new("gate").unwrap(),
        CameraId::new("yard.2").unwrap(),
    ];
    (0..count)
        .map(|index| {
            let camera = cameras[index % 2].clone();
            let within_camera = index / 2;
            let event_id = (within_camera / 3) as u64 + 1;
            let phase = [EventPhase::Start, EventPhase::Update, EventPhase::End][within_camera % 3];
            let frame_seq = 10 * within_camera as u64;
            let zones = match phase {
                EventPhase::Start => vec!["driveway".to_owned()],
                _ => vec!["driveway".to_owned(), "porch".to_owned()],
            };
            MotionEvent {
                schema: EVENT_SCHEMA.to_owned(),
                camera,
                event_id,
                phase,
                frame_seq,
                time_millis: frame_seq * 200,
                start_millis: (frame_seq / 30) * 30 * 200,
                end_millis: (phase == EventPhase::End).then_some(frame_seq * 200),
                zones,
                score: 0.0125,
                peak_score: 0.03,
                boxes: vec![NormBox {
                    x0: 0.25,
                    y0: 0.5,
                    x1: 0.375,
                    y1: 0.75,
                }],
                grid: MotionGrid {
                    cols: 4,
                    rows: 2,
                    cells_percent: vec![0, 3, 40, 0, 0, 0, 12, 1],
                },
            }
        })
        .collect()
}

/// An event's identity as receivers deduplicate it.
pub fn key_of(event: &MotionEvent) -> String {
    let phase = serde_json::to_value(event.phase).unwrap();
    format!(
        "{}:{}:{}:{}",
        event.camera,
        event.event_id,
        phase.as_str().unwrap(),
        event.frame_seq
    )
}

/// The items in order of first appearance (at-least-once delivery may repeat one).
pub fn first_occurrences<T: PartialEq + Clone>(items: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for item in items {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

/// Polls `condition` until it holds; panics with `what` after [`PATIENCE`].
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs test `name` of this same binary in a child process playing `role`, with `envs`.
pub fn spawn_child(name: &str, role: &str, envs: &[(&str, String)]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--ignored", "--test-threads=1"])
        .env(CHILD_ROLE, role)
        .envs(envs.iter().map(|(key, value)| (*key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Payload files (`<number>.json`) in a queue folder.
pub fn queued_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or(0)
}
