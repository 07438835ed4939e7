//! `detector.backend` and `[onnx]`: which engine runs the detector's per-pixel step, and how
//! the ONNX engine runs.
//!
//! Owns: [`DetectorBackend`], [`OnnxConfig`] and [`OnnxProvider`], their defaults and ranges.
//! Does not own: loading the runtime or the models (`sw_onnx`, which the service starts from
//! these settings), or what the step computes (`docs/design/onnx.md`).

use std::path::PathBuf;
use std::time::Duration;

use crate::raw;
use crate::validate::{ConfigError, Context};

/// Which engine runs a camera's per-pixel detector step. Both give the same masks and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DetectorBackend {
    /// `sw_motion`'s Rust code, in the camera's own thread.
    #[default]
    Native,
    /// The ONNX graphs in `models/`, through ONNX Runtime, batched over cameras (`[onnx]`).
    Onnx,
}

/// Where ONNX Runtime runs the graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnnxProvider {
    #[default]
    Cpu,
    /// NVIDIA CUDA (needs the `onnxruntime-gpu` wheel's library and a GPU).
    Cuda,
    /// NVIDIA TensorRT (as CUDA, plus TensorRT's libraries).
    TensorRt,
    /// Intel OpenVINO (needs an OpenVINO build of ONNX Runtime).
    OpenVino,
}

/// `[onnx]`: the engine cameras with `detector.backend = "onnx"` share. Read only when at
/// least one camera uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnnxConfig {
    pub provider: OnnxProvider,
    /// The accelerator's index, for CUDA and TensorRT.
    pub device_id: u32,
    /// At most this many cameras' frames go through the graphs in one run.
    pub batch_size: usize,
    /// How long a batch waits for more cameras' frames after its first arrives.
    pub batch_wait: Duration,
    /// Engine threads, each with its own ONNX Runtime sessions; cameras are spread over them.
    pub workers: usize,
    /// Threads ONNX Runtime may use inside one run, per worker.
    pub intra_op_threads: usize,
    /// The folder holding `manifest.json` and the graphs; relative to the config file's
    /// folder. `None`: `models/` in the working directory or above the executable.
    pub models_dir: Option<PathBuf>,
    /// ONNX Runtime's shared library; relative to the config file's folder. `None`:
    /// `ORT_DYLIB_PATH`, then `.ort/` as `cargo xtask install` leaves it.
    pub runtime_library: Option<PathBuf>,
}

pub(crate) fn backend(raw: &raw::Detector) -> DetectorBackend {
    match raw.backend {
        None | Some(raw::Backend::Native) => DetectorBackend::Native,
        Some(raw::Backend::Onnx) => DetectorBackend::Onnx,
    }
}

pub(crate) fn onnx(raw: &raw::Onnx, context: &Context<'_>) -> Result<OnnxConfig, ConfigError> {
    let path = |value: &raw::Value<String>| {
        value
            .as_ref()
            .map(|path| context.base_dir().join(path.get_ref()))
    };
    Ok(OnnxConfig {
        provider: match raw.provider {
            None | Some(raw::Provider::Cpu) => OnnxProvider::Cpu,
            Some(raw::Provider::Cuda) => OnnxProvider::Cuda,
            Some(raw::Provider::Tensorrt) => OnnxProvider::TensorRt,
            Some(raw::Provider::Openvino) => OnnxProvider::OpenVino,
        },
        device_id: context.in_range("onnx.device_id", &raw.device_id, 0, 64, 0)?,
        batch_size: context.in_range("onnx.batch_size", &raw.batch_size, 1, 256, 8)?,
        batch_wait: Duration::from_millis(context.in_range(
            "onnx.batch_wait_millis",
            &raw.batch_wait_millis,
            0,
            1000,
            5,
        )?),
        workers: context.in_range("onnx.workers", &raw.workers, 1, 64, 1)?,
        intra_op_threads: context.in_range(
            "onnx.intra_op_threads",
            &raw.intra_op_threads,
            1,
            256,
            1,
        )?,
        models_dir: path(&raw.models_dir),
        runtime_library: path(&raw.runtime_library),
    })
}

#[cfg(test)]
mod tests {
    use crate::{Config, Source};

    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Source::File("/etc/sw/site.toml".into()))
            .map_err(|error| error.to_string())
    }

    #[test]
    fn backend_defaults_to_native_and_cameras_may_choose() {
        let config = parse(
            "[detector]\nbackend = \"onnx\"\n\
             [[cameras]]\nid = \"a\"\nurl = \"rtsp://a/x\"\n\
             [[cameras]]\nid = \"b\"\nurl = \"rtsp://b/x\"\n[cameras.detector]\nbackend = \"native\"\n",
        )
        .unwrap();
        assert_eq!(Config::default().detector_backend, DetectorBackend::Native);
        assert_eq!(config.detector_backend, DetectorBackend::Onnx);
        let backends: Vec<_> = config.cameras.iter().map(|c| c.detector_backend).collect();
        assert_eq!(backends, [DetectorBackend::Onnx, DetectorBackend::Native]);
    }

    #[test]
    fn onnx_section_is_read_with_paths_from_the_config_folder() {
        let config = parse(
            "[onnx]\nprovider = \"cuda\"\ndevice_id = 1\nbatch_size = 32\nbatch_wait_millis = 2\n\
             workers = 2\nintra_op_threads = 4\nmodels_dir = \"models\"\n\
             runtime_library = \"/opt/ort/libonnxruntime.so.1.31.1\"\n",
        )
        .unwrap();
        assert_eq!(
            config.onnx,
            OnnxConfig {
                provider: OnnxProvider::Cuda,
                device_id: 1,
                batch_size: 32,
                batch_wait: Duration::from_millis(2),
                workers: 2,
                intra_op_threads: 4,
                models_dir: Some("/etc/sw/models".into()),
                runtime_library: Some("/opt/ort/libonnxruntime.so.1.31.1".into()),
            }
        );
        assert_eq!(Config::default().onnx.provider, OnnxProvider::Cpu);
        assert_eq!(Config::default().onnx.batch_size, 8);
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let cases: &[(&str, &str)] = &[
            (
                "[onnx]\nbatch_size = 0\n",
                "/etc/sw/site.toml:2: onnx.batch_size: must be between 1 and 256, got 0",
            ),
            (
                "[onnx]\nprovider = \"tpu\"\n",
                "/etc/sw/site.toml:2:12: unknown variant `tpu`, expected one of `cpu`, `cuda`, \
                 `tensorrt`, `openvino`",
            ),
            (
                "[detector]\nbackend = \"gpu\"\n",
                "/etc/sw/site.toml:2:11: unknown variant `gpu`, expected `native` or `onnx`",
            ),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err();
            assert!(error.starts_with(expected), "got {error}\nwant {expected}");
        }
    }
}
