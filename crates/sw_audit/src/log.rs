//! The shared handle: an [`AuditWriter`] on its own thread (`audit-writer`), fed through a
//! bounded channel by any number of `Clone`d [`AuditLog`] handles.
//!
//! Owns: the thread, batching (group commit) and the replies. Does not own: what is written
//! or when it is synced (`writer`).
//!
//! ```text
//!  append(kind, payload) ──▶ bounded channel ──▶ audit-writer thread ──▶ segment file
//!        ▲  blocks while the channel is full        drains up to 256 requests,
//!        │                                          stages them, one write (+ one fdatasync),
//!        └──────────── reply: Ok(seq) or the error ◀┘ then answers each caller
//! ```
//!
//! Audit records block rather than drop: `append` returns only once its record is in the file
//! (and synced, under [`crate::FsyncPolicy::EveryRecord`]), so a caller that emits an event
//! after `append` returned never emits an unaudited one. When callers append concurrently,
//! their records share one write and one fsync. The thread never panics: every failure goes
//! back to the callers it concerns, and timed syncs or checkpoints that fail are logged
//! (tracing) and surface again on the next append.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use serde_json::Value;

use crate::kind::RecordKind;
use crate::writer::{AuditOptions, AuditWriter, Recovery};
use crate::{Anchor, AuditError};

/// Most requests taken into one batch (one write, one fsync).
const MAX_BATCH: usize = 256;
/// After a timed sync or checkpoint fails, wait this long before the timer tries again.
const TIMER_RETRY: Duration = Duration::from_secs(1);

type Reply<T> = Sender<Result<T, AuditError>>;

enum Request {
    Append {
        kind: RecordKind,
        payload: Value,
        reply: Reply<u64>,
    },
    Sync(Reply<()>),
    Checkpoint(Reply<Anchor>),
    Close(Reply<Anchor>),
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    recovery: Option<Recovery>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// A handle on an open audit log; clone it for each thread that appends.
#[derive(Debug, Clone)]
pub struct AuditLog {
    requests: Sender<Request>,
    shared: Arc<Shared>,
}

impl AuditLog {
    /// Opens the log as [`AuditWriter::open`] does (recovering a torn tail) and starts its
    /// writer thread.
    pub fn open(options: AuditOptions) -> Result<Self, AuditError> {
        let capacity = options.queue_capacity.max(1);
        let writer = AuditWriter::open(options)?;
        let dir = writer.dir().to_path_buf();
        let recovery = writer.recovery().cloned();
        // Overload policy: block. An audit record is never dropped; a full queue makes
        // `append` wait for the writer.
        let (requests, receiver) = crossbeam_channel::bounded(capacity);
        let thread = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || run(writer, receiver))
            .map_err(|e| AuditError::io("starting the writer thread for", &dir, e))?;
        Ok(AuditLog {
            requests,
            shared: Arc::new(Shared {
                dir,
                recovery,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    fn call<T>(&self, request: impl FnOnce(Reply<T>) -> Request) -> Result<T, AuditError> {
        let closed = || AuditError::Closed {
            dir: self.shared.dir.clone(),
        };
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.requests.send(request(reply)).map_err(|_| closed())?;
        answer.recv().map_err(|_| closed())?
    }

    /// Appends a record; returns its sequence number once it is written (and synced, under
    /// [`crate::FsyncPolicy::EveryRecord`]). Blocks while the writer is behind. The payload
    /// must be a JSON object and must hold no secrets (passwords, tokens, keys).
    pub fn append(&self, kind: RecordKind, payload: Value) -> Result<u64, AuditError> {
        self.call(|reply| Request::Append {
            kind,
            payload,
            reply,
        })
    }

    /// Forces everything appended so far to disk.
    pub fn sync(&self) -> Result<(), AuditError> {
        self.call(Request::Sync)
    }

    /// Writes a checkpoint now; returns its anchor (for the status page or an auditor).
    pub fn checkpoint(&self) -> Result<Anchor, AuditError> {
        self.call(Request::Checkpoint)
    }

    /// Closes the log with a shutdown checkpoint and stops the writer thread. Appends queued
    /// before the close are written first; later ones, from any handle, fail with
    /// [`AuditError::Closed`]. If every handle is dropped without `close`, the thread closes
    /// the log itself.
    pub fn close(&self) -> Result<Anchor, AuditError> {
        let result = self.call(Request::Close);
        let thread = self.shared.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            // The thread has answered the close and returns right after; it does not panic.
            let _ = thread.join();
        }
        result
    }

    /// What opening the log found, if the previous run did not close it cleanly.
    pub fn recovery(&self) -> Option<&Recovery> {
        self.shared.recovery.as_ref()
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }
}

/// The writer thread: batches requests, runs timers, closes the log when told or when every
/// handle is gone.
fn run(mut writer: AuditWriter, requests: Receiver<Request>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut timer_retry_at = Instant::now();
    loop {
        let first = match writer.next_deadline() {
            Some(deadline) => requests.recv_deadline(deadline.max(timer_retry_at)),
            None => requests.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match first {
            Ok(request) => batch.push(request),
            Err(RecvTimeoutError::Timeout) => {
                if let Err(error) = writer.tick() {
                    tracing::error!(%error, "audit log: timed sync or checkpoint failed");
                    timer_retry_at = Instant::now() + TIMER_RETRY;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
        batch.extend(requests.try_iter().take(MAX_BATCH - 1));
        if let Some(reply) = serve(&mut writer, &mut batch) {
            let _ = reply.send(writer.close());
            return;
        }
    }
    if let Err(error) = writer.close() {
        tracing::error!(%error, "audit log: closing after the last handle was dropped failed");
    }
}

/// Serves one batch in order. Appends are staged and committed together; a sync, checkpoint
/// or close first commits the appends before it. Returns the reply of a close (requests after
/// it in the batch are dropped, so their callers see the log closed).
fn serve(writer: &mut AuditWriter, batch: &mut Vec<Request>) -> Option<Reply<Anchor>> {
    let mut waiting: Vec<(Reply<u64>, u64)> = Vec::new();
    let mut prepared = writer.prepare();
    for request in batch.drain(..) {
        match request {
            Request::Append {
                kind,
                payload,
                reply,
            } => match prepared.clone().and_then(|()| writer.stage(kind, payload)) {
                Ok(seq) => waiting.push((reply, seq)),
                Err(error) => {
                    let _ = reply.send(Err(error));
                }
            },
            Request::Sync(reply) => {
                commit(writer, &mut waiting);
                let _ = reply.send(writer.sync());
            }
            Request::Checkpoint(reply) => {
                commit(writer, &mut waiting);
                let _ = reply.send(writer.checkpoint());
                prepared = writer.prepare();
            }
            Request::Close(reply) => {
                commit(writer, &mut waiting);
                return Some(reply);
            }
        }
    }
    commit(writer, &mut waiting);
    None
}

/// Commits the staged appends and answers their callers.
fn commit(writer: &mut AuditWriter, waiting: &mut Vec<(Reply<u64>, u64)>) {
    if waiting.is_empty() {
        return;
    }
    let result = writer.commit();
    for (reply, seq) in waiting.drain(..) {
        let _ = reply.send(result.clone().map(|()| seq));
    }
}
