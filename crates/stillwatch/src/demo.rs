//! `stillwatch demo`: the live service working on nothing but this machine. Starts the camera
//! simulator with four cameras (Hikvision- and Dahua-style paths, digest auth, a quiet scene and
//! one with a wrong password), runs the service against them and prints motion events and
//! camera health as they happen.
//!
//! Owns: choosing the demo fleet and printing for a person. Does not own: the simulator
//! (sw_camsim) or the service (sw_service).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;
use sw_camsim::{
    AuthOptions, CamsimOptions, Credentials, MountOptions, Secret, Simulator, SourceOptions,
    SyntheticOptions,
};
use sw_core::{StreamKind, Vendor, vendor_path};
use sw_service::{EventsOutput, Service, ServiceOptions};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// How long to run, in seconds (Ctrl-C stops earlier).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Keep the generated config and the events file here instead of a temporary folder.
    #[arg(long)]
    out: Option<PathBuf>,
}

const USERNAME: &str = "stillwatch";
const PASSWORD: &str = "demo-password";
/// Hikvision-style channels of the quiet and the locked camera (the moving ones are channel 1
/// of each vendor).
const QUIET_CHANNEL: u32 = 2;
const LOCKED_CHANNEL: u32 = 3;

pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let temporary = tempfile::tempdir().context("creating a temporary folder")?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| temporary.path().to_path_buf());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let simulator =
        Simulator::start(&simulated_fleet()).context("starting the camera simulator")?;
    println!(
        "camera simulator serving 4 cameras on rtsp://127.0.0.1:{}",
        simulator.port()
    );
    let config = write_config(&dir, simulator.port())?;
    let events = dir.join("events.jsonl");
    let service = Service::start(ServiceOptions {
        config_path: config.clone(),
        events: Some(EventsOutput::File(events.clone())),
        shard: None,
    })
    .context("starting the service")?;
    println!(
        "service running from {}; events as they happen:",
        config.display()
    );

    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .context("installing the Ctrl-C handler")?;
    }
    let mut tail = Tail::open(&events)?;
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut next_status = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !interrupted.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        tail.print_new()?;
        if Instant::now() >= next_status {
            print_status(&service);
            next_status += Duration::from_secs(5);
        }
    }
    service.shutdown().context("stopping the service")?;
    tail.print_new()?;
    drop(simulator);
    println!(
        "stopped; every event above has its end. Events file: {}",
        events.display()
    );
    Ok(())
}

/// Four cameras: two moving scenes (one behind MD5 digest auth), a quiet scene that must raise
/// nothing, and one whose password the service gets wrong.
fn simulated_fleet() -> CamsimOptions {
    let credentials = |password: &str| Credentials {
        username: USERNAME.to_string(),
        password: Secret::new(password.to_string()),
    };
    let hikvision = |channel| vendor_path(Vendor::Hikvision, channel, StreamKind::Sub);
    let mut gate = MountOptions::synthetic(hikvision(1), 1);
    gate.auth = AuthOptions::DigestMd5(credentials(PASSWORD));
    let yard = MountOptions::synthetic(vendor_path(Vendor::Dahua, 1, StreamKind::Sub), 2);
    let mut quiet = MountOptions::synthetic(hikvision(QUIET_CHANNEL), 3);
    quiet.source = SourceOptions::Synthetic(SyntheticOptions {
        seed: 3,
        shapes: 0,
        ..SyntheticOptions::default()
    });
    let mut locked = MountOptions::synthetic(hikvision(LOCKED_CHANNEL), 4);
    locked.auth = AuthOptions::Basic(credentials("a-different-password"));
    CamsimOptions {
        mounts: vec![gate, yard, quiet, locked],
        ..CamsimOptions::default()
    }
}

/// Writes the service's config (and the password file it names) into `dir`.
fn write_config(dir: &Path, port: u16) -> anyhow::Result<PathBuf> {
    let password_file = dir.join("camera.password");
    std::fs::write(&password_file, PASSWORD)
        .with_context(|| format!("writing {}", password_file.display()))?;
    let config = format!(
        r#"# Written by `stillwatch demo`: the simulated cameras on port {port}.
[service]
analysis_fps = 5
stall_timeout_millis = 3000
auth_retry_millis = 10000

[[cameras]]
id = "front-gate"
vendor = "hikvision"
host = "127.0.0.1"
port = {port}
channel = 1
stream = "sub"
username = "{USERNAME}"
password_file = "camera.password"

[[cameras]]
id = "yard"
vendor = "dahua"
host = "127.0.0.1"
port = {port}
channel = 1
stream = "sub"

[[cameras]]
id = "car-park"
vendor = "hikvision"
host = "127.0.0.1"
port = {port}
channel = {QUIET_CHANNEL}

[[cameras]]
id = "lobby"
vendor = "hikvision"
host = "127.0.0.1"
port = {port}
channel = {LOCKED_CHANNEL}
username = "{USERNAME}"
password_file = "camera.password"
"#
    );
    let path = dir.join("demo.toml");
    std::fs::write(&path, config).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn print_status(service: &Service) {
    let cameras: Vec<String> = service
        .status()
        .iter()
        .map(|status| {
            let state = serde_json::to_value(status.state).unwrap_or(Value::Null);
            format!(
                "{} {} ({} frames)",
                status.camera,
                state.as_str().unwrap_or("?"),
                status.frames_received
            )
        })
        .collect();
    println!("  status: {}", cameras.join(", "));
}

/// Follows the events file the service appends to.
struct Tail {
    path: PathBuf,
    reader: BufReader<File>,
    partial: String,
}

impl Tail {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
            partial: String::new(),
        })
    }

    fn print_new(&mut self) -> anyhow::Result<()> {
        loop {
            let read = self
                .reader
                .read_line(&mut self.partial)
                .with_context(|| format!("reading {}", self.path.display()))?;
            if read == 0 || !self.partial.ends_with('\n') {
                return Ok(());
            }
            if let Ok(record) = serde_json::from_str::<Value>(&self.partial) {
                println!("  {}", describe(&record));
            }
            self.partial.clear();
        }
    }
}

/// One line for a person from an event or health record.
fn describe(record: &Value) -> String {
    let text = |key: &str| record[key].as_str().unwrap_or("").to_string();
    let camera = text("camera");
    if record["schema"] == sw_core::EVENT_SCHEMA {
        let boxes = record["boxes"].as_array().map_or(0, Vec::len);
        format!(
            "{camera:<10} motion event {} {:<6} at {:>5.1} s  score {:.3}  {boxes} region(s)",
            record["event_id"],
            text("phase"),
            record["time_millis"].as_f64().unwrap_or(0.0) / 1000.0,
            record["score"].as_f64().unwrap_or(0.0),
        )
    } else {
        let reason = record["reason"]
            .as_str()
            .map(|reason| format!(": {reason}"))
            .unwrap_or_default();
        format!("{camera:<10} health {}{reason}", text("kind"))
    }
}
