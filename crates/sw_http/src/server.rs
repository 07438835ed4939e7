//! The HTTP server: axum on a one-thread tokio runtime of its own (thread `http`), so the rest
//! of the service stays synchronous and never sees async code.
//!
//! | route | answers | token |
//! |---|---|---|
//! | `GET /healthz` | 200 `{"status":"ok"}` while the process serves | never |
//! | `GET /readyz` | 200 `{"ready":true}`, or 503 `{"ready":false}` | never |
//! | `GET /metrics` | Prometheus text format 0.0.4 | when configured |
//! | `GET /api/cameras` | `{"cameras":[CameraStatus…]}`, ordered by id | when configured |
//! | `GET /api/events[?camera=ID][&limit=N]` | `{"events":[MotionEvent…]}`, newest first | when configured |
//!
//! Anything else is a JSON `{"error": …}` with 400, 401, 404, 405 or 500.
//!
//! The probes never need the token: an orchestrator's probes (a kubelet's `httpGet`, Docker's
//! `HEALTHCHECK`, systemd) cannot read a secret without putting it in the pod spec, image or
//! command line, and the probes tell nothing beyond one bit (no camera ids, counts or
//! timings). Everything else, including `/metrics` (camera ids, rates, when motion happens),
//! needs `Authorization: Bearer <token>` whenever a token is configured, which it must be for
//! any bind that is not loopback.
//!
//! Owns: starting, serving and stopping, routes, JSON shapes, status codes. Does not own: the
//! token rule (`auth`), metric names (`metrics`), the event ring (`recent`).

use std::future::IntoFuture;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use sw_core::{CameraId, MotionEvent, Secret};
use sw_ingest::CameraStatus;
use tokio::sync::oneshot;

use crate::auth::{BearerToken, bearer_token_for};
use crate::metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;
use crate::{HttpError, HttpSources};

/// Where the server listens unless told otherwise: loopback only, so no token is needed.
pub const DEFAULT_BIND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9464);

/// After the shutdown deadline, how long the runtime has to drop its connections and end.
const STOP_GRACE: Duration = Duration::from_millis(250);

/// `/api/events` returns this many records (or the ring's size, if smaller) unless `limit`
/// says otherwise.
const DEFAULT_EVENTS_LIMIT: usize = 100;

/// How to serve.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Port 0 picks a free port ([`HttpServer::local_addr`] says which).
    pub bind: SocketAddr,
    /// Required of every request but the probes when set; required to be set unless `bind`
    /// is a loopback address. At least 16 visible ASCII characters.
    pub token: Option<Secret>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            bind: DEFAULT_BIND,
            token: None,
        }
    }
}

/// A running server. [`HttpServer::shutdown`] stops it; dropping it stops it at once.
#[derive(Debug)]
pub struct HttpServer {
    local_addr: SocketAddr,
    /// Sent the deadline to stop by; dropping it means "now".
    stop: Option<oneshot::Sender<Instant>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Clone)]
struct AppState {
    sources: HttpSources,
    token: Option<Arc<BearerToken>>,
}

impl HttpServer {
    /// Checks the options (a bind that is not loopback needs a token), listens, and serves on
    /// thread `http` until shut down. Every failure (the token rule, a taken port, the runtime)
    /// is returned here; nothing fails later.
    pub fn start(options: HttpOptions, sources: HttpSources) -> Result<Self, HttpError> {
        let bind = options.bind;
        let token = bearer_token_for(bind, options.token.as_ref())?;
        let bind_error = |source| HttpError::Bind { bind, source };
        let listener = std::net::TcpListener::bind(bind).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(HttpError::Runtime)?;
        let listener = {
            let _context = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(bind_error)?
        };
        let token_required = token.is_some();
        let app = router(AppState {
            sources,
            token: token.map(Arc::new),
        });
        let (stop, stop_signal) = oneshot::channel();
        let name = "http".to_owned();
        let thread = thread::Builder::new()
            .name(name.clone())
            .spawn(move || runtime.block_on(serve(listener, app, stop_signal)))
            .map_err(|source| HttpError::Thread { name, source })?;
        tracing::info!(address = %local_addr, token_required, "HTTP status API listening");
        Ok(Self {
            local_addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address listened on (with the port chosen when `bind` said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets requests in flight finish until `deadline`, then closes whatever
    /// is still open. Returns once the thread has ended, or shortly after `deadline` in any
    /// case: a thread held up by a [`StatusSource`](crate::StatusSource) that does not answer
    /// is logged and left behind.
    pub fn shutdown(mut self, deadline: Instant) {
        self.stop_by(deadline);
    }

    fn stop_by(&mut self, deadline: Instant) {
        if let Some(stop) = self.stop.take() {
            // The thread only ends after a stop, so it is listening; if not, it has ended.
            let _ = stop.send(deadline);
        }
        let Some(thread) = self.thread.take() else {
            return;
        };
        let give_up = deadline.max(Instant::now()) + STOP_GRACE;
        while !thread.is_finished() {
            if Instant::now() >= give_up {
                tracing::error!(
                    "the HTTP thread is still busy after the shutdown deadline; leaving it"
                );
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
        if thread.join().is_err() {
            tracing::error!("the HTTP thread panicked");
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop_by(Instant::now());
    }
}

/// Serves until told to stop, then shuts down gracefully until the deadline it was given.
async fn serve(listener: tokio::net::TcpListener, app: Router, stop: oneshot::Receiver<Instant>) {
    let (deadline_in, deadline) = oneshot::channel::<Instant>();
    let stop_accepting = async move {
        let at = stop.await.unwrap_or_else(|_| Instant::now());
        let _ = deadline_in.send(at);
    };
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(stop_accepting)
        .into_future();
    let cut_off = async move {
        match deadline.await {
            Ok(at) => tokio::time::sleep_until(at.into()).await,
            // Only when the server ended on its own, which the other branch then reports.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        result = server => {
            if let Err(error) = result {
                tracing::error!("the HTTP server failed: {error}");
            }
        }
        () = cut_off => {
            tracing::warn!("HTTP requests still open at the shutdown deadline; closing them");
        }
    }
    tracing::debug!("HTTP server stopped");
}

fn router(state: AppState) -> Router {
    let guarded = Router::new()
        .route("/metrics", get(metrics))
        .route("/api/cameras", get(cameras))
        .route("/api/events", get(events))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(guarded)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        error: message.into(),
    };
    (status, Json(body)).into_response()
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    if token.accepts(authorization) {
        return next.run(request).await;
    }
    tracing::debug!(
        path = request.uri().path(),
        "refused: no valid bearer token"
    );
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "this endpoint needs an `Authorization: Bearer <token>` header with the configured token",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"stillwatch\""),
    );
    response
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Serialize)]
struct Ready {
    ready: bool,
}

async fn readyz(State(state): State<AppState>) -> Response {
    let ready = state.sources.status.ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(Ready { ready })).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let sources = &state.sources;
    match sources.metrics.encode(sources.status.cameras()) {
        Ok(text) => ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response(),
        Err(failure) => {
            tracing::error!("cannot encode metrics: {failure}");
            error(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics")
        }
    }
}

#[derive(Serialize)]
struct Cameras {
    cameras: Vec<CameraStatus>,
}

async fn cameras(State(state): State<AppState>) -> Json<Cameras> {
    Json(Cameras {
        cameras: state.sources.status.cameras(),
    })
}

#[derive(Deserialize)]
struct EventsQuery {
    camera: Option<String>,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct Events {
    events: Vec<MotionEvent>,
}

async fn events(
    State(state): State<AppState>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    let camera = match query.camera.map(CameraId::new).transpose() {
        Ok(camera) => camera,
        Err(invalid) => return error(StatusCode::BAD_REQUEST, format!("camera: {invalid}")),
    };
    let ring = &state.sources.events;
    let limit = query
        .limit
        .unwrap_or(DEFAULT_EVENTS_LIMIT.min(ring.capacity()));
    if limit == 0 || limit > ring.capacity() {
        return error(
            StatusCode::BAD_REQUEST,
            format!("limit must be 1 to {} (the records kept)", ring.capacity()),
        );
    }
    let events = ring.latest(camera.as_ref(), limit);
    Json(Events { events }).into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such endpoint")
}

async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "only GET is served")
}
