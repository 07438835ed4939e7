//! Offline verification of a whole log: every segment, every record, every checkpoint, and any
//! anchors an auditor kept from an earlier run; the report a person reads.
//!
//! Owns: the walk over all segments, telling "removed" from "reordered", anchors, and the
//! report's wording. Does not own: the per-record rules (`chain`) or the CLI's exit code (the
//! binary exits non-zero when [`VerifyReport::is_intact`] is false).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;
use serde::Deserialize;

use crate::AuditError;
use crate::chain::{Chain, CheckpointSummary, ProblemKind, RecoveryNote, Stop, scan_segment};
use crate::keys::key_id;
use crate::record::Hash;
use crate::segment::{LineReader, Segment, list_segments};

/// A record the auditor knows the hash of, from a report or a checkpoint they kept: verify
/// fails if the log no longer holds that record with that hash. Written `SEQ:HASH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub seq: u64,
    pub hash: Hash,
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// Why a string is not an [`Anchor`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an anchor: expected SEQ:HASH, e.g. 1200:<64 hex digits>")]
pub struct AnchorParseError {
    text: String,
}

impl FromStr for Anchor {
    type Err = AnchorParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || AnchorParseError {
            text: text.chars().take(100).collect(),
        };
        let (seq, hash) = text.split_once(':').ok_or_else(error)?;
        Ok(Anchor {
            seq: seq.parse().map_err(|_| error())?,
            hash: hash.parse().map_err(|_| error())?,
        })
    }
}

/// Where in a log: a segment file (relative to the log directory) and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    /// `None` for "its last record".
    pub line: Option<u64>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} line {line}", self.file),
            None => write!(f, "{}, last record", self.file),
        }
    }
}

/// The first thing wrong with a log: which record, where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The record expected at that point (for an anchor, the anchored record).
    pub seq: u64,
    pub location: Option<Location>,
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(f, "record {} ({location}) {}", self.seq, self.kind),
            None => write!(f, "record {} {}", self.seq, self.kind),
        }
    }
}

/// What to verify and against what.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub dir: PathBuf,
    /// Every checkpoint must be signed by this key. Without it, only the chain is checked
    /// (and that all checkpoints name one key), and the report says so.
    pub public_key: Option<VerifyingKey>,
    /// Records the auditor kept from an earlier verification; catch truncation and rewriting
    /// that the log alone cannot show.
    pub anchors: Vec<Anchor>,
}

/// Whether checkpoint signatures were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signatures {
    /// Against this public key (hex).
    Checked { key: String },
    /// No public key was given: the chain only.
    NotChecked,
}

/// The outcome of a verification: what was verified, and the first problem if there is one.
/// `Display` gives the text `stillwatch audit verify` prints.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub dir: PathBuf,
    pub segments: usize,
    /// Records verified (before the problem, if any), checkpoints included.
    pub records: u64,
    pub first_time_millis: Option<u64>,
    pub last_time_millis: Option<u64>,
    pub checkpoints: u64,
    pub last_checkpoint: Option<CheckpointSummary>,
    pub signatures: Signatures,
    /// Records after the last checkpoint: covered by the chain but by no signature yet.
    pub records_after_last_checkpoint: u64,
    /// Whether the log ends with a shutdown checkpoint (the writer closed cleanly).
    pub ends_with_shutdown: bool,
    /// `recovered` records: runs that ended without a clean close.
    pub recoveries: Vec<RecoveryNote>,
    pub anchors_checked: usize,
    pub problem: Option<Problem>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// Verifies the log in `dir`; with `public_key`, every checkpoint's signature too.
pub fn verify(dir: &Path, public_key: Option<&VerifyingKey>) -> Result<VerifyReport, AuditError> {
    verify_with_options(&VerifyOptions {
        dir: dir.into(),
        public_key: public_key.copied(),
        anchors: Vec::new(),
    })
}

/// Verifies a log as [`VerifyOptions`] says. I/O failures are errors; anything wrong with the
/// log's content is the report's [`VerifyReport::problem`].
pub fn verify_with_options(options: &VerifyOptions) -> Result<VerifyReport, AuditError> {
    let segments = list_segments(&options.dir)?;
    if segments.is_empty() {
        return Err(AuditError::NoLog {
            dir: options.dir.clone(),
        });
    }
    let mut chain = Chain::new(options.public_key, 1, Hash::ZERO);
    let mut anchors = options.anchors.clone();
    anchors.sort_by_key(|a| a.seq);
    let mut anchor_problem = None;
    let mut problem = None;
    for (index, segment) in segments.iter().enumerate() {
        let visit = |record: &crate::record::Record| {
            let wrong = anchors
                .iter()
                .find(|a| a.seq == record.seq && a.hash != record.hash);
            if anchor_problem.is_none()
                && let Some(anchor) = wrong
            {
                anchor_problem = Some(Problem {
                    seq: anchor.seq,
                    location: None,
                    kind: ProblemKind::AnchorMismatch {
                        expected: anchor.hash,
                        actual: record.hash,
                    },
                });
            }
        };
        let stop = scan_segment(segment, &mut chain, visit)?;
        // A wrong anchored record with the chain intact up to it means the log was rewritten
        // consistently (with the signing key, or where it has no checkpoints).
        if anchor_problem.is_some() {
            problem = anchor_problem;
            break;
        }
        if let Some(stop) = stop {
            problem = Some(explain(stop, &segments, index)?);
            break;
        }
    }
    if problem.is_none()
        && let Some(anchor) = anchors.iter().find(|a| a.seq >= chain.next_seq)
    {
        problem = Some(Problem {
            seq: anchor.seq,
            location: None,
            kind: ProblemKind::AnchorMissing {
                expected: anchor.hash,
                last_seq: chain.next_seq - 1,
            },
        });
    }
    let stats = chain.stats;
    Ok(VerifyReport {
        dir: options.dir.clone(),
        segments: segments.len(),
        records: stats.records,
        first_time_millis: stats.first_time_millis,
        last_time_millis: stats.last_time_millis,
        checkpoints: stats.checkpoints,
        last_checkpoint: stats.last_checkpoint,
        signatures: match &options.public_key {
            Some(key) => Signatures::Checked { key: key_id(key) },
            None => Signatures::NotChecked,
        },
        records_after_last_checkpoint: stats.records_after_checkpoint,
        ends_with_shutdown: stats.ends_with_shutdown,
        recoveries: stats.recoveries,
        anchors_checked: anchors.iter().filter(|a| a.seq < chain.next_seq).count(),
        problem,
    })
}

/// Turns where a walk stopped into the problem to report: a partial line in a file other than
/// the last is a truncated segment, and a gap is "removed" unless the missing record turns up
/// further on.
fn explain(stop: Stop, segments: &[Segment], index: usize) -> Result<Problem, AuditError> {
    let segment = &segments[index];
    let kind = match stop.kind {
        ProblemKind::TornTail { bytes } if index + 1 < segments.len() => {
            ProblemKind::SegmentTruncated { bytes }
        }
        ProblemKind::Removed { found } => {
            match find_record(segments, index, stop.line, stop.seq)? {
                Some(later) => ProblemKind::Reordered {
                    found,
                    later_file: later.file,
                    later_line: later.line.unwrap_or(0),
                },
                None => ProblemKind::Removed { found },
            }
        }
        kind => kind,
    };
    Ok(Problem {
        seq: stop.seq,
        location: Some(Location {
            file: segment.name.clone(),
            line: Some(stop.line),
        }),
        kind,
    })
}

/// Where record `seq` appears after line `after_line` of segment `from`, judging by its `seq`
/// member alone (the record may be damaged otherwise).
fn find_record(
    segments: &[Segment],
    from: usize,
    after_line: u64,
    seq: u64,
) -> Result<Option<Location>, AuditError> {
    #[derive(Deserialize)]
    struct SeqOnly {
        seq: u64,
    }
    for (index, segment) in segments.iter().enumerate().skip(from) {
        let mut reader = LineReader::open(&segment.path)?;
        while let Some(line) = reader.next_line(&segment.path)? {
            if index == from && line.number <= after_line {
                continue;
            }
            if serde_json::from_slice::<SeqOnly>(line.bytes).is_ok_and(|r| r.seq == seq) {
                return Ok(Some(Location {
                    file: segment.name.clone(),
                    line: Some(line.number),
                }));
            }
        }
    }
    Ok(None)
}

/// A time as RFC 3339 UTC with milliseconds, or the raw number if it is out of range.
fn utc(millis: u64) -> String {
    i64::try_from(millis)
        .ok()
        .and_then(|m| jiff::Timestamp::from_millisecond(m).ok())
        .map_or_else(|| format!("{millis} ms"), |t| format!("{t:.3}"))
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let span = match (self.first_time_millis, self.last_time_millis) {
            (Some(first), Some(last)) => format!(", from {} to {}", utc(first), utc(last)),
            _ => String::new(),
        };
        let checkpoint = match &self.last_checkpoint {
            Some(c) => format!("last checkpoint at record {} ({})", c.seq, c.reason),
            None => "no checkpoint".to_string(),
        };
        let files = match self.segments {
            1 => "1 file".to_string(),
            n => format!("{n} files"),
        };
        match &self.problem {
            None => writeln!(
                f,
                "intact: {} records in {files}{span}, {checkpoint}",
                self.records
            )?,
            Some(problem) => {
                writeln!(f, "FAILED: {problem}")?;
                writeln!(
                    f,
                    "before it: {} records verified in {}{span}, {checkpoint}",
                    self.records,
                    self.dir.display()
                )?;
            }
        }
        match &self.signatures {
            Signatures::Checked { key } => writeln!(
                f,
                "signatures: {} checkpoints checked against public key {key}",
                self.checkpoints
            )?,
            Signatures::NotChecked => writeln!(
                f,
                "chain only: no public key was given, so the signatures of {} checkpoints were \
                 not checked; anyone able to write the files could have rebuilt the chain",
                self.checkpoints
            )?,
        }
        if self.problem.is_none() && self.records > 0 && !self.ends_with_shutdown {
            let unsigned = match self.records_after_last_checkpoint {
                0 => String::new(),
                n => format!("; the last {n} records are covered by no signature yet"),
            };
            writeln!(
                f,
                "open end: the log does not end with a shutdown checkpoint (the service is \
                 running, or stopped without closing the log, or the log was truncated, which \
                 only an anchor can tell){unsigned}"
            )?;
        }
        for recovery in &self.recoveries {
            match (&recovery.torn_file, recovery.torn_bytes) {
                (Some(file), Some(bytes)) => writeln!(
                    f,
                    "recovery: record {} ({}): {bytes} bytes of a torn record were set aside in {file}",
                    recovery.seq, recovery.reason
                )?,
                _ => writeln!(
                    f,
                    "recovery: record {} ({}): the run before it ended without closing the log",
                    recovery.seq, recovery.reason
                )?,
            }
        }
        if self.anchors_checked > 0 {
            writeln!(f, "anchors: {} held", self.anchors_checked)?;
        }
        if let (None, Some(c)) = (&self.problem, &self.last_checkpoint) {
            writeln!(
                f,
                "anchor: keep {}:{} and pass it as --anchor next time to detect later truncation",
                c.seq, c.hash
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_parse_as_seq_colon_hash() {
        let hash = "ab".repeat(32);
        let table = [
            (format!("12:{hash}"), Some(12)),
            (format!("12 :{hash}"), None),
            (format!("12:{}", &hash[1..]), None),
            (hash.clone(), None),
            ("x:y".to_string(), None),
        ];
        for (text, expected) in table {
            let parsed = text.parse::<Anchor>().ok();
            assert_eq!(parsed.map(|a| a.seq), expected, "{text}");
            if let Some(anchor) = parsed {
                assert_eq!(anchor.to_string(), text);
            }
        }
    }

    #[test]
    fn times_print_as_utc_with_milliseconds() {
        let table = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
            (u64::MAX, "18446744073709551615 ms"),
        ];
        for (millis, expected) in table {
            assert_eq!(utc(millis), expected);
        }
    }
}
