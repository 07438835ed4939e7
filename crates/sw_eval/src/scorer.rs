//! Scoring a run frame by frame against ground truth, and the report it adds up to.
//!
//! Owns: which frames count, bringing each mask to the GT size, summing counts over a
//! sequence (CDnet sums counts, then computes metrics once), the frame-level score, and the
//! report's JSON and terminal forms. Does not own: the pixel rule or formulas (`counts`),
//! reading ground truth (`ground_truth`).
//!
//! Frame level: a scored frame's ground truth "has motion" when any label inside the ROI is
//! 255; the prediction is the caller's (its event logic's) verdict for that frame. Frames with
//! no evaluated pixel at all (every label 85 or 170) add nothing at either level.

use std::fmt;

use ndarray::ArrayView2;
use serde::Serialize;

use crate::EvalError;
use crate::counts::{ConfusionCounts, Metrics, tally_pixels};
use crate::ground_truth::GroundTruth;
use crate::resize::NearestResampler;

/// Accumulates counts over the frames of one sequence. Add frames in increasing order; frames
/// the ground truth does not score are skipped without reading anything.
#[derive(Debug, Default)]
pub struct Scorer {
    resampler: NearestResampler,
    /// The current mask at GT size, row-major; reused across frames.
    mask_at_gt_size: Vec<u8>,
    pixel_counts: ConfusionCounts,
    shadow_false_positives: u64,
    frame_counts: ConfusionCounts,
    frames_scored: u64,
    frames_expected: u64,
    last_frame_number: Option<u64>,
}

/// Counts and the metrics they give, at one level (pixels or frames).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    pub counts: ConfusionCounts,
    pub metrics: Metrics,
}

/// The scores of one sequence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Report {
    /// Scored frames that were added.
    pub frames_scored: u64,
    /// Frames the ground truth scores; more than `frames_scored` when the run stopped early or
    /// skipped frames.
    pub frames_expected: u64,
    /// Per pixel, summed over the scored frames, as CDnet's comparator counts.
    pub pixel: Scores,
    /// Pixels labelled shadow (50) that the mask called motion; already among `pixel`'s false
    /// positives (CDnet's `nbShadowErrors`).
    pub shadow_false_positives: u64,
    /// Per frame: was there motion in the ground truth, and did the caller say so.
    pub frame_level: Scores,
}

impl Scorer {
    /// Scores `frame_number` (the dataset's numbering) when `ground_truth` scores it:
    /// `mask_in_analysis_frame` (255 motion, anything else not; any size) is resized
    /// nearest-neighbour to the GT size and tallied per pixel, and `predicted_motion` is
    /// tallied per frame.
    pub fn add(
        &mut self,
        frame_number: u64,
        mask_in_analysis_frame: ArrayView2<u8>,
        predicted_motion: bool,
        ground_truth: &GroundTruth,
    ) -> Result<(), EvalError> {
        self.frames_expected = ground_truth.scored_frame_count();
        if !ground_truth.is_scored(frame_number) {
            return Ok(());
        }
        if let Some(previous_frame_number) = self.last_frame_number
            && frame_number <= previous_frame_number
        {
            return Err(EvalError::FrameOrder {
                frame_number,
                previous_frame_number,
            });
        }
        let (rows, cols) = mask_in_analysis_frame.dim();
        if rows == 0 || cols == 0 {
            return Err(EvalError::EmptyMask {
                frame_number,
                width: cols,
                height: rows,
            });
        }
        let labels = ground_truth.labels(frame_number)?;
        let (width, height) = ground_truth.frame_size();
        self.resampler.resample_into(
            mask_in_analysis_frame,
            width,
            height,
            &mut self.mask_at_gt_size,
        );
        let labels = labels
            .as_slice()
            .expect("labels are decoded in standard layout");
        let tally = tally_pixels(labels, &self.mask_at_gt_size);

        self.last_frame_number = Some(frame_number);
        self.frames_scored += 1;
        self.pixel_counts += tally.counts;
        self.shadow_false_positives += tally.shadow_false_positives;
        if tally.evaluated_pixels() > 0 {
            self.frame_counts
                .record(tally.has_motion(), predicted_motion);
        }
        Ok(())
    }

    pub fn report(&self) -> Report {
        let scores = |counts: ConfusionCounts| Scores {
            counts,
            metrics: counts.metrics(),
        };
        Report {
            frames_scored: self.frames_scored,
            frames_expected: self.frames_expected,
            pixel: scores(self.pixel_counts),
            shadow_false_positives: self.shadow_false_positives,
            frame_level: scores(self.frame_counts),
        }
    }
}

/// A few lines for the terminal; undefined metrics print as `-`.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "scored      {} of {} frames",
            self.frames_scored, self.frames_expected
        )?;
        write_scores(f, "pixels", &self.pixel)?;
        writeln!(
            f,
            "  (shadow pixels called motion: {})",
            self.shadow_false_positives
        )?;
        write_scores(f, "frames", &self.frame_level)
    }
}

fn write_scores(f: &mut fmt::Formatter<'_>, level: &str, scores: &Scores) -> fmt::Result {
    let metric = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"));
    let m = &scores.metrics;
    let c = &scores.counts;
    writeln!(
        f,
        "{level:<12}F {}  precision {}  recall {}  specificity {}  FPR {}  FNR {}  PWC {}",
        metric(m.f_measure),
        metric(m.precision),
        metric(m.recall),
        metric(m.specificity),
        metric(m.false_positive_rate),
        metric(m.false_negative_rate),
        metric(m.percentage_wrong_classifications),
    )?;
    write!(
        f,
        "            TP {}  FP {}  FN {}  TN {}",
        c.true_positives, c.false_positives, c.false_negatives, c.true_negatives
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use image::{GrayImage, Luma};
    use ndarray::{Array2, array};

    use super::*;

    /// A CDnet sequence in `dir` whose frames 1..=n have the given labels; frames 2.. scored.
    fn sequence(dir: &Path, frames: &[Array2<u8>], roi: Option<Array2<u8>>) -> GroundTruth {
        let groundtruth = dir.join("groundtruth");
        std::fs::create_dir_all(&groundtruth).unwrap();
        let image = |a: &Array2<u8>| {
            GrayImage::from_fn(a.ncols() as u32, a.nrows() as u32, |x, y| {
                Luma([a[[y as usize, x as usize]]])
            })
        };
        for (i, labels) in frames.iter().enumerate() {
            image(labels)
                .save(groundtruth.join(format!("gt{:06}.png", i + 1)))
                .unwrap();
        }
        if let Some(roi) = roi {
            image(&roi).save(dir.join("ROI.bmp")).unwrap();
        }
        std::fs::write(dir.join("temporalROI.txt"), format!("2 {}", frames.len())).unwrap();
        GroundTruth::open(dir).unwrap()
    }

    #[test]
    fn a_mask_at_half_size_is_scored_at_gt_size() {
        let dir = tempfile::tempdir().unwrap();
        let labels = array![
            [0, 0, 255, 255],
            [0, 0, 255, 255],
            [50, 50, 170, 170],
            [50, 50, 0, 85],
        ];
        let truth = sequence(dir.path(), &[Array2::zeros((4, 4)), labels], None);
        let mut scorer = Scorer::default();
        // Frame 1 is not scored: nothing is read or counted.
        scorer
            .add(1, array![[255, 255], [255, 255]].view(), true, &truth)
            .unwrap();
        // 2x2 analysis mask; each pixel covers a 2x2 GT block.
        scorer
            .add(2, array![[255, 0], [255, 0]].view(), true, &truth)
            .unwrap();
        let report = scorer.report();
        // Blocks: static called motion (FP 4), motion missed (FN 4), shadow called motion
        // (FP 4, shadow 4), unknown/outside ignored except the one static (TN 1).
        assert_eq!(
            report.pixel.counts,
            ConfusionCounts {
                true_positives: 0,
                false_positives: 8,
                false_negatives: 4,
                true_negatives: 1,
            }
        );
        assert_eq!(report.shadow_false_positives, 4);
        assert_eq!((report.frames_scored, report.frames_expected), (1, 1));
        assert_eq!(report.frame_level.counts.true_positives, 1);
    }

    #[test]
    fn counts_sum_over_frames_before_metrics_and_frames_are_scored_by_the_callers_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let motion = array![[255, 0], [0, 0]];
        let still = array![[0, 0], [0, 0]];
        let ignored = array![[85, 170], [85, 170]];
        let truth = sequence(
            dir.path(),
            &[
                still.clone(),
                motion.clone(),
                motion,
                still.clone(),
                still,
                ignored,
            ],
            None,
        );
        // (frame, mask, predicted_motion)
        let frames: [(u64, Array2<u8>, bool); 5] = [
            (2, array![[255, 0], [0, 0]], true),       // TP 1, TN 3; frame TP
            (3, array![[0, 0], [0, 0]], false),        // FN 1, TN 3; frame FN
            (4, array![[0, 255], [0, 0]], true),       // FP 1, TN 3; frame FP
            (5, array![[0, 0], [0, 0]], false),        // TN 4; frame TN
            (6, array![[255, 255], [255, 255]], true), // all ignored; no frame count
        ];
        let mut scorer = Scorer::default();
        for (frame_number, mask, predicted) in frames {
            scorer
                .add(frame_number, mask.view(), predicted, &truth)
                .unwrap();
        }
        let report = scorer.report();
        let one_each = ConfusionCounts {
            true_positives: 1,
            false_positives: 1,
            false_negatives: 1,
            true_negatives: 1,
        };
        assert_eq!(report.frame_level.counts, one_each);
        assert_eq!(
            report.pixel.counts,
            ConfusionCounts {
                true_negatives: 13,
                ..one_each
            }
        );
        assert_eq!(report.pixel.metrics.f_measure, Some(0.5));
        assert_eq!((report.frames_scored, report.frames_expected), (5, 5));
    }

    #[test]
    fn pixels_outside_the_roi_are_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let labels = array![[255, 255], [0, 0]];
        let roi = array![[255, 0], [0, 255]];
        let truth = sequence(dir.path(), &[labels.clone(), labels], Some(roi));
        let mut scorer = Scorer::default();
        scorer
            .add(2, array![[0, 255], [255, 0]].view(), false, &truth)
            .unwrap();
        let counts = scorer.report().pixel.counts;
        assert_eq!(
            counts,
            ConfusionCounts {
                true_positives: 0,
                false_positives: 0,
                false_negatives: 1,
                true_negatives: 1,
            }
        );
    }

    #[test]
    fn frames_out_of_order_or_empty_masks_are_errors_that_name_the_frame() {
        let dir = tempfile::tempdir().unwrap();
        let truth = sequence(dir.path(), &[array![[0]], array![[0]], array![[0]]], None);
        let mut scorer = Scorer::default();
        scorer.add(3, array![[0]].view(), false, &truth).unwrap();
        let err = scorer
            .add(2, array![[0]].view(), false, &truth)
            .unwrap_err();
        assert!(
            matches!(
                err,
                EvalError::FrameOrder {
                    frame_number: 2,
                    previous_frame_number: 3
                }
            ),
            "{err}"
        );
        let err = Scorer::default()
            .add(2, Array2::<u8>::zeros((0, 4)).view(), false, &truth)
            .unwrap_err();
        assert!(
            matches!(
                err,
                EvalError::EmptyMask {
                    frame_number: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn report_serialises_with_named_fields_and_prints_dashes_for_undefined_metrics() {
        let report = Scorer::default().report();
        let json = serde_json::to_value(report).unwrap();
        assert_eq!(json["pixel"]["counts"]["true_positives"], 0);
        assert!(json["frame_level"]["metrics"]["f_measure"].is_null());
        assert_eq!(json["shadow_false_positives"], 0);
        let text = report.to_string();
        assert!(text.contains("scored      0 of 0 frames"), "{text}");
        assert!(text.contains("F -  precision -"), "{text}");
    }
}
