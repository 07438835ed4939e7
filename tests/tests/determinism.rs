//! The same footage and config give byte-identical events and masks, so an auditor can re-run a
//! recording and check the service's output.

// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use sw_camsim::{ClipOptions, Codec, Resolution, SyntheticOptions};
use sw_tests::{run_ok, stillwatch};

fn bench(clip: &Path, out: &Path) {
    fs::create_dir(out).unwrap();
    run_ok(
        stillwatch()
            .arg("bench")
            .arg(clip)
            .arg("--events")
            .arg(out.join("events.jsonl"))
            .arg("--masks-out")
            .arg(out.join("masks")),
    );
}

#[test]
fn two_runs_give_byte_identical_events_and_masks() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("scene.mp4");
    sw_camsim::write_synthetic_clip(&ClipOptions {
        path: clip.clone(),
        scene: SyntheticOptions::default(),
        resolution: Resolution::new(320, 180),
        codec: Codec::H264,
        frames: 90,
    })
    .unwrap();
    let (first, second) = (dir.path().join("a"), dir.path().join("b"));
    bench(&clip, &first);
    bench(&clip, &second);

    let events = fs::read(first.join("events.jsonl")).unwrap();
    assert!(!events.is_empty(), "the moving scene raised no event");
    assert_eq!(events, fs::read(second.join("events.jsonl")).unwrap());

    let mut names: Vec<_> = fs::read_dir(first.join("masks"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 90, "one mask per frame");
    assert_eq!(names[0], "bin000000.png");
    for name in names {
        let a = fs::read(first.join("masks").join(&name)).unwrap();
        let b = fs::read(second.join("masks").join(&name)).unwrap();
        assert!(a == b, "{name:?} differs between runs");
    }
}
