//! What runs each camera's per-pixel detector step: the camera's own thread (native), or the
//! ONNX engine that every camera with `detector.backend = "onnx"` shares.
//!
//! Owns: [`Engines`]: starting the ONNX engine when the first camera needs it (refusing to
//! start the service when it cannot: no runtime, a model whose hash does not match), the
//! `model_loaded` audit records, and the [`BackendFactory`] a camera's motion thread builds
//! its detector's backend with. Does not own: the engine itself (`sw_onnx`) or the detector.

use std::fmt;
use std::sync::Arc;

use sw_audit::AuditLog;
use sw_config::{Config, DetectorBackend};
use sw_motion::PixelBackend;

use crate::ServiceError;
use crate::camera::CameraPlan;

/// Makes one camera's detector backend (each detector gets its own handle).
pub(crate) type BackendFactory = Arc<dyn Fn() -> Box<dyn PixelBackend> + Send + Sync>;

/// The engines cameras may run on. Native needs nothing; the ONNX engine starts once, when a
/// camera first asks for it, and lives until the service stops (`[onnx]` changes need a
/// restart).
#[derive(Default)]
pub(crate) struct Engines {
    #[cfg(feature = "onnx")]
    onnx: Option<Arc<sw_onnx::OnnxEngine>>,
}

impl fmt::Debug for Engines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engines").finish_non_exhaustive()
    }
}

impl Engines {
    /// Starts what `plans` need and is not running yet; records each loaded model in `audit`.
    /// An error names the first camera that asked for the engine.
    pub(crate) fn prepare(
        &mut self,
        config: &Config,
        plans: &[CameraPlan],
        audit: Option<&AuditLog>,
    ) -> Result<(), ServiceError> {
        let Some(first) = plans.iter().find(|plan| {
            plan.config.enabled && plan.config.detector_backend == DetectorBackend::Onnx
        }) else {
            return Ok(());
        };
        self.start_onnx(config, first, audit)
    }

    #[cfg(feature = "onnx")]
    fn start_onnx(
        &mut self,
        config: &Config,
        first: &CameraPlan,
        audit: Option<&AuditLog>,
    ) -> Result<(), ServiceError> {
        if self.onnx.is_some() {
            return Ok(());
        }
        let engine = sw_onnx::OnnxEngine::start(&onnx_options(&config.onnx)).map_err(|error| {
            ServiceError::Onnx {
                camera: first.id().clone(),
                source: Box::new(error),
            }
        })?;
        if let Some(audit) = audit {
            for model in engine.models() {
                audit.append(
                    sw_audit::RecordKind::ModelLoaded,
                    serde_json::json!({
                        "name": model.name,
                        "file": model.path.display().to_string(),
                        "sha256": model.sha256,
                        "opset": model.opset,
                        "ir_version": model.ir_version,
                        "provider": engine.provider().to_string(),
                        "runtime": engine.library().display().to_string(),
                    }),
                )?;
            }
        }
        self.onnx = Some(Arc::new(engine));
        Ok(())
    }

    #[cfg(not(feature = "onnx"))]
    fn start_onnx(
        &mut self,
        _config: &Config,
        first: &CameraPlan,
        _audit: Option<&AuditLog>,
    ) -> Result<(), ServiceError> {
        Err(ServiceError::OnnxNotBuilt {
            camera: first.id().clone(),
        })
    }

    /// The backend factory for a camera that asks for `backend`: `None` runs natively.
    pub(crate) fn backend_for(&self, backend: DetectorBackend) -> Option<BackendFactory> {
        match backend {
            DetectorBackend::Native => None,
            #[cfg(feature = "onnx")]
            DetectorBackend::Onnx => self.onnx.clone().map(|engine| {
                Arc::new(move || Box::new(engine.backend()) as Box<dyn PixelBackend>)
                    as BackendFactory
            }),
            #[cfg(not(feature = "onnx"))]
            DetectorBackend::Onnx => None,
        }
    }
}

/// `[onnx]` as the engine takes it.
#[cfg(feature = "onnx")]
pub fn onnx_options(config: &sw_config::OnnxConfig) -> sw_onnx::OnnxOptions {
    use sw_config::OnnxProvider;
    let device_id = i32::try_from(config.device_id).unwrap_or(i32::MAX);
    sw_onnx::OnnxOptions {
        models_dir: config.models_dir.clone(),
        runtime_library: config.runtime_library.clone(),
        provider: match config.provider {
            OnnxProvider::Cpu => sw_onnx::Provider::Cpu,
            OnnxProvider::Cuda => sw_onnx::Provider::Cuda { device_id },
            OnnxProvider::TensorRt => sw_onnx::Provider::TensorRt { device_id },
            OnnxProvider::OpenVino => sw_onnx::Provider::OpenVino,
        },
        batch_size: config.batch_size,
        workers: config.workers,
        batch_wait: config.batch_wait,
        intra_op_threads: config.intra_op_threads,
    }
}
