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
    pub privacy: Privacy,
    #[serde(default)]
    pub onnx: Onnx,
    pub audit: Option<Spanned<Audit>>,
    pub http: Option<Spanned<Http>>,
    pub mqtt: Option<Spanned<Mqtt>>,
    #[serde(default)]
    pub webhooks: Vec<Spanned<Webhook>>,
    #[serde(default)]
    pub cameras: Vec<Spanned<Camera>>,
}

/// `[privacy]`: the resolution ceiling, evidence folder and retention.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Privacy {
    pub max_pixels_per_metre: Value<f64>,
    pub max_width_without_scene: Value<u32>,
    pub ceiling_override_reason: Value<String>,
    pub evidence_dir: Value<String>,
    pub retention_days: Value<u32>,
}

/// `[[cameras.zones]]`: a named area.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Zone {
    pub name: Value<String>,
    pub polygon: Value<Vec<[f64; 2]>>,
    pub sensitivity: Value<f64>,
    pub min_area_fraction: Value<f64>,
}

/// A camera's `evidence` setting.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Evidence {
    Off,
    Silhouette,
    Pixelated,
}

/// `[audit]`: the tamper-evident log.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Audit {
    pub dir: Value<String>,
    pub signing_key_file: Value<String>,
    pub fsync_interval_millis: Value<u64>,
    pub checkpoint_every_records: Value<u64>,
    pub checkpoint_interval_secs: Value<u64>,
}

/// `[mqtt]`: the broker.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Mqtt {
    pub host: Value<String>,
    pub port: Value<u16>,
    pub topic_prefix: Value<String>,
    pub discovery_enabled: Option<bool>,
    pub discovery_prefix: Value<String>,
    pub client_id: Value<String>,
    pub instance_id: Value<String>,
    pub username: Value<String>,
    pub password_env: Value<String>,
    pub password_file: Value<String>,
    pub tls_enabled: Option<bool>,
    pub tls_ca_file: Value<String>,
    pub spill_dir: Value<String>,
    pub memory_queue_events: Value<usize>,
}

/// One `[[webhooks]]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Webhook {
    pub url: Value<String>,
    pub url_env: Value<String>,
    pub url_file: Value<String>,
    pub hmac_secret_env: Value<String>,
    pub hmac_secret_file: Value<String>,
    pub timeout_millis: Value<u64>,
    pub outbox_dir: Value<String>,
}

/// `[http]`: status API and metrics.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Http {
    pub bind: Value<String>,
    pub token_env: Value<String>,
    pub token_file: Value<String>,
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
    pub rtsp_client: Value<RtspClient>,
    pub enabled: Option<bool>,
    pub analysis_fps: Value<u32>,
    pub width: Value<u32>,
    pub height: Value<u32>,
    pub scene_width_m: Value<f64>,
    #[serde(default)]
    pub masks: Vec<Spanned<Vec<[f64; 2]>>>,
    #[serde(default)]
    pub zones: Vec<Spanned<Zone>>,
    pub evidence: Value<Evidence>,
    pub evidence_block_pixels: Value<u32>,
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

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RtspClient {
    Auto,
    Gstreamer,
    Retina,
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
    pub ghost_after_frames: Value<u16>,
    pub cleanup_radius_pixels: Value<u8>,
    pub cleanup_min_votes: Value<u8>,
    pub max_hole_area_pixels: Value<u32>,
    pub min_blob_area_pixels: Value<u32>,
    pub grid_cols: Value<u16>,
    pub grid_rows: Value<u16>,
    pub max_shift_pixels: Value<u16>,
    pub brightness_compensation: Option<bool>,
    pub shading_suppression: Option<bool>,
    pub noise_radius_sixteenths: Value<u8>,
    pub strip_threads: Value<u8>,
    pub backend: Option<Backend>,
}

/// `detector.backend`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Backend {
    Native,
    Onnx,
}

/// `[onnx]`: the ONNX engine.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Onnx {
    pub provider: Option<Provider>,
    pub device_id: Value<u32>,
    pub batch_size: Value<usize>,
    pub batch_wait_millis: Value<u64>,
    pub workers: Value<usize>,
    pub intra_op_threads: Value<usize>,
    pub models_dir: Value<String>,
    pub runtime_library: Value<String>,
}

/// `onnx.provider`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Provider {
    Cpu,
    Cuda,
    Tensorrt,
    Openvino,
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
    ghost_after_frames,
    cleanup_radius_pixels,
    cleanup_min_votes,
    max_hole_area_pixels,
    min_blob_area_pixels,
    grid_cols,
    grid_rows,
    max_shift_pixels,
    brightness_compensation,
    shading_suppression,
    noise_radius_sixteenths,
    strip_threads,
    backend,
});

merge_over!(Events {
    start_score_fraction,
    end_score_fraction,
    min_duration_millis,
    cooldown_millis,
    update_interval_millis,
    max_boxes,
});
