//! Privacy in Stillwatch's data path: what is blanked, what is reported, what may be kept, for
//! how long, and the document that shows it all to a data protection officer.
//!
//! Owns: polygons in normalised coordinates and their pixels ([`Polygon`]); privacy masks
//! blanked before detection ([`PrivacyMask`]); named zones and the zones an event touched
//! ([`Zones`], [`ZoneAccumulator`]); the resolution ceiling ([`CeilingCheck`]); redacted
//! evidence images ([`EvidenceWriter`]); retention sweeps ([`sweep`]); and the privacy report
//! ([`PrivacyReport`]).
//! Does not own: detection (sw_motion), config keys and their file/line context (sw_config),
//! the audit log (sw_audit: this crate hands the service what to record, through return values
//! and callbacks), threads or GStreamer.
//!
//! Everything here is deterministic: the same inputs give the same pixels, files, hashes and
//! report bytes. See `docs/design/privacy.md`.

mod ceiling;
mod evidence;
mod mask;
mod polygon;
mod report;
mod retention;
mod zones;

use std::path::PathBuf;

use sw_core::CameraId;

pub use ceiling::{
    CeilingCheck, CeilingLimit, CeilingVerdict, DEFAULT_MAX_WIDTH_WITHOUT_SCENE_PIXELS,
    DETECTION_PIXELS_PER_METRE, DoriLevel, IDENTIFICATION_PIXELS_PER_METRE,
    OBSERVATION_PIXELS_PER_METRE, RECOGNITION_PIXELS_PER_METRE, min_block_pixels, pixels_per_metre,
};
pub use evidence::{
    DEFAULT_BLOCK_PIXELS, EvidenceKind, EvidenceOptions, EvidenceRecord, EvidenceWriter,
};
pub use mask::{BLANK_LUMA, PrivacyMask};
pub use polygon::{MAX_POLYGON_POINTS, MIN_AREA_FRACTION, Polygon};
pub use report::{AuditSummary, CameraInput, GraphSummary, Outputs, PrivacyReport, ReportInput};
pub use retention::{SweepOptions, SweepReport, sweep};
pub use zones::{
    DEFAULT_MIN_AREA_FRACTION, DEFAULT_SENSITIVITY, MAX_ZONE_NAME_CHARS, ZoneAccumulator, ZoneHit,
    ZoneSpec, Zones, check_unique_names,
};

/// What can go wrong. Polygon and zone errors say what is wrong but not where: the config
/// crate prefixes them with the file, line and key (`cameras[1].masks[0]`).
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("has {count} points; a polygon needs at least 3")]
    PolygonTooFewPoints { count: usize },
    #[error("has {count} points; at most {max} are allowed")]
    PolygonTooManyPoints { count: usize, max: usize },
    #[error(
        "point {point} [{x}, {y}] is outside the frame; coordinates are fractions of the frame, 0 to 1"
    )]
    PolygonPointOutside { point: usize, x: f64, y: f64 },
    #[error("points {point} and {next} are the same")]
    PolygonRepeatedPoint { point: usize, next: usize },
    #[error("edges {first} and {second} overlap or cross")]
    PolygonCrossesItself { first: usize, second: usize },
    #[error(
        "encloses {area_fraction:.1e} of the frame, less than the minimum of 1e-6; are its points in a line?"
    )]
    PolygonNoArea { area_fraction: f64 },

    #[error("zone name {name:?} {reason}")]
    ZoneName { name: String, reason: &'static str },
    #[error(
        "zone {zone:?}: sensitivity {value} is not in (0, 1]; it is the fraction of the zone's pixels that must move"
    )]
    ZoneSensitivity { zone: String, value: f64 },
    #[error(
        "zone {zone:?}: min_area_fraction {value} is not in [0, 1]; it is the fraction of the frame that must move inside the zone"
    )]
    ZoneMinArea { zone: String, value: f64 },
    #[error("zones {first} and {second} are both named {name:?}; zone names must differ")]
    DuplicateZone {
        name: String,
        first: usize,
        second: usize,
    },

    #[error(
        "{what} is {width}x{height} pixels but the privacy settings were built for {expected_width}x{expected_height}"
    )]
    FrameSize {
        what: &'static str,
        width: usize,
        height: usize,
        expected_width: usize,
        expected_height: usize,
    },

    #[error(
        "`privacy.max_pixels_per_metre` is {value}; it must be above 0 and below 125 px/m, where EN 62676-4 recognition starts"
    )]
    CeilingOutOfRange { value: f64 },
    #[error(
        "`privacy.max_pixels_per_metre` is {value}, above the default of 25 px/m (EN 62676-4 detection level); raising it needs `privacy.ceiling_override_reason`"
    )]
    CeilingRaisedWithoutReason { value: f64 },
    #[error("`privacy.max_width_without_scene` must be at least 1 px")]
    WidthCapZero,
    #[error(
        "`privacy.max_width_without_scene` is {value}, above the default of 320 px; raising it needs `privacy.ceiling_override_reason`"
    )]
    WidthCapRaisedWithoutReason { value: u32 },
    #[error(
        "`privacy.ceiling_override_reason` is blank; say why the ceiling is raised, or remove it"
    )]
    BlankOverrideReason,
    #[error("camera {camera}: `scene_width_m` is {value}; it must be a positive number of metres")]
    SceneWidth { camera: CameraId, value: f64 },
    #[error(
        "camera {camera}: analysis width {width_pixels} px over a {scene} m wide scene is {density} px/m, above the ceiling of {ceiling} px/m ({origin}); lower `width` to {max_width_pixels} or less, or raise `privacy.max_pixels_per_metre` (below 125, where recognition starts) and give `privacy.ceiling_override_reason`",
        scene = ceiling::number(*scene_width_m, 2),
        density = ceiling::number(*pixels_per_metre, 1),
        ceiling = ceiling::number(*max_pixels_per_metre, 1),
        origin = ceiling_origin(*max_pixels_per_metre),
    )]
    AboveCeiling {
        camera: CameraId,
        width_pixels: u32,
        scene_width_m: f64,
        pixels_per_metre: f64,
        max_pixels_per_metre: f64,
        max_width_pixels: u32,
    },
    #[error(
        "camera {camera}: analysis width {width_pixels} px is above {max_width_pixels} px, the most allowed without `scene_width_m`; give `scene_width_m` (the width in metres of the area the camera watches) so its pixel density can be checked, lower `width` to {max_width_pixels} or less, or raise `privacy.max_width_without_scene` and give `privacy.ceiling_override_reason`"
    )]
    WidthWithoutScene {
        camera: CameraId,
        width_pixels: u32,
        max_width_pixels: u32,
    },

    #[error(
        "camera {camera}: pixelated evidence needs `scene_width_m`, to make its blocks coarse enough for the ceiling; give it, or use `evidence = \"silhouette\"`"
    )]
    EvidenceNeedsSceneWidth { camera: CameraId },
    #[error(
        "camera {camera}: evidence blocks of {block_pixels} px leave {density} px/m at an analysis width of {width_pixels} px; blocks must be at least {min_block_pixels} px to stay within the ceiling of {ceiling} px/m",
        density = ceiling::number(*pixels_per_metre / f64::from(*block_pixels), 1),
        ceiling = ceiling::number(*max_pixels_per_metre, 1),
    )]
    EvidenceBlockTooFine {
        camera: CameraId,
        block_pixels: u32,
        min_block_pixels: u32,
        width_pixels: u32,
        pixels_per_metre: f64,
        max_pixels_per_metre: f64,
    },
    #[error("camera {camera}: cannot write evidence image {}", path.display())]
    EvidenceWrite {
        camera: CameraId,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("retention: {}: {source}", path.display())]
    Retention {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where a ceiling comes from, for messages.
fn ceiling_origin(max_pixels_per_metre: f64) -> &'static str {
    if max_pixels_per_metre > DETECTION_PIXELS_PER_METRE {
        "raised from 25 px/m with a reason"
    } else if max_pixels_per_metre < DETECTION_PIXELS_PER_METRE {
        "lowered by `privacy.max_pixels_per_metre`"
    } else {
        "EN 62676-4 detection level"
    }
}
