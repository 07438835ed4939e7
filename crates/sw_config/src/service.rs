//! `[service]`: the settings of `stillwatch run` shared by every camera (analysis rate, where
//! events go, queue depth, connection timeouts and back-off).
//!
//! Owns: [`ServiceConfig`], its defaults and ranges. Does not own: per-camera settings (see
//! `camera`) or what the service does with them (sw_service, sw_ingest).

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use crate::raw;
use crate::validate::{ConfigError, Context, non_zero};

/// Settings of the live service shared by every camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Frames per second analysed from each camera, unless the camera overrides it.
    pub analysis_fps: NonZeroU32,
    /// JSON Lines file the events are appended to; `None` writes them to standard output.
    /// A relative path in a file is taken from the config file's folder.
    pub events_path: Option<PathBuf>,
    /// Analysis frames waiting per camera; when analysis falls behind, the oldest is dropped.
    pub queue_frames: usize,
    /// How long connecting (RTSP handshake up to the first frame) may take.
    pub connect_timeout: Duration,
    /// A streaming camera that sends no frame for this long is stalled and reconnected.
    pub stall_timeout: Duration,
    /// First wait before reconnecting after a failure; doubles per failure ...
    pub backoff_initial: Duration,
    /// ... up to this.
    pub backoff_max: Duration,
    /// Wait before trying again after the camera refused the credentials.
    pub auth_retry: Duration,
}

const HOUR_MILLIS: u64 = 3_600_000;

pub(crate) fn service(
    raw: &raw::Service,
    context: &Context<'_>,
) -> Result<ServiceConfig, ConfigError> {
    let millis = |key: &str, value: &raw::Value<u64>, min: u64, default: u64| {
        context
            .in_range(key, value, min, HOUR_MILLIS, default)
            .map(Duration::from_millis)
    };
    let backoff_initial = millis(
        "service.backoff_initial_millis",
        &raw.backoff_initial_millis,
        10,
        500,
    )?;
    let backoff_max = millis(
        "service.backoff_max_millis",
        &raw.backoff_max_millis,
        10,
        30_000,
    )?;
    if let Some(value) = raw
        .backoff_max_millis
        .as_ref()
        .or(raw.backoff_initial_millis.as_ref())
    {
        context.check(
            "service.backoff_max_millis",
            value,
            backoff_max >= backoff_initial,
            &format!(
                "must not be below service.backoff_initial_millis ({})",
                backoff_initial.as_millis()
            ),
        )?;
    }
    let events_path = match &raw.events_path {
        None => None,
        Some(value) => {
            context.check(
                "service.events_path",
                value,
                !value.get_ref().is_empty(),
                "must not be empty; leave the key out to write events to standard output",
            )?;
            Some(context.base_dir().join(value.get_ref()))
        }
    };
    Ok(ServiceConfig {
        analysis_fps: non_zero(context.in_range(
            "service.analysis_fps",
            &raw.analysis_fps,
            1,
            60,
            5,
        )?),
        events_path,
        queue_frames: context.in_range("service.queue_frames", &raw.queue_frames, 1, 64, 2)?,
        connect_timeout: millis(
            "service.connect_timeout_millis",
            &raw.connect_timeout_millis,
            100,
            10_000,
        )?,
        stall_timeout: millis(
            "service.stall_timeout_millis",
            &raw.stall_timeout_millis,
            100,
            5_000,
        )?,
        backoff_initial,
        backoff_max,
        auth_retry: millis(
            "service.auth_retry_millis",
            &raw.auth_retry_millis,
            100,
            60_000,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{Config, Source};

    use super::*;

    #[test]
    fn defaults() {
        let service = Config::default().service;
        assert_eq!(service.analysis_fps.get(), 5);
        assert_eq!(service.events_path, None);
        assert_eq!(service.queue_frames, 2);
        assert_eq!(service.connect_timeout, Duration::from_secs(10));
        assert_eq!(service.stall_timeout, Duration::from_secs(5));
        assert_eq!(service.backoff_initial, Duration::from_millis(500));
        assert_eq!(service.backoff_max, Duration::from_secs(30));
        assert_eq!(service.auth_retry, Duration::from_secs(60));
    }

    #[test]
    fn events_path_is_taken_from_the_config_files_folder() {
        let config = Config::parse(
            "[service]\nevents_path = \"out/events.jsonl\"\n",
            Source::File("/etc/stillwatch/site.toml".into()),
        )
        .unwrap();
        assert_eq!(
            config.service.events_path.as_deref(),
            Some(Path::new("/etc/stillwatch/out/events.jsonl"))
        );
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let cases: &[(&str, &str)] = &[
            (
                "[service]\nanalysis_fps = 0\n",
                "cam.toml:2: service.analysis_fps: must be between 1 and 60, got 0",
            ),
            (
                "[service]\nqueue_frames = 100\n",
                "cam.toml:2: service.queue_frames: must be between 1 and 64, got 100",
            ),
            (
                "[service]\nbackoff_initial_millis = 5000\nbackoff_max_millis = 2000\n",
                "cam.toml:3: service.backoff_max_millis: must not be below service.backoff_initial_millis (5000)",
            ),
            (
                "[service]\nbackoff_initial_millis = 60000\n",
                "cam.toml:2: service.backoff_max_millis: must not be below service.backoff_initial_millis (60000)",
            ),
            (
                "[service]\nevents_path = \"\"\n",
                "cam.toml:2: service.events_path: must not be empty",
            ),
            (
                "[service]\nstall_timeout_millis = 5\n",
                "cam.toml:2: service.stall_timeout_millis: must be between 100 and 3600000, got 5",
            ),
        ];
        for (text, expected) in cases {
            let error = Config::parse(text, Source::File("cam.toml".into()))
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with(expected),
                "for {text:?}\n  got:      {error}\n  expected: {expected}"
            );
        }
    }
}
