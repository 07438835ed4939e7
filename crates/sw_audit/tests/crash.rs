//! Crash safety with real processes: a child appending as fast as it can is killed with
//! SIGKILL at random moments, hundreds of times; and a child appending under a file-size limit
//! (RLIMIT_FSIZE, set with bash's `ulimit -f`, which works for root and unprivileged users
//! alike) runs into the equivalent of a full disk. The children are this test binary run again
//! with `SW_AUDIT_TEST_CHILD` set.
//!
//! `SW_AUDIT_TEST_SEED=<n>` replays a particular sequence of kill delays.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::io::ErrorKind;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{event_payload, options, test_key};
use serde_json::json;
use sw_audit::{AuditError, AuditLog, AuditWriter, FsyncPolicy, ProblemKind, RecordKind, verify};

const CHILD_ENV: &str = "SW_AUDIT_TEST_CHILD";
/// Logs in the SIGKILL test, and kills per log (the chain runs on across one log's kills).
const LOGS: usize = 10;
const KILLS_PER_LOG: usize = 20;

/// The children's entry point. In a normal test run (without `SW_AUDIT_TEST_CHILD`) it does
/// nothing.
#[test]
fn child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (role, argument) = spec.split_once(':').unwrap();
    match role {
        "append" => append_until_killed(argument),
        "fill" => append_until_full(Path::new(argument)),
        other => panic!("unknown child role {other}"),
    }
}

fn child(role: &str, argument: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{role}:{argument}"));
    command
}

/// Two threads appending through one `AuditLog` (the service's path) until the process is
/// killed; now and then a large record, so that a kill can land inside a long `write`.
fn append_until_killed(argument: &str) {
    let (dir, seed) = argument.rsplit_once('|').unwrap();
    let mut rng = fastrand::Rng::with_seed(seed.parse().unwrap());
    let mut options = options(Path::new(dir), Some(test_key(1)));
    options.fsync = match rng.bool() {
        true => FsyncPolicy::EveryRecord,
        false => FsyncPolicy::Interval(Duration::from_millis(5)),
    };
    options.checkpoint_every_records = NonZeroU64::new(20);
    options.segment_max_bytes = 1 << 20;
    let log = AuditLog::open(options).unwrap();
    let threads: Vec<_> = (0..2)
        .map(|thread| {
            let log = log.clone();
            let mut rng = fastrand::Rng::with_seed(rng.u64(..));
            std::thread::spawn(move || {
                for event_id in 0.. {
                    let payload = match rng.u8(..4) {
                        0 => json!({ "file": "x".repeat(rng.usize(64_000..512_000)) }),
                        _ => event_payload(event_id, &format!("camera-{thread}")),
                    };
                    log.append(RecordKind::EventStart, payload).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

/// Appends 1 KiB records until the file-size limit stops one, checks the error, and writes
/// `<last good seq>\n<error>` to `fill-result` in the log's directory.
fn append_until_full(dir: &Path) {
    let mut writer = AuditWriter::open(options(dir, None)).unwrap();
    let filler = "x".repeat(1000);
    let mut last_ok = 0;
    let error = loop {
        match writer.append(RecordKind::EvidenceWritten, json!({ "file": filler })) {
            Ok(seq) => last_ok = seq,
            Err(error) => break error,
        }
    };
    let AuditError::Write { cause, seq, .. } = &error else {
        panic!("expected a write error, got {error}");
    };
    assert_eq!(cause.kind(), ErrorKind::FileTooLarge, "{error}");
    assert_eq!(*seq, last_ok + 1);
    // Still full: the next record fails the same way; the writer has not given up.
    let again = writer
        .append(RecordKind::EvidenceWritten, json!({ "file": filler }))
        .unwrap_err();
    assert!(matches!(again, AuditError::Write { .. }), "{again}");
    fs::write(dir.join("fill-result"), format!("{last_ok}\n{error}")).unwrap();
}

fn segment_names(dir: &Path) -> Vec<String> {
    common::segment_files(dir)
        .iter()
        .map(|p| common::file_name(p))
        .collect()
}

fn torn_files(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| common::file_name(p).contains(".torn"))
        .collect()
}

#[test]
fn sigkill_at_random_moments_loses_at_most_the_record_being_written() {
    let seed = std::env::var("SW_AUDIT_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_a0d1_u64);
    let mut rng = fastrand::Rng::with_seed(seed);
    let key = test_key(1).verifying_key();
    let root = tempfile::tempdir().unwrap();
    let (mut kills, mut torn_tails, mut unclean) = (0, 0, 0);
    for log_index in 0..LOGS {
        let dir = root.path().join(format!("log-{log_index}"));
        for round in 0..KILLS_PER_LOG {
            let context = format!("seed {seed}, log {log_index}, round {round}");
            let argument = format!("{}|{}", dir.display(), rng.u64(..));
            let mut process = child("append", &argument)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_micros(rng.u64(0..25_000)));
            process.kill().unwrap();
            let status = process.wait().unwrap();
            // Killed, or (rarely) already failed: a failure shows in what follows.
            kills += usize::from(status.code().is_none());

            if !dir.exists() {
                continue; // killed before the first open made the directory
            }
            let report = match verify(&dir, Some(&key)) {
                Err(AuditError::NoLog { .. }) => continue, // or its first segment
                report => report.unwrap(),
            };
            let last_segment = segment_names(&dir).pop().unwrap();
            let torn_bytes = report.problem.as_ref().map(|problem| {
                // The only damage a kill may leave: a partial record at the very end.
                let ProblemKind::TornTail { bytes } = problem.kind else {
                    panic!("{context}: {report}");
                };
                let location = problem.location.as_ref().unwrap();
                assert_eq!(location.file, last_segment, "{context}: {report}");
                assert_eq!(problem.seq, report.records + 1, "{context}: {report}");
                bytes
            });

            let torn_before = torn_files(&dir).len();
            let mut writer = AuditWriter::open(options(&dir, Some(test_key(1)))).unwrap();
            let expect_recovery =
                torn_bytes.is_some() || (report.records > 0 && !report.ends_with_shutdown);
            let recovery = writer.recovery().cloned();
            assert_eq!(recovery.is_some(), expect_recovery, "{context}: {report}");
            if let Some(recovery) = &recovery {
                assert_eq!(recovery.last_seq_before, report.records, "{context}");
                assert_eq!(
                    recovery.torn.as_ref().map(|t| t.bytes),
                    torn_bytes,
                    "{context}"
                );
                if let Some(torn) = &recovery.torn {
                    let kept = fs::read(&torn.kept_in).unwrap();
                    assert_eq!(kept.len() as u64, torn.bytes, "{context}");
                    assert_eq!(torn_files(&dir).len(), torn_before + 1, "{context}");
                    torn_tails += 1;
                } else {
                    unclean += 1;
                }
            }
            // The chain goes on after recovery.
            let seq = writer
                .append(RecordKind::ServiceStart, json!({ "round": round }))
                .unwrap();
            writer.close().unwrap();
            let after = verify(&dir, Some(&key)).unwrap();
            assert!(after.is_intact(), "{context}: {after}");
            let recovered = u64::from(recovery.is_some());
            assert_eq!(seq, report.records + recovered + 1, "{context}");
            assert_eq!(after.records, seq + 1, "{context}");
        }
        let report = verify(&dir, Some(&key)).unwrap();
        assert!(report.is_intact(), "log {log_index}: {report}");
    }
    eprintln!(
        "SIGKILL loop: {kills} kills; at reopen, {torn_tails} torn tails set aside and {unclean} \
         unclean shutdowns recorded"
    );
    assert!(kills >= LOGS * KILLS_PER_LOG * 9 / 10, "only {kills} kills");
}

#[test]
fn a_full_disk_is_an_error_and_loses_no_committed_record() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    fs::create_dir(&dir).unwrap();
    // 64 KiB file-size limit; SIGXFSZ ignored so that write(2) fails with EFBIG instead.
    let output = Command::new("bash")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 64; exec \"$0\" \"$@\"")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("fill:{}", dir.display()))
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{printed}");
    let result = fs::read_to_string(dir.join("fill-result")).unwrap();
    let (last_ok, error) = result.split_once('\n').unwrap();
    let last_ok: u64 = last_ok.parse().unwrap();
    assert!(last_ok > 10, "{result}");
    assert!(error.contains("File too large"), "{error}");

    // Every acknowledged record is there, and nothing of the failed ones.
    let report = verify(&dir, None).unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, last_ok);

    // With space again, the log opens (recording the unclean stop) and goes on.
    let mut writer = AuditWriter::open(options(&dir, None)).unwrap();
    let recovery = writer.recovery().unwrap();
    assert_eq!(
        (recovery.last_seq_before, recovery.torn.is_none()),
        (last_ok, true)
    );
    writer
        .append(RecordKind::ServiceStart, json!({ "after": "disk full" }))
        .unwrap();
    writer.close().unwrap();
    let report = verify(&dir, None).unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, last_ok + 3);
}
