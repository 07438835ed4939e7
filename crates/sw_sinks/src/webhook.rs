//! The webhook sink: every motion event POSTed as JSON to one URL, in order, from a durable
//! outbox, until the endpoint answers 2xx.
//!
//! ```text
//!  publish_event ─► outbox/<seq>.json (written, fsynced, renamed, folder fsynced) ─► return
//!                           │ wake
//!                           ▼
//!  thread webhook-<host>: oldest file ─► POST ─► 2xx: delete, next
//!                                             ├► 400/413/415/422: move to outbox/rejected/, next
//!                                             └► anything else (refused, timeout, 5xx, 401,
//!                                                404, 429, 3xx): wait (back-off), same file again
//! ```
//!
//! An event is on disk before [`WebhookSink::publish_event`] returns, so neither an endpoint
//! that is down for an hour nor a restart (even `kill -9`) loses one; the next start sends the
//! outbox first, oldest first. Delivery is **at least once**: an endpoint that processed a
//! request but whose answer was lost gets it again. Receivers deduplicate with the
//! [`IDEMPOTENCY_HEADER`], which is the same for every copy.
//!
//! Each request carries:
//! - `Content-Type: application/json`, body: the event exactly as `stillwatch.event/1` JSON.
//! - `Idempotency-Key: <camera>:<event_id>:<phase>:<frame_seq>` ([`IDEMPOTENCY_HEADER`]).
//! - `X-Stillwatch-Timestamp: <unix seconds>` of this attempt ([`TIMESTAMP_HEADER`]).
//! - With a secret: `X-Stillwatch-Signature: sha256=<hex>` ([`SIGNATURE_HEADER`]), the
//!   HMAC-SHA256 under the secret of `<timestamp>.<body>` (the timestamp header's value, a
//!   full stop, the raw body). Signing the timestamp lets a receiver refuse replays: check the
//!   signature in constant time, then that the timestamp is within a few minutes of its clock.
//!
//! Owns: [`WebhookOptions`] and their checks, the outbox, the retry policy, signing, and the
//! delivery thread. Does not own: reading the secret from the environment or a file
//! (sw_config), the back-off schedule (`sw_core::Backoff`), the file layout (`spool`).

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sw_core::{MotionEvent, Secret};
use ureq::http::Uri;

use crate::spool::Spool;
use crate::{SinkError, describe, encode, read_ca_file};
use sw_core::Backoff;

/// Header carrying `sha256=<hex>` when a secret is configured.
pub const SIGNATURE_HEADER: &str = "X-Stillwatch-Signature";
/// Header carrying the attempt's Unix time in seconds (signed together with the body).
pub const TIMESTAMP_HEADER: &str = "X-Stillwatch-Timestamp";
/// Header carrying `<camera>:<event_id>:<phase>:<frame_seq>`, the same on every copy.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Statuses that refuse this payload for good: retrying the same bytes cannot help, so the
/// event is moved to `<outbox>/rejected/` and the next one goes out.
const REFUSED_STATUSES: [u16; 4] = [400, 413, 415, 422];

/// Answers read (and dropped) at most this long, so the connection can be reused.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// One webhook. Build with [`WebhookOptions::new`] and override fields as needed. `Debug`
/// prints the URL without user info and the secret as `***`.
#[derive(Clone)]
pub struct WebhookOptions {
    /// `http://` or `https://` URL. User info in it (`https://user:pw@host/`) is sent as Basic
    /// authentication. Only scheme, host and port are ever printed: user info, path and query
    /// often hold secrets (a token in the path is how many webhook endpoints authenticate).
    pub url: String,
    /// Signs every request (see the module docs); `None` sends no signature header.
    pub hmac_secret: Option<Secret>,
    /// This webhook's own folder; a second sink or process using it is refused.
    pub outbox_dir: PathBuf,
    /// Whole request, connect to last byte of the answer.
    pub timeout: Duration,
    /// Wait after the first failure in a row; doubles per failure …
    pub retry_initial: Duration,
    /// … up to this.
    pub retry_max: Duration,
    /// Most events the outbox holds; beyond it new events are refused (and the caller told).
    pub max_outbox_events: usize,
    /// PEM file of the certificate authorities to trust for `https://`; `None` trusts the
    /// Mozilla root program (webpki-roots).
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for WebhookOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookOptions")
            .field("url", &shown_url(&self.url))
            .field("hmac_secret", &self.hmac_secret)
            .field("outbox_dir", &self.outbox_dir)
            .field("timeout", &self.timeout)
            .field("retry_initial", &self.retry_initial)
            .field("retry_max", &self.retry_max)
            .field("max_outbox_events", &self.max_outbox_events)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl WebhookOptions {
    /// No signature, timeout 10 s, retries after 1 s doubling up to 5 min, up to 100 000
    /// events in the outbox, Mozilla roots for HTTPS.
    pub fn new(url: impl Into<String>, outbox_dir: impl Into<PathBuf>) -> Self {
        Self {
            url: url.into(),
            hmac_secret: None,
            outbox_dir: outbox_dir.into(),
            timeout: Duration::from_secs(10),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            max_outbox_events: 100_000,
            ca_file: None,
        }
    }

    /// `webhook <scheme>://<host>[:port]/...`, as messages name it (see [`shown_url`]).
    fn label(&self) -> String {
        format!("webhook {}", shown_url(&self.url))
    }

    /// The parsed URL, once checked.
    fn validate(&self) -> Result<Uri, SinkError> {
        let invalid = |key: &'static str, reason: String| SinkError::InvalidOptions {
            sink: self.label(),
            key,
            reason,
        };
        let uri: Uri = self
            .url
            .parse()
            .map_err(|error| invalid("url", format!("is not a URL ({error})")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(invalid(
                "url",
                "must start with http:// or https://".to_owned(),
            ));
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(invalid("url", "has no host".to_owned()));
        }
        if self.timeout.is_zero() {
            return Err(invalid("timeout", "must be above zero".to_owned()));
        }
        if self.retry_initial.is_zero() || self.retry_max < self.retry_initial {
            return Err(invalid(
                "retry_max",
                "the back-off must start above zero and end at or above where it starts".to_owned(),
            ));
        }
        if self.max_outbox_events == 0 {
            return Err(invalid("max_outbox_events", "must be 1 or more".to_owned()));
        }
        if self
            .hmac_secret
            .as_ref()
            .is_some_and(|secret| secret.expose().is_empty())
        {
            return Err(invalid("hmac_secret", "is empty".to_owned()));
        }
        Ok(uri)
    }

    fn agent(&self) -> Result<ureq::Agent, SinkError> {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(path) = &self.ca_file {
            let certs = read_ca_file(path, &self.label())?;
            let certs: Vec<_> = certs
                .iter()
                .map(|cert| ureq::tls::Certificate::from_der(cert.as_ref()).to_owned())
                .collect();
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let config = ureq::Agent::config_builder()
            // Statuses are answers to classify, not errors.
            .http_status_as_error(false)
            // A redirect is not followed (a POST would turn into a GET); it counts as a
            // failure, logged with its status, so the operator configures the final URL.
            .max_redirects(0)
            .timeout_global(Some(self.timeout))
            .user_agent(format!("stillwatch/{}", env!("CARGO_PKG_VERSION")))
            .tls_config(tls.build())
            .build();
        Ok(ureq::Agent::new_with_config(config))
    }
}

/// `url` as it may be printed: scheme, host and port, and `/...` when a path or query
/// follows (never shown: user info, path and query can all carry secrets).
fn shown_url(url: &str) -> String {
    let Ok(uri) = url.parse::<Uri>() else {
        return "(not a URL)".to_owned();
    };
    let scheme = uri.scheme_str().unwrap_or("?");
    let host = uri.host().unwrap_or_default();
    let port = uri
        .port_u16()
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    let rest = match uri.path_and_query().map(|rest| rest.as_str()) {
        None | Some("" | "/") => "",
        Some(_) => "/...",
    };
    format!("{scheme}://{host}{port}{rest}")
}

/// The sink as the status API and metrics see it. Holds no credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookStatus {
    /// Scheme, host and port of the URL (see [`WebhookOptions::url`]).
    pub url: String,
    /// Events in the outbox, waiting or being sent.
    pub pending_events: usize,
    /// Events the endpoint accepted (2xx) since start.
    pub delivered_events: u64,
    /// Attempts that failed and will be retried, since start.
    pub failed_attempts: u64,
    /// Events the endpoint refused for good (moved to `<outbox>/rejected/`), since start.
    pub rejected_events: u64,
    /// Why the last failed attempt failed.
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct Shared {
    label: String,
    state: Mutex<State>,
    /// Signalled when an event is queued or a stop is requested.
    wake: Condvar,
}

#[derive(Debug)]
struct State {
    outbox: Spool,
    /// Set by shutdown: stop delivering at this instant.
    stop_at: Option<Instant>,
    delivered_events: u64,
    failed_attempts: u64,
    rejected_events: u64,
    last_error: Option<String>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update under the lock is a few assignments: the data stays consistent even if
        // a holder panicked, so keep going.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running webhook. [`WebhookSink::publish_event`] returns once the event is on disk;
/// delivery happens on the sink's own thread.
#[derive(Debug)]
pub struct WebhookSink {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl WebhookSink {
    /// Checks the options, opens (and locks) the outbox and starts the delivery thread, which
    /// first sends whatever an earlier run left in the outbox.
    pub fn start(options: WebhookOptions) -> Result<Self, SinkError> {
        let uri = options.validate()?;
        let agent = options.agent()?;
        let outbox = Spool::open(&options.outbox_dir, options.max_outbox_events, true)?;
        let label = options.label();
        if !outbox.is_empty() {
            tracing::info!(
                "{label}: {} events left by an earlier run in {} go out first",
                outbox.len(),
                outbox.dir().display()
            );
        }
        let shared = Arc::new(Shared {
            label,
            state: Mutex::new(State {
                outbox,
                stop_at: None,
                delivered_events: 0,
                failed_attempts: 0,
                rejected_events: 0,
                last_error: None,
            }),
            wake: Condvar::new(),
        });
        let thread_name = format!("webhook-{}", uri.host().unwrap_or_default());
        let delivery = Delivery {
            shared: shared.clone(),
            agent,
            uri,
            secret: options.hmac_secret,
            backoff: Backoff::new(options.retry_initial, options.retry_max, fastrand::u64(..)),
            failing: false,
        };
        let thread = thread::Builder::new()
            .name(thread_name.clone())
            .spawn(move || delivery.run())
            .map_err(|source| SinkError::Thread {
                name: thread_name,
                source,
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Writes `event` to the outbox (fsynced) and returns; fails only when it cannot be
    /// written (outbox full or unwritable), in which case this webhook will not get it.
    pub fn publish_event(&self, event: &MotionEvent) -> Result<(), SinkError> {
        let body = encode(event)?;
        self.shared.lock().outbox.push(&body)?;
        self.shared.wake.notify_one();
        Ok(())
    }

    pub fn status(&self) -> WebhookStatus {
        let state = self.shared.lock();
        WebhookStatus {
            url: self
                .shared
                .label
                .strip_prefix("webhook ")
                .unwrap_or(&self.shared.label)
                .to_owned(),
            pending_events: state.outbox.len(),
            delivered_events: state.delivered_events,
            failed_attempts: state.failed_attempts,
            rejected_events: state.rejected_events,
            last_error: state.last_error.clone(),
        }
    }

    /// Keeps delivering until the outbox is empty, an attempt fails, or `deadline`; what is
    /// left stays in the outbox for the next start. Fails when a request was still running at
    /// the deadline (the event it carried is sent again next time).
    pub fn shutdown(mut self, deadline: Instant) -> Result<(), SinkError> {
        self.request_stop(deadline);
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let failed = |reason: &str| SinkError::Shutdown {
            sink: self.shared.label.clone(),
            reason: reason.to_owned(),
        };
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                return Err(failed(
                    "a request was still running at the shutdown deadline; the outbox keeps \
                     its event for the next start",
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
        thread
            .join()
            .map_err(|_| failed("the delivery thread panicked"))
    }

    fn request_stop(&self, deadline: Instant) {
        self.shared.lock().stop_at = Some(deadline);
        self.shared.wake.notify_all();
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // The outbox is durable: stop at once, without waiting for a running request.
            self.request_stop(Instant::now());
        }
    }
}

/// What one POST came to.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    Delivered,
    /// The endpoint refused this payload for good.
    Refused(u16),
    /// Worth trying again, for this reason.
    Failed(String),
}

fn classify(status: u16) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered,
        status if REFUSED_STATUSES.contains(&status) => Attempt::Refused(status),
        status => Attempt::Failed(format!("answered HTTP {status}")),
    }
}

/// The delivery thread's state.
struct Delivery {
    shared: Arc<Shared>,
    agent: ureq::Agent,
    uri: Uri,
    secret: Option<Secret>,
    backoff: Backoff,
    /// In a streak of failed attempts (logged once, at its start).
    failing: bool,
}

impl Delivery {
    /// Sends the outbox, oldest first, until shutdown. Never panics: trouble is logged and
    /// shown in status.
    fn run(mut self) {
        while let Some((seq, body)) = self.next() {
            let attempt = match body {
                Ok(body) => self.post(&body),
                Err(error) => {
                    tracing::error!("{}: {}", self.shared.label, describe(&error));
                    Attempt::Refused(0)
                }
            };
            if !self.settle(seq, attempt) {
                return;
            }
        }
    }

    /// The oldest event and its body, waiting for one; `None` once stopping and the outbox is
    /// empty or the stop time has come.
    fn next(&self) -> Option<(u64, Result<Vec<u8>, SinkError>)> {
        let mut state = self.shared.lock();
        loop {
            if let Some(stop_at) = state.stop_at
                && (state.outbox.is_empty() || Instant::now() >= stop_at)
            {
                return None;
            }
            if let Some(seq) = state.outbox.front() {
                return Some((seq, state.outbox.read(seq)));
            }
            state = self
                .shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Records what `attempt` came to; after a failure waits out the back-off. Returns false
    /// when the thread should stop.
    fn settle(&mut self, seq: u64, attempt: Attempt) -> bool {
        let label = &self.shared.label;
        let mut state = self.shared.lock();
        match attempt {
            Attempt::Delivered => {
                if let Err(error) = state.outbox.remove(seq) {
                    tracing::error!(
                        "{label}: delivered, but {}; it will be sent again after a restart",
                        describe(&error)
                    );
                }
                state.delivered_events += 1;
                self.backoff.reset();
                if self.failing {
                    tracing::info!("{label}: delivering again");
                    self.failing = false;
                }
                true
            }
            Attempt::Refused(status) => {
                state.rejected_events += 1;
                match state.outbox.set_aside(seq, "rejected") {
                    Ok(path) => tracing::error!(
                        "{label}: refused an event for good (HTTP {status}); kept as {} and \
                         going on with the next",
                        path.display()
                    ),
                    Err(error) => {
                        tracing::error!(
                            "{label}: refused an event for good (HTTP {status}) and it cannot \
                             be set aside ({}); dropping it",
                            describe(&error)
                        );
                        if let Err(error) = state.outbox.remove(seq) {
                            tracing::error!("{label}: {}", describe(&error));
                            return false;
                        }
                    }
                }
                true
            }
            Attempt::Failed(reason) => {
                state.failed_attempts += 1;
                if self.failing {
                    tracing::debug!("{label}: still failing: {reason}");
                } else {
                    tracing::warn!(
                        "{label}: {reason}; retrying with back-off (events in the outbox: {})",
                        state.outbox.len()
                    );
                    self.failing = true;
                }
                state.last_error = Some(reason);
                // Wait out the back-off; a stop request ends the wait and the thread (the
                // outbox keeps the rest for the next start).
                let until = Instant::now() + self.backoff.next_delay();
                while state.stop_at.is_none() {
                    let now = Instant::now();
                    if now >= until {
                        return true;
                    }
                    state = self
                        .shared
                        .wake
                        .wait_timeout(state, until - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                false
            }
        }
    }

    fn post(&self, body: &[u8]) -> Attempt {
        let Some(key) = idempotency_key(body) else {
            tracing::error!(
                "{}: an outbox file is not a motion event",
                self.shared.label
            );
            return Attempt::Refused(0);
        };
        let timestamp_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let mut request = self
            .agent
            .post(&self.uri)
            .header("Content-Type", "application/json")
            .header(IDEMPOTENCY_HEADER, &key)
            .header(TIMESTAMP_HEADER, timestamp_secs.to_string());
        if let Some(secret) = &self.secret {
            request = request.header(SIGNATURE_HEADER, sign(secret, timestamp_secs, body));
        }
        match request.send(body) {
            Ok(mut answer) => {
                // Read (bounded) and drop the answer so the connection can be reused.
                let _ = answer
                    .body_mut()
                    .with_config()
                    .limit(MAX_ANSWER_BYTES)
                    .read_to_vec();
                classify(answer.status().as_u16())
            }
            Err(error) => Attempt::Failed(request_error(&error)),
        }
    }
}

/// A request error in words, without the URL (which may hold user info).
fn request_error(error: &ureq::Error) -> String {
    match error {
        ureq::Error::BadUri(_) | ureq::Error::RequireHttpsOnly(_) => {
            "the URL was refused by the HTTP client".to_owned()
        }
        ureq::Error::ConnectProxyFailed(_) => "the proxy refused the connection".to_owned(),
        other => describe(other),
    }
}

/// The fields of an event that make its idempotency key.
#[derive(Deserialize)]
struct EventKey {
    camera: String,
    event_id: u64,
    phase: String,
    frame_seq: u64,
}

/// `<camera>:<event_id>:<phase>:<frame_seq>` of an event body; `None` when it is not one.
fn idempotency_key(body: &[u8]) -> Option<String> {
    let key: EventKey = serde_json::from_slice(body).ok()?;
    Some(format!(
        "{}:{}:{}:{}",
        key.camera, key.event_id, key.phase, key.frame_seq
    ))
}

/// `sha256=<hex of HMAC-SHA256(secret, "<timestamp_secs>.<body>")>`.
fn sign(secret: &Secret, timestamp_secs: u64, body: &[u8]) -> String {
    // HMAC takes keys of any length; the error is for fixed-size MACs only.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_an_independent_hmac() {
        // Expected values from Python's hmac module:
        // hmac.new(key, b"<timestamp>.<body>", hashlib.sha256).hexdigest()
        let table = [
            (
                "It's a Secret to Everybody",
                1_700_000_000,
                &b"Hello, World!"[..],
                "sha256=76c83fd0acdf22faed320674fe8e04d528cfe8a17905e720a9611e40677c03b7",
            ),
            (
                "k",
                0,
                &b""[..],
                "sha256=6b4a4b8b3c40f1e8f53a3d36682e5f99f7ad2ac1df1c93dfe336f329167641e7",
            ),
        ];
        for (secret, timestamp_secs, body, expected) in table {
            assert_eq!(sign(&Secret::new(secret), timestamp_secs, body), expected);
        }
    }

    #[test]
    fn statuses_are_delivered_refused_or_retried() {
        let table = [
            (200, Attempt::Delivered),
            (204, Attempt::Delivered),
            (400, Attempt::Refused(400)),
            (422, Attempt::Refused(422)),
            (301, Attempt::Failed("answered HTTP 301".to_owned())),
            (401, Attempt::Failed("answered HTTP 401".to_owned())),
            (404, Attempt::Failed("answered HTTP 404".to_owned())),
            (429, Attempt::Failed("answered HTTP 429".to_owned())),
            (503, Attempt::Failed("answered HTTP 503".to_owned())),
        ];
        for (status, expected) in table {
            assert_eq!(classify(status), expected, "HTTP {status}");
        }
    }

    #[test]
    fn idempotency_keys_come_from_the_event_fields() {
        let body = br#"{"schema":"stillwatch.event/1","camera":"gate","event_id":7,"phase":"end","frame_seq":1234,"zones":[]}"#;
        assert_eq!(idempotency_key(body).as_deref(), Some("gate:7:end:1234"));
        assert_eq!(idempotency_key(b"not json"), None);
    }

    #[test]
    fn urls_are_shown_without_user_info_path_or_query() {
        let table = [
            (
                "https://user:pw@hooks.example/services/T0/B0/secret",
                "https://hooks.example/...",
            ),
            (
                "http://127.0.0.1:8123/api/webhook/abc?token=x",
                "http://127.0.0.1:8123/...",
            ),
            ("https://hooks.example", "https://hooks.example"),
            ("https://hooks.example/", "https://hooks.example"),
            ("http://[::1]:9000/hook", "http://[::1]:9000/..."),
            ("not a url", "(not a URL)"),
        ];
        for (url, shown) in table {
            assert_eq!(shown_url(url), shown, "{url}");
        }
    }

    #[test]
    fn bad_urls_are_refused_without_printing_their_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let table = [
            (
                "ftp://user:hunter2@host/x",
                "must start with http:// or https://",
            ),
            ("http://user:hunter2@/x", "is not a URL"),
            ("not a url", "is not a URL"),
        ];
        for (url, reason) in table {
            let error = WebhookSink::start(WebhookOptions::new(url, dir.path())).unwrap_err();
            let message = error.to_string();
            assert!(message.contains(reason), "{url}: {message}");
            assert!(!message.contains("hunter2"), "{url}: {message}");
        }
        let mut options = WebhookOptions::new("https://hooks.example/x", dir.path());
        options.hmac_secret = Some(Secret::new(""));
        assert!(WebhookSink::start(options).is_err());
        // Neither the secret nor the URL's password shows in Debug output.
        let mut options = WebhookOptions::new("https://user:pw-in-url@hooks.example/x", dir.path());
        options.hmac_secret = Some(Secret::new("hunter2"));
        let debug = format!("{options:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("pw-in-url"),
            "{debug}"
        );
        assert!(
            debug.contains("url: \"https://hooks.example/...\""),
            "{debug}"
        );
    }
}
