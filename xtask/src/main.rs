//! Project automation, run as `cargo xtask <task>` (the alias lives in `.cargo/config.toml`).
//!
//! Owns: installing the system packages Stillwatch needs on Debian 12 (when missing), the
//! Python packages of the ONNX path into `.ort/` (when missing: ONNX Runtime's library and the
//! pinned generator of `models/`), and the two entry points the README gives: `demo` (the
//! main job on a built-in default) and `test` (everything CI checks). Does not own: any
//! product logic; it only runs cargo, apt-get and pip.
//!
//! Std only, so it builds in seconds on a machine that has nothing but the Rust toolchain.

// A command-line tool: telling the user what it does is its job.
#![allow(clippy::print_stderr)]

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// Debian 12 packages: GStreamer 1.22 with the plugins ingest and the camera simulator use,
/// ffmpeg (an independent RTSP client for tests), mosquitto (a real MQTT broker for tests),
/// prometheus (for `promtool check metrics` on the `/metrics` output in tests), and python3
/// with pip (to install ONNX Runtime and the graphs' generator into `.ort/`).
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
    "python3",
    "python3-pip",
];

/// The ONNX Runtime release whose library (from its PyPI wheel) runs the graphs.
const ONNXRUNTIME_VERSION: &str = "1.31.1";

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  demo     install what is missing, then run `stillwatch demo` (release build)
  test     install what is missing, then fmt check, clippy -D warnings (with and without
           the onnx feature), all tests, docs
  deps     only install the missing system and Python packages (alias: install)";

fn main() -> ExitCode {
    let task = env::args().nth(1);
    let result = match task.as_deref() {
        Some("demo") => install().and_then(|()| demo()),
        Some("test") => install().and_then(|()| test()),
        Some("deps" | "install") => install(),
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
    // The ONNX backend is a default feature: the build without it must stay clean too.
    cargo(&[
        "clippy",
        "-p",
        "stillwatch",
        "-p",
        "sw_service",
        "--no-default-features",
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

fn install() -> Result<(), String> {
    install_system_packages()?;
    install_python_packages(&workspace_root())
}

fn workspace_root() -> PathBuf {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().unwrap_or(xtask_dir).to_path_buf()
}

/// Installs into `<root>/.ort` what is missing of ONNX Runtime's wheel (only its library is
/// used: `--no-deps`) and the generator's pinned packages (`models/requirements.txt`). With
/// `--target`, Debian's pip installs outside the system's site-packages, so its
/// externally-managed guard does not apply.
fn install_python_packages(root: &Path) -> Result<(), String> {
    let target = root.join(".ort");
    let requirements = root.join("models/requirements.txt");
    let pinned = fs::read_to_string(&requirements)
        .map_err(|error| format!("reading {}: {error}", requirements.display()))?;
    let installed = installed_distributions(&target);
    let missing_requirements: Vec<String> = pinned_packages(&pinned)
        .into_iter()
        .filter(|pin| !installed.contains(pin))
        .collect();
    let runtime = dist_info_key("onnxruntime", ONNXRUNTIME_VERSION);
    let runtime_missing = !installed.contains(&runtime)
        || !target
            .join(format!(
                "onnxruntime/capi/libonnxruntime.so.{ONNXRUNTIME_VERSION}"
            ))
            .is_file();
    if missing_requirements.is_empty() && !runtime_missing {
        return Ok(());
    }
    let pip = |args: &[&str]| {
        run(Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args([
                "--no-input",
                "--root-user-action=ignore",
                "--upgrade",
                "--target",
            ])
            .arg(&target)
            .args(args)
            .current_dir(root))
    };
    if !missing_requirements.is_empty() {
        eprintln!(
            "xtask: installing into {}: {}",
            target.display(),
            missing_requirements.join(", ")
        );
        pip(&["-r", "models/requirements.txt"])?;
    }
    if runtime_missing {
        eprintln!(
            "xtask: installing ONNX Runtime {ONNXRUNTIME_VERSION} into {}",
            target.display()
        );
        pip(&["--no-deps", &format!("onnxruntime=={ONNXRUNTIME_VERSION}")])?;
    }
    Ok(())
}

/// `name==version` lines of a requirements file, as [`dist_info_key`]s.
fn pinned_packages(requirements: &str) -> Vec<String> {
    requirements
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter_map(|line| line.split_once("=="))
        .map(|(name, version)| dist_info_key(name.trim(), version.trim()))
        .collect()
}

/// The `*.dist-info` folders in `target`, as [`dist_info_key`]s.
fn installed_distributions(target: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(target) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry
                .file_name()
                .to_str()?
                .strip_suffix(".dist-info")?
                .to_string();
            let (package, version) = name.rsplit_once('-')?;
            Some(dist_info_key(package, version))
        })
        .collect()
}

/// A package and version as its `.dist-info` folder spells them, normalised (case, and `-`
/// or `.` as `_`, in the name).
fn dist_info_key(package: &str, version: &str) -> String {
    let package: String = package
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    format!("{package}-{version}")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_and_dist_info_folders_compare_alike() {
        let requirements =
            "# comment\nonnx==1.19.1\nTyping-Extensions==4.15.0  # why\n\nml_dtypes==0.5.4\n";
        assert_eq!(
            pinned_packages(requirements),
            ["onnx-1.19.1", "typing_extensions-4.15.0", "ml_dtypes-0.5.4"]
        );
        let target = env::temp_dir().join(format!("xtask-dist-info-{}", std::process::id()));
        for folder in [
            "typing_extensions-4.15.0.dist-info",
            "onnx-1.19.1.dist-info",
            "onnx",
        ] {
            fs::create_dir_all(target.join(folder)).unwrap();
        }
        let mut installed = installed_distributions(&target);
        installed.sort();
        fs::remove_dir_all(&target).unwrap();
        assert_eq!(installed, ["onnx-1.19.1", "typing_extensions-4.15.0"]);
    }
}
