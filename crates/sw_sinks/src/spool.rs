//! A folder used as a first-in first-out queue of payloads that outlives the process: one file
//! per payload, named by a sequence number, so order survives a restart.
//!
//! ```text
//!  <dir>/.lock                       held (flock) while a sink uses the folder
//!  <dir>/00000000000000000041.json   oldest undelivered payload
//!  <dir>/00000000000000000042.json
//!  <dir>/00000000000000000043.json.tmp   a write a crash interrupted: removed at open
//!  <dir>/rejected/…                  payloads the receiver refused for good (webhooks)
//! ```
//!
//! A payload is written to a `.tmp` file, then renamed into place, so a reader never sees half
//! a payload. With `durable` set, the file and the folder are fsynced before [`Spool::push`]
//! returns, so the payload survives a power cut; without it, it survives the process being
//! killed but not the machine losing power. Removal does not fsync: a removal lost in a crash
//! means one payload delivered twice, which at-least-once delivery allows.
//!
//! Owns: the file layout, the lock, numbering and the bound on the number of payloads. Does
//! not own: what a payload is or when it counts as delivered (the sinks).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::SinkError;

/// Digits in a file name: every u64 fits, and names sort like their numbers.
const NAME_DIGITS: usize = 20;
const EXTENSION: &str = ".json";
const PARTIAL_EXTENSION: &str = ".json.tmp";

#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    /// Sequence numbers of the payloads on disk, ascending.
    seqs: VecDeque<u64>,
    /// The number the next new payload gets.
    next_seq: u64,
    max_events: usize,
    durable: bool,
    /// Held open for its lock, released when the spool is dropped or the process dies.
    _lock: File,
}

impl Spool {
    /// Opens (creating it if needed) and locks `dir`, removes interrupted writes and lists what
    /// is queued there.
    pub(crate) fn open(dir: &Path, max_events: usize, durable: bool) -> Result<Self, SinkError> {
        let failed = |action: &str| {
            let dir = dir.to_path_buf();
            let action = action.to_owned();
            move |source| SinkError::Queue {
                dir,
                action,
                source,
            }
        };
        fs::create_dir_all(dir).map_err(failed("create the folder"))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".lock"))
            .map_err(failed("open its .lock"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(SinkError::QueueLocked {
                    dir: dir.to_path_buf(),
                });
            }
            Err(TryLockError::Error(error)) => {
                return Err(failed("lock its .lock")(error));
            }
        }
        let mut seqs = Vec::new();
        for entry in fs::read_dir(dir).map_err(failed("list the folder"))? {
            let entry = entry.map_err(failed("list the folder"))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(PARTIAL_EXTENSION) {
                fs::remove_file(entry.path()).map_err(failed("remove an interrupted write"))?;
            } else if let Some(seq) = seq_of(name) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        let next_seq = seqs.last().map_or(0, |last| last + 1);
        Ok(Self {
            dir: dir.to_path_buf(),
            seqs: seqs.into(),
            next_seq,
            max_events,
            durable,
            _lock: lock,
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn len(&self) -> usize {
        self.seqs.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// The oldest payload's number.
    pub(crate) fn front(&self) -> Option<u64> {
        self.seqs.front().copied()
    }

    /// The first payload on disk numbered above `after` (the oldest when `after` is `None`).
    pub(crate) fn next_after(&self, after: Option<u64>) -> Option<u64> {
        let start = after.map_or(0, |after| self.seqs.partition_point(|&seq| seq <= after));
        self.seqs.get(start).copied()
    }

    /// Takes the next number without writing anything: for payloads a caller keeps in memory
    /// and may write later with [`Spool::write`], in order with the rest.
    pub(crate) fn allocate(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Writes `payload` as the newest entry and returns its number; refused when the folder
    /// already holds `max_events`.
    pub(crate) fn push(&mut self, payload: &[u8]) -> Result<u64, SinkError> {
        if self.seqs.len() >= self.max_events {
            return Err(SinkError::QueueFull {
                dir: self.dir.clone(),
                max_events: self.max_events,
            });
        }
        let seq = self.allocate();
        self.write(seq, payload)?;
        Ok(seq)
    }

    /// Writes `payload` under a number from [`Spool::allocate`] (not bounded: the payload was
    /// already accepted in memory).
    pub(crate) fn write(&mut self, seq: u64, payload: &[u8]) -> Result<(), SinkError> {
        let path = self.path_of(seq);
        let partial = self
            .dir
            .join(format!("{seq:0NAME_DIGITS$}{PARTIAL_EXTENSION}"));
        self.write_file(&partial, &path, payload)
            .map_err(|source| SinkError::Queue {
                dir: self.dir.clone(),
                action: format!("write {}", path.display()),
                source,
            })?;
        let at = self.seqs.partition_point(|&queued| queued < seq);
        self.seqs.insert(at, seq);
        Ok(())
    }

    fn write_file(&self, partial: &Path, path: &Path, payload: &[u8]) -> io::Result<()> {
        let mut file = File::create(partial)?;
        file.write_all(payload)?;
        if self.durable {
            file.sync_all()?;
        }
        drop(file);
        fs::rename(partial, path)?;
        if self.durable {
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }

    pub(crate) fn read(&self, seq: u64) -> Result<Vec<u8>, SinkError> {
        let path = self.path_of(seq);
        fs::read(&path).map_err(|source| SinkError::Queue {
            dir: self.dir.clone(),
            action: format!("read {}", path.display()),
            source,
        })
    }

    /// Forgets payload `seq` (delivered).
    pub(crate) fn remove(&mut self, seq: u64) -> Result<(), SinkError> {
        self.seqs.retain(|&queued| queued != seq);
        let path = self.path_of(seq);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SinkError::Queue {
                dir: self.dir.clone(),
                action: format!("remove {}", path.display()),
                source,
            }),
        }
    }

    /// Moves payload `seq` out of the queue into `<dir>/<subdir>/` for people to look at, and
    /// returns its new path.
    pub(crate) fn set_aside(&mut self, seq: u64, subdir: &str) -> Result<PathBuf, SinkError> {
        let aside = self.dir.join(subdir);
        let from = self.path_of(seq);
        let to = aside.join(from.file_name().unwrap_or_default());
        fs::create_dir_all(&aside)
            .and_then(|()| fs::rename(&from, &to))
            .map_err(|source| SinkError::Queue {
                dir: self.dir.clone(),
                action: format!("move {} to {}", from.display(), aside.display()),
                source,
            })?;
        self.seqs.retain(|&queued| queued != seq);
        Ok(to)
    }

    fn path_of(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:0NAME_DIGITS$}{EXTENSION}"))
    }
}

/// The number in a payload's file name, or `None` for any other file.
fn seq_of(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(EXTENSION)?;
    if digits.len() != NAME_DIGITS || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_numbered_payload_files_count() {
        let table = [
            ("00000000000000000042.json", Some(42)),
            ("00000000000000000000.json", Some(0)),
            ("18446744073709551615.json", Some(u64::MAX)),
            ("42.json", None),
            ("00000000000000000042.json.tmp", None),
            ("0000000000000000004x.json", None),
            (".lock", None),
            ("rejected", None),
        ];
        for (name, expected) in table {
            assert_eq!(seq_of(name), expected, "{name}");
        }
    }

    #[test]
    fn payloads_come_back_in_order_after_reopening_and_partial_writes_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut spool = Spool::open(dir.path(), 10, true).unwrap();
            for payload in [b"a", b"b", b"c"] {
                spool.push(payload).unwrap();
            }
            spool.remove(0).unwrap();
        }
        fs::write(
            dir.path().join("00000000000000000003.json.tmp"),
            b"half a pay",
        )
        .unwrap();
        let mut spool = Spool::open(dir.path(), 10, true).unwrap();
        assert_eq!(spool.len(), 2);
        assert_eq!(spool.front(), Some(1));
        assert_eq!(spool.read(1).unwrap(), b"b");
        assert_eq!(spool.next_after(Some(1)), Some(2));
        assert_eq!(spool.next_after(Some(2)), None);
        assert!(!dir.path().join("00000000000000000003.json.tmp").exists());
        // Numbering continues after the newest payload on disk.
        assert_eq!(spool.push(b"d").unwrap(), 3);
    }

    #[test]
    fn a_full_spool_refuses_and_a_locked_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 2, false).unwrap();
        spool.push(b"1").unwrap();
        spool.push(b"2").unwrap();
        assert!(matches!(
            spool.push(b"3"),
            Err(SinkError::QueueFull { max_events: 2, .. })
        ));
        assert!(matches!(
            Spool::open(dir.path(), 2, false),
            Err(SinkError::QueueLocked { .. })
        ));
    }

    #[test]
    fn allocated_numbers_written_late_still_sort_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 10, false).unwrap();
        let kept_in_memory = spool.allocate();
        let pushed = spool.push(b"later").unwrap();
        spool.write(kept_in_memory, b"earlier").unwrap();
        assert_eq!(spool.front(), Some(kept_in_memory));
        assert_eq!(spool.next_after(Some(kept_in_memory)), Some(pushed));
        let aside = spool.set_aside(kept_in_memory, "rejected").unwrap();
        assert_eq!(fs::read(aside).unwrap(), b"earlier");
        assert_eq!(spool.front(), Some(pushed));
    }
}
