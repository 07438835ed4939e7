//! `stillwatch`: the command-line tool. A thin layer that maps arguments onto the libraries'
//! option structs, owns logging, and prints results.
//!
//! Owns: the CLI, logging set-up, human-readable output. Does not own: any pipeline, detection
//! or scoring logic (those live in the `sw_*` crates).

// A command-line tool: printing results is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod audit;
mod bench;
mod camsim;
mod demo;
mod engine;
mod privacy_report;
mod run;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use sw_config::Config;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Privacy-preserving motion detection for existing camera fleets"
)]
struct Args {
    /// Log format on stderr (the level comes from RUST_LOG, default `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The tamper-evident audit log: make its signing keys, verify it offline.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Run the motion pipeline over recorded footage and report speed and, where ground truth
    /// is found, accuracy.
    Bench(bench::BenchArgs),
    /// Validate a configuration file and print the resulting settings.
    CheckConfig {
        /// The TOML file to check.
        file: PathBuf,
    },
    /// Show Stillwatch working with nothing but this machine: renders a synthetic camera scene
    /// to a clip with GStreamer and runs the pipeline over it, printing events as they happen.
    Demo(demo::DemoArgs),
    /// Serve simulated cameras over RTSP (synthetic scenes, a file or an image sequence) until
    /// Ctrl-C, for trying Stillwatch or any RTSP client without cameras.
    Camsim(camsim::CamsimArgs),
    /// Write the privacy report for a configuration: per camera the analysis size and pixel
    /// density, masks and zones drawn over the frame outline, outputs, retention, and what is
    /// never collected. For a DPIA; contacts no camera.
    PrivacyReport(privacy_report::PrivacyReportArgs),
    /// Watch the configured cameras live: motion and health events as JSON Lines until SIGINT
    /// or SIGTERM; SIGHUP reloads the configuration.
    Run(run::RunArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    // The demo speaks to a person: only warnings, unless RUST_LOG says otherwise.
    let default_level = match args.command {
        Command::Demo(_) => "warn",
        _ => "info",
    };
    init_logging(args.log_format, default_level);
    let result = match args.command {
        Command::Audit(audit_command) => match audit::run(&audit_command) {
            Ok(true) => Ok(()),
            // The report, already printed, says what is wrong.
            Ok(false) => return ExitCode::FAILURE,
            Err(error) => Err(error),
        },
        Command::Bench(bench_args) => bench::run(&bench_args),
        Command::CheckConfig { file } => check_config(&file),
        Command::Demo(demo_args) => demo::run(&demo_args),
        Command::Camsim(camsim_args) => camsim::run(&camsim_args),
        Command::PrivacyReport(report_args) => privacy_report::run(&report_args),
        Command::Run(run_args) => run::run(&run_args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat, default_level: &str) {
    // ONNX Runtime reports every allocation at INFO through ort: only its warnings by default.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_level},ort=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Loads `path`, or the built-in defaults when no file is given.
fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(path) => Config::load(path).context("loading the configuration"),
        None => Ok(Config::default()),
    }
}

fn check_config(path: &Path) -> anyhow::Result<()> {
    let config = load_config(Some(path))?;
    println!("{}: ok", path.display());
    println!("{config:#?}");
    Ok(())
}
