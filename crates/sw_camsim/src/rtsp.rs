//! The gst-rtsp-server subclasses: a server that creates our clients, a client with per-request
//! hooks, and a media factory that builds whichever mount a request names.
//!
//! Owns: what happens per RTSP request beyond gst-rtsp-server's defaults: 404 for a request no
//! mount matches (a Dahua query naming no channel), 503 while a mount refuses, marking a
//! DESCRIBE for auth (which cannot see the method), tracking which client watches which mount,
//! the drop-after-PLAY timer, request paths for URLs with a query, a media key that includes the
//! codec (after a codec switch), and keeping a closed client alive past gst-rtsp-server's own
//! pending closes of it (`keep_alive_past_pending_closes`). Does not own: auth (`auth`),
//! pipelines (`source`), the server's lifetime (`server`).
//!
//! Query strings: gst-rtsp-server finds a stream by the path after the mount
//! (`/cam/realmonitor/stream=0`), but clients put the control where the Content-Base puts it:
//! ffmpeg after the query (`/cam/realmonitor?channel=1&subtype=0/stream=0`), rtspsrc before it.
//! `make_path_from_uri` builds the path without the query and with the control in both cases;
//! mounts are told apart by the full URI (`route::resolve`). gst-rtsp-server also leaves the
//! query out of the Content-Base, so SETUP and PLAY often arrive without it: a connection
//! remembers the mount it described ([`CamsimClient::mount_of`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst_rtsp_server::gst_rtsp::{RTSPStatusCode, RTSPUrl};
use gst_rtsp_server::prelude::*;
use gst_rtsp_server::subclass::prelude::*;
use gst_rtsp_server::{RTSPClient, RTSPContext, RTSPMediaFactory, RTSPServer};

use crate::auth;
use crate::mount::{MountState, MountTable, lock};
use crate::route;
use crate::source;

glib::wrapper! {
    /// An RTSP server whose clients are [`CamsimClient`]s.
    pub(crate) struct CamsimServer(ObjectSubclass<server_imp::CamsimServer>) @extends RTSPServer;
}

impl CamsimServer {
    pub fn new(mounts: Arc<MountTable>) -> Self {
        let server: Self = glib::Object::new();
        // A fresh object: the cell is empty.
        let _ = server.imp().mounts.set(mounts);
        server
    }
}

mod server_imp {
    use super::*;

    #[derive(Debug, Default)]
    pub(crate) struct CamsimServer {
        pub(super) mounts: OnceLock<Arc<MountTable>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for CamsimServer {
        const NAME: &'static str = "SwCamsimServer";
        type Type = super::CamsimServer;
        type ParentType = RTSPServer;
    }

    impl ObjectImpl for CamsimServer {}

    impl RTSPServerImpl for CamsimServer {
        /// What gst-rtsp-server's default does, with our client type.
        fn create_client(&self) -> Option<RTSPClient> {
            let server = self.obj();
            let client = CamsimClient::new(Arc::clone(self.mounts.get()?));
            client.set_session_pool(server.session_pool().as_ref());
            client.set_mount_points(server.mount_points().as_ref());
            client.set_content_length_limit(RTSPServerExt::content_length_limit(&*server));
            client.set_auth(server.auth().as_ref());
            client.set_thread_pool(server.thread_pool().as_ref());
            Some(client.upcast())
        }
    }
}

glib::wrapper! {
    /// One client connection, with the simulator's per-request hooks.
    pub(crate) struct CamsimClient(ObjectSubclass<client_imp::CamsimClient>) @extends RTSPClient;
}

impl CamsimClient {
    fn new(mounts: Arc<MountTable>) -> Self {
        let client: Self = glib::Object::new();
        // A fresh object: the cell is empty.
        let _ = client.imp().mounts.set(mounts);
        client
    }

    /// Whether the authentication under way is for a DESCRIBE (see `auth`); clears the mark.
    pub fn take_describe_pending(&self) -> bool {
        self.imp().describe_pending.swap(false, Ordering::Relaxed)
    }

    /// The mount a request on this connection is for: the one it described if the request
    /// continues it (see [`route::continues`]), else whatever its URI names.
    pub fn mount_of(&self, ctx: &RTSPContext) -> Option<Arc<MountState>> {
        let uri = ctx.uri()?.request_uri();
        let imp = self.imp();
        let described = lock(&imp.described).clone();
        match described {
            Some(mount) if route::continues(&mount.route, &uri) => Some(mount),
            _ => imp.mounts.get()?.resolve(&uri).cloned(),
        }
    }
}

/// Closes `client`'s connection `after` from now (a timed drop fault).
fn schedule_drop(client: &RTSPClient, after: Duration) {
    let client = client.downgrade();
    let source = glib::timeout_source_new(
        after,
        Some("camsim-drop"),
        glib::Priority::DEFAULT,
        move || {
            if let Some(client) = client.upgrade() {
                client.close();
            }
            glib::ControlFlow::Break
        },
    );
    // Requests are handled on the simulator's main loop, whose context is the thread default.
    source.attach(Some(&glib::MainContext::ref_thread_default()));
}

/// Holds `client` until the sources already queued on this main context have run.
///
/// gst-rtsp-server 1.22 works around a failed send (the peer went away) by queueing an idle
/// `do_close` on the client's context with the client as bare user data, no reference taken
/// (rtsp-client.c, `do_send_data` and `do_send_data_list`). When many peers vanish at once,
/// a client's watch can end (`closed`, then its last reference dropped) before that idle
/// runs, which then closes a freed client: heap corruption, seen as a SIGSEGV in
/// `gst_rtsp_connection_close` or in glibc's allocator once 64 clients were killed together.
/// `closed` runs after the send functions are cleared, so no further such idle can be queued;
/// one at a lower priority than those idles (`G_PRIORITY_DEFAULT_IDLE`) runs after them.
fn keep_alive_past_pending_closes(client: &CamsimClient) {
    let mut held = Some(client.clone());
    let source = glib::idle_source_new(
        Some("camsim-release-client"),
        glib::Priority::LOW,
        move || {
            held.take();
            glib::ControlFlow::Break
        },
    );
    source.attach(Some(&glib::MainContext::ref_thread_default()));
}

mod client_imp {
    use super::*;

    #[derive(Debug, Default)]
    pub(crate) struct CamsimClient {
        pub(super) mounts: OnceLock<Arc<MountTable>>,
        /// The mount of this connection's last DESCRIBE.
        pub(super) described: Mutex<Option<Arc<MountState>>>,
        /// Set between a DESCRIBE's admission and its authentication.
        pub(super) describe_pending: AtomicBool,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for CamsimClient {
        const NAME: &'static str = "SwCamsimClient";
        type Type = super::CamsimClient;
        type ParentType = RTSPClient;
    }

    impl ObjectImpl for CamsimClient {}

    impl CamsimClient {
        /// 404 for a request no mount matches, 503 while the mount refuses.
        fn admit(&self, ctx: &RTSPContext) -> RTSPStatusCode {
            match self.obj().mount_of(ctx) {
                None => RTSPStatusCode::NotFound,
                Some(mount) if mount.is_refusing() => RTSPStatusCode::ServiceUnavailable,
                Some(_) => RTSPStatusCode::Ok,
            }
        }
    }

    impl RTSPClientImpl for CamsimClient {
        /// Keeps error codes as they are. The inherited gstreamer-rs default asks the parent
        /// class, which has no such method, and then answers 200 OK to every error.
        fn adjust_error_code(
            &self,
            _ctx: &RTSPContext,
            status_code: RTSPStatusCode,
        ) -> RTSPStatusCode {
            status_code
        }

        fn make_path_from_uri(&self, url: &RTSPUrl) -> Option<glib::GString> {
            Some(route::request_path(&url.request_uri()).into())
        }

        fn pre_describe_request(&self, ctx: &RTSPContext) -> RTSPStatusCode {
            let described = ctx
                .uri()
                .map(|uri| uri.request_uri())
                .and_then(|uri| self.mounts.get()?.resolve(&uri).cloned());
            *lock(&self.described) = described;
            let status = self.admit(ctx);
            self.describe_pending
                .store(status == RTSPStatusCode::Ok, Ordering::Relaxed);
            status
        }

        fn pre_setup_request(&self, ctx: &RTSPContext) -> RTSPStatusCode {
            self.admit(ctx)
        }

        fn setup_request(&self, ctx: &RTSPContext) {
            if let Some(mount) = self.obj().mount_of(ctx) {
                mount.add_client(self.obj().upcast_ref());
            }
            self.parent_setup_request(ctx);
        }

        fn play_request(&self, ctx: &RTSPContext) {
            if let Some(after) = self.obj().mount_of(ctx).and_then(|mount| mount.drop_after) {
                schedule_drop(self.obj().upcast_ref(), after);
            }
            self.parent_play_request(ctx);
        }

        fn closed(&self) {
            if let Some(mounts) = self.mounts.get() {
                for mount in mounts.iter() {
                    mount.remove_client(self.obj().upcast_ref());
                }
            }
            self.parent_closed();
            keep_alive_past_pending_closes(&self.obj());
        }
    }
}

glib::wrapper! {
    /// A media factory that builds the pipeline of whichever mount a request names.
    pub(crate) struct CamsimFactory(ObjectSubclass<factory_imp::CamsimFactory>) @extends RTSPMediaFactory;
}

impl CamsimFactory {
    pub fn new(mounts: Arc<MountTable>) -> Self {
        let factory: Self = glib::Object::new();
        // A fresh object: the cell is empty.
        let _ = factory.imp().mounts.set(mounts);
        // One pipeline per mount and URL, shared by its clients, as a camera encodes once.
        factory.set_shared(true);
        factory.add_role_from_structure(
            &gst::Structure::builder(auth::VIEWER_ROLE)
                .field(gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                .field(gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                .build(),
        );
        factory
    }
}

mod factory_imp {
    use super::*;

    #[derive(Debug, Default)]
    pub(crate) struct CamsimFactory {
        pub(super) mounts: OnceLock<Arc<MountTable>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for CamsimFactory {
        const NAME: &'static str = "SwCamsimMediaFactory";
        type Type = super::CamsimFactory;
        type ParentType = RTSPMediaFactory;
    }

    impl ObjectImpl for CamsimFactory {}

    impl RTSPMediaFactoryImpl for CamsimFactory {
        /// The default key (port, path, query) plus the mount's codec: after a codec switch a
        /// new client never joins a media still serving the old codec.
        fn gen_key(&self, url: &RTSPUrl) -> Option<glib::GString> {
            let key = self.parent_gen_key(url)?;
            let codec = self
                .mounts
                .get()
                .and_then(|mounts| mounts.resolve(&url.request_uri()))
                .map(|mount| mount.codec());
            Some(match codec {
                Some(codec) => format!("{key}#{codec:?}").into(),
                None => key,
            })
        }

        fn create_element(&self, url: &RTSPUrl) -> Option<gst::Element> {
            let uri = url.request_uri();
            let Some(mount) = self.mounts.get().and_then(|mounts| mounts.resolve(&uri)) else {
                tracing::info!(%uri, "camsim: no mount for request");
                return None;
            };
            match source::build_bin(mount) {
                Ok(bin) => Some(bin.upcast()),
                Err(error) => {
                    tracing::error!(%error, "camsim: cannot build pipeline");
                    None
                }
            }
        }
    }
}
