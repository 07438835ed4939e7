//! The run-time state of each mount, shared by the RTSP server's callbacks and the control API.
//!
//! Owns: a mount's fixed configuration (prepared source, auth), its switchable codec and size,
//! its fault switches (stalled, refusing, restarting), the clients watching it and the pipelines serving it, and
//! the table that maps a request URI to a mount. Does not own: building pipelines (`source`)
//! or the server and its threads (`server`).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst_rtsp_server::RTSPClient;
use gst_rtsp_server::prelude::*;

use crate::options::{AuthOptions, Codec, Resolution};
use crate::route::{self, MountPath};
use crate::source::PreparedSource;

/// One mount while the simulator runs.
pub(crate) struct MountState {
    /// The path as configured, query included: the mount's name in logs and errors.
    pub path: String,
    pub route: MountPath,
    /// Codec served to new connections (a switch closes the old ones).
    codec: Mutex<Codec>,
    pub source: PreparedSource,
    pub auth: AuthOptions,
    pub drop_after: Option<Duration>,
    stalled: AtomicBool,
    refusing: AtomicBool,
    restarting_until: Mutex<Option<Instant>>,
    /// Frame size to serve; `None` is the source's own.
    resolution: Mutex<Option<Resolution>>,
    media: Mutex<Vec<MediaHandle>>,
    clients: Mutex<Vec<glib::WeakRef<RTSPClient>>>,
}

/// A pipeline serving the mount, and its size capsfilter when it encodes.
struct MediaHandle {
    bin: glib::WeakRef<gst::Bin>,
    size_filter: Option<glib::WeakRef<gst::Element>>,
}

/// Locks `mutex`; the data it guards here stays consistent even if a holder panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl MountState {
    pub fn new(
        path: String,
        route: MountPath,
        codec: Codec,
        source: PreparedSource,
        auth: AuthOptions,
        resolution: Option<Resolution>,
        drop_after: Option<Duration>,
    ) -> Self {
        Self {
            path,
            route,
            codec: Mutex::new(codec),
            source,
            auth,
            drop_after,
            stalled: AtomicBool::new(false),
            refusing: AtomicBool::new(false),
            restarting_until: Mutex::new(None),
            resolution: Mutex::new(resolution),
            media: Mutex::new(Vec::new()),
            clients: Mutex::new(Vec::new()),
        }
    }

    pub fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::Relaxed)
    }

    pub fn set_stalled(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::Relaxed);
    }

    pub fn set_refusing(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::Relaxed);
    }

    /// Whether new requests are answered 503: refused, or inside a restart's downtime.
    pub fn is_refusing(&self) -> bool {
        self.refusing.load(Ordering::Relaxed)
            || lock(&self.restarting_until).is_some_and(|until| Instant::now() < until)
    }

    pub fn begin_restart(&self, downtime: Duration) {
        *lock(&self.restarting_until) = Some(Instant::now() + downtime);
    }

    pub fn codec(&self) -> Codec {
        *lock(&self.codec)
    }

    /// Serves `codec` from now on: closes every client (their sessions described the old
    /// one); returns how many. Call on the server's main-loop thread.
    pub fn switch_codec(&self, codec: Codec) -> usize {
        *lock(&self.codec) = codec;
        self.close_clients()
    }

    pub fn resolution(&self) -> Option<Resolution> {
        *lock(&self.resolution)
    }

    /// Remembers the new size for future pipelines and applies it to the running ones.
    pub fn switch_resolution(&self, resolution: Resolution) {
        *lock(&self.resolution) = Some(resolution);
        let caps = crate::source::raw_caps(Some(resolution));
        let mut media = lock(&self.media);
        media.retain(|handle| handle.bin.upgrade().is_some());
        for filter in media
            .iter()
            .filter_map(|handle| handle.size_filter.as_ref()?.upgrade())
        {
            filter.set_property("caps", &caps);
        }
    }

    pub fn register_media(&self, bin: &gst::Bin, size_filter: Option<&gst::Element>) {
        let mut media = lock(&self.media);
        media.retain(|handle| handle.bin.upgrade().is_some());
        media.push(MediaHandle {
            bin: bin.downgrade(),
            size_filter: size_filter.map(|filter| filter.downgrade()),
        });
    }

    /// Pipelines built for this mount that still exist.
    #[cfg(test)]
    pub fn live_media_count(&self) -> usize {
        lock(&self.media)
            .iter()
            .filter(|handle| handle.bin.upgrade().is_some())
            .count()
    }

    pub fn add_client(&self, client: &RTSPClient) {
        let mut clients = lock(&self.clients);
        clients.retain(|known| known.upgrade().is_some_and(|known| known != *client));
        clients.push(client.downgrade());
    }

    pub fn remove_client(&self, client: &RTSPClient) {
        lock(&self.clients).retain(|known| known.upgrade().is_some_and(|known| known != *client));
    }

    pub fn client_count(&self) -> usize {
        lock(&self.clients)
            .iter()
            .filter(|known| known.upgrade().is_some())
            .count()
    }

    /// Closes every client connection to this mount; returns how many. Call on the server's
    /// main-loop thread.
    pub fn close_clients(&self) -> usize {
        let clients: Vec<RTSPClient> = std::mem::take(&mut *lock(&self.clients))
            .iter()
            .filter_map(glib::WeakRef::upgrade)
            .collect();
        for client in &clients {
            client.close();
        }
        clients.len()
    }
}

impl fmt::Debug for MountState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MountState")
            .field("path", &self.path)
            .field("codec", &self.codec())
            .field("stalled", &self.is_stalled())
            .field("refusing", &self.is_refusing())
            .finish_non_exhaustive()
    }
}

/// All mounts, in configuration order.
#[derive(Debug)]
pub(crate) struct MountTable {
    mounts: Vec<Arc<MountState>>,
}

impl MountTable {
    pub fn new(mounts: Vec<Arc<MountState>>) -> Self {
        Self { mounts }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<MountState>> {
        self.mounts.iter()
    }

    /// The mount a request URI names (see [`route::resolve`]).
    pub fn resolve(&self, request_uri: &str) -> Option<&Arc<MountState>> {
        route::resolve(self.mounts.iter().map(|mount| &mount.route), request_uri)
            .map(|index| &self.mounts[index])
    }

    /// The mount configured with exactly this path (query included, in any order).
    pub fn by_path(&self, path: &str) -> Option<&Arc<MountState>> {
        let route = MountPath::parse(path).ok()?;
        self.mounts.iter().find(|mount| mount.route == route)
    }
}
