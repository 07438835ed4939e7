//! `[[cameras]]`: which cameras the service watches, how to reach them, and per-camera
//! overrides merged over the top-level settings once, here, at load.
//!
//! Owns: [`CameraConfig`], the RTSP URL (written out, or built from a vendor's path scheme),
//! where the password comes from ([`SecretSource`]) and reading it, and the refusal of
//! passwords in the config body or in URLs. Does not own: connecting (sw_ingest) or the ranges
//! of the detector's keys (`detector`, reused here on the merged tables).

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::path::PathBuf;

use sw_core::{CameraId, StreamKind, Vendor};
use sw_motion::{DetectorOptions, EventOptions};
use toml::Spanned;

use crate::privacy::{CameraPrivacy, PrivacyConfig};
use crate::raw;
use crate::service::ServiceConfig;
use crate::validate::{ConfigError, Context, non_zero};
use crate::{AnalysisOptions, DetectorBackend, detector};

/// One camera, every setting resolved: overrides merged over the top-level sections.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraConfig {
    pub id: CameraId,
    /// `rtsp://host:port/path?query`, never with credentials in it.
    pub url: String,
    pub credentials: Option<CameraCredentials>,
    pub transport: Transport,
    /// Which RTSP client connects to the camera.
    pub rtsp_client: RtspClientChoice,
    /// A disabled camera stays in the file (and in status) but is not connected.
    pub enabled: bool,
    /// Frames per second analysed.
    pub analysis_fps: NonZeroU32,
    /// Width of the analysis frame, in pixels.
    pub width: NonZeroU32,
    /// Height of the analysis frame; `None` keeps the source's aspect ratio.
    pub height: Option<NonZeroU32>,
    pub detector: DetectorOptions,
    /// `detector.backend`, the camera's own or the top-level one.
    pub detector_backend: DetectorBackend,
    pub events: EventOptions,
    pub privacy: CameraPrivacy,
}

/// Who the service logs in as, and where the password is read from when the service starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraCredentials {
    pub username: String,
    pub password: SecretSource,
}

/// Where a secret (a camera's password, a token, an HMAC key) comes from. The config never
/// holds the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable of the service process.
    Env(String),
    /// A file holding the secret (one trailing newline is ignored); a relative path is taken
    /// from the config file's folder.
    File(PathBuf),
}

impl SecretSource {
    /// Reads a camera's password now (see [`SecretSource::read_for`]).
    pub fn read(&self, camera: &CameraId) -> Result<String, ConfigError> {
        self.read_for(&format!("camera {camera}"), "password", "password")
    }

    /// Reads the secret now. Errors say whose (`owner`: `camera gate`, `[mqtt]`), what it is
    /// and which variable or file (`<key>_env` / `<key>_file`), never the secret. The caller
    /// wraps the result in its secret type at once.
    pub fn read_for(&self, owner: &str, what: &str, key: &str) -> Result<String, ConfigError> {
        let fail = |key: String, name: String, reason: String| ConfigError::Secret {
            owner: owner.to_owned(),
            what: what.to_owned(),
            key,
            name,
            reason,
        };
        let (env_key, file_key) = (format!("{key}_env"), format!("{key}_file"));
        let (key, name, secret) = match self {
            SecretSource::Env(var) => {
                let secret = std::env::var(var).map_err(|error| {
                    let reason = match error {
                        std::env::VarError::NotPresent => {
                            "the variable is not set in the service's environment"
                        }
                        std::env::VarError::NotUnicode(_) => "the variable is not valid UTF-8",
                    };
                    fail(env_key.clone(), var.clone(), reason.to_owned())
                })?;
                (env_key, var.clone(), secret)
            }
            SecretSource::File(path) => {
                let name = path.display().to_string();
                let mut secret = std::fs::read_to_string(path)
                    .map_err(|error| fail(file_key.clone(), name.clone(), error.to_string()))?;
                let without_newline = secret
                    .strip_suffix('\n')
                    .map(|rest| rest.strip_suffix('\r').unwrap_or(rest).len());
                if let Some(len) = without_newline {
                    secret.truncate(len);
                }
                (file_key, name, secret)
            }
        };
        if secret.is_empty() {
            return Err(fail(key, name, format!("the {what} is empty")));
        }
        Ok(secret)
    }
}

/// Which RTSP client connects: GStreamer's `rtspsrc`, the `retina` client (which also answers
/// SHA-256 Digest), or automatic: retina for `rtsp://`, falling back to GStreamer for a camera
/// retina cannot use, and GStreamer for `rtsps://`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtspClientChoice {
    #[default]
    Auto,
    Gstreamer,
    Retina,
}

/// How RTP travels from the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// Interleaved in the RTSP TCP connection: works through NAT and firewalls.
    #[default]
    Tcp,
    /// Separate UDP ports, for cameras or servers that offer nothing else.
    Udp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        })
    }
}

const SECRETS_GO_ELSEWHERE: &str = "give the user name as `username` and the password through \
     `password_env = \"VARIABLE\"` (an environment variable of the service) or \
     `password_file = \"path\"` (a file only the service can read)";

pub(crate) fn cameras(
    raw: &raw::Config,
    analysis: &AnalysisOptions,
    service: &ServiceConfig,
    privacy: &PrivacyConfig,
    context: &Context<'_>,
) -> Result<Vec<CameraConfig>, ConfigError> {
    let mut seen: HashMap<CameraId, (usize, usize)> = HashMap::new();
    let mut cameras = Vec::with_capacity(raw.cameras.len());
    for (index, entry) in raw.cameras.iter().enumerate() {
        let prefix = format!("cameras[{index}].");
        let context = context.scoped(&prefix);
        let camera = camera(entry, raw, analysis, service, privacy, &context)?;
        let line = context.line(entry.span());
        if let Some((first, first_line)) = seen.get(&camera.id) {
            let id = entry
                .get_ref()
                .id
                .as_ref()
                .map_or(entry.span(), Spanned::span);
            return Err(context.invalid(
                "id",
                id,
                format!(
                    "camera id {:?} is already used by cameras[{first}] (line {first_line})",
                    camera.id.as_str()
                ),
            ));
        }
        seen.insert(camera.id.clone(), (index, line));
        cameras.push(camera);
    }
    Ok(cameras)
}

fn camera(
    entry: &Spanned<raw::Camera>,
    top: &raw::Config,
    analysis: &AnalysisOptions,
    service: &ServiceConfig,
    privacy: &PrivacyConfig,
    context: &Context<'_>,
) -> Result<CameraConfig, ConfigError> {
    let raw = entry.get_ref();
    if let Some(password) = &raw.password {
        return Err(context.invalid(
            "password",
            password.span(),
            format!("passwords are not written in the config file; {SECRETS_GO_ELSEWHERE}"),
        ));
    }
    let id = match &raw.id {
        None => {
            return Err(context.invalid(
                "id",
                entry.span(),
                "missing: every camera needs an id (letters, digits, '_', '-', '.')",
            ));
        }
        Some(id) => CameraId::new(id.get_ref().clone())
            .map_err(|error| context.invalid("id", id.span(), error))?,
    };
    let height = match &raw.height {
        None => analysis.height,
        Some(_) => Some(non_zero(context.in_range(
            "height",
            &raw.height,
            16,
            1080,
            240,
        )?)),
    };
    let width = non_zero(context.in_range("width", &raw.width, 16, 1920, analysis.width.get())?);
    Ok(CameraConfig {
        url: url(entry, context)?,
        credentials: credentials(raw, context)?,
        transport: match raw.transport.as_ref().map(|value| *value.get_ref()) {
            None | Some(raw::Transport::Tcp) => Transport::Tcp,
            Some(raw::Transport::Udp) => Transport::Udp,
        },
        rtsp_client: rtsp_client(raw, context)?,
        enabled: raw.enabled.unwrap_or(true),
        analysis_fps: non_zero(context.in_range(
            "analysis_fps",
            &raw.analysis_fps,
            1,
            60,
            service.analysis_fps.get(),
        )?),
        width,
        height,
        privacy: crate::privacy::camera(raw, &id, width.get(), privacy, context)?,
        detector: detector::detector(&raw.detector.over(&top.detector), context)?,
        detector_backend: crate::onnx::backend(&raw.detector.over(&top.detector)),
        events: detector::events(&raw.events.over(&top.events), context)?,
        id,
    })
}

/// `rtsp_client`; retina speaks no TLS, so it is refused for an `rtsps://` URL.
fn rtsp_client(raw: &raw::Camera, context: &Context<'_>) -> Result<RtspClientChoice, ConfigError> {
    let Some(value) = &raw.rtsp_client else {
        return Ok(RtspClientChoice::Auto);
    };
    let choice = match value.get_ref() {
        raw::RtspClient::Auto => RtspClientChoice::Auto,
        raw::RtspClient::Gstreamer => RtspClientChoice::Gstreamer,
        raw::RtspClient::Retina => RtspClientChoice::Retina,
    };
    let tls = raw
        .url
        .as_ref()
        .is_some_and(|url| url.get_ref().to_ascii_lowercase().starts_with("rtsps://"));
    context.check(
        "rtsp_client",
        value,
        !(tls && choice == RtspClientChoice::Retina),
        "the retina client has no TLS: use \"gstreamer\" (or \"auto\") for an rtsps:// camera",
    )?;
    Ok(choice)
}

/// The camera's URL: `url` checked, or built from `vendor`, `host`, `port`, `channel`, `stream`.
fn url(entry: &Spanned<raw::Camera>, context: &Context<'_>) -> Result<String, ConfigError> {
    let raw = entry.get_ref();
    let vendor_keys = [
        ("host", raw.host.as_ref().map(Spanned::span)),
        ("port", raw.port.as_ref().map(Spanned::span)),
        ("channel", raw.channel.as_ref().map(Spanned::span)),
        ("stream", raw.stream.as_ref().map(Spanned::span)),
    ];
    match (&raw.url, &raw.vendor) {
        (Some(url), Some(vendor)) => Err(context.invalid(
            "vendor",
            vendor.span(),
            format!(
                "give either `url` (line {}) or `vendor` with `host`, not both",
                context.line(url.span())
            ),
        )),
        (None, None) => Err(context.invalid(
            "url",
            entry.span(),
            "missing: give `url = \"rtsp://host:554/path\"`, or `vendor = \"hikvision\"` or \
             \"dahua\" with `host` (and optionally `port`, `channel`, `stream`)",
        )),
        (Some(url), None) => {
            if let Some((key, Some(span))) = vendor_keys.iter().find(|(_, span)| span.is_some()) {
                return Err(context.invalid(
                    key,
                    span.clone(),
                    "only goes with `vendor`; a `url` is used as written",
                ));
            }
            check_url(url.get_ref())
                .map_err(|message| context.invalid("url", url.span(), message))?;
            Ok(url.get_ref().clone())
        }
        (None, Some(vendor)) => {
            let Some(host) = &raw.host else {
                return Err(context.invalid(
                    "host",
                    vendor.span(),
                    "missing: a `vendor` camera needs `host` (name or IP address)",
                ));
            };
            let host_text = check_host(host.get_ref())
                .map_err(|message| context.invalid("host", host.span(), message))?;
            let port = context.in_range("port", &raw.port, 1, 65535, 554)?;
            let channel = context.in_range("channel", &raw.channel, 1, 255, 1)?;
            let stream = raw
                .stream
                .as_ref()
                .map_or(StreamKind::Sub, |value| *value.get_ref());
            Ok(vendor_url(
                *vendor.get_ref(),
                &host_text,
                port,
                channel,
                stream,
            ))
        }
    }
}

fn vendor_url(vendor: Vendor, host: &str, port: u32, channel: u32, stream: StreamKind) -> String {
    format!(
        "rtsp://{host}:{port}{}",
        sw_core::vendor_path(vendor, channel, stream)
    )
}

/// Checks a written URL. The message never repeats the URL: it may hold a password.
fn check_url(url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = ["rtsp://", "rtsps://"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme).map(|_| &url[scheme.len()..]))
    else {
        return Err("must start with rtsp:// or rtsps://".to_owned());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!(
            "credentials in the URL are refused (they would end up in logs); remove them and \
             {SECRETS_GO_ELSEWHERE}"
        ));
    }
    if authority.is_empty() || authority.starts_with(':') {
        return Err("has no host: expected rtsp://host:port/path".to_owned());
    }
    if url.chars().any(char::is_whitespace) {
        return Err("must not contain spaces (percent-encode them as %20)".to_owned());
    }
    Ok(())
}

/// Checks a host name or address; returns it as it goes into a URL (IPv6 in brackets).
fn check_host(host: &str) -> Result<String, String> {
    if host.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if host.contains('@') {
        return Err(format!(
            "credentials in the host are refused (they would end up in logs); \
             {SECRETS_GO_ELSEWHERE}"
        ));
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '/' | '?' | '#'))
    {
        return Err(
            "must be a host name or IP address only, without scheme, port or path".to_owned(),
        );
    }
    let ipv6 = host.contains(':');
    Ok(if ipv6 && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    })
}

fn credentials(
    raw: &raw::Camera,
    context: &Context<'_>,
) -> Result<Option<CameraCredentials>, ConfigError> {
    let password = match (&raw.password_env, &raw.password_file) {
        (Some(_), Some(file)) => {
            return Err(context.invalid(
                "password_file",
                file.span(),
                "give either `password_env` or `password_file`, not both",
            ));
        }
        (Some(var), None) => {
            let name = var.get_ref();
            // Checked strictly, and never repeated in the message: a password put here by
            // mistake must not be echoed.
            let valid = name
                .chars()
                .next()
                .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            context.check(
                "password_env",
                var,
                valid,
                "must be the name of an environment variable (letters, digits and '_', not \
                 starting with a digit) that holds the password, not the password itself",
            )?;
            Some((var.span(), SecretSource::Env(name.clone())))
        }
        (None, Some(file)) => {
            context.check(
                "password_file",
                file,
                !file.get_ref().is_empty(),
                "must name a file",
            )?;
            let path = context.base_dir().join(file.get_ref());
            Some((file.span(), SecretSource::File(path)))
        }
        (None, None) => None,
    };
    match (&raw.username, password) {
        (None, None) => Ok(None),
        (Some(username), Some((_, password))) => {
            context.check(
                "username",
                username,
                !username.get_ref().is_empty(),
                "must not be empty",
            )?;
            Ok(Some(CameraCredentials {
                username: username.get_ref().clone(),
                password,
            }))
        }
        (Some(username), None) => Err(context.invalid(
            "username",
            username.span(),
            "has no password: add `password_env = \"VARIABLE\"` or `password_file = \"path\"`",
        )),
        (None, Some((span, _))) => Err(context.invalid(
            "username",
            span,
            "missing: a password needs a `username` to go with it",
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{Config, Source};

    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Source::File("/etc/sw/site.toml".into()))
            .map_err(|error| error.to_string())
    }

    fn url_of(camera: &str) -> String {
        let text = format!("[[cameras]]\nid = \"c\"\n{camera}\n");
        parse(&text).unwrap().cameras[0].url.clone()
    }

    #[test]
    fn vendor_urls() {
        let table = [
            (
                "vendor = \"hikvision\"\nhost = \"10.0.0.5\"",
                "rtsp://10.0.0.5:554/Streaming/Channels/102",
            ),
            (
                "vendor = \"hikvision\"\nhost = \"cam\"\nport = 8554\nchannel = 12\nstream = \"main\"",
                "rtsp://cam:8554/Streaming/Channels/1201",
            ),
            (
                "vendor = \"dahua\"\nhost = \"10.0.0.6\"",
                "rtsp://10.0.0.6:554/cam/realmonitor?channel=1&subtype=1",
            ),
            (
                "vendor = \"dahua\"\nhost = \"fe80::1\"\nchannel = 3\nstream = \"main\"",
                "rtsp://[fe80::1]:554/cam/realmonitor?channel=3&subtype=0",
            ),
            (
                "url = \"rtsp://gate.local:554/live?x=1\"",
                "rtsp://gate.local:554/live?x=1",
            ),
        ];
        for (camera, expected) in table {
            assert_eq!(url_of(camera), expected, "for {camera:?}");
        }
    }

    #[test]
    fn camera_settings_default_to_the_top_level_and_override_it() {
        let config = parse(
            "[analysis]\nwidth = 240\n[service]\nanalysis_fps = 4\n\
             [detector]\nsamples_per_pixel = 20\nmatch_radius_luma = 12\n\
             [events]\ncooldown_millis = 500\n\
             [[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\n\
             [[cameras]]\nid = \"b\"\nurl = \"rtsp://b/x\"\nenabled = false\ntransport = \"udp\"\n\
             analysis_fps = 2\nwidth = 160\nheight = 90\n\
             [cameras.detector]\nmatch_radius_luma = 30\n[cameras.events]\nmax_boxes = 2\n",
        )
        .unwrap();
        let [a, b] = &config.cameras[..] else {
            panic!("two cameras expected")
        };
        assert_eq!(a.id.as_str(), "a");
        assert!(a.enabled);
        assert_eq!(a.transport, Transport::Tcp);
        assert_eq!(
            (a.analysis_fps.get(), a.width.get(), a.height),
            (4, 240, None)
        );
        assert_eq!(a.detector, config.detector);
        assert_eq!(a.events, config.events);
        assert_eq!(a.credentials, None);

        assert!(!b.enabled);
        assert_eq!(b.transport, Transport::Udp);
        assert_eq!(
            (
                b.analysis_fps.get(),
                b.width.get(),
                b.height.map(NonZeroU32::get)
            ),
            (2, 160, Some(90))
        );
        assert_eq!(b.detector.samples_per_pixel, 20, "inherited");
        assert_eq!(b.detector.match_radius_luma, 30, "overridden");
        assert_eq!(b.events.cooldown_millis, 500, "inherited");
        assert_eq!(b.events.max_boxes, 2, "overridden");
    }

    #[test]
    fn password_sources() {
        let config = parse(
            "[[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\nusername = \"admin\"\npassword_env = \"A_PW\"\n\
             [[cameras]]\nid = \"b\"\nurl = \"rtsp://b/x\"\nusername = \"viewer\"\npassword_file = \"secrets/b\"\n",
        )
        .unwrap();
        let sources: Vec<_> = config
            .cameras
            .iter()
            .map(|camera| camera.credentials.clone().unwrap())
            .collect();
        assert_eq!(sources[0].username, "admin");
        assert_eq!(sources[0].password, SecretSource::Env("A_PW".into()));
        assert_eq!(
            sources[1].password,
            SecretSource::File(Path::new("/etc/sw/secrets/b").to_path_buf())
        );
    }

    #[test]
    fn password_file_is_read_without_its_newline_and_errors_never_show_it() {
        let dir = tempfile::tempdir().unwrap();
        let camera = CameraId::new("gate").unwrap();
        let cases = [
            ("hunter2\n", Ok("hunter2")),
            ("pw\r\n", Ok("pw")),
            ("\n", Err(())),
        ];
        for (content, expected) in cases {
            let path = dir.path().join("pw");
            std::fs::write(&path, content).unwrap();
            let read = SecretSource::File(path).read(&camera);
            assert_eq!(read.as_deref().map_err(|_| ()), expected, "for {content:?}");
        }
        let missing = SecretSource::File(dir.path().join("nope")).read(&camera);
        let message = missing.unwrap_err().to_string();
        assert!(
            message.starts_with("camera gate: cannot read its password (password_file = "),
            "{message}"
        );
        let unset = SecretSource::Env("SW_CONFIG_TEST_SURELY_UNSET".into()).read(&camera);
        assert_eq!(
            unset.unwrap_err().to_string(),
            "camera gate: cannot read its password (password_env = \"SW_CONFIG_TEST_SURELY_UNSET\"): \
             the variable is not set in the service's environment"
        );
    }

    #[test]
    fn errors_name_the_camera_key_and_line_and_never_echo_secrets() {
        let cases: &[(&str, &str)] = &[
            (
                "[[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\nusername = \"u\"\npassword = \"hunter2\"\n",
                "site.toml:5: cameras[0].password: passwords are not written in the config file; give the user name",
            ),
            (
                "[[cameras]]\nid = \"a\"\nurl = \"rtsp://admin:hunter2@a:554/x\"\n",
                "site.toml:3: cameras[0].url: credentials in the URL are refused",
            ),
            (
                "[[cameras]]\nid = \"a\"\nvendor = \"dahua\"\nhost = \"admin:hunter2@cam\"\n",
                "site.toml:4: cameras[0].host: credentials in the host are refused",
            ),
            (
                "[[cameras]]\nurl = \"rtsp://a/x\"\n",
                "site.toml:1: cameras[0].id: missing: every camera needs an id",
            ),
            (
                "[[cameras]]\nid = \"a b\"\nurl = \"rtsp://a/x\"\n",
                "site.toml:2: cameras[0].id: camera id \"a b\" contains ' '",
            ),
            (
                "[[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\n\n[[cameras]]\nid = \"a\"\nurl = \"rtsp://b/x\"\n",
                "site.toml:6: cameras[1].id: camera id \"a\" is already used by cameras[0] (line 1)",
            ),
            (
                "[[cameras]]\nid = \"a\"\n",
                "site.toml:1: cameras[0].url: missing: give `url",
            ),
            (
                "[[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\nvendor = \"dahua\"\n",
                "site.toml:4: cameras[0].vendor: give either `url` (line 3) or `vendor` with `host`, not both",
            ),
            (
                "[[cameras]]\nid = \"a\"\nurl = \"http://a/x\"\n",
                "site.toml:3: cameras[0].url: must start with rtsp:// or rtsps://",
            ),
            (
                "[[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\nchannel = 2\n",
                "site.toml:4: cameras[0].channel: only goes with `vendor`",
            ),
            (
                "[[cameras]]\nid = \"a\"\nvendor = \"hikvision\"\n",
                "site.toml:3: cameras[0].host: missing: a `vendor` camera needs `host`",
            ),
            (
                "[[cameras]]\nid = \"a\"\nvendor = \"axis\"\nhost = \"h\"\n",
                "site.toml:3:10: unknown variant `axis`, expected `hikvision` or `dahua`",
            ),
            (
                "[[cameras]]\nid = \"a\"\nvendor = \"hikvision\"\nhost = \"h\"\nport = 0\n",
                "site.toml:5: cameras[0].port: must be between 1 and 65535, got 0",
            ),
            (
                "[[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\nusername = \"u\"\n",
                "site.toml:4: cameras[0].username: has no password",
            ),
            (
                "[[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\npassword_env = \"PW\"\n",
                "site.toml:4: cameras[0].username: missing: a password needs a `username`",
            ),
            (
                "[[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\nusername = \"u\"\npassword_env = \"PW\"\npassword_file = \"f\"\n",
                "site.toml:6: cameras[0].password_file: give either `password_env` or `password_file`, not both",
            ),
            (
                "[[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\n[cameras.detector]\nmin_matches = 70\n",
                "site.toml:5: cameras[0].detector.min_matches: must be between 1 and 64, got 70",
            ),
            (
                "[detector]\nsamples_per_pixel = 4\n[[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\n\
                 [cameras.detector]\nmin_matches = 5\n",
                "site.toml:7: cameras[0].detector.min_matches: must not exceed detector.samples_per_pixel (4)",
            ),
            (
                "[[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\nusername = \"u\"\npassword_env = \"hunter2!\"\n",
                "site.toml:5: cameras[0].password_env: must be the name of an environment variable",
            ),
            (
                "[[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\nanalysis_fps = 100\n",
                "site.toml:4: cameras[0].analysis_fps: must be between 1 and 60, got 100",
            ),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err();
            let error = error.strip_prefix("/etc/sw/").unwrap_or(&error);
            assert!(
                error.starts_with(expected),
                "for {text:?}\n  got:      {error}\n  expected: {expected}"
            );
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn rtsp_client_defaults_to_auto_and_retina_refuses_tls() {
        let client = |extra: &str, url: &str| {
            parse(&format!(
                "[[cameras]]\nid = \"a\"\nurl = \"{url}\"\n{extra}"
            ))
            .map(|config| config.cameras[0].rtsp_client)
        };
        assert_eq!(client("", "rtsp://a/x"), Ok(RtspClientChoice::Auto));
        assert_eq!(
            client("rtsp_client = \"retina\"", "rtsp://a/x"),
            Ok(RtspClientChoice::Retina)
        );
        assert_eq!(
            client("rtsp_client = \"gstreamer\"", "rtsps://a/x"),
            Ok(RtspClientChoice::Gstreamer)
        );
        let error = client("rtsp_client = \"retina\"", "rtsps://a/x").unwrap_err();
        assert!(
            error.contains("cameras[0].rtsp_client: the retina client has no TLS"),
            "{error}"
        );
    }
}
