//! Where the service's records go besides the events file: `[audit]` (the tamper-evident log)
//! and `[http]` (status API and metrics).
//!
//! Owns: [`AuditConfig`], [`HttpConfig`], their defaults, ranges and the rule that HTTP off
//! loopback needs a token. Does not own: writing the log (sw_audit), serving HTTP (sw_http),
//! reading the token (done at service start through [`SecretSource::read_for`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use crate::SecretSource;
use crate::raw;
use crate::validate::{ConfigError, Context};

/// `[audit]`: the tamper-evident record of what the service did. Present when `dir` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// The log's folder (created if missing); relative to the config file's folder.
    pub dir: PathBuf,
    /// Ed25519 secret key (from `stillwatch audit keygen`) that signs checkpoints; without one
    /// the log is a hash chain with unsigned checkpoints.
    pub signing_key_file: Option<PathBuf>,
    /// `None`: every record is on disk before the event is emitted. `Some`: synced at most this
    /// long after it is written (a record survives the process being killed, not a power cut).
    pub fsync_interval: Option<Duration>,
    /// A signed checkpoint after this many records ...
    pub checkpoint_every_records: u64,
    /// ... or this long after the last one, whichever comes first.
    pub checkpoint_interval: Duration,
}

/// `[http]`: the status API and Prometheus metrics. Present when `bind` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub bind: SocketAddr,
    /// The bearer token every request must carry; required when `bind` is not loopback.
    pub token: Option<SecretSource>,
}

pub(crate) fn audit(
    raw: Option<&Spanned<raw::Audit>>,
    context: &Context<'_>,
) -> Result<Option<AuditConfig>, ConfigError> {
    let Some(section) = raw else {
        return Ok(None);
    };
    let audit = section.get_ref();
    let Some(dir) = &audit.dir else {
        return Err(context.invalid(
            "audit.dir",
            section.span(),
            "missing: the folder the audit log is written to (leave out [audit] for no log)",
        ));
    };
    context.check(
        "audit.dir",
        dir,
        !dir.get_ref().is_empty(),
        "must not be empty",
    )?;
    let fsync_millis = context.in_range(
        "audit.fsync_interval_millis",
        &audit.fsync_interval_millis,
        0,
        60_000,
        0,
    )?;
    Ok(Some(AuditConfig {
        dir: context.base_dir().join(dir.get_ref()),
        signing_key_file: audit
            .signing_key_file
            .as_ref()
            .map(|file| context.base_dir().join(file.get_ref())),
        fsync_interval: (fsync_millis > 0).then(|| Duration::from_millis(fsync_millis)),
        checkpoint_every_records: context.in_range(
            "audit.checkpoint_every_records",
            &audit.checkpoint_every_records,
            1,
            1_000_000,
            1000,
        )?,
        checkpoint_interval: Duration::from_secs(context.in_range(
            "audit.checkpoint_interval_secs",
            &audit.checkpoint_interval_secs,
            1,
            86_400,
            60,
        )?),
    }))
}

pub(crate) fn http(
    raw: Option<&Spanned<raw::Http>>,
    context: &Context<'_>,
) -> Result<Option<HttpConfig>, ConfigError> {
    let Some(section) = raw else {
        return Ok(None);
    };
    let http = section.get_ref();
    let Some(bind) = &http.bind else {
        return Err(context.invalid(
            "http.bind",
            section.span(),
            "missing: the address to serve on, e.g. \"127.0.0.1:9464\" (leave out [http] for \
             no HTTP server)",
        ));
    };
    let address: SocketAddr = bind.get_ref().parse().map_err(|_| {
        context.invalid(
            "http.bind",
            bind.span(),
            format!(
                "{:?} is not an address with a port, e.g. \"127.0.0.1:9464\"",
                bind.get_ref()
            ),
        )
    })?;
    let token = match (&http.token_env, &http.token_file) {
        (Some(var), Some(_)) => {
            return Err(context.invalid(
                "http.token_env",
                var.span(),
                "give either token_env or token_file, not both",
            ));
        }
        (Some(var), None) => Some(SecretSource::Env(var.get_ref().clone())),
        (None, Some(file)) => Some(SecretSource::File(context.base_dir().join(file.get_ref()))),
        (None, None) => None,
    };
    context.check(
        "http.bind",
        bind,
        token.is_some() || address.ip().is_loopback(),
        "serving off loopback needs a bearer token: set http.token_file (or http.token_env), \
         or bind 127.0.0.1",
    )?;
    Ok(Some(HttpConfig {
        bind: address,
        token,
    }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{Config, Source};

    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Source::File("/etc/sw/cam.toml".into()))
            .map_err(|error| error.to_string())
    }

    #[test]
    fn sections_are_off_unless_configured() {
        let config = parse("").unwrap();
        assert_eq!(config.audit, None);
        assert_eq!(config.http, None);
    }

    #[test]
    fn audit_defaults_and_paths() {
        let config =
            parse("[audit]\ndir = \"audit\"\nsigning_key_file = \"keys/audit.key\"\n").unwrap();
        assert_eq!(
            config.audit,
            Some(AuditConfig {
                dir: Path::new("/etc/sw/audit").to_path_buf(),
                signing_key_file: Some(Path::new("/etc/sw/keys/audit.key").to_path_buf()),
                fsync_interval: None,
                checkpoint_every_records: 1000,
                checkpoint_interval: Duration::from_secs(60),
            })
        );
        let interval = parse("[audit]\ndir = \"a\"\nfsync_interval_millis = 100\n").unwrap();
        assert_eq!(
            interval.audit.unwrap().fsync_interval,
            Some(Duration::from_millis(100))
        );
    }

    #[test]
    fn http_needs_a_token_off_loopback() {
        let local = parse("[http]\nbind = \"127.0.0.1:9464\"\n").unwrap();
        assert_eq!(local.http.unwrap().bind.port(), 9464);
        let with_token =
            parse("[http]\nbind = \"0.0.0.0:9464\"\ntoken_file = \"token\"\n").unwrap();
        assert_eq!(
            with_token.http.unwrap().token,
            Some(SecretSource::File(Path::new("/etc/sw/token").to_path_buf()))
        );
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let cases: &[(&str, &str)] = &[
            (
                "[audit]\nfsync_interval_millis = 5\n",
                "/etc/sw/cam.toml:1: audit.dir: missing",
            ),
            (
                "[audit]\ndir = \"a\"\ncheckpoint_every_records = 0\n",
                "/etc/sw/cam.toml:3: audit.checkpoint_every_records: must be between 1 and 1000000, got 0",
            ),
            (
                "[http]\nbind = \"0.0.0.0:9464\"\n",
                "/etc/sw/cam.toml:2: http.bind: serving off loopback needs a bearer token",
            ),
            (
                "[http]\nbind = \"localhost\"\n",
                "/etc/sw/cam.toml:2: http.bind: \"localhost\" is not an address with a port",
            ),
            (
                "[http]\nbind = \"127.0.0.1:1\"\ntoken_env = \"A\"\ntoken_file = \"b\"\n",
                "/etc/sw/cam.toml:3: http.token_env: give either token_env or token_file",
            ),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err();
            assert!(
                error.starts_with(expected),
                "for {text:?}\n  got:      {error}\n  expected: {expected}"
            );
        }
    }
}

/// `[mqtt]`: publish events, motion state and camera status to a broker. Present when `host`
/// is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    pub topic_prefix: String,
    /// `None`: no Home Assistant discovery.
    pub discovery_prefix: Option<String>,
    pub client_id: String,
    pub instance_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<SecretSource>,
    pub tls: bool,
    pub tls_ca_file: Option<PathBuf>,
    /// Events waiting for the broker beyond the memory queue go here.
    pub spill_dir: PathBuf,
    pub memory_queue_events: usize,
}

/// One `[[webhooks]]` entry: POST every event record to a URL, through a durable outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: WebhookUrl,
    pub hmac_secret: Option<SecretSource>,
    pub timeout: Duration,
    pub outbox_dir: PathBuf,
}

/// Where a webhook's URL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookUrl {
    /// Written in the config (it carries no secret).
    Written(String),
    /// Read at start, like a password: URLs often carry a token.
    Secret(SecretSource),
}

/// Exactly one of `<key>_env` / `<key>_file`, or none.
fn secret_source(
    key: &str,
    env: &raw::Value<String>,
    file: &raw::Value<String>,
    context: &Context<'_>,
) -> Result<Option<SecretSource>, ConfigError> {
    match (env, file) {
        (Some(var), Some(_)) => Err(context.invalid(
            &format!("{key}_env"),
            var.span(),
            format!("give either {key}_env or {key}_file, not both"),
        )),
        (Some(var), None) => Ok(Some(SecretSource::Env(var.get_ref().clone()))),
        (None, Some(file)) => Ok(Some(SecretSource::File(
            context.base_dir().join(file.get_ref()),
        ))),
        (None, None) => Ok(None),
    }
}

/// A required folder key, relative to the config file.
fn folder(
    key: &str,
    value: &raw::Value<String>,
    section: std::ops::Range<usize>,
    context: &Context<'_>,
) -> Result<PathBuf, ConfigError> {
    match value {
        Some(dir) if !dir.get_ref().is_empty() => Ok(context.base_dir().join(dir.get_ref())),
        Some(dir) => Err(context.invalid(key, dir.span(), "must not be empty")),
        None => Err(context.invalid(key, section, "missing: a folder for the queue")),
    }
}

pub(crate) fn mqtt(
    raw: Option<&Spanned<raw::Mqtt>>,
    context: &Context<'_>,
) -> Result<Option<MqttConfig>, ConfigError> {
    let Some(section) = raw else {
        return Ok(None);
    };
    let mqtt = section.get_ref();
    let Some(host) = &mqtt.host else {
        return Err(context.invalid("mqtt.host", section.span(), "missing: the broker's address"));
    };
    let password = secret_source(
        "mqtt.password",
        &mqtt.password_env,
        &mqtt.password_file,
        context,
    )?;
    let tls = mqtt.tls_enabled.unwrap_or(false);
    let text = |value: &raw::Value<String>, default: &str| {
        value
            .as_ref()
            .map_or_else(|| default.to_owned(), |value| value.get_ref().clone())
    };
    Ok(Some(MqttConfig {
        host: host.get_ref().clone(),
        port: context.in_range(
            "mqtt.port",
            &mqtt.port,
            1,
            65535,
            if tls { 8883 } else { 1883 },
        )?,
        topic_prefix: text(&mqtt.topic_prefix, "stillwatch"),
        discovery_prefix: mqtt
            .discovery_enabled
            .unwrap_or(true)
            .then(|| text(&mqtt.discovery_prefix, "homeassistant")),
        client_id: text(&mqtt.client_id, "stillwatch"),
        instance_id: mqtt.instance_id.as_ref().map(|id| id.get_ref().clone()),
        username: mqtt.username.as_ref().map(|name| name.get_ref().clone()),
        password,
        tls,
        tls_ca_file: mqtt
            .tls_ca_file
            .as_ref()
            .map(|file| context.base_dir().join(file.get_ref())),
        spill_dir: folder("mqtt.spill_dir", &mqtt.spill_dir, section.span(), context)?,
        memory_queue_events: context.in_range(
            "mqtt.memory_queue_events",
            &mqtt.memory_queue_events,
            0,
            1_000_000,
            1000,
        )?,
    }))
}

pub(crate) fn webhooks(
    raw: &[Spanned<raw::Webhook>],
    context: &Context<'_>,
) -> Result<Vec<WebhookConfig>, ConfigError> {
    raw.iter()
        .enumerate()
        .map(|(index, entry)| {
            let prefix = format!("webhooks[{index}].");
            let context = context.scoped(&prefix);
            let hook = entry.get_ref();
            let url = match (
                &hook.url,
                secret_source("url", &hook.url_env, &hook.url_file, &context)?,
            ) {
                (Some(url), None) => {
                    let text = url.get_ref();
                    context.check(
                        "url",
                        url,
                        text.starts_with("http://") || text.starts_with("https://"),
                        "must start with http:// or https://",
                    )?;
                    WebhookUrl::Written(text.clone())
                }
                (None, Some(source)) => WebhookUrl::Secret(source),
                (Some(url), Some(_)) => {
                    return Err(context.invalid(
                        "url",
                        url.span(),
                        "give one of url, url_env or url_file",
                    ));
                }
                (None, None) => {
                    return Err(context.invalid(
                        "url",
                        entry.span(),
                        "missing: give url (or url_env / url_file when it carries a token)",
                    ));
                }
            };
            Ok(WebhookConfig {
                url,
                hmac_secret: secret_source(
                    "hmac_secret",
                    &hook.hmac_secret_env,
                    &hook.hmac_secret_file,
                    &context,
                )?,
                timeout: Duration::from_millis(context.in_range(
                    "timeout_millis",
                    &hook.timeout_millis,
                    1,
                    600_000,
                    10_000,
                )?),
                outbox_dir: folder("outbox_dir", &hook.outbox_dir, entry.span(), &context)?,
            })
        })
        .collect()
}
