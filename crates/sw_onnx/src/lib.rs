//! The detector's per-pixel step as ONNX graphs, run by ONNX Runtime for many cameras at once.
//!
//! Owns: finding and loading the ONNX Runtime library (`runtime`), checking the graphs in
//! `models/` against their hash-pinned manifest before any is run (`manifest`), execution
//! providers and sessions, the worker threads that gather jobs from several cameras into one
//! batch (`engine`), and packing jobs into batch tensors and results back (`graphs`).
//! Does not own: what the graphs compute (`models/generate.py`, `docs/design/onnx.md`), the
//! rest of the detector (`sw_motion`, which calls an [`OnnxBackend`] through
//! [`sw_motion::PixelBackend`]), configuration, or logging setup (the binary keeps
//! `ort=warn` in its filter: ONNX Runtime logs at INFO).
//!
//! ```text
//! camera threads (one Detector each)        worker threads (own sessions each)
//!   Detector ── OnnxBackend ──┐  request     ┌── gather jobs of one kind and shape
//!   Detector ── OnnxBackend ──┼────────────▶ │   (≤ batch_size, ≤ batch_wait after the first)
//!   Detector ── OnnxBackend ──┘ ◀──────────  └── pack → classify.onnx / update.onnx → unpack
//!                               one reply per job (the camera thread blocks on it)
//! ```
//!
//! Start with [`OnnxEngine::start`]; hand each camera's `Detector::with_backend` an
//! [`OnnxEngine::backend`]. Write [`OnnxEngine::models`] to the audit log.

mod engine;
mod graphs;
mod manifest;
mod runtime;

use std::path::PathBuf;
use std::time::Duration;

pub use engine::{OnnxBackend, OnnxEngine};
pub use manifest::{MANIFEST_SCHEMA, ModelInfo, locate_models_dir, verify_models};
pub use runtime::{INSTALL_HINT, ORT_VERSION, locate_library};

/// Where the graphs run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Provider {
    /// ONNX Runtime's CPU provider (the `onnxruntime` wheel).
    #[default]
    Cpu,
    /// NVIDIA CUDA on GPU `device_id` (needs the `onnxruntime-gpu` wheel's library).
    Cuda { device_id: i32 },
    /// NVIDIA TensorRT on GPU `device_id` (`onnxruntime-gpu` plus TensorRT's libraries).
    TensorRt { device_id: i32 },
    /// Intel OpenVINO (an ONNX Runtime built with OpenVINO).
    OpenVino,
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => f.write_str("CPU"),
            Self::Cuda { device_id } => write!(f, "CUDA (device {device_id})"),
            Self::TensorRt { device_id } => write!(f, "TensorRT (device {device_id})"),
            Self::OpenVino => f.write_str("OpenVINO"),
        }
    }
}

/// How to run the graphs. The defaults suit CPU inference next to the rest of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnnxOptions {
    /// The folder holding `manifest.json` and the graphs. Default `None`: `models/` under the
    /// current directory, else under the nearest folder above it, then above the executable,
    /// that has `models/manifest.json` (the workspace, when run from a crate or `target/`).
    pub models_dir: Option<PathBuf>,
    /// The ONNX Runtime library (1.31 or newer). Default `None`: `ORT_DYLIB_PATH`, else the
    /// newest `.ort/onnxruntime/capi/libonnxruntime.so*` under the current directory, else
    /// under the nearest folder above it, then above the executable, that has `.ort/`.
    pub runtime_library: Option<PathBuf>,
    /// Where the graphs run. Default [`Provider::Cpu`]. An accelerator that cannot be
    /// registered is an error, never a silent fall-back to the CPU.
    pub provider: Provider,
    /// Most jobs (cameras) in one run of a graph. Default 8; at least 1.
    pub batch_size: usize,
    /// Worker threads, each with its own pair of sessions; cameras are spread over them
    /// round robin. Default 1; at least 1.
    pub workers: usize,
    /// How long a worker waits for more jobs after the first of a batch, unless every camera
    /// it serves is already waiting. Default 2 ms.
    pub batch_wait: Duration,
    /// Threads ONNX Runtime uses inside one run (per worker); 0 lets it choose (one per
    /// physical core). Default 1: parallelism comes from the workers and the cameras.
    pub intra_op_threads: usize,
}

impl Default for OnnxOptions {
    fn default() -> Self {
        Self {
            models_dir: None,
            runtime_library: None,
            provider: Provider::Cpu,
            batch_size: 8,
            workers: 1,
            batch_wait: Duration::from_millis(2),
            intra_op_threads: 1,
        }
    }
}

/// Everything that can go wrong starting the engine or running a batch. Each variant names
/// the file, model, provider or worker concerned.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error(
        "no ONNX Runtime library found; looked at: {}{}; {INSTALL_HINT}",
        list(looked_at),
        above(searched_above, ".ort/")
    )]
    RuntimeNotFound {
        looked_at: Vec<PathBuf>,
        /// The executable's folder, when the folders above it were searched too.
        searched_above: Option<PathBuf>,
    },
    #[error("{} is ONNX Runtime {version}, older than 1.{} which this build needs; {INSTALL_HINT}", path.display(), ort::MINOR_VERSION)]
    RuntimeTooOld { path: PathBuf, version: String },
    #[error("cannot load ONNX Runtime from {}: {message}; {INSTALL_HINT}", path.display())]
    RuntimeLoad { path: PathBuf, message: String },
    #[error("ONNX Runtime is already loaded from {} in this process; cannot also load {}", loaded.display(), requested.display())]
    RuntimeAlreadyLoaded { loaded: PathBuf, requested: PathBuf },
    #[error(
        "no models/manifest.json found; looked at: {}{}; run from the workspace or set the models folder",
        list(looked_at),
        above(searched_above, "models/manifest.json")
    )]
    ModelsNotFound {
        looked_at: Vec<PathBuf>,
        /// The executable's folder, when the folders above it were searched too.
        searched_above: Option<PathBuf>,
    },
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    ManifestSyntax {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: {detail}", path.display())]
    Manifest { path: PathBuf, detail: String },
    #[error("model {} has SHA-256 {actual} but {} pins {expected}: refusing to run a graph that is not the committed one (restore it, or regenerate with models/generate.py and review the change)", path.display(), manifest.display())]
    ModelHash {
        path: PathBuf,
        manifest: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("model {}: {detail}", path.display())]
    ModelInterface { path: PathBuf, detail: String },
    #[error("execution provider {provider}: {detail}; {hint}")]
    Provider {
        provider: Provider,
        detail: String,
        hint: &'static str,
    },
    #[error("{context}: {source}")]
    Ort { context: String, source: ort::Error },
    #[error("invalid {graph} job: {detail}")]
    Job { graph: &'static str, detail: String },
    #[error("running {graph}.onnx on a batch of {cameras} camera(s): {source}")]
    Run {
        graph: &'static str,
        cameras: usize,
        source: ort::Error,
    },
    #[error("{graph}.onnx output `{output}`: {detail}")]
    Output {
        graph: &'static str,
        output: &'static str,
        detail: String,
    },
    #[error("ONNX worker {worker} panicked running {graph}.onnx: {message}")]
    WorkerPanicked {
        worker: usize,
        graph: &'static str,
        message: String,
    },
    #[error("ONNX worker {worker} has stopped")]
    WorkerStopped { worker: usize },
    #[error("starting ONNX worker {worker}: {source}")]
    Spawn {
        worker: usize,
        source: std::io::Error,
    },
}

fn above(searched_above: &Option<PathBuf>, marker: &str) -> String {
    searched_above.as_ref().map_or(String::new(), |dir| {
        format!(", and for {marker} in every folder above {}", dir.display())
    })
}

fn list(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}
