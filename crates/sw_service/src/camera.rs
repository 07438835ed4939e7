//! One camera inside the service: what it was started with (a [`CameraPlan`], which reloads
//! compare) and its running parts: the ingest's [`LiveCamera`] and the motion thread.
//!
//! Owns: resolving a camera's config into a plan (reading its password), starting the pair
//! with the channels between them, its status (including "disabled" and "failed"), and
//! stopping it stage by stage. Does not own: the reconnect loop (sw_ingest), the analysis
//! (`motion`) or the camera table (`service`).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Sender;
use sw_config::{CameraConfig, ConfigError, RtspClientChoice, ServiceConfig, Transport};
use sw_core::CameraId;
use sw_ingest::{
    CameraState, CameraStatus, Credentials, FrameQueue, LiveCamera, LiveOptions, LiveSinks,
    RtspClient, RtspTransport, Secret,
};

use crate::ServiceError;
use crate::engine::Engines;
use crate::motion::{self, MotionInputs};
use crate::output::Output;

/// Health events waiting for the motion thread. Overload policy: block (the ingest waits);
/// they are few, and the motion thread takes them before any frame.
const HEALTH_QUEUE: usize = 64;

/// Everything a camera is started with, resolved: its config with the overrides merged in, its
/// password as read at (re)load, and the service-wide connection settings. Two equal plans
/// give the same running camera, so a reload leaves a camera alone when its plan is unchanged.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CameraPlan {
    pub config: CameraConfig,
    password: Option<Secret>,
    supervision: Supervision,
}

/// The `[service]` settings that shape each camera's ingest.
#[derive(Debug, Clone, PartialEq)]
struct Supervision {
    queue_frames: usize,
    connect_timeout: Duration,
    stall_timeout: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    auth_retry: Duration,
}

impl CameraPlan {
    /// Reads the camera's password (unless it is disabled); fails when it cannot be read.
    pub fn resolve(config: &CameraConfig, service: &ServiceConfig) -> Result<Self, ConfigError> {
        let password = match &config.credentials {
            Some(credentials) if config.enabled => {
                Some(Secret::new(credentials.password.read(&config.id)?))
            }
            _ => None,
        };
        Ok(Self {
            config: config.clone(),
            password,
            supervision: Supervision {
                queue_frames: service.queue_frames,
                connect_timeout: service.connect_timeout,
                stall_timeout: service.stall_timeout,
                backoff_initial: service.backoff_initial,
                backoff_max: service.backoff_max,
                auth_retry: service.auth_retry,
            },
        })
    }

    pub fn id(&self) -> &CameraId {
        &self.config.id
    }

    fn live_options(&self) -> LiveOptions {
        let config = &self.config;
        let mut options = LiveOptions::new(
            config.id.clone(),
            config.url.clone(),
            config.width,
            config.analysis_fps,
        );
        options.credentials = config.credentials.as_ref().zip(self.password.as_ref()).map(
            |(credentials, password)| {
                Credentials::new(credentials.username.clone(), password.clone())
            },
        );
        options.client = match config.rtsp_client {
            RtspClientChoice::Auto => RtspClient::Auto,
            RtspClientChoice::Gstreamer => RtspClient::Gstreamer,
            RtspClientChoice::Retina => RtspClient::Retina,
        };
        options.transport = match config.transport {
            Transport::Tcp => RtspTransport::Tcp,
            Transport::Udp => RtspTransport::Udp,
        };
        options.height = config.height;
        let supervision = &self.supervision;
        options.connect_timeout = supervision.connect_timeout;
        options.stall_timeout = supervision.stall_timeout;
        options.backoff_initial = supervision.backoff_initial;
        options.backoff_max = supervision.backoff_max;
        options.auth_retry = supervision.auth_retry;
        options
    }
}

/// A camera of the service, running or not.
#[derive(Debug)]
pub(crate) struct Camera {
    plan: CameraPlan,
    run: Run,
}

enum Run {
    /// Disabled, or it could not start: a fixed status.
    Idle(CameraStatus),
    Running(Running),
}

struct Running {
    shared: Arc<Shared>,
    /// Never sent on: dropping it tells the motion thread to finish.
    stop: Sender<()>,
    motion: JoinHandle<()>,
}

/// What the service and the camera's motion thread both reach.
struct Shared {
    /// Taken out when the camera is stopped.
    live: Mutex<Option<LiveCamera>>,
    /// Set when analysis failed for good and the ingest was stopped: the status to show.
    failed: Mutex<Option<CameraStatus>>,
}

impl fmt::Debug for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Run::Idle(status) => f.debug_tuple("Idle").field(status).finish(),
            Run::Running(_) => f.write_str("Running"),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Camera {
    /// Starts the camera (unless it is disabled). A camera that cannot start is logged and
    /// kept with a `stopped` status saying why; the others are not affected.
    pub fn start(plan: CameraPlan, output: &Output, engines: &Engines) -> Self {
        // Logged with a `camera` field rather than inside a span: the ingest opens its own
        // `camera` span for its thread, which would nest under one entered here.
        if !plan.config.enabled {
            tracing::info!(camera = %plan.id(), "disabled in the config; not connecting");
            let status = stopped_status(plan.id(), "disabled in the config".to_owned());
            return Self {
                plan,
                run: Run::Idle(status),
            };
        }
        let run = match Running::start(&plan, output, engines) {
            Ok(running) => Run::Running(running),
            Err(error) => {
                let reason = crate::describe(&error);
                tracing::error!(camera = %plan.id(), "{reason}");
                Run::Idle(stopped_status(plan.id(), reason))
            }
        };
        Self { plan, run }
    }

    pub fn plan(&self) -> &CameraPlan {
        &self.plan
    }

    pub fn status(&self) -> CameraStatus {
        match &self.run {
            Run::Idle(status) => status.clone(),
            Run::Running(running) => {
                if let Some(failed) = lock(&running.shared.failed).clone() {
                    return failed;
                }
                match &*lock(&running.shared.live) {
                    Some(live) => live.status(),
                    None => stopped_status(self.plan.id(), "stopping".to_owned()),
                }
            }
        }
    }

    /// Stops the camera on a thread of its own (here, if no thread can be started), stage by
    /// stage: the ingest first (its pipeline goes to `Null` and its channels close), then the
    /// motion thread, which closes an open event and ends. Join the handle to wait.
    pub fn stop(self) -> Option<JoinHandle<()>> {
        let name = format!("stop-{}", self.plan.id());
        on_own_thread(name, self, Camera::stop_here)
    }

    fn stop_here(self) {
        let Run::Running(running) = self.run else {
            return;
        };
        let live = lock(&running.shared.live).take();
        if let Some(live) = live {
            live.stop();
        }
        drop(running.stop);
        if running.motion.join().is_err() {
            tracing::error!(camera = %self.plan.id(), "the motion thread ended in a panic");
        }
    }
}

/// Runs `work(value)` on a new thread named `name`, or here when no thread can be started.
fn on_own_thread<T: Send + 'static>(name: String, value: T, work: fn(T)) -> Option<JoinHandle<()>> {
    // Overload policy: none; exactly one value is handed over.
    let (hand_over, receive) = crossbeam_channel::bounded::<T>(1);
    let spawned = thread::Builder::new().name(name).spawn(move || {
        if let Ok(value) = receive.recv() {
            work(value);
        }
    });
    match spawned {
        Ok(handle) => match hand_over.send(value) {
            Ok(()) => Some(handle),
            Err(returned) => {
                work(returned.0);
                None
            }
        },
        Err(error) => {
            tracing::warn!("cannot start a thread ({error}); doing its work here");
            work(value);
            None
        }
    }
}

impl Running {
    fn start(plan: &CameraPlan, output: &Output, engines: &Engines) -> Result<Self, ServiceError> {
        let options = plan.live_options();
        tracing::info!(
            camera = %plan.id(),
            url = %options.redacted_url(),
            transport = %plan.config.transport,
            "starting"
        );
        let (frames_in, frames) = FrameQueue::bounded(plan.supervision.queue_frames);
        let (health_in, health) = crossbeam_channel::bounded(HEALTH_QUEUE);
        let live = LiveCamera::spawn(
            options,
            LiveSinks {
                frames: frames_in,
                health: health_in,
            },
        )
        .map_err(|source| ServiceError::Camera {
            camera: plan.id().clone(),
            source: Box::new(source),
        })?;
        let shared = Arc::new(Shared {
            live: Mutex::new(Some(live)),
            failed: Mutex::new(None),
        });
        // Overload policy: none; nothing is ever sent, the channel only closes.
        let (stop_in, stop) = crossbeam_channel::bounded(0);
        let give_up_shared = Arc::clone(&shared);
        let spawned = motion::spawn(MotionInputs {
            camera: plan.id().clone(),
            detector: plan.config.detector,
            backend: engines.backend_for(plan.config.detector_backend),
            events: plan.config.events.clone(),
            frames,
            health,
            stop,
            records: output.sender(),
            metrics: output.metrics().camera(plan.id()),
            privacy: plan.config.privacy.clone(),
            on_give_up: Box::new(move |reason| stop_after_failure(&give_up_shared, reason)),
        });
        match spawned {
            Ok(motion) => Ok(Self {
                shared,
                stop: stop_in,
                motion,
            }),
            Err(error) => {
                if let Some(live) = lock(&shared.live).take() {
                    live.stop();
                }
                Err(error)
            }
        }
    }
}

/// Called on the motion thread when analysis is given up: shows the camera as stopped with
/// `reason` and stops its ingest on another thread (the motion thread keeps draining the
/// channels meanwhile, so the ingest never waits on it).
fn stop_after_failure(shared: &Shared, reason: String) {
    let mut live = lock(&shared.live);
    let Some(camera) = live.take() else {
        return;
    };
    let mut status = camera.status();
    status.state = CameraState::Stopped;
    status.since_unix_millis = unix_millis_now();
    status.reason = Some(reason);
    let name = format!("stop-{}", status.camera);
    *lock(&shared.failed) = Some(status);
    drop(live);
    // Detached: the motion thread drains the channels until this ends, and shutdown does not
    // wait for it.
    drop(on_own_thread(name, camera, |camera| {
        camera.stop();
    }));
}

/// The status of a camera that is not running, and why.
fn stopped_status(camera: &CameraId, reason: String) -> CameraStatus {
    CameraStatus {
        camera: camera.clone(),
        state: CameraState::Stopped,
        since_unix_millis: unix_millis_now(),
        reason: Some(reason),
        frames_received: 0,
        frames_dropped: 0,
        reconnects: 0,
        last_frame_unix_millis: None,
        rtsp_client: None,
    }
}

fn unix_millis_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use sw_config::{Config, Source};

    use super::*;

    fn plans(text: &str) -> Vec<CameraPlan> {
        let config = Config::parse(text, Source::BuiltIn).unwrap();
        config
            .cameras
            .iter()
            .map(|camera| CameraPlan::resolve(camera, &config.service).unwrap())
            .collect()
    }

    #[test]
    fn plans_compare_equal_only_when_the_camera_would_run_the_same() {
        let base = "[[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\n";
        let same = plans(base);
        // edit, whether the camera's plan changes
        let table = [
            ("", false),
            ("[service]\nevents_path = \"elsewhere.jsonl\"\n", false),
            ("[service]\nstall_timeout_millis = 2000\n", true),
            ("[detector]\nmatch_radius_luma = 30\n", true),
            ("[analysis]\nwidth = 160\n", true),
        ];
        for (edit, changes) in table {
            let edited = plans(&format!("{edit}{base}"));
            assert_eq!(edited[0] != same[0], changes, "for {edit:?}");
        }
    }

    #[test]
    fn live_options_carry_the_password_and_never_print_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "hunter2\n").unwrap();
        let text = format!(
            "[[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\nusername = \"admin\"\n\
             password_file = \"{}\"\ntransport = \"udp\"\n",
            dir.path().join("pw").display()
        );
        let plan = &plans(&text)[0];
        let options = plan.live_options();
        let credentials = options.credentials.as_ref().unwrap();
        assert_eq!(credentials.username, "admin");
        assert_eq!(credentials.password.expose(), "hunter2");
        assert_eq!(options.transport, RtspTransport::Udp);
        let printed = format!("{plan:?} {options:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
    }

    #[test]
    fn a_disabled_camera_needs_no_password() {
        let text = "[[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\nusername = \"admin\"\n\
                    password_env = \"SW_SERVICE_TEST_SURELY_UNSET\"\nenabled = false\n";
        let config = Config::parse(text, Source::BuiltIn).unwrap();
        assert!(CameraPlan::resolve(&config.cameras[0], &config.service).is_ok());
        let mut enabled = config.cameras[0].clone();
        enabled.enabled = true;
        let error = CameraPlan::resolve(&enabled, &config.service).unwrap_err();
        assert!(
            error.to_string().contains("SW_SERVICE_TEST_SURELY_UNSET"),
            "{error}"
        );
    }
}
