//! The simulator over real RTSP on loopback, checked by independent clients: GStreamer's
//! `rtspsrc`, `ffprobe`, and a hand-written exchange for SHA-256 Digest.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use gst::prelude::*;
use sha2::{Digest, Sha256};
use sw_camsim::{
    AuthOptions, CamsimError, CamsimOptions, Codec, Credentials, Fault, MountOptions, Resolution,
    ScheduledFault, Secret, Simulator, SourceOptions, SyntheticOptions,
};

use support::{FRAME_TIMEOUT, RawRtsp, Viewer, ViewerEvent, digest_challenge, ffprobe};

const SMALL: Resolution = Resolution::new(160, 96);
const MEDIUM: Resolution = Resolution::new(320, 180);

fn mount(path: &str, seed: u64, resolution: Resolution) -> MountOptions {
    MountOptions {
        resolution: Some(resolution),
        ..MountOptions::synthetic(path, seed)
    }
}

fn start(mounts: Vec<MountOptions>) -> Simulator {
    Simulator::start(&CamsimOptions {
        mounts,
        ..CamsimOptions::default()
    })
    .unwrap()
}

fn credentials(password: &str) -> Credentials {
    Credentials {
        username: "admin".to_owned(),
        password: Secret::new(password),
    }
}

fn all_frames_are(sizes: &[(u32, u32)], expected: Resolution) {
    assert!(
        sizes
            .iter()
            .all(|&size| size == (expected.width, expected.height)),
        "{sizes:?}"
    );
}

#[test]
fn h264_synthetic_scene_reaches_ffprobe_and_gstreamer() {
    let sim = start(vec![mount("/Streaming/Channels/101", 1, MEDIUM)]);
    let url = sim.url("/Streaming/Channels/101");
    assert_eq!(
        url,
        format!("rtsp://127.0.0.1:{}/Streaming/Channels/101", sim.port())
    );
    let probed = ffprobe(&url).unwrap();
    assert_eq!(
        (probed.codec.as_str(), probed.width, probed.height),
        ("h264", 320, 180)
    );
    let viewer = Viewer::open(&url, None);
    all_frames_are(&viewer.frames(5).unwrap(), MEDIUM);
}

#[test]
fn h265_synthetic_scene() {
    let sim = start(vec![MountOptions {
        codec: Codec::H265,
        ..mount("/h265", 2, SMALL)
    }]);
    let url = sim.url("/h265");
    let probed = ffprobe(&url).unwrap();
    assert_eq!(
        (probed.codec.as_str(), probed.width, probed.height),
        ("hevc", 160, 96)
    );
    all_frames_are(&Viewer::open(&url, None).frames(3).unwrap(), SMALL);
}

#[test]
fn hikvision_and_dahua_paths_share_one_port() {
    let sim = start(vec![
        mount("/Streaming/Channels/101", 1, MEDIUM),
        mount("/Streaming/Channels/102", 1, SMALL),
        mount("/cam/realmonitor?channel=1&subtype=0", 2, MEDIUM),
        mount("/cam/realmonitor?channel=1&subtype=1", 2, SMALL),
    ]);
    let table = [
        ("/Streaming/Channels/101", MEDIUM),
        ("/Streaming/Channels/102?transportmode=unicast", SMALL),
        ("/cam/realmonitor?channel=1&subtype=0", MEDIUM),
        (
            "/cam/realmonitor?channel=1&subtype=1&unicast=true&proto=Onvif",
            SMALL,
        ),
    ];
    for (path, size) in table {
        let probed = ffprobe(&sim.url(path)).unwrap_or_else(|error| panic!("{path}: {error}"));
        assert_eq!(
            (probed.width, probed.height),
            (size.width, size.height),
            "{path}"
        );
    }
    let unknown = ffprobe(&sim.url("/cam/realmonitor?channel=9&subtype=0")).unwrap_err();
    assert!(unknown.contains("404"), "{unknown}");
    // SETUP and PLAY carry the query too (rtspsrc appends the control after it).
    let viewer = Viewer::open(&sim.url("/cam/realmonitor?channel=1&subtype=1"), None);
    all_frames_are(&viewer.frames(3).unwrap(), SMALL);
    assert!(sim.mount("/cam/realmonitor?subtype=1&channel=1").is_some());
}

#[test]
fn basic_and_md5_digest_accept_the_right_password_only() {
    let sim = start(vec![
        MountOptions {
            auth: AuthOptions::Basic(credentials("basic-pw")),
            ..mount("/basic", 3, SMALL)
        },
        MountOptions {
            auth: AuthOptions::DigestMd5(credentials("digest-pw")),
            ..mount("/md5", 4, SMALL)
        },
    ]);
    for (path, right) in [("/basic", "basic-pw"), ("/md5", "digest-pw")] {
        let url = sim.url(path);
        let frames = Viewer::open(&url, Some(("admin", right))).frames(2);
        all_frames_are(
            &frames.unwrap_or_else(|end| panic!("{path}: {end:?}")),
            SMALL,
        );
        for credentials in [Some(("admin", "wrong")), Some(("nobody", right)), None] {
            let end = Viewer::open(&url, credentials).end(FRAME_TIMEOUT);
            assert!(
                matches!(
                    end,
                    Some(ViewerEvent::Error {
                        not_authorized: true,
                        ..
                    })
                ),
                "{path} {:?}: {end:?}",
                credentials.map(|(user, _)| user)
            );
        }
    }
    // Each mount checks its own scheme: the Basic password does not open the MD5 mount.
    let crossed = Viewer::open(&sim.url("/md5"), Some(("admin", "basic-pw"))).end(FRAME_TIMEOUT);
    assert!(matches!(
        crossed,
        Some(ViewerEvent::Error {
            not_authorized: true,
            ..
        })
    ));
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `Authorization` for SHA-256 Digest with qop=auth (RFC 7616), computed independently of the
/// simulator (sha2, not GLib).
fn sha256_authorization(challenge: &str, method: &str, uri: &str, password: &str) -> String {
    let params = digest_challenge(challenge);
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap()
    };
    let (realm, nonce) = (param("realm"), param("nonce"));
    let (nc, cnonce) = ("00000001", "0a4f113b");
    let ha1 = sha256_hex(&format!("admin:{realm}:{password}"));
    let ha2 = sha256_hex(&format!("{method}:{uri}"));
    let response = sha256_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    format!(
        "Digest username=\"admin\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm=SHA-256, qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{response}\""
    )
}

#[test]
fn sha256_digest_by_hand() {
    let sim = start(vec![MountOptions {
        auth: AuthOptions::DigestSha256(credentials("s3cret")),
        ..mount("/Streaming/Channels/101", 5, SMALL)
    }]);
    let url = sim.url("/Streaming/Channels/101");
    let mut rtsp = RawRtsp::connect(sim.port());
    assert_eq!(rtsp.request("OPTIONS", &url, &[]).status, 200);

    let challenged = rtsp.request("DESCRIBE", &url, &[]);
    assert_eq!(challenged.status, 401);
    let challenge = challenged.header("www-authenticate").unwrap().to_owned();
    assert!(challenge.starts_with("Digest "), "{challenge}");
    assert!(challenge.contains("algorithm=SHA-256") && challenge.contains("qop=\"auth\""));

    let accept = [("Accept", "application/sdp".to_owned())];
    let wrong = sha256_authorization(&challenge, "DESCRIBE", &url, "wrong");
    let denied = rtsp.request(
        "DESCRIBE",
        &url,
        &[accept[0].clone(), ("Authorization", wrong)],
    );
    assert_eq!(denied.status, 401);

    let right = sha256_authorization(&challenge, "DESCRIBE", &url, "s3cret");
    let described = rtsp.request(
        "DESCRIBE",
        &url,
        &[accept[0].clone(), ("Authorization", right)],
    );
    assert_eq!(described.status, 200, "{described:?}");
    assert!(described.body.contains("m=video"), "{}", described.body);

    let control = described
        .body
        .lines()
        .filter_map(|line| line.strip_prefix("a=control:"))
        .find(|control| *control != "*")
        .unwrap()
        .trim()
        .to_owned();
    let base = described.header("content-base").unwrap_or(&url).to_owned();
    let setup_uri = format!("{}/{control}", base.trim_end_matches('/'));
    let transport = (
        "Transport",
        "RTP/AVP/TCP;unicast;interleaved=0-1".to_owned(),
    );
    // A response computed for DESCRIBE does not authorise a SETUP.
    let reused = sha256_authorization(&challenge, "DESCRIBE", &setup_uri, "s3cret");
    let refused = rtsp.request(
        "SETUP",
        &setup_uri,
        &[transport.clone(), ("Authorization", reused)],
    );
    assert_eq!(refused.status, 401);
    let setup_auth = sha256_authorization(&challenge, "SETUP", &setup_uri, "s3cret");
    let set_up = rtsp.request(
        "SETUP",
        &setup_uri,
        &[transport, ("Authorization", setup_auth)],
    );
    assert_eq!(set_up.status, 200, "{set_up:?}");
    let session = set_up
        .header("session")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let played = rtsp.request("PLAY", &url, &[("Session", session)]);
    assert_eq!(played.status, 200);
    let rtp = rtsp.read_interleaved(0);
    assert_eq!(rtp[0] >> 6, 2, "RTP version");
    assert_eq!(rtp[1] & 0x7f, 96, "payload type");

    // GStreamer 1.22's rtspsrc cannot answer a SHA-256 challenge.
    let gst = Viewer::open(&url, Some(("admin", "s3cret"))).end(FRAME_TIMEOUT);
    assert!(
        matches!(
            gst,
            Some(ViewerEvent::Error {
                not_authorized: true,
                ..
            })
        ),
        "{gst:?}"
    );
}

#[test]
fn stall_keeps_the_connection_open_and_sends_nothing() {
    let sim = start(vec![mount("/stall", 6, SMALL)]);
    let control = sim.mount("/stall").unwrap();
    let viewer = Viewer::open(&sim.url("/stall"), None);
    viewer.frames(3).unwrap();
    assert_eq!(control.client_count(), 1);

    control.stall();
    // Frames already on their way may still arrive.
    viewer
        .count_frames_for(Duration::from_millis(1500))
        .unwrap();
    assert_eq!(viewer.count_frames_for(Duration::from_secs(2)), Ok(0));
    assert_eq!(control.client_count(), 1, "the connection stays open");

    control.resume();
    viewer.frames(3).unwrap();
}

#[test]
fn drop_after_ends_every_connection_and_reconnecting_works() {
    let sim = start(vec![MountOptions {
        faults: sw_camsim::FaultOptions {
            drop_after: Some(Duration::from_secs(1)),
            ..Default::default()
        },
        ..mount("/drop", 7, SMALL)
    }]);
    for attempt in 0..2 {
        let viewer = Viewer::open(&sim.url("/drop"), None);
        viewer
            .frames(2)
            .unwrap_or_else(|end| panic!("attempt {attempt}: {end:?}"));
        let end = viewer.end(FRAME_TIMEOUT);
        assert!(
            matches!(
                end,
                Some(
                    ViewerEvent::Eos
                        | ViewerEvent::Error {
                            not_authorized: false,
                            ..
                        }
                )
            ),
            "attempt {attempt}: {end:?}"
        );
    }
}

#[test]
fn run_time_drop_connections() {
    let sim = start(vec![mount("/a", 8, SMALL), mount("/b", 9, SMALL)]);
    let (a, b) = (
        Viewer::open(&sim.url("/a"), None),
        Viewer::open(&sim.url("/b"), None),
    );
    a.frames(2).unwrap();
    b.frames(2).unwrap();
    assert_eq!(sim.mount("/a").unwrap().drop_connections(), 1);
    assert!(a.end(FRAME_TIMEOUT).is_some());
    // The other mount is untouched.
    b.frames(3).unwrap();
}

#[test]
fn refuse_then_accept_and_restart() {
    let sim = start(vec![
        mount("/refuse", 10, SMALL),
        MountOptions {
            faults: sw_camsim::FaultOptions {
                scheduled: vec![ScheduledFault {
                    after: Duration::ZERO,
                    fault: Fault::Refuse,
                }],
                ..Default::default()
            },
            ..mount("/refused-from-start", 11, SMALL)
        },
    ]);
    let control = sim.mount("/refuse").unwrap();
    let url = sim.url("/refuse");
    control.set_refuse(true);
    let refused = ffprobe(&url).unwrap_err();
    assert!(refused.contains("503"), "{refused}");
    control.set_refuse(false);
    ffprobe(&url).unwrap();
    let scheduled = ffprobe(&sim.url("/refused-from-start")).unwrap_err();
    assert!(scheduled.contains("503"), "{scheduled}");

    let viewer = Viewer::open(&url, None);
    viewer.frames(2).unwrap();
    control.restart(Duration::from_secs(3));
    let during = ffprobe(&url).unwrap_err();
    assert!(during.contains("503"), "{during}");
    assert!(
        viewer.end(FRAME_TIMEOUT).is_some(),
        "restart drops the connection"
    );
    let deadline = Instant::now() + FRAME_TIMEOUT;
    while ffprobe(&url).is_err() {
        assert!(
            Instant::now() < deadline,
            "still refusing after the downtime"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn switching_resolution_reaches_the_client_as_new_caps() {
    let sim = start(vec![mount("/switch", 12, MEDIUM)]);
    let viewer = Viewer::open(&sim.url("/switch"), None);
    all_frames_are(&viewer.frames(2).unwrap(), MEDIUM);
    sim.mount("/switch")
        .unwrap()
        .switch_resolution(SMALL)
        .unwrap();
    let deadline = Instant::now() + FRAME_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match viewer.next_event(left) {
            Some(ViewerEvent::Frame {
                width: 160,
                height: 96,
            }) => break,
            Some(ViewerEvent::Frame { .. }) => continue,
            other => panic!("no 160x96 frame: {other:?}"),
        }
    }
    // Later clients get the new size from the start.
    all_frames_are(
        &Viewer::open(&sim.url("/switch"), None).frames(2).unwrap(),
        SMALL,
    );
}

#[test]
fn switching_codec_ends_sessions_and_serves_the_new_codec() {
    let sim = start(vec![mount("/codec", 13, SMALL)]);
    let url = sim.url("/codec");
    let viewer = Viewer::open(&url, None);
    all_frames_are(&viewer.frames(2).unwrap(), SMALL);
    sim.mount("/codec")
        .unwrap()
        .switch_codec(Codec::H265)
        .unwrap();
    // The session described H.264: it ends, as a camera's does after a settings change.
    let end = viewer.end(FRAME_TIMEOUT);
    assert!(
        matches!(end, Some(ViewerEvent::Eos | ViewerEvent::Error { .. })),
        "{end:?}"
    );
    let probed = ffprobe(&url).unwrap();
    assert_eq!(
        (probed.codec.as_str(), probed.width, probed.height),
        ("hevc", 160, 96)
    );
    all_frames_are(&Viewer::open(&url, None).frames(2).unwrap(), SMALL);
}

/// DESCRIBE, SETUP (RTP interleaved in the RTSP connection) and PLAY of `path`, without auth;
/// returns once the first RTP packet has arrived.
fn play_raw(sim: &Simulator, path: &str) -> RawRtsp {
    let url = sim.url(path);
    let mut rtsp = RawRtsp::connect(sim.port());
    let described = rtsp.request(
        "DESCRIBE",
        &url,
        &[("Accept", "application/sdp".to_owned())],
    );
    assert_eq!(described.status, 200, "{path}: {described:?}");
    let control = described
        .body
        .lines()
        .filter_map(|line| line.strip_prefix("a=control:"))
        .find(|control| *control != "*")
        .unwrap()
        .trim()
        .to_owned();
    let base = described.header("content-base").unwrap_or(&url).to_owned();
    let setup_uri = format!("{}/{control}", base.trim_end_matches('/'));
    let transport = (
        "Transport",
        "RTP/AVP/TCP;unicast;interleaved=0-1".to_owned(),
    );
    let set_up = rtsp.request("SETUP", &setup_uri, &[transport]);
    assert_eq!(set_up.status, 200, "{path}: {set_up:?}");
    let session = set_up
        .header("session")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let played = rtsp.request("PLAY", &url, &[("Session", session)]);
    assert_eq!(played.status, 200, "{path}: {played:?}");
    rtsp.read_interleaved(0);
    rtsp
}

/// Regression: when many clients vanished at once, gst-rtsp-server 1.22 could close a client
/// it had already freed (an idle `do_close` queued without a reference after a failed send):
/// heap corruption, and camsim died once 64 clients were killed together. See
/// `rtsp::keep_alive_past_pending_closes`.
#[test]
fn sixty_four_clients_vanishing_at_once_leave_the_server_serving() {
    let paths: Vec<String> = (1..=64).map(|n| format!("/vanish/{n}")).collect();
    let sim = start(
        paths
            .iter()
            .zip(1..)
            .map(|(path, seed)| mount(path, seed, Resolution::new(32, 32)))
            .collect(),
    );
    let clients: Vec<RawRtsp> = paths.iter().map(|path| play_raw(&sim, path)).collect();
    // Closed with video still unread: each connection ends with a reset, and the server's
    // next send on it fails.
    drop(clients);
    std::thread::sleep(Duration::from_secs(2));
    let watched: usize = paths
        .iter()
        .map(|path| sim.mount(path).unwrap().client_count())
        .sum();
    assert_eq!(watched, 0);
    play_raw(&sim, &paths[0]);
}

/// Runs a `gst-launch`-style description to completion (test fixtures only).
fn run_to_eos(description: &str) {
    gst::init().unwrap();
    let pipeline = gst::parse::launch(description).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let message = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .unwrap();
    assert!(
        matches!(message.view(), gst::MessageView::Eos(_)),
        "{message:?}"
    );
    pipeline.set_state(gst::State::Null).unwrap();
}

/// The slice NAL units (types 1 and 5) of H.264 byte-stream access units.
fn slices(access_units: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut slices = Vec::new();
    for unit in access_units {
        let mut starts = Vec::new();
        let mut index = 0;
        while index + 3 <= unit.len() {
            if unit[index..index + 3] == [0, 0, 1] {
                starts.push(index + 3);
                index += 3;
            } else {
                index += 1;
            }
        }
        for (position, &start) in starts.iter().enumerate() {
            let end = starts.get(position + 1).map_or(unit.len(), |next| next - 3);
            // Trailing zero of a four-byte start code belongs to no NAL unit.
            let nal = unit[start..end]
                .strip_suffix(&[0])
                .unwrap_or(&unit[start..end]);
            if matches!(nal.first().map(|byte| byte & 0x1f), Some(1 | 5)) {
                slices.push(nal.to_vec());
            }
        }
    }
    slices
}

/// H.264 access units from a pipeline ending in `appsink name=sink`.
fn pull_access_units(description: &str, location: (&str, &str), count: usize) -> Vec<Vec<u8>> {
    gst::init().unwrap();
    let pipeline = gst::parse::launch(description)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    pipeline
        .by_name(location.0)
        .unwrap()
        .set_property("location", location.1);
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut units = Vec::new();
    while units.len() < count {
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(20)) else {
            break;
        };
        let map = sample.buffer().unwrap().map_readable().unwrap();
        units.push(map.as_slice().to_vec());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    units
}

const AU_CAPS: &str = "video/x-h264,stream-format=byte-stream,alignment=au";

#[test]
fn h264_file_is_served_as_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("recorded.mp4");
    // B-frames and a slow preset: nothing the simulator's own encoder would produce.
    run_to_eos(&format!(
        "videotestsrc num-buffers=30 pattern=ball ! video/x-raw,width=160,height=96,framerate=10/1 \
         ! x264enc speed-preset=veryfast bframes=2 key-int-max=10 ! h264parse ! mp4mux \
         ! filesink location={}",
        file.display()
    ));
    let sim = start(vec![MountOptions {
        source: SourceOptions::File { path: file.clone() },
        resolution: None,
        ..MountOptions::synthetic("/file", 0)
    }]);
    let recorded = pull_access_units(
        &format!(
            "filesrc name=src ! qtdemux ! h264parse ! {AU_CAPS} ! appsink name=sink sync=false"
        ),
        ("src", file.to_str().unwrap()),
        30,
    );
    let served = pull_access_units(
        &format!(
            "rtspsrc name=src protocols=tcp latency=100 ! rtph264depay ! h264parse ! {AU_CAPS} \
             ! appsink name=sink sync=false"
        ),
        ("src", &sim.url("/file")),
        12,
    );
    assert_eq!(served.len(), 12);
    let recorded_slices = slices(&recorded);
    let served_slices = slices(&served);
    assert!(!served_slices.is_empty());
    for (index, slice) in served_slices.iter().enumerate() {
        assert!(
            recorded_slices.contains(slice),
            "served slice {index} is not in the file"
        );
    }
    let switch = sim.mount("/file").unwrap().switch_resolution(SMALL);
    assert!(matches!(
        switch,
        Err(CamsimError::ResolutionSwitchUnsupported { .. })
    ));
}

#[test]
fn file_in_another_codec_is_encoded_once_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mjpeg.avi");
    run_to_eos(&format!(
        "videotestsrc num-buffers=20 ! video/x-raw,width=160,height=96,framerate=10/1 ! jpegenc \
         ! avimux ! filesink location={}",
        file.display()
    ));
    let sim = start(vec![MountOptions {
        source: SourceOptions::File { path: file },
        resolution: None,
        ..MountOptions::synthetic("/mjpeg", 0)
    }]);
    let probed = ffprobe(&sim.url("/mjpeg")).unwrap();
    assert_eq!(
        (probed.codec.as_str(), probed.width, probed.height),
        ("h264", 160, 96)
    );
    let missing = Simulator::start(&CamsimOptions {
        mounts: vec![MountOptions {
            source: SourceOptions::File {
                path: Path::new("/nonexistent/clip.mp4").to_path_buf(),
            },
            ..MountOptions::synthetic("/missing", 0)
        }],
        ..CamsimOptions::default()
    });
    assert!(matches!(missing, Err(CamsimError::LoadFile { .. })));
    // A file is served as encoded at start: its codec stays.
    assert!(matches!(
        sim.mount("/mjpeg").unwrap().switch_codec(Codec::H265),
        Err(CamsimError::CodecSwitchUnsupported { .. })
    ));
}

/// A real recording: H.264 with B-frames (AVI keeps decode times only) beside an AAC track.
#[test]
fn recorded_avi_with_b_frames_and_audio_is_served() {
    let Some(data) = support::shared_data() else {
        eprintln!("skipping: ../shared/data is absent");
        return;
    };
    let sim = start(vec![MountOptions {
        source: SourceOptions::File {
            path: data.join("opencv-vtest/vtest_reencoded_480x360.avi"),
        },
        resolution: None,
        ..MountOptions::synthetic("/vtest", 0)
    }]);
    let url = sim.url("/vtest");
    let probed = ffprobe(&url).unwrap();
    assert_eq!(
        (probed.codec.as_str(), probed.width, probed.height),
        ("h264", 480, 360)
    );
    all_frames_are(
        &Viewer::open(&url, None).frames(5).unwrap(),
        Resolution::new(480, 360),
    );
}

#[test]
fn cdnet_highway_image_sequence() {
    let Some(data) = support::shared_data() else {
        eprintln!("skipping: ../shared/data is absent");
        return;
    };
    let sim = start(vec![MountOptions {
        source: SourceOptions::ImageSequence {
            dir: data.join("cdnet2014/highway"),
            fps: 10,
        },
        resolution: None,
        ..MountOptions::synthetic("/highway", 0)
    }]);
    let url = sim.url("/highway");
    let probed = ffprobe(&url).unwrap();
    assert_eq!(
        (probed.codec.as_str(), probed.width, probed.height),
        ("h264", 320, 240)
    );
    all_frames_are(
        &Viewer::open(&url, None).frames(3).unwrap(),
        Resolution::new(320, 240),
    );
}

#[test]
fn sixteen_cameras_on_one_port() {
    let paths: Vec<String> = (1..=16)
        .map(|n| format!("/Streaming/Channels/{n}01"))
        .collect();
    let sim = start(
        paths
            .iter()
            .zip(1..)
            .map(|(path, seed)| MountOptions {
                source: SourceOptions::Synthetic(SyntheticOptions {
                    seed,
                    fps: 5,
                    ..SyntheticOptions::default()
                }),
                ..mount(path, seed, SMALL)
            })
            .collect(),
    );
    let viewers: Vec<Viewer> = paths
        .iter()
        .map(|path| Viewer::open(&sim.url(path), None))
        .collect();
    for (path, viewer) in paths.iter().zip(&viewers) {
        let frames = viewer
            .frames(2)
            .unwrap_or_else(|end| panic!("{path}: {end:?}"));
        all_frames_are(&frames, SMALL);
    }
    let watched: usize = paths
        .iter()
        .map(|path| sim.mount(path).unwrap().client_count())
        .sum();
    assert_eq!(watched, 16);
}
