//! The running service: the camera table, the output, reloads and shutdown.
//!
//! Owns: [`Service`] (start, status, reload, shutdown), [`StatusHandle`], [`ReloadSummary`],
//! and the deadlines that keep a shutdown within [`SHUTDOWN_TIMEOUT`]. Does not own: signals
//! (`run` in the crate root), one camera's parts (`camera`) or writing (`output`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest, Sha256};
use sw_audit::{AuditLog, AuditOptions, FsyncPolicy, RecordKind};
use sw_config::{AuditConfig, Config, HttpConfig, WebhookUrl};
use sw_core::{CameraId, Credentials, Secret};
use sw_http::{HttpOptions, HttpServer, HttpSources, StatusSource};
use sw_ingest::CameraStatus;
use sw_sinks::{CameraDescription, MqttOptions, MqttSink, MqttTls, WebhookOptions, WebhookSink};

use crate::camera::{Camera, CameraPlan};
use crate::engine::Engines;
use crate::output::{EventsOutput, Output, Sinks};
use crate::retention::Retention;
use crate::shard::Shard;
use crate::{ServiceError, ServiceOptions};

/// A shutdown (cameras stopped, events closed, output flushed) ends within this.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(4500);

/// Of [`SHUTDOWN_TIMEOUT`], what stopping the cameras may take; the rest is for the writer.
const CAMERAS_STOP_TIMEOUT: Duration = Duration::from_secs(4);

/// MQTT and webhooks get this long to hand over or spill what they still hold.
const SINKS_STOP_TIMEOUT: Duration = Duration::from_millis(300);

/// Requests in flight at shutdown get this long to finish.
const HTTP_STOP_TIMEOUT: Duration = Duration::from_millis(300);

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
    audit: Option<AuditLog>,
    http: Option<HttpServer>,
    retention: Option<Retention>,
    sinks: Sinks,
    engines: Engines,
    /// Whether `/readyz` says ready: from a completed start until the shutdown begins.
    ready: Arc<AtomicBool>,
}

/// What the HTTP API reads: the camera table and whether the service is ready.
struct HttpStatus {
    cameras: StatusHandle,
    ready: Arc<AtomicBool>,
}

impl StatusSource for HttpStatus {
    fn cameras(&self) -> Vec<CameraStatus> {
        self.cameras.get()
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
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
        let audit = config.audit.as_ref().map(open_audit).transpose()?;
        if let Some(audit) = &audit {
            audit.append(
                RecordKind::ServiceStart,
                json!({
                    "version": env!("CARGO_PKG_VERSION"),
                    "pid": std::process::id(),
                    "shard": options.shard.map(|shard| shard.to_string()),
                }),
            )?;
            audit.append(
                RecordKind::ConfigLoaded,
                config_record(&options.config_path),
            )?;
        }
        let sinks = start_sinks(&config)?;
        if let Some(mqtt) = &sinks.mqtt {
            mqtt.announce_cameras(&describe_cameras(&plans))?;
        }
        let mut engines = Engines::default();
        engines.prepare(&config, &plans, audit.as_ref())?;
        let output = Output::spawn(&target, audit.clone(), sinks.clone())?;
        let cameras: BTreeMap<CameraId, Camera> = plans
            .into_iter()
            .map(|plan| (plan.id().clone(), Camera::start(plan, &output, &engines)))
            .collect();
        tracing::info!(
            config = %options.config_path.display(),
            cameras = cameras.len(),
            shard = %options.shard.map_or_else(|| "all".to_owned(), |shard| shard.to_string()),
            events = ?target,
            "service started"
        );
        let cameras = Arc::new(Mutex::new(cameras));
        let ready = Arc::new(AtomicBool::new(false));
        let http = match &config.http {
            None => None,
            Some(http) => Some(start_http(
                http,
                HttpSources {
                    status: Arc::new(HttpStatus {
                        cameras: StatusHandle(Arc::clone(&cameras)),
                        ready: Arc::clone(&ready),
                    }),
                    metrics: output.metrics().clone(),
                    events: output.recent().clone(),
                },
            )?),
        };
        let retention = config
            .privacy
            .evidence_dir
            .clone()
            .map(|dir| {
                let days = u64::from(config.privacy.retention_days);
                Retention::start(dir, Duration::from_secs(days * 86_400), audit.clone())
            })
            .transpose()?;
        ready.store(true, Ordering::Relaxed);
        Ok(Self {
            options,
            config,
            cameras,
            output,
            audit,
            http,
            retention,
            sinks,
            engines,
            ready,
        })
    }

    /// Every camera's status, ordered by id.
    pub fn status(&self) -> Vec<CameraStatus> {
        self.status_handle().get()
    }

    pub fn status_handle(&self) -> StatusHandle {
        StatusHandle(Arc::clone(&self.cameras))
    }

    /// Where the HTTP status API listens (the port chosen when `[http] bind` said 0).
    pub fn http_address(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(HttpServer::local_addr)
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
        self.engines.prepare(&config, &plans, self.audit.as_ref())?;
        if let Some(audit) = &self.audit {
            audit.append(
                RecordKind::ConfigLoaded,
                config_record(&self.options.config_path),
            )?;
        }
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
        if let Some(audit) = &self.audit {
            audit_ceiling_overrides(audit, &starting)?;
        }
        stop_all(stopping, Instant::now() + CAMERAS_STOP_TIMEOUT);
        for id in &summary.removed {
            self.output.metrics().remove_camera(id);
        }
        let started: Vec<Camera> = starting
            .into_iter()
            .map(|plan| Camera::start(plan, &self.output, &self.engines))
            .collect();
        lock(&self.cameras).extend(
            started
                .into_iter()
                .map(|camera| (camera.plan().id().clone(), camera)),
        );
        if let Some(mqtt) = &self.sinks.mqtt {
            let plans: Vec<CameraPlan> = lock(&self.cameras)
                .values()
                .map(|camera| camera.plan().clone())
                .collect();
            mqtt.announce_cameras(&describe_cameras(&plans))?;
        }
        if config.mqtt != self.config.mqtt || config.webhooks != self.config.webhooks {
            tracing::warn!("[mqtt] and [[webhooks]] changes take effect when the service restarts");
        }
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
    pub fn shutdown(mut self) -> Result<(), ServiceError> {
        let started = Instant::now();
        self.ready.store(false, Ordering::Relaxed);
        if let Some(http) = self.http.take() {
            http.shutdown(started + HTTP_STOP_TIMEOUT);
        }
        let cameras: Vec<Camera> = std::mem::take(&mut *lock(&self.cameras))
            .into_values()
            .collect();
        let count = cameras.len();
        stop_all(cameras, started + CAMERAS_STOP_TIMEOUT);
        let mut result = self.output.finish(started + SHUTDOWN_TIMEOUT);
        // The writer has finished: the service holds the sinks' last handles.
        let Sinks { mqtt, webhooks } = std::mem::take(&mut self.sinks);
        let sinks_deadline = Instant::now() + SINKS_STOP_TIMEOUT;
        let stopped = mqtt
            .and_then(Arc::into_inner)
            .map(|mqtt| mqtt.shutdown(sinks_deadline))
            .into_iter()
            .chain(
                webhooks
                    .into_iter()
                    .filter_map(Arc::into_inner)
                    .map(|hook| hook.shutdown(sinks_deadline)),
            );
        for outcome in stopped {
            if let Err(error) = outcome {
                tracing::error!("stopping an output: {error}");
            }
        }
        if let Some(retention) = self.retention.take() {
            retention.stop();
        }
        if let Some(audit) = &self.audit {
            let closed = audit
                .append(RecordKind::ServiceStop, json!({ "cameras": count }))
                .and_then(|_| audit.close());
            if let Err(error) = closed {
                result = result.and(Err(ServiceError::Audit(error)));
            }
        }
        tracing::info!(
            cameras = count,
            millis = started.elapsed().as_millis() as u64,
            "service stopped"
        );
        result
    }
}

/// Starts the MQTT and webhook sinks the config names, reading their secrets.
fn start_sinks(config: &Config) -> Result<Sinks, ServiceError> {
    let mqtt = match &config.mqtt {
        None => None,
        Some(mqtt) => {
            let mut options = MqttOptions::new(mqtt.host.clone(), mqtt.spill_dir.clone());
            options.port = mqtt.port;
            options.topic_prefix = mqtt.topic_prefix.clone();
            options.discovery_prefix = mqtt.discovery_prefix.clone();
            options.client_id = mqtt.client_id.clone();
            options.instance_id = mqtt.instance_id.clone();
            options.memory_queue_events = mqtt.memory_queue_events;
            options.tls = mqtt.tls.then(|| MqttTls {
                ca_file: mqtt.tls_ca_file.clone(),
            });
            if let Some(username) = &mqtt.username {
                let password = match &mqtt.password {
                    Some(source) => source.read_for("[mqtt]", "password", "password")?,
                    None => String::new(),
                };
                options.credentials = Some(Credentials::new(username, Secret::new(password)));
            }
            Some(Arc::new(MqttSink::start(options)?))
        }
    };
    let webhooks = config
        .webhooks
        .iter()
        .enumerate()
        .map(|(index, hook)| {
            let owner = format!("webhooks[{index}]");
            let url = match &hook.url {
                WebhookUrl::Written(url) => url.clone(),
                WebhookUrl::Secret(source) => source.read_for(&owner, "URL", "url")?,
            };
            let mut options = WebhookOptions::new(url, hook.outbox_dir.clone());
            options.timeout = hook.timeout;
            options.hmac_secret = hook
                .hmac_secret
                .as_ref()
                .map(|source| source.read_for(&owner, "HMAC secret", "hmac_secret"))
                .transpose()?
                .map(Secret::new);
            Ok(Arc::new(WebhookSink::start(options)?))
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    Ok(Sinks { mqtt, webhooks })
}

/// Each camera and its zones, for Home Assistant discovery.
fn describe_cameras(plans: &[CameraPlan]) -> Vec<CameraDescription> {
    plans
        .iter()
        .map(|plan| CameraDescription {
            id: plan.id().clone(),
            zones: plan
                .config
                .privacy
                .zones
                .iter()
                .map(|zone| zone.name().to_owned())
                .collect(),
        })
        .collect()
}

/// Reads the token (if any) and starts the HTTP server `[http]` describes.
fn start_http(config: &HttpConfig, sources: HttpSources) -> Result<HttpServer, ServiceError> {
    let token = config
        .token
        .as_ref()
        .map(|source| source.read_for("[http]", "token", "token").map(Secret::new))
        .transpose()?;
    Ok(HttpServer::start(
        HttpOptions {
            bind: config.bind,
            token,
        },
        sources,
    )?)
}

/// Opens the audit log `[audit]` describes, with its signing key.
fn open_audit(config: &AuditConfig) -> Result<AuditLog, ServiceError> {
    let mut options = AuditOptions::new(&config.dir);
    options.signing_key = config
        .signing_key_file
        .as_deref()
        .map(sw_audit::load_signing_key)
        .transpose()?;
    options.fsync = config
        .fsync_interval
        .map_or(FsyncPolicy::EveryRecord, FsyncPolicy::Interval);
    options.checkpoint_every_records = NonZeroU64::new(config.checkpoint_every_records);
    options.checkpoint_interval = Some(config.checkpoint_interval);
    let audit = AuditLog::open(options)?;
    if let Some(recovery) = audit.recovery() {
        tracing::warn!(dir = %config.dir.display(), "the audit log was not closed cleanly last time; recovered: {recovery:?}");
    }
    Ok(audit)
}

/// Records each camera that is analysed above the default resolution ceiling, with the
/// configured reason (before it starts).
fn audit_ceiling_overrides(audit: &AuditLog, plans: &[CameraPlan]) -> Result<(), ServiceError> {
    for plan in plans {
        let verdict = &plan.config.privacy.ceiling;
        if verdict.is_override() {
            let payload = serde_json::to_value(verdict).unwrap_or_default();
            audit.append(RecordKind::CeilingOverride, payload)?;
        }
    }
    Ok(())
}

/// The `config_loaded` payload: the file and the SHA-256 of its bytes. The file holds no
/// secrets (validation refuses them), so its hash is the hash of the config without secrets.
fn config_record(path: &Path) -> serde_json::Value {
    let sha256 = std::fs::read(path)
        .map(|bytes| format!("{:x}", Sha256::digest(bytes)))
        .unwrap_or_default();
    json!({ "file": path.display().to_string(), "sha256": sha256 })
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
