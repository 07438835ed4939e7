//! sw_eval on the real ground truth in `/work/shared/data` (CDnet 2014 highway, office,
//! traffic; Wallflower WavingTrees). Each test prints a reason and passes when the data is absent.

// A skipped test says why, and the scoring tests show their report (`--nocapture`).
#![allow(clippy::print_stderr)]

use std::path::PathBuf;

use ndarray::Array2;
use sw_eval::{ConfusionCounts, GroundTruth, GroundTruthKind, Scorer, resize_nearest};

fn data_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: no test footage at {}", dir.display());
        None
    }
}

/// The motion mask a perfect detector would give: 255 where the label is 255.
fn perfect_mask(labels: &Array2<u8>) -> Array2<u8> {
    labels.mapv(|label| if label == 255 { 255 } else { 0 })
}

#[test]
fn cdnet_sequences_are_discovered_from_the_sequence_or_its_input_folder() {
    let Some(data) = data_dir() else { return };
    // (sequence, first and last scored frame, width, height)
    let table = [
        ("highway", (470, 1700), (320, 240)),
        ("office", (570, 2050), (360, 240)),
        ("traffic", (900, 1570), (320, 240)),
    ];
    for (name, range, size) in table {
        let sequence = data.join("cdnet2014").join(name);
        for input in [
            sequence.clone(),
            sequence.join("input"),
            sequence.join("input/in%06d.jpg"),
        ] {
            let truth = GroundTruth::discover(&input)
                .unwrap()
                .unwrap_or_else(|| panic!("no ground truth found from {}", input.display()));
            assert_eq!(truth.kind(), GroundTruthKind::Cdnet, "{name}");
            assert_eq!(truth.scored_range(), range, "{name}");
            assert_eq!(truth.scored_frame_count(), range.1 - range.0 + 1, "{name}");
            assert_eq!(truth.frame_size(), size, "{name}");
            assert!(truth.roi().is_none(), "{name}: the ROI is the whole frame");
            assert!(
                !truth.is_scored(range.0 - 1) && truth.is_scored(range.0),
                "{name}"
            );
            assert!(
                truth.is_scored(range.1) && !truth.is_scored(range.1 + 1),
                "{name}"
            );
        }
        let opened = GroundTruth::open(&sequence.join("groundtruth")).unwrap();
        assert_eq!(
            opened.scored_range(),
            range,
            "{name}: groundtruth/ finds temporalROI.txt"
        );
        // The warm-up frames' ground truth is entirely "outside ROI".
        let warm_up = opened.labels(1).unwrap();
        assert!(warm_up.iter().all(|&label| label == 85), "{name}");
    }
}

#[test]
fn traffic_roi_bmp_decodes_as_all_white_and_is_cropped_to_the_frame() {
    let Some(data) = data_dir() else { return };
    let traffic = data.join("cdnet2014/traffic");
    // A 352x240 8-bit two-colour BMP, wider than the 320x240 frames.
    let roi = image::open(traffic.join("ROI.bmp")).unwrap().into_luma8();
    assert_eq!((roi.width(), roi.height()), (352, 240));
    assert!(
        roi.pixels().all(|pixel| pixel.0[0] == 255),
        "the ROI decodes as stripes"
    );
    let truth = GroundTruth::open(&traffic).unwrap();
    assert_eq!(truth.frame_size(), (320, 240));
    assert!(truth.roi().is_none(), "whole 320x240 frame evaluated");
    let labels = truth.labels(1000).unwrap();
    assert_eq!(labels.dim(), (240, 320));
    assert!(
        labels.iter().all(|&label| label != 85),
        "no pixel of a scored frame is outside the ROI"
    );
}

#[test]
fn wallflower_waving_trees_scores_frame_247_only() {
    let Some(data) = data_dir() else { return };
    let folder = data.join("wallflower/WavingTrees");
    for input in [folder.clone(), folder.join("b%05d.bmp")] {
        let truth = GroundTruth::discover(&input)
            .unwrap()
            .expect("Wallflower ground truth");
        assert_eq!(truth.kind(), GroundTruthKind::Wallflower);
        assert_eq!(truth.frame_size(), (160, 120));
        let scored: Vec<u64> = (0..=286).filter(|&n| truth.is_scored(n)).collect();
        assert_eq!(scored, [247]);
        let labels = truth.labels(247).unwrap();
        assert!(labels.iter().all(|&label| label == 0 || label == 255));
        let motion_pixels = labels.iter().filter(|&&label| label == 255).count();
        eprintln!(
            "WavingTrees frame 247: {motion_pixels} motion pixels of {}",
            labels.len()
        );
        assert!(motion_pixels > 0 && motion_pixels < labels.len() / 2);
    }
}

#[test]
fn ground_truth_scored_against_itself_gives_f_measure_one() {
    let Some(data) = data_dir() else { return };
    let truth = GroundTruth::open(&data.join("cdnet2014/highway")).unwrap();
    let (first, last) = truth.scored_range();
    let mut scorer = Scorer::default();
    // Start before the temporal ROI: those frames must be skipped.
    for frame_number in first - 5..=last {
        let mask = perfect_mask(&truth.labels(frame_number).unwrap());
        let has_motion = mask.iter().any(|&value| value == 255);
        scorer
            .add(frame_number, mask.view(), has_motion, &truth)
            .unwrap();
    }
    let report = scorer.report();
    eprintln!("{report}");
    assert_eq!((report.frames_scored, report.frames_expected), (1231, 1231));
    let ConfusionCounts {
        true_positives,
        false_positives,
        false_negatives,
        ..
    } = report.pixel.counts;
    assert!(true_positives > 0);
    assert_eq!((false_positives, false_negatives), (0, 0));
    assert_eq!(report.pixel.metrics.f_measure, Some(1.0));
    assert_eq!(
        report.pixel.metrics.percentage_wrong_classifications,
        Some(0.0)
    );
    assert_eq!(report.frame_level.metrics.f_measure, Some(1.0));
}

#[test]
fn office_ground_truth_through_the_analysis_size_and_back_stays_close() {
    let Some(data) = data_dir() else { return };
    let truth = GroundTruth::open(&data.join("cdnet2014/office")).unwrap();
    let (first, last) = truth.scored_range();
    let mut scorer = Scorer::default();
    for frame_number in (first..=last).step_by(10) {
        let mask = perfect_mask(&truth.labels(frame_number).unwrap());
        // 360x240 analysed at 320 wide, aspect kept: 320x213.
        let analysis = resize_nearest(mask.view(), 320, 213);
        let has_motion = mask.iter().any(|&value| value == 255);
        scorer
            .add(frame_number, analysis.view(), has_motion, &truth)
            .unwrap();
    }
    let report = scorer.report();
    eprintln!("{report}");
    let f = report.pixel.metrics.f_measure.expect("office has motion");
    assert!(f > 0.95 && f < 1.0, "F {f}");
    assert_eq!(report.frame_level.metrics.f_measure, Some(1.0));
}
