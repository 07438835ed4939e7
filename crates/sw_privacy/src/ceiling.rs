//! The resolution ceiling: no camera is analysed at a pixel density where a person could be
//! recognised.
//!
//! Owns: pixel density ([`pixels_per_metre`]), the EN 62676-4 DORI levels ([`DoriLevel`]),
//! [`CeilingCheck`] (the ceiling, the width cap for cameras of unknown scene width, and the
//! reason that allows raising either) and its verdict per camera ([`CeilingVerdict`], which the
//! service audits when it relied on a raised limit).
//! Does not own: config keys (the config crate maps them onto [`CeilingCheck`] and calls
//! [`CeilingCheck::check`] per camera at load) or the audit log.
//!
//! Density is the analysis width over the width of the watched scene, in pixels per metre,
//! measured where the scene is that wide (for a camera looking down a street, the width at the
//! distance that matters). EN 62676-4 names four levels of what an operator can do at a
//! density: detection from 25 px/m, observation from 62.5, recognition from 125 and
//! identification from 250. The default ceiling is the detection level: enough to see that
//! something moves, far too little to tell who it is. A face 16 cm wide is 4 pixels wide there.
//!
//! Raising the ceiling above 25 px/m, or the width cap above 320 pixels, needs a reason in the
//! config; no reason allows reaching the recognition level.

use serde::Serialize;
use sw_core::CameraId;

use crate::PrivacyError;

/// EN 62676-4: a person can be detected (seen to be there) from this density.
pub const DETECTION_PIXELS_PER_METRE: f64 = 25.0;
/// EN 62676-4: a person's clothing and actions can be observed from this density.
pub const OBSERVATION_PIXELS_PER_METRE: f64 = 62.5;
/// EN 62676-4: a known person can be recognised from this density; never allowed.
pub const RECOGNITION_PIXELS_PER_METRE: f64 = 125.0;
/// EN 62676-4: a stranger can be identified from this density.
pub const IDENTIFICATION_PIXELS_PER_METRE: f64 = 250.0;

/// Widest analysis frame allowed for a camera without `scene_width_m`, unless raised with a
/// reason. 320 pixels stays at or below the detection level for any scene 12.8 m wide or wider
/// (with a common 90° lens, anything 6.4 m or more from the camera), and below recognition
/// for any scene wider than 2.56 m (1.3 m away). Closer than that, only `scene_width_m` can
/// tell, which is why a close-up camera should give it.
pub const DEFAULT_MAX_WIDTH_WITHOUT_SCENE_PIXELS: u32 = 320;

/// Relative slack in comparisons, so that 320 pixels over 12.8 m counts as exactly 25 px/m.
const SLACK: f64 = 1e-9;

/// Pixels per metre of `width_pixels` spread over a scene `scene_width_m` wide.
pub fn pixels_per_metre(width_pixels: u32, scene_width_m: f64) -> f64 {
    f64::from(width_pixels) / scene_width_m
}

/// The EN 62676-4 level a density reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DoriLevel {
    /// Under 25 px/m.
    BelowDetection,
    /// 25 to 62.5 px/m.
    Detection,
    /// 62.5 to 125 px/m.
    Observation,
    /// 125 to 250 px/m.
    Recognition,
    /// 250 px/m and over.
    Identification,
}

impl DoriLevel {
    pub fn of(pixels_per_metre: f64) -> Self {
        let reaches = |level: f64| pixels_per_metre >= level * (1.0 - SLACK);
        if reaches(IDENTIFICATION_PIXELS_PER_METRE) {
            DoriLevel::Identification
        } else if reaches(RECOGNITION_PIXELS_PER_METRE) {
            DoriLevel::Recognition
        } else if reaches(OBSERVATION_PIXELS_PER_METRE) {
            DoriLevel::Observation
        } else if reaches(DETECTION_PIXELS_PER_METRE) {
            DoriLevel::Detection
        } else {
            DoriLevel::BelowDetection
        }
    }

    /// Words for a report: "detection (25 to 62.5 px/m)".
    pub fn describe(self) -> &'static str {
        match self {
            DoriLevel::BelowDetection => "below detection (under 25 px/m)",
            DoriLevel::Detection => "detection (25 to 62.5 px/m)",
            DoriLevel::Observation => "observation (62.5 to 125 px/m)",
            DoriLevel::Recognition => "recognition (125 to 250 px/m)",
            DoriLevel::Identification => "identification (250 px/m and over)",
        }
    }
}

/// The ceiling every camera is checked against.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CeilingCheck {
    /// Highest pixel density allowed, px/m. Default 25 (detection); in (0, 125); above 25 only
    /// with `override_reason`.
    pub max_pixels_per_metre: f64,
    /// Widest analysis frame, in pixels, for a camera without a scene width. Default 320;
    /// at least 1; above 320 only with `override_reason`.
    pub max_width_without_scene_pixels: u32,
    /// Why the limits above are raised: required to raise them, audited whenever a camera
    /// relies on it, and shown in the privacy report. `None` or non-blank.
    pub override_reason: Option<String>,
}

impl Default for CeilingCheck {
    fn default() -> Self {
        Self {
            max_pixels_per_metre: DETECTION_PIXELS_PER_METRE,
            max_width_without_scene_pixels: DEFAULT_MAX_WIDTH_WITHOUT_SCENE_PIXELS,
            override_reason: None,
        }
    }
}

/// A camera that passed the ceiling: its density and, when it relied on a raised limit, the
/// reason (then the service records the verdict in the audit log).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CeilingVerdict {
    pub camera: CameraId,
    pub width_pixels: u32,
    pub scene_width_m: Option<f64>,
    /// `None` when the scene width is unknown.
    pub pixels_per_metre: Option<f64>,
    pub dori_level: Option<DoriLevel>,
    /// The ceiling or cap the camera was checked against.
    pub limit: CeilingLimit,
    /// Set when the camera is above a default limit and passed only because it was raised.
    pub override_reason: Option<String>,
}

impl CeilingVerdict {
    /// True when the camera passed only thanks to a raised limit: audit it.
    pub fn is_override(&self) -> bool {
        self.override_reason.is_some()
    }
}

/// Which limit a camera was held to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CeilingLimit {
    /// The density ceiling, px/m (the camera has a scene width).
    PixelsPerMetre(f64),
    /// The width cap, pixels (the camera has none).
    WidthPixels(u32),
}

impl CeilingCheck {
    /// Refuses a check whose limits are out of range, or raised without a reason.
    pub fn validate(&self) -> Result<(), PrivacyError> {
        let ceiling = self.max_pixels_per_metre;
        if !(ceiling > 0.0 && ceiling < RECOGNITION_PIXELS_PER_METRE) {
            return Err(PrivacyError::CeilingOutOfRange { value: ceiling });
        }
        if self.max_width_without_scene_pixels == 0 {
            return Err(PrivacyError::WidthCapZero);
        }
        match &self.override_reason {
            Some(reason) if reason.trim().is_empty() => Err(PrivacyError::BlankOverrideReason),
            Some(_) => Ok(()),
            None if ceiling > DETECTION_PIXELS_PER_METRE => {
                Err(PrivacyError::CeilingRaisedWithoutReason { value: ceiling })
            }
            None if self.max_width_without_scene_pixels
                > DEFAULT_MAX_WIDTH_WITHOUT_SCENE_PIXELS =>
            {
                Err(PrivacyError::WidthCapRaisedWithoutReason {
                    value: self.max_width_without_scene_pixels,
                })
            }
            None => Ok(()),
        }
    }

    /// Checks `camera`, analysed `width_pixels` wide, watching a scene `scene_width_m` wide
    /// (metres, finite and positive; `None` when unknown). Refusals name the camera, the
    /// numbers and the fix.
    pub fn check(
        &self,
        camera: &CameraId,
        width_pixels: u32,
        scene_width_m: Option<f64>,
    ) -> Result<CeilingVerdict, PrivacyError> {
        self.validate()?;
        let verdict = |pixels_per_metre: Option<f64>, limit, above_default: bool| CeilingVerdict {
            camera: camera.clone(),
            width_pixels,
            scene_width_m,
            pixels_per_metre,
            dori_level: pixels_per_metre.map(DoriLevel::of),
            limit,
            override_reason: self.override_reason.clone().filter(|_| above_default),
        };
        let Some(scene_width_m) = scene_width_m else {
            let cap = self.max_width_without_scene_pixels;
            if width_pixels > cap {
                return Err(PrivacyError::WidthWithoutScene {
                    camera: camera.clone(),
                    width_pixels,
                    max_width_pixels: cap,
                });
            }
            let above_default = width_pixels > DEFAULT_MAX_WIDTH_WITHOUT_SCENE_PIXELS;
            return Ok(verdict(None, CeilingLimit::WidthPixels(cap), above_default));
        };
        if !(scene_width_m.is_finite() && scene_width_m > 0.0) {
            return Err(PrivacyError::SceneWidth {
                camera: camera.clone(),
                value: scene_width_m,
            });
        }
        let density = pixels_per_metre(width_pixels, scene_width_m);
        let max_width_pixels = max_width_pixels(self.max_pixels_per_metre, scene_width_m);
        if width_pixels > max_width_pixels {
            return Err(PrivacyError::AboveCeiling {
                camera: camera.clone(),
                width_pixels,
                scene_width_m,
                pixels_per_metre: density,
                max_pixels_per_metre: self.max_pixels_per_metre,
                max_width_pixels,
            });
        }
        let above_default = width_pixels > max_width_pixels_at_detection(scene_width_m);
        Ok(verdict(
            Some(density),
            CeilingLimit::PixelsPerMetre(self.max_pixels_per_metre),
            above_default,
        ))
    }
}

/// Widest analysis frame at or below `ceiling` px/m over a scene `scene_width_m` wide.
fn max_width_pixels(ceiling: f64, scene_width_m: f64) -> u32 {
    (ceiling * scene_width_m * (1.0 + SLACK))
        .floor()
        .min(f64::from(u32::MAX)) as u32
}

fn max_width_pixels_at_detection(scene_width_m: f64) -> u32 {
    max_width_pixels(DETECTION_PIXELS_PER_METRE, scene_width_m)
}

/// Smallest block, in analysis pixels, that brings `pixels_per_metre` down to `ceiling` px/m
/// or below, and never less than 2 (a pixelated image always merges pixels).
pub fn min_block_pixels(pixels_per_metre: f64, ceiling: f64) -> u32 {
    ((pixels_per_metre / ceiling) * (1.0 - SLACK))
        .ceil()
        .max(2.0) as u32
}

/// A number for messages and reports: at most `decimals` decimals, trailing zeros dropped.
pub(crate) fn number(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> CameraId {
        CameraId::new("gate").unwrap()
    }

    #[test]
    fn density_and_dori_levels() {
        #[rustfmt::skip]
        let table = [
            (320, 12.8, 25.0, DoriLevel::Detection),
            (320, 20.0, 16.0, DoriLevel::BelowDetection),
            (640, 10.0, 64.0, DoriLevel::Observation),
            (1920, 15.36, 125.0, DoriLevel::Recognition),
            (1920, 4.0, 480.0, DoriLevel::Identification),
        ];
        for (width, scene, expected, level) in table {
            let density = pixels_per_metre(width, scene);
            assert!((density - expected).abs() < 1e-9, "{width} over {scene}");
            assert_eq!(DoriLevel::of(density), level, "{width} over {scene}");
        }
    }

    #[test]
    fn cameras_pass_or_are_refused_with_the_numbers() {
        let default = CeilingCheck::default();
        let raised = CeilingCheck {
            max_pixels_per_metre: 40.0,
            max_width_without_scene_pixels: 480,
            override_reason: Some("loading dock: forklifts only, DPIA 2024-07".to_owned()),
        };
        /// check, width, scene width, Ok((density, overridden)) or the message
        type Row<'a> = (
            &'a CeilingCheck,
            u32,
            Option<f64>,
            Result<(Option<f64>, bool), &'a str>,
        );
        #[rustfmt::skip]
        let table: [Row; 10] = [
            (&default, 250, Some(10.0), Ok((Some(25.0), false))),
            (&default, 320, Some(12.8), Ok((Some(25.0), false))),
            (&default, 160, Some(50.0), Ok((Some(3.2), false))),
            (&default, 640, Some(10.0), Err("camera gate: analysis width 640 px over a 10 m wide scene is 64 px/m, above the ceiling of 25 px/m (EN 62676-4 detection level); lower `width` to 250 or less, or raise `privacy.max_pixels_per_metre` (below 125, where recognition starts) and give `privacy.ceiling_override_reason`")),
            (&default, 251, Some(10.0), Err("camera gate: analysis width 251 px over a 10 m wide scene is 25.1 px/m, above the ceiling of 25 px/m (EN 62676-4 detection level); lower `width` to 250 or less, or raise `privacy.max_pixels_per_metre` (below 125, where recognition starts) and give `privacy.ceiling_override_reason`")),
            (&default, 320, None, Ok((None, false))),
            (&default, 640, None, Err("camera gate: analysis width 640 px is above 320 px, the most allowed without `scene_width_m`; give `scene_width_m` (the width in metres of the area the camera watches) so its pixel density can be checked, lower `width` to 320 or less, or raise `privacy.max_width_without_scene` and give `privacy.ceiling_override_reason`")),
            (&raised, 400, Some(10.0), Ok((Some(40.0), true))),
            (&raised, 200, Some(10.0), Ok((Some(20.0), false))),
            (&raised, 401, Some(10.0), Err("camera gate: analysis width 401 px over a 10 m wide scene is 40.1 px/m, above the ceiling of 40 px/m (raised from 25 px/m with a reason); lower `width` to 400 or less, or raise `privacy.max_pixels_per_metre` (below 125, where recognition starts) and give `privacy.ceiling_override_reason`")),
        ];
        for (check, width, scene, expected) in table {
            let got = check
                .check(&gate(), width, scene)
                .map(|verdict| (verdict.pixels_per_metre, verdict.is_override()))
                .map_err(|error| error.to_string());
            assert_eq!(
                got,
                expected.map_err(str::to_owned),
                "{width} px over {scene:?} m"
            );
        }
        let verdict = raised.check(&gate(), 480, None).unwrap();
        assert_eq!(verdict.override_reason, raised.override_reason);
        assert_eq!(verdict.limit, CeilingLimit::WidthPixels(480));
    }

    #[test]
    fn bad_limits_and_scene_widths_are_refused() {
        let with = |max_pixels_per_metre, max_width_without_scene_pixels, reason: Option<&str>| {
            CeilingCheck {
                max_pixels_per_metre,
                max_width_without_scene_pixels,
                override_reason: reason.map(str::to_owned),
            }
        };
        #[rustfmt::skip]
        let table = [
            (with(30.0, 320, None), "`privacy.max_pixels_per_metre` is 30, above the default of 25 px/m (EN 62676-4 detection level); raising it needs `privacy.ceiling_override_reason`"),
            (with(125.0, 320, Some("why")), "`privacy.max_pixels_per_metre` is 125; it must be above 0 and below 125 px/m, where EN 62676-4 recognition starts"),
            (with(f64::NAN, 320, Some("why")), "`privacy.max_pixels_per_metre` is NaN; it must be above 0 and below 125 px/m, where EN 62676-4 recognition starts"),
            (with(25.0, 640, None), "`privacy.max_width_without_scene` is 640, above the default of 320 px; raising it needs `privacy.ceiling_override_reason`"),
            (with(25.0, 0, None), "`privacy.max_width_without_scene` must be at least 1 px"),
            (with(25.0, 320, Some("  ")), "`privacy.ceiling_override_reason` is blank; say why the ceiling is raised, or remove it"),
        ];
        for (check, expected) in table {
            assert_eq!(check.validate().unwrap_err().to_string(), expected);
            assert_eq!(
                check
                    .check(&gate(), 100, Some(10.0))
                    .unwrap_err()
                    .to_string(),
                expected
            );
        }
        for scene in [0.0, -3.0, f64::INFINITY] {
            let error = CeilingCheck::default()
                .check(&gate(), 100, Some(scene))
                .unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "camera gate: `scene_width_m` is {scene}; it must be a positive number of metres"
                )
            );
        }
    }

    #[test]
    fn block_sizes_bring_density_down_to_the_ceiling() {
        // density, ceiling, smallest block
        let table = [
            (25.0, 25.0, 2),
            (10.0, 25.0, 2),
            (64.0, 25.0, 3),
            (75.0, 25.0, 3),
            (100.0, 25.0, 4),
            (40.0, 40.0, 2),
        ];
        for (density, ceiling, expected) in table {
            assert_eq!(
                min_block_pixels(density, ceiling),
                expected,
                "{density} px/m"
            );
        }
    }

    #[test]
    fn numbers_drop_trailing_zeros() {
        let table = [
            (64.0, 1, "64"),
            (25.1, 1, "25.1"),
            (33.333, 1, "33.3"),
            (0.5, 2, "0.5"),
            (12.8, 1, "12.8"),
        ];
        for (value, decimals, expected) in table {
            assert_eq!(number(value, decimals), expected);
        }
    }
}
