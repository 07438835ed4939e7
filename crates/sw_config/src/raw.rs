//! The config file exactly as written: every key optional, unknown keys refused, each value
//! with its position in the file so validation errors can name the line.
//!
//! Owns: the file's shape. Does not own: defaults or ranges (see `validate`).

use serde::Deserialize;
use toml::Spanned;

/// A value as written, with its byte span in the file.
pub(crate) type Value<T> = Option<Spanned<T>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    #[serde(default)]
    pub analysis: Analysis,
    #[serde(default)]
    pub detector: Detector,
    #[serde(default)]
    pub events: Events,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Analysis {
    pub width: Value<u32>,
    pub height: Value<u32>,
    pub sequence_fps: Value<u32>,
}

/// `[detector]`: keys named as `sw_motion::DetectorOptions`' fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Detector {
    pub samples_per_pixel: Value<usize>,
    pub match_radius_luma: Value<u8>,
    pub min_matches: Value<u8>,
    pub update_subsampling: Value<u32>,
    pub propagation_enabled: Option<bool>,
    pub seed: Value<u64>,
    pub flicker_increment: Value<u8>,
    pub flicker_decrement: Value<u8>,
    pub flicker_max_extra_radius_luma: Value<u8>,
    pub absorb_after_frames: Value<u16>,
    pub cleanup_min_votes: Value<u8>,
    pub max_hole_area_pixels: Value<u32>,
    pub min_blob_area_pixels: Value<u32>,
    pub grid_cols: Value<u16>,
    pub grid_rows: Value<u16>,
}

/// `[events]`: keys named as `sw_motion::EventOptions`' fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Events {
    pub start_score_fraction: Value<f64>,
    pub end_score_fraction: Value<f64>,
    pub min_duration_millis: Value<u64>,
    pub cooldown_millis: Value<u64>,
    pub update_interval_millis: Value<u64>,
    pub max_boxes: Value<usize>,
}
