//! `stillwatch camsim`: a simulated camera fleet on one RTSP port, for trying Stillwatch (or any
//! RTSP client) without cameras. Maps the arguments onto `sw_camsim::CamsimOptions` and serves
//! until SIGINT or SIGTERM.
//!
//! Owns: the `camsim` arguments and the mount naming. Does not own: the server (sw_camsim).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use clap::ValueEnum;
use sw_camsim::{
    AuthOptions, CamsimOptions, Codec, Credentials, MountOptions, Resolution, Secret, Simulator,
    SourceOptions, SyntheticOptions,
};
use sw_core::{StreamKind, Vendor, vendor_path};

#[derive(Debug, clap::Args)]
pub struct CamsimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// TCP port; 0 picks a free one (printed at start).
    #[arg(long, default_value_t = 8554)]
    port: u16,
    /// Cameras to serve. Odd ones get Hikvision-style paths (`/Streaming/Channels/<n>02`), even
    /// ones Dahua-style (`/cam/realmonitor?channel=<n>&subtype=1`).
    #[arg(long, default_value_t = 4)]
    cameras: u32,
    /// Codec served.
    #[arg(long, value_enum, default_value_t = CodecArg::H264)]
    codec: CodecArg,
    /// Serve this video file (looped; as recorded when it already has the codec) on every mount
    /// instead of the synthetic scene.
    #[arg(long, conflicts_with = "sequence")]
    file: Option<PathBuf>,
    /// Serve this image-sequence folder (e.g. a CDnet sequence) on every mount.
    #[arg(long)]
    sequence: Option<PathBuf>,
    /// Frame rate of synthetic scenes and image sequences.
    #[arg(long, default_value_t = 10)]
    fps: u32,
    /// Frame size served (both or neither; default: the source's own, 640x360 for the scene).
    #[arg(long, requires = "height")]
    width: Option<u32>,
    #[arg(long, requires = "width")]
    height: Option<u32>,
    /// Require this authentication on every mount.
    #[arg(long, value_enum, default_value_t = AuthArg::None)]
    auth: AuthArg,
    /// User name for `--auth`.
    #[arg(long, default_value = "admin")]
    username: String,
    /// Environment variable holding the password for `--auth` (never on the command line).
    #[arg(long, default_value = "CAMSIM_PASSWORD")]
    password_env: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CodecArg {
    H264,
    H265,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AuthArg {
    None,
    Basic,
    Digest,
    DigestSha256,
}

pub fn run(args: &CamsimArgs) -> anyhow::Result<()> {
    let options = options(args)?;
    let paths: Vec<String> = options
        .mounts
        .iter()
        .map(|mount| mount.path.clone())
        .collect();
    let simulator = Simulator::start(&options).context("starting the camera simulator")?;
    println!(
        "camsim: serving {} camera(s) on port {}",
        paths.len(),
        simulator.port()
    );
    for path in &paths {
        println!("{}", simulator.url(path));
    }

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing the signal handler")?;
    }
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(simulator);
    println!("camsim: stopped");
    Ok(())
}

fn options(args: &CamsimArgs) -> anyhow::Result<CamsimOptions> {
    let auth = match args.auth {
        AuthArg::None => AuthOptions::None,
        kind => {
            let password = std::env::var(&args.password_env).with_context(|| {
                format!(
                    "--auth needs the password in the environment variable {}",
                    args.password_env
                )
            })?;
            let credentials = Credentials {
                username: args.username.clone(),
                password: Secret::new(password),
            };
            match kind {
                AuthArg::Basic => AuthOptions::Basic(credentials),
                AuthArg::Digest => AuthOptions::DigestMd5(credentials),
                _ => AuthOptions::DigestSha256(credentials),
            }
        }
    };
    let resolution = args
        .width
        .zip(args.height)
        .map(|(width, height)| Resolution::new(width, height));
    let mounts = (1..=args.cameras)
        .map(|n| {
            let vendor = if n % 2 == 1 {
                Vendor::Hikvision
            } else {
                Vendor::Dahua
            };
            let path = vendor_path(vendor, n, StreamKind::Sub);
            let source = match (&args.file, &args.sequence) {
                (Some(path), _) => SourceOptions::File { path: path.clone() },
                (None, Some(dir)) => SourceOptions::ImageSequence {
                    dir: dir.clone(),
                    fps: args.fps,
                },
                (None, None) => SourceOptions::Synthetic(SyntheticOptions {
                    seed: u64::from(n),
                    fps: args.fps,
                    ..SyntheticOptions::default()
                }),
            };
            MountOptions {
                source,
                codec: match args.codec {
                    CodecArg::H264 => Codec::H264,
                    CodecArg::H265 => Codec::H265,
                },
                resolution,
                auth: auth.clone(),
                ..MountOptions::synthetic(path, u64::from(n))
            }
        })
        .collect();
    Ok(CamsimOptions {
        bind_address: args.bind,
        port: args.port,
        mounts,
    })
}
