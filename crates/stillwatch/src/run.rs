//! `stillwatch run`: the live service. Maps the arguments onto `sw_service::ServiceOptions` and
//! runs it until SIGINT or SIGTERM (SIGHUP reloads the config).
//!
//! Owns: the `run` arguments. Does not own: anything the service does (sw_service).

use std::path::PathBuf;

use anyhow::Context as _;
use sw_service::{EventsOutput, ServiceOptions, Shard};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file (TOML) with the `[[cameras]]` to watch; reloaded on SIGHUP.
    #[arg(long)]
    pub config: PathBuf,
    /// Append events here (JSON Lines; `-` for standard output) instead of the config's
    /// `service.events_path`.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Watch only this replica's share of the cameras: replica I (from 0) of N, chosen by
    /// rendezvous hashing on the camera id, so adding a replica moves only its own share.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
}

pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let options = ServiceOptions {
        config_path: args.config.clone(),
        events: args.events.as_ref().map(|path| {
            if path.as_os_str() == "-" {
                EventsOutput::Stdout
            } else {
                EventsOutput::File(path.clone())
            }
        }),
        shard: args.shard,
    };
    sw_service::run(options)
        .with_context(|| format!("running the service from {}", args.config.display()))
}
