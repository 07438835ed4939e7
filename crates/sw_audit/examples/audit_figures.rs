//! The audit log's figures: append throughput (records/s) under each fsync policy, from one
//! thread and from four (through `AuditLog`'s writer thread, and through a `Mutex` around an
//! `AuditWriter`, the alternative it was chosen over), bytes per event record, and verify
//! speed. Prints a Markdown table.
//!
//! `cargo run --release -p sw_audit --example audit_figures [-- DIR]`
//! DIR (default: a temporary directory) decides which disk is measured: fsync cost is the
//! disk's.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sw_audit::{
    AuditLog, AuditOptions, AuditWriter, FsyncPolicy, RecordKind, SigningKey, event_record, verify,
};
use sw_core::{CameraId, EVENT_SCHEMA, EventPhase, MotionEvent, MotionGrid, NormBox};

/// A typical event: a camera, two zones, a box, a 16x9 grid (none of which but the summary
/// reaches the audit log).
fn event(event_id: u64, phase: EventPhase) -> MotionEvent {
    MotionEvent {
        schema: EVENT_SCHEMA.into(),
        camera: CameraId::new("front-gate").expect("valid id"),
        event_id,
        phase,
        frame_seq: 48_213 + event_id * 40,
        time_millis: 9_642_600 + event_id * 8_000,
        start_millis: 9_642_600 + event_id * 8_000,
        end_millis: (phase == EventPhase::End).then_some(9_648_200 + event_id * 8_000),
        zones: vec!["driveway".into(), "front-path".into()],
        score: 0.0425,
        peak_score: 0.1875,
        boxes: vec![NormBox {
            x0: 0.25,
            y0: 0.4,
            x1: 0.375,
            y1: 0.8,
        }],
        grid: MotionGrid {
            cols: 16,
            rows: 9,
            cells_percent: vec![0; 144],
        },
    }
}

fn payload(i: u64) -> (RecordKind, Value) {
    let phase = match i % 2 {
        0 => EventPhase::Start,
        _ => EventPhase::End,
    };
    event_record(&event(i / 2 + 1, phase)).expect("start and end are audited")
}

fn options(dir: &Path, fsync: FsyncPolicy) -> AuditOptions {
    AuditOptions {
        signing_key: Some(SigningKey::from_bytes(&[7; 32])),
        fsync,
        ..AuditOptions::new(dir)
    }
}

const EVERY_RECORD: FsyncPolicy = FsyncPolicy::EveryRecord;
const EVERY_100_MS: FsyncPolicy = FsyncPolicy::Interval(Duration::from_millis(100));

fn policy_name(policy: FsyncPolicy) -> &'static str {
    match policy {
        FsyncPolicy::EveryRecord => "every record",
        FsyncPolicy::Interval(_) => "every 100 ms",
    }
}

/// Records per second appending `per_thread` records from each of `threads` threads.
fn rate(records: u64, elapsed: Duration) -> f64 {
    records as f64 / elapsed.as_secs_f64()
}

fn writer_alone(dir: &Path, policy: FsyncPolicy, records: u64) -> f64 {
    let mut writer = AuditWriter::open(options(dir, policy)).expect("open");
    let start = Instant::now();
    for i in 0..records {
        let (kind, payload) = payload(i);
        writer.append(kind, payload).expect("append");
    }
    let elapsed = start.elapsed();
    writer.close().expect("close");
    rate(records, elapsed)
}

fn log_threads(dir: &Path, policy: FsyncPolicy, threads: u64, per_thread: u64) -> f64 {
    let log = AuditLog::open(options(dir, policy)).expect("open");
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let (kind, payload) = payload(t * per_thread + i);
                    log.append(kind, payload).expect("append");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("thread");
    }
    let elapsed = start.elapsed();
    log.close().expect("close");
    rate(threads * per_thread, elapsed)
}

fn mutex_threads(dir: &Path, policy: FsyncPolicy, threads: u64, per_thread: u64) -> f64 {
    let writer = Arc::new(Mutex::new(
        AuditWriter::open(options(dir, policy)).expect("open"),
    ));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let writer = Arc::clone(&writer);
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let (kind, payload) = payload(t * per_thread + i);
                    let mut writer = writer.lock().expect("lock");
                    writer.append(kind, payload).expect("append");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("thread");
    }
    let elapsed = start.elapsed();
    rate(threads * per_thread, elapsed)
}

#[allow(clippy::print_stdout)] // an example that prints its figures
fn main() {
    let temporary = tempfile::tempdir().expect("tempdir");
    let root = std::env::args()
        .nth(1)
        .map_or_else(|| temporary.path().to_path_buf(), Into::into);
    let mut case = 0;
    let mut fresh = || {
        case += 1;
        root.join(format!("figures-{case}"))
    };

    println!("| what | fsync | threads | records/s |");
    println!("|---|---|---|---|");
    for (policy, records) in [(EVERY_RECORD, 2_000), (EVERY_100_MS, 100_000)] {
        let name = policy_name(policy);
        let alone = writer_alone(&fresh(), policy, records);
        println!("| AuditWriter (no thread) | {name} | 1 | {alone:.0} |");
        let log = log_threads(&fresh(), policy, 1, records);
        println!("| AuditLog (writer thread) | {name} | 1 | {log:.0} |");
        let log = log_threads(&fresh(), policy, 4, records / 4);
        println!("| AuditLog (writer thread) | {name} | 4 | {log:.0} |");
        let mutex = mutex_threads(&fresh(), policy, 4, records / 4);
        println!("| Mutex<AuditWriter> | {name} | 4 | {mutex:.0} |");
    }

    // Bytes per event record, start and end (the line, newline included).
    let dir = fresh();
    let mut writer = AuditWriter::open(options(&dir, EVERY_100_MS)).expect("open");
    for i in 0..2 {
        let (kind, payload) = payload(i);
        writer.append(kind, payload).expect("append");
    }
    drop(writer);
    let text = std::fs::read_to_string(dir.join("audit-00000000000000000001.jsonl")).expect("log");
    let sizes: Vec<usize> = text.lines().map(|l| l.len() + 1).collect();
    println!();
    println!(
        "bytes per event record: start {}, end {}",
        sizes[0], sizes[1]
    );
    println!("example: {}", text.lines().nth(1).unwrap_or_default());

    // Verify speed on a long log, signatures checked.
    let dir = fresh();
    let records = 200_000;
    writer_alone(&dir, EVERY_100_MS, records);
    let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
    let bytes: u64 = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").metadata().expect("metadata").len())
        .sum();
    let start = Instant::now();
    let report = verify(&dir, Some(&key)).expect("verify");
    let elapsed = start.elapsed();
    assert!(report.is_intact(), "{report}");
    println!(
        "verify: {} records ({} checkpoints, {:.1} MB) in {:.2} s: {:.0} records/s, {:.0} MB/s",
        report.records,
        report.checkpoints,
        bytes as f64 / 1e6,
        elapsed.as_secs_f64(),
        rate(report.records, elapsed),
        bytes as f64 / 1e6 / elapsed.as_secs_f64()
    );
}
