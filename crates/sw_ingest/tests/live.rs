//! LiveCamera against real RTSP on loopback: the camera simulator (sw_camsim, gst-rtsp-server)
//! serves synthetic H.264/H.265 scenes with vendor paths, Basic/MD5/SHA-256 auth, and faults
//! injected at run time (drop, restart, stall, resolution switch).
//!
//! Deadlines are generous (two busy cores run many encoders at once) and only bound how long a
//! failing test hangs; nothing here asserts speed except that `stop()` does not wait out a
//! 60 s back-off.

// Helpers outside the #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use sw_camsim::{AuthOptions, CamsimOptions, Codec, MountOptions, Resolution, Simulator};
use sw_core::{CameraId, Frame};
use sw_ingest::{
    CameraState, Credentials, FrameQueue, HealthEvent, HealthKind, LiveCamera, LiveOptions,
    LiveSinks, RtspClient, RtspHead, RtspTransport, Secret,
};

const DEADLINE: Duration = Duration::from_secs(20);
const MEDIUM: Resolution = Resolution::new(320, 180);
const SMALL: Resolution = Resolution::new(160, 96);

fn nz(value: u32) -> NonZeroU32 {
    NonZeroU32::new(value).unwrap()
}

fn mount(path: &str, seed: u64, resolution: Resolution) -> MountOptions {
    MountOptions {
        resolution: Some(resolution),
        ..MountOptions::synthetic(path, seed)
    }
}

fn simulator(mounts: Vec<MountOptions>) -> Simulator {
    Simulator::start(&CamsimOptions {
        mounts,
        ..CamsimOptions::default()
    })
    .unwrap()
}

/// 160 wide at 5 fps, with short back-offs so tests see reconnects quickly.
fn options(camera: &str, url: String) -> LiveOptions {
    LiveOptions {
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
        stall_timeout: Duration::from_millis(1500),
        auth_retry: Duration::from_secs(1),
        ..LiveOptions::new(CameraId::new(camera).unwrap(), url, nz(160), nz(5))
    }
}

fn credentials(username: &str, password: &str) -> Option<Credentials> {
    Some(Credentials::new(username, Secret::new(password)))
}

/// A spawned camera with the consumer ends of its sinks.
struct Camera {
    live: LiveCamera,
    frames: Receiver<Frame>,
    health: Receiver<HealthEvent>,
}

impl Camera {
    fn spawn(options: LiveOptions) -> Self {
        let (frames_queue, frames) = FrameQueue::bounded(8);
        let (health_sender, health) = crossbeam_channel::bounded(64);
        let live = LiveCamera::spawn(
            options,
            LiveSinks {
                frames: frames_queue,
                health: health_sender,
            },
        )
        .unwrap();
        Self {
            live,
            frames,
            health,
        }
    }

    fn next_frame(&self) -> Frame {
        self.frames
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("no frame; status {:?}", self.live.status()))
    }

    /// The first frame with `seq` above `after`, skipping older ones still queued.
    fn frame_after(&self, after: u64) -> Frame {
        loop {
            let frame = self.next_frame();
            if frame.seq > after {
                return frame;
            }
        }
    }

    /// Health events up to and including the first one `wanted` accepts.
    fn health_until(&self, wanted: impl Fn(&HealthKind) -> bool) -> Vec<HealthKind> {
        let mut seen = Vec::new();
        loop {
            let event = self.health.recv_timeout(DEADLINE).unwrap_or_else(|_| {
                panic!("health so far {seen:?}; status {:?}", self.live.status())
            });
            let done = wanted(&event.kind);
            seen.push(event.kind);
            if done {
                return seen;
            }
        }
    }

    fn wait_for_state(&self, state: CameraState) {
        let deadline = Instant::now() + DEADLINE;
        while self.live.status().state != state {
            assert!(
                Instant::now() < deadline,
                "never {state:?}: {:?}",
                self.live.status()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Threads of this process whose name starts with `prefix` (Linux truncates names to 15
/// bytes).
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim().starts_with(prefix))
        .count()
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

#[test]
fn h264_frames_arrive_gray8_at_the_analysis_size_and_rate() {
    let sim = simulator(vec![mount("/Streaming/Channels/101", 1, MEDIUM)]);
    let camera = Camera::spawn(options("hik-main", sim.url("/Streaming/Channels/101")));
    let first = camera.next_frame();
    // Connected is reported before the first frame is queued.
    assert_eq!(
        camera.health.try_recv().map(|event| event.kind),
        Ok(HealthKind::Connected)
    );
    assert_eq!(threads_named("ingest-hik-main"), 1);

    let mut frames = vec![first];
    while frames.len() < 16 {
        frames.push(camera.next_frame());
    }
    for frame in &frames {
        // 320x180 reduced to 160 wide keeps 16:9.
        assert_eq!(
            (frame.width(), frame.height()),
            (160, 90),
            "seq {}",
            frame.seq
        );
        assert_eq!(frame.camera.as_str(), "hik-main");
    }
    let seqs: Vec<u64> = frames.iter().map(|frame| frame.seq).collect();
    assert_eq!(seqs, (0..16).collect::<Vec<u64>>());
    let intervals: Vec<u64> = frames
        .windows(2)
        .map(|pair| pair[1].pts_nanos - pair[0].pts_nanos)
        .collect();
    // 10 fps thinned to 5 fps: every other frame, 200 ms apart in stream time.
    let interval_millis = median(intervals) / 1_000_000;
    assert!(
        (150..=250).contains(&interval_millis),
        "{interval_millis} ms"
    );
    // The scene has texture: not a flat grey frame.
    let last = frames.last().unwrap();
    let (low, high) = last
        .luma
        .iter()
        .fold((u8::MAX, u8::MIN), |(low, high), &v| {
            (low.min(v), high.max(v))
        });
    assert!(high - low > 40, "luma spans only {low}..{high}");

    let status = camera.live.status();
    assert_eq!(status.state, CameraState::Streaming);
    assert!(status.frames_received >= 16, "{status:?}");
    assert_eq!(status.reconnects, 0);
    assert!(status.last_frame_unix_millis.is_some());
    let stopped = camera.live.stop_with_status();
    assert_eq!(stopped.state, CameraState::Stopped);
    assert_eq!(threads_named("ingest-hik-main"), 0);
}

#[test]
fn h265_dahua_query_and_udp_cameras_stream() {
    let dahua = "/cam/realmonitor?channel=1&subtype=0";
    let sim = simulator(vec![
        MountOptions {
            codec: Codec::H265,
            ..mount(dahua, 2, MEDIUM)
        },
        mount("/Streaming/Channels/102", 3, SMALL),
    ]);
    // Dahua clients add their own parameters; the mount still matches.
    let h265 = Camera::spawn(options(
        "dahua-h265",
        sim.url(&format!("{dahua}&unicast=true&proto=Onvif")),
    ));
    let udp = Camera::spawn(LiveOptions {
        transport: RtspTransport::Udp,
        // Both sides fixed: the picture is stretched to fill the frame.
        height: Some(nz(120)),
        ..options("hik-sub-udp", sim.url("/Streaming/Channels/102"))
    });
    // retina sends SETUP and PLAY where the SDP says, without the query.
    let retina = Camera::spawn(LiveOptions {
        client: RtspClient::Retina,
        ..options("dahua-retina", sim.url(dahua))
    });
    // camera, expected analysis size
    let table = [(&h265, (160, 90)), (&udp, (160, 120)), (&retina, (160, 90))];
    for (camera, size) in table {
        for _ in 0..3 {
            let frame = camera.next_frame();
            assert_eq!((frame.width(), frame.height()), size, "{}", frame.camera);
        }
        assert_eq!(camera.live.status().state, CameraState::Streaming);
    }
}

#[test]
fn basic_and_md5_digest_with_the_right_password_stream() {
    let sim = simulator(vec![
        MountOptions {
            auth: AuthOptions::Basic(Credentials::new("admin", Secret::new("basic-pw"))),
            ..mount("/basic", 4, SMALL)
        },
        MountOptions {
            auth: AuthOptions::DigestMd5(Credentials::new("admin", Secret::new("digest-pw"))),
            ..mount("/md5", 5, SMALL)
        },
    ]);
    for (path, password) in [("/basic", "basic-pw"), ("/md5", "digest-pw")] {
        let camera = Camera::spawn(LiveOptions {
            credentials: credentials("admin", password),
            ..options("auth-ok", sim.url(path))
        });
        let frame = camera.next_frame();
        assert_eq!((frame.width(), frame.height()), (160, 96), "{path}");
        assert_eq!(
            camera.health.try_recv().unwrap().kind,
            HealthKind::Connected
        );
    }
}

#[test]
fn sha256_digest_cameras_stream_through_retina_and_retina_serves_any_camera() {
    let user = |password: &str| Credentials::new("admin", Secret::new(password));
    let sim = simulator(vec![
        MountOptions {
            auth: AuthOptions::DigestSha256(user("sha-pw")),
            ..mount("/Streaming/Channels/101", 21, SMALL)
        },
        MountOptions {
            codec: Codec::H265,
            auth: AuthOptions::DigestSha256(user("sha-pw")),
            ..mount("/h265", 22, MEDIUM)
        },
        MountOptions {
            auth: AuthOptions::Basic(user("basic-pw")),
            ..mount("/basic", 23, SMALL)
        },
        MountOptions {
            auth: AuthOptions::DigestMd5(user("md5-pw")),
            ..mount("/md5", 24, SMALL)
        },
    ]);
    let camera_options = |name: &str, path: &str, password: &str, client: RtspClient| LiveOptions {
        credentials: credentials("admin", password),
        client,
        ..options(name, sim.url(path))
    };
    let camera = |name: &str, path: &str, password: &str, client: RtspClient| {
        Camera::spawn(camera_options(name, path, password, client))
    };
    // The automatic client uses retina on a plain rtsp:// URL, so SHA-256 Digest just works.
    let auto = camera(
        "sha-auto",
        "/Streaming/Channels/101",
        "sha-pw",
        RtspClient::Auto,
    );
    let h265 = camera("sha-h265", "/h265", "sha-pw", RtspClient::Retina);
    let basic = camera("rt-basic", "/basic", "basic-pw", RtspClient::Retina);
    let md5_udp = Camera::spawn(LiveOptions {
        transport: RtspTransport::Udp,
        ..camera_options("rt-md5-udp", "/md5", "md5-pw", RtspClient::Retina)
    });
    // camera, analysis size
    let table = [
        (&auto, (160, 96)),
        (&h265, (160, 90)),
        (&basic, (160, 96)),
        (&md5_udp, (160, 96)),
    ];
    for (camera, size) in table {
        let frames: Vec<Frame> = (0..4).map(|_| camera.next_frame()).collect();
        for frame in &frames {
            assert_eq!((frame.width(), frame.height()), size, "{}", frame.camera);
        }
        let seqs: Vec<u64> = frames.iter().map(|frame| frame.seq).collect();
        assert_eq!(seqs, [0, 1, 2, 3], "{}", frames[0].camera);
        // Straight to streaming: no auth_failed on the way, whichever client.
        assert_eq!(
            camera.health.try_recv().map(|event| event.kind),
            Ok(HealthKind::Connected),
            "{}",
            frames[0].camera
        );
        let status = camera.live.status();
        assert_eq!(status.state, CameraState::Streaming, "{status:?}");
    }
    // No attempt was lost to a switch of client.
    let status = auto.live.status();
    assert_eq!(
        (status.reconnects, status.rtsp_client),
        (0, Some(RtspHead::Retina))
    );
    assert_eq!(h265.live.status().reconnects, 0);
    // Stride and texture: the picture came through, not a flat frame.
    let frame = h265.next_frame();
    let (low, high) = frame
        .luma
        .iter()
        .fold((u8::MAX, u8::MIN), |(low, high), &v| {
            (low.min(v), high.max(v))
        });
    assert!(high - low > 40, "luma spans only {low}..{high}");

    assert_eq!(threads_named("rtsp-sha-"), 2);
    assert_eq!(threads_named("rtsp-rt-"), 2);
    for camera in [auto, h265, basic, md5_udp] {
        let stopped = camera.live.stop_with_status();
        assert_eq!(stopped.state, CameraState::Stopped);
    }
    assert_eq!(threads_named("rtsp-sha-"), 0);
    assert_eq!(threads_named("rtsp-rt-"), 0);
    assert_eq!(threads_named("ingest-sha-"), 0);
}

/// A TCP relay to `target_port` that counts the connections made through it.
struct CountingProxy {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl CountingProxy {
    fn start(target_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                relay_both_ways(client, server);
            }
        });
        Self { port, accepted }
    }

    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Copies bytes between `client` and `server` in both directions, a thread each.
fn relay_both_ways(client: TcpStream, server: TcpStream) {
    relay(client.try_clone().unwrap(), server.try_clone().unwrap());
    relay(server, client);
}

fn relay(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        while let Ok(read) = from.read(&mut buffer) {
            if read == 0 || to.write_all(&buffer[..read]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// A camera whose RTSP server rejects retina's requests (400 Bad Request) and serves rtspsrc:
/// a relay to `target_port` that answers the first request of a connection itself when it
/// carries Stillwatch's user agent, which only the retina client sends.
struct RetinaRefusingProxy {
    port: u16,
}

impl RetinaRefusingProxy {
    fn start(target_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { continue };
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    match client.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                if text.contains("User-Agent: stillwatch/") {
                    let cseq = text
                        .lines()
                        .find_map(|line| line.strip_prefix("CSeq:"))
                        .unwrap_or("1")
                        .trim();
                    let _ = write!(client, "RTSP/1.0 400 Bad Request\r\nCSeq: {cseq}\r\n\r\n");
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                if server.write_all(&request).is_err() {
                    continue;
                }
                relay_both_ways(client, server);
            }
        });
        Self { port }
    }
}

#[test]
fn auto_falls_back_to_rtspsrc_for_a_camera_retina_cannot_use() {
    let sim = simulator(vec![mount("/Streaming/Channels/102", 31, SMALL)]);
    let proxy = RetinaRefusingProxy::start(sim.port());
    let url = format!("rtsp://127.0.0.1:{}/Streaming/Channels/102", proxy.port);
    let auto = Camera::spawn(options("fallback-auto", url.clone()));
    let forced = Camera::spawn(LiveOptions {
        client: RtspClient::Retina,
        ..options("fallback-forced", url)
    });

    let seqs: Vec<u64> = (0..3).map(|_| auto.next_frame().seq).collect();
    assert_eq!(seqs, [0, 1, 2]);
    // Retina's refusal cost one attempt and no health event: straight to Connected.
    assert_eq!(
        auto.health.try_recv().map(|event| event.kind),
        Ok(HealthKind::Connected)
    );
    let status = auto.live.status();
    assert_eq!(
        (status.state, status.reconnects),
        (CameraState::Streaming, 1),
        "{status:?}"
    );
    // rtspsrc serves it, and the status says so: no retina thread of the camera is left.
    assert_eq!(status.rtsp_client, Some(RtspHead::Rtspsrc));
    assert_eq!(threads_named("rtsp-fallback-a"), 0);

    // Told to use retina, the camera stays unusable and says why.
    forced.wait_for_state(CameraState::BackingOff);
    let status = forced.live.status();
    assert_eq!(status.rtsp_client, Some(RtspHead::Retina));
    let reason = status.reason.unwrap();
    assert!(reason.contains("400"), "{reason}");
    assert!(forced.frames.try_recv().is_err());
    auto.live.stop();
    forced.live.stop();
}

#[test]
fn refused_credentials_are_auth_failed_and_retried_slowly_without_leaking() {
    let password = "digest-pw";
    let wrong = "Wr0ng-passw0rd";
    let sim = simulator(vec![
        MountOptions {
            auth: AuthOptions::DigestMd5(Credentials::new("admin", Secret::new(password))),
            ..mount("/md5", 6, SMALL)
        },
        MountOptions {
            auth: AuthOptions::DigestSha256(Credentials::new("admin", Secret::new(password))),
            ..mount("/sha256", 7, SMALL)
        },
    ]);
    // Wrong passwords, through the automatic client (retina): MD5 and SHA-256 Digest.
    let md5_proxy = CountingProxy::start(sim.port());
    let sha256_proxy = CountingProxy::start(sim.port());
    let refused = Camera::spawn(LiveOptions {
        credentials: credentials("admin", wrong),
        ..options(
            "wrong-pw",
            format!("rtsp://127.0.0.1:{}/md5", md5_proxy.port),
        )
    });
    let refused_sha256 = Camera::spawn(LiveOptions {
        credentials: credentials("admin", wrong),
        ..options(
            "wrong-sha256",
            format!("rtsp://127.0.0.1:{}/sha256", sha256_proxy.port),
        )
    });
    // GStreamer 1.22's rtspsrc cannot answer SHA-256 Digest even with the right password.
    let sha256 = Camera::spawn(LiveOptions {
        credentials: credentials("admin", password),
        client: RtspClient::Gstreamer,
        ..options("sha256-cam", sim.url("/sha256"))
    });
    let unknown = Camera::spawn(options("no-such-path", sim.url("/nowhere")));

    // camera, proxy
    let table = [(&refused, &md5_proxy), (&refused_sha256, &sha256_proxy)];
    for (camera, _) in table {
        camera.wait_for_state(CameraState::AuthFailed);
        let reason = camera.live.status().reason.unwrap();
        assert!(
            reason.contains("refused the user name or password"),
            "{reason}"
        );
    }
    // With a 1 s auth retry, 3 s hold a few attempts (each one connection, plus the probe's),
    // not the hundreds of a tight loop.
    let before = table.map(|(_, proxy)| proxy.connections());
    std::thread::sleep(Duration::from_secs(3));
    for ((camera, proxy), before) in table.iter().zip(before) {
        let attempts_in_3_s = proxy.connections() - before;
        assert!(
            (1..=12).contains(&attempts_in_3_s),
            "{}: {attempts_in_3_s} connections in 3 s",
            camera.live.camera()
        );
        // One AuthFailed for the whole streak, not one per retry.
        let health: Vec<HealthKind> = camera.health.try_iter().map(|event| event.kind).collect();
        assert_eq!(health, [HealthKind::AuthFailed], "{}", camera.live.camera());
        assert!(camera.frames.try_recv().is_err());
    }

    sha256.wait_for_state(CameraState::AuthFailed);
    let reason = sha256.live.status().reason.unwrap();
    assert!(reason.contains("SHA-256"), "{reason}");

    unknown.wait_for_state(CameraState::BackingOff);
    let reason = unknown.live.status().reason.unwrap();
    assert!(reason.contains("404"), "{reason}");

    // The password appears in no status, health event, or log-facing text.
    for camera in [&refused, &refused_sha256, &sha256, &unknown] {
        let status = camera.live.status();
        let printed = format!(
            "{status:?} {} {:?}",
            serde_json::to_string(&status).unwrap(),
            camera.health.try_iter().collect::<Vec<_>>()
        );
        assert!(
            !printed.contains(password) && !printed.contains(wrong),
            "{printed}"
        );
    }
    let refused_status = refused.live.stop_with_status();
    assert_eq!(refused_status.state, CameraState::Stopped);
    // A URL with credentials in it is refused, and the error does not repeat them.
    let (queue, _frames) = FrameQueue::bounded(1);
    let (health, _health) = crossbeam_channel::bounded(1);
    let leaky = LiveCamera::spawn(
        options("leaky", format!("rtsp://admin:{wrong}@127.0.0.1:1/x")),
        LiveSinks {
            frames: queue,
            health,
        },
    )
    .unwrap_err();
    let printed = format!("{leaky} {leaky:?}");
    assert!(printed.contains("carries credentials"), "{printed}");
    assert!(!printed.contains(wrong), "{printed}");
}

#[test]
fn server_drop_and_restart_reconnect_and_frames_resume() {
    let sim = simulator(vec![mount("/drop", 8, SMALL)]);
    let control = sim.mount("/drop").unwrap();
    let camera = Camera::spawn(options("drop-cam", sim.url("/drop")));
    let mut last = camera.next_frame();
    assert_eq!(camera.health.recv().unwrap().kind, HealthKind::Connected);

    type Fault<'a> = Box<dyn Fn() + 'a>;
    let faults: [(&str, Fault); 2] = [
        (
            "drop",
            Box::new(|| assert_eq!(control.drop_connections(), 1)),
        ),
        (
            "restart",
            Box::new(|| control.restart(Duration::from_secs(1))),
        ),
    ];
    for (name, fault) in faults {
        fault();
        // Usually rtspsrc sees the connection close (end of stream); sometimes the socket goes
        // quiet first and the stall watchdog notices.
        let seen = camera.health_until(|kind| {
            matches!(kind, HealthKind::Disconnected { .. } | HealthKind::Stalled)
        });
        assert_eq!(seen.len(), 1, "{name}: {seen:?}");
        // Frames queued before the loss are all delivered before it is reported.
        let before = camera.frames.try_iter().last().unwrap_or(last);
        let resumed = camera.frame_after(before.seq);
        assert!(resumed.pts_nanos > before.pts_nanos, "{name}");
        // Connected was sent before the first frame of the new connection.
        let seen: Vec<HealthKind> = camera.health.try_iter().map(|event| event.kind).collect();
        assert_eq!(
            seen.iter()
                .filter(|kind| !matches!(kind, HealthKind::DecodeError { .. }))
                .collect::<Vec<_>>(),
            [&HealthKind::Connected],
            "{name}"
        );
        last = resumed;
    }
    let status = camera.live.status();
    assert!(status.reconnects >= 2, "{status:?}");
    assert_eq!(status.state, CameraState::Streaming);
}

/// The same camera through each RTSP client; names start with `prefix`.
fn one_camera_per_client(prefix: &str, url: &str, edit: fn(&mut LiveOptions)) -> [Camera; 2] {
    [("gst", RtspClient::Gstreamer), ("rtn", RtspClient::Retina)].map(|(suffix, client)| {
        let mut options = LiveOptions {
            client,
            ..options(&format!("{prefix}-{suffix}"), url.to_owned())
        };
        edit(&mut options);
        Camera::spawn(options)
    })
}

#[test]
fn stall_is_detected_and_streaming_resumes_after_it() {
    let sim = simulator(vec![mount("/stall", 9, SMALL)]);
    let control = sim.mount("/stall").unwrap();
    let cameras = one_camera_per_client("stall", &sim.url("/stall"), |options| {
        options.connect_timeout = Duration::from_secs(3);
    });
    for camera in &cameras {
        camera.next_frame();
    }
    control.stall();
    for camera in &cameras {
        let seen = camera.health_until(|kind| *kind == HealthKind::Stalled);
        assert_eq!(
            seen,
            [HealthKind::Connected, HealthKind::Stalled],
            "{}",
            camera.live.camera()
        );
        let status = camera.live.status();
        assert!(
            matches!(
                status.state,
                CameraState::Stalled | CameraState::Connecting | CameraState::BackingOff
            ),
            "{status:?}"
        );
    }
    // The watchdog dropped the retina connection while the camera held its socket open and
    // sent nothing: its thread ended with it (the next attempt's may be running).
    assert!(threads_named("rtsp-stall-rtn") <= 1);
    control.resume();
    for camera in &cameras {
        camera.health_until(|kind| *kind == HealthKind::Connected);
        let frame = camera.next_frame();
        assert_eq!((frame.width(), frame.height()), (160, 96));
        assert!(camera.live.status().reconnects >= 1);
    }
    for camera in cameras {
        camera.live.stop();
    }
    assert_eq!(threads_named("rtsp-stall-"), 0);
}

#[test]
fn a_short_stall_is_a_gap_not_a_reconnect() {
    let sim = simulator(vec![mount("/pause", 11, SMALL)]);
    let control = sim.mount("/pause").unwrap();
    let camera = Camera::spawn(LiveOptions {
        stall_timeout: Duration::from_secs(10),
        ..options("pause-cam", sim.url("/pause"))
    });
    camera.next_frame();
    control.stall();
    std::thread::sleep(Duration::from_millis(1500));
    control.resume();
    let seen = camera.health_until(|kind| matches!(kind, HealthKind::Gap { .. }));
    let Some(HealthKind::Gap { missing_millis }) = seen.last() else {
        unreachable!()
    };
    // At least the stall minus the frames already on their way; 3 intervals is 600 ms.
    assert!(*missing_millis >= 600, "{seen:?}");
    assert_eq!(seen[0], HealthKind::Connected);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(camera.live.status().reconnects, 0);
}

#[test]
fn resolution_switch_renegotiates_without_reconnecting() {
    let sim = simulator(vec![mount("/switch", 10, MEDIUM)]);
    // A busy machine can delay frames past the usual 1.5 s: a stall is not under test here.
    let cameras = one_camera_per_client("switch", &sim.url("/switch"), |options| {
        options.stall_timeout = Duration::from_secs(5);
    });
    for camera in &cameras {
        let frame = camera.next_frame();
        assert_eq!((frame.width(), frame.height()), (160, 90));
    }
    sim.mount("/switch")
        .unwrap()
        .switch_resolution(SMALL)
        .unwrap();
    for camera in &cameras {
        // 16:9 became 5:3, so the aspect-kept height changes from 90 to 96.
        let seen = camera.health_until(|kind| matches!(kind, HealthKind::SizeChanged { .. }));
        assert_eq!(
            seen.last(),
            Some(&HealthKind::SizeChanged {
                width: 160,
                height: 96
            }),
            "{}",
            camera.live.camera()
        );
        // The switch may cost a frame or two (a gap, a decoder complaint), never the
        // connection: rtspsrc and retina both take the new parameters in-band.
        let connection_changes = seen
            .iter()
            .filter(|kind| {
                matches!(
                    kind,
                    HealthKind::Connected | HealthKind::Disconnected { .. } | HealthKind::Stalled
                )
            })
            .count();
        assert_eq!(connection_changes, 1, "{}: {seen:?}", camera.live.camera());
        wait_for_frame_size(camera, (160, 96));
        assert_eq!(camera.live.status().reconnects, 0);
    }
}

/// Takes frames until one has `size`.
fn wait_for_frame_size(camera: &Camera, size: (usize, usize)) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let frame = camera.next_frame();
        if (frame.width(), frame.height()) == size {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: still {}x{}",
            camera.live.camera(),
            frame.width(),
            frame.height()
        );
    }
}

#[test]
fn codec_switch_reconnects_and_frames_resume_at_the_analysis_size() {
    let sim = simulator(vec![mount("/codec", 12, MEDIUM)]);
    let cameras = one_camera_per_client("codec", &sim.url("/codec"), |_| {});
    let mut last_seq = Vec::new();
    for camera in &cameras {
        let frame = camera.next_frame();
        assert_eq!((frame.width(), frame.height()), (160, 90));
        last_seq.push(frame.seq);
    }
    // The camera's H.264 session ends (rtspsrc often misses the close, and the stall watchdog
    // ends it instead); the next DESCRIBE offers H.265.
    sim.mount("/codec")
        .unwrap()
        .switch_codec(Codec::H265)
        .unwrap();
    for (camera, last_seq) in cameras.iter().zip(last_seq) {
        let seen = camera.health_until(|kind| {
            matches!(kind, HealthKind::Disconnected { .. } | HealthKind::Stalled)
        });
        assert!(
            matches!(
                seen.last(),
                Some(HealthKind::Disconnected { .. } | HealthKind::Stalled)
            ),
            "{}: {seen:?}",
            camera.live.camera()
        );
        camera.health_until(|kind| *kind == HealthKind::Connected);
        // Same picture size, other codec: same analysis size, numbering carries on.
        let frame = camera.frame_after(last_seq);
        assert_eq!(
            (frame.width(), frame.height()),
            (160, 90),
            "{}",
            camera.live.camera()
        );
        let status = camera.live.status();
        assert_eq!(status.state, CameraState::Streaming, "{status:?}");
        assert!(status.reconnects >= 1, "{status:?}");
    }
}

#[test]
fn stop_returns_quickly_in_the_middle_of_a_back_off() {
    // A port nobody listens on: every attempt is refused at once.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let camera = Camera::spawn(LiveOptions {
        backoff_initial: Duration::from_secs(60),
        backoff_max: Duration::from_secs(60),
        ..options("refused-port", format!("rtsp://127.0.0.1:{port}/x"))
    });
    camera.wait_for_state(CameraState::BackingOff);
    let status = camera.live.status();
    assert!(
        status
            .reason
            .as_deref()
            .unwrap()
            .contains("reconnecting in"),
        "{status:?}"
    );
    assert_eq!(threads_named("ingest-refused-"), 1);
    let asked = Instant::now();
    let stopped = camera.live.stop_with_status();
    let took = asked.elapsed();
    // A back-off of 30 to 60 s was pending.
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    assert_eq!(stopped.state, CameraState::Stopped);
    assert_eq!(threads_named("ingest-refused-"), 0);
    // The frame channel ends with the camera.
    assert!(camera.frames.recv_timeout(DEADLINE).is_err());
}

#[test]
fn a_camera_that_never_answers_times_out_and_stops_promptly() {
    // Accepts connections and holds them open without a word: a hung camera.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for client in listener.incoming() {
            held.push(client);
        }
    });
    let cameras = one_camera_per_client("hung", &format!("rtsp://127.0.0.1:{port}/x"), |options| {
        options.connect_timeout = Duration::from_secs(1);
    });
    for camera in &cameras {
        camera.wait_for_state(CameraState::BackingOff);
        let reason = camera.live.status().reason.unwrap();
        assert!(
            reason.starts_with("no frame within 1.0 s of connecting"),
            "{reason}"
        );
    }
    for camera in cameras {
        // Stopped in the middle of the next attempt, while the client waits for an answer.
        camera.wait_for_state(CameraState::Connecting);
        let asked = Instant::now();
        let stopped = camera.live.stop_with_status();
        let took = asked.elapsed();
        assert!(took < Duration::from_secs(5), "stop took {took:?}");
        assert_eq!(stopped.state, CameraState::Stopped);
        assert!(stopped.reconnects >= 1);
    }
    assert_eq!(threads_named("rtsp-hung-"), 0);
}
