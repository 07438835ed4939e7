//! `stillwatch privacy-report` on the example site config: every camera and zone is described,
//! no image is embedded, the same config gives the same bytes, and a config above the
//! resolution ceiling is refused with the camera and the numbers.

// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

use sw_tests::{run_ok, stillwatch, workspace_root};

#[test]
fn the_report_describes_every_camera_without_any_image_and_is_deterministic() {
    let config = workspace_root().join("configs/service-example.toml");
    let html = |out: &std::path::Path| {
        run_ok(
            stillwatch()
                .arg("privacy-report")
                .arg("--config")
                .arg(&config)
                .arg("--out")
                .arg(out),
        );
        std::fs::read_to_string(out).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let first = html(&dir.path().join("a.html"));
    let second = html(&dir.path().join("b.html"));
    assert_eq!(first, second, "the same config gives the same report");
    for expected in [
        "front-gate",
        "yard",
        "loading-bay",
        "lobby",
        "gate",
        "<svg",
        "25 px/m",
    ] {
        assert!(first.contains(expected), "no {expected:?} in the report");
    }
    for absent in ["<img", "<script", "rtsp://", "GATE_PASSWORD"] {
        assert!(!first.contains(absent), "{absent:?} in the report");
    }
    let markdown = run_ok(
        stillwatch()
            .arg("privacy-report")
            .arg("--config")
            .arg(&config)
            .arg("--markdown"),
    );
    let markdown = String::from_utf8(markdown.stdout).unwrap();
    assert!(markdown.starts_with("# Privacy report"), "{markdown}");
}

#[test]
fn a_camera_above_the_ceiling_is_refused_with_its_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        "[[cameras]]\nid = \"gate\"\nurl = \"rtsp://192.0.2.1/s\"\nwidth = 640\nscene_width_m = 10\n",
    )
    .unwrap();
    let output = stillwatch()
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cameras[0].width: camera gate: analysis width 640 px over a 10 m wide scene is 64 px/m, above the ceiling of 25 px/m"),
        "{stderr}"
    );
}

#[test]
fn cameras_on_the_onnx_backend_are_reported_with_the_pinned_graph_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            "[onnx]\nmodels_dir = \"{}\"\n\
             [[cameras]]\nid = \"gate\"\nurl = \"rtsp://192.0.2.1/s\"\n\
             [cameras.detector]\nbackend = \"onnx\"\n",
            workspace_root().join("models").display()
        ),
    )
    .unwrap();
    let output = run_ok(
        stillwatch()
            .arg("privacy-report")
            .arg("--config")
            .arg(&config)
            .arg("--markdown"),
    );
    let markdown = String::from_utf8(output.stdout).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("models/manifest.json")).unwrap(),
    )
    .unwrap();
    let models = manifest["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    for model in models {
        let (name, sha256) = (
            model["name"].as_str().unwrap(),
            model["sha256"].as_str().unwrap(),
        );
        assert!(
            markdown.contains(name) && markdown.contains(sha256),
            "no {name} {sha256} in\n{markdown}"
        );
    }
    assert!(
        markdown.contains("Camera(s) gate run the per-pixel part"),
        "{markdown}"
    );
}
