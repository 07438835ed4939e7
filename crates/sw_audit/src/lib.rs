//! Stillwatch's tamper-evident audit log: an append-only SHA-256 hash chain of JSON-line
//! records with periodic Ed25519-signed checkpoints, crash recovery, and offline verification.
//! The design, threat model and alternatives are in `docs/design/audit.md`.
//!
//! Owns: the log's file format, writing it (one writer per directory, any number of threads
//! through [`AuditLog`]), key files, and verification. Does not own: what the service records
//! and when (sw_service decides; payloads must never hold secrets), where keys and the log
//! live (config), or the CLI (`stillwatch audit keygen|verify` call [`keygen`] and
//! [`verify_with_options`]).
//!
//! ```text
//!  AuditLog::append(kind, payload)            verify(dir, public key, anchors)
//!        │ (bounded channel, blocks)                  │
//!        ▼                                            ▼
//!  AuditWriter ── record: {"seq","time_millis","kind","payload","prev","hash"}\n
//!        │        hash = SHA-256(line without its hash member); prev = hash before
//!        │        checkpoint: signs "stillwatch.audit.checkpoint/1 <seq> <hash>"
//!        ▼
//!  dir/audit-00000000000000000001.jsonl, audit-<first seq>.jsonl, .. (+ .torn, audit.lock)
//! ```

mod chain;
mod keys;
mod kind;
mod log;
mod record;
mod segment;
mod verify;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use chain::{CheckpointReason, CheckpointSummary, ProblemKind, RecoveryNote};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use keys::{key_id, keygen, load_signing_key, load_verifying_key};
pub use kind::{RecordKind, event_record};
pub use log::AuditLog;
pub use record::{Hash, HashParseError, MAX_RECORD_BYTES};
pub use verify::{
    Anchor, AnchorParseError, Location, Problem, Signatures, VerifyOptions, VerifyReport, verify,
    verify_with_options,
};
pub use writer::{AuditOptions, AuditWriter, FsyncPolicy, Recovery, TornBytes, system_now_millis};

/// Everything that can go wrong opening, writing or reading a log, or handling key files. Each
/// names the file or directory, and the record where there is one. None carries key material
/// or payload contents. `Clone`, because one failed write fails every caller in its batch.
/// An underlying I/O or encoding error is part of the message (`cause`), not a separate
/// `source()`, so an error chain does not print it twice.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    #[error("{action} {}: {cause}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: Arc<std::io::Error>,
    },
    /// Writing a batch failed (a full disk, a file size limit); the batch was rolled back, so
    /// none of its records is in the log.
    #[error("writing record {seq} to {}: {cause}; the record is not in the log", path.display())]
    Write {
        seq: u64,
        path: PathBuf,
        cause: Arc<std::io::Error>,
    },
    #[error(
        "syncing {} to disk: {cause}; records since the last sync may be lost, so the log \
         accepts no more until it is reopened",
        path.display()
    )]
    Sync {
        path: PathBuf,
        cause: Arc<std::io::Error>,
    },
    #[error("encoding record {seq}: {cause}")]
    Encode {
        seq: u64,
        cause: Arc<serde_json::Error>,
    },
    #[error("key file {}: {reason}", path.display())]
    KeyFile { path: PathBuf, reason: String },
    #[error("key file {} already exists; keygen never overwrites a key", path.display())]
    KeyExists { path: PathBuf },
    #[error("no audit log in {}: it holds no audit-<seq>.jsonl segment files", dir.display())]
    NoLog { dir: PathBuf },
    #[error(
        "audit log {} is in use by another writer (it holds {}/audit.lock)",
        dir.display(),
        dir.display()
    )]
    Locked { dir: PathBuf },
    #[error(
        "audit log {} cannot be continued: {problem}. A crash does not leave this; keep the \
         directory as evidence, run `stillwatch audit verify` on it, and start a new log in \
         another directory",
        dir.display()
    )]
    Damaged { dir: PathBuf, problem: Box<Problem> },
    #[error(
        "audit log {} has checkpoints signed by key {found}, but the configured signing key is \
         {configured}; a log has one key: configure that one, or start a new log directory",
        dir.display()
    )]
    KeyMismatch {
        dir: PathBuf,
        found: String,
        configured: String,
    },
    #[error("{kind} records are written by the audit log itself, not by callers")]
    ReservedKind { kind: RecordKind },
    #[error("the payload of a {kind} record must be a JSON object")]
    PayloadNotObject { kind: RecordKind },
    #[error("a {kind} record of {bytes} bytes is over the limit of {MAX_RECORD_BYTES} bytes")]
    RecordTooLarge { kind: RecordKind, bytes: usize },
    #[error(
        "audit log {} accepts no more records after an earlier failure ({reason}); reopen it \
         to recover",
        dir.display()
    )]
    Failed { dir: PathBuf, reason: String },
    #[error("audit log {} is closed", dir.display())]
    Closed { dir: PathBuf },
}

impl AuditError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        AuditError::Io {
            action,
            path: path.into(),
            cause: Arc::new(source),
        }
    }
}
