//! Watches one RTSP camera through `LiveCamera` and prints its status once a second:
//! `cargo run --release -p sw_ingest --example live_camera -- URL [SECONDS [WIDTH [FPS]]]`.
//! Credentials, if any, come from `SW_RTSP_USER` and `SW_RTSP_PASSWORD`. For trying a camera
//! and measuring the ingest's CPU by hand; `stillwatch run` is the real service.

#![allow(clippy::print_stdout)]

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use sw_core::CameraId;
use sw_ingest::{Credentials, FrameQueue, LiveCamera, LiveOptions, LiveSinks, Secret};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(url) = args.first() else {
        println!("usage: live_camera URL [SECONDS [WIDTH [FPS]]]");
        return std::process::ExitCode::FAILURE;
    };
    let number = |index: usize, default: NonZeroU32| {
        args.get(index)
            .and_then(|arg| arg.parse().ok())
            .and_then(NonZeroU32::new)
            .unwrap_or(default)
    };
    let seconds = number(1, NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN)).get();
    let Ok(camera) = CameraId::new("example") else {
        return std::process::ExitCode::FAILURE;
    };
    let width = number(2, NonZeroU32::new(320).unwrap_or(NonZeroU32::MIN));
    let fps = number(3, NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN));
    let mut options = LiveOptions::new(camera, url.as_str(), width, fps);
    if let (Ok(user), Ok(password)) = (
        std::env::var("SW_RTSP_USER"),
        std::env::var("SW_RTSP_PASSWORD"),
    ) {
        options.credentials = Some(Credentials::new(user, Secret::new(password)));
    }
    // Drop-oldest, 4 frames; health is rare, 64 is plenty.
    let (frames, frame_receiver) = FrameQueue::bounded(4);
    let (health, health_receiver) = crossbeam_channel::bounded(64);
    let live = match LiveCamera::spawn(options, LiveSinks { frames, health }) {
        Ok(live) => live,
        Err(error) => {
            println!("error: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let end = Instant::now() + Duration::from_secs(u64::from(seconds));
    let mut next_print = Instant::now() + Duration::from_secs(1);
    let mut frames_seen = 0u64;
    let mut last_size = None;
    while Instant::now() < end {
        if let Ok(frame) = frame_receiver.recv_timeout(Duration::from_millis(100)) {
            frames_seen += 1;
            last_size = Some((frame.width(), frame.height()));
        }
        for event in health_receiver.try_iter() {
            println!("health: {:?}", event.kind);
        }
        if Instant::now() >= next_print {
            next_print += Duration::from_secs(1);
            let status = live.status();
            println!(
                "{:?} frames seen {frames_seen} size {last_size:?} received {} dropped {} \
                 reconnects {} {}",
                status.state,
                status.frames_received,
                status.frames_dropped,
                status.reconnects,
                status.reason.unwrap_or_default()
            );
        }
    }
    let status = live.stop_with_status();
    println!("stopped: {status:?}");
    std::process::ExitCode::SUCCESS
}
