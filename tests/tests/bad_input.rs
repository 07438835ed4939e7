//! Bad input never panics: a missing file, a corrupt frame, a truncated video or a wrong config
//! key gives a non-zero exit and an error naming the file, frame or key.

// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

use std::fs;

use sw_tests::{gst_launch, run_fails, stillwatch};

#[test]
fn missing_input_names_the_path() {
    let stderr = run_fails(stillwatch().args(["bench", "/no/such/footage.mp4"]));
    assert!(stderr.contains("/no/such/footage.mp4"), "{stderr}");
}

#[test]
fn corrupt_jpeg_in_a_sequence_names_the_frame_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    fs::create_dir(&input).unwrap();
    gst_launch(&format!(
        "videotestsrc num-buffers=12 pattern=ball ! video/x-raw,width=160,height=120 ! jpegenc \
         ! multifilesink index=1 location={}/in%06d.jpg",
        input.display()
    ));
    let victim = input.join("in000007.jpg");
    let mut bytes = fs::read(&victim).unwrap();
    bytes.truncate(bytes.len() / 3);
    bytes.extend_from_slice(&[0x55; 64]);
    fs::write(&victim, bytes).unwrap();

    let stderr = run_fails(stillwatch().arg("bench").arg(dir.path()));
    assert!(stderr.contains("in000007.jpg"), "{stderr}");
}

#[test]
fn truncated_mp4_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    gst_launch(&format!(
        "videotestsrc num-buffers=50 ! video/x-raw,width=320,height=240 \
         ! x264enc speed-preset=ultrafast ! mp4mux ! filesink location={}",
        clip.display()
    ));
    let bytes = fs::read(&clip).unwrap();
    fs::write(&clip, &bytes[..bytes.len() / 2]).unwrap();

    let stderr = run_fails(stillwatch().arg("bench").arg(&clip));
    assert!(stderr.contains("clip.mp4"), "{stderr}");
}

#[test]
fn unknown_config_key_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    fs::write(
        &config,
        "[analysis]\nwidth = 320\n\n[detector]\nsensitivty = 3\n",
    )
    .unwrap();

    let stderr = run_fails(stillwatch().arg("check-config").arg(&config));
    assert!(stderr.contains("bad.toml:5"), "{stderr}");
    assert!(stderr.contains("sensitivty"), "{stderr}");

    let stderr = run_fails(
        stillwatch()
            .args(["bench", "--config"])
            .arg(&config)
            .arg("x.mp4"),
    );
    assert!(stderr.contains("sensitivty"), "{stderr}");
}
