//! The running service: the camera table, the output, reloads and shutdown.
//!
//! Owns: [`Service`] (start, status, reload, shutdown), [`StatusHandle`], [`ReloadSummary`],
//! and the deadlines that keep a shutdown within [`SHUTDOWN_TIMEOUT`]. Does not own: signals
//! (`run` in the crate root), one camera's parts (`camera`) or writing (`output`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sw_config::Config;
use sw_core::CameraId;
use sw_ingest::CameraStatus;

use crate::camera::{Camera, CameraPlan};
use crate::output::{EventsOutput, Output};
use crate::shard::Shard;
use crate::{ServiceError, ServiceOptions};

/// A shutdown (cameras stopped, events closed, output flushed) ends within this.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(4500);

/// Of [`SHUTDOWN_TIMEOUT`], what stopping the cameras may take; the rest is for the writer.
const CAMERAS_STOP_TIMEOUT: Duration = Duration::from_secs(4);

type CameraTable = Arc<Mutex<BTreeMap<CameraId, Camera>>>;

fn lock(table: &CameraTable) -> MutexGuard<'_, BTreeMap<CameraId, Camera>> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The live service: every camera of the config, watched until [`Service::shutdown`].
#[derive(Debug)]
pub struct Service {
    options: ServiceOptions,
    config: Config,
    cameras: CameraTable,
    output: Output,
}

/// Reads camera status from any thread (e.g. an HTTP server) while the service runs.
#[derive(Debug, Clone)]
pub struct StatusHandle(CameraTable);

impl StatusHandle {
    /// Every camera of the config, disabled and failed ones included, ordered by id.
    pub fn get(&self) -> Vec<CameraStatus> {
        lock(&self.0).values().map(Camera::status).collect()
    }
}

/// What a reload did, camera by camera.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    pub added: Vec<CameraId>,
    pub removed: Vec<CameraId>,
    /// Stopped and started again with their new settings.
    pub changed: Vec<CameraId>,
    /// Left running, untouched.
    pub unchanged: Vec<CameraId>,
}

impl Service {
    /// Loads the config file, reads every enabled camera's password, opens the events output
    /// and starts every camera. Fails before starting anything when the config or a password
    /// cannot be read or the output cannot be opened; a camera that fails to start later is
    /// logged and shown in status, and the others run.
    pub fn start(options: ServiceOptions) -> Result<Self, ServiceError> {
        sw_ingest::init().map_err(|error| ServiceError::Init(Box::new(error)))?;
        let config = Config::load(&options.config_path)?;
        let plans = resolve(&config, options.shard)?;
        let target = options.events.clone().unwrap_or_else(|| {
            config
                .service
                .events_path
                .clone()
                .map_or(EventsOutput::Stdout, EventsOutput::File)
        });
        let output = Output::spawn(&target)?;
        let cameras: BTreeMap<CameraId, Camera> = plans
            .into_iter()
            .map(|plan| (plan.id().clone(), Camera::start(plan, &output)))
            .collect();
        tracing::info!(
            config = %options.config_path.display(),
            cameras = cameras.len(),
            shard = %options.shard.map_or_else(|| "all".to_owned(), |shard| shard.to_string()),
            events = ?target,
            "service started"
        );
        Ok(Self {
            options,
            config,
            cameras: Arc::new(Mutex::new(cameras)),
            output,
        })
    }

    /// Every camera's status, ordered by id.
    pub fn status(&self) -> Vec<CameraStatus> {
        self.status_handle().get()
    }

    pub fn status_handle(&self) -> StatusHandle {
        StatusHandle(Arc::clone(&self.cameras))
    }

    /// The config in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Reads the config file again and applies it (see [`Service::apply`]). On any error the
    /// running config stays in force, untouched.
    pub fn reload(&mut self) -> Result<ReloadSummary, ServiceError> {
        let config = Config::load(&self.options.config_path)?;
        self.apply(config)
    }

    /// Makes `config` the config in force: cameras no longer in it stop, new ones start,
    /// cameras whose resolved settings (password included) changed restart, and the others
    /// are not touched. Passwords are read first: if one cannot be, nothing changes.
    /// `service.events_path` takes effect at the next start only.
    pub fn apply(&mut self, config: Config) -> Result<ReloadSummary, ServiceError> {
        let plans = resolve(&config, self.options.shard)?;
        if config.service.events_path != self.config.service.events_path {
            tracing::warn!(
                "service.events_path changed; it takes effect when the service restarts"
            );
        }
        let mut summary = ReloadSummary::default();
        let mut stopping = Vec::new();
        let mut starting = Vec::new();
        {
            let mut cameras = lock(&self.cameras);
            let wanted: BTreeMap<CameraId, CameraPlan> = plans
                .into_iter()
                .map(|plan| (plan.id().clone(), plan))
                .collect();
            let gone: Vec<CameraId> = cameras
                .keys()
                .filter(|id| !wanted.contains_key(*id))
                .cloned()
                .collect();
            for id in gone {
                stopping.extend(cameras.remove(&id));
                summary.removed.push(id);
            }
            for (id, plan) in wanted {
                match cameras.get(&id) {
                    Some(camera) if camera.plan() == &plan => summary.unchanged.push(id),
                    Some(_) => {
                        stopping.extend(cameras.remove(&id));
                        summary.changed.push(id);
                        starting.push(plan);
                    }
                    None => {
                        summary.added.push(id);
                        starting.push(plan);
                    }
                }
            }
        }
        stop_all(stopping, Instant::now() + CAMERAS_STOP_TIMEOUT);
        let started: Vec<Camera> = starting
            .into_iter()
            .map(|plan| Camera::start(plan, &self.output))
            .collect();
        lock(&self.cameras).extend(
            started
                .into_iter()
                .map(|camera| (camera.plan().id().clone(), camera)),
        );
        self.config = config;
        tracing::info!(
            added = ?summary.added,
            removed = ?summary.removed,
            changed = ?summary.changed,
            unchanged = summary.unchanged.len(),
            "config reloaded"
        );
        Ok(summary)
    }

    /// Stops every camera (ingest first, then motion threads, which close open events), then
    /// the writer once it has written and flushed everything, within [`SHUTDOWN_TIMEOUT`].
    /// Returns an error when events could not all be written.
    pub fn shutdown(self) -> Result<(), ServiceError> {
        let started = Instant::now();
        let cameras: Vec<Camera> = std::mem::take(&mut *lock(&self.cameras))
            .into_values()
            .collect();
        let count = cameras.len();
        stop_all(cameras, started + CAMERAS_STOP_TIMEOUT);
        let result = self.output.finish(started + SHUTDOWN_TIMEOUT);
        tracing::info!(
            cameras = count,
            millis = started.elapsed().as_millis() as u64,
            "service stopped"
        );
        result
    }
}

/// Plans for every camera of `config` that `shard` owns (all without one), passwords read.
fn resolve(config: &Config, shard: Option<Shard>) -> Result<Vec<CameraPlan>, ServiceError> {
    config
        .cameras
        .iter()
        .filter(|camera| shard.is_none_or(|shard| shard.owns(&camera.id)))
        .map(|camera| CameraPlan::resolve(camera, &config.service).map_err(ServiceError::from))
        .collect()
}

/// Stops `cameras` in parallel and waits for them until `deadline`; cameras still stopping
/// then are logged and left behind.
fn stop_all(cameras: Vec<Camera>, deadline: Instant) {
    let handles: Vec<(CameraId, JoinHandle<()>)> = cameras
        .into_iter()
        .filter_map(|camera| {
            let id = camera.plan().id().clone();
            camera.stop().map(|handle| (id, handle))
        })
        .collect();
    let late = join_until(handles, deadline);
    if !late.is_empty() {
        tracing::error!(cameras = ?late, "cameras still stopping at the deadline; leaving them");
    }
}

/// Joins every thread that finishes by `deadline`; returns the names of the others.
pub(crate) fn join_until<N>(handles: Vec<(N, JoinHandle<()>)>, deadline: Instant) -> Vec<N> {
    let mut pending = handles;
    loop {
        let (finished, running): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|(_, handle)| handle.is_finished());
        for (_, handle) in finished {
            // A panic was already logged by the thread's own supervision.
            let _ = handle.join();
        }
        if running.is_empty() || Instant::now() >= deadline {
            return running.into_iter().map(|(name, _)| name).collect();
        }
        pending = running;
        thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_until_leaves_threads_that_miss_the_deadline() {
        let (release, wait) = crossbeam_channel::bounded::<()>(0);
        let quick = thread::spawn(|| {});
        let slow = thread::spawn(move || {
            let _ = wait.recv();
        });
        let late = join_until(
            vec![("quick", quick), ("slow", slow)],
            Instant::now() + Duration::from_millis(50),
        );
        assert_eq!(late, ["slow"]);
        drop(release);
    }
}
