//! The config file exactly as written: every key optional, unknown keys refused, each value
//! with its position in the file so validation errors can name the line.
//!
//! Owns: the file's shape. Does not own: defaults or ranges (see `validate`).

use serde::Deserialize;
use serde::de::IgnoredAny;
use sw_core::{StreamKind, Vendor};
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
    #[serde(default)]
    pub service: Service,
    #[serde(default)]
    pub cameras: Vec<Spanned<Camera>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Analysis {
    pub width: Value<u32>,
    pub height: Value<u32>,
    pub sequence_fps: Value<u32>,
}

/// `[service]`: settings of `stillwatch run` shared by every camera.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Service {
    pub analysis_fps: Value<u32>,
    pub events_path: Value<String>,
    pub queue_frames: Value<usize>,
    pub connect_timeout_millis: Value<u64>,
    pub stall_timeout_millis: Value<u64>,
    pub backoff_initial_millis: Value<u64>,
    pub backoff_max_millis: Value<u64>,
    pub auth_retry_millis: Value<u64>,
}

/// One `[[cameras]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Camera {
    pub id: Value<String>,
    pub url: Value<String>,
    pub vendor: Value<Vendor>,
    pub host: Value<String>,
    pub port: Value<u32>,
    pub channel: Value<u32>,
    pub stream: Value<StreamKind>,
    pub username: Value<String>,
    /// Refused: passwords never live in the config body. Parsed without keeping the value, so
    /// that it can be refused with a helpful message and is never held or printed.
    pub password: Value<IgnoredAny>,
    pub password_env: Value<String>,
    pub password_file: Value<String>,
    pub transport: Value<Transport>,
    pub enabled: Option<bool>,
    pub analysis_fps: Value<u32>,
    pub width: Value<u32>,
    pub height: Value<u32>,
    #[serde(default)]
    pub detector: Detector,
    #[serde(default)]
    pub events: Events,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Transport {
    Tcp,
    Udp,
}

/// `[detector]`: keys named as `sw_motion::DetectorOptions`' fields.
#[derive(Debug, Default, Clone, Deserialize)]
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
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Events {
    pub start_score_fraction: Value<f64>,
    pub end_score_fraction: Value<f64>,
    pub min_duration_millis: Value<u64>,
    pub cooldown_millis: Value<u64>,
    pub update_interval_millis: Value<u64>,
    pub max_boxes: Value<usize>,
}

/// Keeps `self`'s values and takes each missing one from `base`: how a camera's
/// `[cameras.detector]` / `[cameras.events]` table is merged over the top-level one.
macro_rules! merge_over {
    ($type:ident { $($field:ident),* $(,)? }) => {
        impl $type {
            pub(crate) fn over(&self, base: &Self) -> Self {
                Self {
                    $($field: self.$field.clone().or_else(|| base.$field.clone()),)*
                }
            }
        }
    };
}

merge_over!(Detector {
    samples_per_pixel,
    match_radius_luma,
    min_matches,
    update_subsampling,
    propagation_enabled,
    seed,
    flicker_increment,
    flicker_decrement,
    flicker_max_extra_radius_luma,
    absorb_after_frames,
    cleanup_min_votes,
    max_hole_area_pixels,
    min_blob_area_pixels,
    grid_cols,
    grid_rows,
});

merge_over!(Events {
    start_score_fraction,
    end_score_fraction,
    min_duration_millis,
    cooldown_millis,
    update_interval_millis,
    max_boxes,
});
