//! The running simulator: one gst-rtsp-server on a GLib main loop of its own, and the control
//! API tests use to break cameras on purpose.
//!
//! Owns: start-up (prepare sources, register one media factory per distinct mount path, bind),
//! the main-loop thread and a clean shutdown, scheduled faults, and [`MountControl`]. Does not
//! own: per-request behaviour (`rtsp`), pipelines (`source`), auth (`auth`).
//!
//! ```text
//!  Simulator::start ─► CamsimServer (port 0 = any)
//!        │               ├─ auth: CamsimAuth (scheme per mount)
//!        │               ├─ mount points: one CamsimFactory per distinct path
//!        │               └─ clients: CamsimClient (404 / 503 / drop-after-PLAY / tracking)
//!        ▼
//!  thread "camsim-rtsp": MainLoop on a private MainContext. Client requests, timers and every
//!  MountControl call run here; media pipelines run on GStreamer's own streaming threads.
//!  Drop: stop listening, close clients, remove sessions (pipelines stop), quit, join.
//! ```

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use gst::glib;
use gst_rtsp_server::RTSPFilterResult;
use gst_rtsp_server::prelude::*;

use crate::auth::CamsimAuth;
use crate::error::CamsimError;
use crate::mount::{MountState, MountTable};
use crate::options::{CamsimOptions, Codec, Fault, Resolution};
use crate::rtsp::{CamsimFactory, CamsimServer};
use crate::source::{self, PreparedSource};

/// A running RTSP camera simulator. Dropping it stops serving: the listening socket closes,
/// every client is disconnected, every pipeline stops and the main-loop thread is joined.
pub struct Simulator {
    context: glib::MainContext,
    main_loop: glib::MainLoop,
    server: CamsimServer,
    listener: Option<glib::SourceId>,
    scheduled: Vec<glib::Source>,
    mounts: Arc<MountTable>,
    thread: Option<JoinHandle<()>>,
    address: IpAddr,
    port: u16,
}

impl Simulator {
    /// Prepares every mount (scans folders, loads files, checks that each pipeline can be
    /// built), binds the port and starts serving.
    pub fn start(options: &CamsimOptions) -> Result<Self, CamsimError> {
        gst::init().map_err(CamsimError::Init)?;
        let routes = options.validate()?;
        let mut mounts = Vec::with_capacity(options.mounts.len());
        for (mount, route) in options.mounts.iter().zip(routes) {
            let state = Arc::new(MountState::new(
                mount.path.clone(),
                route,
                mount.codec,
                PreparedSource::prepare(mount)?,
                mount.auth.clone(),
                mount.resolution,
                mount.faults.drop_after,
            ));
            // Fail now, not on a client's DESCRIBE, when an element is missing.
            source::build_bin(&state)?;
            mounts.push(state);
        }
        let mounts = Arc::new(MountTable::new(mounts));
        let address = options.bind_address;
        let server_error = |reason: String| CamsimError::Server {
            address: format!("{address}:{}", options.port),
            reason,
        };

        let server = CamsimServer::new(Arc::clone(&mounts));
        server.set_address(&address.to_string());
        server.set_service(&options.port.to_string());
        // A fleet connects at once (a service starting with 96 cameras); gst-rtsp-server's
        // default listen backlog of 5 overflowed there and SYNs were dropped.
        server.set_backlog(1024);
        // Handle clients on our main loop rather than on a pool thread of their own.
        if let Some(pool) = server.thread_pool() {
            pool.set_max_threads(0);
        }
        server.set_auth(Some(&CamsimAuth::new(&mounts)));
        let mount_points = server
            .mount_points()
            .ok_or_else(|| server_error("no mount points".to_owned()))?;
        let mut bases: Vec<&str> = mounts
            .iter()
            .map(|mount| mount.route.base.as_str())
            .collect();
        bases.sort_unstable();
        bases.dedup();
        for base in bases {
            mount_points.add_factory(base, CamsimFactory::new(Arc::clone(&mounts)));
        }

        let context = glib::MainContext::new();
        let listener = server
            .attach(Some(&context))
            .map_err(|error| server_error(error.to_string()))?;
        let port = u16::try_from(server.bound_port())
            .map_err(|_| server_error("no port bound".to_owned()))?;

        let mut scheduled = Vec::new();
        for (options, mount) in options.mounts.iter().zip(mounts.iter()) {
            for planned in &options.faults.scheduled {
                let (mount, fault) = (Arc::clone(mount), planned.fault.clone());
                let source = glib::timeout_source_new(
                    planned.after,
                    Some("camsim-fault"),
                    glib::Priority::DEFAULT,
                    move || {
                        if let Err(error) = apply_fault(&mount, &fault) {
                            tracing::warn!(%error, "camsim: scheduled fault failed");
                        }
                        glib::ControlFlow::Break
                    },
                );
                source.attach(Some(&context));
                scheduled.push(source);
            }
        }

        let main_loop = glib::MainLoop::new(Some(&context), false);
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("camsim-rtsp".to_owned())
            .spawn({
                let (context, main_loop) = (context.clone(), main_loop.clone());
                move || {
                    let owned = context.with_thread_default(|| {
                        let _ = ready_tx.send(true);
                        main_loop.run();
                    });
                    if owned.is_err() {
                        let _ = ready_tx.send(false);
                    }
                }
            })
            .map_err(|error| server_error(error.to_string()))?;
        let simulator = Self {
            context,
            main_loop,
            server,
            listener: Some(listener),
            scheduled,
            mounts,
            thread: Some(thread),
            address,
            port,
        };
        if ready_rx.recv() != Ok(true) {
            return Err(server_error("main loop did not start".to_owned()));
        }
        tracing::info!(
            port,
            mounts = simulator.mounts.iter().count(),
            "camsim: serving"
        );
        Ok(simulator)
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rtsp://address:port<mount_path>`, without credentials (an unspecified bind address is
    /// reached through loopback).
    pub fn url(&self, mount_path: &str) -> String {
        let port = self.port;
        match self.address {
            IpAddr::V4(address) if address.is_unspecified() => {
                format!("rtsp://127.0.0.1:{port}{mount_path}")
            }
            IpAddr::V4(address) => format!("rtsp://{address}:{port}{mount_path}"),
            IpAddr::V6(address) if address.is_unspecified() => {
                format!("rtsp://[::1]:{port}{mount_path}")
            }
            IpAddr::V6(address) => format!("rtsp://[{address}]:{port}{mount_path}"),
        }
    }

    /// Run-time control of the mount configured with `path` (query parameters in any order).
    pub fn mount(&self, path: &str) -> Option<MountControl> {
        self.mounts.by_path(path).map(|mount| MountControl {
            mount: Arc::clone(mount),
            context: self.context.clone(),
        })
    }
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("address", &self.address)
            .field("port", &self.port)
            .field("mounts", &self.mounts)
            .finish_non_exhaustive()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let server = self.server.clone();
        let listener = self.listener.take();
        let scheduled = std::mem::take(&mut self.scheduled);
        let (context, main_loop) = (self.context.clone(), self.main_loop.clone());
        self.context.invoke(move || {
            for source in scheduled {
                source.destroy();
            }
            if let Some(listener) = listener.and_then(|id| context.find_source_by_id(&id)) {
                listener.destroy();
            }
            server.client_filter(Some(&mut |_, _| RTSPFilterResult::Remove));
            if let Some(pool) = server.session_pool() {
                pool.filter(Some(&mut |_, _| RTSPFilterResult::Remove));
            }
            // Quit once the clients' and sessions' teardown callbacks have run.
            let quit = glib::idle_source_new(Some("camsim-quit"), glib::Priority::LOW, move || {
                main_loop.quit();
                glib::ControlFlow::Break
            });
            quit.attach(Some(&context));
        });
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("camsim: main-loop thread panicked");
        }
        tracing::info!(port = self.port, "camsim: stopped");
    }
}

/// Breaks one mount on purpose, at run time. Calls run on the server's main loop and return
/// once applied; after the simulator is dropped they change nothing that is served.
#[derive(Debug, Clone)]
pub struct MountControl {
    mount: Arc<MountState>,
    context: glib::MainContext,
}

impl MountControl {
    /// The path as configured.
    pub fn path(&self) -> &str {
        &self.mount.path
    }

    /// Keeps connections open but stops sending video (see [`Fault::Stall`]).
    pub fn stall(&self) {
        self.apply_infallible(Fault::Stall);
    }

    /// Ends a stall; video resumes at the next key frame.
    pub fn resume(&self) {
        self.apply_infallible(Fault::Resume);
    }

    /// Closes every connection to this mount; returns how many were closed.
    pub fn drop_connections(&self) -> usize {
        let mount = Arc::clone(&self.mount);
        self.run_on_loop(move || mount.close_clients()).unwrap_or(0)
    }

    /// While `true`, new requests for this mount get `503 Service Unavailable`.
    pub fn set_refuse(&self, refuse: bool) {
        self.apply_infallible(if refuse { Fault::Refuse } else { Fault::Accept });
    }

    /// Simulates a reboot (see [`Fault::Restart`]).
    pub fn restart(&self, downtime: Duration) {
        self.apply_infallible(Fault::Restart { downtime });
    }

    /// Changes the served frame size mid-stream. Fails for file sources (served as recorded).
    pub fn switch_resolution(&self, resolution: Resolution) -> Result<(), CamsimError> {
        self.apply(&Fault::SwitchResolution(resolution))
    }

    /// Changes the codec: closes every connection, and new ones get `codec` (see
    /// [`Fault::SwitchCodec`]). Fails for file sources (served as recorded).
    pub fn switch_codec(&self, codec: Codec) -> Result<(), CamsimError> {
        self.apply(&Fault::SwitchCodec(codec))
    }

    /// Applies any fault now.
    pub fn apply(&self, fault: &Fault) -> Result<(), CamsimError> {
        let (mount, fault) = (Arc::clone(&self.mount), fault.clone());
        self.run_on_loop(move || apply_fault(&mount, &fault))
            .unwrap_or(Ok(()))
    }

    /// Clients with a session on this mount right now.
    pub fn client_count(&self) -> usize {
        self.mount.client_count()
    }

    fn apply_infallible(&self, fault: Fault) {
        if let Err(error) = self.apply(&fault) {
            tracing::warn!(%error, "camsim: fault failed");
        }
    }

    /// Runs `work` on the main-loop thread and waits for its result (directly, once the loop
    /// has stopped). `None` if it could not run.
    fn run_on_loop<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Option<R> {
        let (result_tx, result_rx) = mpsc::sync_channel(1);
        self.context.invoke(move || {
            let _ = result_tx.send(work());
        });
        result_rx.recv().ok()
    }
}

/// Applies `fault` to `mount`; runs on the main-loop thread.
fn apply_fault(mount: &MountState, fault: &Fault) -> Result<(), CamsimError> {
    match fault {
        Fault::Stall => mount.set_stalled(true),
        Fault::Resume => mount.set_stalled(false),
        Fault::DropConnections => {
            mount.close_clients();
        }
        Fault::Refuse => mount.set_refusing(true),
        Fault::Accept => mount.set_refusing(false),
        Fault::Restart { downtime } => {
            mount.begin_restart(*downtime);
            mount.set_stalled(false);
            mount.close_clients();
        }
        Fault::SwitchCodec(codec) => {
            if matches!(mount.source, PreparedSource::Clip(_)) {
                return Err(CamsimError::CodecSwitchUnsupported {
                    path: mount.path.clone(),
                });
            }
            mount.switch_codec(*codec);
        }
        Fault::SwitchResolution(resolution) => {
            resolution.validate(&mount.path)?;
            if matches!(mount.source, PreparedSource::Clip(_)) {
                return Err(CamsimError::ResolutionSwitchUnsupported {
                    path: mount.path.clone(),
                });
            }
            mount.switch_resolution(*resolution);
        }
    }
    tracing::info!(mount = %mount.path, ?fault, "camsim: fault applied");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Instant;

    use super::*;
    use crate::options::MountOptions;

    fn camsim_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim() == "camsim-rtsp")
            .count()
    }

    #[test]
    fn dropping_stops_serving_closes_clients_and_joins_the_thread() {
        let sim = Simulator::start(&CamsimOptions {
            mounts: vec![MountOptions {
                resolution: Some(Resolution::new(160, 96)),
                ..MountOptions::synthetic("/m", 1)
            }],
            ..CamsimOptions::default()
        })
        .unwrap();
        let port = sim.port();
        let mount = Arc::clone(sim.mounts.by_path("/m").unwrap());
        assert_eq!(camsim_threads(), 1);

        // A DESCRIBE makes the server build and preroll the mount's pipeline.
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let request = format!("DESCRIBE {} RTSP/1.0\r\nCSeq: 1\r\n\r\n", sim.url("/m"));
        client.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&response).contains("m=video") {
            let read = client.read(&mut chunk).unwrap();
            assert!(
                read > 0,
                "closed early: {}",
                String::from_utf8_lossy(&response)
            );
            response.extend_from_slice(&chunk[..read]);
        }
        assert!(response.starts_with(b"RTSP/1.0 200 OK"));
        assert!(mount.live_media_count() >= 1);

        drop(sim);
        assert_eq!(camsim_threads(), 0);
        assert!(
            matches!(client.read(&mut chunk), Ok(0) | Err(_)),
            "client still open"
        );
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "still listening"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while mount.live_media_count() > 0 {
            assert!(
                Instant::now() < deadline,
                "a pipeline outlived the simulator"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
