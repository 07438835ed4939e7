//! Retention: deleting files older than their allowed age, each deletion reported so the
//! service can audit it.
//!
//! Owns: [`sweep`] over one folder tree (evidence images, rotated event files), its
//! [`SweepOptions`] and [`SweepReport`].
//! Does not own: when sweeps run (the service, e.g. hourly and at start), the audit record
//! (the caller's `on_delete`), or which folders hold what (config).
//!
//! A sweep never follows a symbolic link: links, and whatever they point to, are left alone
//! and counted, so a link can never make it delete outside its folder. An error on one file
//! is reported and the sweep goes on with the others.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::PrivacyError;

/// What to sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepOptions {
    /// The folder whose files (at any depth) are swept. Missing: nothing to do.
    pub dir: PathBuf,
    /// Files last modified longer ago than this before `now` are deleted.
    pub max_age: Duration,
    /// The time to measure ages from (injected, so tests and replays are exact).
    pub now: SystemTime,
    /// Files never deleted, however old (e.g. the events file still being appended to).
    /// Compared as given with each file's path under `dir`.
    pub keep: Vec<PathBuf>,
}

/// What a sweep did.
#[derive(Debug, Default)]
pub struct SweepReport {
    pub deleted_files: u64,
    pub deleted_bytes: u64,
    /// Files young enough (or in `keep`) to stay.
    pub kept_files: u64,
    /// Symbolic links and other non-regular entries left alone.
    pub skipped_entries: u64,
    /// Files or folders that could not be read or deleted; the sweep went on without them.
    pub errors: Vec<PrivacyError>,
}

/// Deletes every regular file under `options.dir` older than `options.max_age`, calling
/// `on_delete(path, size_bytes, modified)` after each deletion (to audit it).
pub fn sweep(
    options: &SweepOptions,
    mut on_delete: impl FnMut(&Path, u64, SystemTime),
) -> SweepReport {
    let mut report = SweepReport::default();
    let fail = |path: &Path, source| PrivacyError::Retention {
        path: path.to_owned(),
        source,
    };
    let mut folders = vec![options.dir.clone()];
    while let Some(folder) = folders.pop() {
        let entries = match fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(error) if folder == options.dir && error.kind() == std::io::ErrorKind::NotFound => {
                continue;
            }
            Err(error) => {
                report.errors.push(fail(&folder, error));
                continue;
            }
        };
        // Sorted, so deletions (and their audit records) come in the same order every time.
        let mut paths: Vec<(PathBuf, fs::FileType)> = Vec::new();
        for entry in entries {
            match entry.and_then(|entry| Ok((entry.path(), entry.file_type()?))) {
                Ok(found) => paths.push(found),
                Err(error) => report.errors.push(fail(&folder, error)),
            }
        }
        paths.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, file_type) in paths {
            if file_type.is_dir() {
                folders.push(path);
            } else if !file_type.is_file() {
                report.skipped_entries += 1;
            } else if options.keep.contains(&path) {
                report.kept_files += 1;
            } else {
                match sweep_file(&path, options) {
                    Ok(Some((size_bytes, modified))) => {
                        report.deleted_files += 1;
                        report.deleted_bytes += size_bytes;
                        on_delete(&path, size_bytes, modified);
                    }
                    Ok(None) => report.kept_files += 1,
                    Err(error) => report.errors.push(fail(&path, error)),
                }
            }
        }
    }
    report
}

/// Deletes `path` if it is too old; returns its size and modification time when it did.
fn sweep_file(path: &Path, options: &SweepOptions) -> std::io::Result<Option<(u64, SystemTime)>> {
    // symlink_metadata: the entry itself, never what a link (swapped in meanwhile) points to.
    let metadata = fs::symlink_metadata(path)?;
    if !metadata.is_file() {
        return Ok(None);
    }
    let modified = metadata.modified()?;
    let too_old = options
        .now
        .duration_since(modified)
        .is_ok_and(|age| age > options.max_age);
    if !too_old {
        return Ok(None);
    }
    fs::remove_file(path)?;
    Ok(Some((metadata.len(), modified)))
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    /// Writes `bytes` bytes to `path`, last modified `age` before `now`.
    fn file(path: &Path, bytes: usize, now: SystemTime, age: Duration) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, vec![b'x'; bytes]).unwrap();
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(now - age)
            .unwrap();
    }

    #[test]
    fn deletes_old_files_only_and_reports_each() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let dir = root.path().join("evidence");
        // name, bytes, age in days, deleted
        let table = [
            ("gate/1-10.png", 100, 40, true),
            ("gate/2-20.png", 200, 29, false),
            ("yard/1-5.png", 300, 31, true),
            ("yard/deep/old.jsonl", 7, 365, true),
            ("events.jsonl", 50, 90, false),
            ("fresh.png", 10, 0, false),
        ];
        for (name, bytes, days, _) in table {
            file(&dir.join(name), bytes, now, DAY * days);
        }
        // A link to an old file outside, and a link to an outside folder with one inside.
        file(&outside.path().join("precious.png"), 1, now, DAY * 400);
        std::os::unix::fs::symlink(outside.path().join("precious.png"), dir.join("link.png"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.join("linked-folder")).unwrap();

        let options = SweepOptions {
            dir: dir.clone(),
            max_age: DAY * 30,
            now,
            keep: vec![dir.join("events.jsonl")],
        };
        let mut deleted = Vec::new();
        let report = sweep(&options, |path, bytes, modified| {
            deleted.push((path.strip_prefix(&dir).unwrap().to_owned(), bytes, modified));
        });
        deleted.sort();
        let mut expected: Vec<(PathBuf, u64, SystemTime)> = table
            .iter()
            .filter(|row| row.3)
            .map(|&(name, bytes, days, _)| (PathBuf::from(name), bytes as u64, now - DAY * days))
            .collect();
        expected.sort();
        assert_eq!(deleted, expected);
        assert_eq!(
            (
                report.deleted_files,
                report.deleted_bytes,
                report.kept_files,
                report.skipped_entries
            ),
            (3, 407, 3, 2)
        );
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        for (name, _, _, gone) in table {
            assert_eq!(dir.join(name).exists(), !gone, "{name}");
        }
        assert!(
            outside.path().join("precious.png").exists(),
            "links are never followed"
        );
    }

    #[test]
    fn a_missing_folder_is_nothing_to_do() {
        let root = tempfile::tempdir().unwrap();
        let options = SweepOptions {
            dir: root.path().join("never-written"),
            max_age: DAY,
            now: SystemTime::now(),
            keep: Vec::new(),
        };
        let report = sweep(&options, |_, _, _| panic!("nothing to delete"));
        assert_eq!((report.deleted_files, report.errors.len()), (0, 0));
    }

    #[test]
    fn an_unreadable_folder_is_reported_and_the_rest_swept() {
        let root = tempfile::tempdir().unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        file(&root.path().join("old.png"), 5, now, DAY * 10);
        // A "folder" that is a file: reading it as a folder fails.
        let options = SweepOptions {
            dir: root.path().join("old.png"),
            max_age: DAY,
            now,
            keep: Vec::new(),
        };
        let report = sweep(&options, |_, _, _| {});
        assert_eq!(report.errors.len(), 1);
        assert!(
            report.errors[0].to_string().starts_with("retention: "),
            "{}",
            report.errors[0]
        );
        let options = SweepOptions {
            dir: root.path().to_owned(),
            ..options
        };
        assert_eq!(sweep(&options, |_, _, _| {}).deleted_files, 1);
    }
}
