//! Independent RTSP clients for the simulator's tests: GStreamer's `rtspsrc` (credentials as
//! properties, never in a launch string), `ffprobe`, and a hand-written RTSP/TCP exchange for
//! SHA-256 Digest, which neither of the others speaks.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gst::prelude::*;

/// Generous, because two cores run many tests (and encoders) at once.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(20);

/// What a viewer saw.
#[derive(Debug, Clone, PartialEq)]
pub enum ViewerEvent {
    Frame {
        width: u32,
        height: u32,
    },
    Eos,
    Error {
        not_authorized: bool,
        message: String,
    },
}

/// A GStreamer client decoding one RTSP URL over TCP.
pub struct Viewer {
    pipeline: gst::Pipeline,
    events: mpsc::Receiver<ViewerEvent>,
}

impl Viewer {
    pub fn open(url: &str, credentials: Option<(&str, &str)>) -> Self {
        gst::init().unwrap();
        let pipeline = gst::parse::launch(
            "rtspsrc name=src protocols=tcp latency=100 ! decodebin ! videoconvert \
             ! video/x-raw,format=I420 ! appsink name=sink sync=false",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let src = pipeline.by_name("src").unwrap();
        src.set_property("location", url);
        if let Some((user, password)) = credentials {
            src.set_property("user-id", user);
            src.set_property("user-pw", password);
        }
        let (sender, events) = mpsc::channel();
        let frames = sender.clone();
        let sink = pipeline
            .by_name("sink")
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let info = sample
                        .caps()
                        .and_then(|caps| gst_video::VideoInfo::from_caps(caps).ok());
                    if let Some(info) = info {
                        let _ = frames.send(ViewerEvent::Frame {
                            width: info.width(),
                            height: info.height(),
                        });
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        pipeline.bus().unwrap().set_sync_handler(move |_, message| {
            match message.view() {
                gst::MessageView::Eos(_) => {
                    let _ = sender.send(ViewerEvent::Eos);
                }
                gst::MessageView::Error(error) => {
                    let _ = sender.send(ViewerEvent::Error {
                        not_authorized: error.error().matches(gst::ResourceError::NotAuthorized),
                        message: format!("{} ({:?})", error.error(), error.debug()),
                    });
                }
                _ => {}
            }
            gst::BusSyncReply::Drop
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        Self { pipeline, events }
    }

    pub fn next_event(&self, timeout: Duration) -> Option<ViewerEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// The sizes of the next `count` frames; fails on end of stream, an error or a timeout.
    pub fn frames(&self, count: usize) -> Result<Vec<(u32, u32)>, ViewerEvent> {
        let deadline = Instant::now() + FRAME_TIMEOUT;
        let mut sizes = Vec::new();
        while sizes.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left) {
                Some(ViewerEvent::Frame { width, height }) => sizes.push((width, height)),
                Some(end) => return Err(end),
                None => {
                    return Err(ViewerEvent::Error {
                        not_authorized: false,
                        message: format!("only {} of {count} frames in time", sizes.len()),
                    });
                }
            }
        }
        Ok(sizes)
    }

    /// Frames received during `window`; fails if the stream ends or errors meanwhile.
    pub fn count_frames_for(&self, window: Duration) -> Result<usize, ViewerEvent> {
        let deadline = Instant::now() + window;
        let mut count = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(count);
            }
            match self.next_event(left) {
                Some(ViewerEvent::Frame { .. }) => count += 1,
                Some(end) => return Err(end),
                None => return Ok(count),
            }
        }
    }

    /// The first non-frame event (end of stream or error), skipping frames.
    pub fn end(&self, timeout: Duration) -> Option<ViewerEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left)? {
                ViewerEvent::Frame { .. } => continue,
                end => return Some(end),
            }
        }
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// What ffprobe reports about the first stream.
#[derive(Debug, PartialEq)]
pub struct Probed {
    pub codec: String,
    pub width: u32,
    pub height: u32,
}

/// Runs `ffprobe` on an RTSP URL (no credentials: they would show in the process list).
pub fn ffprobe(url: &str) -> Result<Probed, String> {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-timeout",
            "10000000",
        ])
        .args(["-show_entries", "stream=codec_name,width,height"])
        .args(["-of", "default=noprint_wrappers=1", url])
        .output()
        .map_err(|error| format!("running ffprobe: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "ffprobe failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
            .ok_or_else(|| format!("ffprobe printed no {name}: {stdout}"))
    };
    Ok(Probed {
        codec: field("codec_name")?,
        width: field("width")?.parse().map_err(|e| format!("{e}"))?,
        height: field("height")?.parse().map_err(|e| format!("{e}"))?,
    })
}

/// `../shared/data` beside the workspace, if present.
pub fn shared_data() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    dir.is_dir().then_some(dir)
}

/// A minimal RTSP/1.0 client over one TCP connection, for exchanges no library here speaks.
pub struct RawRtsp {
    reader: BufReader<TcpStream>,
    cseq: u32,
}

/// One RTSP response: status, headers (names lower-cased) and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl RawRtsp {
    pub fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Self {
            reader: BufReader::new(stream),
            cseq: 0,
        }
    }

    /// Sends a request with `headers` and reads the response.
    pub fn request(&mut self, method: &str, uri: &str, headers: &[(&str, String)]) -> Response {
        self.cseq += 1;
        let mut text = format!("{method} {uri} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        self.reader.get_mut().write_all(text.as_bytes()).unwrap();
        self.read_response()
    }

    fn read_response(&mut self) -> Response {
        let mut status_line = String::new();
        loop {
            status_line.clear();
            self.reader.read_line(&mut status_line).unwrap();
            if status_line.starts_with("RTSP/") {
                break;
            }
            assert!(!status_line.is_empty(), "connection closed");
        }
        let status = status_line
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let length: usize = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .map_or(0, |(_, value)| value.parse().unwrap());
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        Response {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// Reads interleaved `$` frames until one arrives on `channel`; returns its payload.
    pub fn read_interleaved(&mut self, channel: u8) -> Vec<u8> {
        loop {
            let mut header = [0u8; 4];
            self.reader.read_exact(&mut header[..1]).unwrap();
            if header[0] != b'$' {
                continue;
            }
            self.reader.read_exact(&mut header[1..]).unwrap();
            let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
            let mut payload = vec![0; length];
            self.reader.read_exact(&mut payload).unwrap();
            if header[1] == channel {
                return payload;
            }
        }
    }
}

/// Parses `Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"` into pairs.
pub fn digest_challenge(header: &str) -> Vec<(String, String)> {
    header
        .trim_start_matches("Digest")
        .split(',')
        .filter_map(|part| {
            let (key, value) = part.trim().split_once('=')?;
            Some((key.to_owned(), value.trim_matches('"').to_owned()))
        })
        .collect()
}
