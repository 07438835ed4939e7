//! Project automation, run as `cargo xtask <task>` (the alias lives in `.cargo/config.toml`).
//!
//! Owns: installing the system packages Stillwatch needs on Debian 12 (when missing), and the
//! two entry points the README gives: `demo` (the main job on a built-in default) and `test`
//! (everything CI checks). Does not own: any product logic; it only runs cargo and apt-get.
//!
//! Std only, so it builds in seconds on a machine that has nothing but the Rust toolchain.

// A command-line tool: telling the user what it does is its job.
#![allow(clippy::print_stderr)]

use std::env;
use std::process::{Command, ExitCode};

/// Debian 12 packages: GStreamer 1.22 with the plugins ingest and the camera simulator use,
/// ffmpeg (an independent RTSP client for tests), mosquitto (a real MQTT broker for tests) and
/// prometheus (for `promtool check metrics` on the `/metrics` output in tests).
const APT_PACKAGES: &[&str] = &[
    "pkg-config",
    "libgstreamer1.0-dev",
    "libgstreamer-plugins-base1.0-dev",
    "libgstrtspserver-1.0-dev",
    "gstreamer1.0-plugins-base",
    "gstreamer1.0-plugins-good",
    "gstreamer1.0-plugins-bad",
    "gstreamer1.0-plugins-ugly",
    "gstreamer1.0-libav",
    "gstreamer1.0-tools",
    "ffmpeg",
    "mosquitto",
    "mosquitto-clients",
    "prometheus",
];

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  demo     install what is missing, then run `stillwatch demo` (release build)
  test     install what is missing, then fmt check, clippy -D warnings, all tests, docs
  deps     only install the missing system packages";

fn main() -> ExitCode {
    let task = env::args().nth(1);
    let result = match task.as_deref() {
        Some("demo") => install_system_packages().and_then(|()| demo()),
        Some("test") => install_system_packages().and_then(|()| test()),
        Some("deps") => install_system_packages(),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn demo() -> Result<(), String> {
    let extra: Vec<String> = env::args().skip(2).collect();
    let mut args = vec![
        "run",
        "--release",
        "--quiet",
        "-p",
        "stillwatch",
        "--",
        "demo",
    ];
    args.extend(extra.iter().map(String::as_str));
    cargo(&args)
}

fn test() -> Result<(), String> {
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--release",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&["test", "--workspace", "--release"])?;
    run(Command::new(cargo_path())
        .args(["doc", "--workspace", "--no-deps", "--release"])
        .env("RUSTDOCFLAGS", "-D warnings"))
}

fn missing_packages() -> Vec<&'static str> {
    APT_PACKAGES
        .iter()
        .copied()
        .filter(|package| {
            let status = Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", package])
                .output();
            !matches!(status, Ok(out) if out.status.success()
                && String::from_utf8_lossy(&out.stdout).contains("install ok installed"))
        })
        .collect()
}

fn install_system_packages() -> Result<(), String> {
    let missing = missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    eprintln!("xtask: installing missing system packages: {list}");
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    if !is_root {
        return Err(format!(
            "missing system packages and not running as root; install them with:\n  \
             apt-get update && apt-get install -y --no-install-recommends {list}"
        ));
    }
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn cargo_path() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

fn cargo(args: &[&str]) -> Result<(), String> {
    run(Command::new(cargo_path()).args(args))
}

fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let status = command
        .status()
        .map_err(|error| format!("cannot start {shown}: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed: {status}"))
    }
}
