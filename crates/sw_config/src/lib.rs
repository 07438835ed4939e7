//! Stillwatch configuration: a TOML file parsed into raw serde structs, then validated into
//! types that cannot be wrong.
//!
//! Owns: the file format, defaults, validation and the error messages that name the file, line
//! and key; per-camera overrides merged over the top-level sections; where camera passwords
//! come from ([`SecretSource`]). Does not own: what the values mean (the option structs of
//! `sw_motion` and the other stages document that), reading any input other than the config
//! file and, when asked, a camera's password ([`SecretSource::read`]).
//!
//! Every key is documented, with its default and range, in `configs/README.md`.

mod camera;
mod detector;
mod onnx;
mod outputs;
mod privacy;
mod raw;
mod service;
mod validate;

use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use sw_motion::{DetectorOptions, EventOptions};

pub use camera::{CameraConfig, CameraCredentials, RtspClientChoice, SecretSource, Transport};
pub use onnx::{DetectorBackend, OnnxConfig, OnnxProvider};
pub use outputs::{AuditConfig, HttpConfig, MqttConfig, WebhookConfig, WebhookUrl};
pub use privacy::{CameraPrivacy, PrivacyConfig};
pub use service::ServiceConfig;
pub use validate::ConfigError;

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub analysis: AnalysisOptions,
    pub detector: DetectorOptions,
    /// `detector.backend`: the engine of the per-pixel step (cameras may choose their own).
    pub detector_backend: DetectorBackend,
    /// `[onnx]`: the ONNX engine's settings.
    pub onnx: OnnxConfig,
    pub events: EventOptions,
    /// `[service]`: settings of `stillwatch run`.
    pub service: ServiceConfig,
    /// `[privacy]`: the resolution ceiling, evidence folder, retention.
    pub privacy: PrivacyConfig,
    /// `[audit]`: `None` when the section is absent (no audit log).
    pub audit: Option<AuditConfig>,
    /// `[http]`: `None` when the section is absent (no HTTP server).
    pub http: Option<HttpConfig>,
    /// `[mqtt]`: `None` when the section is absent.
    pub mqtt: Option<MqttConfig>,
    /// `[[webhooks]]`, in file order.
    pub webhooks: Vec<WebhookConfig>,
    /// `[[cameras]]`, in file order, each with its overrides merged in.
    pub cameras: Vec<CameraConfig>,
}

/// How GStreamer reduces the video before Rust sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisOptions {
    /// Width of the GRAY8 analysis frame, in pixels.
    pub width: NonZeroU32,
    /// Height of the analysis frame; `None` keeps the source's display aspect ratio.
    pub height: Option<NonZeroU32>,
    /// Frame rate given to image sequences, which carry no timing of their own.
    pub sequence_fps: NonZeroU32,
}

impl Default for Config {
    fn default() -> Self {
        let context = validate::Context::new(&Source::BuiltIn, "");
        validate::config(raw::Config::default(), &context).expect("the built-in defaults are valid")
    }
}

/// Where a configuration came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    BuiltIn,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::BuiltIn => f.write_str("<built-in defaults>"),
        }
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, Source::File(path.to_path_buf()))
    }

    /// Parses and validates config text; `source` only labels error messages.
    pub fn parse(text: &str, source: Source) -> Result<Self, ConfigError> {
        let raw: raw::Config =
            toml::from_str(text).map_err(|error| ConfigError::parse(&source, text, &error))?;
        validate::config(raw, &validate::Context::new(&source, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Source::File("cam.toml".into())).map_err(|error| error.to_string())
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
        assert_eq!(Config::default().analysis.width.get(), 320);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases: &[(&str, &str)] = &[
            (
                "[analysis]\nwidth = 320\nwidht = 3\n",
                "cam.toml:3:1: unknown field `widht`, expected one of `width`, `height`, `sequence_fps`",
            ),
            (
                "[analysis]\nwidth = 0\n",
                "cam.toml:2: analysis.width: must be between 16 and 1920, got 0",
            ),
            (
                "[analysis]\nwidth = \"wide\"\n",
                "cam.toml:2:9: invalid type: string \"wide\", expected u32",
            ),
            ("[nope]\n", "cam.toml:1:2: unknown field `nope`"),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err();
            assert!(
                error.starts_with(expected),
                "for {text:?}\n  got:      {error}\n  expected: {expected}"
            );
        }
    }

    #[test]
    fn default_toml_spells_out_the_built_in_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/default.toml");
        assert_eq!(Config::load(&path).unwrap(), Config::default());
    }

    #[test]
    fn every_file_in_configs_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut loaded = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "toml") {
                Config::load(&path).unwrap_or_else(|error| panic!("{error}"));
                loaded += 1;
            }
        }
        assert!(loaded > 0, "no configs found in {}", dir.display());
    }
}
