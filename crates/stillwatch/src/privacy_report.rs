//! `stillwatch privacy-report`: the document a data protection officer attaches to a DPIA,
//! made from the configuration alone (no camera is contacted, no image is read).
//!
//! Owns: mapping the validated config onto the report's input, and where the document goes.
//! Does not own: the report's content or rendering (sw_privacy).

use std::path::PathBuf;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use sw_config::{Config, DetectorBackend, WebhookUrl};
use sw_privacy::{AuditSummary, CameraInput, GraphSummary, Outputs, PrivacyReport, ReportInput};

#[derive(Debug, clap::Args)]
pub struct PrivacyReportArgs {
    /// The service's configuration file (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// Write the report here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Markdown instead of HTML (the HTML has the drawings of masks and zones).
    #[arg(long)]
    pub markdown: bool,
    /// A date or note printed as the report's "generated" line (the report never reads the
    /// clock, so the same config gives the same bytes).
    #[arg(long)]
    pub generated: Option<String>,
}

pub fn run(args: &PrivacyReportArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let config = Config::load(&args.config).context("loading the configuration")?;
    let mut input = report_input(&config, args, format!("{:x}", Sha256::digest(&bytes)));
    if input.cameras.iter().any(|camera| camera.onnx) {
        input.graphs = graphs(&config)?;
    }
    let report = PrivacyReport::new(&input);
    let text = if args.markdown {
        report.render_markdown()
    } else {
        report.render_html()
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            println!("privacy report written to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// What the report shows, from the config: hosts and paths only, never a URL or a secret.
fn report_input(config: &Config, args: &PrivacyReportArgs, config_sha256: String) -> ReportInput {
    let outputs = Outputs {
        events_file: Some(config.service.events_path.as_ref().map_or_else(
            || "standard output".to_owned(),
            |path| path.display().to_string(),
        )),
        mqtt: config.mqtt.as_ref().map(|mqtt| {
            format!(
                "{}:{} (topics under {})",
                mqtt.host, mqtt.port, mqtt.topic_prefix
            )
        }),
        webhooks: config
            .webhooks
            .iter()
            .map(|hook| match &hook.url {
                WebhookUrl::Written(url) => webhook_host(url),
                WebhookUrl::Secret(_) => "a URL read from a secret at start".to_owned(),
            })
            .collect(),
        http_api: config.http.as_ref().map(|http| http.bind.to_string()),
    };
    ReportInput {
        title: args.config.file_name().map_or_else(
            || "Stillwatch".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        ),
        generated: args.generated.clone(),
        config_sha256: Some(config_sha256),
        ceiling: config.privacy.ceiling.clone(),
        retention_days: Some(config.privacy.retention_days),
        audit: AuditSummary {
            enabled: config.audit.is_some(),
            signed_checkpoints: config
                .audit
                .as_ref()
                .is_some_and(|audit| audit.signing_key_file.is_some()),
        },
        cameras: config
            .cameras
            .iter()
            .map(|camera| CameraInput {
                id: camera.id.clone(),
                enabled: camera.enabled,
                width: camera.width.get(),
                height: camera.height.map(|height| height.get()),
                fps: f64::from(camera.analysis_fps.get()),
                scene_width_m: camera.privacy.scene_width_m,
                masks: camera.privacy.masks.clone(),
                zones: camera.privacy.zones.clone(),
                evidence: camera
                    .privacy
                    .evidence
                    .as_ref()
                    .map(|evidence| evidence.kind),
                grid_cols: camera.detector.grid_cols,
                grid_rows: camera.detector.grid_rows,
                onnx: camera.detector_backend == DetectorBackend::Onnx,
                outputs: outputs.clone(),
            })
            .collect(),
        graphs: Vec::new(),
    }
}

/// The ONNX graphs `[onnx]` points at, each checked against its manifest's SHA-256.
#[cfg(feature = "onnx")]
fn graphs(config: &Config) -> anyhow::Result<Vec<GraphSummary>> {
    let models = sw_onnx::verify_models(config.onnx.models_dir.as_deref())
        .context("checking the ONNX graphs the configuration's cameras use")?;
    Ok(models
        .into_iter()
        .map(|model| GraphSummary {
            name: model.name,
            file: model.path.display().to_string(),
            sha256: model.sha256,
        })
        .collect())
}

#[cfg(not(feature = "onnx"))]
fn graphs(_config: &Config) -> anyhow::Result<Vec<GraphSummary>> {
    anyhow::bail!(
        "cameras use detector.backend = \"onnx\", but this build has no ONNX support to \
         check the graphs with (build stillwatch with the `onnx` feature)"
    )
}

/// `scheme://host[:port]` of a webhook URL: its path and query may carry a token.
fn webhook_host(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::webhook_host;

    #[test]
    fn webhook_urls_are_shown_without_credentials_path_or_query() {
        let table = [
            (
                "https://hooks.example.com/T0/B1/secret",
                "https://hooks.example.com",
            ),
            (
                "http://user:pw@10.0.0.5:8123/api/webhook/abc?x=1",
                "http://10.0.0.5:8123",
            ),
            ("https://example.org", "https://example.org"),
        ];
        for (url, shown) in table {
            assert_eq!(webhook_host(url), shown, "{url}");
        }
    }
}
