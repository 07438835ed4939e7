//! The chain rules: what makes a record follow the one before it, what a checkpoint must say,
//! and walking a segment file record by record. Shared by `verify` (every segment) and the
//! writer's open (the last segment, to find its tail and any torn bytes).
//!
//! Owns: sequence and `prev` linkage, checkpoint payloads and their signatures, the
//! `recovered` payload, and the problems found. Does not own: the line format (`record`),
//! resolving a gap into "removed" or "reordered" (`verify`, which can look ahead), or reports.

use std::fmt;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AuditError;
use crate::keys::checkpoint_signature_holds;
use crate::record::{DecodeError, Hash, Record, decode};
use crate::segment::{LineReader, Segment};

/// Why a checkpoint was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointReason {
    /// `checkpoint_every_records` records since the last one.
    Records,
    /// `checkpoint_interval` passed with records since the last one.
    Interval,
    /// The segment file reached its size limit; the next record starts a new file.
    Rotate,
    /// The caller asked for one.
    Requested,
    /// The log was closed cleanly; the last record of a run.
    Shutdown,
}

impl fmt::Display for CheckpointReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckpointReason::Records => "records",
            CheckpointReason::Interval => "interval",
            CheckpointReason::Rotate => "rotate",
            CheckpointReason::Requested => "requested",
            CheckpointReason::Shutdown => "shutdown",
        })
    }
}

/// A checkpoint record's payload. Signed checkpoints carry the public key (hex) and the
/// signature (hex) of [`crate::keys::checkpoint_message`]; a log without a key writes only
/// unsigned shutdown and rotate checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckpointPayload {
    pub covers_seq: u64,
    pub covers_hash: Hash,
    pub reason: CheckpointReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// What a verifier learnt about a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointSummary {
    /// The checkpoint record's own sequence number and hash.
    pub seq: u64,
    pub hash: Hash,
    /// The record it covers (always `seq - 1`).
    pub covers_seq: u64,
    pub reason: CheckpointReason,
    pub signed: bool,
}

/// What a verifier learnt about a `recovered` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryNote {
    /// The `recovered` record's sequence number.
    pub seq: u64,
    /// `torn_tail` or `unclean_shutdown`.
    pub reason: String,
    pub torn_bytes: Option<u64>,
    /// Where the torn bytes were kept, relative to the log directory.
    pub torn_file: Option<String>,
}

/// The first thing wrong with a log, by kind. A [`crate::Problem`] adds where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// The line is not a record at all: damaged beyond reading, or not in canonical form.
    Unreadable { reason: String },
    /// The record's bytes do not hash to the hash written in it: edited in place.
    Modified,
    /// The record's `prev` is not the hash of the record before it: that record was edited and
    /// its hash recomputed, or this record's file was replaced.
    ChainBroken,
    /// A later record (`found`) stands where this one was expected, and this one appears
    /// nowhere after it: records `seq..found` were removed.
    Removed { found: u64 },
    /// A later record (`found`) stands where this one was expected, and this one appears
    /// further on: records were reordered.
    Reordered {
        found: u64,
        later_file: String,
        later_line: u64,
    },
    /// An earlier record (`found`) stands where this one was expected: a record was copied or
    /// moved back.
    OutOfOrder { found: u64 },
    /// The file's name says it starts at another record than it does.
    SegmentMisnamed { named: u64 },
    /// A segment that is not the last ends in the middle of a record.
    SegmentTruncated { bytes: u64 },
    /// The log ends in a partial record: what a crash mid-write leaves (reopening the log
    /// sets it aside and records that) or a truncation.
    TornTail { bytes: u64 },
    /// A checkpoint record whose payload is not a checkpoint's.
    BadCheckpoint { reason: String },
    /// A checkpoint that claims to cover another record or hash than the one before it.
    CheckpointMismatch { covers_seq: u64, covers_hash: Hash },
    /// A checkpoint whose signature does not hold for what it covers under the given key.
    BadSignature,
    /// A checkpoint signed by another key than the one given.
    WrongKey { found: String },
    /// An unsigned checkpoint, while a public key was given.
    Unsigned,
    /// A checkpoint signed by another key than the log's earlier checkpoints (or unsigned
    /// after signed ones): checked even without a public key.
    KeyChanged {
        previous: Option<String>,
        found: Option<String>,
    },
    /// The log ends before a record the auditor holds an anchor for: it was truncated.
    AnchorMissing { expected: Hash, last_seq: u64 },
    /// The record an anchor names has another hash: the log was rewritten.
    AnchorMismatch { expected: Hash, actual: Hash },
}

fn key_name(key: &Option<String>) -> &str {
    key.as_deref().unwrap_or("none (unsigned)")
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProblemKind::Unreadable { reason } => write!(f, "is unreadable: {reason}"),
            ProblemKind::Modified => {
                f.write_str("was modified: its content does not match its recorded hash")
            }
            ProblemKind::ChainBroken => f.write_str(
                "does not link to the record before it: that record was modified and re-hashed, \
                 or this file was replaced",
            ),
            ProblemKind::Removed { found } => write!(
                f,
                "is missing: the next record found is {found}, and the missing ones appear \
                 nowhere later; they were removed"
            ),
            ProblemKind::Reordered {
                found,
                later_file,
                later_line,
            } => write!(
                f,
                "is out of place: record {found} stands in its place and it appears later, at \
                 {later_file} line {later_line}; records were reordered"
            ),
            ProblemKind::OutOfOrder { found } => write!(
                f,
                "is missing: the earlier record {found} stands in its place (copied or moved)"
            ),
            ProblemKind::SegmentMisnamed { named } => {
                write!(
                    f,
                    "starts a file whose name says it starts at record {named}"
                )
            }
            ProblemKind::SegmentTruncated { bytes } => write!(
                f,
                "is cut short: its file ends after {bytes} bytes of it, and it is not the last \
                 file; the file was truncated"
            ),
            ProblemKind::TornTail { bytes } => write!(
                f,
                "is torn: the log ends with {bytes} bytes of a partial record, as a crash \
                 mid-write leaves (reopening the log sets them aside and records it) or a \
                 truncation"
            ),
            ProblemKind::BadCheckpoint { reason } => {
                write!(f, "is a malformed checkpoint: {reason}")
            }
            ProblemKind::CheckpointMismatch {
                covers_seq,
                covers_hash,
            } => write!(
                f,
                "is a checkpoint that claims to cover record {covers_seq} with hash {}, which \
                 is not the record before it",
                covers_hash.short()
            ),
            ProblemKind::BadSignature => f.write_str(
                "is a checkpoint whose signature does not hold: it was forged or what it covers \
                 was changed",
            ),
            ProblemKind::WrongKey { found } => {
                write!(f, "is a checkpoint signed by another key ({found})")
            }
            ProblemKind::Unsigned => f.write_str(
                "is an unsigned checkpoint, but a public key was given: every checkpoint must be \
                 signed by it",
            ),
            ProblemKind::KeyChanged { previous, found } => write!(
                f,
                "is a checkpoint signed by key {}, but earlier checkpoints were signed by {}",
                key_name(found),
                key_name(previous)
            ),
            ProblemKind::AnchorMissing { expected, last_seq } => write!(
                f,
                "(anchor {}) is missing: the log ends at record {last_seq}; it was truncated",
                expected.short()
            ),
            ProblemKind::AnchorMismatch { expected, actual } => write!(
                f,
                "has hash {}, not the anchor's {}: the log was rewritten",
                actual.short(),
                expected.short()
            ),
        }
    }
}

/// Statistics of the records accepted so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChainStats {
    pub records: u64,
    pub first_time_millis: Option<u64>,
    pub last_time_millis: Option<u64>,
    pub checkpoints: u64,
    pub last_checkpoint: Option<CheckpointSummary>,
    pub records_after_checkpoint: u64,
    /// Whether the last record accepted is a shutdown checkpoint.
    pub ends_with_shutdown: bool,
    /// The public key (hex) of the checkpoints seen, once one has been seen; `Some(None)`
    /// for unsigned ones.
    pub checkpoint_key: Option<Option<String>>,
    pub recoveries: Vec<RecoveryNote>,
}

/// The state of a walk along the chain: the record expected next and the hash it must link to.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    public_key: Option<VerifyingKey>,
    pub next_seq: u64,
    pub prev: Hash,
    pub stats: ChainStats,
}

impl Chain {
    /// A walk that expects record `next_seq` linking to `prev`; checkpoints must be signed by
    /// `public_key` when one is given.
    pub fn new(public_key: Option<VerifyingKey>, next_seq: u64, prev: Hash) -> Self {
        Chain {
            public_key,
            next_seq,
            prev,
            stats: ChainStats::default(),
        }
    }

    /// Checks one line (without its newline) as the next record, and takes it if it holds.
    pub fn accept(&mut self, line: &[u8]) -> Result<Record, ProblemKind> {
        let record = decode(line).map_err(|e| match e {
            DecodeError::HashMismatch => ProblemKind::Modified,
            DecodeError::NotARecord(reason) => ProblemKind::Unreadable { reason },
        })?;
        if record.seq < self.next_seq {
            return Err(ProblemKind::OutOfOrder { found: record.seq });
        }
        if record.seq > self.next_seq {
            return Err(ProblemKind::Removed { found: record.seq });
        }
        if record.prev != self.prev {
            return Err(ProblemKind::ChainBroken);
        }
        let checkpoint = match record.kind.as_str() {
            "checkpoint" => Some(self.check_checkpoint(&record)?),
            _ => None,
        };
        self.take(&record, checkpoint);
        Ok(record)
    }

    fn check_checkpoint(&mut self, record: &Record) -> Result<CheckpointSummary, ProblemKind> {
        let payload: CheckpointPayload =
            serde_json::from_value(Value::Object(record.payload.clone())).map_err(|e| {
                ProblemKind::BadCheckpoint {
                    reason: e.to_string(),
                }
            })?;
        if payload.covers_seq.checked_add(1) != Some(record.seq)
            || payload.covers_hash != record.prev
        {
            return Err(ProblemKind::CheckpointMismatch {
                covers_seq: payload.covers_seq,
                covers_hash: payload.covers_hash,
            });
        }
        let key = match (&payload.public_key, &payload.signature) {
            (Some(key_hex), Some(signature_hex)) => {
                let key = decode_hex::<32>(key_hex, "public_key")?;
                let signature =
                    Signature::from_bytes(&decode_hex::<64>(signature_hex, "signature")?);
                if let Some(expected) = &self.public_key {
                    if expected.as_bytes() != &key {
                        return Err(ProblemKind::WrongKey {
                            found: key_hex.clone(),
                        });
                    }
                    if !checkpoint_signature_holds(
                        expected,
                        &signature,
                        payload.covers_seq,
                        &payload.covers_hash,
                    ) {
                        return Err(ProblemKind::BadSignature);
                    }
                }
                Some(key_hex.clone())
            }
            (None, None) if self.public_key.is_some() => return Err(ProblemKind::Unsigned),
            (None, None) => None,
            _ => {
                return Err(ProblemKind::BadCheckpoint {
                    reason: "it has a public key without a signature, or a signature without a \
                             public key"
                        .into(),
                });
            }
        };
        if let Some(previous) = &self.stats.checkpoint_key
            && *previous != key
        {
            return Err(ProblemKind::KeyChanged {
                previous: previous.clone(),
                found: key,
            });
        }
        self.stats.checkpoint_key = Some(key);
        Ok(CheckpointSummary {
            seq: record.seq,
            hash: record.hash,
            covers_seq: payload.covers_seq,
            reason: payload.reason,
            signed: payload.signature.is_some(),
        })
    }

    fn take(&mut self, record: &Record, checkpoint: Option<CheckpointSummary>) {
        let stats = &mut self.stats;
        stats.records += 1;
        stats.first_time_millis.get_or_insert(record.time_millis);
        stats.last_time_millis = Some(record.time_millis);
        stats.ends_with_shutdown = false;
        match checkpoint {
            Some(summary) => {
                stats.checkpoints += 1;
                stats.records_after_checkpoint = 0;
                stats.ends_with_shutdown = summary.reason == CheckpointReason::Shutdown;
                stats.last_checkpoint = Some(summary);
            }
            None => stats.records_after_checkpoint += 1,
        }
        if record.kind == "recovered" {
            let text = |key: &str| record.payload.get(key).and_then(Value::as_str);
            stats.recoveries.push(RecoveryNote {
                seq: record.seq,
                reason: text("reason").unwrap_or("?").to_string(),
                torn_bytes: record.payload.get("torn_bytes").and_then(Value::as_u64),
                torn_file: text("torn_file").map(str::to_string),
            });
        }
        self.next_seq += 1;
        self.prev = record.hash;
    }
}

fn decode_hex<const N: usize>(text: &str, member: &str) -> Result<[u8; N], ProblemKind> {
    let mut bytes = [0; N];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| ProblemKind::BadCheckpoint {
        reason: format!("its {member} is not {} hex digits", N * 2),
    })?;
    Ok(bytes)
}

/// Where a walk along a segment stopped, and why.
#[derive(Debug, Clone)]
pub(crate) struct Stop {
    pub kind: ProblemKind,
    /// The record expected at that point.
    pub seq: u64,
    pub line: u64,
    /// Byte offset of the offending line in the file.
    pub offset: u64,
}

/// Walks one segment file along `chain`, calling `visit` for each record accepted. Stops at
/// the first problem; a partial last line is [`ProblemKind::TornTail`] (the caller knows
/// whether the file is the last one).
pub(crate) fn scan_segment(
    segment: &Segment,
    chain: &mut Chain,
    mut visit: impl FnMut(&Record),
) -> Result<Option<Stop>, AuditError> {
    let mut reader = LineReader::open(&segment.path)?;
    while let Some(line) = reader.next_line(&segment.path)? {
        let stop = |kind, seq| Stop {
            kind,
            seq,
            line: line.number,
            offset: line.offset,
        };
        if !line.complete {
            let kind = ProblemKind::TornTail { bytes: line.length };
            return Ok(Some(stop(kind, chain.next_seq)));
        }
        let expected = chain.next_seq;
        match chain.accept(line.bytes) {
            Ok(record) if line.number == 1 && record.seq != segment.first_seq => {
                let kind = ProblemKind::SegmentMisnamed {
                    named: segment.first_seq,
                };
                return Ok(Some(stop(kind, record.seq)));
            }
            Ok(record) => visit(&record),
            Err(kind) => return Ok(Some(stop(kind, expected))),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::sign_checkpoint;
    use crate::record::encode;
    use ed25519_dalek::SigningKey;
    use serde_json::{Map, json};

    /// One encoded line (no newline) and its hash.
    fn line(seq: u64, kind: &str, payload: Value, prev: Hash) -> (Vec<u8>, Hash) {
        let Value::Object(payload) = payload else {
            unreachable!("object payloads only")
        };
        let mut encoded = encode(seq, 1000, kind, &payload, prev).unwrap();
        encoded.line.pop();
        (encoded.line, encoded.hash)
    }

    fn checkpoint(seq: u64, covers: (u64, Hash), key: Option<&SigningKey>, prev: Hash) -> Vec<u8> {
        let mut payload = Map::new();
        payload.insert("covers_seq".into(), json!(covers.0));
        payload.insert("covers_hash".into(), json!(covers.1));
        payload.insert("reason".into(), json!("shutdown"));
        if let Some(key) = key {
            let public = hex::encode(key.verifying_key().as_bytes());
            let signature = sign_checkpoint(key, covers.0, &covers.1).to_bytes();
            payload.insert("public_key".into(), json!(public));
            payload.insert("signature".into(), json!(hex::encode(signature)));
        }
        line(seq, "checkpoint", Value::Object(payload), prev).0
    }

    #[test]
    fn accepts_a_chain_and_names_what_breaks_it() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let other = SigningKey::from_bytes(&[2; 32]);
        let (l1, h1) = line(1, "service_start", json!({}), Hash::ZERO);
        let (l2, h2) = line(2, "event_start", json!({"camera": "gate"}), h1);
        let (l2_unlinked, _) = line(2, "event_start", json!({"camera": "gate"}), Hash::ZERO);
        let signed = checkpoint(3, (2, h2), Some(&key), h2);
        let by_other = checkpoint(3, (2, h2), Some(&other), h2);
        let unsigned = checkpoint(3, (2, h2), None, h2);
        let covers_wrong = checkpoint(3, (1, h1), Some(&key), h2);
        let mut flipped = l2.clone();
        flipped[20] ^= 1;

        type Case<'a> = (&'a str, Vec<&'a [u8]>, Option<ProblemKind>);
        let table: Vec<Case> = vec![
            ("good", vec![&l1, &l2, &signed], None),
            (
                "flipped byte",
                vec![&l1, &flipped],
                Some(ProblemKind::Modified),
            ),
            (
                "removed",
                vec![&l1, &signed],
                Some(ProblemKind::Removed { found: 3 }),
            ),
            (
                "repeated",
                vec![&l1, &l2, &l2],
                Some(ProblemKind::OutOfOrder { found: 2 }),
            ),
            (
                "unlinked",
                vec![&l1, &l2_unlinked],
                Some(ProblemKind::ChainBroken),
            ),
            (
                "other key",
                vec![&l1, &l2, &by_other],
                Some(ProblemKind::WrongKey {
                    found: hex::encode(other.verifying_key().as_bytes()),
                }),
            ),
            (
                "unsigned",
                vec![&l1, &l2, &unsigned],
                Some(ProblemKind::Unsigned),
            ),
            (
                "covers another record",
                vec![&l1, &l2, &covers_wrong],
                Some(ProblemKind::CheckpointMismatch {
                    covers_seq: 1,
                    covers_hash: h1,
                }),
            ),
        ];
        for (name, lines, expected) in table {
            let mut chain = Chain::new(Some(key.verifying_key()), 1, Hash::ZERO);
            let (last, before) = lines.split_last().unwrap();
            for line in before {
                chain.accept(line).unwrap();
            }
            assert_eq!(chain.accept(last).err(), expected, "{name}");
        }

        let mut chain = Chain::new(None, 1, Hash::ZERO);
        for line in [&l1, &l2, &signed] {
            chain.accept(line).unwrap();
        }
        let stats = &chain.stats;
        assert_eq!(
            (stats.records, stats.checkpoints, stats.ends_with_shutdown),
            (3, 1, true)
        );
        assert_eq!(stats.records_after_checkpoint, 0);
        assert_eq!(
            (chain.next_seq, chain.stats.first_time_millis),
            (4, Some(1000))
        );
    }
}
