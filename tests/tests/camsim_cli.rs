//! `stillwatch camsim` serves simulated cameras that an independent RTSP client (ffprobe) can
//! read, prints their URLs, and stops cleanly on SIGTERM.

// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use sw_tests::stillwatch;

#[test]
fn camsim_serves_vendor_paths_to_ffprobe_and_stops_on_sigterm() {
    let mut child = stillwatch()
        .args([
            "camsim",
            "--port",
            "0",
            "--cameras",
            "2",
            "--width",
            "320",
            "--height",
            "180",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = lines.next().unwrap().unwrap();
    assert!(
        banner.starts_with("camsim: serving 2 camera(s)"),
        "{banner}"
    );
    let urls: Vec<String> = (0..2).map(|_| lines.next().unwrap().unwrap()).collect();
    assert!(urls[0].ends_with("/Streaming/Channels/102"), "{urls:?}");
    assert!(
        urls[1].ends_with("/cam/realmonitor?channel=2&subtype=1"),
        "{urls:?}"
    );

    for url in &urls {
        let probe = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-rtsp_transport",
                "tcp",
                "-select_streams",
                "v:0",
            ])
            .args([
                "-show_entries",
                "stream=codec_name,width,height",
                "-of",
                "csv=p=0",
                url,
            ])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&probe.stdout).trim(),
            "h264,320,180",
            "{url}"
        );
    }

    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(
        child.wait().unwrap().success(),
        "camsim did not exit cleanly on SIGTERM"
    );
}
