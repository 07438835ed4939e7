//! Helpers shared by the integration tests: fixed keys and clock, typical payloads, and an
//! independent implementation of the documented line format (docs/design/audit.md) used to
//! rewrite logs the way an attacker would.

#![allow(dead_code)] // each test file uses a different subset
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use ed25519_dalek::Signer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sw_audit::{AuditOptions, SigningKey};

pub const CLOCK_MILLIS: u64 = 1_700_000_000_000;

/// A clock that never moves, so that logs are byte-identical from run to run.
pub fn fixed_clock() -> u64 {
    CLOCK_MILLIS
}

/// A deterministic test key (never a real one).
pub fn test_key(byte: u8) -> SigningKey {
    SigningKey::from_bytes(&[byte; 32])
}

pub fn options(dir: &Path, key: Option<SigningKey>) -> AuditOptions {
    AuditOptions {
        signing_key: key,
        now_millis: fixed_clock,
        ..AuditOptions::new(dir)
    }
}

/// The payload of a typical event start or end (what `sw_audit::event_record` makes).
pub fn event_payload(event_id: u64, camera: &str) -> Value {
    json!({
        "camera": camera,
        "event_id": event_id,
        "phase": if event_id.is_multiple_of(2) { "start" } else { "end" },
        "frame_seq": 1000 + event_id * 25,
        "start_millis": 93_200 + event_id * 1000,
        "end_millis": if event_id.is_multiple_of(2) { Value::Null } else { json!(95_800 + event_id * 1000) },
        "zones": ["drive", "path"],
        "peak_score": 0.125,
    })
}

/// The segment files of a log, in order.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with("audit-") && name.ends_with(".jsonl")
        })
        .collect();
    files.sort();
    files
}

pub fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_str().unwrap().to_string()
}

/// SHA-256 in hex, computed here rather than by the crate.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The documented encoding, written out independently: members in the order seq, time_millis,
/// kind, payload, prev; no whitespace; payload keys sorted; hash = SHA-256 of that body;
/// the line is the body with `,"hash":"<hex>"` before its closing brace.
pub fn encode_line(record: &Value) -> String {
    let body = format!(
        "{{\"seq\":{},\"time_millis\":{},\"kind\":{},\"payload\":{},\"prev\":{}}}",
        record["seq"],
        record["time_millis"],
        record["kind"],
        serde_json::to_string(&record["payload"]).unwrap(),
        record["prev"],
    );
    let hash = sha256_hex(body.as_bytes());
    format!("{},\"hash\":\"{hash}\"}}", &body[..body.len() - 1])
}

/// What a checkpoint signs, written out independently.
pub fn checkpoint_message(covers_seq: u64, covers_hash: &str) -> String {
    format!("stillwatch.audit.checkpoint/1 {covers_seq} {covers_hash}")
}

/// A log's segment files as lines, to edit and write back.
#[derive(Debug, Clone)]
pub struct Files {
    pub segments: Vec<(PathBuf, Vec<String>)>,
}

impl Files {
    pub fn load(dir: &Path) -> Self {
        let segments = segment_files(dir)
            .into_iter()
            .map(|path| {
                let text = fs::read_to_string(&path).unwrap();
                let lines = text.lines().map(str::to_string).collect();
                (path, lines)
            })
            .collect();
        Files { segments }
    }

    pub fn save(&self) {
        for (path, lines) in &self.segments {
            let mut text = lines.join("\n");
            if !lines.is_empty() {
                text.push('\n');
            }
            fs::write(path, text).unwrap();
        }
    }

    /// (segment index, line index) of record `seq`.
    pub fn find(&self, seq: u64) -> (usize, usize) {
        for (s, (_, lines)) in self.segments.iter().enumerate() {
            for (l, line) in lines.iter().enumerate() {
                let value: Value = serde_json::from_str(line).unwrap();
                if value["seq"] == seq {
                    return (s, l);
                }
            }
        }
        panic!("no record {seq}")
    }

    pub fn record(&self, seq: u64) -> Value {
        let (s, l) = self.find(seq);
        serde_json::from_str(&self.segments[s].1[l]).unwrap()
    }

    /// File name and 1-based line of record `seq`.
    pub fn location(&self, seq: u64) -> (String, u64) {
        let (s, l) = self.find(seq);
        (file_name(&self.segments[s].0), l as u64 + 1)
    }

    pub fn line_mut(&mut self, seq: u64) -> &mut String {
        let (s, l) = self.find(seq);
        &mut self.segments[s].1[l]
    }

    /// Sequence numbers of records of `kind`, in order.
    pub fn seqs_of(&self, kind: &str) -> Vec<u64> {
        self.segments
            .iter()
            .flat_map(|(_, lines)| lines.iter())
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|v| v["kind"] == kind)
            .map(|v| v["seq"].as_u64().unwrap())
            .collect()
    }

    pub fn last_seq(&self) -> u64 {
        let (_, lines) = self.segments.last().unwrap();
        let value: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
        value["seq"].as_u64().unwrap()
    }

    /// Rewrites every record from `from_seq` on as an attacker who can write the files would:
    /// each record re-linked and re-hashed, and each checkpoint re-signed with `key` (or left
    /// with its old signature when `key` is `None`).
    pub fn reseal_from(&mut self, from_seq: u64, key: Option<&SigningKey>) {
        let mut prev: Option<String> = None;
        for (_, lines) in &mut self.segments {
            for line in lines.iter_mut() {
                let mut record: Value = serde_json::from_str(line).unwrap();
                let seq = record["seq"].as_u64().unwrap();
                if seq >= from_seq {
                    let prev_hash = prev.clone().unwrap_or_else(|| "0".repeat(64));
                    record["prev"] = json!(prev_hash);
                    if record["kind"] == "checkpoint"
                        && let Some(key) = key
                    {
                        let payload = &mut record["payload"];
                        payload["covers_seq"] = json!(seq - 1);
                        payload["covers_hash"] = json!(prev_hash);
                        payload["public_key"] = json!(hex::encode(key.verifying_key().as_bytes()));
                        let message = checkpoint_message(seq - 1, &prev_hash);
                        payload["signature"] =
                            json!(hex::encode(key.sign(message.as_bytes()).to_bytes()));
                    }
                    *line = encode_line(&record);
                }
                let value: Value = serde_json::from_str(line).unwrap();
                prev = Some(value["hash"].as_str().unwrap().to_string());
            }
        }
    }
}
