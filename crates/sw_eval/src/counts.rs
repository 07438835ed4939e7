//! Confusion counts and CDnet's seven metrics, and the per-pixel tally of one frame.
//!
//! Owns: the comparator's pixel rule and the metric formulas, including what happens when a
//! denominator is zero. Does not own: reading labels or resizing masks (`ground_truth`,
//! `resize`) or deciding which frames count (`scorer`).
//!
//! The pixel rule, as in CDnet's `Comparator.cpp`: a pixel is evaluated when its label is
//! neither 85 (outside the ROI) nor 170 (unknown); the mask calls it motion when it is exactly
//! 255; label 255 is motion and every other evaluated label (0 static, 50 shadow) is not.

use std::ops::AddAssign;

use serde::Serialize;

/// Label: static background.
pub(crate) const LABEL_STATIC: u8 = 0;
/// Label: hard shadow, scored as background.
pub(crate) const LABEL_SHADOW: u8 = 50;
/// Label: outside the region of interest, ignored.
pub(crate) const LABEL_OUTSIDE_ROI: u8 = 85;
/// Label: unknown (blurred edges), ignored.
pub(crate) const LABEL_UNKNOWN: u8 = 170;
/// Label: motion. Also the mask value that means "motion".
pub(crate) const LABEL_MOTION: u8 = 255;

/// How often each of the four outcomes happened (pixels or frames).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConfusionCounts {
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    pub true_negatives: u64,
}

/// CDnet 2014's seven metrics. A ratio whose denominator is zero is `None` (JSON `null`),
/// never NaN; see each field for the one exception.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metrics {
    /// TP / (TP + FN).
    pub recall: Option<f64>,
    /// TN / (TN + FP).
    pub specificity: Option<f64>,
    /// FP / (FP + TN).
    pub false_positive_rate: Option<f64>,
    /// FN / (TP + FN).
    pub false_negative_rate: Option<f64>,
    /// 100 * (FN + FP) / (TP + FN + FP + TN), CDnet's PWC.
    pub percentage_wrong_classifications: Option<f64>,
    /// TP / (TP + FP).
    pub precision: Option<f64>,
    /// 2 * precision * recall / (precision + recall) where that is defined. Where it is not,
    /// TP is 0: the F-measure is 0 when there was motion to find or motion was claimed
    /// (TP + FP + FN > 0), and `None` only when there was neither.
    pub f_measure: Option<f64>,
}

impl ConfusionCounts {
    /// Records one decision (used per frame).
    pub(crate) fn record(&mut self, actual_positive: bool, predicted_positive: bool) {
        match (actual_positive, predicted_positive) {
            (true, true) => self.true_positives += 1,
            (false, true) => self.false_positives += 1,
            (true, false) => self.false_negatives += 1,
            (false, false) => self.true_negatives += 1,
        }
    }

    /// The number of decisions counted.
    pub fn total(&self) -> u64 {
        self.true_positives + self.false_positives + self.false_negatives + self.true_negatives
    }

    pub fn metrics(&self) -> Metrics {
        let tp = self.true_positives as f64;
        let fp = self.false_positives as f64;
        let fn_ = self.false_negatives as f64;
        let tn = self.true_negatives as f64;
        let ratio =
            |numerator: f64, denominator: f64| (denominator > 0.0).then(|| numerator / denominator);
        let recall = ratio(tp, tp + fn_);
        let precision = ratio(tp, tp + fp);
        let f_measure = match (precision, recall) {
            (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
            _ => (tp + fp + fn_ > 0.0).then_some(0.0),
        };
        Metrics {
            recall,
            specificity: ratio(tn, tn + fp),
            false_positive_rate: ratio(fp, fp + tn),
            false_negative_rate: ratio(fn_, tp + fn_),
            percentage_wrong_classifications: ratio(100.0 * (fn_ + fp), tp + fn_ + fp + tn),
            precision,
            f_measure,
        }
    }
}

impl AddAssign for ConfusionCounts {
    fn add_assign(&mut self, other: Self) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.false_negatives += other.false_negatives;
        self.true_negatives += other.true_negatives;
    }
}

/// The per-pixel outcome of one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PixelTally {
    pub counts: ConfusionCounts,
    /// Pixels labelled shadow (50) that the mask called motion; already among the false
    /// positives (CDnet's `nbShadowErrors`).
    pub shadow_false_positives: u64,
}

impl PixelTally {
    /// Pixels that were evaluated (labels other than 85 and 170).
    pub fn evaluated_pixels(&self) -> u64 {
        self.counts.total()
    }

    /// Whether the ground truth has motion (a 255 label) anywhere it was evaluated.
    pub fn has_motion(&self) -> bool {
        self.counts.true_positives + self.counts.false_negatives > 0
    }
}

/// Tallies one frame: `labels` and `mask` are the same pixels in the same order.
///
/// Branch-free so that it vectorises: five sums of 0/1 flags, from which the four outcomes
/// follow. The sums run in `u8` over blocks of 255 pixels (so they cannot overflow), which
/// lets the compiler keep 16 or 32 pixels per vector lane; about 3x faster than `u32` sums.
pub(crate) fn tally_pixels(labels: &[u8], mask: &[u8]) -> PixelTally {
    debug_assert_eq!(labels.len(), mask.len());
    const BLOCK_PIXELS: usize = u8::MAX as usize;
    let (mut evaluated, mut positive, mut true_positive, mut predicted, mut shadow_predicted) =
        (0_u64, 0_u64, 0_u64, 0_u64, 0_u64);
    for (labels, mask) in labels.chunks(BLOCK_PIXELS).zip(mask.chunks(BLOCK_PIXELS)) {
        let mut sums = [0_u8; 5];
        for (&label, &value) in labels.iter().zip(mask) {
            let is_evaluated =
                u8::from(label != LABEL_OUTSIDE_ROI) & u8::from(label != LABEL_UNKNOWN);
            let is_positive = u8::from(label == LABEL_MOTION);
            let is_predicted = u8::from(value == LABEL_MOTION);
            sums[0] += is_evaluated;
            sums[1] += is_positive;
            sums[2] += is_positive & is_predicted;
            sums[3] += is_evaluated & is_predicted;
            sums[4] += u8::from(label == LABEL_SHADOW) & is_predicted;
        }
        evaluated += u64::from(sums[0]);
        positive += u64::from(sums[1]);
        true_positive += u64::from(sums[2]);
        predicted += u64::from(sums[3]);
        shadow_predicted += u64::from(sums[4]);
    }
    let false_positive = predicted - true_positive;
    PixelTally {
        counts: ConfusionCounts {
            true_positives: true_positive,
            false_positives: false_positive,
            false_negatives: positive - true_positive,
            true_negatives: evaluated - positive - false_positive,
        },
        shadow_false_positives: shadow_predicted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(tp: u64, fp: u64, fn_: u64, tn: u64) -> ConfusionCounts {
        ConfusionCounts {
            true_positives: tp,
            false_positives: fp,
            false_negatives: fn_,
            true_negatives: tn,
        }
    }

    #[test]
    fn each_label_and_mask_value_lands_in_the_comparators_bucket() {
        // (label, mask value, expected (tp, fp, fn, tn), shadow false positive)
        type Row = (u8, u8, (u64, u64, u64, u64), u64);
        let table: [Row; 15] = [
            (LABEL_MOTION, 255, (1, 0, 0, 0), 0),
            (LABEL_MOTION, 0, (0, 0, 1, 0), 0),
            // Only exactly 255 is a detection, as in the comparator.
            (LABEL_MOTION, 254, (0, 0, 1, 0), 0),
            (LABEL_MOTION, 1, (0, 0, 1, 0), 0),
            (LABEL_STATIC, 255, (0, 1, 0, 0), 0),
            (LABEL_STATIC, 0, (0, 0, 0, 1), 0),
            (LABEL_SHADOW, 255, (0, 1, 0, 0), 1),
            (LABEL_SHADOW, 0, (0, 0, 0, 1), 0),
            (LABEL_OUTSIDE_ROI, 255, (0, 0, 0, 0), 0),
            (LABEL_OUTSIDE_ROI, 0, (0, 0, 0, 0), 0),
            (LABEL_UNKNOWN, 255, (0, 0, 0, 0), 0),
            (LABEL_UNKNOWN, 0, (0, 0, 0, 0), 0),
            // Values outside CDnet's five labels are evaluated and are not motion.
            (1, 255, (0, 1, 0, 0), 0),
            (254, 0, (0, 0, 0, 1), 0),
            (128, 255, (0, 1, 0, 0), 0),
        ];
        for (label, value, (tp, fp, fn_, tn), shadow) in table {
            let tally = tally_pixels(&[label], &[value]);
            assert_eq!(
                tally.counts,
                counts(tp, fp, fn_, tn),
                "label {label}, mask {value}"
            );
            assert_eq!(
                tally.shadow_false_positives, shadow,
                "label {label}, mask {value}"
            );
        }
    }

    #[test]
    fn a_frame_sums_its_pixels() {
        let labels = [0, 0, 50, 50, 85, 170, 255, 255, 255, 0];
        let mask = [0, 255, 255, 0, 255, 255, 255, 255, 0, 0];
        let tally = tally_pixels(&labels, &mask);
        assert_eq!(tally.counts, counts(2, 2, 1, 3));
        assert_eq!(tally.shadow_false_positives, 1);
        assert_eq!(tally.evaluated_pixels(), 8);
        assert!(tally.has_motion());
        assert!(!tally_pixels(&[0, 85, 170, 50], &[255; 4]).has_motion());
    }

    #[test]
    fn metrics_follow_cdnets_formulas() {
        // TP 60, FP 20, FN 40, TN 880.
        let m = counts(60, 20, 40, 880).metrics();
        let close = |got: Option<f64>, want: f64| {
            let got = got.expect("defined");
            assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
        };
        close(m.recall, 0.6);
        close(m.specificity, 880.0 / 900.0);
        close(m.false_positive_rate, 20.0 / 900.0);
        close(m.false_negative_rate, 0.4);
        close(m.percentage_wrong_classifications, 6.0);
        close(m.precision, 0.75);
        close(m.f_measure, 2.0 * 0.75 * 0.6 / 1.35);
    }

    #[test]
    fn zero_denominators_give_none_or_zero_never_nan() {
        // (counts, recall, precision, specificity, pwc, f_measure)
        type Row = (
            ConfusionCounts,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            Option<f64>,
        );
        let table: [Row; 5] = [
            // Nothing counted at all.
            (counts(0, 0, 0, 0), None, None, None, None, None),
            // Only background, all right: nothing to find, nothing claimed.
            (counts(0, 0, 0, 10), None, None, Some(1.0), Some(0.0), None),
            // Motion missed entirely, nothing claimed: precision undefined, F 0.
            (
                counts(0, 0, 5, 5),
                Some(0.0),
                None,
                Some(1.0),
                Some(50.0),
                Some(0.0),
            ),
            // Only false alarms: recall undefined, F 0.
            (
                counts(0, 5, 0, 5),
                None,
                Some(0.0),
                Some(0.5),
                Some(50.0),
                Some(0.0),
            ),
            // Both zero: P + R = 0, F 0.
            (
                counts(0, 5, 5, 0),
                Some(0.0),
                Some(0.0),
                Some(0.0),
                Some(100.0),
                Some(0.0),
            ),
        ];
        for (c, recall, precision, specificity, pwc, f) in table {
            let m = c.metrics();
            assert_eq!(m.recall, recall, "{c:?}");
            assert_eq!(m.precision, precision, "{c:?}");
            assert_eq!(m.specificity, specificity, "{c:?}");
            assert_eq!(m.percentage_wrong_classifications, pwc, "{c:?}");
            assert_eq!(m.f_measure, f, "{c:?}");
        }
    }

    #[test]
    fn metrics_serialise_undefined_ratios_as_null() {
        let json = serde_json::to_string(&counts(0, 0, 0, 3).metrics()).unwrap();
        assert_eq!(
            json,
            r#"{"recall":null,"specificity":1.0,"false_positive_rate":0.0,"false_negative_rate":null,"percentage_wrong_classifications":0.0,"precision":null,"f_measure":null}"#
        );
    }

    #[test]
    fn recording_decisions_counts_frames() {
        let mut c = ConfusionCounts::default();
        for (actual, predicted) in [
            (true, true),
            (true, false),
            (false, true),
            (false, false),
            (true, true),
        ] {
            c.record(actual, predicted);
        }
        assert_eq!(c, counts(2, 1, 1, 1));
        assert_eq!(c.total(), 5);
    }
}
