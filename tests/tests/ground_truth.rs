//! `stillwatch bench` on the shared CDnet 2014 footage: the metrics are computed as CDnet's
//! comparator does (checked against an independent computation written here), and detection
//! quality stays above floors set from measurements (see docs/design/motion.md).

// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use serde_json::Value;
use sw_tests::{run_ok, shared_data, stillwatch};

/// Runs bench on `sequence` and returns its JSON report.
fn bench(sequence: &Path, out: &Path, masks: bool) -> Value {
    let json = out.join("report.json");
    let mut command = stillwatch();
    command.arg("bench").arg(sequence).arg("--json").arg(&json);
    if masks {
        command.arg("--masks-out").arg(out.join("masks"));
    }
    run_ok(&mut command);
    serde_json::from_slice(&fs::read(&json).unwrap()).unwrap()
}

fn number(report: &Value, pointer: &str) -> f64 {
    report
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {report:#}"))
}

/// Quality floors per sequence: (name, frames, pixel F-measure, frame-level F). Set a little
/// under the measured values so that a real regression fails.
const FLOORS: &[(&str, u64, f64, f64)] = &[
    ("highway", 1700, 0.94, 0.99),
    ("office", 2050, 0.94, 0.99),
    ("traffic", 1570, 0.84, 0.94),
];

#[test]
fn cdnet_sequences_stay_above_quality_floors() {
    let Some(data) = shared_data("cdnet_sequences_stay_above_quality_floors") else {
        return;
    };
    for &(name, frames, pixel_floor, frame_floor) in FLOORS {
        let out = tempfile::tempdir().unwrap();
        let report = bench(&data.join("cdnet2014").join(name), out.path(), false);
        let f = number(&report, "/ground_truth/pixel/metrics/f_measure");
        let frame_f = number(&report, "/ground_truth/frame_level/metrics/f_measure");
        println!("{name}: F {f:.4}, frame-level F {frame_f:.4}");
        assert_eq!(
            number(&report, "/frames") as u64,
            frames,
            "{name}: frame count"
        );
        assert!(
            f >= pixel_floor,
            "{name}: F-measure {f:.4} fell below {pixel_floor}"
        );
        assert!(
            frame_f >= frame_floor,
            "{name}: frame-level F {frame_f:.4} fell below {frame_floor}"
        );
    }
}

/// CDnet's comparator, written again from its definition: inside the ROI and the temporal ROI,
/// ground truth 85 and 170 are skipped, 255 is motion, everything else (0, 50) background; a
/// mask pixel is positive only when it is 255.
fn reference_counts(sequence: &Path, masks: &Path) -> [u64; 4] {
    let range = fs::read_to_string(sequence.join("temporalROI.txt")).unwrap();
    let bounds: Vec<u64> = range
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let roi = image::open(sequence.join("ROI.bmp")).unwrap().into_luma8();
    let (mut tp, mut fp, mut fn_, mut tn) = (0, 0, 0, 0);
    for frame in bounds[0]..=bounds[1] {
        let gt = image::open(sequence.join(format!("groundtruth/gt{frame:06}.png")))
            .unwrap()
            .into_luma8();
        let mask = image::open(masks.join(format!("bin{frame:06}.png")))
            .unwrap()
            .into_luma8();
        assert_eq!(
            mask.dimensions(),
            gt.dimensions(),
            "mask {frame} is not at GT size"
        );
        for (x, y, truth) in gt.enumerate_pixels() {
            let truth = truth.0[0];
            if roi.get_pixel(x, y).0[0] == 0 || truth == 85 || truth == 170 {
                continue;
            }
            match (mask.get_pixel(x, y).0[0] == 255, truth == 255) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fn_ += 1,
                (false, false) => tn += 1,
            }
        }
    }
    [tp, fp, fn_, tn]
}

#[test]
fn highway_counts_match_an_independent_comparator() {
    let Some(data) = shared_data("highway_counts_match_an_independent_comparator") else {
        return;
    };
    let sequence = data.join("cdnet2014/highway");
    let out = tempfile::tempdir().unwrap();
    let report = bench(&sequence, out.path(), true);
    let [tp, fp, fn_, tn] = reference_counts(&sequence, &out.path().join("masks"));
    let reported = |key: &str| number(&report, &format!("/ground_truth/pixel/counts/{key}")) as u64;
    assert_eq!(reported("true_positives"), tp);
    assert_eq!(reported("false_positives"), fp);
    assert_eq!(reported("false_negatives"), fn_);
    assert_eq!(reported("true_negatives"), tn);
    assert!(tp > 0 && tn > 0, "degenerate counts {tp} {fp} {fn_} {tn}");

    let (precision, recall) = (tp as f64 / (tp + fp) as f64, tp as f64 / (tp + fn_) as f64);
    let f = 2.0 * precision * recall / (precision + recall);
    assert!((number(&report, "/ground_truth/pixel/metrics/f_measure") - f).abs() < 1e-9);
}
