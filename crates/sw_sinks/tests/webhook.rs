//! The webhook sink against a real HTTP receiver on loopback: an endpoint that refuses
//! connections and then answers 503 for a while still gets every event, in order and signed;
//! a sink killed with SIGKILL delivers its outbox after a restart.

#![allow(clippy::unwrap_used)]

#[path = "support/common.rs"]
mod common;
#[path = "support/http.rs"]
mod http;

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{
    CHILD_ROLE, events, first_occurrences, key_of, queued_files, spawn_child, wait_until,
};
use hmac::{Hmac, Mac};
use http::{Received, Receiver};
use sha2::Sha256;
use sw_core::{MotionEvent, Secret};
use sw_sinks::{WebhookOptions, WebhookSink};

const SECRET: &str = "test-webhook-secret";

/// Short back-off, so failures end quickly in tests.
fn options(port: u16, outbox: &Path) -> WebhookOptions {
    let mut options = WebhookOptions::new(format!("http://127.0.0.1:{port}/hook"), outbox);
    options.hmac_secret = Some(Secret::new(SECRET));
    options.timeout = Duration::from_secs(5);
    options.retry_initial = Duration::from_millis(20);
    options.retry_max = Duration::from_millis(200);
    options
}

/// Checks a request's signature with an HMAC computed here, and its timestamp against the
/// clock; returns the event it carried.
fn verified(request: &Received) -> MotionEvent {
    let timestamp = request.timestamp.as_deref().expect("a timestamp header");
    let signature = request.signature.as_deref().expect("a signature header");
    let digits = signature.strip_prefix("sha256=").expect("sha256=<hex>");
    let bytes = hex::decode(digits).expect("hex digits");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&request.body);
    mac.verify_slice(&bytes).expect("a valid signature");
    let now_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sent_secs: u64 = timestamp.parse().unwrap();
    assert!(
        now_secs.abs_diff(sent_secs) < 300,
        "timestamp {sent_secs}, now {now_secs}"
    );
    let event: MotionEvent = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        request.idempotency_key.as_deref(),
        Some(key_of(&event).as_str())
    );
    event
}

/// The events the receiver accepted, each checked, first copies in arrival order.
fn accepted_events(receiver: &Receiver) -> Vec<MotionEvent> {
    let accepted: Vec<MotionEvent> = receiver.accepted().iter().map(verified).collect();
    first_occurrences(&accepted)
}

#[test]
fn an_endpoint_that_refuses_then_fails_gets_every_event_in_order_and_signed() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on yet: connection refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let outbox = dir.path().join("outbox");
    let sink = WebhookSink::start(options(port, &outbox)).unwrap();
    let stream = events(100);
    for event in &stream {
        sink.publish_event(event).unwrap();
    }
    wait_until("failed attempts", || sink.status().failed_attempts >= 3);
    let status = sink.status();
    assert_eq!(status.delivered_events, 0);
    assert!(status.last_error.is_some());
    assert!(status.pending_events > 0);

    // The endpoint comes up, but answers 503 five times before it accepts.
    let receiver = Receiver::start(port, 200);
    receiver.fail_next(5);
    wait_until("all 100 events", || accepted_events(&receiver).len() == 100);
    assert_eq!(accepted_events(&receiver), stream);
    let unavailable = receiver
        .requests()
        .iter()
        .filter(|r| r.status == 503)
        .count();
    assert_eq!(unavailable, 5);
    // Even refused attempts were signed and carried the oldest event first.
    let first = verified(&receiver.requests()[0]);
    assert_eq!(first, stream[0]);
    let status = sink.status();
    assert_eq!((status.delivered_events, status.pending_events), (100, 0));
    assert!(status.failed_attempts >= 8, "{status:?}");
    assert_eq!(queued_files(&outbox), 0);
    sink.shutdown(Instant::now() + Duration::from_secs(5))
        .unwrap();
}

#[test]
fn a_payload_refused_for_good_is_set_aside_and_the_rest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(0, 422);
    let outbox = dir.path().join("outbox");
    let sink = WebhookSink::start(options(receiver.port, &outbox)).unwrap();
    let stream = events(3);
    sink.publish_event(&stream[0]).unwrap();
    wait_until("the refusal", || sink.status().rejected_events == 1);
    receiver.set_status(200);
    for event in &stream[1..] {
        sink.publish_event(event).unwrap();
    }
    wait_until("the rest", || sink.status().delivered_events == 2);
    assert_eq!(accepted_events(&receiver), stream[1..]);
    assert_eq!(queued_files(&outbox.join("rejected")), 1);
    sink.shutdown(Instant::now() + Duration::from_secs(5))
        .unwrap();
}

#[test]
fn a_sink_killed_with_sigkill_delivers_its_outbox_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(0, 503);
    let outbox = dir.path().join("outbox");
    let published = dir.path().join("published");
    let mut child = spawn_child(
        "child_webhook_sink_until_killed",
        "webhook",
        &[
            ("SW_SINKS_PORT", receiver.port.to_string()),
            ("SW_SINKS_DIR", outbox.display().to_string()),
            ("SW_SINKS_READY", published.display().to_string()),
        ],
    );
    wait_until("the child to publish", || published.exists());
    wait_until("the child's first attempts", || {
        receiver.requests().len() >= 2
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(
        queued_files(&outbox),
        50,
        "all 50 events were on disk when acknowledged"
    );

    receiver.set_status(200);
    let sink = WebhookSink::start(options(receiver.port, &outbox)).unwrap();
    wait_until("all 50 events", || accepted_events(&receiver).len() == 50);
    assert_eq!(accepted_events(&receiver), events(50));
    wait_until("the outbox to empty", || queued_files(&outbox) == 0);
    sink.shutdown(Instant::now() + Duration::from_secs(5))
        .unwrap();
}

/// Child process of `a_sink_killed_with_sigkill_delivers_its_outbox_after_a_restart`.
#[test]
#[ignore = "a child process of another test; does nothing when run by hand"]
fn child_webhook_sink_until_killed() {
    if std::env::var(CHILD_ROLE).as_deref() != Ok("webhook") {
        return;
    }
    let port: u16 = std::env::var("SW_SINKS_PORT").unwrap().parse().unwrap();
    let outbox = std::env::var("SW_SINKS_DIR").unwrap();
    let sink = WebhookSink::start(options(port, Path::new(&outbox))).unwrap();
    for event in events(50) {
        sink.publish_event(&event).unwrap();
    }
    std::fs::write(std::env::var("SW_SINKS_READY").unwrap(), b"").unwrap();
    // The parent kills us; if it does not, stop on our own.
    std::thread::sleep(Duration::from_secs(60));
}
