//! Validation: raw values checked against their ranges, defaults filled in, and errors that
//! say which file, line and key is wrong and why.
//!
//! Owns: defaults (taken from the option structs' `Default`), ranges and messages. Does not own:
//! parsing (serde and `toml` do that) or the meaning of the values.

use std::fmt::Display;
use std::num::NonZeroU32;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::raw::{self, Value};
use crate::{AnalysisOptions, Config, Source};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read config: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}:{line}: {key}: {message}")]
    Invalid {
        file: String,
        line: usize,
        key: String,
        message: String,
    },
    /// A secret (a camera's password, the HTTP token, ...) could not be read at service start
    /// (the config itself was valid). Names where it was to come from, never the secret.
    #[error("{owner}: cannot read its {what} ({key} = {name:?}): {reason}")]
    Secret {
        /// Whose secret: `camera gate`, `[http]`, `[mqtt]`, `webhooks[0]`.
        owner: String,
        /// What it is: `password`, `token`, `HMAC secret`.
        what: String,
        key: String,
        name: String,
        reason: String,
    },
}

impl ConfigError {
    pub(crate) fn parse(source: &Source, text: &str, error: &toml::de::Error) -> Self {
        let (line, column) = line_column(text, error.span().map_or(0, |span| span.start));
        ConfigError::Parse {
            file: source.to_string(),
            line,
            column,
            message: error.message().trim_end().to_string(),
        }
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |newline| newline + 1) + 1;
    (line, column)
}

/// The file being validated, for error messages.
pub(crate) struct Context<'a> {
    pub source: &'a Source,
    pub text: &'a str,
    /// Written before every key in messages: `cameras[2].` inside a camera entry, else empty.
    pub key_prefix: &'a str,
}

impl<'a> Context<'a> {
    /// The whole file: keys named from the top.
    pub fn new(source: &'a Source, text: &'a str) -> Self {
        Self {
            source,
            text,
            key_prefix: "",
        }
    }

    /// The same file, naming keys under `key_prefix` (e.g. `cameras[2].`).
    pub fn scoped(&self, key_prefix: &'a str) -> Self {
        Self {
            source: self.source,
            text: self.text,
            key_prefix,
        }
    }

    /// The folder relative paths in the file are taken from: the config file's own folder
    /// (the working directory for built-in text).
    pub fn base_dir(&self) -> &'a Path {
        match self.source {
            Source::File(path) => path.parent().unwrap_or(Path::new("")),
            Source::BuiltIn => Path::new(""),
        }
    }

    /// A `ConfigError::Invalid` for `key` at the line where `span` starts.
    pub fn invalid(&self, key: &str, span: Range<usize>, message: impl Display) -> ConfigError {
        ConfigError::Invalid {
            file: self.source.to_string(),
            line: line_column(self.text, span.start).0,
            key: format!("{}{key}", self.key_prefix),
            message: message.to_string(),
        }
    }

    /// The 1-based line where `span` starts.
    pub fn line(&self, span: Range<usize>) -> usize {
        line_column(self.text, span.start).0
    }

    /// A number checked to lie in `min..=max`, or `default` when the key is absent.
    pub fn in_range<T>(
        &self,
        key: &str,
        value: &Value<T>,
        min: T,
        max: T,
        default: T,
    ) -> Result<T, ConfigError>
    where
        T: PartialOrd + Display + Copy,
    {
        let Some(value) = value else {
            return Ok(default);
        };
        let got = *value.get_ref();
        if got < min || got > max {
            return Err(self.invalid(
                key,
                value.span(),
                format!("must be between {min} and {max}, got {got}"),
            ));
        }
        Ok(got)
    }

    /// A fraction checked to lie in 0..=1.
    pub fn fraction(
        &self,
        key: &str,
        value: &Value<f64>,
        default: f32,
    ) -> Result<f32, ConfigError> {
        self.in_range(key, value, 0.0, 1.0, f64::from(default))
            .map(|got| got as f32)
    }

    /// Fails with `message` at `value`'s line when `ok` is false.
    pub fn check<T>(
        &self,
        key: &str,
        value: &Spanned<T>,
        ok: bool,
        message: &str,
    ) -> Result<(), ConfigError> {
        if ok {
            Ok(())
        } else {
            Err(self.invalid(key, value.span(), message))
        }
    }
}

pub(crate) fn non_zero(value: u32) -> NonZeroU32 {
    NonZeroU32::new(value).unwrap_or(NonZeroU32::MIN)
}

pub(crate) fn config(raw: raw::Config, context: &Context<'_>) -> Result<Config, ConfigError> {
    let analysis = analysis(&raw.analysis, context)?;
    let service = crate::service::service(&raw.service, context)?;
    let audit = crate::outputs::audit(raw.audit.as_ref(), context)?;
    let privacy = crate::privacy::privacy(
        &raw.privacy,
        audit.as_ref().map(|audit| audit.dir.as_path()),
        context,
    )?;
    let cameras = crate::camera::cameras(&raw, &analysis, &service, &privacy, context)?;
    Ok(Config {
        detector: crate::detector::detector(&raw.detector, context)?,
        detector_backend: crate::onnx::backend(&raw.detector),
        onnx: crate::onnx::onnx(&raw.onnx, context)?,
        events: crate::detector::events(&raw.events, context)?,
        audit,
        privacy,
        http: crate::outputs::http(raw.http.as_ref(), context)?,
        mqtt: crate::outputs::mqtt(raw.mqtt.as_ref(), context)?,
        webhooks: crate::outputs::webhooks(&raw.webhooks, context)?,
        analysis,
        service,
        cameras,
    })
}

fn analysis(raw: &raw::Analysis, context: &Context<'_>) -> Result<AnalysisOptions, ConfigError> {
    let width = context.in_range("analysis.width", &raw.width, 16, 1920, 320)?;
    let height = match &raw.height {
        None => None,
        Some(_) => Some(non_zero(context.in_range(
            "analysis.height",
            &raw.height,
            16,
            1080,
            240,
        )?)),
    };
    Ok(AnalysisOptions {
        width: non_zero(width),
        height,
        sequence_fps: non_zero(context.in_range(
            "analysis.sequence_fps",
            &raw.sequence_fps,
            1,
            240,
            25,
        )?),
    })
}
