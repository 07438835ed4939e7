//! The writer and verifier on real files: threads, reopening, recovery, keys, checkpoints,
//! rotation, the golden chain, and interoperability with an independent implementation of the
//! format and with OpenSSL.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::num::NonZeroU64;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{CLOCK_MILLIS, Files, event_payload, options, sha256_hex, test_key};
use ed25519_dalek::{Signature, Verifier};
use serde_json::{Value, json};
use sw_audit::{
    AuditError, AuditLog, AuditWriter, CheckpointReason, FsyncPolicy, ProblemKind, RecordKind,
    event_record, keygen, load_signing_key, load_verifying_key, verify,
};
use sw_core::{CameraId, EVENT_SCHEMA, EventPhase, MotionEvent, MotionGrid};

const GOLDEN: &str = "tests/golden/chain.jsonl";

#[test]
fn threads_appending_at_once_form_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(dir.path(), Some(test_key(1)));
    options.checkpoint_every_records = NonZeroU64::new(50);
    let log = AuditLog::open(options).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..100)
                    .map(|i| {
                        let payload = event_payload(i, &format!("camera-{thread}"));
                        log.append(RecordKind::EventStart, payload).unwrap()
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut all = Vec::new();
    for thread in threads {
        let seqs = thread.join().unwrap();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        all.extend(seqs);
    }
    let shutdown = log.close().unwrap();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 400);
    assert!(matches!(
        log.append(RecordKind::EventEnd, json!({})),
        Err(AuditError::Closed { .. })
    ));
    let report = verify(dir.path(), Some(&test_key(1).verifying_key())).unwrap();
    assert!(report.is_intact(), "{report}");
    // 400 events, a checkpoint after every 50 (8), and the shutdown checkpoint.
    assert_eq!((report.records, report.checkpoints), (409, 9));
    assert_eq!(
        report.last_checkpoint.map(|c| (c.seq, c.hash)),
        Some((shutdown.seq, shutdown.hash))
    );
}

#[test]
fn dropping_every_handle_closes_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(options(dir.path(), None)).unwrap();
    log.append(RecordKind::ServiceStart, json!({})).unwrap();
    drop(log);
    // The writer thread closes the log and releases its lock on its own.
    let deadline = Instant::now() + Duration::from_secs(10);
    let writer = loop {
        match AuditWriter::open(options(dir.path(), None)) {
            Err(AuditError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            result => break result.unwrap(),
        }
    };
    assert!(writer.recovery().is_none());
    assert_eq!(writer.next_seq(), 3);
}

#[test]
fn reopening_continues_the_chain_and_records_an_unclean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = AuditWriter::open(options(dir.path(), None)).unwrap();
    for i in 0..3 {
        writer
            .append(RecordKind::EventStart, event_payload(i, "gate"))
            .unwrap();
    }
    writer.close().unwrap();
    let mut writer = AuditWriter::open(options(dir.path(), None)).unwrap();
    assert!(writer.recovery().is_none());
    assert_eq!(writer.append(RecordKind::EventEnd, json!({})).unwrap(), 5);
    drop(writer); // a crash, as far as the files are concerned

    let mut writer = AuditWriter::open(options(dir.path(), None)).unwrap();
    let recovery = writer.recovery().unwrap().clone();
    assert_eq!(
        (recovery.seq, recovery.last_seq_before, recovery.torn),
        (6, 5, None)
    );
    writer.append(RecordKind::ServiceStart, json!({})).unwrap();
    writer.close().unwrap();
    let report = verify(dir.path(), None).unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, 8);
    let reasons: Vec<(u64, &str)> = report
        .recoveries
        .iter()
        .map(|r| (r.seq, r.reason.as_str()))
        .collect();
    assert_eq!(reasons, [(6, "unclean_shutdown")]);
    assert!(
        report.to_string().contains("recovery: record 6"),
        "{report}"
    );
}

#[test]
fn a_torn_tail_is_named_by_verify_then_set_aside_and_recorded_at_open() {
    let table: [(&str, &[u8]); 3] = [
        ("a partial record", b"{\"seq\":4,\"time_millis\":17000"),
        ("zeros, as a power cut can leave", &[0; 300]),
        ("a complete line of garbage", b"not a record\n"),
    ];
    for (name, tail) in table {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = AuditWriter::open(options(dir.path(), Some(test_key(1)))).unwrap();
        for i in 0..3 {
            writer
                .append(RecordKind::EventStart, event_payload(i, "gate"))
                .unwrap();
        }
        drop(writer);
        let segment = &common::segment_files(dir.path())[0];
        let mut bytes = fs::read(segment).unwrap();
        let good_len = bytes.len() as u64;
        bytes.extend_from_slice(tail);
        fs::write(segment, &bytes).unwrap();

        let report = verify(dir.path(), None).unwrap();
        let problem = report.problem.clone().unwrap();
        assert_eq!(problem.seq, 4, "{name}");
        let location = problem.location.clone().unwrap();
        assert_eq!(
            (location.file, location.line),
            (common::file_name(segment), Some(4))
        );
        if !tail.ends_with(b"\n") {
            assert_eq!(
                problem.kind,
                ProblemKind::TornTail {
                    bytes: tail.len() as u64
                },
                "{name}"
            );
        }

        let mut writer = AuditWriter::open(options(dir.path(), Some(test_key(1)))).unwrap();
        let recovery = writer.recovery().unwrap().clone();
        let torn = recovery.torn.clone().unwrap();
        assert_eq!(
            (torn.offset, torn.bytes),
            (good_len, tail.len() as u64),
            "{name}"
        );
        assert_eq!(torn.sha256.to_hex(), sha256_hex(tail));
        assert_eq!(fs::read(&torn.kept_in).unwrap(), tail);
        assert_eq!(recovery.seq, 4);
        writer.append(RecordKind::ServiceStart, json!({})).unwrap();
        writer.close().unwrap();

        let report = verify(dir.path(), Some(&test_key(1).verifying_key())).unwrap();
        assert!(report.is_intact(), "{name}: {report}");
        let recovered = Files::load(dir.path()).record(4);
        assert_eq!(recovered["kind"], "recovered");
        assert_eq!(recovered["payload"]["reason"], "torn_tail");
        assert_eq!(recovered["payload"]["torn_bytes"], tail.len() as u64);
        assert_eq!(recovered["payload"]["torn_sha256"], sha256_hex(tail));
        let kept = common::file_name(&torn.kept_in);
        assert_eq!(kept, "audit-00000000000000000004.torn");
        assert!(
            report.to_string().contains(&format!("set aside in {kept}")),
            "{report}"
        );
    }
}

#[test]
fn damage_a_crash_cannot_leave_is_refused_and_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = AuditWriter::open(options(dir.path(), Some(test_key(1)))).unwrap();
    for i in 0..3 {
        writer
            .append(RecordKind::EventStart, event_payload(i, "gate"))
            .unwrap();
    }
    writer.close().unwrap(); // a synced shutdown checkpoint follows the damage
    let mut files = Files::load(dir.path());
    let line = files.line_mut(2);
    *line = line.replacen("gate", "gatf", 1);
    files.save();
    let before = fs::read(&files.segments[0].0).unwrap();

    let error = AuditWriter::open(options(dir.path(), Some(test_key(1)))).unwrap_err();
    let AuditError::Damaged { problem, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!((problem.seq, &problem.kind), (2, &ProblemKind::Modified));
    let message = error.to_string();
    assert!(
        message.contains("record 2 (audit-00000000000000000001.jsonl line 2)"),
        "{message}"
    );
    assert_eq!(fs::read(&files.segments[0].0).unwrap(), before);
    let torn = fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .contains("torn")
        })
        .count();
    assert_eq!(torn, 0);
}

#[test]
fn a_log_keeps_the_key_it_was_started_with() {
    let signed = tempfile::tempdir().unwrap();
    let mut writer = AuditWriter::open(options(signed.path(), Some(test_key(1)))).unwrap();
    writer.append(RecordKind::ServiceStart, json!({})).unwrap();
    writer.close().unwrap();
    let unsigned = tempfile::tempdir().unwrap();
    let mut writer = AuditWriter::open(options(unsigned.path(), None)).unwrap();
    writer.append(RecordKind::ServiceStart, json!({})).unwrap();
    writer.close().unwrap();

    let key_1 = sw_audit::key_id(&test_key(1).verifying_key());
    let key_2 = sw_audit::key_id(&test_key(2).verifying_key());
    let table = [
        (
            signed.path(),
            Some(test_key(2)),
            key_1.clone(),
            key_2.clone(),
        ),
        (signed.path(), None, key_1, "none (unsigned)".to_string()),
        (
            unsigned.path(),
            Some(test_key(2)),
            "none (unsigned)".to_string(),
            key_2,
        ),
    ];
    for (dir, key, expected_found, expected_configured) in table {
        let error = AuditWriter::open(options(dir, key)).unwrap_err();
        let AuditError::KeyMismatch {
            found, configured, ..
        } = &error
        else {
            panic!("{error}");
        };
        assert_eq!((found, configured), (&expected_found, &expected_configured));
    }
}

#[test]
fn one_writer_per_directory() {
    let dir = tempfile::tempdir().unwrap();
    let first = AuditWriter::open(options(dir.path(), None)).unwrap();
    let second = AuditWriter::open(options(dir.path(), None)).unwrap_err();
    assert!(matches!(second, AuditError::Locked { .. }), "{second}");
    drop(first);
    AuditWriter::open(options(dir.path(), None)).unwrap();
}

#[test]
fn callers_cannot_write_the_logs_own_kinds_or_bad_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = AuditWriter::open(options(dir.path(), None)).unwrap();
    let too_large = json!({ "file": "x".repeat(sw_audit::MAX_RECORD_BYTES) });
    type Expect = fn(&AuditError) -> bool;
    let table: [(RecordKind, Value, Expect); 4] = [
        (RecordKind::Checkpoint, json!({}), |e| {
            matches!(e, AuditError::ReservedKind { .. })
        }),
        (RecordKind::Recovered, json!({}), |e| {
            matches!(e, AuditError::ReservedKind { .. })
        }),
        (RecordKind::EventStart, json!([1, 2]), |e| {
            matches!(e, AuditError::PayloadNotObject { .. })
        }),
        (RecordKind::EvidenceWritten, too_large, |e| {
            matches!(e, AuditError::RecordTooLarge { .. })
        }),
    ];
    for (kind, payload, expected) in table {
        let error = writer.append(kind, payload).unwrap_err();
        assert!(expected(&error), "{kind}: {error}");
    }
    assert_eq!(
        writer.append(RecordKind::ServiceStart, json!({})).unwrap(),
        1
    );
}

#[test]
fn checkpoints_come_by_count_by_request_at_rotation_and_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(dir.path(), Some(test_key(1)));
    options.checkpoint_every_records = NonZeroU64::new(5);
    options.segment_max_bytes = 2000;
    let mut writer = AuditWriter::open(options).unwrap();
    for i in 0..12 {
        writer
            .append(RecordKind::EventStart, event_payload(i, "gate"))
            .unwrap();
    }
    let requested = writer.checkpoint().unwrap();
    let shutdown = writer.close().unwrap();
    assert_eq!(shutdown.seq, requested.seq + 1);

    let files = Files::load(dir.path());
    let checkpoints: Vec<(u64, String)> = files
        .seqs_of("checkpoint")
        .into_iter()
        .map(|seq| {
            (
                seq,
                files.record(seq)["payload"]["reason"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    // Every file but the last ends with a rotate checkpoint.
    for (_, lines) in &files.segments[..files.segments.len() - 1] {
        let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
        assert_eq!(last["payload"]["reason"], "rotate", "{checkpoints:?}");
    }
    assert!(files.segments.len() >= 3, "{checkpoints:?}");
    let reasons: Vec<&str> = checkpoints.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        reasons.iter().filter(|r| **r == "records").count(),
        2,
        "{checkpoints:?}"
    );
    assert_eq!(reasons[reasons.len() - 2..], ["requested", "shutdown"]);
    let report = verify(dir.path(), Some(&test_key(1).verifying_key())).unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.segments, files.segments.len());
}

#[test]
fn a_checkpoint_follows_by_time_without_further_appends() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(dir.path(), Some(test_key(1)));
    options.checkpoint_interval = Some(Duration::from_millis(20));
    options.fsync = FsyncPolicy::Interval(Duration::from_millis(20));
    let log = AuditLog::open(options).unwrap();
    log.append(RecordKind::ServiceStart, json!({})).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let reason = loop {
        let report = verify(dir.path(), None).unwrap();
        match report.last_checkpoint {
            Some(checkpoint) => break checkpoint.reason,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            None => panic!("no checkpoint: {report}"),
        }
    };
    assert_eq!(reason, CheckpointReason::Interval);
    log.close().unwrap();
}

#[test]
fn timers_say_when_an_interval_sync_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(dir.path(), None);
    options.fsync = FsyncPolicy::Interval(Duration::from_millis(30));
    let mut writer = AuditWriter::open(options).unwrap();
    assert_eq!(writer.next_deadline(), None);
    writer.append(RecordKind::ServiceStart, json!({})).unwrap();
    let deadline = writer.next_deadline().unwrap();
    while Instant::now() < deadline {
        std::thread::sleep(deadline - Instant::now());
    }
    writer.tick().unwrap();
    assert_eq!(writer.next_deadline(), None);
}

/// A little of everything, with a fixed key and clock: the chain in tests/golden/chain.jsonl.
fn write_golden_log(dir: &Path) {
    let mut writer = AuditWriter::open(options(dir, Some(test_key(7)))).unwrap();
    let mut event = MotionEvent {
        schema: EVENT_SCHEMA.into(),
        camera: CameraId::new("front-gate").unwrap(),
        event_id: 1,
        phase: EventPhase::Start,
        frame_seq: 480,
        time_millis: 96_000,
        start_millis: 96_000,
        end_millis: None,
        zones: vec!["drive".into()],
        score: 0.02,
        peak_score: 0.3,
        boxes: vec![],
        grid: MotionGrid {
            cols: 16,
            rows: 9,
            cells_percent: vec![0; 144],
        },
    };
    let records = [
        (
            RecordKind::ServiceStart,
            json!({"version": "0.1.0", "build": "test"}),
        ),
        (
            RecordKind::ConfigLoaded,
            json!({"sha256": "ab".repeat(32), "file": "site.toml"}),
        ),
        (
            RecordKind::ModelLoaded,
            json!({"name": "detector", "sha256": "cd".repeat(32)}),
        ),
        (
            RecordKind::CameraConnected,
            json!({"camera": "front-gate", "width": 320, "height": 180}),
        ),
        (
            RecordKind::CameraAuthFailed,
            json!({"camera": "back-door", "status": 401}),
        ),
    ];
    for (kind, payload) in records {
        writer.append(kind, payload).unwrap();
    }
    let (kind, payload) = event_record(&event).unwrap();
    writer.append(kind, payload).unwrap();
    writer.checkpoint().unwrap();
    event.phase = EventPhase::End;
    event.end_millis = Some(98_400);
    let (kind, payload) = event_record(&event).unwrap();
    writer.append(kind, payload).unwrap();
    let more = [
        (
            RecordKind::EvidenceWritten,
            json!({"file": "front-gate/1.png", "sha256": "ef".repeat(32)}),
        ),
        (
            RecordKind::RetentionDeleted,
            json!({"file": "events-2023-10-01.jsonl", "age_days": 31}),
        ),
        (
            RecordKind::CeilingOverride,
            json!({"camera": "yard", "px_per_m": 30.5, "reason": "wide yard, \"approved\" by DPO"}),
        ),
        (
            RecordKind::CameraStalled,
            json!({"camera": "front-gate", "silent_millis": 5000}),
        ),
        (
            RecordKind::CameraDisconnected,
            json!({"camera": "front-gate", "reason": "EOS"}),
        ),
        (RecordKind::ServiceStop, json!({"reason": "SIGTERM"})),
    ];
    for (kind, payload) in more {
        writer.append(kind, payload).unwrap();
    }
    writer.close().unwrap();
}

#[test]
fn the_same_records_give_the_same_bytes_as_the_golden_chain() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    write_golden_log(&a);
    write_golden_log(&b);
    let bytes = |dir: &Path| fs::read(&common::segment_files(dir)[0]).unwrap();
    assert_eq!(bytes(&a), bytes(&b));

    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var_os("SW_AUDIT_REGENERATE").is_some() {
        fs::create_dir_all(golden.parent().unwrap()).unwrap();
        fs::write(&golden, bytes(&a)).unwrap();
    }
    let expected = fs::read_to_string(&golden).unwrap();
    let actual = String::from_utf8(bytes(&a)).unwrap();
    for (number, (want, got)) in expected.lines().zip(actual.lines()).enumerate() {
        assert_eq!(
            got,
            want,
            "line {} differs from {GOLDEN}; if the format change is intended, rerun with \
             SW_AUDIT_REGENERATE=1 and say why in the commit",
            number + 1
        );
    }
    assert_eq!(actual.lines().count(), expected.lines().count());
}

/// The golden chain checked with nothing from the crate: the documented hash rule, linkage,
/// canonical re-encoding, and the checkpoint signatures over the documented message.
#[test]
fn the_golden_chain_verifies_by_the_documented_rules_alone() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    let text = fs::read_to_string(golden).unwrap();
    let public_key = test_key(7).verifying_key();
    let mut prev = "0".repeat(64);
    for (index, line) in text.lines().enumerate() {
        let record: Value = serde_json::from_str(line).unwrap();
        assert_eq!(record["seq"], index as u64 + 1);
        assert_eq!(record["time_millis"], CLOCK_MILLIS);
        assert_eq!(record["prev"], prev.as_str());
        assert_eq!(
            common::encode_line(&record),
            line,
            "line {} is not canonical",
            index + 1
        );
        let cut = line.rfind(",\"hash\":\"").unwrap();
        let hash = sha256_hex(format!("{}}}", &line[..cut]).as_bytes());
        assert_eq!(record["hash"], hash.as_str());
        if record["kind"] == "checkpoint" {
            let payload = &record["payload"];
            assert_eq!(payload["covers_hash"], prev.as_str());
            let message = common::checkpoint_message(
                payload["covers_seq"].as_u64().unwrap(),
                payload["covers_hash"].as_str().unwrap(),
            );
            let mut signature = [0; 64];
            hex::decode_to_slice(payload["signature"].as_str().unwrap(), &mut signature).unwrap();
            public_key
                .verify(message.as_bytes(), &Signature::from_bytes(&signature))
                .unwrap();
        }
        prev = hash;
    }
}

#[test]
fn key_files_are_made_once_and_load_with_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = (dir.path().join("audit.key"), dir.path().join("audit.pub"));
    let generated = keygen(&secret, &public).unwrap();
    let mode = fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let secret_text = fs::read_to_string(&secret).unwrap();
    assert!(
        secret_text.starts_with("-----BEGIN PRIVATE KEY-----\n"),
        "{secret_text}"
    );

    // Never overwrites either file, and leaves both as they were.
    let other = dir.path().join("other");
    for (s, p) in [(&secret, &other), (&other, &public)] {
        let error = keygen(s, p).unwrap_err();
        assert!(matches!(error, AuditError::KeyExists { .. }), "{error}");
        assert!(!other.exists());
    }
    assert_eq!(fs::read_to_string(&secret).unwrap(), secret_text);
    assert_eq!(load_verifying_key(&public).unwrap(), generated);

    let garbage = dir.path().join("garbage");
    fs::write(
        &garbage,
        "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let missing = dir.path().join("missing.key");
    type Load = fn(&Path) -> Result<(), AuditError>;
    let signing: Load = |p| load_signing_key(p).map(drop);
    let verifying: Load = |p| load_verifying_key(p).map(drop);
    let table = [
        (signing, &missing, "cannot read it"),
        (signing, &garbage, "not an Ed25519 secret key"),
        (signing, &public, "this is a public key"),
        (verifying, &secret, "this is a secret key"),
        (verifying, &garbage, "this is a secret key"),
        (verifying, &missing, "cannot read it"),
    ];
    let secret_body: String = secret_text.lines().nth(1).unwrap().to_string();
    for (load, path, expected) in table {
        let message = load(path).unwrap_err().to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(expected), "{message}");
        assert!(!message.contains(&secret_body), "{message}");
    }

    // The signing key never shows in Debug output.
    let key = load_signing_key(&secret).unwrap();
    let seed_hex = hex::encode(key.to_bytes());
    let debug = format!("{:?} {key:?}", options(dir.path(), Some(key.clone())));
    assert!(
        !debug.contains(&seed_hex) && !debug.contains(&secret_body),
        "{debug}"
    );
    assert!(debug.contains(&sw_audit::key_id(&generated)), "{debug}");
}

#[test]
fn verify_with_another_public_key_fails_at_the_first_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = AuditWriter::open(options(dir.path(), Some(test_key(1)))).unwrap();
    writer.append(RecordKind::ServiceStart, json!({})).unwrap();
    writer.close().unwrap();
    let report = verify(dir.path(), Some(&test_key(2).verifying_key())).unwrap();
    let problem = report.problem.clone().unwrap();
    assert_eq!(problem.seq, 2);
    assert!(
        matches!(problem.kind, ProblemKind::WrongKey { .. }),
        "{problem}"
    );
    assert!(
        report.to_string().starts_with("FAILED: record 2 "),
        "{report}"
    );

    let report = verify(dir.path(), Some(&test_key(1).verifying_key())).unwrap();
    let first_line = report.to_string().lines().next().unwrap().to_string();
    assert_eq!(
        first_line,
        "intact: 2 records in 1 file, from 2023-11-14T22:13:20.000Z to \
         2023-11-14T22:13:20.000Z, last checkpoint at record 2 (shutdown)"
    );
}

/// OpenSSL makes and reads the same key files and checks a checkpoint signature by the
/// documented message: an auditor needs nothing of ours to check one. Skipped without openssl.
#[test]
fn openssl_reads_our_keys_and_checks_a_checkpoint() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: no openssl on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "openssl {args:?}: {output:?}");
        output.stdout
    };
    // Our key pair, read by OpenSSL.
    keygen(&path("ours.key"), &path("ours.pub")).unwrap();
    let derived = openssl(&["pkey", "-in", "ours.key", "-pubout"]);
    assert_eq!(
        String::from_utf8(derived).unwrap(),
        fs::read_to_string(path("ours.pub")).unwrap()
    );
    // OpenSSL's key pair, used by us.
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", "openssl.key"]);
    openssl(&[
        "pkey",
        "-in",
        "openssl.key",
        "-pubout",
        "-out",
        "openssl.pub",
    ]);
    let key = load_signing_key(&path("openssl.key")).unwrap();
    let log = path("log");
    let mut writer = AuditWriter::open(options(&log, Some(key))).unwrap();
    writer.append(RecordKind::ServiceStart, json!({})).unwrap();
    let anchor = writer.close().unwrap();
    let public = load_verifying_key(&path("openssl.pub")).unwrap();
    assert!(verify(&log, Some(&public)).unwrap().is_intact());
    // The shutdown checkpoint's signature, checked by OpenSSL.
    let payload = Files::load(&log).record(anchor.seq)["payload"].clone();
    let message = common::checkpoint_message(
        payload["covers_seq"].as_u64().unwrap(),
        payload["covers_hash"].as_str().unwrap(),
    );
    fs::write(path("message"), message).unwrap();
    fs::write(
        path("signature"),
        hex::decode(payload["signature"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "openssl.pub",
        "-rawin",
        "-in",
        "message",
        "-sigfile",
        "signature",
    ]);
}
