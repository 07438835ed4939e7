//! A webhook receiver on loopback (tiny_http) that answers with whatever status the test sets
//! and records every request: body, idempotency key, timestamp and signature.

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// One request as received, with the status it was answered.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Vec<u8>,
    pub idempotency_key: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    pub status: u16,
}

pub struct Receiver {
    pub port: u16,
    requests: Arc<Mutex<Vec<Received>>>,
    /// Answer this status …
    status: Arc<AtomicU16>,
    /// … except to the next this-many requests, which get 503.
    failures_left: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Listens on `port` (0: any free port), answering `status`.
    pub fn start(port: u16, status: u16) -> Self {
        let server = tiny_http::Server::http(("127.0.0.1", port)).unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(status));
        let failures_left = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::spawn({
            let requests = requests.clone();
            let status = status.clone();
            let failures_left = failures_left.clone();
            let stop = stop.clone();
            move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok(Some(mut request)) = server.recv_timeout(Duration::from_millis(50))
                    else {
                        continue;
                    };
                    let header = |name: &'static str| {
                        request
                            .headers()
                            .iter()
                            .find(|header| header.field.equiv(name))
                            .map(|header| header.value.as_str().to_owned())
                    };
                    let idempotency_key = header("Idempotency-Key");
                    let timestamp = header("X-Stillwatch-Timestamp");
                    let signature = header("X-Stillwatch-Signature");
                    let mut body = Vec::new();
                    request.as_reader().read_to_end(&mut body).unwrap();
                    let answer = if failures_left
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                            left.checked_sub(1)
                        })
                        .is_ok()
                    {
                        503
                    } else {
                        status.load(Ordering::SeqCst)
                    };
                    requests.lock().unwrap().push(Received {
                        body,
                        idempotency_key,
                        timestamp,
                        signature,
                        status: answer,
                    });
                    let _ = request.respond(tiny_http::Response::empty(answer));
                }
            }
        });
        Self {
            port,
            requests,
            status,
            failures_left,
            stop,
            thread: Some(thread),
        }
    }

    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// The next `count` requests get 503 whatever the status.
    pub fn fail_next(&self, count: usize) {
        self.failures_left.store(count, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// Requests answered 2xx, in arrival order.
    pub fn accepted(&self) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|request| (200..300).contains(&request.status))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
