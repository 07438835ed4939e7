//! The tamper matrix: a real signed log of several segments, changed the ways an attacker (or a
//! careless copy) would change it; verification must name the first record affected, its file
//! and line, and what happened. Also what is *not* detectable without an external anchor
//! (truncation at a record boundary, removal of the last segment) and that an anchor catches it.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use common::{Files, event_payload, file_name, options, test_key};
use serde_json::json;
use sw_audit::{
    Anchor, AuditWriter, Location, ProblemKind, RecordKind, VerifyOptions, VerifyingKey, verify,
    verify_with_options,
};

/// Builds the log every case starts from: 60 event records signed with key 1, a checkpoint
/// every 8 records, 4 KiB segments (so about seven files, each closed by a rotate
/// checkpoint), closed cleanly. Returns the anchor of its shutdown checkpoint.
fn build_log(dir: &Path, key_byte: u8) -> Anchor {
    let mut options = options(dir, Some(test_key(key_byte)));
    options.checkpoint_every_records = std::num::NonZeroU64::new(8);
    options.segment_max_bytes = 4096;
    let mut writer = AuditWriter::open(options).unwrap();
    for event_id in 0..60 {
        let kind = match event_id % 2 {
            0 => RecordKind::EventStart,
            _ => RecordKind::EventEnd,
        };
        writer
            .append(kind, event_payload(event_id, "front-gate"))
            .unwrap();
    }
    writer.close().unwrap()
}

fn public_key() -> VerifyingKey {
    test_key(1).verifying_key()
}

/// What a case expects: the record, where it is, and a test of the kind.
struct Expected {
    seq: u64,
    location: Option<(String, u64)>,
    kind: fn(&ProblemKind) -> bool,
}

struct Case {
    name: &'static str,
    /// Tampers with the files; returns what verification must report.
    tamper: fn(&Path, &mut Files) -> Expected,
}

/// An event record in the middle of the second segment.
fn target(files: &Files) -> u64 {
    let (_, lines) = &files.segments[1];
    let value: serde_json::Value = serde_json::from_str(&lines[2]).unwrap();
    assert_eq!(value["kind"], "event_start");
    value["seq"].as_u64().unwrap()
}

fn at(files: &Files, seq: u64) -> Option<(String, u64)> {
    Some(files.location(seq))
}

const CASES: &[Case] = &[
    Case {
        name: "flip a byte in a record's payload",
        tamper: |_, files| {
            let seq = target(files);
            let expected = at(files, seq);
            let line = files.line_mut(seq);
            *line = line.replacen("front-gate", "front-gatf", 1);
            Expected {
                seq,
                location: expected,
                kind: |k| *k == ProblemKind::Modified,
            }
        },
    },
    Case {
        name: "flip a byte in a record's hash",
        tamper: |_, files| {
            let seq = target(files);
            let expected = at(files, seq);
            let line = files.line_mut(seq);
            let at = line.len() - 3;
            let digit = if &line[at..=at] == "0" { "1" } else { "0" };
            line.replace_range(at..=at, digit);
            Expected {
                seq,
                location: expected,
                kind: |k| *k == ProblemKind::Modified,
            }
        },
    },
    Case {
        name: "edit a record and recompute its hash",
        tamper: |_, files| {
            let seq = target(files);
            let mut record = files.record(seq);
            record["payload"]["camera"] = json!("back-door");
            *files.line_mut(seq) = common::encode_line(&record);
            Expected {
                seq: seq + 1,
                location: at(files, seq + 1),
                kind: |k| *k == ProblemKind::ChainBroken,
            }
        },
    },
    Case {
        name: "delete a record",
        tamper: |_, files| {
            let seq = target(files);
            let expected = at(files, seq);
            let (s, l) = files.find(seq);
            files.segments[s].1.remove(l);
            Expected {
                seq,
                location: expected,
                kind: |k| matches!(k, ProblemKind::Removed { .. }),
            }
        },
    },
    Case {
        name: "swap two records",
        tamper: |_, files| {
            let seq = target(files);
            let expected = at(files, seq);
            let (s, l) = files.find(seq);
            files.segments[s].1.swap(l, l + 1);
            Expected {
                seq,
                location: expected,
                kind: |k| matches!(k, ProblemKind::Reordered { found, later_line, .. } if *later_line == 4 && *found > 0),
            }
        },
    },
    Case {
        name: "copy a record after itself",
        tamper: |_, files| {
            let seq = target(files);
            let (s, l) = files.find(seq);
            let copy = files.segments[s].1[l].clone();
            files.segments[s].1.insert(l + 1, copy);
            let (file, line) = files.location(seq);
            Expected {
                seq: seq + 1,
                location: Some((file, line + 1)),
                kind: |k| matches!(k, ProblemKind::OutOfOrder { .. }),
            }
        },
    },
    Case {
        name: "truncate the last segment mid-record",
        tamper: |_, files| {
            let seq = files.last_seq();
            let expected = at(files, seq);
            let line = files.line_mut(seq);
            line.truncate(line.len() / 2);
            // `save` adds a newline after each line: cut it in `after_save`.
            Expected {
                seq,
                location: expected,
                kind: |k| matches!(k, ProblemKind::TornTail { .. }),
            }
        },
    },
    Case {
        name: "truncate a middle segment mid-record",
        tamper: |_, files| {
            let lines = &files.segments[2].1;
            let value: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
            let seq = value["seq"].as_u64().unwrap();
            let expected = at(files, seq);
            let line = files.line_mut(seq);
            line.truncate(line.len() / 2);
            Expected {
                seq,
                location: expected,
                kind: |k| matches!(k, ProblemKind::SegmentTruncated { .. }),
            }
        },
    },
    Case {
        name: "remove a middle segment",
        tamper: |_, files| {
            let (path, lines) = files.segments.remove(2);
            let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
            fs::remove_file(path).unwrap();
            let seq = first["seq"].as_u64().unwrap();
            let next = file_name(&files.segments[2].0);
            Expected {
                seq,
                location: Some((next, 1)),
                kind: |k| matches!(k, ProblemKind::Removed { .. }),
            }
        },
    },
    Case {
        name: "replace a segment with the same segment of a log signed by another key",
        tamper: |dir, files| {
            let other = dir.with_extension("other");
            build_log(&other, 2);
            let replacement = Files::load(&other);
            files.segments[2].1 = replacement.segments[2].1.clone();
            let first: serde_json::Value = serde_json::from_str(&files.segments[2].1[0]).unwrap();
            let seq = first["seq"].as_u64().unwrap();
            Expected {
                seq,
                location: Some((file_name(&files.segments[2].0), 1)),
                kind: |k| *k == ProblemKind::ChainBroken,
            }
        },
    },
    Case {
        name: "swap the contents of two segment files",
        tamper: |_, files| {
            let lines = files.segments[1].1.clone();
            files.segments[1].1 = std::mem::replace(&mut files.segments[2].1, lines);
            let first: serde_json::Value = serde_json::from_str(&files.segments[2].1[0]).unwrap();
            let seq = first["seq"].as_u64().unwrap();
            Expected {
                seq,
                location: Some((file_name(&files.segments[1].0), 1)),
                kind: |k| matches!(k, ProblemKind::Reordered { .. }),
            }
        },
    },
    Case {
        name: "forge the checkpoints from one on with another key",
        tamper: |_, files| {
            let seq = files.seqs_of("checkpoint")[3];
            files.reseal_from(seq - 2, Some(&test_key(2)));
            Expected {
                seq,
                location: at(files, seq),
                kind: |k| matches!(k, ProblemKind::WrongKey { .. }),
            }
        },
    },
    Case {
        name: "a checkpoint signature taken from another checkpoint",
        tamper: |_, files| {
            let checkpoints = files.seqs_of("checkpoint");
            let (donor, seq) = (checkpoints[1], checkpoints[3]);
            let signature = files.record(donor)["payload"]["signature"].clone();
            let mut record = files.record(seq);
            record["payload"]["signature"] = signature;
            *files.line_mut(seq) = common::encode_line(&record);
            files.reseal_from(seq + 1, None);
            Expected {
                seq,
                location: at(files, seq),
                kind: |k| *k == ProblemKind::BadSignature,
            }
        },
    },
    Case {
        name: "a checkpoint that claims another hash",
        tamper: |_, files| {
            let seq = files.seqs_of("checkpoint")[3];
            let mut record = files.record(seq);
            record["payload"]["covers_hash"] = json!("ab".repeat(32));
            *files.line_mut(seq) = common::encode_line(&record);
            files.reseal_from(seq + 1, None);
            Expected {
                seq,
                location: at(files, seq),
                kind: |k| matches!(k, ProblemKind::CheckpointMismatch { .. }),
            }
        },
    },
    Case {
        name: "an unsigned checkpoint in a signed log",
        tamper: |_, files| {
            let seq = files.seqs_of("checkpoint")[3];
            let mut record = files.record(seq);
            let payload = record["payload"].as_object_mut().unwrap();
            payload.remove("signature");
            payload.remove("public_key");
            *files.line_mut(seq) = common::encode_line(&record);
            files.reseal_from(seq + 1, None);
            Expected {
                seq,
                location: at(files, seq),
                kind: |k| *k == ProblemKind::Unsigned,
            }
        },
    },
    Case {
        name: "a line in non-canonical form with a correct hash",
        tamper: |_, files| {
            let seq = target(files);
            let expected = at(files, seq);
            let line = files.line_mut(seq);
            let spaced = line.replacen("{\"seq\"", "{ \"seq\"", 1);
            let cut = spaced.rfind(",\"hash\":\"").unwrap();
            let body = format!("{}}}", &spaced[..cut]);
            *line = format!(
                "{},\"hash\":\"{}\"}}",
                &spaced[..cut],
                common::sha256_hex(body.as_bytes())
            );
            Expected {
                seq,
                location: expected,
                kind: |k| matches!(k, ProblemKind::Unreadable { reason } if reason.contains("canonical")),
            }
        },
    },
];

#[test]
fn every_tampering_is_reported_at_the_right_record() {
    let root = tempfile::tempdir().unwrap();
    let pristine = root.path().join("pristine");
    build_log(&pristine, 1);
    let report = verify(&pristine, Some(&public_key())).unwrap();
    assert!(report.is_intact(), "{report}");
    assert!(report.segments >= 5, "{report}");
    for (index, case) in CASES.iter().enumerate() {
        let dir = root.path().join(format!("case-{index}"));
        fs::create_dir(&dir).unwrap();
        for path in common::segment_files(&pristine) {
            fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
        let mut files = Files::load(&dir);
        let expected = (case.tamper)(&dir, &mut files);
        files.save();
        if case.name.contains("mid-record") {
            // `save` ends every line with a newline; a cut record has none.
            let path = &files.segments[partial_segment(&files)].0;
            let mut bytes = fs::read(path).unwrap();
            bytes.pop();
            fs::write(path, bytes).unwrap();
        }
        let report = verify(&dir, Some(&public_key())).unwrap();
        let problem = report
            .problem
            .clone()
            .unwrap_or_else(|| panic!("{}: not detected\n{report}", case.name));
        let location = problem
            .location
            .clone()
            .map(|Location { file, line }| (file, line.unwrap()));
        assert_eq!(
            (problem.seq, location),
            (expected.seq, expected.location),
            "{}: {problem}",
            case.name
        );
        assert!((expected.kind)(&problem.kind), "{}: {problem}", case.name);
        assert!(
            report.to_string().starts_with("FAILED: record "),
            "{report}"
        );
        assert_eq!(report.records, expected.seq - 1, "{}", case.name);
    }
}

/// Without a public key, a consistent re-signing with another key goes unnoticed, except where
/// the log changes keys part-way: verification says it checked the chain only.
#[test]
fn without_a_public_key_only_the_chain_and_key_consistency_are_checked() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    build_log(&dir, 1);
    let mut files = Files::load(&dir);
    files.reseal_from(1, Some(&test_key(2)));
    files.save();
    let chain_only = verify(&dir, None).unwrap();
    assert!(chain_only.is_intact(), "{chain_only}");
    assert!(
        chain_only.to_string().contains("chain only"),
        "{chain_only}"
    );
    let with_key = verify(&dir, Some(&public_key())).unwrap();
    let first_checkpoint = files.seqs_of("checkpoint")[0];
    assert_eq!(
        with_key.problem.as_ref().map(|p| p.seq),
        Some(first_checkpoint)
    );

    let mut files = Files::load(&dir);
    let from = files.seqs_of("checkpoint")[2];
    files.reseal_from(from, Some(&test_key(3)));
    files.save();
    let report = verify(&dir, None).unwrap();
    let problem = report.problem.unwrap();
    assert_eq!(problem.seq, from);
    assert!(
        matches!(problem.kind, ProblemKind::KeyChanged { .. }),
        "{problem}"
    );
}

/// Truncation at a record boundary leaves a valid shorter chain: the log alone cannot show
/// it, beyond no longer ending with a shutdown checkpoint. An anchor the auditor kept shows it.
#[test]
fn truncation_at_a_record_boundary_shows_only_against_an_anchor() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    let anchor = build_log(&dir, 1);
    let last_checkpoint = verify(&dir, Some(&public_key()))
        .unwrap()
        .last_checkpoint
        .unwrap();
    assert_eq!(
        (anchor.seq, anchor.hash),
        (last_checkpoint.seq, last_checkpoint.hash)
    );

    type Truncate = fn(&mut Files);
    let table: [(&str, Truncate); 3] = [
        ("the shutdown checkpoint removed", |files| {
            files.segments.last_mut().unwrap().1.pop();
        }),
        ("back to an earlier checkpoint", |files| {
            let keep = files.seqs_of("checkpoint")[4];
            let (s, l) = files.find(keep);
            files.segments[s].1.truncate(l + 1);
            for (path, _) in files.segments.drain(s + 1..) {
                fs::remove_file(path).unwrap();
            }
        }),
        ("the last segment removed", |files| {
            let (path, _) = files.segments.pop().unwrap();
            fs::remove_file(path).unwrap();
        }),
    ];
    for (name, truncate) in table {
        let case = root.path().join(name.replace(' ', "-"));
        fs::create_dir(&case).unwrap();
        for path in common::segment_files(&dir) {
            fs::copy(&path, case.join(path.file_name().unwrap())).unwrap();
        }
        let mut files = Files::load(&case);
        truncate(&mut files);
        files.save();
        let alone = verify(&case, Some(&public_key())).unwrap();
        assert!(alone.is_intact(), "{name}: {alone}");
        assert!(!alone.ends_with_shutdown, "{name}");
        assert!(alone.to_string().contains("open end"), "{name}: {alone}");
        let anchored = verify_with_options(&VerifyOptions {
            dir: case.clone(),
            public_key: Some(public_key()),
            anchors: vec![anchor],
        })
        .unwrap();
        let problem = anchored.problem.unwrap();
        assert_eq!(problem.seq, anchor.seq, "{name}");
        assert!(
            matches!(problem.kind, ProblemKind::AnchorMissing { .. }),
            "{name}: {problem}"
        );
    }
}

/// An insider with the signing key can rewrite history consistently; an anchor kept from an
/// earlier verification still shows it.
#[test]
fn a_rewrite_with_the_signing_key_shows_against_an_anchor() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    let anchor = build_log(&dir, 1);
    let mut files = Files::load(&dir);
    let mut record = files.record(5);
    record["payload"]["zones"] = json!([]);
    *files.line_mut(5) = common::encode_line(&record);
    files.reseal_from(6, Some(&test_key(1)));
    files.save();
    assert!(verify(&dir, Some(&public_key())).unwrap().is_intact());
    let report = verify_with_options(&VerifyOptions {
        dir: dir.clone(),
        public_key: Some(public_key()),
        anchors: vec![anchor],
    })
    .unwrap();
    let problem = report.problem.unwrap();
    assert_eq!(problem.seq, anchor.seq);
    assert!(
        matches!(problem.kind, ProblemKind::AnchorMismatch { .. }),
        "{problem}"
    );
}

/// The segment holding a line that no longer parses (the cut one).
fn partial_segment(files: &Files) -> usize {
    files
        .segments
        .iter()
        .position(|(_, lines)| {
            lines
                .iter()
                .any(|l| serde_json::from_str::<serde_json::Value>(l).is_err())
        })
        .unwrap()
}
