//! Segment files: their names, finding them in a directory, and reading their lines.
//!
//! Owns: the directory layout. A log is a directory of segment files
//! `audit-<first seq, 20 digits>.jsonl`, each holding consecutive records; the chain runs on
//! from the last record of one segment to the first of the next. Bytes set aside by crash
//! recovery go to `audit-<first lost seq, 20 digits>.torn` (`.torn-2`, `.torn-3`, .. if that
//! name is taken). `audit.lock` keeps a second writer out. Does not own: what a line means
//! (`record`, `chain`).

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::AuditError;
use crate::record::MAX_RECORD_BYTES;

const PREFIX: &str = "audit-";
const SUFFIX: &str = ".jsonl";
pub(crate) const LOCK_FILE: &str = "audit.lock";

/// One segment file of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    /// The record its name says it starts with.
    pub first_seq: u64,
    pub path: PathBuf,
    /// The file name alone, for reports.
    pub name: String,
}

pub(crate) fn segment_name(first_seq: u64) -> String {
    format!("{PREFIX}{first_seq:020}{SUFFIX}")
}

impl Segment {
    pub fn new(dir: &Path, first_seq: u64) -> Self {
        let name = segment_name(first_seq);
        Segment {
            first_seq,
            path: dir.join(&name),
            name,
        }
    }
}

/// The first free name for bytes set aside when record `first_lost_seq` was torn.
pub(crate) fn torn_path(dir: &Path, first_lost_seq: u64) -> PathBuf {
    let base = format!("{PREFIX}{first_lost_seq:020}.torn");
    (1..)
        .map(|n| match n {
            1 => dir.join(&base),
            n => dir.join(format!("{base}-{n}")),
        })
        .find(|path| fs::symlink_metadata(path).is_err())
        .unwrap_or_else(|| dir.join(base))
}

/// The segment files in `dir`, in order of their first record. Other files are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<Segment>, AuditError> {
    let entries = fs::read_dir(dir).map_err(|e| AuditError::io("listing", dir, e))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| AuditError::io("listing", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(digits) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_suffix(SUFFIX))
        else {
            continue;
        };
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(first_seq) = digits.parse() else {
            continue;
        };
        segments.push(Segment::new(dir, first_seq));
    }
    segments.sort_by_key(|s| s.first_seq);
    Ok(segments)
}

/// One line of a segment as read: the bytes without the newline, where it starts, and
/// whether it was complete (ended with a newline within [`MAX_RECORD_BYTES`]).
#[derive(Debug)]
pub(crate) struct Line<'a> {
    pub bytes: &'a [u8],
    /// 1-based line number in the file.
    pub number: u64,
    /// Byte offset of the line's start in the file.
    pub offset: u64,
    /// Bytes the line takes in the file, newline included.
    pub length: u64,
    pub complete: bool,
}

/// Reads a segment line by line with a bounded buffer.
#[derive(Debug)]
pub(crate) struct LineReader {
    reader: BufReader<File>,
    buffer: Vec<u8>,
    number: u64,
    offset: u64,
}

impl LineReader {
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let file = File::open(path).map_err(|e| AuditError::io("opening", path, e))?;
        Ok(LineReader {
            reader: BufReader::with_capacity(1 << 16, file),
            buffer: Vec::new(),
            number: 0,
            offset: 0,
        })
    }

    /// The next line, or `None` at the end of the file. A line with no newline within
    /// [`MAX_RECORD_BYTES`] comes back incomplete, holding at most that many bytes, and takes
    /// the rest of the file with it.
    pub fn next_line(&mut self, path: &Path) -> Result<Option<Line<'_>>, AuditError> {
        self.buffer.clear();
        let read = (&mut self.reader)
            .take(MAX_RECORD_BYTES as u64)
            .read_until(b'\n', &mut self.buffer)
            .map_err(|e| AuditError::io("reading", path, e))?;
        if read == 0 {
            return Ok(None);
        }
        let complete = self.buffer.last() == Some(&b'\n');
        let rest = match complete {
            true => 0,
            false => std::io::copy(&mut self.reader, &mut std::io::sink())
                .map_err(|e| AuditError::io("reading", path, e))?,
        };
        self.number += 1;
        let offset = self.offset;
        let length = read as u64 + rest;
        self.offset += length;
        let bytes = match complete {
            true => &self.buffer[..read - 1],
            false => &self.buffer[..],
        };
        Ok(Some(Line {
            bytes,
            number: self.number,
            offset,
            length,
            complete,
        }))
    }
}

/// The last complete line of a segment (without its newline), or `None` if the file holds
/// no complete line. Reads only the file's tail.
pub(crate) fn read_last_line(path: &Path) -> Result<Option<Vec<u8>>, AuditError> {
    let mut file = File::open(path).map_err(|e| AuditError::io("opening", path, e))?;
    let length = file
        .metadata()
        .map_err(|e| AuditError::io("reading", path, e))?
        .len();
    let start = length.saturating_sub(MAX_RECORD_BYTES as u64 + 1);
    file.seek(SeekFrom::Start(start))
        .map_err(|e| AuditError::io("reading", path, e))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)
        .map_err(|e| AuditError::io("reading", path, e))?;
    let Some(end) = tail.iter().rposition(|&b| b == b'\n') else {
        return Ok(None);
    };
    let begin = tail[..end]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    Ok(Some(tail[begin..end].to_vec()))
}

/// Makes a directory's entries (a created, renamed or removed file) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| AuditError::io("syncing directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_only_segments_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "audit-00000000000000000101.jsonl",
            "audit-00000000000000000001.jsonl",
            "audit-00000000000000000001.torn",
            "audit-1.jsonl",
            "audit.lock",
            "notes.txt",
        ] {
            fs::write(dir.path().join(name), b"").unwrap();
        }
        let firsts: Vec<u64> = list_segments(dir.path())
            .unwrap()
            .iter()
            .map(|s| s.first_seq)
            .collect();
        assert_eq!(firsts, [1, 101]);
        assert_eq!(
            torn_path(dir.path(), 1).file_name().unwrap(),
            "audit-00000000000000000001.torn-2"
        );
    }

    #[test]
    fn reads_lines_and_a_partial_tail() {
        struct Case {
            contents: &'static str,
            /// (bytes, offset, complete) per line.
            lines: &'static [(&'static str, u64, bool)],
            last_complete: Option<&'static str>,
        }
        let table = [
            Case {
                contents: "",
                lines: &[],
                last_complete: None,
            },
            Case {
                contents: "a\nbc\n",
                lines: &[("a", 0, true), ("bc", 2, true)],
                last_complete: Some("bc"),
            },
            Case {
                contents: "a\nbc",
                lines: &[("a", 0, true), ("bc", 2, false)],
                last_complete: Some("a"),
            },
            Case {
                contents: "\n",
                lines: &[("", 0, true)],
                last_complete: Some(""),
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        for case in table {
            fs::write(&path, case.contents).unwrap();
            let mut reader = LineReader::open(&path).unwrap();
            let mut got = Vec::new();
            while let Some(line) = reader.next_line(&path).unwrap() {
                got.push((line.bytes.to_vec(), line.offset, line.complete));
            }
            let expected: Vec<_> = case
                .lines
                .iter()
                .map(|(b, o, c)| (b.as_bytes().to_vec(), *o, *c))
                .collect();
            assert_eq!(got, expected, "{:?}", case.contents);
            let last = read_last_line(&path).unwrap();
            assert_eq!(last.as_deref(), case.last_complete.map(str::as_bytes));
        }
    }
}
