//! Retention: evidence images older than `privacy.retention_days` are deleted when the service
//! starts and then every hour, and each deletion is recorded in the audit log.
//!
//! Owns: the `retention` thread and its schedule. Does not own: finding and deleting old files
//! (sw_privacy's `sweep`) or the audit log (sw_audit).

use std::path::PathBuf;
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use serde_json::json;
use sw_audit::{AuditLog, RecordKind};
use sw_privacy::SweepOptions;

use crate::ServiceError;

/// Time between sweeps.
const SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// The running `retention` thread; [`Retention::stop`] ends it.
#[derive(Debug)]
pub(crate) struct Retention {
    /// Never sent on: dropping it stops the thread.
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Retention {
    /// Sweeps `dir` now and hourly, deleting files older than `max_age`.
    pub fn start(
        dir: PathBuf,
        max_age: Duration,
        audit: Option<AuditLog>,
    ) -> Result<Self, ServiceError> {
        let (stop, stopped) = crossbeam_channel::bounded(0);
        let name = "retention".to_owned();
        let thread = thread::Builder::new()
            .name(name.clone())
            .spawn(move || run(&dir, max_age, audit.as_ref(), &stopped))
            .map_err(|source| ServiceError::Thread { name, source })?;
        Ok(Self { stop, thread })
    }

    /// Stops the thread; a sweep in progress finishes first.
    pub fn stop(self) {
        drop(self.stop);
        // The thread logs its own trouble and does not panic.
        let _ = self.thread.join();
    }
}

fn run(dir: &std::path::Path, max_age: Duration, audit: Option<&AuditLog>, stop: &Receiver<()>) {
    loop {
        let options = SweepOptions {
            dir: dir.to_path_buf(),
            max_age,
            now: SystemTime::now(),
            keep: Vec::new(),
        };
        let report = sw_privacy::sweep(&options, |path, size_bytes, modified| {
            let modified_unix_millis = modified
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_millis() as u64);
            let payload = json!({
                "path": path.display().to_string(),
                "size_bytes": size_bytes,
                "modified_unix_millis": modified_unix_millis,
                "max_age_days": max_age.as_secs() / 86_400,
            });
            if let Some(audit) = audit
                && let Err(error) = audit.append(RecordKind::RetentionDeleted, payload)
            {
                tracing::error!("a retention deletion could not be audited: {error}");
            }
        });
        if report.deleted_files > 0 {
            tracing::info!(
                files = report.deleted_files,
                bytes = report.deleted_bytes,
                "retention deleted old evidence"
            );
        }
        for error in &report.errors {
            tracing::warn!("retention: {error}");
        }
        match stop.recv_timeout(SWEEP_INTERVAL) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
