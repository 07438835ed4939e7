//! The single-owner writer: opening (and recovering) a log, appending records, checkpoints,
//! fsync policy, segment rotation, and rolling back a failed write.
//!
//! Owns: everything that changes the files of a log. Does not own: sharing the writer between
//! threads ([`crate::AuditLog`] runs one `AuditWriter` on its own thread) or reading a whole
//! log back (`verify`).
//!
//! Records are staged into a buffer and committed with one `write` to the segment file (opened
//! with `O_APPEND`), so a batch of records costs one system call and, under
//! [`FsyncPolicy::EveryRecord`], one `fdatasync`. A failed write is rolled back by truncating
//! the file to its last committed length, so a full disk loses no committed record and leaves
//! no partial one; the callers of the failed batch get the error. If even the rollback or an
//! fsync fails, the writer refuses further records until the log is reopened, because it no
//! longer knows what the file holds.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::chain::{Chain, CheckpointPayload, CheckpointReason, ProblemKind, scan_segment};
use crate::keys::{key_id, sign_checkpoint};
use crate::kind::{RecordKind, into_object};
use crate::record::{Hash, MAX_RECORD_BYTES, canonicalize, decode, encode};
use crate::segment::{
    LOCK_FILE, LineReader, Segment, list_segments, read_last_line, sync_dir, torn_path,
};
use crate::{Anchor, AuditError, Location, Problem};

/// How long opening a log waits for its lock before it says another writer holds it.
const LOCK_WAIT: Duration = Duration::from_millis(500);

/// When appended records are forced to disk with `fdatasync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Before `append` returns: a record that was acknowledged survives a power cut.
    EveryRecord,
    /// At most this long after a record is written. `append` returns once the record is in
    /// the file (it survives the process being killed, not a power cut before the next sync).
    /// Checkpoints and `recovered` records are always synced before they are acknowledged.
    Interval(Duration),
}

/// How to open a log. [`AuditOptions::new`] gives the defaults.
#[derive(Clone)]
pub struct AuditOptions {
    /// The log's directory; created if missing.
    pub dir: PathBuf,
    /// Signs checkpoints. Without one the log is a hash chain only, with unsigned shutdown and
    /// rotate checkpoints.
    pub signing_key: Option<SigningKey>,
    /// Default: [`FsyncPolicy::EveryRecord`].
    pub fsync: FsyncPolicy,
    /// A signed checkpoint after this many records. Default 1000.
    pub checkpoint_every_records: Option<NonZeroU64>,
    /// A signed checkpoint when this long has passed since the last one and records were
    /// appended since. Default 60 s.
    pub checkpoint_interval: Option<Duration>,
    /// A segment file that has reached this size is closed with a checkpoint and the next
    /// record starts a new one. Default 16 MiB.
    pub segment_max_bytes: u64,
    /// [`crate::AuditLog`] only: how many appends may wait for the writer thread before
    /// `append` blocks. Default 1024.
    pub queue_capacity: usize,
    /// The clock for record times, in milliseconds since the Unix epoch (UTC). Tests pass a
    /// fixed one to get byte-identical logs.
    pub now_millis: fn() -> u64,
}

impl AuditOptions {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        AuditOptions {
            dir: dir.into(),
            signing_key: None,
            fsync: FsyncPolicy::EveryRecord,
            checkpoint_every_records: NonZeroU64::new(1000),
            checkpoint_interval: Some(Duration::from_secs(60)),
            segment_max_bytes: 16 << 20,
            queue_capacity: 1024,
            now_millis: system_now_millis,
        }
    }
}

/// Shows which key signs, never the key.
impl fmt::Debug for AuditOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditOptions")
            .field("dir", &self.dir)
            .field(
                "signing_key",
                &self
                    .signing_key
                    .as_ref()
                    .map(|k| format!("public key {}", key_id(&k.verifying_key()))),
            )
            .field("fsync", &self.fsync)
            .field("checkpoint_every_records", &self.checkpoint_every_records)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("segment_max_bytes", &self.segment_max_bytes)
            .field("queue_capacity", &self.queue_capacity)
            .finish_non_exhaustive()
    }
}

/// Milliseconds since the Unix epoch from the system clock (0 if the clock is before 1970).
pub fn system_now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What opening a log found and recorded in a `recovered` record: the previous run did not
/// end with a shutdown checkpoint, and perhaps left a torn tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The `recovered` record's sequence number.
    pub seq: u64,
    /// The last good record before it.
    pub last_seq_before: u64,
    /// Bytes set aside, if the last segment ended in a torn or unreadable record.
    pub torn: Option<TornBytes>,
}

/// Bytes set aside from the end of the last segment at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornBytes {
    /// The segment file they were cut from, and where.
    pub segment: String,
    pub offset: u64,
    pub bytes: u64,
    pub sha256: Hash,
    /// Where they are kept.
    pub kept_in: PathBuf,
    /// What was wrong with the first of them.
    pub problem: ProblemKind,
}

/// The chain's end: the record expected next and what it links to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tip {
    next_seq: u64,
    prev: Hash,
    since_checkpoint: u64,
}

/// Appends to one log from one owner. See [`crate::AuditLog`] to share one between threads;
/// this type checks its timers (interval fsync, time-based checkpoints) only when called, so a
/// long-lived owner calls [`AuditWriter::tick`] by [`AuditWriter::next_deadline`].
pub struct AuditWriter {
    dir: PathBuf,
    signing_key: Option<SigningKey>,
    fsync: FsyncPolicy,
    checkpoint_every_records: Option<NonZeroU64>,
    checkpoint_interval: Option<Duration>,
    segment_max_bytes: u64,
    now_millis: fn() -> u64,
    /// Held (and locked) for the writer's life.
    _lock: File,
    segment: Segment,
    file: File,
    /// Bytes of the segment file that hold committed records.
    committed_len: u64,
    committed: Tip,
    staged: Tip,
    /// Encoded lines staged since the last commit.
    buffer: Vec<u8>,
    /// Offsets in `buffer` where a checkpoint or `recovered` record starts. The commit syncs
    /// before writing each and after the last, so that such a record is never on disk while
    /// anything before it is not: damage before one cannot be a crash's doing.
    barriers: Vec<usize>,
    staged_anchor: Option<Anchor>,
    last_anchor: Option<Anchor>,
    unsynced: bool,
    last_sync: Instant,
    last_checkpoint: Instant,
    /// Why the writer refuses records, after a failure it cannot undo.
    failed: Option<String>,
    recovery: Option<Recovery>,
}

impl fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditWriter")
            .field("segment", &self.segment.path)
            .field("next_seq", &self.committed.next_seq)
            .field("signed", &self.signing_key.is_some())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl AuditWriter {
    /// Opens (or creates) the log in `options.dir`, taking its lock. On an existing log, walks
    /// the last segment; if it ends in a torn or unreadable record, sets those bytes aside in a
    /// `.torn` file and truncates them; if the previous run did not close cleanly, appends a
    /// `recovered` record saying what was found. Refuses a log whose checkpoints were signed by
    /// another key, and one damaged in a way a crash cannot explain.
    pub fn open(options: AuditOptions) -> Result<Self, AuditError> {
        let dir = options.dir.clone();
        fs::create_dir_all(&dir).map_err(|e| AuditError::io("creating", &dir, e))?;
        let lock = lock_dir(&dir)?;
        let segments = list_segments(&dir)?;
        let Some(last) = segments.last().cloned() else {
            let segment = Segment::new(&dir, 1);
            let file = create_segment(&segment)?;
            let tip = Tip {
                next_seq: 1,
                prev: Hash::ZERO,
                since_checkpoint: 0,
            };
            return Ok(Self::assemble(options, lock, segment, file, 0, tip, None));
        };
        let public_key = options.signing_key.as_ref().map(SigningKey::verifying_key);
        let configured = public_key.as_ref().map(key_id);
        let mut chain = match segments.len() {
            1 => Chain::new(public_key, 1, Hash::ZERO),
            n => chain_after(&segments[n - 2], &dir, public_key, &configured)?,
        };
        let stop = scan_segment(&last, &mut chain, |_| {})?;
        let torn = match stop {
            None => None,
            Some(stop) => match stop.kind {
                ProblemKind::TornTail { .. }
                | ProblemKind::Unreadable { .. }
                | ProblemKind::Modified
                    if !holds_checkpoint_after(&last, stop.offset)? =>
                {
                    Some(stop)
                }
                ProblemKind::WrongKey { found } => {
                    return Err(key_mismatch(&dir, Some(found), &configured));
                }
                ProblemKind::Unsigned => return Err(key_mismatch(&dir, None, &configured)),
                kind => {
                    let location = Location {
                        file: last.name.clone(),
                        line: Some(stop.line),
                    };
                    return Err(damaged(&dir, stop.seq, Some(location), kind));
                }
            },
        };
        if let Some(Some(found)) = &chain.stats.checkpoint_key
            && configured.is_none()
        {
            return Err(key_mismatch(&dir, Some(found.clone()), &configured));
        }
        let file_len = fs::metadata(&last.path)
            .map_err(|e| AuditError::io("reading", &last.path, e))?
            .len();
        let file = open_segment(&last)?;
        let tip = Tip {
            next_seq: chain.next_seq,
            prev: chain.prev,
            since_checkpoint: chain.stats.records_after_checkpoint,
        };
        let last_anchor = chain.stats.last_checkpoint.as_ref().map(|c| Anchor {
            seq: c.seq,
            hash: c.hash,
        });
        let mut writer = Self::assemble(options, lock, last, file, file_len, tip, last_anchor);
        let last_seq_before = chain.next_seq - 1;
        let torn = match torn {
            Some(stop) => Some(writer.set_aside(stop.offset, stop.seq, stop.kind)?),
            None if chain.stats.ends_with_shutdown || last_seq_before == 0 => return Ok(writer),
            None => None,
        };
        writer.record_recovery(last_seq_before, torn)?;
        Ok(writer)
    }

    fn assemble(
        options: AuditOptions,
        lock: File,
        segment: Segment,
        file: File,
        committed_len: u64,
        tip: Tip,
        last_anchor: Option<Anchor>,
    ) -> Self {
        let now = Instant::now();
        AuditWriter {
            dir: options.dir,
            signing_key: options.signing_key,
            fsync: options.fsync,
            checkpoint_every_records: options.checkpoint_every_records,
            checkpoint_interval: options.checkpoint_interval,
            segment_max_bytes: options.segment_max_bytes,
            now_millis: options.now_millis,
            _lock: lock,
            segment,
            file,
            committed_len,
            committed: tip,
            staged: tip,
            buffer: Vec::new(),
            barriers: Vec::new(),
            staged_anchor: None,
            last_anchor,
            unsynced: false,
            last_sync: now,
            last_checkpoint: now,
            failed: None,
            recovery: None,
        }
    }

    /// Copies the segment's bytes from `offset` to its end into a `.torn` file, syncs it, and
    /// truncates the segment to `offset`.
    fn set_aside(
        &mut self,
        offset: u64,
        first_lost_seq: u64,
        problem: ProblemKind,
    ) -> Result<TornBytes, AuditError> {
        let path = self.segment.path.clone();
        let io = |action, e| AuditError::io(action, &path, e);
        let mut source = File::open(&path).map_err(|e| io("opening", e))?;
        source
            .seek(SeekFrom::Start(offset))
            .map_err(|e| io("reading", e))?;
        let mut bytes = Vec::new();
        source
            .read_to_end(&mut bytes)
            .map_err(|e| io("reading", e))?;
        let kept_in = torn_path(&self.dir, first_lost_seq);
        let mut torn = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&kept_in)
            .map_err(|e| AuditError::io("creating", &kept_in, e))?;
        torn.write_all(&bytes)
            .and_then(|()| torn.sync_all())
            .map_err(|e| AuditError::io("writing", &kept_in, e))?;
        sync_dir(&self.dir)?;
        self.file
            .set_len(offset)
            .and_then(|()| self.file.sync_all())
            .map_err(|e| io("truncating", e))?;
        self.committed_len = offset;
        Ok(TornBytes {
            segment: self.segment.name.clone(),
            offset,
            bytes: bytes.len() as u64,
            sha256: Hash::of(&bytes),
            kept_in,
            problem,
        })
    }

    fn record_recovery(
        &mut self,
        last_seq_before: u64,
        torn: Option<TornBytes>,
    ) -> Result<(), AuditError> {
        #[derive(Serialize)]
        struct Payload<'a> {
            reason: &'a str,
            last_seq_before: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            segment: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            offset: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            torn_bytes: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            torn_sha256: Option<Hash>,
            #[serde(skip_serializing_if = "Option::is_none")]
            torn_file: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            problem: Option<String>,
        }
        let payload = Payload {
            reason: match torn {
                Some(_) => "torn_tail",
                None => "unclean_shutdown",
            },
            last_seq_before,
            segment: torn.as_ref().map(|t| t.segment.as_str()),
            offset: torn.as_ref().map(|t| t.offset),
            torn_bytes: torn.as_ref().map(|t| t.bytes),
            torn_sha256: torn.as_ref().map(|t| t.sha256),
            torn_file: torn.as_ref().and_then(|t| {
                t.kept_in
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            }),
            problem: torn
                .as_ref()
                .map(|t| format!("record {} {}", last_seq_before + 1, t.problem)),
        };
        let payload = to_object(&payload, self.staged.next_seq)?;
        self.barriers.push(self.buffer.len());
        let seq = self.stage_record(RecordKind::Recovered, payload)?;
        self.commit()?;
        self.recovery = Some(Recovery {
            seq,
            last_seq_before,
            torn,
        });
        Ok(())
    }

    /// Appends one record, returning its sequence number once it is written (and synced, under
    /// [`FsyncPolicy::EveryRecord`]). A checkpoint follows it when one is due.
    pub fn append(&mut self, kind: RecordKind, payload: Value) -> Result<u64, AuditError> {
        self.prepare()?;
        let seq = self.stage(kind, payload)?;
        self.commit()?;
        Ok(seq)
    }

    /// Readies the writer for a batch: refuses if it has failed, and starts a new segment if
    /// the current one is full.
    pub(crate) fn prepare(&mut self) -> Result<(), AuditError> {
        self.check_usable()?;
        if self.committed_len < self.segment_max_bytes
            || self.committed.next_seq == self.segment.first_seq
        {
            return Ok(());
        }
        self.stage_checkpoint(CheckpointReason::Rotate)?;
        self.commit()?;
        let segment = Segment::new(&self.dir, self.committed.next_seq);
        let file = create_segment(&segment)?;
        self.segment = segment;
        self.file = file;
        self.committed_len = 0;
        Ok(())
    }

    fn check_usable(&self) -> Result<(), AuditError> {
        match &self.failed {
            Some(reason) => Err(AuditError::Failed {
                dir: self.dir.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Stages a caller's record (and a checkpoint after it, when one is due); nothing reaches
    /// the file until [`AuditWriter::commit`].
    pub(crate) fn stage(&mut self, kind: RecordKind, payload: Value) -> Result<u64, AuditError> {
        if kind.is_written_by_log() {
            return Err(AuditError::ReservedKind { kind });
        }
        let payload = into_object(payload).ok_or(AuditError::PayloadNotObject { kind })?;
        let before = (
            self.buffer.len(),
            self.barriers.len(),
            self.staged,
            self.staged_anchor,
        );
        let seq = self.stage_record(kind, payload)?;
        if let Some(reason) = self.checkpoint_due()
            && let Err(error) = self.stage_checkpoint(reason)
        {
            // All or nothing: the caller is told its record failed, so it must not be written.
            self.buffer.truncate(before.0);
            self.barriers.truncate(before.1);
            (self.staged, self.staged_anchor) = (before.2, before.3);
            return Err(error);
        }
        Ok(seq)
    }

    fn stage_record(
        &mut self,
        kind: RecordKind,
        mut payload: Map<String, Value>,
    ) -> Result<u64, AuditError> {
        canonicalize(&mut payload);
        let seq = self.staged.next_seq;
        let encoded = encode(
            seq,
            (self.now_millis)(),
            kind.as_str(),
            &payload,
            self.staged.prev,
        )
        .map_err(|e| AuditError::Encode {
            seq,
            cause: Arc::new(e),
        })?;
        if encoded.line.len() > MAX_RECORD_BYTES {
            return Err(AuditError::RecordTooLarge {
                kind,
                bytes: encoded.line.len(),
            });
        }
        self.buffer.extend_from_slice(&encoded.line);
        self.staged = Tip {
            next_seq: seq + 1,
            prev: encoded.hash,
            since_checkpoint: match kind {
                RecordKind::Checkpoint => 0,
                _ => self.staged.since_checkpoint + 1,
            },
        };
        Ok(seq)
    }

    /// A periodic checkpoint is due (only with a signing key, and only after new records).
    fn checkpoint_due(&self) -> Option<CheckpointReason> {
        if self.signing_key.is_none() || self.staged.since_checkpoint == 0 {
            return None;
        }
        if self
            .checkpoint_every_records
            .is_some_and(|n| self.staged.since_checkpoint >= n.get())
        {
            return Some(CheckpointReason::Records);
        }
        self.checkpoint_interval
            .filter(|interval| self.last_checkpoint.elapsed() >= *interval)
            .map(|_| CheckpointReason::Interval)
    }

    fn stage_checkpoint(&mut self, reason: CheckpointReason) -> Result<(), AuditError> {
        let covers_seq = self.staged.next_seq - 1;
        let covers_hash = self.staged.prev;
        let (public_key, signature) = match &self.signing_key {
            Some(key) => (
                Some(key_id(&key.verifying_key())),
                Some(hex::encode(
                    sign_checkpoint(key, covers_seq, &covers_hash).to_bytes(),
                )),
            ),
            None => (None, None),
        };
        let payload = CheckpointPayload {
            covers_seq,
            covers_hash,
            reason,
            public_key,
            signature,
        };
        let payload = to_object(&payload, covers_seq + 1)?;
        let barrier = self.buffer.len();
        let seq = self.stage_record(RecordKind::Checkpoint, payload)?;
        self.barriers.push(barrier);
        self.staged_anchor = Some(Anchor {
            seq,
            hash: self.staged.prev,
        });
        Ok(())
    }

    /// Writes the staged records (one `write`, or one per barrier), then syncs as the policy
    /// says. On a write error, truncates the file back to its committed length and forgets the
    /// staged records.
    pub(crate) fn commit(&mut self) -> Result<(), AuditError> {
        if let Err(error) = self.check_usable() {
            self.discard_staged();
            return Err(error);
        }
        let synced_record = !self.barriers.is_empty();
        if !self.buffer.is_empty() {
            let buffer = std::mem::take(&mut self.buffer);
            let written = self.write_in_order(&buffer);
            self.buffer = buffer;
            if let Err(error) = written {
                self.discard_staged();
                return Err(error);
            }
            self.committed_len += self.buffer.len() as u64;
            self.committed = self.staged;
            self.buffer.clear();
            self.barriers.clear();
            self.unsynced = true;
            if let Some(anchor) = self.staged_anchor.take() {
                self.last_anchor = Some(anchor);
                self.last_checkpoint = Instant::now();
            }
        }
        let sync = synced_record
            || match self.fsync {
                FsyncPolicy::EveryRecord => true,
                FsyncPolicy::Interval(interval) => self.last_sync.elapsed() >= interval,
            };
        match sync {
            true => self.sync(),
            false => Ok(()),
        }
    }

    /// Writes `buffer`, syncing before each barrier. A failed write is rolled back (if that
    /// fails too, the writer gives up); a failed sync makes the writer give up.
    fn write_in_order(&mut self, buffer: &[u8]) -> Result<(), AuditError> {
        let mut start = 0;
        let ends: Vec<usize> = self
            .barriers
            .iter()
            .copied()
            .chain([buffer.len()])
            .collect();
        for end in ends {
            if let Err(error) = self.file.write_all(&buffer[start..end]) {
                let error = AuditError::Write {
                    seq: self.committed.next_seq,
                    path: self.segment.path.clone(),
                    cause: Arc::new(error),
                };
                if let Err(rollback) = self.file.set_len(self.committed_len) {
                    self.failed = Some(format!(
                        "{error}; then truncating it back to {} bytes: {rollback}",
                        self.committed_len
                    ));
                }
                return Err(error);
            }
            if end < buffer.len() {
                self.unsynced = true;
                self.sync()?;
            }
            start = end;
        }
        Ok(())
    }

    fn discard_staged(&mut self) {
        self.buffer.clear();
        self.staged = self.committed;
        self.staged_anchor = None;
        self.barriers.clear();
    }

    /// Forces everything written so far to disk.
    pub fn sync(&mut self) -> Result<(), AuditError> {
        self.check_usable()?;
        if !self.unsynced {
            return Ok(());
        }
        if let Err(error) = self.file.sync_data() {
            // After a failed fsync the kernel may have dropped the dirty pages: what the file
            // holds is unknown until it is read back, which reopening does.
            let error = AuditError::Sync {
                path: self.segment.path.clone(),
                cause: Arc::new(error),
            };
            self.failed = Some(error.to_string());
            return Err(error);
        }
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Writes a checkpoint now (signed if the log has a key) and syncs; returns its anchor.
    pub fn checkpoint(&mut self) -> Result<Anchor, AuditError> {
        self.prepare()?;
        self.stage_checkpoint(CheckpointReason::Requested)?;
        self.commit()?;
        self.last_anchor.ok_or_else(|| AuditError::Failed {
            dir: self.dir.clone(),
            reason: "a committed checkpoint left no anchor".into(),
        })
    }

    /// Runs what is due by time: a checkpoint after `checkpoint_interval`, an fsync under
    /// [`FsyncPolicy::Interval`].
    pub fn tick(&mut self) -> Result<(), AuditError> {
        self.check_usable()?;
        if self.checkpoint_due() == Some(CheckpointReason::Interval) {
            self.prepare()?;
            self.stage_checkpoint(CheckpointReason::Interval)?;
            return self.commit();
        }
        match self.fsync {
            FsyncPolicy::Interval(interval) if self.last_sync.elapsed() >= interval => self.sync(),
            _ => Ok(()),
        }
    }

    /// When [`AuditWriter::tick`] next has something to do, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.failed.is_some() {
            return None;
        }
        let sync = match self.fsync {
            FsyncPolicy::Interval(interval) if self.unsynced => Some(self.last_sync + interval),
            _ => None,
        };
        let checkpoint = self
            .checkpoint_interval
            .filter(|_| self.signing_key.is_some() && self.committed.since_checkpoint > 0)
            .map(|interval| self.last_checkpoint + interval);
        sync.into_iter().chain(checkpoint).min()
    }

    /// Closes the log cleanly: a shutdown checkpoint, synced. Returns its anchor.
    pub fn close(mut self) -> Result<Anchor, AuditError> {
        self.prepare()?;
        self.stage_checkpoint(CheckpointReason::Shutdown)?;
        self.commit()?;
        self.last_anchor.ok_or_else(|| AuditError::Failed {
            dir: self.dir.clone(),
            reason: "a committed checkpoint left no anchor".into(),
        })
    }

    /// What opening the log found, if the previous run did not close cleanly.
    pub fn recovery(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    /// The sequence number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.committed.next_seq
    }

    /// The latest checkpoint written or found, as an anchor an auditor can keep.
    pub fn last_anchor(&self) -> Option<Anchor> {
        self.last_anchor
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn to_object(payload: &impl Serialize, seq: u64) -> Result<Map<String, Value>, AuditError> {
    serde_json::to_value(payload)
        .map_err(|e| AuditError::Encode {
            seq,
            cause: Arc::new(e),
        })
        .map(|value| into_object(value).unwrap_or_default())
}

/// Takes the directory's lock file, so that two writers never append to one chain.
fn lock_dir(dir: &Path) -> Result<File, AuditError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| AuditError::io("opening", &path, e))?;
    // flock(2). A child process forked by another thread between its fork and its exec holds
    // a copy of our descriptors for that moment, and with it the lock of a log just closed:
    // only a lock still held after a short wait means another writer.
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(AuditError::Locked { dir: dir.into() });
            }
            Err(fs::TryLockError::Error(e)) => return Err(AuditError::io("locking", &path, e)),
        }
    }
}

fn create_segment(segment: &Segment) -> Result<File, AuditError> {
    let file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&segment.path)
        .map_err(|e| AuditError::io("creating", &segment.path, e))?;
    sync_dir(segment.path.parent().unwrap_or(Path::new(".")))?;
    Ok(file)
}

fn open_segment(segment: &Segment) -> Result<File, AuditError> {
    OpenOptions::new()
        .append(true)
        .open(&segment.path)
        .map_err(|e| AuditError::io("opening", &segment.path, e))
}

/// A walk positioned after the last record of `previous` (the segment before the last), with
/// that record taken, so its checkpoint key and shutdown status count.
fn chain_after(
    previous: &Segment,
    dir: &Path,
    public_key: Option<ed25519_dalek::VerifyingKey>,
    configured: &Option<String>,
) -> Result<Chain, AuditError> {
    let location = || {
        Some(Location {
            file: previous.name.clone(),
            line: None,
        })
    };
    let line = read_last_line(&previous.path)?.ok_or_else(|| {
        let reason = "the file holds no complete record".to_string();
        damaged(
            dir,
            previous.first_seq,
            location(),
            ProblemKind::Unreadable { reason },
        )
    })?;
    let record = decode(&line).map_err(|e| {
        let kind = match e {
            crate::record::DecodeError::HashMismatch => ProblemKind::Modified,
            crate::record::DecodeError::NotARecord(reason) => ProblemKind::Unreadable { reason },
        };
        damaged(dir, previous.first_seq, location(), kind)
    })?;
    let mut chain = Chain::new(public_key, record.seq, record.prev);
    chain.accept(&line).map_err(|kind| match kind {
        ProblemKind::WrongKey { found } => key_mismatch(dir, Some(found), configured),
        ProblemKind::Unsigned => key_mismatch(dir, None, configured),
        kind => damaged(dir, record.seq, location(), kind),
    })?;
    Ok(chain)
}

/// Whether a complete, hash-valid checkpoint or `recovered` record lies at or after `offset` in
/// `segment`. Both are synced before anything follows them, so no crash can leave one after
/// damaged bytes: damage before one was done by someone.
fn holds_checkpoint_after(segment: &Segment, offset: u64) -> Result<bool, AuditError> {
    let mut reader = LineReader::open(&segment.path)?;
    while let Some(line) = reader.next_line(&segment.path)? {
        if line.offset >= offset
            && line.complete
            && decode(line.bytes).is_ok_and(|r| {
                r.kind == RecordKind::Checkpoint.as_str()
                    || r.kind == RecordKind::Recovered.as_str()
            })
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn key_mismatch(dir: &Path, found: Option<String>, configured: &Option<String>) -> AuditError {
    let name = |key: Option<String>| key.unwrap_or_else(|| "none (unsigned)".into());
    AuditError::KeyMismatch {
        dir: dir.into(),
        found: name(found),
        configured: name(configured.clone()),
    }
}

fn damaged(dir: &Path, seq: u64, location: Option<Location>, kind: ProblemKind) -> AuditError {
    AuditError::Damaged {
        dir: dir.into(),
        problem: Box::new(Problem {
            seq,
            location,
            kind,
        }),
    }
}
